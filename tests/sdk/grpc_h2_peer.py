#!/usr/bin/python3
"""grpc_h2_peer.py - an h2c gRPC server for tests/sdk/test_grpc_client.c,
written frame by frame so that it can answer the way a broken or hostile
peer would.

Usage: grpc_h2_peer.py MODE STATS_FILE. Prints "PORT <n>" once listening
on 127.0.0.1; exits when stdin closes. After every event it rewrites
STATS_FILE with "accepts=<n> streams=<n> rst=<n> rst_cancel=<n>".

Modes (what each request stream gets, once its request has ended):
  ok          200, the request message echoed, grpc-status 0 trailers
  delay       as ok, 300 ms later (streams answered concurrently)
  max1        as delay, and SETTINGS_MAX_CONCURRENT_STREAMS 1
  status7     a trailers-only answer, grpc-status 7 and a grpc-message
  never       SETTINGS, then nothing (streams stay open)
  nosettings  accepts, reads, sends nothing at all
  garbage     "HTTP/1.1 400 Bad Request" instead of a SETTINGS frame
  truncated   a message whose prefix says 10 bytes, 3 bytes, status 0
  badlength   a prefix of 0x7fffffff bytes, then 3 bytes
  twomsgs     two messages, then grpc-status 0
  nostatus    the message, END_STREAM on DATA, no trailers
  rst         RST_STREAM(INTERNAL_ERROR)
  goaway_once first connection: GOAWAY(last 0) before answering, close;
              later connections: as ok
  goaway_mid  HEADERS 200, then GOAWAY(last = this stream), close
  http500     :status 500, no grpc-status
  closeidle   as ok, then the connection is closed 100 ms later
  goawayidle  as ok, then GOAWAY(last = this stream, NO_ERROR) 100 ms
              later; the connection is left open
  interim     a 100 carrying grpc-status 7, then a bare 200 that ends
              the stream (no grpc-status)
  contflood   HEADERS without END_HEADERS, then CONTINUATION frames full
              of header fields for 2 s
  noread      SETTINGS with the largest windows (and a WINDOW_UPDATE of
              the connection's), then never reads: with a small receive
              buffer, the client's writes soon block
"""
import socket
import struct
import sys
import threading
import time

MODE = sys.argv[1]
STATS = sys.argv[2]
lock = threading.Lock()
stats = {"accepts": 0, "streams": 0, "rst": 0, "rst_cancel": 0}


def bump(key):
    with lock:
        stats[key] += 1
        text = " ".join("%s=%d" % (k, v) for k, v in stats.items())
        with open(STATS + ".tmp", "w") as f:
            f.write(text + "\n")
        import os
        os.replace(STATS + ".tmp", STATS)


def send(conn, data):
    with lock:
        try:
            conn.sendall(data)
        except OSError:
            pass


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def lit(name, value):
    name, value = name.encode(), value.encode()
    return bytes([0, len(name)]) + name + bytes([len(value)]) + value


def headers(stream, fields, end_stream=False, status=None):
    block = b""
    if status == 200:
        block += b"\x88"
    elif status is not None:
        block += lit(":status", str(status))
    for n, v in fields:
        block += lit(n, v)
    return frame(1, 0x4 | (0x1 if end_stream else 0), stream, block)


def grpc_msg(payload, length=None):
    return b"\x00" + struct.pack(">I", len(payload) if length is None
                                 else length) + payload


def answer(conn, sid, body, first_conn):
    ct = [("content-type", "application/grpc")]
    out = b""
    if MODE in ("ok", "delay", "max1", "closeidle", "goawayidle") or (
            MODE == "goaway_once" and not first_conn):
        msg = body[5:] if len(body) >= 5 else b""
        out = headers(sid, ct, status=200) + frame(0, 0, sid, grpc_msg(msg)) \
            + headers(sid, [("grpc-status", "0")], end_stream=True)
    elif MODE == "status7":
        out = headers(sid, ct + [("grpc-status", "7"),
                                 ("grpc-message", "no")],
                      end_stream=True, status=200)
    elif MODE == "truncated":
        out = headers(sid, ct, status=200) + \
            frame(0, 0, sid, grpc_msg(b"abc", 10)) + \
            headers(sid, [("grpc-status", "0")], end_stream=True)
    elif MODE == "badlength":
        out = headers(sid, ct, status=200) + \
            frame(0, 0, sid, grpc_msg(b"abc", 0x7fffffff)) + \
            headers(sid, [("grpc-status", "0")], end_stream=True)
    elif MODE == "twomsgs":
        out = headers(sid, ct, status=200) + \
            frame(0, 0, sid, grpc_msg(b"a") + grpc_msg(b"b")) + \
            headers(sid, [("grpc-status", "0")], end_stream=True)
    elif MODE == "nostatus":
        out = headers(sid, ct, status=200) + \
            frame(0, 1, sid, grpc_msg(b"abc"))
    elif MODE == "rst":
        out = frame(3, 0, sid, struct.pack(">I", 2))
    elif MODE == "http500":
        out = headers(sid, [], end_stream=True, status=500)
    elif MODE == "goaway_mid":
        out = headers(sid, ct, status=200) + \
            frame(7, 0, 0, struct.pack(">II", sid, 0))
        send(conn, out)
        time.sleep(0.05)
        conn.shutdown(socket.SHUT_RDWR)
        return
    if MODE in ("delay", "max1"):
        time.sleep(0.3)
    send(conn, out)
    if MODE == "closeidle":
        time.sleep(0.1)
        conn.shutdown(socket.SHUT_RDWR)
    if MODE == "goawayidle":
        # graceful drain (grpc-go MaxConnectionAge): GOAWAY(last = sid,
        # NO_ERROR), the connection stays open
        time.sleep(0.1)
        send(conn, frame(7, 0, 0, struct.pack(">II", sid, 0)))


