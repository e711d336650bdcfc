#!/usr/bin/python3
"""test_direct_response_nginx.py - DirectResponse inside the real nginx,
through the gwf module: its bodyFormat, and fixed replies sent through
the host's prepared reply (abi.h 0.4) on every path nginx gives them
(HEAD, redirects, keep-alive, reload). Reuses tests/nginx/harness.py
(nginx in a temporary prefix on a free loopback port, the echo upstream
that must never be called).

    /usr/bin/python3 test_direct_response_nginx.py CASE   (exit 0 pass, 1 fail)

What nginx gives the format engine (the client's address and port, the
protocol, the request's start time, its header lines) is asserted
exactly, as the client sent it.
"""

import gzip
import os
import re
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(HERE, "..", "..", "nginx")))

from harness import (  # noqa: E402
    API, HTTP_TIMEOUT, Nginx, Upstream, check, metric, probe, request,
    run_case)
from test_nginx import (  # noqa: E402
    assert_no_leaks, expect_status, get_metrics, proxied, server)


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


# ---------------------------------------------------------------------------
# A fixed DirectResponse (no bodyFormat) is answered through the host's
# prepared reply (abi.h 0.4): nginx builds its form of the headers on the
# first request of a worker and sends the body by reference. Every reply
# must still be exactly the configured one.
# ---------------------------------------------------------------------------

FIXED_BODY = b"We are upgrading the shop.\nBack at 14:00 UTC.\n"


def fixed_direct_responses():
    return {"dr.yaml": [
        direct_response("maint", {
            "status": 503,
            "body": FIXED_BODY.decode(),
            "contentType": "text/html; charset=utf-8",
            "headers": [{"name": "retry-after", "value": "3600"},
                        {"name": "cache-control", "value": "no-store"},
                        {"name": "set-cookie", "value": "a=1"},
                        {"name": "set-cookie", "value": "b=2"}]}),
        direct_response("moved", {
            "status": 301,
            "headers": {"location": "https://example.com/new",
                        "cache-control": "max-age=60"}}),
        direct_response("found", {
            "status": 302,
            "body": "see https://example.com/elsewhere\n",
            "headers": [{"name": "location",
                         "value": "https://example.com/elsewhere"}]}),
    ]}


# The reply's own headers, in order; Server, Date and Connection are
# nginx's.
def own_headers(headers):
    return [(k.lower(), v) for k, v in headers
            if k.lower() not in ("server", "date", "connection")]


MAINT_HEADERS = [("content-type", "text/html; charset=utf-8"),
                 ("content-length", str(len(FIXED_BODY))),
                 ("retry-after", "3600"),
                 ("cache-control", "no-store"),
                 ("set-cookie", "a=1"),
                 ("set-cookie", "b=2")]


def expect_maint(r, what):
    expect_status(r, 503, what)
    check(r.body == FIXED_BODY, "%s body: %r" % (what, r.body))
    check(own_headers(r.headers) == MAINT_HEADERS,
          "%s headers: %r" % (what, r.headers))


def fixed_reply_keeps_exact_status_headers_and_body():
    with Upstream() as up, Nginx(server(
            proxied("/maint", "gwf_direct_response default/maint")),
            fixed_direct_responses(), up) as ngx:
        # The first request builds nginx's form of the reply, the later
        # ones reuse it: all the same.
        for i in range(3):
            expect_maint(request(ngx.port, "GET", "/maint"), "GET #%d" % i)
        check(up.hits == 0, "the upstream was called %d time(s)" % up.hits)
        m = get_metrics(ngx)
        n = metric(m, "gwf_local_replies_total", instance="/maint",
                   status="503", details="direct_response")
        check(n == 3, "gwf_local_replies_total for /maint: %r" % n)
        assert_no_leaks(ngx)


