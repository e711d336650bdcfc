#!/usr/bin/python3
"""kgw_authz_server.py - the ext-authz server kgateway's e2e tests run,
as a stand-in for test_kgateway_e2e.py.

kgateway's extauth e2e suite deploys a small gRPC authorization server
(envoy.service.auth.v3.Authorization/Check) that decides by one request
header, and its test cases are written against that behaviour:

  x-ext-authz: allow   OK; the request goes on upstream with
                       x-ext-authz-check-result: allowed added (the test
                       finds "X-Ext-Authz-Check-Result" in the echoed
                       request)
  anything else        denied: 403, x-ext-authz-check-result: denied

Served with Debian's python3-grpcio; the messages are read and written
by hand from the public field numbers (CheckRequest.attributes = 1,
AttributeContext.request = 4, Request.http = 2, HttpRequest.headers = 3;
CheckResponse.status = 1, denied_response = 2, ok_response = 3), like
tests/plugins/ext_authz/authz_grpc.py. Every Check is counted
(.checks) so a test can prove the service was never asked.

Run alone: kgw_authz_server.py prints "PORT <n>" and serves until stdin
closes.
"""

import os
import sys
import threading
from concurrent import futures

os.environ.setdefault("GRPC_VERBOSITY", "NONE")
import grpc  # noqa: E402


def _varint(buf, i):
    shift = value = 0
    while i < len(buf):
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad varint")


def _fields(buf):
    """(number, wire type, value) of each field of one message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def _sub(buf, num):
    for n, wt, v in _fields(buf):
        if n == num and wt == 2:
            return v
    return b""


def _enc_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _f_len(num, data):
    return _enc_varint(num << 3 | 2) + _enc_varint(len(data)) + data


def _f_int(num, v):
    return _enc_varint(num << 3) + _enc_varint(v)


def request_headers(check_request):
    """HttpRequest.headers of a CheckRequest: {name: value}."""
    http = _sub(_sub(_sub(check_request, 1), 4), 2)
    headers = {}
    for n, wt, entry in _fields(http):
        if n == 3 and wt == 2:
            k = _sub(entry, 1).decode("utf-8", "replace")
            v = _sub(entry, 2).decode("utf-8", "replace")
            headers[k.lower()] = v
    return headers


def _header_option(key, value):
    header = _f_len(1, key.encode()) + _f_len(2, value.encode())
    return _f_len(1, header)


def check_response(allow):
    if allow:
        ok = _f_len(2, _header_option("x-ext-authz-check-result", "allowed"))
        return _f_len(1, b"") + _f_len(3, ok)
    denied = (_f_len(1, _f_int(1, 403)) +
              _f_len(2, _header_option("x-ext-authz-check-result",
                                       "denied")) +
              _f_len(3, b"denied by ext_authz for not found header "
                        b"`x-ext-authz: allow` in the request"))
    return _f_len(1, _f_int(1, 7)) + _f_len(2, denied)


class AuthzServer:
    def __init__(self):
        self.checks = []
        self._lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handler = grpc.method_handlers_generic_handler(
            "envoy.service.auth.v3.Authorization",
            {"Check": grpc.unary_unary_rpc_method_handler(
                self._check, request_deserializer=None,
                response_serializer=None)})
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def _check(self, request, context):
        headers = request_headers(request)
        with self._lock:
            self.checks.append(headers)
        return check_response(headers.get("x-ext-authz") == "allow")

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop(0)


if __name__ == "__main__":
    s = AuthzServer().start()
    print("PORT %d" % s.port, flush=True)
    sys.stdin.read()
    s.stop()
