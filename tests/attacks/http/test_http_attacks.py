#!/usr/bin/python3
"""test_http_attacks.py - hostile HTTP framing, client aborts, reloads and
manifests thrown at nginx with gwf chains that read the request body.

    /usr/bin/python3 test_http_attacks.py CASE      (exit 0 pass, 1 fail)

A gwf chain that wants the body (the probe plugin buffering it, streaming
it, or rewriting it) must never change how the request is framed: every
smuggling case is sent to three such chains and to a location without gwf,
and must get exactly the answer nginx 1.22 gives on its own, with exactly
the requests nginx would pass reaching the upstream (bodies byte for byte,
no second request carved out of a body). Through tests/nginx/harness.py
every case also fails if a worker died or a sanitizer spoke.
"""

import os
import re
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from attacks_lib import (  # noqa: E402
    API, Background, Nginx, Upstream, assert_no_leaks,
    assert_probe_streams_freed, check, direct_response, echo_header,
    expect_status, get_metrics, metric, parse_responses, probe, proxied,
    raw_exchange, request, run_case, server, tail, wait_for, wait_paused)

HOST = b"Host: localhost\r\n"

# Chains that touch the body, each with its own probe tag: buffered
# (stop-and-buffer, the body hook sees it whole), streamed (the body hook
# sees each chunk) and rewritten (the body grows, Content-Length changes).
BODY_CHAINS = {
    "/buf": probe("buf", {"tag": "BUF", "log_body": True,
                          "actions": {"request_headers": "buffer"}}),
    "/stream": probe("stream", {"tag": "STR", "log_body": True}),
    "/append": probe("append", {"tag": "APP",
                                "append_request_body": "+tail",
                                "body_will_change": ["request"]}),
}
SUFFIX = {"/buf": "", "/stream": "", "/append": "+tail"}


def body_chain_nginx(up, **kwargs):
    locations = [proxied(path, "gwf_extension default/" + doc["metadata"]
                         ["name"]) for path, doc in BODY_CHAINS.items()]
    locations.append("location /plain { proxy_pass http://{UP}; }")
    return Nginx(server(*locations),
                 {"chains.yaml": list(BODY_CHAINS.values())}, up, **kwargs)


def exchange(ngx, up, path, raw):
    """Send `raw` (with PATH in it) for `path`; returns the responses and
    the upstream records it caused."""
    before = up.hits
    data = raw_exchange(ngx.port, raw.replace(b"PATH", path.encode()),
                        timeout=3, shut_write=False)
    # The upstream records a request before it answers: settled by now.
    return parse_responses(data), up.requests[before:]


def expect_refused_everywhere(ngx, up, what, raw, status):
    """nginx answers `status` alone and closes, on every location; the
    upstream gets nothing."""
    for path in ["/plain"] + list(BODY_CHAINS):
        resps, got = exchange(ngx, up, path, raw)
        check([r.status for r in resps] == [status],
              "%s on %s: responses %r, expected exactly one %d"
              % (what, path, resps, status))
        check(got == [], "%s on %s: the upstream received %r"
              % (what, path, [(g["path"], g["body"]) for g in got]))


def case_smuggling_content_length_and_transfer_encoding_together_is_400():
    """RFC 9112 6.1: a request with both is a smuggling attempt; nginx 1.22
    refuses it (400) before any gwf hook runs."""
    with Upstream() as up, body_chain_nginx(up) as ngx:
        for what, cl in (("CL shorter than the chunks", b"4"),
                         ("CL equal to the chunked length", b"15"),
                         ("CL 0", b"0")):
            expect_refused_everywhere(
                ngx, up, what,
                b"POST PATH HTTP/1.1\r\n" + HOST + b"Content-Length: " + cl +
                b"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                b"0\r\n\r\nGET /plain?smuggled HTTP/1.1\r\n" + HOST +
                b"\r\n", 400)
            expect_refused_everywhere(
                ngx, up, what + " (TE first)",
                b"POST PATH HTTP/1.1\r\n" + HOST +
                b"Transfer-Encoding: chunked\r\nContent-Length: " + cl +
                b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400)
        assert_no_chain_ran(ngx)


