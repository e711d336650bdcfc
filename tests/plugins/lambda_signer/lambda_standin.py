"""lambda_standin.py - a Lambda stand-in for the tests, over TLS.

Standard library plus Debian's python3-botocore; run with /usr/bin/python3.

    with TestCA() as ca, LambdaStandIn(ca, secrets) as fn:
        ... nginx proxies to https://127.0.0.1:{fn.port} ...

Every request's SigV4 signature is checked with botocore's SigV4Auth
(the headers named in SignedHeaders, the body, X-Amz-Date as the clock,
and the secret for the access key in `secrets`); a bad one gets what
AWS answers: 403 with x-amzn-errortype InvalidSignatureException. An
X-Amz-Content-Sha256 is held to what S3 requires of it: sent once,
signed, and either UNSIGNED-PAYLOAD or the body's SHA-256 (a verifier
takes its value as the payload hash, so an unsigned or wrong one is a
forgery; S3 answers XAmzContentSHA256Mismatch). botocore_content_sha256
says which value botocore itself sends for a request. Then:

  POST /2015-03-31/functions/NAME[:QUALIFIER]/invocations
    x-amz-invocation-type: Event          -> 202, empty body
    NAME "fails"                           -> 200, x-amz-function-error:
                                              Unhandled, an error object
    NAME "garbage"                         -> 200, a body that is not JSON
    NAME "raw"                             -> 200, the payload echoed
    NAME in CANNED                         -> 200, that Envoy reply (hop-by-hop
                                              and framing headers, malformed
                                              answers)
    any other NAME                         -> 200, an Envoy-format reply
                                              whose body is JSON
                                              {"function", "qualifier",
                                               "payload"}
  anything else (sign mode)               -> 200, JSON {"verified": true,
                                              "method", "path", "service"}

.requests records every request (method, path, headers, body, verified).
"""

import hashlib
import http.server
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse

try:
    import botocore.auth
    import botocore.awsrequest
    import botocore.config
    import botocore.credentials
except ImportError as exc:  # a missing dependency fails, never skips
    raise SystemExit("python3-botocore is required: %s" % exc)

OPENSSL_TIMEOUT = 20.0
AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/"
    r"aws4_request, SignedHeaders=([a-z0-9;_.-]+), Signature=([0-9a-f]{64})$")
INVOKE_RE = re.compile(
    r"^/2015-03-31/functions/([A-Za-z0-9_-]+)(?::([A-Za-z0-9_$-]+))?"
    r"/invocations$")


# Envoy replies a function answers by name: what the plugin must not pass
# on as it is.
HOP_BY_HOP_BODY = "hello from the function"
CANNED = {
    # Every hop-by-hop header, one named by Connection, and framing
    # headers that do not describe the body.
    "hopbyhop": {
        "status_code": 200,
        "headers": {"connection": "close, x-hop", "keep-alive": "timeout=5",
                    "proxy-connection": "keep-alive", "upgrade": "h2c",
                    "te": "trailers", "trailer": "x-sum",
                    "transfer-encoding": "chunked", "content-length": "999",
                    "x-hop": "1", "x-kept": "yes",
                    "content-type": "text/plain"},
        "body": HOP_BY_HOP_BODY},
    "ctlbyte": {"headers": {"x-bad": "a\u0001b"}, "body": "never"},
    "hugeheaders": {"headers": {"x-h%d" % i: "v" * 100 for i in range(200)},
                    "body": "never"},
    "badbase64": {"body": "***", "is_base64_encoded": True},
    "badstatus": {"status_code": 600, "body": "never"},
}


