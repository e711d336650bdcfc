#!/usr/bin/python3
"""backend.py - the demo's stand-in for a service: an HTTP server that
answers every request with one JSON line saying who answered and what
reached it (method, path, and the x-write header a route adds).

    backend.py NAME PORT      serves on 127.0.0.1:PORT until killed
"""

import http.server
import json
import sys


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        seen = {"backend": self.server.name, "method": self.command,
                "path": self.path}
        if self.headers.get("x-write"):
            seen["x-write"] = self.headers["x-write"]
        body = (json.dumps(seen) + "\n").encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer

    def log_message(self, fmt, *args):
        pass


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])),
                                             Echo)
    server.name = sys.argv[1]
    server.serve_forever()


if __name__ == "__main__":
    main()
