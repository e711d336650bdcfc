#!/usr/bin/env python3
"""A loopback HTTP/1.1 server that answers every request with a JSON echo
of it, for the `gwf run --upstream` test.

    python3 echo_server.py PORT_FILE

Binds 127.0.0.1 on a free port, writes the port to PORT_FILE once it
listens, and serves until killed. The reply is 200 with header
`x-echo: yes` and a body {"method", "path", "headers": [[name, value]...],
"body"} where body is the request body decoded as latin-1.
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def echo(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = json.dumps({
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("latin-1"),
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.send_header("x-echo", "yes")
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = echo

    def log_message(self, fmt, *args):
        sys.stderr.write("echo_server: " + (fmt % args) + "\n")


def main():
    server = HTTPServer(("127.0.0.1", 0), Echo)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    # Renamed into place so a reader never sees a half-written port.
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