class TestCA:
    """A throw-away CA and a server certificate for localhost/127.0.0.1,
    made with the openssl command in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gwf-lambda-ca-")
        self.ca_cert = os.path.join(self.dir, "ca.pem")
        self.cert = os.path.join(self.dir, "server.pem")
        self.key = os.path.join(self.dir, "server.key")

    def _openssl(self, *args):
        proc = subprocess.run(["openssl"] + list(args), cwd=self.dir,
                              capture_output=True, text=True,
                              timeout=OPENSSL_TIMEOUT)
        if proc.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (args[0],
                                                          proc.stderr))

    def __enter__(self):
        ext = os.path.join(self.dir, "san.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                    "basicConstraints=CA:FALSE\n")
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                      "ca.key", "-out", "ca.pem", "-days", "2",
                      "-subj", "/CN=gwf test CA")
        self._openssl("req", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                      "server.key", "-out", "server.csr",
                      "-subj", "/CN=localhost")
        self._openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
                      "-CAkey", "ca.key", "-CAcreateserial", "-out",
                      "server.pem", "-days", "2", "-extfile", ext)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)


def verify_sigv4(method, path, headers, body, secrets, check_clock=True):
    """(ok, why, service): the request's SigV4 signature checked with
    botocore. `headers` is a list of (name, value); `secrets` maps
    access key -> (secret key, session token or None). check_clock False
    accepts an X-Amz-Date far from now (a signer on a test clock)."""
    def header(name):
        vals = [v for k, v in headers if k.lower() == name]
        return ",".join(vals) if vals else None

    authz = header("authorization")
    if not authz:
        return False, "no Authorization header", None
    m = AUTH_RE.match(authz)
    if not m:
        return False, "malformed Authorization header", None
    access_key, date, region, service, signed, signature = m.groups()
    if access_key not in secrets:
        return False, "unknown access key", service
    amz_date = header("x-amz-date")
    if not amz_date or not amz_date.startswith(date):
        return False, "X-Amz-Date missing or not the credential's day", \
            service
    stamp = time.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    if check_clock and \
            abs(time.mktime(stamp) - time.mktime(time.gmtime())) > 300:
        return False, "X-Amz-Date is more than 5 minutes off", service
    secret, token = secrets[access_key]
    if token is not None and header("x-amz-security-token") != token:
        return False, "wrong or missing X-Amz-Security-Token", service

    names = signed.split(";")
    if "host" not in names:
        return False, "host is not signed", service
    why = check_content_sha256(headers, names, body)
    if why:
        return False, why, service
    req_headers = botocore.awsrequest.HTTPHeaders()
    for name in names:
        vals = [v for k, v in headers if k.lower() == name]
        if not vals:
            return False, "signed header %s is missing" % name, service
        for v in vals:
            req_headers.add_header(name, v)
    host = header("host")
    # AWS decodes the query and encodes it again before signing; botocore
    # does that only for parameters given apart from the URL, so hand them
    # over that way ('+' is a plus sign, as AWS reads it).
    target, _, query = path.partition("?")
    params = []
    for piece in query.split("&") if query else []:
        if piece:
            key, _, value = piece.partition("=")
            params.append((urllib.parse.unquote(key),
                           urllib.parse.unquote(value)))
    req = botocore.awsrequest.AWSRequest(
        method=method, url="https://%s%s" % (host, target), data=body,
        params=params or None)
    req.headers = req_headers
    req.context["timestamp"] = amz_date
    auth = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(access_key, secret, token),
        service, region)
    canonical = auth.canonical_request(req)
    expected = auth.signature(auth.string_to_sign(req, canonical), req)
    if expected != signature:
        return False, "signature mismatch; botocore's canonical request:\n" \
            + canonical, service
    return True, "", service


def check_content_sha256(headers, signed_names, body):
    """Why the request's X-Amz-Content-Sha256 is not acceptable, or ""."""
    values = [v for k, v in headers if k.lower() == "x-amz-content-sha256"]
    if not values:
        return ""
    if len(values) > 1:
        return "x-amz-content-sha256 sent %d times" % len(values)
    if "x-amz-content-sha256" not in signed_names:
        return "x-amz-content-sha256 is sent but not signed"
    if values[0] not in ("UNSIGNED-PAYLOAD",
                         hashlib.sha256(body).hexdigest()):
        return "x-amz-content-sha256 %r is not the body's SHA-256" \
            % values[0]
    return ""