def serve(conn, first_conn):
    bump("accepts")
    if MODE == "noread":
        # INITIAL_WINDOW_SIZE 2^31-1: flow control never stops the client,
        # only the socket does
        send(conn, frame(4, 0, 0, struct.pack(">HI", 4, 0x7fffffff)) +
             frame(8, 0, 0, struct.pack(">I", 0x7fffffff - 65535)))
        threading.Event().wait()
        return
    if MODE == "garbage":
        send(conn, b"HTTP/1.1 400 Bad Request\r\n\r\n")
    elif MODE != "nosettings":
        settings = b""
        if MODE == "max1":
            settings = struct.pack(">HI", 3, 1)
        send(conn, frame(4, 0, 0, settings))
    buf = b""
    preface = False
    bodies = {}
    while True:
        try:
            data = conn.recv(65536)
        except OSError:
            break
        if not data:
            break
        buf += data
        if not preface:
            if len(buf) < 24:
                continue
            buf = buf[24:]
            preface = True
        while len(buf) >= 9:
            length = struct.unpack(">I", b"\x00" + buf[:3])[0]
            if len(buf) < 9 + length:
                break
            ftype, flags = buf[3], buf[4]
            sid = struct.unpack(">I", buf[5:9])[0] & 0x7fffffff
            payload = buf[9:9 + length]
            buf = buf[9 + length:]
            if MODE in ("nosettings", "garbage"):
                continue
            if ftype == 4 and not flags & 1:
                send(conn, frame(4, 1, 0))
            elif ftype == 1:
                bump("streams")
                bodies[sid] = b""
                if flags & 1:
                    ended(conn, sid, bodies, first_conn)
            elif ftype == 0:
                bodies[sid] = bodies.get(sid, b"") + payload
                if flags & 1:
                    ended(conn, sid, bodies, first_conn)
            elif ftype == 3:
                bump("rst")
                if struct.unpack(">I", payload)[0] == 8:
                    bump("rst_cancel")
            elif ftype == 6 and not flags & 1:
                send(conn, frame(6, 1, 0, payload))
    conn.close()


def ended(conn, sid, bodies, first_conn):
    body = bodies.pop(sid, b"")
    if MODE == "interim":
        # a 100 carrying grpc-status 7, then a bare 200 that ends the stream
        send(conn, headers(sid, [("grpc-status", "7")], status=100) +
             headers(sid, [("content-type", "application/grpc")],
                     end_stream=True, status=200))
        return
    if MODE == "contflood":
        # HEADERS without END_HEADERS, then CONTINUATION frames without
        # end for 2 s, each full of literal header fields
        send(conn, frame(1, 0, sid, b"\x88"))
        field = b"\x00\x03x-a\x01b"
        payload = field * (16000 // len(field))
        end = time.time() + 2.0
        while time.time() < end:
            try:
                conn.sendall(frame(9, 0, sid, payload))
            except OSError:
                break
        return
    if MODE == "never":
        return
    if MODE == "goaway_once" and first_conn:
        send(conn, frame(7, 0, 0, struct.pack(">II", 0, 0)))
        time.sleep(0.05)
        conn.shutdown(socket.SHUT_RDWR)
        return
    if MODE in ("delay", "max1"):
        threading.Thread(target=answer, args=(conn, sid, body, first_conn),
                         daemon=True).start()
    else:
        answer(conn, sid, body, first_conn)


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if MODE == "noread":
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    with open(STATS, "w") as f:
        f.write("accepts=0 streams=0 rst=0 rst_cancel=0\n")
    print("PORT %d" % srv.getsockname()[1], flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), srv.close(),
                                     __import__("os")._exit(0)),
                     daemon=True).start()
    first = True
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, first), daemon=True).start()
        first = False


main()
