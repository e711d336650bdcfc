#!/usr/bin/python3
"""test_lambda_nginx.py - lambda_signer in the real nginx, over TLS to a
Lambda stand-in that verifies every signature with botocore.

    /usr/bin/python3 test_lambda_nginx.py CASE     (exit 0 pass, 1 fail)

Each case starts its own test CA (openssl), the stand-in
(lambda_standin.py) on an ephemeral loopback port serving TLS, and nginx
with the gwf module (tests/nginx/harness.py) whose locations say
`gwf_backend NAME;` (or `gwf_extension NAME;` for the sign mode) and
`proxy_pass https://127.0.0.1:PORT` with `proxy_ssl_trusted_certificate`:
the plugin rewrites and signs the request, routing stays nginx's. After
the requests, the leak check: gwf_streams_active back at 0, and no
credential in nginx's error log or the metrics.
"""

import json
import os
import socket
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR") or
                os.path.join(HERE, "..", "..", "nginx"))

from harness import (  # noqa: E402
    Nginx, TestFailure, check, metric, parse_metrics, read_text, request,
    run_case, wait_for)
from lambda_standin import (  # noqa: E402
    HOP_BY_HOP_BODY, LambdaStandIn, TestCA, botocore_content_sha256)

API = "gateway.kgateway.dev/v1alpha1"
ACCESS_KEY = "AKIDNGINXTEST00001"
SECRET_KEY = "nginxTestSecretKey/abcdefghijklmnopqrstuvw"
TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKENnginx+/="


def secret(name="aws", token=None):
    data = {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}
    if token:
        data["sessionToken"] = token
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name}, "stringData": data}


def backend(name, port, function, **lambda_extra):
    lam = {"functionName": function,
           "endpointURL": "https://127.0.0.1:%d" % port}
    lam.update(lambda_extra)
    return {"apiVersion": API, "kind": "Backend", "metadata": {"name": name},
            "spec": {"aws": {"accountId": "123456789012",
                             "region": "eu-west-3",
                             "auth": {"type": "Secret",
                                      "secretRef": {"name": "aws"}},
                             "lambda": lam}}}


def signer(name, service, **extra):
    config = {"mode": "sign", "service": service, "region": "eu-west-3",
              "auth": {"type": "Secret", "secretRef": {"name": "aws"}}}
    config.update(extra)
    return {"apiVersion": API, "kind": "GatewayExtension",
            "metadata": {"name": name},
            "spec": {"plugin": {"name": "lambda_signer", "config": config}}}


def tls_location(path, directive, port, ca):
    return ("location %s { %s proxy_pass https://127.0.0.1:%d; "
            "proxy_ssl_trusted_certificate %s; proxy_ssl_verify on; "
            "proxy_ssl_name localhost; }" % (path, directive, port,
                                             ca.ca_cert))


def server(*locations):
    return "\n".join("        " + loc for loc in locations) + \
        "\n        location = /metrics { gwf_metrics; }\n"


def get_metrics(ngx):
    r = request(ngx.port, "GET", "/metrics")
    check(r.status == 200, "GET /metrics answered %d" % r.status)
    return r.text


def assert_clean(ngx):
    """No stream left active; no credential in the logs or metrics."""
    def settled():
        m = parse_metrics(get_metrics(ngx))
        active = metric(m, "gwf_streams_active")
        return active is not None and active == 0
    check(wait_for(settled, 5.0, 0.1),
          "gwf_streams_active did not return to 0:\n%s" % get_metrics(ngx))
    text = get_metrics(ngx) + read_text(ngx.error_log) + \
        read_text(ngx.access_log)
    for credential in (SECRET_KEY, TOKEN, ACCESS_KEY):
        check(credential not in text,
              "a credential appears in nginx's logs or metrics")


def run(fn_secrets, manifests, locations, body):
    with TestCA() as ca, LambdaStandIn(ca, fn_secrets) as fn:
        docs = manifests(fn.port)
        with Nginx(locations=server(*locations(fn.port, ca)),
                   manifests={"gw.yaml": docs}) as ngx:
            body(ngx, fn)
            assert_clean(ngx)


