"""aws_standin.py - the AWS credential sources, stood in on loopback.

    /usr/bin/python3 aws_standin.py --log FILE [--mode MODE] [options]

Prints "PORT <n>" once listening on 127.0.0.1 and exits when its stdin
closes (the test holds the other end). One server plays every source the
lambda_signer plugin fetches from:

  PUT  /latest/api/token                    IMDSv2 session token (needs
                                            X-aws-ec2-metadata-token-ttl-seconds)
  GET  /latest/meta-data/iam/security-credentials/       the role name
  GET  /latest/meta-data/iam/security-credentials/ROLE   credentials JSON
       (both need the session token in X-aws-ec2-metadata-token)
  GET  /creds, /v2/credentials...           container endpoint: credentials
                                            JSON (with --auth, the
                                            Authorization header must be it)
  POST /  Action=AssumeRoleWithWebIdentity  STS: unsigned; WebIdentityToken
                                            must be --web-token
  POST /  Action=AssumeRole                 STS: SigV4-signed (service sts)
                                            by a key of --base-key (botocore
                                            checks it), else 403 with an STS
                                            error document

The n-th credentials it gives out (counted over all sources) are
AccessKeyId ASIASTANDIN<n>, SecretAccessKey standin-secret-<n>, Token
standin-token-<n>, expiring at 2026-01-01T<n>:00:00Z (the test host's
clock starts at 2026-01-01T00:00:00Z), or n hours from now with
--real-clock: each refresh gives new ones.

--mode says how it misbehaves: ok; down-after-first (every answer after
the first credentials is 503); hang-after-first (every answer after
the first credentials never comes); garbage (the credentials answers are not
JSON or XML); status500; hang (the credentials answers never come);
truncated (headers promise more body than is sent); doctype (STS's
answer behind a DOCTYPE with an entity); duplicate (two AccessKeyId in
STS's Credentials); expired (credentials
already expired); no-token (the credentials JSON lacks Token).

Every request is appended to the --log file as one JSON line: method,
path, headers, body, and "verified" (the SigV4 check of AssumeRole).
"""

import argparse
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lambda_standin  # noqa: E402  (verify_sigv4, botocore's check)

IMDS_TOKEN = "standin-imds-session-token"
ROLE = "gwf-standin-role"


class State:
    def __init__(self, args):
        self.args = args
        self.issued = 0
        self.lock = threading.Lock()

    def next_creds(self):
        with self.lock:
            self.issued += 1
            n = self.issued
        hour = min(n, 23)
        exp = "2026-01-01T%02d:00:00Z" % hour
        if self.args.real_clock:
            exp = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                time.gmtime(time.time() + 3600 * n))
        if self.args.mode == "expired":
            exp = "2025-06-01T00:00:00Z"
        return {"AccessKeyId": "ASIASTANDIN%d" % n,
                "SecretAccessKey": "standin-secret-%d" % n,
                "Token": "standin-token-%d" % n,
                "Expiration": exp}


def sts_xml(action, creds):
    return ("<%sResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
            "<%sResult><Credentials>"
            "<AccessKeyId>%s</AccessKeyId>"
            "<SecretAccessKey>%s</SecretAccessKey>"
            "<SessionToken>%s</SessionToken>"
            "<Expiration>%s</Expiration>"
            "</Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:"
            "assumed-role/r/s</Arn></AssumedRoleUser></%sResult>"
            "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
            "</%sResponse>" % (action, action, creds["AccessKeyId"],
                               creds["SecretAccessKey"], creds["Token"],
                               creds["Expiration"], action, action))


