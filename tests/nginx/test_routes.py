#!/usr/bin/python3
"""test_routes.py - the route directives of the nginx module: gwf_route
(matching and dispatch) and the per-location actions gwf_request_header,
gwf_response_header, gwf_rewrite, gwf_redirect, gwf_request_timeout and
gwf_sample (the contract in host/nginx/README.md, "Routes").

    /usr/bin/python3 test_routes.py CASE      (exit 0 pass, 1 fail)

Each case writes a server block by hand, as the Gateway API translator
would: a `location /` holding the table and one named location per
backend, each tagging the request with a header (X-Route) so the echo
upstream of harness.py, which reports the method, the raw request target
and the headers it received, says which line served it.
"""

import os
import select
import socket
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    Nginx as HarnessNginx, Upstream, check, direct_response, echo_header,
    request, run_case, wait_for)


class Nginx(HarnessNginx):
    """The harness's nginx with one unused manifest: gwf_manifests needs
    a document, and route directives need none."""

    def __init__(self, locations, manifests=None, **kwargs):
        manifests = dict(manifests or {})
        manifests.setdefault("unused.yaml", direct_response("unused", 200))
        super().__init__(locations, manifests=manifests, **kwargs)


def backend(name, extra=""):
    """A named location @NAME that tags the request X-Route: NAME and
    proxies to the echo upstream."""
    return """
        location @%s {
            proxy_set_header X-Route %s;
            proxy_set_header Host $http_host;
            %s
            proxy_pass http://{UP};
        }
""" % (name, name, extra)


def server(routes, backends=("a", "b", "c", "d"), extra=""):
    lines = "\n".join("            gwf_route %s;" % r for r in routes)
    return ("""
        location / {
%s
        }
""" % lines) + "".join(backend(b) for b in backends) + extra


def route_of(resp):
    """The named location that served a request (its X-Route tag)."""
    check(resp.status == 200, "expected 200 from the upstream, got %r" % resp)
    return echo_header(resp.json(), "X-Route")


def expect_route(port, path, want, method="GET", headers=None):
    resp = request(port, method, path, headers=headers)
    if want is None:
        check(resp.status == 404, "%s %s: expected 404, got %r"
              % (method, path, resp))
        return
    got = route_of(resp)
    check(got == want, "%s %s %r: expected route %s, got %s"
          % (method, path, headers, want, got))


