#!/usr/bin/python3
"""test_attack_lambda_signer.py - hostile Lambda endpoints behind
lambda_signer, in the real nginx.

    /usr/bin/python3 test_attack_lambda_signer.py CASE  (exit 0 pass, 1 fail)

A Backend with spec.aws whose endpointURL is this test's own server, a
RawPeer (raw_peer.py in tests/attacks/ext_authz) speaking plain HTTP, and
a location `gwf_backend fn; proxy_pass http://127.0.0.1:PORT;` with a
short proxy_read_timeout. The peer reads the signed Invoke request, then
misbehaves: hangs, closes halfway, drips, floods, answers bytes that are
not HTTP. Each case asserts the exact status the client gets (nginx's
504/502 for a peer that times out or breaks the connection, the
plugin's 502 for an answer that is not a Lambda reply, the host's 500
for a body over gwf_max_body), that no byte of the broken answer reaches
the client, that the Invoke request did reach the peer, and that the
worker then serves a proper answer (the harness also fails the case on a
dead worker or a sanitizer report). Malformed but complete Lambda JSON
answers are tested in tests/plugins/lambda_signer.
"""

import json
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ext_authz"))
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(HERE, "..", "..", "nginx")))

from harness import (  # noqa: E402
    API, Nginx, check, metric, parse_metrics, request, run_case, wait_for)
from raw_peer import RawPeer, peak_rss_kib  # noqa: E402

READ_TIMEOUT_S = 0.5
# An upstream that does not answer within proxy_read_timeout: nginx's
# 504, which the client must get as such (Envoy also answers 504 to an
# upstream timeout); it is not "AWS answered 504".
TIMEOUT_STATUS = 504
MAX_BODY = "64k"           # gwf_max_body: a flood is cut early
FLOOD_GROWTH_KIB = 48 * 1024  # what a flood may cost the worker
LAMBDA_BODY = json.dumps({"status_code": 201,
                          "headers": {"x-fn": "ok"},
                          "body": "from the function"}).encode()
PROPER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
          b"x-amzn-requestid: 1\r\nContent-Length: %d\r\n\r\n"
          % len(LAMBDA_BODY)) + LAMBDA_BODY


def manifests(port, transform="Envoy"):
    return {"fn.yaml": [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aws"},
         "stringData": {"accessKey": "AKIDATTACKTEST0001",
                        "secretKey": "attackTestSecretKey/abcdefghijklmn"}},
        {"apiVersion": API, "kind": "Backend", "metadata": {"name": "fn"},
         "spec": {"aws": {
             "accountId": "123456789012", "region": "eu-west-3",
             "auth": {"type": "Secret", "secretRef": {"name": "aws"}},
             "lambda": {"functionName": "attacked",
                        "payloadTransformMode": transform,
                        "endpointURL": "http://127.0.0.1:%d" % port}}}}]}


def locations(port, read_timeout_s=READ_TIMEOUT_S):
    return ("        location /fn/ { gwf_backend fn; "
            "proxy_pass http://127.0.0.1:%d; proxy_read_timeout %dms; }\n"
            "        location = /metrics { gwf_metrics; }\n"
            % (port, read_timeout_s * 1000))


def lambda_peer(attack):
    """A behaviour: read the Invoke request; attack(conn) until
    peer.recovered, then PROPER."""
    def behaviour(conn, peer):
        while not peer.stopping.is_set():
            if conn.read_http_request() is None:
                return
            if peer.recovered.is_set():
                conn.send(PROPER)
            elif not attack(conn):
                return
    return behaviour


def invoke(ngx):
    return request(ngx.port, "POST", "/fn/orders", body=b'{"n": 1}',
                   headers={"Content-Type": "application/json"}, timeout=6.0)