SECRETS = {ACCESS_KEY: (SECRET_KEY, None)}


def raw_exchange(port, request_bytes):
    """Send bytes, read until nginx closes: (status, [(name, value)],
    body bytes as framed). Raw, so that duplicate or contradictory
    framing headers are seen as the client sees them, not as a client
    library cleaned them up; the framing itself is checked here."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request_bytes)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, sep, rest = data.partition(b"\r\n\r\n")
    check(sep, "no end of headers in %r" % data[:300])
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [tuple(x.strip() for x in line.split(":", 1))
               for line in lines[1:]]
    names = [n.lower() for n, _ in headers]
    lengths = [v for n, v in headers if n.lower() == "content-length"]
    codings = [v for n, v in headers if n.lower() == "transfer-encoding"]
    check(len(lengths) + len(codings) == 1,
          "want exactly one framing header, got %r" % headers)
    if lengths:
        check(int(lengths[0]) == len(rest), "content-length %s, body %d "
              "bytes: %r" % (lengths[0], len(rest), rest[:200]))
        return status, headers, rest
    check(codings == ["chunked"] and names.count("transfer-encoding") == 1,
          "transfer-encoding %r" % codings)
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            check(rest == b"\r\n", "bytes after the last chunk: %r" % rest)
            return status, headers, body
        body += rest[:size]
        check(rest[size:size + 2] == b"\r\n", "bad chunk framing")
        rest = rest[size + 2:]


def fn_location(port, ca):
    return [tls_location("/fn/", "gwf_backend fn;", port, ca)]


def fn_backend(function):
    return lambda port: [secret(), backend("fn", port, function)]


def assert_invalid_reply(ngx, fn):
    """One request to a function whose answer is malformed: 502 with the
    plugin's message, nothing of the answer passed on."""
    r = request(ngx.port, "POST", "/fn/", body=b"x")
    check(r.status == 502, "want 502, got %d: %r" % (r.status, r.body))
    check(b"invalid reply from the Lambda function" in r.body,
          "body %r" % r.body)
    check(b"never" not in r.body, "the answer leaked: %r" % r.body)
    check(r.header("x-bad") is None, "x-bad passed on: %r" % r.headers)


# -- Cases -------------------------------------------------------------------

def sync_invocation_is_signed_and_transformed():
    def body(ngx, fn):
        r = request(ngx.port, "POST", "/fn/orders?id=42&tag=a%20b",
                    body=b'{"item": 1}',
                    headers={"Content-Type": "application/json",
                             "X-Client": "yes"})
        check(r.status == 200, "want 200, got %d: %r" % (r.status, r.body))
        check(len(fn.requests) == 1 and fn.requests[0]["verified"],
              "the stand-in did not verify the signature: %r"
              % [q.get("why") for q in fn.requests])
        check(fn.requests[0]["path"] ==
              "/2015-03-31/functions/hello/invocations",
              "path %r" % fn.requests[0]["path"])
        check(r.header("x-function") == "hello", "x-function %r"
              % r.header("x-function"))
        check(r.header("set-cookie") == "session=abc; Path=/",
              "set-cookie %r" % r.header("set-cookie"))
        got = r.json()
        p = got["payload"]
        check(p["raw_path"] == "/fn/orders?id=42&tag=a%20b",
              "raw_path %r" % p["raw_path"])
        check(p["method"] == "POST", "method %r" % p["method"])
        check(p["query_string_parameters"] == {"id": "42", "tag": "a b"},
              "query %r" % p["query_string_parameters"])
        check(p["headers"].get("x-client") == "yes",
              "headers %r" % p["headers"])
        check(p["body"] == '{"item": 1}' and not p["is_base64_encoded"],
              "body %r" % p["body"])

    run(SECRETS,
        lambda port: [secret(), backend("hello-fn", port, "hello")],
        lambda port, ca: [tls_location("/fn/", "gwf_backend hello-fn;",
                                       port, ca)],
        body)