def raw_request(port, data, timeout=10.0):
    """Send raw bytes, return the raw answer (until close or timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)
    finally:
        s.close()


def raw_headers(port, path, headers):
    """A GET with header lines exactly as given (repeats kept)."""
    req = "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" % path
    for k, v in headers:
        req += "%s: %s\r\n" % (k, v)
    return raw_request(port, (req + "\r\n").encode("latin-1"))


def raw_route(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200"), "expected 200, got %r"
          % answer[:300])
    import json
    for k, v in json.loads(body)["headers"]:
        if k.lower() == "x-route":
            return v
    return None


# ---------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------

def exact_path_matches_only_that_path():
    with Upstream() as up, Nginx(server(["exact=/abc pass=@a"]),
                                 upstream=up) as ngx:
        expect_route(ngx.port, "/abc", "a")
        expect_route(ngx.port, "/abc/", None)
        expect_route(ngx.port, "/abcd", None)
        expect_route(ngx.port, "/ab", None)
        expect_route(ngx.port, "/abc?x=1", "a")


def prefix_matches_whole_segments_only():
    with Upstream() as up, Nginx(server(["prefix=/abc pass=@a"]),
                                 upstream=up) as ngx:
        for path in ("/abc", "/abc/", "/abc/def", "/abc/def/g"):
            expect_route(ngx.port, path, "a")
        for path in ("/abcd", "/ab", "/", "/x/abc"):
            expect_route(ngx.port, path, None)


def prefix_with_trailing_slash_matches_the_same_set():
    with Upstream() as up, Nginx(server(["prefix=/abc/ pass=@a"]),
                                 upstream=up) as ngx:
        for path in ("/abc", "/abc/", "/abc/def"):
            expect_route(ngx.port, path, "a")
        expect_route(ngx.port, "/abcd", None)


def prefix_root_and_no_path_match_every_path():
    with Upstream() as up, Nginx(server(["method=POST pass=@b",
                                         "prefix=/ pass=@a"]),
                                 upstream=up) as ngx:
        for path in ("/", "/x", "/x/y/z", "//a"):
            expect_route(ngx.port, path, "a")
        expect_route(ngx.port, "/anything", "b", method="POST")


def prefix_on_the_decoded_normalised_uri():
    with Upstream() as up, Nginx(server(['"prefix=/a b" pass=@a']),
                                 upstream=up) as ngx:
        expect_route(ngx.port, "/a%20b/c", "a")
        expect_route(ngx.port, "/x/../a%20b", "a")


def encoded_and_dotted_paths_route_by_the_normalised_path():
    """Tricks to slip past prefix=/admin: each path routes by what nginx
    decodes and normalises it to, the way the backend will read it; what
    nginx refuses (NUL, a mangled method) never reaches the table."""
    with Upstream() as up, Nginx(server(["prefix=/admin pass=@a",
                                         "pass=@b"]), upstream=up) as ngx:
        for path in ("//admin", "/admin%2Fx", "/%61dmin", "/./admin",
                     "/public/..%2Fadmin", "/public/%2e%2e/admin",
                     "/x/../admin/"):
            expect_route(ngx.port, path, "a")
        for path in ("/admin/../public", "/ADMIN", "/admin;x", "/admins",
                     "/admin%2e%2e/x"):
            expect_route(ngx.port, path, "b")
        resp = request(ngx.port, "GET", "/admin%00")
        check(resp.status == 400, "/admin%%00: %r" % resp)
        for line in (b"G%45T /admin", b"get /admin"):
            answer = raw_request(ngx.port, line + b" HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n")
            check(answer.startswith(b"HTTP/1.1 400"), "%r: %r"
                  % (line, answer[:40]))
        check(up.hits == 12, "expected 12 upstream requests, got %d"
              % up.hits)


def regex_path_must_match_the_whole_uri():
    with Upstream() as up, Nginx(server([
            'regex=/api/v[0-9]+ pass=@a',
            'regex=a|ab pass=@b']), upstream=up) as ngx:
        expect_route(ngx.port, "/api/v2", "a")
        expect_route(ngx.port, "/api/v2/x", None)
        expect_route(ngx.port, "/x/api/v2", None)
        expect_route(ngx.port, "/api/v", None)


def regex_alternation_is_anchored_as_a_whole():
    routes = ['regex=/a|/ab pass=@a']
    with Upstream() as up, Nginx(server(routes), upstream=up) as ngx:
        expect_route(ngx.port, "/ab", "a")
        expect_route(ngx.port, "/a", "a")
        expect_route(ngx.port, "/abc", None)


# ---------------------------------------------------------------------------
# Method, headers, query
# ---------------------------------------------------------------------------

def method_must_equal_exactly():
    with Upstream() as up, Nginx(server(["method=POST pass=@a",
                                         "prefix=/ pass=@b"]),
                                 upstream=up) as ngx:
        expect_route(ngx.port, "/", "a", method="POST")
        expect_route(ngx.port, "/", "b", method="GET")
        expect_route(ngx.port, "/", "b", method="PUT")


def header_exact_value_with_case_insensitive_name():
    with Upstream() as up, Nginx(server(["header=X-Env:canary pass=@a",
                                         "prefix=/ pass=@b"]),
                                 upstream=up) as ngx:
        expect_route(ngx.port, "/", "a", headers={"x-env": "canary"})
        expect_route(ngx.port, "/", "a", headers={"X-ENV": "canary"})
        expect_route(ngx.port, "/", "b", headers={"X-Env": "Canary"})
        expect_route(ngx.port, "/", "b", headers={"X-Env": "canary2"})
        expect_route(ngx.port, "/", "b")


def header_repeated_lines_are_joined_with_commas():
    with Upstream() as up, Nginx(server(["header=x-env:a,b pass=@a",
                                         "prefix=/ pass=@b"]),
                                 upstream=up) as ngx:
        got = raw_route(raw_headers(ngx.port, "/", [("X-Env", "a"),
                                                    ("x-env", "b")]))
        check(got == "a", "two lines a, b: expected route a, got %s" % got)
        got = raw_route(raw_headers(ngx.port, "/", [("X-Env", "a")]))
        check(got == "b", "one line a: expected route b, got %s" % got)


def header_regex_must_match_the_whole_value():
    with Upstream() as up, Nginx(server(['"header~x-id:[0-9]{1,8}" pass=@a',
                                         "prefix=/ pass=@b"]),
                                 upstream=up) as ngx:
        expect_route(ngx.port, "/", "a", headers={"X-Id": "12345"})
        expect_route(ngx.port, "/", "b", headers={"X-Id": "12a45"})
        expect_route(ngx.port, "/", "b", headers={"X-Id": "a123"})
        expect_route(ngx.port, "/", "b")


def every_header_condition_must_hold():
    with Upstream() as up, Nginx(server(
            ["header=x-a:1 header=x-b:2 pass=@a", "prefix=/ pass=@b"]),
            upstream=up) as ngx:
        expect_route(ngx.port, "/", "a", headers={"X-A": "1", "X-B": "2"})
        expect_route(ngx.port, "/", "b", headers={"X-A": "1"})
        expect_route(ngx.port, "/", "b", headers={"X-B": "2"})


def query_exact_value_is_percent_decoded():
    with Upstream() as up, Nginx(server(['"query=q:a b" pass=@a',
                                         "prefix=/ pass=@b"]),
                                 upstream=up) as ngx:
        expect_route(ngx.port, "/?q=a%20b", "a")
        expect_route(ngx.port, "/?x=1&q=a%20b&y", "a")
        expect_route(ngx.port, "/?q=a+b", "b")
        expect_route(ngx.port, "/?Q=a%20b", "b")
        expect_route(ngx.port, "/", "b")


def query_uses_the_first_occurrence_only():
    with Upstream() as up, Nginx(server(["query=debug:1 pass=@a",
                                         "prefix=/ pass=@b"]),
                                 upstream=up) as ngx:
        expect_route(ngx.port, "/?debug=1&debug=2", "a")
        expect_route(ngx.port, "/?debug=2&debug=1", "b")


def query_regex_must_match_the_whole_decoded_value():
    with Upstream() as up, Nginx(server(['"query~q:^a.*$" pass=@a',
                                         "prefix=/ pass=@b"]),
                                 upstream=up) as ngx:
        expect_route(ngx.port, "/?q=abc", "a")
        expect_route(ngx.port, "/?q=%61bc", "a")
        expect_route(ngx.port, "/?q=bac", "b")
        expect_route(ngx.port, "/?q", "b")


# ---------------------------------------------------------------------------
# Precedence and dispatch
# ---------------------------------------------------------------------------

def first_matching_line_wins_over_a_longer_prefix():
    with Upstream() as up, Nginx(server([
            "prefix=/a pass=@a",
            "prefix=/a/b pass=@b",
            "exact=/a/b/c pass=@c",
            'regex=/a/.* pass=@d']), upstream=up) as ngx:
        expect_route(ngx.port, "/a/b/c", "a")
        expect_route(ngx.port, "/a", "a")


def later_line_wins_when_earlier_conditions_fail():
    with Upstream() as up, Nginx(server([
            "prefix=/a/b header=x-v:1 pass=@a",
            "exact=/a/b/c method=POST pass=@b",
            'regex=/a/b/.* header=x-v:2 pass=@c',
            "prefix=/a pass=@d"]), upstream=up) as ngx:
        expect_route(ngx.port, "/a/b/c", "a", headers={"X-V": "1"})
        expect_route(ngx.port, "/a/b/c", "b", method="POST")
        expect_route(ngx.port, "/a/b/c", "c", headers={"X-V": "2"})
        expect_route(ngx.port, "/a/b/c", "d")
        expect_route(ngx.port, "/a/x", "d")


def no_matching_line_gives_404():
    with Upstream() as up, Nginx(server(["exact=/only pass=@a"]),
                                 upstream=up) as ngx:
        resp = request(ngx.port, "GET", "/other")
        check(resp.status == 404, "expected 404, got %r" % resp)
        check(up.hits == 0, "the upstream was contacted")


def status_line_answers_that_status():
    with Upstream() as up, Nginx(server(["exact=/health status=200",
                                         "exact=/gone status=503"]),
                                 upstream=up) as ngx:
        resp = request(ngx.port, "GET", "/health")
        check(resp.status == 200 and resp.body == b"",
              "expected an empty 200, got %r" % resp)
        check(resp.header("Content-Length") == "0",
              "expected Content-Length: 0, got %r" % resp)
        resp = request(ngx.port, "GET", "/gone")
        check(resp.status == 503, "expected 503, got %r" % resp)
        check(up.hits == 0, "the upstream was contacted")


def weights_split_traffic_in_proportion():
    with Upstream() as up, Nginx(server(["pass=@a:3 pass=@b:1 pass=@c:0"]),
                                 upstream=up) as ngx:
        counts = {}
        for _ in range(400):
            got = route_of(request(ngx.port, "GET", "/"))
            counts[got] = counts.get(got, 0) + 1
        check(counts.get("c", 0) == 0, "weight 0 was chosen: %r" % counts)
        # 3:1 over 400: a mean of 300, sd ~8.7; 250..350 is > 5 sd wide.
        check(250 <= counts.get("a", 0) <= 350,
              "expected about 300 of 400 on a, got %r" % counts)
        check(counts.get("a", 0) + counts.get("b", 0) == 400,
              "lost requests: %r" % counts)


def all_zero_weights_give_500():
    with Upstream() as up, Nginx(server(["pass=@a:0 pass=@b:0"]),
                                 upstream=up) as ngx:
        for _ in range(5):
            resp = request(ngx.port, "GET", "/")
            check(resp.status == 500, "expected 500, got %r" % resp)
        check(up.hits == 0, "the upstream was contacted")


def pass_500_share_answers_500_in_proportion():
    with Upstream() as up, Nginx(server(["pass=@a:1 pass=500:1"]),
                                 upstream=up) as ngx:
        statuses = {}
        for _ in range(400):
            s = request(ngx.port, "GET", "/").status
            statuses[s] = statuses.get(s, 0) + 1
        check(set(statuses) == {200, 500}, "statuses %r" % statuses)
        check(150 <= statuses[500] <= 250,
              "expected about 200 of 400 to be 500, got %r" % statuses)


def named_location_runs_its_gwf_policy_chain():
    """After the jump the named location's plugin chain runs (a direct
    response plugin answers in place of the upstream)."""
    text = """
        location / {
            gwf_route exact=/dr pass=@dr;
            gwf_route pass=@a;
        }
        location @dr {
            gwf_direct_response default/teapot;
            gwf_response_header set X-Filtered yes;
            proxy_pass http://{UP};
        }