def sts_error(code):
    return ("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/"
            "2011-06-15/\"><Error><Type>Sender</Type><Code>%s</Code>"
            "<Message>refused by the stand-in</Message></Error>"
            "<RequestId>1</RequestId></ErrorResponse>" % code)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body, ctype="text/plain"):
        # Logged before the answer goes: the test reads the log as soon
        # as the answer has come.
        if not self.rec.get("logged"):
            self.server.log(self.rec)
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _creds_answer(self, kind, action=None):
        """Answer with new credentials, misbehaving as the mode says."""
        state = self.server.state
        mode = state.args.mode
        if mode == "down-after-first" and state.issued >= 1:
            return self._send(503, "down")
        if mode == "status500":
            return self._send(500, sts_error("InternalFailure")
                              if action else "error")
        if mode == "hang" or (mode == "hang-after-first" and
                              state.issued >= 1):
            self.server.log(self.rec)  # now: the answer never comes
            time.sleep(30)
            return None
        if mode == "garbage":
            return self._send(200, "<html>not credentials {")
        if mode == "truncated":
            self.server.log(self.rec)
            self.send_response(200)
            self.send_header("Content-Length", "500")
            self.end_headers()
            self.wfile.write(b"{\"AccessKeyId\": \"ASIA")
            self.wfile.flush()
            self.close_connection = True
            return None
        creds = state.next_creds()
        if action and mode == "doctype":
            return self._send(200, "<!DOCTYPE x [<!ENTITY e \"ASIA\">]>" +
                              sts_xml(action, creds), "text/xml")
        if action and mode == "duplicate":
            xml = sts_xml(action, creds).replace(
                "<AccessKeyId>", "<AccessKeyId>ASIAOTHER</AccessKeyId>"
                "<AccessKeyId>", 1)
            return self._send(200, xml, "text/xml")
        if action:
            return self._send(200, sts_xml(action, creds), "text/xml")
        if mode == "no-token":
            del creds["Token"]
        if kind == "imds":
            creds = dict(creds, Code="Success", Type="AWS-HMAC",
                         LastUpdated="2026-01-01T00:00:00Z")
        return self._send(200, json.dumps(creds), "application/json")

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = list(self.headers.items())
        rec = {"method": self.command, "path": self.path,
               "headers": {k.lower(): v for k, v in headers},
               "body": body.decode("latin-1"), "verified": None}
        self.rec = rec
        args = self.server.state.args
        path = self.path.split("?")[0]
        try:
            if self.command == "PUT" and path == "/latest/api/token":
                if not self.headers.get(
                        "X-aws-ec2-metadata-token-ttl-seconds"):
                    return self._send(400, "no ttl")
                return self._send(200, IMDS_TOKEN)
            prefix = "/latest/meta-data/iam/security-credentials/"
            if self.command == "GET" and path.startswith(prefix):
                if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                    return self._send(401, "no session token")
                if path == prefix:
                    return self._send(200, ROLE + "\n")
                if path != prefix + ROLE:
                    return self._send(404, "no such role")
                return self._creds_answer("imds")
            if self.command == "GET":
                if args.auth and self.headers.get("Authorization") != \
                        args.auth:
                    return self._send(403, "bad authorization token")
                return self._creds_answer("container")
            if self.command == "POST" and path == "/":
                form = dict(urllib.parse.parse_qsl(body.decode()))
                action = form.get("Action")
                if form.get("Version") != "2011-06-15":
                    return self._send(400, sts_error("InvalidParameter"))
                if action == "AssumeRoleWithWebIdentity":
                    if self.headers.get("Authorization"):
                        return self._send(400, sts_error("InvalidParameter"))
                    if form.get("WebIdentityToken") != args.web_token or \
                            form.get("RoleArn") != args.role_arn:
                        return self._send(
                            400, sts_error("InvalidIdentityToken"))
                    return self._creds_answer("sts", action)
                if action == "AssumeRole":
                    secrets = {}
                    for spec in args.base_key or []:
                        key, secret, token = (spec.split(":") + [""])[:3]
                        secrets[key] = (secret, token or None)
                    ok, why, service = lambda_standin.verify_sigv4(
                        "POST", self.path, headers, body, secrets,
                        check_clock=False)
                    rec["verified"] = ok and service == "sts"
                    rec["why"] = why
                    if not rec["verified"]:
                        return self._send(403,
                                          sts_error("SignatureDoesNotMatch"))
                    if form.get("RoleArn") != args.role_arn or \
                            not form.get("RoleSessionName"):
                        return self._send(400, sts_error("InvalidParameter"))
                    return self._creds_answer("sts", action)
            return self._send(404, "unknown")
        finally:
            if not rec.get("logged"):
                self.server.log(rec)

    do_GET = do_PUT = do_POST = _handle


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def log(self, rec):
        rec["logged"] = True
        with open(self.state.args.log, "a") as log:
            log.write(json.dumps(rec) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--mode", default="ok")
    ap.add_argument("--auth")
    ap.add_argument("--web-token", default="standin-web-identity-token")
    ap.add_argument("--role-arn",
                    default="arn:aws:iam::123456789012:role/gwf-invoke")
    ap.add_argument("--real-clock", action="store_true",
                    help="expirations from the real clock (nginx)")
    ap.add_argument("--base-key", action="append",
                    help="ACCESS:SECRET[:TOKEN] allowed to sign AssumeRole")
    args = ap.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.state = State(args)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("PORT %d" % server.server_address[1], flush=True)
    sys.stdin.read()  # until the test closes its end
    os._exit(0)


if __name__ == "__main__":
    main()
