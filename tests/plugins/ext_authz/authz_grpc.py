"""authz_grpc.py - a gRPC authorization server for the ext_authz tests.

envoy.service.auth.v3.Authorization/Check served with Debian's
python3-grpcio. The messages are read and written by hand from the public
field numbers (see grpc_check.c for the list), independently of the
plugin's encoder. Prints "PORT <n>"; exits when stdin closes or on SIGTERM.

By the checked path:
  .../allow  OK; ok_response sets x-user and echoes what it was sent
             (x-grpc-method, -path, -host, -scheme, -ctx, -source, -body,
             -custom; -peer: the client's address and port; -names: the
             request header names it got, sorted), removes
             x-secret, adds x-client-hello to the response
  .../deny   code 7, denied_response 401 with www-authenticate and a body
  .../fail   the call fails with UNAVAILABLE
  .../slow   answers after 3 s
  .../deny-bad-header      code 7, denied_response 403 whose headers are
             "x reason: r", "x-bad: a\r\nb", "": "e" and "x-good: yes"
  .../deny-unreadable      code 7 with a denied_response that is not
             protobuf
  .../query                OK; sets a=new and q=a b&c#d, removes api_key
  .../remove-pseudo        OK; headers_to_remove ":authority", "host",
             "x-secret"
  .../last-wins            OK; x-one twice with append false: 1 then 2;
             response header x-upstream: authz with append false
  .../many-headers         OK with 40,000 headers
  .../headers-N            OK with N headers x-h0: v ... x-h<N-1>: v
  .../deny-headers-N       code 7, denied_response 401 with N headers
             x-h0: v ... x-h<N-1>: v
  .../deadline             OK; x-grpc-deadline: the seconds the call has
             left (grpc-timeout as the server read it), rounded
  .../metadata             OK; CheckResponse.dynamic_metadata with every
             kind of Value (METADATA below), in two occurrences of the
             field (merged, "user" replaced by the second)
  .../metadata-ok-wins     OK; both CheckResponse.dynamic_metadata and the
             deprecated ok_response.dynamic_metadata (which wins)
  .../metadata-empty       OK; an empty dynamic_metadata
  .../metadata-deep-N      OK; dynamic_metadata with N nested Structs in
             all, the top one included ({"a": {"a": ... {}}})
  .../metadata-bad         OK; a dynamic_metadata that is not protobuf
  .../metadata-nan         OK; a dynamic_metadata holding NaN
  .../metadata-not-utf8    OK; a string value that is not UTF-8
  .../deny-metadata-bad    code 7, denied_response 401, and a
             dynamic_metadata that is not protobuf
"""

import os
import re
import signal
import struct
import sys
import time
from concurrent import futures

import grpc