""" + backend("a")
    with Upstream() as up, Nginx(
            text, upstream=up,
            manifests={"dr.yaml": direct_response("teapot", 418,
                                                  body="short and stout")}
    ) as ngx:
        resp = request(ngx.port, "GET", "/dr")
        check(resp.status == 418 and resp.body == b"short and stout",
              "expected the direct response 418, got %r" % resp)
        check(resp.header("X-Filtered") == "yes",
              "gwf_response_header did not apply to the plugin's reply: %r"
              % resp.headers)
        expect_route(ngx.port, "/x", "a")
        check(up.hits == 1, "expected 1 upstream hit, got %d" % up.hits)


def internal_redirect_into_the_table_location_is_routed_again():
    """An error_page redirect from a named location back into the table's
    location goes through the table (not nginx's static files), and the
    named location the table jumps to never runs a table itself."""
    text = """
        location / {
            gwf_route exact=/first pass=@bounce;
            gwf_route exact=/other pass=@b;
        }
        location @bounce {
            gwf_route pass=@c;
            error_page 404 = /other;
            return 404;
        }
""" + backend("b") + backend("c")
    with Upstream() as up, Nginx(text, upstream=up) as ngx:
        resp = request(ngx.port, "GET", "/first")
        check(route_of(resp) == "b", "expected route b, got %r" % resp)
        check(resp.json()["path"] == "/other",
              "the upstream got %s" % resp.json()["path"])
        check(up.hits == 1, "expected one upstream request, got %d"
              % up.hits)


# ---------------------------------------------------------------------------
# Header operations
# ---------------------------------------------------------------------------

def request_header_set_add_remove():
    extra = """
            gwf_request_header set X-Set new;
            gwf_request_header add X-Add two;
            gwf_request_header remove X-Gone;
"""
    text = """
        location / { gwf_route pass=@h; }
""" + backend("h", extra)
    with Upstream() as up, Nginx(text, upstream=up) as ngx:
        answer = raw_headers(ngx.port, "/", [
            ("X-Set", "old1"), ("X-Set", "old2"), ("X-Add", "one"),
            ("X-Gone", "bye"), ("X-Gone", "bye2")])
        import json
        rec = json.loads(answer.partition(b"\r\n\r\n")[2])
        hdrs = [(k.lower(), v) for k, v in rec["headers"]]
        sets = [v for k, v in hdrs if k == "x-set"]
        adds = [v for k, v in hdrs if k == "x-add"]
        gone = [v for k, v in hdrs if k == "x-gone"]
        check(sets == ["new"], "X-Set: expected ['new'], got %r" % sets)
        check(adds == ["one", "two"], "X-Add: expected ['one', 'two'], "
              "got %r" % adds)
        check(gone == [], "X-Gone: expected none, got %r" % gone)


def request_header_set_host_changes_what_the_upstream_gets():
    text = """
        location / { gwf_route pass=@h; }
""" + backend("h", "gwf_request_header set Host other.example;")
    with Upstream() as up, Nginx(text, upstream=up) as ngx:
        rec = request(ngx.port, "GET", "/").json()
        check(echo_header(rec, "Host") == "other.example",
              "Host: expected other.example, got %r" % rec["headers"])


def response_header_set_add_remove():
    extra = """
            gwf_response_header set X-Upstream replaced;
            gwf_response_header add X-New one;
            gwf_response_header add X-New two;
            gwf_response_header remove X-Drop-Me;
            gwf_response_header remove Server;
"""
    text = """
        location / { gwf_route pass=@h; }
""" + backend("h", extra)
    with Upstream() as up, Nginx(text, upstream=up) as ngx:
        resp = request(ngx.port, "GET", "/")
        check(resp.status == 200, "expected 200, got %r" % resp)
        check(resp.header_all("X-Upstream") == ["replaced"],
              "X-Upstream: %r" % resp.headers)
        check(resp.header_all("X-New") == ["one", "two"],
              "X-New: %r" % resp.headers)
        check(resp.header("X-Drop-Me") is None, "X-Drop-Me: %r"
              % resp.headers)
        check(resp.header("Server") is None, "Server: %r" % resp.headers)


def response_headers_apply_to_nginx_error_pages():
    text = """
        location / { gwf_route pass=@h; }
        location @h {
            gwf_response_header set X-Tag err;
            proxy_pass http://127.0.0.1:9;
        }
"""
    with Nginx(text) as ngx:
        resp = request(ngx.port, "GET", "/")
        check(resp.status == 502, "expected 502, got %r" % resp)
        check(resp.header("X-Tag") == "err", "X-Tag: %r" % resp.headers)


# ---------------------------------------------------------------------------
# Rewrite
# ---------------------------------------------------------------------------

def rewrite_server(cases):
    """cases: [(route args, rewrite args)]: one named location each."""
    routes, locs = [], ""
    for i, (match, rewrite) in enumerate(cases):
        routes.append("%s pass=@w%d" % (match, i))
        locs += backend("w%d" % i, "gwf_rewrite %s;" % rewrite)
    return server(routes, backends=()) + locs


def upstream_path(port, path, headers=None):
    resp = request(port, "GET", path, headers=headers)
    check(resp.status == 200, "%s: expected 200, got %r" % (path, resp))
    return resp.json()


def rewrite_prefix_as_in_the_gateway_api_conformance_test():
    text = rewrite_server([
        ("prefix=/prefix/one", "path=prefix:/prefix/one:/one"),
        ("prefix=/strip-prefix", "path=prefix:/strip-prefix:/"),
        ("prefix=/full/one", "path=full:/one"),
        ("prefix=/prefix/rewrite-path-and-modify-headers",
         "path=prefix:/prefix/rewrite-path-and-modify-headers:/prefix"),
    ])
    cases = [("/prefix/one/two", "/one/two"),
             ("/strip-prefix/three", "/three"),
             ("/strip-prefix", "/"),
             ("/full/one/two", "/one"),
             ("/prefix/rewrite-path-and-modify-headers/one", "/prefix/one")]
    with Upstream() as up, Nginx(text, upstream=up) as ngx:
        for sent, want in cases:
            got = upstream_path(ngx.port, sent)["path"]
            check(got == want, "%s: expected %s upstream, got %s"
                  % (sent, want, got))


def rewrite_prefix_edge_cases():
    """The Gateway API's table for ReplacePrefixMatch."""
    table = [
        ("/foo", "/xyz", "/foo/bar", "/xyz/bar"),
        ("/foo", "/xyz/", "/foo/bar", "/xyz/bar"),
        ("/foo/", "/xyz", "/foo/bar", "/xyz/bar"),
        ("/foo/", "/xyz/", "/foo/bar", "/xyz/bar"),
        ("/foo", "/xyz", "/foo", "/xyz"),
        ("/foo", "/xyz", "/foo/", "/xyz/"),
        ("/foo", "", "/foo/bar", "/bar"),
        ("/foo", "", "/foo/", "/"),
        ("/foo", "", "/foo", "/"),
        ("/foo", "/", "/foo/", "/"),
        ("/foo", "/", "/foo", "/"),
    ]
    for old, new, sent, want in table:
        text = rewrite_server([("prefix=%s" % old,
                                '"path=prefix:%s:%s"' % (old, new))])
        with Upstream() as up, Nginx(text, upstream=up) as ngx:
            got = upstream_path(ngx.port, sent)["path"]
            check(got == want, "prefix %s -> %r on %s: expected %s, got %s"
                  % (old, new, sent, want, got))


def rewrite_keeps_the_query_and_escapes_the_path():
    text = rewrite_server([("prefix=/a", '"path=prefix:/a:/b c"')])
    with Upstream() as up, Nginx(text, upstream=up) as ngx:
        got = upstream_path(ngx.port, "/a/x%3Fy?k=v&z")["path"]
        check(got == "/b%20c/x%3Fy?k=v&z", "expected /b%%20c/x%%3Fy?k=v&z, "
              "got %s" % got)


def rewrite_host_replaces_the_host_header():
    text = rewrite_server([("prefix=/", "host=new.example.com")])
    with Upstream() as up, Nginx(text, upstream=up) as ngx:
        rec = upstream_path(ngx.port, "/x")
        check(echo_header(rec, "Host") == "new.example.com",
              "Host: %r" % rec["headers"])
        check(rec["path"] == "/x", "path changed: %s" % rec["path"])


# ---------------------------------------------------------------------------
# Redirect
# ---------------------------------------------------------------------------

def redirect_location(args, path="/p/q?x=1", host="example.com:8080"):
    text = """
        location / { gwf_route pass=@r; }
        location @r { gwf_redirect %s; }
""" % args
    with Nginx(text) as ngx:
        resp = request(ngx.port, "GET", path, headers={"Host": host})
        return resp.status, resp.header("Location")


def redirect_defaults_to_302_keeping_scheme_host_port_path_query():
    status, loc = redirect_location("")
    check(status == 302, "expected 302, got %d" % status)
    check(loc == "http://example.com:8080/p/q?x=1", "Location: %s" % loc)


def redirect_status_and_scheme_drop_the_request_port():
    status, loc = redirect_location("status=301 scheme=https")
    check(status == 301, "expected 301, got %d" % status)
    check(loc == "https://example.com/p/q?x=1", "Location: %s" % loc)


def redirect_port_is_omitted_when_default_for_the_scheme():
    _, loc = redirect_location("scheme=https port=443")
    check(loc == "https://example.com/p/q?x=1", "Location: %s" % loc)
    _, loc = redirect_location("scheme=https port=8443")
    check(loc == "https://example.com:8443/p/q?x=1", "Location: %s" % loc)
    _, loc = redirect_location("", host="example.com:80")
    check(loc == "http://example.com/p/q?x=1", "Location: %s" % loc)
    _, loc = redirect_location("port=80", host="example.com:8080")
    check(loc == "http://example.com/p/q?x=1", "Location: %s" % loc)


def redirect_host_and_paths():
    _, loc = redirect_location("host=h.example path=full:/x")
    check(loc == "http://h.example:8080/x?x=1", "Location: %s" % loc)
    _, loc = redirect_location("path=prefix:/p:/new", path="/p/q")
    check(loc == "http://example.com:8080/new/q", "Location: %s" % loc)
    _, loc = redirect_location("path=prefix:/p:/", path="/p")
    check(loc == "http://example.com:8080/", "Location: %s" % loc)


def redirect_location_escapes_hostile_path_and_query():
    _, loc = redirect_location("", path="/a%0d%0aSet-Cookie:%20x/%22?q=%0d")
    check(loc == "http://example.com:8080/a%0D%0ASet-Cookie:%20x/%22?q=%0d",
          "Location: %r" % loc)


def redirect_after_a_host_change_has_one_port_and_a_lowercase_host():
    """A Host set by a route action (port, capitals) gives the redirect
    its host lowercased and its port once, not the raw value and then
    the port again."""
    text = """
        location / { gwf_route pass=@r; }
        location @r {
            gwf_request_header set Host New.Example.com:8080;
            gwf_redirect;
        }
"""
    with Nginx(text) as ngx:
        resp = request(ngx.port, "GET", "/p?x=1",
                       headers={"Host": "example.com:9090"})
        check(resp.status == 302, "expected 302, got %r" % resp)
        loc = resp.header("Location")
        check(loc == "http://new.example.com:8080/p?x=1", "Location: %s" % loc)


def host_variable_after_a_host_change_is_the_host_without_its_port():
    """$host after gwf_rewrite host= is what nginx makes of a Host
    header: lowercase, no port, no trailing dot."""
    text = """
        location / { gwf_route pass=@h; }
""" + backend("h", "gwf_rewrite host=Other.Example.:81;"
                   " proxy_set_header X-Host $host;")
    with Upstream() as up, Nginx(text, upstream=up) as ngx:
        rec = request(ngx.port, "GET", "/").json()
        check(echo_header(rec, "X-Host") == "other.example",
              "X-Host ($host): %r" % echo_header(rec, "X-Host"))
        check(echo_header(rec, "Host") == "Other.Example.:81",
              "Host: %r" % echo_header(rec, "Host"))


def redirect_of_an_absolute_form_request_takes_host_and_port_from_it():
    """For "GET http://host:port/..." nginx's host is the request line's
    (the Host header is ignored): the port comes from there too, never
    from the ignored Host header."""
    text = """
        location / { gwf_route pass=@r; }
        location @r { gwf_redirect; }
"""
    with Nginx(text) as ngx:
        for target, want in (("http://abs.example:7/p", "http://abs.example:7/p"),
                             ("http://abs.example/p", "http://abs.example/p")):
            answer = raw_request(ngx.port, (
                "GET %s HTTP/1.1\r\nHost: h.example:8080\r\n"
                "Connection: close\r\n\r\n" % target).encode())
            head = answer.partition(b"\r\n\r\n")[0].decode("latin-1")
            check(head.startswith("HTTP/1.1 302"), "%s: %r" % (target, head))
            check("\r\nLocation: %s\r\n" % want in head + "\r\n",
                  "%s: expected Location %s in %r" % (target, want, head))


# ---------------------------------------------------------------------------
# Request timeout and sampling
# ---------------------------------------------------------------------------

def request_timeout_gives_504_at_about_the_timeout():
    text = """
        location / { gwf_route pass=@t; }
""" + backend("t", "gwf_request_timeout 500ms;")
    with Upstream() as up, Nginx(text, upstream=up) as ngx:
        resp = request(ngx.port, "GET", "/slow?ms=3000")
        check(resp.status == 504, "expected 504, got %r" % resp)
        check(0.4 <= resp.elapsed <= 1.5, "504 after %.2fs, expected ~0.5s"
              % resp.elapsed)
        check(up.hits == 1, "expected one try upstream, got %d" % up.hits)
        fast = request(ngx.port, "GET", "/fast")
        check(fast.status == 200, "fast request: %r" % fast)
        # The timer of an answered request never fires into it.
        time.sleep(0.8)
        again = request(ngx.port, "GET", "/fast")
        check(again.status == 200, "second fast request: %r" % again)


def request_timeout_does_not_retry_another_upstream():
    text = """
        location / { gwf_route pass=@t; }
        location @t {
            gwf_request_timeout 300ms;
            proxy_pass http://pool;
        }
"""
    with Upstream() as up1, Upstream() as up2:
        extra = ("upstream pool { server 127.0.0.1:%d; server 127.0.0.1:%d; }"
                 % (up1.port, up2.port))
        with Nginx(text, http_extra=extra) as ngx:
            resp = request(ngx.port, "GET", "/slow?ms=2000")
            check(resp.status == 504, "expected 504, got %r" % resp)
            check(up1.hits + up2.hits == 1, "expected one try, got %d"
                  % (up1.hits + up2.hits))


def request_timeout_waits_for_a_slow_upload_then_gives_504():
    """The timeout expires while nginx still reads the body for the
    upstream: the 504 comes as soon as the body is read and the upstream
    contacted, not before (nginx is not ended mid-read), and the worker
    lives."""
    text = """
        location / { gwf_route pass=@t; }
""" + backend("t", "gwf_request_timeout 300ms;")
    with Upstream() as up, Nginx(text, upstream=up) as ngx:
        s = socket.create_connection(("127.0.0.1", ngx.port), timeout=10)
        try:
            s.sendall(b"POST /slow?ms=3000 HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 4\r\nConnection: close\r\n\r\nab")
            time.sleep(0.8)
            early, _, _ = select.select([s], [], [], 0)
            check(not early, "nginx answered before the body was read")
            start = time.monotonic()
            s.sendall(b"cd")
            answer = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                answer += b
            elapsed = time.monotonic() - start
        finally:
            s.close()
        check(answer.startswith(b"HTTP/1.1 504"), "expected 504, got %r"
              % answer[:200])
        check(elapsed < 1.0, "504 came %.2fs after the body" % elapsed)
        # The timeout had expired when nginx connected: the upstream may
        # have been closed before or after it read the request, but it
        # was never tried twice.
        time.sleep(0.3)
        check(up.hits <= 1, "expected at most one upstream try, got %d"
              % up.hits)


def request_timeout_during_the_upstream_tls_handshake_gives_504():
    """An upstream that accepts the connection and never answers the TLS
    handshake: the timeout ends it as a timed-out upstream (504 and
    "upstream timed out"), not as a failed one (502)."""
    mute = socket.socket()  # accepts into its backlog, never answers
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)
    text = """
        location / { gwf_route pass=@t; }
        location @t {
            gwf_request_timeout 300ms;
            proxy_pass https://127.0.0.1:%d;
        }
""" % mute.getsockname()[1]
    try:
        with Nginx(text) as ngx:
            resp = request(ngx.port, "GET", "/x")
            check(resp.status == 504, "expected 504, got %r" % resp)
            check(0.2 <= resp.elapsed <= 1.0, "504 after %.2fs, expected "
                  "~0.3s" % resp.elapsed)
            ngx.wait_log(r"upstream timed out .* while SSL handshaking")
    finally:
        mute.close()