def fixed_reply_to_head_has_no_body_and_the_same_length():
    with Upstream() as up, Nginx(server(
            proxied("/maint", "gwf_direct_response default/maint")),
            fixed_direct_responses(), up) as ngx:
        for i in range(2):
            r = request(ngx.port, "HEAD", "/maint")
            expect_status(r, 503, "HEAD #%d" % i)
            check(r.body == b"", "HEAD #%d sent a body: %r" % (i, r.body))
            check(own_headers(r.headers) == MAINT_HEADERS,
                  "HEAD #%d headers: %r" % (i, r.headers))
        # A GET after the HEADs still gets the body.
        expect_maint(request(ngx.port, "GET", "/maint"), "GET after HEAD")
        check(up.hits == 0, "the upstream was called %d time(s)" % up.hits)
        assert_no_leaks(ngx)


def fixed_redirect_carries_its_location():
    with Upstream() as up, Nginx(server(
            proxied("/moved", "gwf_direct_response default/moved"),
            proxied("/found", "gwf_direct_response default/found")),
            fixed_direct_responses(), up) as ngx:
        for i in range(2):
            r = request(ngx.port, "GET", "/moved")
            expect_status(r, 301, "/moved #%d" % i)
            check(r.body == b"", "/moved body: %r" % r.body)
            check(own_headers(r.headers) == [
                      ("content-length", "0"),
                      ("location", "https://example.com/new"),
                      ("cache-control", "max-age=60")],
                  "/moved #%d headers: %r" % (i, r.headers))
            r = request(ngx.port, "GET", "/found")
            expect_status(r, 302, "/found #%d" % i)
            check(r.body == b"see https://example.com/elsewhere\n",
                  "/found body: %r" % r.body)
            check(r.header_all("location") ==
                  ["https://example.com/elsewhere"],
                  "/found #%d location: %r" % (i, r.headers))
            check(r.header("content-type") == "text/plain; charset=utf-8",
                  "/found #%d content-type: %r" % (i, r.headers))
        check(up.hits == 0, "the upstream was called %d time(s)" % up.hits)
        assert_no_leaks(ngx)


def two_locations_share_one_fixed_reply():
    with Upstream() as up, Nginx(server(
            proxied("/a", "gwf_direct_response default/maint"),
            proxied("/b", "gwf_direct_response default/maint")),
            fixed_direct_responses(), up) as ngx:
        for i in range(3):
            expect_maint(request(ngx.port, "GET", "/a"), "/a #%d" % i)
            expect_maint(request(ngx.port, "GET", "/b"), "/b #%d" % i)
            r = request(ngx.port, "HEAD", "/b" if i % 2 else "/a")
            check(r.status == 503 and r.body == b"" and
                  own_headers(r.headers) == MAINT_HEADERS,
                  "HEAD #%d: %r" % (i, r))
        check(up.hits == 0, "the upstream was called %d time(s)" % up.hits)
        assert_no_leaks(ngx)