def expect_outcome(attack, status, transform="Envoy", max_elapsed=3.0,
                   leaked=(b"mallory",), read_timeout_s=READ_TIMEOUT_S,
                   flood=False):
    """The shared script (see the file's top); with flood, also that the
    worker's peak memory grew by less than FLOOD_GROWTH_KIB."""
    with RawPeer(lambda_peer(attack)) as peer, Nginx(
            locations(peer.port, read_timeout_s),
            manifests(peer.port, transform),
            http_extra="    gwf_max_body %s;\n" % MAX_BODY) as ngx:
        worker = ngx.worker_pids()[0]
        peak_before = peak_rss_kib(worker)
        r = invoke(ngx)
        if flood:
            grown = peak_rss_kib(worker) - peak_before
            check(grown < FLOOD_GROWTH_KIB, "the flood grew the worker by "
                  "%d KiB" % grown)
        check(r.status == status, "expected %d, got %d: %r %r"
              % (status, r.status, r.headers, r.body[:200]))
        check(r.elapsed < max_elapsed, "the answer took %.2fs" % r.elapsed)
        for word in leaked:
            check(word not in r.body and
                  all(word.decode() not in v for _, v in r.headers),
                  "the broken answer reached the client: %r %r"
                  % (r.headers, r.body[:200]))
        check(peer.received and peer.received[0].startswith(
            b"POST /2015-03-31/functions/attacked/invocations "),
            "the peer did not get the Invoke call: %r"
            % peer.received[:1])
        peer.recovered.set()
        r = invoke(ngx)
        check(r.status == 201 and r.body == b"from the function" and
              r.header("x-fn") == "ok" or transform == "None" and
              r.status == 200 and r.body == LAMBDA_BODY,
              "after the attack: %d %r %r" % (r.status, r.headers, r.body))
        assert_streams_freed(ngx)


def assert_streams_freed(ngx):
    def settled():
        m = parse_metrics(request(ngx.port, "GET", "/metrics").text)
        return metric(m, "gwf_streams_active") == 0
    check(wait_for(settled, 5.0, 0.1), "gwf_streams_active is not 0")


def then_close(data):
    def attack(conn):
        conn.send(data)
        return False
    return attack


def hang(conn):
    conn.hang()
    return False


# -- Cases -------------------------------------------------------------------

def lambda_hangs_gives_504():
    expect_outcome(hang, TIMEOUT_STATUS)


def lambda_closes_at_once_gives_502():
    expect_outcome(then_close(b""), 502)


def lambda_closes_mid_headers_gives_502():
    expect_outcome(then_close(b"HTTP/1.1 200 OK\r\nx-mallory: 1\r\n"
                              b"Content-Ty"), 502)


def lambda_closes_mid_body_gives_502():
    body = b'{"status_code": 200, "body": "mallory'
    expect_outcome(then_close(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: 500\r\n\r\n" + body), 502)


def lambda_closes_mid_chunked_body_gives_502():
    body = b'{"status_code": 200, "body": "mallory"}'
    expect_outcome(then_close(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(body) + body +
        b"\r\n"), 502)


def lambda_stalls_mid_body_gives_504():
    def attack(conn):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 500\r\n\r\n{\"body\": \"mallory")
        conn.hang()
        return False
    expect_outcome(attack, TIMEOUT_STATUS)


def lambda_drips_slowly_and_the_answer_is_whole():
    """A slow but proper answer, one byte per write, all of it within
    proxy_read_timeout (which bounds the whole header in nginx): the
    plugin assembles the reply from many small reads."""
    def attack(conn):
        conn.drip(PROPER, 0.001)
        return True
    expect_outcome(attack, 201, max_elapsed=5.0, leaked=(),
                   read_timeout_s=4.0)


def lambda_drips_past_the_read_timeout_gives_504():
    def attack(conn):
        conn.drip(b"HTTP/1.1 200 OK\r\nx-mallory: 1\r\n", 0.7)
        return False
    expect_outcome(attack, TIMEOUT_STATUS)


def lambda_floods_an_endless_body_gives_500():
    """Over gwf_max_body: the host's 500 (gwf_body_too_large), memory
    bounded by the limit, not by the peer."""
    def attack(conn):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        conn.flood(b"4000\r\n" + b"m" * 0x4000 + b"\r\n", limit=64 << 20)
        return False
    expect_outcome(attack, 500, flood=True)


def lambda_answers_garbage_instead_of_http_gives_502():
    expect_outcome(then_close(b"mallory says hello\r\n\r\n{}\r\n"), 502)


def lambda_answers_garbage_instead_of_http_gives_502_untransformed():
    """payloadTransformMode None passes the function's answer as it is,
    but bytes that are not HTTP are no answer (nginx would take them
    for HTTP/0.9)."""
    expect_outcome(then_close(b"mallory says hello\r\n\r\n{}\r\n"), 502,
                   transform="None")


CASES = {f.__name__: f for f in [
    lambda_hangs_gives_504,
    lambda_closes_at_once_gives_502,
    lambda_closes_mid_headers_gives_502,
    lambda_closes_mid_body_gives_502,
    lambda_closes_mid_chunked_body_gives_502,
    lambda_stalls_mid_body_gives_504,
    lambda_drips_slowly_and_the_answer_is_whole,
    lambda_drips_past_the_read_timeout_gives_504,
    lambda_floods_an_endless_body_gives_500,
    lambda_answers_garbage_instead_of_http_gives_502,
    lambda_answers_garbage_instead_of_http_gives_502_untransformed,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