# A GET has no body; the Envoy payload the plugin makes must still reach
# the upstream (nginx gives the request a body it did not come with).
def get_without_body_is_invoked():
    def body(ngx, fn):
        r = request(ngx.port, "GET", "/fn/x")
        check(r.status == 200, "want 200, got %d: %r" % (r.status, r.body))
        check(fn.requests and fn.requests[-1]["verified"],
              "signature not verified: %r"
              % [q.get("why") for q in fn.requests])
        check(fn.requests[-1]["method"] == "POST",
              "method %r" % fn.requests[-1]["method"])
        check(r.json()["payload"]["method"] == "GET", "payload %r" % r.body)

    run(SECRETS,
        lambda port: [secret(), backend("hello-fn", port, "hello")],
        lambda port, ca: [tls_location("/fn/", "gwf_backend hello-fn;",
                                       port, ca)],
        body)


def qualifier_and_status_from_function():
    def body(ngx, fn):
        r = request(ngx.port, "POST", "/fn/", body=b"x")
        check(r.status == 201, "want 201, got %d: %r" % (r.status, r.body))
        check(fn.requests[-1]["path"] ==
              "/2015-03-31/functions/hello:created/invocations",
              "path %r" % fn.requests[-1]["path"])
        check(fn.requests[-1]["verified"], "signature not verified")

    run(SECRETS,
        lambda port: [secret(), backend("hello-fn", port, "hello",
                                        qualifier="created")],
        lambda port, ca: [tls_location("/fn/", "gwf_backend hello-fn;",
                                       port, ca)],
        body)


# Lambda's async answer is 202 with an empty body (Content-Length: 0),
# which must end the response even though the chain has a response body
# hook.
def async_invocation_answers_202():
    def body(ngx, fn):
        r = request(ngx.port, "POST", "/fn/", body=b"event")
        check(r.status == 202, "want 202, got %d: %r" % (r.status, r.body))
        hdrs = dict((k.lower(), v) for k, v in fn.requests[-1]["headers"])
        check(hdrs.get("x-amz-invocation-type") == "Event",
              "invocation type %r" % hdrs.get("x-amz-invocation-type"))
        check(fn.requests[-1]["verified"], "signature not verified")

    run(SECRETS,
        lambda port: [secret(), backend("hello-fn", port, "hello",
                                        invocationMode="Async")],
        lambda port, ca: [tls_location("/fn/", "gwf_backend hello-fn;",
                                       port, ca)],
        body)


def function_error_gives_502():
    def body(ngx, fn):
        r = request(ngx.port, "POST", "/fn/", body=b"x")
        check(r.status == 502, "want 502, got %d: %r" % (r.status, r.body))
        check(b"the Lambda function failed (Unhandled)" in r.body,
              "body %r" % r.body)
        check(b"boom" not in r.body, "the function's error leaked: %r"
              % r.body)

    run(SECRETS,
        lambda port: [secret(), backend("fails-fn", port, "fails")],
        lambda port, ca: [tls_location("/fn/", "gwf_backend fails-fn;",
                                       port, ca)],
        body)


def invalid_reply_gives_502():
    def body(ngx, fn):
        r = request(ngx.port, "POST", "/fn/", body=b"x")
        check(r.status == 502, "want 502, got %d: %r" % (r.status, r.body))
        check(b"invalid reply from the Lambda function" in r.body,
              "body %r" % r.body)

    run(SECRETS,
        lambda port: [secret(), backend("garbage-fn", port, "garbage")],
        lambda port, ca: [tls_location("/fn/", "gwf_backend garbage-fn;",
                                       port, ca)],
        body)