def request_timeout_during_a_limit_req_delay_gives_504_at_the_timeout():
    """A request limit_req holds back (its delay longer than the timeout)
    gets its 504 when the timeout expires; it does not hang with no
    timer left to wake it."""
    text = """
        location / { gwf_route pass=@t; }
""" + backend("t", "gwf_request_timeout 300ms; limit_req zone=z burst=10;")
    extra = "limit_req_zone $server_name zone=z:1m rate=1r/s;"
    with Upstream() as up, Nginx(text, upstream=up, http_extra=extra) as ngx:
        first = request(ngx.port, "GET", "/a")
        check(first.status == 200, "first request: %r" % first)
        # The next one waits ~1s in limit_req: the 504 comes at 300 ms.
        resp = request(ngx.port, "GET", "/b", timeout=5)
        check(resp.status == 504, "expected 504, got %r" % resp)
        check(0.2 <= resp.elapsed <= 0.8, "504 after %.2fs, expected ~0.3s"
              % resp.elapsed)
        check(up.hits == 1, "the delayed request reached the upstream")


def client_aborts_while_waiting_on_the_request_timeout():
    """Clients that reset their connection at any moment before the
    timeout: each request ends as nginx ends an aborted one (499), the
    timer never fires into a freed request, no worker dies."""
    text = """
        location / { gwf_route pass=@t; }
""" + backend("t", "gwf_request_timeout 500ms;")
    with Upstream() as up, Nginx(text, upstream=up) as ngx:
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", ngx.port), timeout=5)
            s.sendall(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.015 * i)
            # RST at close: nginx sees the abort at once.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            s.close()
        # Past every timeout: a fired timer would have hit a freed request.
        time.sleep(1.0)
        resp = request(ngx.port, "GET", "/fast")
        check(resp.status == 200, "after the aborts: %r" % resp)
        lines = [ln for ln in ngx.access().splitlines() if "/slow" in ln]
        statuses = sorted(ln.split('"')[2].split()[0] for ln in lines)
        check(statuses == ["499"] * 20, "expected 20 x 499, got %r"
              % statuses)
        check("gwf_request_timeout" not in ngx.log(),
              "a timer fired for an aborted request")


