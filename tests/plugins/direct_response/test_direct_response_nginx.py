#!/usr/bin/python3
"""test_direct_response_nginx.py - DirectResponse's bodyFormat inside the
real nginx, through the gwf module, reusing tests/nginx/harness.py (nginx
in a temporary prefix on a free loopback port, the echo upstream that must
never be called).

    /usr/bin/python3 test_direct_response_nginx.py CASE   (exit 0 pass, 1 fail)

What nginx gives the format engine (the client's address and port, the
protocol, the request's start time, its header lines) is asserted
exactly, as the client sent it.
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(HERE, "..", "..", "nginx")))

from harness import (  # noqa: E402
    API, Nginx, Upstream, check, request, run_case)
from test_nginx import assert_no_leaks, expect_status, proxied, server  # noqa: E402,E501


def direct_response(name, spec):
    return {"apiVersion": API, "kind": "DirectResponse",
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


# kgateway's e2e manifest (test/e2e/features/directresponse), as is.
DATA_JSON_YAML = """\
apiVersion: gateway.kgateway.dev/v1alpha1
kind: DirectResponse
metadata:
  name: data-json
  namespace: default
spec:
  status: 200
  bodyFormat:
    json:
      path: "%REQ(:path)%"
"""


def body_format_text_and_json_are_rendered_per_request():
    manifests = {
        "data-json.yaml": DATA_JSON_YAML,
        "dr.yaml": [
            direct_response("robots", {
                "status": 200,
                "bodyFormat": {"text": "User-agent: *\n"
                                       "Disallow: %REQ(:path)%\n"}}),
            direct_response("who", {
                "status": 418,
                "bodyFormat": {"text": "%DOWNSTREAM_REMOTE_ADDRESS% "
                                       "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_"
                                       "PORT% %PROTOCOL% %RESPONSE_CODE% "
                                       "[%REQ(x-missing)%] "
                                       "%REQ(x-name):3% "
                                       "%REQUEST_HEADERS_BYTES%"}}),
            direct_response("when", {
                "status": 200,
                "bodyFormat": {"json": {"at": "%START_TIME(%s)%",
                                        "iso": "%START_TIME%",
                                        "code": "%RESPONSE_CODE%",
                                        "evil": "%REQ(x-evil)%"}}}),
        ]}
    with Upstream() as up, Nginx(server(
            proxied("/data.json", "gwf_direct_response default/data-json"),
            proxied("/robots.txt", "gwf_direct_response default/robots"),
            proxied("/who", "gwf_direct_response default/who"),
            proxied("/when", "gwf_direct_response default/when")),
            manifests, up) as ngx:
        r = request(ngx.port, "GET", "/data.json")
        expect_status(r, 200, "/data.json")
        check(r.body == b'{"path":"/data.json"}\n',
              "/data.json body: %r" % r.body)
        # kgateway's e2e test asserts exactly this content-type.
        check(r.header_all("content-type") == ["text/plain"],
              "/data.json content-type: %r" % r.headers)
        check(r.header("content-length") == str(len(r.body)),
              "/data.json content-length: %r" % r.headers)

        r = request(ngx.port, "GET", "/robots.txt")
        expect_status(r, 200, "/robots.txt")
        check(r.body == b"User-agent: *\nDisallow: /robots.txt\n",
              "/robots.txt body: %r" % r.body)
        check(r.header("content-type") == "text/plain",
              "/robots.txt content-type: %r" % r.headers)

        # http.client sends Host and Accept-Encoding besides these.
        host = "127.0.0.1:%d" % ngx.port
        sent = {"X-Name": "alexandra"}
        r = request(ngx.port, "GET", "/who?q=1", headers=sent)
        expect_status(r, 418, "/who")
        parts = r.text.split(" ")
        check(len(parts) == 7, "/who body: %r" % r.body)
        check(re.fullmatch(r"127\.0\.0\.1:\d+", parts[0]) is not None and
              parts[0] != "127.0.0.1:%d" % ngx.port,
              "/who remote address with the client's port: %r" % parts[0])
        check(parts[1:6] == ["127.0.0.1", "HTTP/1.1", "418", "[-]", "ale"],
              "/who body: %r" % r.body)
        expected_bytes = (len(":method") + len("GET") + len(":path") +
                          len("/who?q=1") + len(":scheme") + len("http") +
                          len(":authority") + len(host) +
                          len("accept-encoding") + len("identity") +
                          len("x-name") + len("alexandra"))
        check(parts[6] == str(expected_bytes),
              "/who REQUEST_HEADERS_BYTES: %r, want %d"
              % (parts[6], expected_bytes))

        before = int(time.time())
        r = request(ngx.port, "GET", "/when",
                    headers={"X-Evil": '"},"admin":true,"x":{"\\'})
        after = int(time.time())
        expect_status(r, 200, "/when")
        doc = r.json()
        check(sorted(doc) == ["at", "code", "evil", "iso"],
              "/when keys: %r" % doc)
        check(before - 1 <= int(doc["at"]) <= after,
              "/when START_TIME(%%s) %r not within [%d, %d]"
              % (doc["at"], before, after))
        check(doc["iso"] == time.strftime(
                  "%Y-%m-%dT%H:%M:%S", time.gmtime(int(doc["at"]))) +
              doc["iso"][19:] and
              re.fullmatch(r"\.\d{3}Z", doc["iso"][19:]) is not None,
              "/when START_TIME: %r for %r" % (doc["iso"], doc["at"]))
        check(doc["code"] == 200, "/when RESPONSE_CODE: %r" % doc["code"])
        check(doc["evil"] == '"},"admin":true,"x":{"\\',
              "/when hostile header escaped: %r" % r.body)

        check(up.hits == 0, "the upstream was called %d time(s): %r"
              % (up.hits, up.requests))
        assert_no_leaks(ngx)


def body_format_mistake_fails_nginx_t_naming_field_and_byte():
    ngx = Nginx(server(proxied("/", "gwf_direct_response default/bad")),
                {"bad.yaml": direct_response("bad", {
                    "status": 200,
                    "bodyFormat": {"text": "at %UPSTREAM_HOST%"}})})
    res = ngx.test_config()
    out = res.stderr + res.stdout
    check(res.returncode != 0,
          "nginx -t exited 0 with an unknown command:\n" + out)
    check("spec.bodyFormat.text: expected an Envoy format string, found a "
          "command gwf does not know or support: %UPSTREAM_HOST% at byte 3"
          in out, "nginx -t does not name the field and byte:\n" + out)
    check("[emerg]" in out, "nginx -t reports no [emerg]:\n" + out)
    ngx.discard()


def status_outside_kgateway_range_fails_nginx_t():
    ngx = Nginx(server(proxied("/", "gwf_direct_response default/bad")),
                {"bad.yaml": direct_response("bad", {
                    "status": 199, "bodyFormat": {"text": "x"}})})
    res = ngx.test_config()
    out = res.stderr + res.stdout
    check(res.returncode != 0, "nginx -t exited 0 with status 199:\n" + out)
    check("spec.status: expected an integer from 200 to 599, found 199"
          in out, "nginx -t does not name spec.status:\n" + out)
    ngx.discard()


CASES = {f.__name__: f for f in [
    body_format_text_and_json_are_rendered_per_request,
    body_format_mistake_fails_nginx_t_naming_field_and_byte,
    status_outside_kgateway_range_fails_nginx_t,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