def wrong_secret_is_refused_by_aws_with_502():
    def body(ngx, fn):
        r = request(ngx.port, "POST", "/fn/", body=b"x")
        check(r.status == 502, "want 502, got %d: %r" % (r.status, r.body))
        check(b"AWS answered 403 InvalidSignatureException" in r.body,
              "body %r" % r.body)
        check(fn.requests and not fn.requests[-1]["verified"],
              "the stand-in accepted a wrong signature")

    # The stand-in knows another secret for the same key.
    run({ACCESS_KEY: ("another-secret", None)},
        lambda port: [secret(), backend("hello-fn", port, "hello")],
        lambda port, ca: [tls_location("/fn/", "gwf_backend hello-fn;",
                                       port, ca)],
        body)


def session_token_is_sent_and_signed():
    def body(ngx, fn):
        r = request(ngx.port, "POST", "/fn/", body=b"x")
        check(r.status == 200, "want 200, got %d: %r" % (r.status, r.body))
        check(fn.requests[-1]["verified"], "signature not verified: %s"
              % fn.requests[-1]["why"])

    run({ACCESS_KEY: (SECRET_KEY, TOKEN)},
        lambda port: [secret(token=TOKEN),
                      backend("hello-fn", port, "hello")],
        lambda port, ca: [tls_location("/fn/", "gwf_backend hello-fn;",
                                       port, ca)],
        body)


def sign_mode_signs_any_request():
    def body(ngx, fn):
        for method, path, data in (("GET", "/api/a/./b?z=1&a=%7e", None),
                                   ("PUT", "/api/items/1", b"payload"),
                                   ("DELETE", "/api/x%20y", None)):
            r = request(ngx.port, method, path, body=data,
                        headers={"X-Forwarded-For": "192.0.2.9",
                                 "X-Custom": "  spaced   value "})
            check(r.status == 200, "%s %s: want 200, got %d: %r\n%s\n%r"
                  % (method, path, r.status, r.body, fn.requests[-1]["why"],
                     fn.requests[-1]["headers"]))
            got = r.json()
            check(got.get("verified") and got.get("service") ==
                  "execute-api", "%s %s: %r" % (method, path, got))

    run(SECRETS,
        # nginx sends Host: $proxy_host (the proxy_pass address): the
        # signer must sign that host, which hostRewrite says.
        lambda port: [secret(), signer("apigw", "execute-api",
                                       hostRewrite="127.0.0.1:%d" % port)],
        lambda port, ca: [tls_location("/api/", "gwf_extension apigw;",
                                       port, ca)],
        body)


# -- Sign mode: X-Amz-Content-Sha256 as botocore sends it ---------------------

def assert_content_sha256_as_botocore(fn, port, service, unsigned_payload,
                                      method, path, data):
    """The last request reached the stand-in verified, with the
    X-Amz-Content-Sha256 botocore sends for it (none, or one, signed)."""
    rec = fn.requests[-1]
    check(rec["verified"], "%s %s: not verified: %s" % (method, path,
                                                        rec["why"]))
    got = [v for k, v in rec["headers"]
           if k.lower() == "x-amz-content-sha256"]
    want = botocore_content_sha256(
        service, method, "https://127.0.0.1:%d%s" % (port, path), data,
        unsigned_payload)
    check(got == ([want] if want else []),
          "%s %s: x-amz-content-sha256 %r, botocore sends %r"
          % (method, path, got, want))
    authz = [v for k, v in rec["headers"] if k.lower() == "authorization"]
    signed = "x-amz-content-sha256;" in authz[0]
    check(signed == bool(want), "%s %s: x-amz-content-sha256 signed: %r"
          % (method, path, authz[0]))