def case_smuggling_duplicate_content_length_is_400():
    with Upstream() as up, body_chain_nginx(up) as ngx:
        for what, lengths, body in (
                ("equal", (b"5", b"5"), b"hello"),
                ("different", (b"5", b"11"), b"hello world"),
                ("list in one header", (b"5, 5",), b"hello")):
            head = b"".join(b"Content-Length: " + n + b"\r\n"
                            for n in lengths)
            expect_refused_everywhere(
                ngx, up, "duplicate Content-Length, " + what,
                b"POST PATH HTTP/1.1\r\n" + HOST + head + b"\r\n" + body, 400)
        assert_no_chain_ran(ngx)


def case_smuggling_obs_fold_is_400():
    """Obsolete line folding (RFC 9112 5.2): refused, never joined."""
    with Upstream() as up, body_chain_nginx(up) as ngx:
        expect_refused_everywhere(
            ngx, up, "a folded X-A",
            b"POST PATH HTTP/1.1\r\n" + HOST + b"X-A: a\r\n  folded\r\n"
            b"Content-Length: 5\r\n\r\nhello", 400)
        expect_refused_everywhere(
            ngx, up, "a folded Content-Length",
            b"POST PATH HTTP/1.1\r\n" + HOST + b"Content-Length: 5\r\n"
            b"\t6\r\n\r\nhello!", 400)
        expect_refused_everywhere(
            ngx, up, "a folded Transfer-Encoding",
            b"POST PATH HTTP/1.1\r\n" + HOST + b"Transfer-Encoding:\r\n"
            b" chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400)
        assert_no_chain_ran(ngx)


def case_smuggling_odd_transfer_encodings_are_refused():
    with Upstream() as up, body_chain_nginx(up) as ngx:
        chunked_body = b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        for what, head, status in (
                ("chunked, chunked", b"Transfer-Encoding: chunked, chunked",
                 501),
                ("gzip", b"Transfer-Encoding: gzip", 501),
                ("gzip, chunked", b"Transfer-Encoding: gzip, chunked", 501),
                ("two Transfer-Encoding lines",
                 b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
                 400),
                ("a space before the colon", b"Transfer-Encoding : chunked",
                 400)):
            expect_refused_everywhere(
                ngx, up, "Transfer-Encoding " + what,
                b"POST PATH HTTP/1.1\r\n" + HOST + head + chunked_body,
                status)
        expect_refused_everywhere(
            ngx, up, "Transfer-Encoding in HTTP/1.0",
            b"POST PATH HTTP/1.0\r\n" + HOST + b"Transfer-Encoding: chunked"
            + chunked_body, 400)
        assert_no_chain_ran(ngx)


def case_smuggling_bad_chunk_sizes_are_400():
    """nginx finds these while a chain waits for (or streams) the body:
    the client gets 400, the upstream nothing, the stream is freed."""
    with Upstream() as up, body_chain_nginx(up) as ngx:
        for size in (b"zz", b"-1", b"ffffffffffffffffff", b"0x5", b"3",
                     b" 5", b"+5", b""):
            expect_refused_everywhere(
                ngx, up, "chunk size %r" % size,
                b"POST PATH HTTP/1.1\r\n" + HOST +
                b"Transfer-Encoding: chunked\r\n\r\n" + size +
                b"\r\nhello\r\n0\r\n\r\n", 400)
        expect_refused_everywhere(
            ngx, up, "a chunk without its CRLF",
            b"POST PATH HTTP/1.1\r\n" + HOST +
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX0\r\n\r\n", 400)
        assert_no_leaks(ngx)
        for tag in ("BUF", "STR", "APP"):
            assert_probe_streams_freed(ngx, [tag])


def case_smuggling_pipelined_request_behind_a_body_stays_separate():
    """A request pipelined behind a body (Content-Length or chunked) is a
    second request of its own, which nginx passes as such, through the
    chain; a request written inside a body stays body bytes."""
    with Upstream() as up, body_chain_nginx(up) as ngx:
        second = (b"GET /PATH2?second HTTP/1.1\r\n" + HOST +
                  b"Connection: close\r\n\r\n")
        for what, first in (
                ("Content-Length", b"Content-Length: 5\r\n\r\nhello"),
                ("chunked", b"Transfer-Encoding: chunked\r\n\r\n"
                            b"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n")):
            for path in ["/plain"] + list(BODY_CHAINS):
                raw = (b"POST PATH HTTP/1.1\r\n" + HOST + first +
                       second.replace(b"/PATH2", path.encode()))
                resps, got = exchange(ngx, up, path, raw)
                where = "%s body on %s" % (what, path)
                check([r.status for r in resps] == [200, 200],
                      "%s: responses %r" % (where, resps))
                check([(g["method"], g["path"], g["body"]) for g in got] ==
                      [("POST", path, "hello" + SUFFIX.get(path, "")),
                       ("GET", path + "?second", "")],
                      "%s: the upstream received %r" % (where, [
                          (g["method"], g["path"], g["body"]) for g in got]))
                check(echo_header(got[0], "content-length") ==
                      str(len(got[0]["body"])),
                      "%s: upstream content-length %r for %r" % (
                          where, echo_header(got[0], "content-length"),
                          got[0]["body"]))
        inner = b"GET /plain?evil HTTP/1.1\r\nHost: localhost\r\n\r\n"
        for path in ["/plain"] + list(BODY_CHAINS):
            raw = (b"POST PATH HTTP/1.1\r\n" + HOST +
                   b"Connection: close\r\nContent-Length: %d\r\n\r\n"
                   % len(inner) + inner)
            resps, got = exchange(ngx, up, path, raw)
            check([r.status for r in resps] == [200],
                  "a request inside a body on %s: %r" % (path, resps))
            check([(g["path"], g["body"].encode("latin-1")) for g in got] ==
                  [(path, inner + SUFFIX.get(path, "").encode())],
                  "a request inside a body on %s: the upstream received %r"
                  % (path, [(g["path"], g["body"]) for g in got]))
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# Client aborts
# ---------------------------------------------------------------------------

def assert_no_chain_ran(ngx):
    """Refused while reading the request head: no gwf stream was even
    created (so there is nothing a hook could have let through)."""
    for tag in ("BUF", "STR", "APP"):
        check("probe %s stream_create" % tag not in ngx.log(),
              "the %s chain ran for a request nginx refused" % tag)


def _connect_all(port, raw, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), 5)
        s.sendall(raw)
        socks.append(s)
    return socks


def _streams(ngx, instance):
    return metric(get_metrics(ngx), "gwf_streams_active", instance=instance)


def case_many_clients_abort_while_paused():
    """50 clients paused on a probe timer, 20 with half a body sent to a
    chain that buffers it: all go away at once. Every stream is freed
    before its timer would fire, no timer fires for a freed stream, and
    normal requests work afterwards."""
    manifests = {"p.yaml": [
        probe("pause", {"tag": "PZ",
                        "actions": {"request_headers": "pause_timer:2s"}}),
        probe("buf", {"tag": "BF", "actions": {"request_headers": "buffer"}}),
    ]}
    with Upstream() as up, Nginx(server(
            proxied("/pause", "gwf_extension default/pause"),
            proxied("/buf", "gwf_extension default/buf")),
            manifests, up) as ngx:
        paused = _connect_all(ngx.port, b"GET /pause HTTP/1.1\r\n" + HOST +
                              b"\r\n", 50)
        half = _connect_all(ngx.port, b"POST /buf HTTP/1.1\r\n" + HOST +
                            b"Content-Length: 1000\r\n\r\n" + b"x" * 400, 20)
        check(wait_for(lambda: _streams(ngx, "/pause") == 50 and
                       _streams(ngx, "/buf") == 20, 5, 0.1),
              "paused streams: /pause %r, /buf %r (expected 50, 20)"
              % (_streams(ngx, "/pause"), _streams(ngx, "/buf")))
        t_closed = time.monotonic()
        for s in paused + half:
            s.close()
        check(wait_for(lambda: _streams(ngx, "/pause") == 0 and
                       _streams(ngx, "/buf") == 0, 1.5, 0.1),
              "streams left 1.5 s after the aborts: /pause %r, /buf %r"
              % (_streams(ngx, "/pause"), _streams(ngx, "/buf")))
        left = 2.3 - (time.monotonic() - t_closed)
        if left > 0:
            time.sleep(left)
        check("probe PZ timer_fired" not in ngx.log(),
              "a timer of an aborted stream fired")
        check(up.hits == 0, "the upstream got %d aborted requests" % up.hits)
        r = request(ngx.port, "POST", "/buf", body=b"after")
        expect_status(r, 200, "/buf after the aborts")
        check(r.json()["body"] == "after", "upstream body %r" % r.body)
        check(up.hits == 1, "upstream hits %d" % up.hits)
        assert_no_leaks(ngx)
        assert_probe_streams_freed(ngx, ["PZ", "BF"])


# ---------------------------------------------------------------------------
# Reloads
# ---------------------------------------------------------------------------

def _versioned(version, pause="1500ms"):
    return [direct_response("hello", 200, "%s body\n" % version),
            probe("slow", {"tag": "V" + version,
                           "actions": {"request_headers":
                                       "pause_timer:" + pause},
                           "set_request_header": {"x-config": version}})]


def case_reload_under_load_with_paused_requests():
    """50 requests paused (probe timer, 1.5 s) when nginx reloads with new
    manifests: each gets 200 from the old config, new requests get the
    new one, the old worker exits cleanly once they are done."""
    with Upstream() as up, Nginx(server(
            proxied("/dr", "gwf_direct_response default/hello"),
            proxied("/slow", "gwf_extension default/slow")),
            {"m.yaml": _versioned("old")}, up) as ngx:
        old_workers = ngx.worker_pids()
        inflight = [Background(ngx.port, "GET", "/slow") for _ in range(50)]
        wait_paused(ngx, "Vold", count=50)
        ngx.write_manifest("m.yaml", _versioned("new", "10ms"))
        res = ngx.reload()
        check(res.returncode == 0, "nginx -s reload failed: " + res.stderr)
        check(wait_for(lambda: request(ngx.port, "GET", "/dr").body ==
                       b"new body\n", 5, 0.1),
              "the new manifests are not served 5 s after the reload")
        for i, bg in enumerate(inflight):
            r = bg.result()
            expect_status(r, 200, "in-flight request %d" % i)
            check(echo_header(r.json(), "x-config") == "old",
                  "in-flight request %d ran with x-config %r"
                  % (i, echo_header(r.json(), "x-config")))
        r = request(ngx.port, "GET", "/slow")
        expect_status(r, 200, "a request after the reload")
        check(echo_header(r.json(), "x-config") == "new",
              "new request: x-config %r" % echo_header(r.json(), "x-config"))
        check(wait_for(lambda: not set(old_workers) & set(ngx.worker_pids()),
                       10), "the old worker did not exit")
        check(re.search(r"worker process %d exited with code 0"
                        % old_workers[0], ngx.log()),
              "the old worker did not exit with code 0:\n"
              + tail(ngx.log(), 20))
        check(up.hits == 51, "upstream hits %d, expected 51" % up.hits)
        assert_no_leaks(ngx)
        assert_probe_streams_freed(ngx, ["Vold", "Vnew"])


def _alias_bomb():
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", '
             '"lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append("a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)]
                                                          * 10)))
    return ("apiVersion: %s\nkind: DirectResponse\nmetadata: {name: bomb, "
            "namespace: default}\nspec:\n  status: 200\n  body: x\n"
            "bombs:\n" % API) + "".join("  " + l + "\n" for l in lines)