def fields(buf):
    """Decode one message into {number: [value, ...]} (bytes or int)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wire == 1:
            val, i = buf[i:i + 8], i + 8
        elif wire == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        out.setdefault(num, []).append(val)
    return out


def varint(buf, i):
    shift = val = 0
    while True:
        b = buf[i]
        i += 1
        val |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return val, i


def one(msg, num, default=b""):
    return msg.get(num, [default])[0]


def mapping(msg, num):
    return {one(fields(e), 1).decode(): one(fields(e), 2).decode()
            for e in msg.get(num, [])}


def enc_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def f_len(num, data):
    if isinstance(data, str):
        data = data.encode()
    return enc_varint(num << 3 | 2) + enc_varint(len(data)) + data


def f_int(num, v):
    return enc_varint(num << 3) + enc_varint(v)


def header(name, value, append=None):
    hv = f_len(1, name) + f_len(2, value)
    opt = f_len(1, hv)
    if append is not None:
        opt += f_len(2, f_int(1, 1 if append else 0))
    return opt


def f_double(num, v):
    return enc_varint(num << 3 | 1) + struct.pack("<d", v)


def value(v):
    """A google.protobuf.Value (null, bool, number, string, dict, list)."""
    if v is None:
        return f_int(1, 0)
    if isinstance(v, bool):
        return f_int(4, 1 if v else 0)
    if isinstance(v, (int, float)):
        return f_double(2, float(v))
    if isinstance(v, (str, bytes)):
        return f_len(3, v)
    if isinstance(v, dict):
        return f_len(5, struct_msg(v))
    return f_len(6, b"".join(f_len(1, value(x)) for x in v))


def struct_msg(d):
    """A google.protobuf.Struct: map<string, Value> fields = 1."""
    return b"".join(f_len(1, f_len(1, k) + f_len(2, value(v)))
                    for k, v in d.items())


METADATA = {"user": "first", "n": None, "int": 42, "neg": -7, "half": 0.5,
            "ok": True, "no": False, "s": "caf\u00e9 \"q\"\n",
            "nested": {"list": [1, "two", [3], {"four": 4}, None],
                       "empty": {}, "none": []}}


def metadata_answer(path):
    """The answers of the dynamic_metadata paths (or None)."""
    ok_status = f_len(1, b"")
    ok = f_len(3, f_len(2, header("x-user", "alice")))
    if path.endswith("/metadata"):
        return (ok_status + ok + f_len(4, struct_msg(METADATA)) +
                f_len(4, struct_msg({"user": "second"})))
    if path.endswith("/metadata-ok-wins"):
        inner = f_len(2, header("x-user", "alice")) + f_len(
            3, struct_msg({"from": "ok_response"}))
        return (ok_status + f_len(4, struct_msg({"from": "check"})) +
                f_len(3, inner))
    if path.endswith("/metadata-empty"):
        return ok_status + ok + f_len(4, b"")
    if "/metadata-deep-" in path:
        levels = int(path.rsplit("-", 1)[1])
        d = {}
        for _ in range(levels - 1):
            d = {"a": d}
        return ok_status + ok + f_len(4, struct_msg(d))
    if path.endswith("/metadata-bad"):
        return ok_status + ok + f_len(4, b"\x0a\xff\xff")
    if path.endswith("/metadata-nan"):
        return ok_status + ok + f_len(4, struct_msg({"x": float("nan")}))
    if path.endswith("/metadata-not-utf8"):
        return ok_status + ok + f_len(4, struct_msg({"x": b"\xff"}))
    if path.endswith("/deny-metadata-bad"):
        denied = f_len(1, f_int(1, 401)) + f_len(3, "no")
        return (f_len(1, f_int(1, 7)) + f_len(2, denied) +
                f_len(4, b"\x0a\xff\xff"))
    return None


def special_answer(path, context):
    """The answers of the paths that test one field each (or None)."""
    ok_status = f_len(1, b"")
    if "metadata" in path:
        return metadata_answer(path)
    if path.endswith("/deny-bad-header"):
        denied = (f_len(1, f_int(1, 403)) +
                  f_len(2, header("x reason", "r")) +
                  f_len(2, header("x-bad", "a\r\nb")) +
                  f_len(2, header("", "e")) +
                  f_len(2, header("x-good", "yes")) +
                  f_len(3, "denied"))
        return f_len(1, f_int(1, 7)) + f_len(2, denied)
    if path.endswith("/deny-unreadable"):
        return f_len(1, f_int(1, 7)) + f_len(2, b"\xff\xff\xff")
    if "/query" in path:
        ok = (f_len(7, f_len(1, "a") + f_len(2, "new")) +
              f_len(7, f_len(1, "q") + f_len(2, "a b&c#d")) +
              f_len(8, "api_key"))
        return ok_status + f_len(3, ok)
    if path.endswith("/remove-pseudo"):
        ok = f_len(5, ":authority") + f_len(5, "host") + f_len(5, "x-secret")
        return ok_status + f_len(3, ok)
    if path.endswith("/last-wins"):
        ok = (f_len(2, header("x-one", "1", append=False)) +
              f_len(2, header("x-one", "2", append=False)) +
              f_len(6, header("x-upstream", "authz", append=False)))
        return ok_status + f_len(3, ok)
    many = re.search(r"/(deny-)?headers-([0-9]+)$", path)
    if many:
        headers = b"".join(f_len(2, header("x-h%d" % i, "v"))
                           for i in range(int(many.group(2))))
        if many.group(1):
            denied = f_len(1, f_int(1, 401)) + headers
            return f_len(1, f_int(1, 7)) + f_len(2, denied)
        return ok_status + f_len(3, headers)
    if path.endswith("/many-headers"):
        return MANY_HEADERS
    if path.endswith("/deadline"):
        left = context.time_remaining()
        ok = f_len(2, header("x-grpc-deadline",
                             "none" if left is None else "%d" % round(left)))
        return ok_status + f_len(3, ok)
    return None


def check(request, context):
    attrs = fields(one(fields(request), 1))
    http = fields(one(fields(one(attrs, 4)), 2))
    path = one(http, 4).decode()
    special = special_answer(path, context)
    if special is not None:
        return special
    if path.endswith("/slow"):
        time.sleep(3)
    if path.endswith("/fail"):
        context.abort(grpc.StatusCode.UNAVAILABLE, "down for the test")
    if "/deny" in path:
        denied = (f_len(1, f_int(1, 401)) +
                  f_len(2, header("www-authenticate", "Bearer")) +
                  f_len(3, "grpc denied"))
        return f_len(1, f_int(1, 7)) + f_len(2, denied)
    headers = mapping(http, 3)
    source = fields(one(fields(one(fields(one(attrs, 1)), 1)), 1))
    body = one(http, 11) or one(http, 12)
    echo = {
        "x-user": "alice",
        "x-grpc-method": one(http, 2).decode(),
        "x-grpc-path": path,
        "x-grpc-host": one(http, 5).decode(),
        "x-grpc-scheme": one(http, 6).decode(),
        "x-grpc-ctx": ",".join("%s=%s" % kv for kv in
                               sorted(mapping(attrs, 10).items())),
        "x-grpc-source": one(source, 2).decode(),
        "x-grpc-body": body.decode("latin-1"),
        "x-grpc-raw": "1" if 12 in http else "0",
        "x-grpc-custom": headers.get("x-custom", ""),
        "x-grpc-partial": headers.get("x-envoy-auth-partial-body", ""),
        "x-grpc-peer": context.peer(),
        "x-grpc-names": ",".join(sorted(headers)),
    }
    ok = b"".join(f_len(2, header(k, v)) for k, v in echo.items())
    ok += f_len(2, header("x-multi", "a", append=True))
    ok += f_len(2, header("x-multi", "b", append=True))
    ok += f_len(5, "x-secret")
    ok += f_len(6, header("x-client-hello", "grpc"))
    return f_len(1, b"") + f_len(3, ok)


# Built once at start: building it per call takes seconds on a busy host.
MANY_HEADERS = f_len(1, b"") + f_len(3, b"".join(
    f_len(2, header("x-h%d" % i, "v")) for i in range(40000)))


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handler = grpc.method_handlers_generic_handler(
        "envoy.service.auth.v3.Authorization",
        {"Check": grpc.unary_unary_rpc_method_handler(check)})
    server.add_generic_rpc_handlers((handler,))
    creds = None
    if len(sys.argv) == 3:
        with open(sys.argv[1], "rb") as c, open(sys.argv[2], "rb") as k:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
    if creds:
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    print("PORT %d" % port, flush=True)
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
