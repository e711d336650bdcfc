"""jwks_server.py - an HTTPS and HTTP JWKS endpoint for the jwt_auth
remote tests.

    /usr/bin/python3 jwks_server.py DIR

Makes a test CA and a server certificate with the openssl command line
(CN/SAN 127.0.0.1, localhost, jwks.test) in DIR, listens on two
ephemeral loopback ports, HTTPS and plain HTTP (kgateway allows an
http:// JWKS URL), writes them to DIR/http_port and then DIR/port once
both listen, and answers GET /jwks.json on both from files the test
controls:

    DIR/jwks.json   the body (re-read on every request: rotation)
    DIR/status      if present, answer this status with a short body
    DIR/hang        if present, do not answer until it is removed
    DIR/delay       if present, wait this many seconds (a float) first
    DIR/raw         if present, answer a broken HTTP answer and close:
                    "status-only" (the status line, nothing more),
                    "headers-cut" (a header, no empty line), "cl-te"
                    (Content-Length beside Transfer-Encoding: chunked,
                    the chunked body being DIR/jwks.json)

Every request appends a line to DIR/requests. The server stops when its
standard input closes (the test ends) or after 120 s, whichever is first.
Standard library and openssl only; run with Debian's /usr/bin/python3.
"""

import http.server
import os
import ssl
import subprocess
import sys
import threading
import time

MAX_LIFETIME_S = 120
HANG_LIMIT_S = 20


def make_certs(d):
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)

    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr = os.path.join(d, "server.key"), os.path.join(d, "server.csr")
    cert, ext = os.path.join(d, "server.pem"), os.path.join(d, "ext.cnf")
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2", "-subj",
        "/CN=gwf jwt test CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:jwks.test\n"
                "basicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
        "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
    return cert, key


class Handler(http.server.BaseHTTPRequestHandler):
    directory = "."

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        d = self.directory
        with open(os.path.join(d, "requests"), "a") as f:
            f.write(self.path + "\n")
        deadline = time.monotonic() + HANG_LIMIT_S
        while (os.path.exists(os.path.join(d, "hang"))
               and time.monotonic() < deadline):
            time.sleep(0.05)
        delay_file = os.path.join(d, "delay")
        if os.path.exists(delay_file):
            with open(delay_file) as f:
                time.sleep(min(float(f.read().strip() or "0"),
                               HANG_LIMIT_S))
        raw_file = os.path.join(d, "raw")
        if os.path.exists(raw_file):
            self._answer_raw(raw_file)
            return
        status_file = os.path.join(d, "status")
        if os.path.exists(status_file):
            with open(status_file) as f:
                status = int(f.read().strip() or "500")
            body = b"unavailable\n"
        else:
            status = 200
            with open(os.path.join(d, "jwks.json"), "rb") as f:
                body = f.read()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer_raw(self, raw_file):
        with open(raw_file) as f:
            kind = f.read().strip()
        with open(os.path.join(self.directory, "jwks.json"), "rb") as f:
            body = f.read()
        if kind == "status-only":
            data = b"HTTP/1.1 200 OK\r\n"
        elif kind == "headers-cut":
            data = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        else:  # cl-te
            data = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\ntransfer-encoding: chunked\r\n"
                    b"\r\n%x\r\n" % (len(body), len(body))
                    + body + b"\r\n0\r\n\r\n")
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True


def main():
    d = sys.argv[1]
    cert, key = make_certs(d)
    Handler.directory = d
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    plain.daemon_threads = True
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    tmp = os.path.join(d, "http_port.tmp")
    with open(tmp, "w") as f:
        f.write(str(plain.server_address[1]))
    os.rename(tmp, os.path.join(d, "http_port"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = os.path.join(d, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, os.path.join(d, "port"))

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    time.sleep(MAX_LIFETIME_S)
    os._exit(0)


if __name__ == "__main__":
    main()