def slow_upstream_with_request_timeout_and_a_mirror():
    """The request and its mirror subrequest each have a timeout and a
    slow upstream: the client gets 504 at the request's timeout, the
    mirror is ended at its own, GET and POST alike, and the worker
    lives."""
    text = """
        location / { gwf_route pass=@m; }
        location @m {
            gwf_request_timeout 300ms;
            mirror /_gwf/mirror/m;
            proxy_set_header X-Route m;
            proxy_pass http://{UP};
        }
        location = /_gwf/mirror/m {
            internal;
            gwf_sample 100;
            gwf_request_timeout 200ms;
            proxy_set_header X-Route mirror;
            proxy_pass http://{UP}$request_uri;
        }
"""
    with Upstream() as up, Nginx(text, upstream=up) as ngx:
        for method, body in (("GET", None), ("POST", b"y" * 50000)):
            resp = request(ngx.port, method, "/slow?ms=1000", body=body)
            check(resp.status == 504, "%s: expected 504, got %r"
                  % (method, resp))
            check(resp.elapsed < 0.9, "%s: 504 after %.2fs, expected ~0.3s"
                  % (method, resp.elapsed))
            fast = request(ngx.port, method, "/fast", body=body)
            check(fast.status == 200, "%s /fast: %r" % (method, fast))
        # Two slow requests and two mirrors of them each timed out.
        ngx.wait_log(r"gwf_request_timeout 300 ms expired", count=2)
        ngx.wait_log(r"gwf_request_timeout 200 ms expired", count=2)
        check(wait_for(lambda: mirrored(up) == 4, 3.0),
              "expected 4 mirrored requests, got %d" % mirrored(up))