def _huge_manifest():
    # 17 MiB of comments around a valid document: over the 16 MiB bound.
    return ("# " + "x" * 1021 + "\n") * (17 * 1024) + \
        "apiVersion: %s\nkind: DirectResponse\nmetadata: {name: big}\n" \
        "spec: {status: 200}\n" % API


BAD_MANIFESTS = {
    "syntax_error": ("apiVersion: %s\nkind: DirectResponse\nmetadata: "
                     "{name: x\nspec: [\n" % API,
                     r":4:5: did not find expected ',' or '}'"),
    "unknown_api_version": ("apiVersion: gateway.kgateway.dev/v9\nkind: "
                            "DirectResponse\nmetadata: {name: x, namespace: "
                            "default}\nspec: {status: 200}\n",
                            r':1: DirectResponse default/x: apiVersion: '
                            r'unsupported apiVersion'),
    "unresolved_reference": (
        "apiVersion: %s\nkind: TrafficPolicy\nmetadata: {name: tp, "
        "namespace: default}\nspec:\n  jwtAuth:\n    extensionRef: "
        "{name: nowhere}\n" % API,
        r":6: TrafficPolicy default/tp: spec\.jwtAuth\.extensionRef\.name: "
        r"GatewayExtension default/nowhere not found"),
    "plugin_rejects_config": (
        "apiVersion: %s\nkind: GatewayExtension\nmetadata: {name: jwt, "
        "namespace: default}\nspec:\n  jwt:\n    providers:\n    - jwks:\n"
        "        local: {inline: '{\"keys\": []}'}\n" % API,
        r":8: GatewayExtension default/jwt: spec\.jwt\.providers\[0\]\."
        r"jwks\.local\.inline: expected a JWKS with a usable signature key"),
    "huge": (None, r": file is larger than the limit of 16777216 bytes"),
    "deeply_nested": ("apiVersion: %s\nkind: DirectResponse\nmetadata: "
                      "{name: deep}\nspec: " % API + "[" * 10000 + "\n",
                      r":4:\d+: nesting is deeper than the limit of 64 "
                      r"levels"),
    "alias_bomb": (None, r":\d+:\d+: more than 1000000 nodes in one file "
                   r"\(aliases count"),
}