def read_response(sock, buf, head=False):
    """One HTTP/1.1 response from `sock` (Content-Length framed); returns
    (status line, [(name, value)], body, rest of buf)."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        check(data, "connection closed before the headers; got %r" % buf)
        buf += data
    head_bytes, buf = buf.split(b"\r\n\r\n", 1)
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = [tuple(x.strip() for x in line.split(":", 1))
               for line in lines[1:]]
    length = 0 if head else int(dict((k.lower(), v) for k, v in headers)
                                .get("content-length", "0"))
    while len(buf) < length:
        data = sock.recv(65536)
        check(data, "connection closed inside the body")
        buf += data
    return lines[0], headers, buf[:length], buf[length:]


def two_hundred_requests_on_one_connection_are_identical():
    with Upstream() as up, Nginx(server(
            proxied("/maint", "gwf_direct_response default/maint"),
            proxied("/moved", "gwf_direct_response default/moved")),
            fixed_direct_responses(), up) as ngx:
        sock = socket.create_connection(("127.0.0.1", ngx.port), timeout=10)
        buf = b""
        try:
            for i in range(200):
                path = "/moved" if i % 50 == 49 else "/maint"
                sock.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
                             .encode())
                line, headers, body, buf = read_response(sock, buf)
                if path == "/moved":
                    check(line == "HTTP/1.1 301 Moved Permanently" and
                          body == b"",
                          "request %d: %s %r" % (i, line, body))
                    continue
                check(line == "HTTP/1.1 503 Service Temporarily Unavailable",
                      "request %d status line: %r" % (i, line))
                check(body == FIXED_BODY, "request %d body: %r" % (i, body))
                check(own_headers(headers) == MAINT_HEADERS,
                      "request %d headers: %r" % (i, headers))
            check(buf == b"", "bytes after the last response: %r" % buf)
        finally:
            sock.close()
        check(up.hits == 0, "the upstream was called %d time(s)" % up.hits)
        assert_no_leaks(ngx)


def fixed_reply_discards_request_bodies_and_counts_every_request():
    """A fixed reply is answered like nginx's `return` (abi.h 0.5
    reply_always: no stream): a request body - sized or chunked - is
    read past, so the next request on the connection is answered as the
    first, and every request is counted in the series a stream would
    count in, the plugin's own counter included."""
    with Upstream() as up, Nginx(server(
            proxied("/maint", "gwf_direct_response default/maint")),
            fixed_direct_responses(), up) as ngx:
        sock = socket.create_connection(("127.0.0.1", ngx.port), timeout=10)
        buf = b""
        try:
            sock.sendall(b"POST /maint HTTP/1.1\r\nHost: t\r\n"
                         b"Content-Length: 11\r\n\r\nhello world"
                         b"PUT /maint HTTP/1.1\r\nHost: t\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n0\r\n\r\n"
                         b"GET /maint HTTP/1.1\r\nHost: t\r\n\r\n")
            for i in range(3):
                line, headers, body, buf = read_response(sock, buf)
                check(line == "HTTP/1.1 503 Service Temporarily Unavailable"
                      and body == FIXED_BODY and
                      own_headers(headers) == MAINT_HEADERS,
                      "request %d: %s %r %r" % (i, line, headers, body))
            check(buf == b"", "bytes after the last response: %r" % buf)
        finally:
            sock.close()
        check(up.hits == 0, "the upstream was called %d time(s)" % up.hits)
        m = get_metrics(ngx)
        for name, labels in [
                ("gwf_local_replies_total",
                 {"status": "503", "details": "direct_response"}),
                ("gwf_streams_total", {}),
                ("gwf_direct_response_replies_total", {"status": "503"})]:
            inst = "default/maint" if "direct" in name else "/maint"
            n = metric(m, name, instance=inst, **labels)
            check(n == 3, "%s: %r in\n%s" % (name, n, m))
        assert_no_leaks(ngx)


def reload_while_fixed_replies_run_keeps_every_reply_whole():
    with Upstream() as up, Nginx(server(
            proxied("/maint", "gwf_direct_response default/maint")),
            fixed_direct_responses(), up, workers=2) as ngx:
        stop = threading.Event()
        failures, counts = [], [0] * 4

        def client(k):
            try:
                while not stop.is_set():
                    expect_maint(request(ngx.port, "GET", "/maint"),
                                 "client %d" % k)
                    counts[k] += 1
            except Exception as e:  # reported below
                failures.append(e)
        threads = [threading.Thread(target=client, args=(k,), daemon=True)
                   for k in range(len(counts))]
        for t in threads:
            t.start()
        for _ in range(2):
            time.sleep(0.3)
            old = ngx.worker_pids()
            res = ngx.reload()
            check(res.returncode == 0, "nginx -s reload: %s" % res.stderr)
            ngx.wait_reloaded(old)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(HTTP_TIMEOUT + 5)
        check(not failures, "a reply during the reloads: %s" % failures[:1])
        check(all(counts), "a client got no reply: %r" % counts)
        sys.stdout.write("replies during the reloads, per client: %r\n"
                         % counts)
        expect_maint(request(ngx.port, "GET", "/maint"), "after the reloads")
        check(up.hits == 0, "the upstream was called %d time(s)" % up.hits)
        assert_no_leaks(ngx)
    # Leaving the `with` checked error.log: no worker exited on a signal.


