"""rls_server.py - a rate limit service for the rate_limit tests.

envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit served with
Debian's python3-grpcio, counting as envoyproxy/ratelimit counts: the
limits come from its own config format (a YAML file: domain, descriptors
with key, optional value - a trailing '*' makes it a prefix -, rate_limit
{unit, requests_per_unit, name}, unlimited, shadow_mode, nested
descriptors), each request descriptor walks the tree one entry per level
(exact value, then prefix, then the key alone), and a limited one is
counted in a fixed window aligned to its unit. The messages are read and
written by hand from the public field numbers (see rls_proto.c for the
list), independently of the plugin's encoder.

    rls_server.py CONFIG.yaml [CERT KEY]

Prints "PORT <grpc> <control> <raw>" and serves until stdin closes or
SIGTERM. The control port is plain HTTP on loopback:

    GET  /requests     every request so far, as JSON
                       [{"domain", "hits", "descriptors": [[[k, v], ...]]}]
    POST /mode/<mode>  how to answer from now on:
         normal        count and answer
         hang          never answer (the call waits for its deadline)
         garbage       an answer that is not protobuf
         truncated     a RateLimitResponse cut inside a field
         unknown       overall_code UNKNOWN
         unavailable   fail the call with UNAVAILABLE
         unavailable-once  fail the next call with UNAVAILABLE, then normal
         headers       count, and add x-rls-response: yes to the response,
                       x-rls-request: yes to the request, raw_body
                       "slow down" when over the limit
    POST /reset        forget the counts and the requests

The raw port is not gRPC: it reads what the client sends, starts an
HTTP/2 answer (SETTINGS, HEADERS 200 application/grpc, and a DATA frame
holding half a gRPC message) and closes the connection mid-answer.
"""

import json
import os
import signal
import socket
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import yaml

UNITS = {"second": (1, 1), "minute": (60, 2), "hour": (3600, 3),
         "day": (86400, 4), "month": (30 * 86400, 5),
         "year": (365 * 86400, 6), "week": (7 * 86400, 7)}

LOCK = threading.Lock()
STATE = {"mode": "normal", "counts": {}, "requests": []}


# ---- protobuf by hand ----------------------------------------------------

def varint(buf, i):
    shift = val = 0
    while True:
        b = buf[i]
        i += 1
        val |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return val, i


def fields(buf):
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


def header_value(name, value):
    return f_len(1, name) + f_len(2, value)


# ---- the limits ----------------------------------------------------------