def mirror_server(percent):
    return """
        location / { gwf_route pass=@m; }
        location @m {
            mirror /_gwf/mirror/m;
            proxy_set_header X-Route m;
            proxy_pass http://{UP};
        }
        location = /_gwf/mirror/m {
            internal;
            gwf_sample %s;
            proxy_set_header X-Route mirror;
            proxy_pass http://{UP}$request_uri;
        }
""" % percent


def mirrored(up):
    return len([r for r in up.requests
                if echo_header(r, "X-Route") == "mirror"])


def mirror_with_header_actions():
    """A mirror whose location changes request headers; the request's
    location shows what it sees of them in response headers."""
    return """
        location / { gwf_route pass=@m; }
        location @m {
            mirror /_gwf/mirror/m;
            add_header X-Seen-Auth "$http_authorization" always;
            add_header X-Seen-Mirror "$http_x_mirror" always;
            proxy_set_header X-Route m;
            proxy_pass http://{UP};
        }
        location = /_gwf/mirror/m {
            internal;
            gwf_request_header remove Authorization;
            gwf_request_header add X-Mirror 1;
            gwf_request_header set X-Set mirror;
            proxy_set_header X-Route mirror;
            proxy_pass http://{UP}$request_uri;
        }
"""


def request_header_actions_in_a_mirror_location_reach_the_mirror():
    """A subrequest starts sharing its parent's header list: the lines a
    mirror location adds or sets must reach the mirror's upstream (they
    went into the parent's list and were lost)."""
    with Upstream() as up, Nginx(mirror_with_header_actions(),
                                 upstream=up) as ngx:
        resp = request(ngx.port, "GET", "/x", headers={
            "Authorization": "secret", "X-Set": "orig"})
        check(resp.status == 200, "expected 200, got %r" % resp)
        check(wait_for(lambda: mirrored(up) == 1, 3.0), "no mirror request")
        rec = [r for r in up.requests
               if echo_header(r, "X-Route") == "mirror"][0]
        hdrs = [(k.lower(), v) for k, v in rec["headers"]]
        check(("x-mirror", "1") in hdrs and ("x-set", "mirror") in hdrs and
              "authorization" not in [k for k, _ in hdrs] and
              ("x-set", "orig") not in hdrs,
              "the mirror got %r" % rec["headers"])


def request_header_actions_in_a_mirror_location_leave_the_request_alone():
    """The mirror's header actions change neither what the request's
    upstream got nor what the request itself sees afterwards ($http_*
    in its response headers)."""
    with Upstream() as up, Nginx(mirror_with_header_actions(),
                                 upstream=up) as ngx:
        resp = request(ngx.port, "GET", "/slow?ms=200", headers={
            "Authorization": "secret", "X-Set": "orig"})
        check(resp.status == 200, "expected 200, got %r" % resp)
        check(resp.header("X-Seen-Auth") == "secret" and
              resp.header("X-Seen-Mirror") is None,
              "the request sees Authorization %r, X-Mirror %r"
              % (resp.header("X-Seen-Auth"), resp.header("X-Seen-Mirror")))
        rec = resp.json()
        check(echo_header(rec, "Authorization") == "secret" and
              echo_header(rec, "X-Set") == "orig" and
              echo_header(rec, "X-Mirror") is None,
              "the request's upstream got %r" % rec["headers"])


def sample_0_never_mirrors_and_100_always_does():
    for percent, want in (("0", 0), ("100", 5)):
        with Upstream() as up, Nginx(mirror_server(percent),
                                     upstream=up) as ngx:
            for _ in range(5):
                route_of(request(ngx.port, "GET", "/s"))
            time.sleep(0.3)
            got = mirrored(up)
            check(got == want, "gwf_sample %s: expected %d mirrored, got %d"
                  % (percent, want, got))


def sample_with_decimals_mirrors_that_share():
    """The decimals count: 0.5 % of 400 is 2 (at most 9 has odds of
    ~1e-4 of failing), 99.5 % of 400 is 398 (at least 385)."""
    for percent, low, high in (("0.5", 0, 9), ("99.5", 385, 400)):
        with Upstream() as up, Nginx(mirror_server(percent),
                                     upstream=up) as ngx:
            for _ in range(400):
                route_of(request(ngx.port, "GET", "/s"))
            time.sleep(0.3)
            got = mirrored(up)
            check(low <= got <= high, "gwf_sample %s: expected %d..%d of "
                  "400 mirrored, got %d" % (percent, low, high, got))


# ---------------------------------------------------------------------------
# Configuration errors and hostile input
# ---------------------------------------------------------------------------