def plugin_before_changes_its_copy_not_the_fixed_reply():
    # A plugin with a response hook before the DirectResponse gets the
    # reply as a copy it may change; the next requests, through it or
    # straight to the reply, get the reply as configured.
    manifests = fixed_direct_responses()
    manifests["probe.yaml"] = [probe("edit", {
        "tag": "E",
        "set_response_header": {"x-edited": "yes", "retry-after": "60"}})]
    with Upstream() as up, Nginx(server(
            proxied("/edited", "gwf_extension default/edit",
                    "gwf_direct_response default/maint"),
            proxied("/maint", "gwf_direct_response default/maint")),
            manifests, up) as ngx:
        for i in range(3):
            expect_maint(request(ngx.port, "GET", "/maint"),
                         "/maint #%d" % i)
            r = request(ngx.port, "GET", "/edited")
            expect_status(r, 503, "/edited #%d" % i)
            check(r.body == FIXED_BODY, "/edited body: %r" % r.body)
            check(r.header_all("x-edited") == ["yes"] and
                  r.header_all("retry-after") == ["60"] and
                  r.header_all("set-cookie") == ["a=1", "b=2"],
                  "/edited #%d headers: %r" % (i, r.headers))
        expect_maint(request(ngx.port, "GET", "/maint"), "/maint last")
        check(up.hits == 0, "the upstream was called %d time(s)" % up.hits)
        assert_no_leaks(ngx)


def gzip_check(content_type, body_format):
    """A 200 DirectResponse with `content_type`, fixed (prepared) or with
    a bodyFormat (send_local_reply), behind nginx's gzip filter: gzip'd
    when asked, and as configured when not."""
    page = FIXED_BODY * 4
    spec = {"status": 200, "contentType": content_type,
            "headers": [{"name": "cache-control", "value": "no-store"}]}
    if body_format:
        spec["bodyFormat"] = {"text": page.decode()}
    else:
        spec["body"] = page.decode()
    page_headers = [("content-type", content_type),
                    ("content-length", str(len(page))),
                    ("cache-control", "no-store")]
    with Upstream() as up, Nginx(server(
            proxied("/page", "gzip on", "gzip_min_length 1",
                    "gzip_types text/html",
                    "gwf_direct_response default/page")),
            {"page.yaml": [direct_response("page", spec)]}, up) as ngx:
        for i in range(3):
            r = request(ngx.port, "GET", "/page",
                        headers={"Accept-Encoding": "gzip"})
            expect_status(r, 200, "gzip #%d" % i)
            check(r.header("content-encoding") == "gzip",
                  "gzip #%d headers: %r" % (i, r.headers))
            check(gzip.decompress(r.body) == page,
                  "gzip #%d body: %r" % (i, r.body))
            check(r.header_all("content-type") == [content_type],
                  "gzip #%d content-type: %r" % (i, r.headers))
            r = request(ngx.port, "GET", "/page")
            expect_status(r, 200, "identity #%d" % i)
            check(r.body == page and own_headers(r.headers) == page_headers,
                  "identity #%d: %r" % (i, r))
        check(up.hits == 0, "the upstream was called %d time(s)" % up.hits)
        assert_no_leaks(ngx)


def gzip_of_a_fixed_reply_leaves_the_reply_as_configured():
    # nginx's gzip filter (200, 403 and 404 only) reads the body sent by
    # reference and replaces the framing headers on its own request only.
    gzip_check("text/html", body_format=False)


def relative_location_is_made_absolute_on_both_reply_paths():
    # nginx's absolute_redirect completes a Location that starts with
    # '/': the same for a fixed (prepared) reply as for one with a
    # bodyFormat (send_local_reply), on every request.
    manifests = {"dr.yaml": [
        direct_response("fixed", {
            "status": 302, "body": "moved\n",
            "headers": {"location": "/new?a=1"}}),
        direct_response("formatted", {
            "status": 302, "bodyFormat": {"text": "moved\n"},
            "headers": {"location": "/new?a=1"}})]}
    with Upstream() as up, Nginx(server(
            proxied("/fixed", "gwf_direct_response default/fixed"),
            proxied("/formatted", "gwf_direct_response default/formatted")),
            manifests, up) as ngx:
        want = "http://127.0.0.1:%d/new?a=1" % ngx.port
        for i in range(3):
            for path in ("/fixed", "/formatted"):
                r = request(ngx.port, "GET", path)
                expect_status(r, 302, "%s #%d" % (path, i))
                check(r.header_all("location") == [want] and
                      r.body == b"moved\n",
                      "%s #%d: %r" % (path, i, r))
        check(up.hits == 0, "the upstream was called %d time(s)" % up.hits)
        assert_no_leaks(ngx)