def load_config(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    return doc["domain"], doc.get("descriptors") or []


def find(nodes, key, value):
    exact = prefix = default = None
    for n in nodes:
        if n["key"] != key:
            continue
        v = n.get("value")
        if v is None:
            default = n
        elif str(v).endswith("*") and value.startswith(str(v)[:-1]):
            prefix = prefix or n
        elif str(v) == value:
            exact = n
    return exact or prefix or default


def limit_for(tree, entries):
    nodes, node = tree, None
    for key, value in entries:
        node = find(nodes, key, value)
        if node is None:
            return None
        nodes = node.get("descriptors") or []
    return node.get("rate_limit") and node


def status_for(domain, node, entries, hits, now):
    """DescriptorStatus bytes and whether it is over the limit."""
    if node is None or node["rate_limit"].get("unlimited"):
        return f_int(1, 1), False
    rl = node["rate_limit"]
    seconds, unit_code = UNITS[rl["unit"].lower()]
    limit = int(rl["requests_per_unit"])
    window = int(now) // seconds * seconds
    key = (domain, tuple(entries), seconds, window)
    with LOCK:
        STATE["counts"][key] = STATE["counts"].get(key, 0) + hits
        used = STATE["counts"][key]
    over = used > limit and not node.get("shadow_mode")
    current = f_int(1, limit) + f_int(2, unit_code)
    if rl.get("name"):
        current += f_len(3, rl["name"])
    reset = window + seconds - int(now)
    status = (f_int(1, 2 if over else 1) + f_len(2, current) +
              f_int(3, max(limit - used, 0)) + f_len(4, f_int(1, reset)))
    return status, over


class Service:
    def __init__(self, config_path):
        self.domain, self.tree = load_config(config_path)

    def should_rate_limit(self, request, context):
        msg = fields(request)
        domain = msg.get(1, [b""])[0].decode()
        hits = msg.get(3, [0])[0] or 1
        descriptors = []
        for d in msg.get(2, []):
            entries = []
            for e in fields(d).get(1, []):
                ef = fields(e)
                entries.append((ef.get(1, [b""])[0].decode("latin-1"),
                                ef.get(2, [b""])[0].decode("latin-1")))
            descriptors.append(entries)
        with LOCK:
            STATE["requests"].append({"domain": domain, "hits": hits,
                                      "descriptors": descriptors})
            mode = STATE["mode"]
            if mode == "unavailable-once":
                STATE["mode"] = "normal"
        if mode == "hang":
            time.sleep(30)
        if mode in ("unavailable", "unavailable-once"):
            context.abort(grpc.StatusCode.UNAVAILABLE, "asked to fail")
        if mode == "garbage":
            return b"\xff\xff\xff\xff not protobuf"
        if mode == "truncated":
            return f_int(1, 1) + enc_varint(2 << 3 | 2) + enc_varint(50) + \
                b"\x08\x01"
        if mode == "unknown":
            return f_int(1, 0)
        now = time.time()
        out, over_any = b"", False
        tree = self.tree if domain == self.domain else []
        for entries in descriptors:
            status, over = status_for(domain, limit_for(tree, entries),
                                      entries, hits, now)
            over_any = over_any or over
            out += f_len(2, status)
        answer = f_int(1, 2 if over_any else 1) + out
        if mode == "headers":
            answer += f_len(3, header_value("x-rls-response", "yes"))
            answer += f_len(4, header_value("x-rls-request", "yes"))
            if over_any:
                answer += f_len(5, b"slow down")
        return answer


# ---- the control port ----------------------------------------------------

class Control(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, body):
        data = body.encode()
        self.send_response(200)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with LOCK:
            self.reply(json.dumps(STATE["requests"]))

    def do_POST(self):
        with LOCK:
            if self.path.startswith("/mode/"):
                STATE["mode"] = self.path[len("/mode/"):]
            elif self.path == "/reset":
                STATE["counts"].clear()
                STATE["requests"].clear()
        self.reply("ok")


# ---- the raw port: an HTTP/2 answer cut in the middle --------------------

def frame(kind, flags, stream, payload):
    return (len(payload).to_bytes(3, "big") + bytes([kind, flags]) +
            stream.to_bytes(4, "big") + payload)


def raw_conn(conn):
    try:
        conn.settimeout(5)
        got = b""
        while len(got) < 24 + 9 or b"\x01" not in got[24:]:
            chunk = conn.recv(65536)
            if not chunk:
                return
            got += chunk
            if len(got) > 200:
                break
        time.sleep(0.05)
        grpc_type = b"application/grpc"
        headers = (b"\x88" + b"\x0f\x10" + bytes([len(grpc_type)]) +
                   grpc_type)
        half = b"\x00\x00\x00\x00\x40" + b"\x08\x01\x12"
        conn.sendall(frame(4, 0, 0, b"") + frame(4, 1, 0, b"") +
                     frame(1, 4, 1, headers) + frame(0, 0, 1, half))
        time.sleep(0.05)
    except OSError:
        pass
    finally:
        conn.close()


def raw_server(sock):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=raw_conn, args=(conn,), daemon=True).start()


def main():
    service = Service(sys.argv[1])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
    handler = grpc.method_handlers_generic_handler(
        "envoy.service.ratelimit.v3.RateLimitService",
        {"ShouldRateLimit": grpc.unary_unary_rpc_method_handler(
            service.should_rate_limit)})
    server.add_generic_rpc_handlers((handler,))
    if len(sys.argv) == 4:
        with open(sys.argv[2], "rb") as c, open(sys.argv[3], "rb") as k:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    control = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    raw = socket.socket()
    raw.bind(("127.0.0.1", 0))
    raw.listen(64)
    threading.Thread(target=raw_server, args=(raw,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    print("PORT %d %d %d" % (port, control.server_address[1],
                             raw.getsockname()[1]), flush=True)
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