def bad_regex_fails_nginx_t_naming_the_directive():
    for line in ('regex=/a( pass=@a', '"header~x:[z-a]" pass=@a',
                 '"query~q:(" pass=@a'):
        ngx = Nginx(server([line]))
        try:
            res = ngx.test_config()
            out = res.stderr + res.stdout
            check(res.returncode != 0, "nginx -t passed with %s" % line)
            check("gwf_route" in out and "bad regex" in out and
                  "nginx.conf:" in out,
                  "nginx -t output does not name gwf_route and the line: %s"
                  % out)
        finally:
            ngx.discard()


def bad_arguments_fail_nginx_t():
    for line in ("exact=/a prefix=/b pass=@a", "pass=@a status=200",
                 "exact=/a", "bogus=1 pass=@a", "pass=@a:2000001",
                 "exact=a pass=@a"):
        ngx = Nginx(server([line]))
        try:
            res = ngx.test_config()
            check(res.returncode != 0, "nginx -t passed with %s" % line)
            check("gwf_route" in res.stderr, "no gwf_route in %s"
                  % res.stderr)
        finally:
            ngx.discard()


def ten_thousand_routes_load_and_match_fast():
    routes = []
    for i in range(10000):
        kind = i % 3
        if kind == 0:
            routes.append("exact=/e/%d pass=@a" % i)
        elif kind == 1:
            routes.append("prefix=/p/%d header=x-k:%d pass=@b" % (i, i))
        else:
            routes.append('regex=/r/%d/[a-z]+ pass=@c' % i)
    routes.append("prefix=/ pass=@d")
    with Upstream() as up:
        ngx = Nginx(server(routes), upstream=up)
        start = time.monotonic()
        with ngx:
            loaded = time.monotonic() - start
            check(loaded < 5.0, "10,000 routes took %.1fs to load" % loaded)
            expect_route(ngx.port, "/e/9999", "a")
            expect_route(ngx.port, "/p/9997/x/y", "b",
                         headers={"X-K": "9997"})
            expect_route(ngx.port, "/p/9997/x/y", "d")
            start = time.monotonic()
            for _ in range(20):
                expect_route(ngx.port, "/e/3", "a")
            per = (time.monotonic() - start) / 20
            check(per < 0.05, "a match took %.3fs" % per)


def hostile_input_does_not_kill_a_worker():
    routes = ['"header~x-h:(a|b)*c" pass=@a', '"query~q:[^&]*z" pass=@b',
              "prefix=/a/a/a pass=@c"] + \
        ["prefix=/%s pass=@d" % "/".join(["a"] * k) for k in range(1, 60)] + \
        ["pass=@a"]
    text = server(routes) + """
        location @x {
            gwf_redirect;
        }
"""
    http_extra = "large_client_header_buffers 8 64k;"
    with Upstream() as up, Nginx(text, upstream=up,
                                 http_extra=http_extra) as ngx:
        long_path = "/" + "/".join(["a"] * 20000)
        slashes = "/" * 30000
        for path in (long_path, slashes, "/%ff%00%0d" * 2000,
                     "/?" + "q=" + "a" * 60000):
            resp = request(ngx.port, "GET", path)
            check(resp.status in (200, 400, 404, 414),
                  "%s...: got %r" % (path[:40], resp))
        resp = request(ngx.port, "GET", "/", headers={"X-H": "ab" * 30000})
        check(resp.status in (200, 400, 431), "huge header: %r" % resp)
        answer = raw_headers(ngx.port, "/", [("X-H", "a")] * 2000)
        check(answer.startswith(b"HTTP/1.1"), "many headers: %r"
              % answer[:100])
        raw_request(ngx.port, b"GET /" + bytes(range(1, 256)) +
                    b" HTTP/1.1\r\nHost: x\r\n\r\n")
        expect_route(ngx.port, "/ok", "a")
    # Nginx.__exit__ fails the case on "exited on signal" or a sanitizer
    # report in the logs.


def hostile_redirect_and_rewrite_inputs():
    text = """
        location / {
            gwf_route prefix=/r pass=@r;
            gwf_route pass=@w;
        }
        location @r { gwf_redirect path=prefix:/r:/x/; }
""" + backend("w", "gwf_rewrite host=h path=prefix:/:/deep/;")
    http_extra = "large_client_header_buffers 8 64k;"
    with Upstream() as up, Nginx(text, upstream=up,
                                 http_extra=http_extra) as ngx:
        for path in ("/r/" + "%20" * 10000, "/r" + "/%ff" * 5000 + "?" +
                     "%0a" * 5000):
            resp = request(ngx.port, "GET", path)
            check(resp.status == 302, "%s...: %r" % (path[:20], resp))
            loc = resp.header("Location")
            check(loc and "\r" not in loc and "\n" not in loc and
                  loc.startswith("http://"), "Location: %r" % loc[:80])
        resp = request(ngx.port, "GET", "/" + "%25" * 10000)
        check(resp.status == 200, "rewrite: %r" % resp)
        check(resp.json()["path"].startswith("/deep/%25%25"),
              "rewritten path %r" % resp.json()["path"][:40])


def ten_thousand_header_lines_are_joined_and_matched():
    """10,000 lines of one header join into one value with ',' that a
    condition matches whole; 40 conditions on names absent from 10,000 others
    are each looked up without a noticeable cost. The backends drop
    X-H (the echo upstream takes 100 headers at most)."""
    # (A configuration word is at most 4 KB: the 29,999-byte value is
    # told by its length and form; 9,999 lines fail it, match the next.)
    routes = ['"header~x-h:(?=[v0-9,]{29999}$)(v[0-9],)*v9" pass=@a',
              '"header~x-h:(v[0-9],)*v[0-9]" pass=@b'] + \
        ["exact=/n header=x-absent-%d:1 status=500" % i for i in range(40)] + \
        ["exact=/n status=204", "pass=@c"]
    text = server(routes, backends=()) + "".join(
        backend(b, "gwf_request_header remove X-H;") for b in "abc")
    http_extra = "large_client_header_buffers 16 256k; max_headers 20000;"
    with Upstream() as up, Nginx(text, upstream=up,
                                 http_extra=http_extra) as ngx:
        lines = [("X-H", "v%d" % (i % 10)) for i in range(10000)]
        got = raw_route(raw_headers(ngx.port, "/", lines))
        check(got == "a", "10,000 lines: expected route a, got %s" % got)
        got = raw_route(raw_headers(ngx.port, "/", lines[:-1]))
        check(got == "b", "9,999 lines: expected route b, got %s" % got)
        start = time.monotonic()
        answer = raw_headers(ngx.port, "/n", [("X-N%d" % i, "x")
                                             for i in range(10000)])
        elapsed = time.monotonic() - start
        check(answer.startswith(b"HTTP/1.1 204"),
              "10,000 names, 40 absent: expected 204, got %r" % answer[:60])
        check(elapsed < 2.0, "10,000 names took %.2fs" % elapsed)