def _bad_manifest_on_reload(kind):
    text, pattern = BAD_MANIFESTS[kind]
    if kind == "huge":
        text = _huge_manifest()
    elif kind == "alias_bomb":
        text = _alias_bomb()
    ngx = Nginx(server(proxied("/dr", "gwf_direct_response default/hello")),
                {"m.yaml": direct_response("hello", 200, "old body\n")},
                Upstream(), allowed_errors=[r"bad\.yaml"])
    ngx.upstream.start()
    try:
        with ngx:
            workers = ngx.worker_pids()
            ngx.write_manifest("m.yaml",
                               direct_response("hello", 200, "new body\n"))
            bad = ngx.write_manifest("bad.yaml", text)
            res = ngx.command("-t")
            out = res.stdout + res.stderr
            check(res.returncode != 0, "nginx -t accepted the %s manifest:\n"
                  "%s" % (kind, out[-2000:]))
            check(re.search(r"\[emerg\] gwf: " + re.escape(bad) + pattern,
                            out),
                  "nginx -t does not say /%s%s/:\n%s"
                  % (bad, pattern, out[-2000:]))
            res = ngx.reload()
            check(res.returncode != 0, "nginx -s reload accepted it")
            # The master's own reload (SIGHUP) fails and keeps the old one.
            os.kill(ngx.master_pid(), signal.SIGHUP)
            ngx.wait_log(r"\[emerg\] \d+#\d+: gwf: %s" % re.escape(bad))
            time.sleep(0.3)
            check(ngx.worker_pids() == workers,
                  "the workers changed (%r -> %r) on a failed reload"
                  % (workers, ngx.worker_pids()))
            for _ in range(3):
                r = request(ngx.port, "GET", "/dr")
                expect_status(r, 200, "/dr after the failed reload")
                check(r.body == b"old body\n",
                      "after a failed reload /dr answers %r" % r.body)
            ngx.remove_manifest("bad.yaml")
    finally:
        ngx.upstream.stop()


CASES = {name[len("case_"):]: fn for name, fn in globals().items()
         if name.startswith("case_")}
for _kind in BAD_MANIFESTS:
    CASES["bad_manifest_on_reload_keeps_serving_" + _kind] = \
        (lambda k: lambda: _bad_manifest_on_reload(k))(_kind)

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