def botocore_content_sha256(service, method, url, body, unsigned_payload):
    """The X-Amz-Content-SHA256 botocore sends for this request (None when
    it sends none): S3SigV4Auth for s3, SigV4Auth for any other service,
    with payload signing on or off, over https (where botocore allows it
    off)."""
    req = botocore.awsrequest.AWSRequest(method=method, url=url,
                                         data=body or b"")
    req.context["payload_signing_enabled"] = not unsigned_payload
    creds = botocore.credentials.Credentials("AKIDEXAMPLE", "secret")
    if service == "s3":
        req.context["client_config"] = botocore.config.Config(
            s3={"payload_signing_enabled": not unsigned_payload})
        auth = botocore.auth.S3SigV4Auth(creds, service, "us-east-1")
    else:
        auth = botocore.auth.SigV4Auth(creds, service, "us-east-1")
    auth.add_auth(req)
    return req.headers.get("X-Amz-Content-SHA256")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gwf-lambda-standin"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet
        pass

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status, body, headers=()):
        self.send_response(status)
        sent_type = False
        for name, value in headers:
            sent_type |= name.lower() == "content-type"
            self.send_header(name, value)
        if not sent_type:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "00000000-test")
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        body = self._read_body()
        headers = list(self.headers.items())
        ok, why, service = verify_sigv4(self.command, self.path, headers,
                                        body, self.server.owner.secrets)
        self.server.owner._record({
            "method": self.command, "path": self.path, "headers": headers,
            "body": body, "verified": ok, "why": why})
        if not ok:
            # The reason stays in .requests: AWS does not explain either.
            self._send(403, json.dumps({"message": "signature"}).encode(),
                       [("x-amzn-ErrorType", "InvalidSignatureException")])
            return
        m = INVOKE_RE.match(self.path)
        if not m or service != "lambda":
            self._send(200, json.dumps({
                "verified": True, "method": self.command,
                "path": self.path, "service": service}).encode())
            return
        name, qualifier = m.group(1), m.group(2)
        invocation = self.headers.get("X-Amz-Invocation-Type") or \
            "RequestResponse"
        if invocation == "Event":
            self._send(202, b"")
            return
        if name == "fails":
            self._send(200, json.dumps({"errorMessage": "boom",
                                        "errorType": "Error"}).encode(),
                       [("X-Amz-Function-Error", "Unhandled")])
            return
        if name == "garbage":
            self._send(200, b"<html>not json</html>")
            return
        if name == "raw":
            self._send(200, body)
            return
        if name in CANNED:
            self._send(200, json.dumps(CANNED[name]).encode())
            return
        try:
            payload = json.loads(body)
        except ValueError:
            payload = body.decode("latin-1")
        reply = {
            "status_code": 201 if qualifier == "created" else 200,
            "headers": {"content-type": "application/json",
                        "x-function": name},
            "cookies": ["session=abc; Path=/"],
            "body": json.dumps({"function": name, "qualifier": qualifier,
                                "payload": payload}),
            "is_base64_encoded": False,
        }
        self._send(200, json.dumps(reply).encode(),
                   [("X-Amz-Executed-Version", "1")])

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class LambdaStandIn:
    """The stand-in on a free loopback port, serving TLS with `ca`'s
    server certificate; `secrets` maps access key -> (secret, token)."""

    def __init__(self, ca, secrets):
        self.secrets = secrets
        self.requests = []
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.owner = self
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ca.cert, ca.key)
        self.server.socket = ctx.wrap_socket(self.server.socket,
                                             server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
            daemon=True)

    def _record(self, rec):
        with self._lock:
            self.requests.append(rec)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