# unsignedPayload: the signature says UNSIGNED-PAYLOAD, so the header
# must say it too (signed), or the verifier hashes the body and refuses.
def sign_mode_unsigned_payload_sends_signed_content_sha256():
    def body(ngx, fn):
        other = "0" * 64
        for method, path, data, headers in (
                ("PUT", "/api/items/1", b"payload", {}),
                ("GET", "/api/items", None, {}),
                ("PUT", "/api/items/2", b"payload",
                 {"X-Amz-Content-Sha256": other})):
            r = request(ngx.port, method, path, body=data, headers=headers)
            check(r.status == 200, "%s %s: want 200, got %d: %s"
                  % (method, path, r.status, fn.requests[-1]["why"]))
            assert_content_sha256_as_botocore(fn, fn.port, "execute-api",
                                              True, method, path, data)

    run(SECRETS,
        lambda port: [secret(), signer("apigw", "execute-api",
                                       unsignedPayload=True,
                                       hostRewrite="127.0.0.1:%d" % port)],
        lambda port, ca: [tls_location("/api/", "gwf_extension apigw;",
                                       port, ca)],
        body)


# With unsignedPayload nothing needs the body: it streams to the service
# as nginx reads it, and a 3 MB PUT under client_max_body_size 20m is
# signed and answered, not refused with 413 by gwf_max_body (1m).
def sign_mode_unsigned_payload_streams_a_large_body():
    def body(ngx, fn):
        data = bytes(range(256)) * (3 * 1024 * 1024 // 256)
        r = request(ngx.port, "PUT", "/api/items/big", body=data)
        check(r.status == 200, "3 MB PUT: want 200, got %d: %s"
              % (r.status, fn.requests[-1]["why"] if fn.requests else ""))
        assert_content_sha256_as_botocore(fn, fn.port, "execute-api",
                                          True, "PUT", "/api/items/big", data)

    run(SECRETS,
        lambda port: [secret(), signer("apigw", "execute-api",
                                       unsignedPayload=True,
                                       hostRewrite="127.0.0.1:%d" % port)],
        lambda port, ca: [tls_location(
            "/api/", "gwf_extension apigw; client_max_body_size 20m;",
            port, ca)],
        body)


# A client's own X-Amz-Content-Sha256 never goes on unsigned beside a
# signature over another hash: gone where botocore sends none (API
# Gateway), the body's signed SHA-256 instead for S3.
def sign_mode_client_content_sha256_is_replaced():
    def body(ngx, fn):
        for service, path in (("execute-api", "/api/items/1"),
                              ("s3", "/s3/bucket/key")):
            r = request(ngx.port, "PUT", path, body=b"payload",
                        headers={"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
            check(r.status == 200, "%s: want 200, got %d: %s"
                  % (path, r.status, fn.requests[-1]["why"]))
            assert_content_sha256_as_botocore(fn, fn.port, service, False,
                                              "PUT", path, b"payload")
        # Twice, in two spellings: every value goes.
        for service, path in (("execute-api", "/api/items/2"),
                              ("s3", "/s3/bucket/key2")):
            status, _, got = raw_exchange(
                ngx.port,
                b"PUT %s HTTP/1.1\r\nHost: localhost\r\n"
                b"X-Amz-Content-Sha256: UNSIGNED-PAYLOAD\r\n"
                b"x-amz-content-sha256: %s\r\nContent-Length: 7\r\n"
                b"Connection: close\r\n\r\npayload"
                % (path.encode(), b"0" * 64))
            check(status == 200, "%s: want 200, got %d: %s"
                  % (path, status, fn.requests[-1]["why"]))
            assert_content_sha256_as_botocore(fn, fn.port, service, False,
                                              "PUT", path, b"payload")

    run(SECRETS,
        lambda port: [secret(),
                      signer("apigw", "execute-api",
                             hostRewrite="127.0.0.1:%d" % port),
                      signer("bucket", "s3",
                             hostRewrite="127.0.0.1:%d" % port)],
        lambda port, ca: [tls_location("/api/", "gwf_extension apigw;",
                                       port, ca),
                          tls_location("/s3/", "gwf_extension bucket;",
                                       port, ca)],
        body)


# -- The function's answer: hop-by-hop and framing headers --------------------

def reply_hop_by_hop_and_framing_headers_are_dropped():
    def body(ngx, fn):
        payload = b"x"
        status, headers, got = raw_exchange(
            ngx.port,
            b"POST /fn/ HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (len(payload), payload))
        check(status == 200, "want 200, got %d: %r" % (status, got))
        # Framing was checked by raw_exchange: one header, matching the
        # body nginx sent, which is the function's.
        check(got == HOP_BY_HOP_BODY.encode(), "body %r" % got)
        values = {}
        for name, value in headers:
            values.setdefault(name.lower(), []).append(value)
        # nginx's own Connection (the client asked to close), once.
        check(values.get("connection") == ["close"],
              "connection %r" % values.get("connection"))
        for name in ("keep-alive", "proxy-connection", "upgrade", "te",
                     "trailer", "x-hop"):
            check(name not in values, "%s passed on: %r" % (name, headers))
        check(values.get("x-kept") == ["yes"], "x-kept %r" % headers)
        check(values.get("content-type") == ["text/plain"],
              "content-type %r" % values.get("content-type"))

    run(SECRETS, fn_backend("hopbyhop"), fn_location, body)


# -- The function's answer: malformed is a 502 --------------------------------

def reply_header_with_control_byte_gives_502():
    run(SECRETS, fn_backend("ctlbyte"), fn_location, assert_invalid_reply)


def reply_with_huge_headers_gives_502():
    run(SECRETS, fn_backend("hugeheaders"), fn_location,
        assert_invalid_reply)


def reply_with_bad_base64_gives_502():
    run(SECRETS, fn_backend("badbase64"), fn_location, assert_invalid_reply)


def reply_with_status_out_of_range_gives_502():
    run(SECRETS, fn_backend("badstatus"), fn_location, assert_invalid_reply)


# -- The client's request: its faults are 4xx ---------------------------------

# 900 bytes fit gwf_max_body 1000; their base64 in the payload does not:
# the request is too large (413), not a Lambda failure (5xx).
def payload_over_body_limit_gives_413():
    def body(ngx, fn):
        r = request(ngx.port, "POST", "/fn/", body=b"\xff" * 900,
                    headers={"Content-Type": "application/octet-stream"})
        check(r.status == 413, "want 413, got %d: %r" % (r.status, r.body))
        check(not fn.requests, "the function was called: %r"
              % [q["path"] for q in fn.requests])

    with TestCA() as ca, LambdaStandIn(ca, SECRETS) as fn:
        with Nginx(locations=server(*fn_location(fn.port, ca)),
                   manifests={"gw.yaml": fn_backend("hello")(fn.port)},
                   http_extra="gwf_max_body 1000;") as ngx:
            body(ngx, fn)
            assert_clean(ngx)


# A control byte in a client's header value is not the function's
# failure: it travels in the payload, escaped by JSON.
def request_header_with_control_byte_is_sent_in_the_payload():
    def body(ngx, fn):
        status, _, got = raw_exchange(
            ngx.port,
            b"POST /fn/ HTTP/1.1\r\nHost: localhost\r\n"
            b"X-Odd: a\x01b\r\nContent-Length: 1\r\n"
            b"Connection: close\r\n\r\nx")
        check(status == 200, "want 200, got %d: %r" % (status, got))
        payload = json.loads(got)["payload"]
        check(payload["headers"].get("x-odd") == "a\x01b",
              "x-odd %r" % payload["headers"].get("x-odd"))

    run(SECRETS, fn_backend("hello"), fn_location, body)


# HTTP/1.0 without Host, to a signer without hostRewrite: there is no
# host to sign, the client's doing (400), never an unsigned request.
def sign_mode_request_without_host_gives_400():
    def body(ngx, fn):
        status, _, got = raw_exchange(ngx.port,
                                      b"GET /api/x HTTP/1.0\r\n\r\n")
        check(status == 400, "want 400, got %d: %r" % (status, got))
        check(not fn.requests, "the request went on: %r"
              % [q["path"] for q in fn.requests])

    run(SECRETS,
        lambda port: [secret(), signer("apigw", "execute-api")],
        lambda port, ca: [tls_location("/api/", "gwf_extension apigw;",
                                       port, ca)],
        body)


def get_without_body_is_invoked_with_no_transform():
    """payloadTransformMode None, a GET without a body: an Invoke with an
    empty payload, signed; the function's answer comes back as is."""
    def body(ngx, fn):
        r = request(ngx.port, "GET", "/fn/x")
        check(r.status == 200, "want 200, got %d: %r" % (r.status, r.body))
        check(fn.requests and fn.requests[-1]["verified"],
              "signature not verified: %r"
              % [q.get("why") for q in fn.requests])
        check(fn.requests[-1]["method"] == "POST" and
              fn.requests[-1]["body"] == b"",
              "request %r" % fn.requests[-1])
        check(r.body == b"", "body %r" % r.body)

    run(SECRETS,
        lambda port: [secret(), backend("raw-fn", port, "raw",
                                        payloadTransformMode="None")],
        lambda port, ca: [tls_location("/fn/", "gwf_backend raw-fn;",
                                       port, ca)],
        body)


# -- Fetched credentials -------------------------------------------------------

class AwsStandIn:
    """aws_standin.py (STS, container endpoint, IMDSv2) on loopback."""

    def __init__(self, *args):
        import subprocess
        import tempfile
        fd, self.log = tempfile.mkstemp(prefix="gwf-aws-standin-")
        os.close(fd)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "aws_standin.py"),
             "--log", self.log, "--real-clock"] + list(args),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        check(line.startswith("PORT "), "aws_standin.py: %r" % line)
        self.url = "http://127.0.0.1:%d" % int(line.split()[1])

    def requests(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        os.unlink(self.log)


STANDIN_SECRETS = {"ASIASTANDIN1": ("standin-secret-1", "standin-token-1"),
                   "ASIASTANDIN2": ("standin-secret-2", "standin-token-2")}

CHAIN_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
              "AWS_SESSION_TOKEN", "AWS_PROFILE",
              "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
              "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
              "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
              "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL",
              "AWS_EC2_METADATA_SERVICE_ENDPOINT",
              "AWS_EC2_METADATA_DISABLED")


def chain_env(**values):
    """The environment nginx starts with: only `values` of the chain."""
    for name in CHAIN_VARS:
        os.environ.pop(name, None)
    os.environ["HOME"] = "/nonexistent-gwf-test-home"
    os.environ.update(values)


def fetched_backend(name, port, auth=None):
    aws = {"region": "us-east-1",
           "lambda": {"accountId": "123456789012", "functionName": "hello",
                      "endpointURL": "https://127.0.0.1:%d" % port}}
    if auth:
        aws["auth"] = auth
    return {"apiVersion": API, "kind": "Backend", "metadata": {"name": name},
            "spec": {"aws": aws}}


def assert_fetched_invocation(ngx, fn, key):
    r = request(ngx.port, "POST", "/fn/", body=b'{"a": 1}',
                headers={"Content-Type": "application/json"})
    check(r.status == 200, "want 200, got %d: %r" % (r.status, r.body))
    check(len(fn.requests) == 1 and fn.requests[0]["verified"],
          "the stand-in did not verify the signature: %r"
          % [q.get("why") for q in fn.requests])
    auth = [v for k, v in fn.requests[0]["headers"]
            if k.lower() == "authorization"][0]
    check("Credential=%s/" % key in auth, "signed by %r" % auth)


def imds_credentials_sign_the_invocation():
    """No auth, nothing but IMDS in nginx's environment: the worker
    fetches IMDSv2 credentials on nginx's loop and signs with them."""
    with AwsStandIn() as aws:
        chain_env(AWS_EC2_METADATA_SERVICE_ENDPOINT=aws.url)
        with TestCA() as ca, LambdaStandIn(ca, STANDIN_SECRETS) as fn:
            with Nginx(locations=server(*fn_location(fn.port, ca)),
                       manifests={"gw.yaml": [fetched_backend(
                           "fn", fn.port)]}) as ngx:
                assert_fetched_invocation(ngx, fn, "ASIASTANDIN1")
                paths = [q["path"] for q in aws.requests()]
                check(paths[0] == "/latest/api/token" and
                      paths[-1].endswith("/gwf-standin-role"),
                      "IMDS calls %r" % paths)
                assert_clean(ngx)
                text = read_text(ngx.error_log)
                check("standin-secret-1" not in text and
                      "standin-token-1" not in text,
                      "a fetched credential is in nginx's error log")


def assume_role_credentials_sign_the_invocation():
    """auth.type AssumeRole, base credentials in nginx's environment:
    STS AssumeRole (signed, botocore checks it), then the Invoke signed
    with the role's credentials."""
    with AwsStandIn("--base-key", ACCESS_KEY + ":" + SECRET_KEY) as aws:
        chain_env(AWS_ACCESS_KEY_ID=ACCESS_KEY,
                  AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                  AWS_ENDPOINT_URL_STS=aws.url)
        auth = {"type": "AssumeRole", "assumeRole": {
            "roleArn": "arn:aws:iam::123456789012:role/gwf-invoke"}}
        with TestCA() as ca, LambdaStandIn(ca, STANDIN_SECRETS) as fn:
            with Nginx(locations=server(*fn_location(fn.port, ca)),
                       manifests={"gw.yaml": [fetched_backend(
                           "fn", fn.port, auth)]}) as ngx:
                assert_fetched_invocation(ngx, fn, "ASIASTANDIN1")
                sts = [q for q in aws.requests()
                       if "Action=AssumeRole&" in q["body"]]
                check(len(sts) == 1 and sts[0]["verified"],
                      "AssumeRole calls %r" % sts)
                assert_clean(ngx)


def sts_down_fails_closed_with_500():
    """AssumeRole with STS down: 500, nothing reaches the function."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    chain_env(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
              AWS_ENDPOINT_URL_STS="http://127.0.0.1:%d" % port)
    auth = {"type": "AssumeRole", "assumeRole": {
        "roleArn": "arn:aws:iam::123456789012:role/gwf-invoke"}}
    with TestCA() as ca, LambdaStandIn(ca, STANDIN_SECRETS) as fn:
        with Nginx(locations=server(*fn_location(fn.port, ca)),
                   manifests={"gw.yaml": [fetched_backend(
                       "fn", fn.port, auth)]}) as ngx:
            r = request(ngx.port, "POST", "/fn/", body=b"x")
            check(r.status == 500, "want 500, got %d: %r"
                  % (r.status, r.body))
            check(b"AWS credentials are unavailable" in r.body,
                  "body %r" % r.body)
            check(not fn.requests, "the function was called: %r"
                  % fn.requests)
            assert_clean(ngx)


CASES = {f.__name__: f for f in [
    get_without_body_is_invoked_with_no_transform,
    imds_credentials_sign_the_invocation,
    assume_role_credentials_sign_the_invocation,
    sts_down_fails_closed_with_500,
    sync_invocation_is_signed_and_transformed,
    get_without_body_is_invoked,
    qualifier_and_status_from_function,
    async_invocation_answers_202,
    function_error_gives_502,
    invalid_reply_gives_502,
    wrong_secret_is_refused_by_aws_with_502,
    session_token_is_sent_and_signed,
    sign_mode_signs_any_request,
    sign_mode_unsigned_payload_sends_signed_content_sha256,
    sign_mode_unsigned_payload_streams_a_large_body,
    sign_mode_client_content_sha256_is_replaced,
    reply_hop_by_hop_and_framing_headers_are_dropped,
    reply_header_with_control_byte_gives_502,
    reply_with_huge_headers_gives_502,
    reply_with_bad_base64_gives_502,
    reply_with_status_out_of_range_gives_502,
    payload_over_body_limit_gives_413,
    request_header_with_control_byte_is_sent_in_the_payload,
    sign_mode_request_without_host_gives_400,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