def fixed_reply_is_what_the_same_formatted_reply_gives():
    # The prepared path (fixed body) and send_local_reply (a bodyFormat
    # without commands) give nginx the same status, headers in the same
    # order, and body.
    headers = [{"name": "retry-after", "value": "3600"},
               {"name": "Set-Cookie", "value": "a=1"},
               {"name": "x-empty", "value": ""},
               {"name": "set-cookie", "value": "b=2"},
               {"name": "www-authenticate", "value": "Basic realm=\"x\""}]
    common = {"status": 401, "contentType": "application/json",
              "headers": headers}
    manifests = {"dr.yaml": [
        direct_response("fixed", dict(common, body="{\"e\":1}\n")),
        direct_response("formatted", dict(
            common, bodyFormat={"text": "{\"e\":1}\n"}))]}
    with Upstream() as up, Nginx(server(
            proxied("/fixed", "gwf_direct_response default/fixed"),
            proxied("/formatted", "gwf_direct_response default/formatted")),
            manifests, up) as ngx:
        for i in range(2):
            f = request(ngx.port, "GET", "/fixed")
            g = request(ngx.port, "GET", "/formatted")
            expect_status(f, 401, "/fixed #%d" % i)
            check(f.body == b"{\"e\":1}\n", "/fixed body: %r" % f.body)
            check((f.status, own_headers(f.headers), f.body) ==
                  (g.status, own_headers(g.headers), g.body),
                  "#%d fixed %r != formatted %r" % (i, f, g))
            check(own_headers(f.headers)[:2] == [
                      ("content-type", "application/json"),
                      ("content-length", "8")],
                  "/fixed #%d headers: %r" % (i, f.headers))
        check(up.hits == 0, "the upstream was called %d time(s)" % up.hits)
        assert_no_leaks(ngx)


# NOT registered in meson.build: fails today, on both reply paths. The
# module gives nginx a reply's whole Content-Type as the media type
# (headers_out.content_type_len), so gzip_types (and the other *_types
# lists) never match one with parameters such as "; charset=utf-8" -
# direct_response's default.
def gzip_types_match_a_content_type_with_a_charset_fixed():
    gzip_check("text/html; charset=utf-8", body_format=False)


def gzip_types_match_a_content_type_with_a_charset_formatted():
    gzip_check("text/html; charset=utf-8", body_format=True)


CASES = {f.__name__: f for f in [
    body_format_text_and_json_are_rendered_per_request,
    body_format_mistake_fails_nginx_t_naming_field_and_byte,
    status_outside_kgateway_range_fails_nginx_t,
    fixed_reply_keeps_exact_status_headers_and_body,
    fixed_reply_to_head_has_no_body_and_the_same_length,
    fixed_redirect_carries_its_location,
    two_locations_share_one_fixed_reply,
    two_hundred_requests_on_one_connection_are_identical,
    fixed_reply_discards_request_bodies_and_counts_every_request,
    reload_while_fixed_replies_run_keeps_every_reply_whole,
    plugin_before_changes_its_copy_not_the_fixed_reply,
    gzip_of_a_fixed_reply_leaves_the_reply_as_configured,
    relative_location_is_made_absolute_on_both_reply_paths,
    fixed_reply_is_what_the_same_formatted_reply_gives,
    gzip_types_match_a_content_type_with_a_charset_fixed,
    gzip_types_match_a_content_type_with_a_charset_formatted,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