def worker_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise TestFailure("no VmRSS for %d" % pid)


def long_uri_costs_the_table_no_memory_beyond_its_longest_prefix():
    """A uri of 100,000 segments held in nginx (its upstream never
    answers): matching it against a table of short prefixes costs memory
    bounded by the table, not 16 bytes per '/' of the uri. 60 such
    requests in flight grew the worker by ~100 MB before; now by about
    what nginx itself keeps of them (their buffers)."""
    mute = socket.socket()  # accepts into its backlog, never answers
    mute.bind(("127.0.0.1", 0))
    mute.listen(128)
    text = server(["prefix=/a pass=@s", "pass=@s"], backends=()) + """
        location @s { proxy_pass http://127.0.0.1:%d; }
""" % mute.getsockname()[1]
    http_extra = "large_client_header_buffers 4 256k;"
    uri = "/a" * 100000
    conns = []
    try:
        with Nginx(text, http_extra=http_extra) as ngx:
            worker = ngx.worker_pids()[0]
            before = worker_rss_kb(worker)
            for _ in range(60):
                c = socket.create_connection(("127.0.0.1", ngx.port),
                                             timeout=10)
                c.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                           % uri).encode())
                conns.append(c)
            # Each request reached the mute upstream: nginx holds them all.
            check(wait_for(lambda: len(ngx.access()) == 0 and
                           worker_rss_kb(worker) - before > 10000, 5.0),
                  "the requests did not reach nginx")
            time.sleep(0.5)
            grown = worker_rss_kb(worker) - before
            check(grown < 60000, "60 requests in flight grew the worker by "
                  "%d KB" % grown)
            for c in conns:
                c.close()
            conns = []
    finally:
        for c in conns:
            c.close()
        mute.close()


def reload_under_load_keeps_routing_and_timeouts_exact():
    """nginx -s reload five times while six clients send requests through
    the table, some ended by gwf_request_timeout: every request gets its
    exact answer (200, or 504 for the slow ones), none fails, no worker
    dies, and old workers exit."""
    text = """
        location / {
            gwf_route prefix=/t pass=@t;
            gwf_route pass=@a;
        }
""" + backend("t", "gwf_request_timeout 200ms;") + \
        backend("a", "gwf_response_header set X-A 1;")
    want = {"/t/slow?ms=500": 504, "/a": 200, "/t/fast": 200,
            "/t/slow?ms=50": 200}
    with Upstream() as up, Nginx(text, upstream=up, workers=2) as ngx:
        stop = threading.Event()
        wrong = []
        count = [0]

        def load():
            while not stop.is_set():
                for path, status in want.items():
                    try:
                        got = request(ngx.port, "GET", path).status
                    except TestFailure as e:
                        got = str(e)
                    count[0] += 1
                    if got != status:
                        wrong.append((path, got))
        threads = [threading.Thread(target=load) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            for _ in range(5):
                time.sleep(0.4)
                old = ngx.worker_pids()
                res = ngx.reload()
                check(res.returncode == 0, "reload: %s" % res.stderr)
                ngx.wait_reloaded(old)
        finally:
            stop.set()
            for t in threads:
                t.join(20)
        check(not wrong, "wrong answers: %r" % wrong[:10])
        check(count[0] > 50, "only %d requests under load" % count[0])


CASES = {f.__name__: f for f in [
    exact_path_matches_only_that_path,
    prefix_matches_whole_segments_only,
    prefix_with_trailing_slash_matches_the_same_set,
    prefix_root_and_no_path_match_every_path,
    prefix_on_the_decoded_normalised_uri,
    encoded_and_dotted_paths_route_by_the_normalised_path,
    regex_path_must_match_the_whole_uri,
    regex_alternation_is_anchored_as_a_whole,
    method_must_equal_exactly,
    header_exact_value_with_case_insensitive_name,
    header_repeated_lines_are_joined_with_commas,
    header_regex_must_match_the_whole_value,
    every_header_condition_must_hold,
    query_exact_value_is_percent_decoded,
    query_uses_the_first_occurrence_only,
    query_regex_must_match_the_whole_decoded_value,
    first_matching_line_wins_over_a_longer_prefix,
    later_line_wins_when_earlier_conditions_fail,
    no_matching_line_gives_404,
    status_line_answers_that_status,
    weights_split_traffic_in_proportion,
    all_zero_weights_give_500,
    pass_500_share_answers_500_in_proportion,
    named_location_runs_its_gwf_policy_chain,
    internal_redirect_into_the_table_location_is_routed_again,
    request_header_set_add_remove,
    request_header_set_host_changes_what_the_upstream_gets,
    response_header_set_add_remove,
    response_headers_apply_to_nginx_error_pages,
    rewrite_prefix_as_in_the_gateway_api_conformance_test,
    rewrite_prefix_edge_cases,
    rewrite_keeps_the_query_and_escapes_the_path,
    rewrite_host_replaces_the_host_header,
    redirect_defaults_to_302_keeping_scheme_host_port_path_query,
    redirect_status_and_scheme_drop_the_request_port,
    redirect_port_is_omitted_when_default_for_the_scheme,
    redirect_host_and_paths,
    redirect_location_escapes_hostile_path_and_query,
    redirect_after_a_host_change_has_one_port_and_a_lowercase_host,
    host_variable_after_a_host_change_is_the_host_without_its_port,
    redirect_of_an_absolute_form_request_takes_host_and_port_from_it,
    request_timeout_gives_504_at_about_the_timeout,
    request_timeout_does_not_retry_another_upstream,
    request_timeout_waits_for_a_slow_upload_then_gives_504,
    request_timeout_during_the_upstream_tls_handshake_gives_504,
    request_timeout_during_a_limit_req_delay_gives_504_at_the_timeout,
    client_aborts_while_waiting_on_the_request_timeout,
    slow_upstream_with_request_timeout_and_a_mirror,
    request_header_actions_in_a_mirror_location_reach_the_mirror,
    request_header_actions_in_a_mirror_location_leave_the_request_alone,
    sample_0_never_mirrors_and_100_always_does,
    sample_with_decimals_mirrors_that_share,
    bad_regex_fails_nginx_t_naming_the_directive,
    bad_arguments_fail_nginx_t,
    ten_thousand_routes_load_and_match_fast,
    hostile_input_does_not_kill_a_worker,
    hostile_redirect_and_rewrite_inputs,
    ten_thousand_header_lines_are_joined_and_matched,
    long_uri_costs_the_table_no_memory_beyond_its_longest_prefix,
    reload_under_load_keeps_routing_and_timeouts_exact,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
