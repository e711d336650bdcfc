#!/usr/bin/python3
"""test_rate_limit_nginx.py - the rate_limit plugin in the real nginx.

    /usr/bin/python3 test_rate_limit_nginx.py CASE   (exit 0 pass, 1 fail)

Reuses tests/nginx/harness.py (GWF_NGINX_TEST_DIR) for nginx and the
upstream echo server, and starts its own redis-server on a free loopback
port (no persistence), always stopped. One behaviour per case:

  global_limit_holds_across_two_workers
  global_limit_is_shared_by_two_nginx_instances
  local_bucket_is_shared_by_two_workers
  redis_killed_fails_closed_then_recovers
  nginx_t_fails_on_a_bad_rate_limit_config
  nginx_t_refuses_a_fifo_descriptors_file_at_once
  localhost_reaches_redis_on_ipv4_loopback_only_and_after_a_restart
  redis_a_thousand_concurrent_requests_are_counted_exactly
  redis_over_tls_limit_holds_across_two_workers
  per_second_redis_holds_limits_of_a_second_across_two_workers
  over_limit_from_the_cache_keeps_the_connection
  over_limit_from_the_memo_keeps_the_connection

and, for the global limit as kgateway deploys it (a rate limit service
over Envoy's RLS v3: rls_server.py, started on free loopback ports):

  rls_counts_exactly_across_two_workers
  rls_draft03_and_service_headers_reach_the_client
  rls_service_down_fails_open_by_default_and_closed_when_asked
  rls_hanging_service_times_out
  rls_client_aborts_while_paused_leave_workers_alive
  rls_a_thousand_concurrent_requests_are_counted_exactly
"""

import atexit
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR", ""))

from harness import (  # noqa: E402
    Nginx, Upstream, check, echo_header, free_port, request, run_case,
    wait_for)

REDIS_SERVER = "/usr/bin/redis-server"
LIMIT = 10


# Every folder a Redis made goes when the test ends, also the folders of
# a server a test killed itself (os.kill) and then replaced.
_redis_dirs = []
atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True)
                         for d in _redis_dirs])


class Redis:
    """redis-server on a free loopback port, no persistence; `args`: more
    of its command line (test_rate_limit_cluster_nginx.py's cluster
    nodes)."""

    def __init__(self, port=None, args=()):
        check(os.path.exists(REDIS_SERVER),
              "%s is not installed (Debian package redis-server)"
              % REDIS_SERVER)
        self.port = port or free_port()
        self.args = list(args)
        self.dir = tempfile.mkdtemp(prefix="gwf-rl-redis-")
        _redis_dirs.append(self.dir)
        self.proc = None

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir]
            + self.args,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        check(wait_for(self.ping, 5.0), "redis-server did not start")
        return self

    def kill(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()


def global_docs(redis_port, limit=LIMIT, fail_open=False, host="127.0.0.1",
                **spec):
    return [
        {"apiVersion": "gateway.kgateway.dev/v1alpha1",
         "kind": "GatewayExtension", "metadata": {"name": "rl"},
         "spec": {"rateLimit": dict({
             "domain": "nginx-test", "failOpen": fail_open,
             "redis": {"address": "%s:%d" % (host, redis_port)},
             "descriptors": [{"key": "generic_key", "value": "all",
                              "rate_limit": {"unit": "hour",
                                             "requests_per_unit": limit}}]},
             **spec)}},
        {"apiVersion": "gateway.kgateway.dev/v1alpha1",
         "kind": "TrafficPolicy", "metadata": {"name": "api"},
         "spec": {"rateLimit": {"global": {
             "extensionRef": {"name": "rl"},
             "descriptors": [{"entries": [{"type": "Generic", "generic": {
                 "key": "generic_key", "value": "all"}}]}]}}}},
    ]


def local_docs(tokens):
    return [{"apiVersion": "gateway.kgateway.dev/v1alpha1",
             "kind": "TrafficPolicy", "metadata": {"name": "api"},
             "spec": {"rateLimit": {"local": {"tokenBucket": {
                 "maxTokens": tokens, "tokensPerFill": 1,
                 "fillInterval": "1h"}}}}}]


SERVER = """
        location /api { gwf_policy default/api; proxy_pass http://{UP}; }
"""


def away_from_hour_edge():
    """The limit is per hour on the real clock: do not straddle an hour."""
    left = 3600 - time.time() % 3600
    if left < 15:
        time.sleep(left + 0.5)


def statuses(port, count):
    return [request(port, "GET", "/api").status for _ in range(count)]


def pids_of(ngx, status):
    """Worker pids that answered GET /api with `status` (access log)."""
    return set(re.findall(r'^(\d+) \S+ "GET /api HTTP/1.1" %d ' % status,
                          ngx.access(), re.M))


def global_limit_holds_across_two_workers():
    away_from_hour_edge()
    with Redis() as redis, Upstream() as up, \
            Nginx(SERVER, {"rl.yaml": global_docs(redis.port)}, up,
                  workers=2, reuseport=True) as ngx:
        got = statuses(ngx.port, 40)
        check(got.count(200) == LIMIT and got.count(429) == 40 - LIMIT,
              "expected %d x 200 then 429s, got %r" % (LIMIT, got))
        check(got[:LIMIT] == [200] * LIMIT, "200s not first: %r" % got)
        pids = pids_of(ngx, 200) | pids_of(ngx, 429)
        check(len(pids) == 2, "requests reached workers %r, expected 2"
              % pids)


def global_limit_is_shared_by_two_nginx_instances():
    away_from_hour_edge()
    with Redis() as redis, Upstream() as up, \
            Nginx(SERVER, {"rl.yaml": global_docs(redis.port)}, up) as a, \
            Nginx(SERVER, {"rl.yaml": global_docs(redis.port)}, up) as b:
        got = []
        for _ in range(LIMIT):
            got.append(request(a.port, "GET", "/api").status)
            got.append(request(b.port, "GET", "/api").status)
        check(got.count(200) == LIMIT,
              "two instances let %d through, expected %d: %r"
              % (got.count(200), LIMIT, got))
        check(up.hits == LIMIT, "upstream saw %d, expected %d"
              % (up.hits, LIMIT))
        r = request(a.port, "GET", "/api")
        check(r.status == 429 and r.header("retry-after"),
              "expected 429 with retry-after, got %d %r"
              % (r.status, r.headers))


def local_bucket_is_shared_by_two_workers():
    tokens = 6
    with Upstream() as up, \
            Nginx(SERVER, {"local.yaml": local_docs(tokens)}, up,
                  workers=2, reuseport=True) as ngx:
        got = statuses(ngx.port, 40)
        check(got.count(200) == tokens,
              "two workers let %d through, expected %d (one bucket): %r"
              % (got.count(200), tokens, got))
        pids = pids_of(ngx, 200) | pids_of(ngx, 429)
        check(len(pids) == 2, "requests reached workers %r, expected 2"
              % pids)


def redis_killed_fails_closed_then_recovers():
    away_from_hour_edge()
    redis = Redis().start()
    try:
        with Upstream() as up, \
                Nginx(SERVER, {"rl.yaml": global_docs(redis.port, 1000)},
                      up) as ngx:
            check(statuses(ngx.port, 3) == [200] * 3, "not 200 with Redis")
            redis.kill()
            got = statuses(ngx.port, 5)
            check(got == [500] * 5, "without Redis: %r, expected 500s" % got)
            redis = Redis(redis.port).start()
            # Reconnects after its backoff (at most 5 s).
            check(wait_for(lambda: request(ngx.port, "GET", "/api").status
                           == 200, 10.0, 0.2),
                  "no recovery after Redis came back")
    finally:
        redis.kill()


def per_second_docs(main_port, hot_port):
    """redis.perSecond: 5 a second per x-user in the hot Redis, 1000 an
    hour in the main one; no over-limit cache, so every request counts in
    both."""
    docs = global_docs(main_port, 1000, overLimitCache=False)
    rate = docs[0]["spec"]["rateLimit"]
    rate["redis"]["perSecond"] = {"address": "127.0.0.1:%d" % hot_port}
    rate["descriptors"].append({"key": "x-user", "rate_limit": {
        "unit": "second", "requests_per_unit": 5}})
    docs[1]["spec"]["rateLimit"]["global"]["descriptors"].append(
        {"entries": [{"type": "Header", "header": "x-user"}]})
    return docs


def per_second_redis_holds_limits_of_a_second_across_two_workers():
    """Two workers, two Redis: the limit of a second holds and counts in
    the per-second Redis only, the hour's in the main one only; with the
    per-second Redis killed its decisions fail closed and the hour's
    still count."""
    away_from_hour_edge()
    hour_key = "nginx-test_generic_key_all_%d" % (int(time.time()) // 3600
                                                   * 3600)
    with Redis() as main, Redis() as hot, Upstream() as up, \
            Nginx(SERVER, {"rl.yaml": per_second_docs(main.port, hot.port)},
                  up, workers=2, reuseport=True) as ngx:
        sent = 0
        # 20 requests within one second (a burst that straddles a second
        # is tried again with another user, so another key).
        for attempt in range(5):
            while time.time() % 1 > 0.2:
                time.sleep(0.01)
            second = int(time.time())
            user = "u%d" % attempt
            got = [request(ngx.port, "GET", "/api",
                           headers={"x-user": user}).status
                   for _ in range(20)]
            sent += 20
            key = "nginx-test_x-user_%s_%d" % (user, second)
            on_hot, on_main = redis_get(hot.port, key), redis_get(main.port,
                                                                  key)
            if int(time.time()) == second:
                break
        else:
            check(False, "no burst of 20 requests fitted in one second")
        check(got == [200] * 5 + [429] * 15,
              "expected 5 x 200 then 429s within one second, got %r" % got)
        check(on_hot == b"20" and on_main is None,
              "the key of a second: %r in the per-second Redis, %r in the "
              "main one; expected b'20' and None" % (on_hot, on_main))
        check(redis_get(main.port, hour_key) == str(sent).encode() and
              redis_get(hot.port, hour_key) is None,
              "the hour's key: %r in the main Redis, %r in the per-second "
              "one; expected %d and None" % (redis_get(main.port, hour_key),
                                             redis_get(hot.port, hour_key),
                                             sent))
        check(len(pids_of(ngx, 200) | pids_of(ngx, 429)) == 2,
              "requests did not reach both workers")
        hot.kill()
        got = [request(ngx.port, "GET", "/api",
                       headers={"x-user": "after"}).status
               for _ in range(6)]
        check(got == [500] * 6,
              "per-second Redis killed: %r, expected 500s" % got)
        check(redis_get(main.port, hour_key) == str(sent + 6).encode(),
              "the hour's key is %r, expected %d: the main Redis must "
              "still count" % (redis_get(main.port, hour_key), sent + 6))


def nginx_t_fails_on_a_bad_rate_limit_config():
    docs = global_docs(6379)
    docs[0]["spec"]["rateLimit"]["timeout"] = "soon"
    ngx = Nginx(SERVER, {"rl.yaml": docs})
    r = ngx.test_config()
    out = r.stdout + r.stderr
    check(r.returncode != 0, "nginx -t passed:\n" + out)
    check("spec.rateLimit.timeout" in out and "expected a duration" in out,
          "nginx -t does not name the field:\n" + out)
    ngx.discard()


def nginx_t_refuses_a_fifo_descriptors_file_at_once():
    """descriptorsFile names a FIFO with no writer: the master's config
    read used to block in fopen (nginx -t, a reload: no signal handled
    any more). It is refused at once, naming the field and why."""
    docs = global_docs(6379)
    spec = docs[0]["spec"]["rateLimit"]
    ngx = Nginx(SERVER, {"rl.yaml": docs})
    fifo = os.path.join(ngx.prefix, "limits.yaml")
    os.mkfifo(fifo, 0o600)
    del spec["descriptors"]
    spec["descriptorsFile"] = fifo
    ngx.write_manifest("rl.yaml", docs)
    start = time.monotonic()
    ngx.port = free_port()  # ngx.test_config(), with a shorter bound
    ngx.write_conf()
    r = ngx.command("-t", timeout=10)
    elapsed = time.monotonic() - start
    out = r.stdout + r.stderr
    check(r.returncode != 0, "nginx -t passed:\n" + out)
    check("spec.rateLimit.descriptorsFile" in out and
          '"%s": a FIFO, not a regular file' % fifo in out,
          "nginx -t does not name the field and the FIFO:\n" + out)
    check(elapsed < 5, "nginx -t took %.1fs" % elapsed)
    ngx.discard()


def redis_get(port, key):
    """GET `key` (RESP by hand): the value, or None."""
    with socket.create_connection(("127.0.0.1", port), 1.0) as s:
        s.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n"
                  % (len(key), key.encode()))
        reply = s.recv(256)
    if not reply.startswith(b"$") or reply.startswith(b"$-1"):
        return None
    return reply.split(b"\r\n")[1]


def localhost_reaches_redis_on_ipv4_loopback_only_and_after_a_restart():
    """localhost is ::1 first on a stock Debian 12; Redis listens on
    127.0.0.1 only. Each worker tries both addresses, and resolves the
    name again (in the background) after Redis goes away."""
    addrs = [a[4][0] for a in socket.getaddrinfo("localhost", None,
                                                 type=socket.SOCK_STREAM)]
    check("127.0.0.1" in addrs, "localhost does not resolve to 127.0.0.1: %r"
          % addrs)
    away_from_hour_edge()
    redis = Redis().start()
    try:
        docs = global_docs(redis.port, 1000, host="localhost")
        with Upstream() as up, \
                Nginx(SERVER, {"rl.yaml": docs}, up, workers=2,
                      reuseport=True) as ngx:
            got = statuses(ngx.port, 20)
            check(got == [200] * 20, "expected 200s, got %r" % got)
            check(len(pids_of(ngx, 200)) == 2,
                  "requests reached workers %r, expected 2"
                  % pids_of(ngx, 200))
            check(redis_get(redis.port, "nginx-test_generic_key_all_%d"
                            % (time.time() // 3600 * 3600)) == b"20",
                  "Redis did not count the 20 requests")
            redis.kill()
            got = statuses(ngx.port, 4)
            check(got == [500] * 4, "without Redis: %r, expected 500s" % got)
            redis = Redis(redis.port).start()
            # A fresh Redis counts from 0 again, once reconnected (backoff).
            check(wait_for(lambda: request(ngx.port, "GET", "/api").status
                           == 200, 10.0, 0.2),
                  "no recovery after Redis came back")
    finally:
        redis.kill()


# ---- the rate limit service (RLS v3) ---------------------------------------

RLS_SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "rls_server.py")
RLS_LIMITS = """domain: api-gateway
descriptors:
  - key: service
    value: premium-api
    rate_limit: {unit: hour, requests_per_unit: 3, name: premium}
  - key: service
    value: big
    rate_limit: {unit: day, requests_per_unit: 600}
"""


class Rls:
    """rls_server.py with RLS_LIMITS, on free loopback ports."""

    def __enter__(self):
        fd, self.config = tempfile.mkstemp(prefix="gwf-rls-", suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write(RLS_LIMITS)
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", RLS_SERVER, self.config],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, start_new_session=True)
        line = self.proc.stdout.readline().decode()
        check(line.startswith("PORT "), "rls_server.py did not start: %r"
              % line)
        self.port, self.control, self.raw = map(int, line.split()[1:])
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait(5)
        os.unlink(self.config)

    def _call(self, method, path):
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.control, path), method=method,
            data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read()

    def mode(self, mode):
        self._call("POST", "/mode/" + mode)

    def requests(self):
        return json.loads(self._call("GET", "/requests"))


def rls_docs(port, value="premium-api", **spec):
    rate_limit = {"grpcService": {"backendRef": {"name": "rls"}},
                  "domain": "api-gateway"}
    rate_limit.update(spec)
    return [
        {"apiVersion": "gateway.kgateway.dev/v1alpha1", "kind": "Backend",
         "metadata": {"name": "rls"},
         "spec": {"static": {"hosts": [{"host": "127.0.0.1",
                                        "port": port}]}}},
        {"apiVersion": "gateway.kgateway.dev/v1alpha1",
         "kind": "GatewayExtension", "metadata": {"name": "rl"},
         "spec": {"type": "RateLimit", "rateLimit": rate_limit}},
        {"apiVersion": "gateway.kgateway.dev/v1alpha1",
         "kind": "TrafficPolicy", "metadata": {"name": "api"},
         "spec": {"rateLimit": {"global": {
             "extensionRef": {"name": "rl"},
             "descriptors": [{"entries": [
                 {"type": "Generic",
                  "generic": {"key": "service", "value": value}}]}]}}}},
    ]


def rls_counts_exactly_across_two_workers():
    away_from_hour_edge()
    with Rls() as rls, Upstream() as up, \
            Nginx(SERVER, {"rl.yaml": rls_docs(rls.port)}, up,
                  workers=2, reuseport=True) as ngx:
        got = [request(ngx.port, "GET", "/api") for _ in range(20)]
        codes = [r.status for r in got]
        check(codes[:3] == [200] * 3 and codes[3:] == [429] * 17,
              "expected 3 x 200 then 429s, got %r" % codes)
        check(all(r.header("x-envoy-ratelimited") == "true"
                  for r in got[3:]), "a 429 without x-envoy-ratelimited")
        check(up.hits == 3, "upstream saw %d, expected 3" % up.hits)
        seen = rls.requests()
        check(len(seen) == 20 and all(
            r == {"domain": "api-gateway", "hits": 1, "descriptors":
                  [[["service", "premium-api"]]]} for r in seen),
              "the service was sent %r" % seen[:3])
        pids = pids_of(ngx, 200) | pids_of(ngx, 429)
        check(len(pids) == 2, "requests reached workers %r, expected 2"
              % pids)


def rls_draft03_and_service_headers_reach_the_client():
    away_from_hour_edge()
    docs = rls_docs(0, xRateLimitHeaders="DraftVersion03")
    with Rls() as rls, Upstream() as up:
        docs[0]["spec"]["static"]["hosts"][0]["port"] = rls.port
        rls.mode("headers")
        with Nginx(SERVER, {"rl.yaml": docs}, up) as ngx:
            first = request(ngx.port, "GET", "/api")
            check(first.status == 200, "first: %r" % first)
            check(first.header("x-ratelimit-limit") ==
                  '3, 3;w=3600;name="premium"' and
                  first.header("x-ratelimit-remaining") == "2" and
                  0 < int(first.header("x-ratelimit-reset")) <= 3600,
                  "draft 03 headers on a 200: %r" % first.headers)
            check(first.header("x-rls-response") == "yes",
                  "the service's response header is missing: %r"
                  % first.headers)
            check(echo_header(up.requests[-1], "x-rls-request") == "yes",
                  "the service's request header did not reach the upstream")
            request(ngx.port, "GET", "/api")
            request(ngx.port, "GET", "/api")
            last = request(ngx.port, "GET", "/api")
            check(last.status == 429 and
                  last.header("x-ratelimit-remaining") == "0" and
                  last.body == b"slow down",
                  "the 429: %r" % last)


def rls_service_down_fails_open_by_default_and_closed_when_asked():
    dead = free_port()
    with Upstream() as up:
        with Nginx(SERVER, {"rl.yaml": rls_docs(dead)}, up) as ngx:
            got = statuses(ngx.port, 3)
            check(got == [200] * 3, "failOpen (default): %r" % got)
        with Nginx(SERVER, {"rl.yaml": rls_docs(dead, failOpen=False)},
                   up) as ngx:
            got = statuses(ngx.port, 3)
            check(got == [500] * 3, "failOpen false: %r" % got)


def rls_hanging_service_times_out():
    with Rls() as rls, Upstream() as up:
        rls.mode("hang")
        with Nginx(SERVER, {"rl.yaml": rls_docs(rls.port, failOpen=False,
                                                 timeout="300ms")},
                   up) as ngx:
            r = request(ngx.port, "GET", "/api")
            check(r.status == 500, "a hanging service: %r" % r)
            check(0.25 <= r.elapsed < 3, "answered after %.2fs, expected "
                  "about 0.3s" % r.elapsed)


def rls_client_aborts_while_paused_leave_workers_alive():
    with Rls() as rls, Upstream() as up:
        rls.mode("hang")
        with Nginx(SERVER, {"rl.yaml": rls_docs(rls.port, timeout="5s")},
                   up, workers=2, reuseport=True) as ngx:
            before = set(ngx.worker_pids())
            for _ in range(20):
                s = socket.create_connection(("127.0.0.1", ngx.port), 2)
                s.sendall(b"GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
                time.sleep(0.05)
                s.close()
            time.sleep(0.5)
            rls.mode("normal")
            got = statuses(ngx.port, 2)
            check(got == [200, 200], "after the aborts: %r" % got)
            check(set(ngx.worker_pids()) == before,
                  "a worker died: %r -> %r" % (before, ngx.worker_pids()))


def rls_a_thousand_concurrent_requests_are_counted_exactly():
    with Rls() as rls, Upstream() as up, \
            Nginx(SERVER, {"rl.yaml": rls_docs(rls.port, value="big",
                                                failOpen=False,
                                                timeout="30s")},
                  up, workers=2, reuseport=True) as ngx:
        codes, lock = [], threading.Lock()

        def client(n):
            for _ in range(n):
                status = request(ngx.port, "GET", "/api").status
                with lock:
                    codes.append(status)
        threads = [threading.Thread(target=client, args=(20,))
                   for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        check(len(codes) == 1000, "%d answers, expected 1000" % len(codes))
        check(codes.count(200) == 600 and codes.count(429) == 400,
              "%d x 200, %d x 429, others %r" % (
                  codes.count(200), codes.count(429),
                  sorted(set(codes) - {200, 429})))


def redis_a_thousand_concurrent_requests_are_counted_exactly():
    """50 clients at once, two workers: each worker pipelines its
    requests' commands on its one connection, and exactly the limit
    passes."""
    away_from_hour_edge()
    with Redis() as redis, Upstream() as up, \
            Nginx(SERVER, {"rl.yaml": global_docs(redis.port, limit=600,
                                                   timeout="30s")},
                  up, workers=2, reuseport=True) as ngx:
        codes, lock = [], threading.Lock()

        def client(n):
            for _ in range(n):
                status = request(ngx.port, "GET", "/api").status
                with lock:
                    codes.append(status)
        threads = [threading.Thread(target=client, args=(20,))
                   for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        check(len(codes) == 1000, "%d answers, expected 1000" % len(codes))
        check(codes.count(200) == 600 and codes.count(429) == 400,
              "%d x 200, %d x 429, others %r" % (
                  codes.count(200), codes.count(429),
                  sorted(set(codes) - {200, 429})))
        clients = redis_clients(redis.port)
        check(clients <= 3, "%d Redis clients: more than one connection "
              "per worker (and ours)" % clients)


def redis_clients(port):
    """Connections Redis has, counting the one asking."""
    with socket.create_connection(("127.0.0.1", port), 2) as s:
        s.sendall(b"CLIENT LIST\r\n")
        data = b""
        while not data.endswith(b"\r\n") or data.count(b"\r\n") < 2:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.count(b"id=")


MAKE_REDIS_CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "make_redis_certs.sh")


class TlsRedis(Redis):
    """redis-server TLS-only (--port 0 --tls-port), client certificates
    required, with make_redis_certs.sh's certificates in `certs`."""

    def __init__(self, certs):
        super().__init__()
        self.certs = certs

    def cert(self, name):
        return os.path.join(self.certs, name)

    def command(self, *args):
        """One command over TLS with the client certificate: the raw
        reply."""
        ctx = ssl.create_default_context(cafile=self.cert("ca.pem"))
        ctx.load_cert_chain(self.cert("client.pem"), self.cert("client.key"))
        req = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)
        with socket.create_connection(("127.0.0.1", self.port), 1.0) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(req)
                return s.recv(256)

    def ping(self):
        try:
            return self.command("PING").startswith(b"+PONG")
        except (OSError, ssl.SSLError):
            return False

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--tls-port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir,
             "--tls-cert-file", self.cert("server.pem"),
             "--tls-key-file", self.cert("server.key"),
             "--tls-ca-cert-file", self.cert("ca.pem"),
             "--tls-auth-clients", "yes"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        check(wait_for(self.ping, 5.0), "redis-server (TLS) did not start")
        return self


def redis_over_tls_limit_holds_across_two_workers():
    """redis.tls with a CA and a client certificate, Redis reached by
    name (localhost: ::1 refused, then 127.0.0.1, verified as localhost):
    two workers hold one limit exactly and Redis counted what it was
    sent. (Restarts over TLS: test_tls.c.)"""
    for tool in ("/usr/bin/openssl", REDIS_SERVER):
        check(os.path.exists(tool), "%s is needed" % tool)
    away_from_hour_edge()
    certs = tempfile.mkdtemp(prefix="gwf-rl-tls-")
    _redis_dirs.append(certs)
    subprocess.run(["sh", MAKE_REDIS_CERTS, certs], check=True)
    with TlsRedis(certs) as redis:
        docs = global_docs(redis.port, host="localhost")
        docs[0]["spec"]["rateLimit"]["redis"]["tls"] = {
            "caFile": redis.cert("ca.pem"),
            "certFile": redis.cert("client.pem"),
            "keyFile": redis.cert("client.key")}
        with Upstream() as up, \
                Nginx(SERVER, {"rl.yaml": docs}, up, workers=2,
                      reuseport=True) as ngx:
            got = statuses(ngx.port, 30)
            check(got.count(200) == LIMIT and got.count(429) == 30 - LIMIT,
                  "expected %d x 200 then 429s, got %r" % (LIMIT, got))
            reply = redis.command("KEYS", "nginx-test_*")
            key = reply.split(b"\r\n")[2].decode()
            # Past the limit each worker asks Redis once, then answers
            # from its over-limit cache.
            want = LIMIT + len(pids_of(ngx, 429))
            counted = redis.command("GET", key)
            check(counted == b"$2\r\n%d\r\n" % want,
                  "Redis counted %r, expected %d" % (counted, want))


def read_response(sock, head_only=False):
    """One HTTP/1.1 response from `sock`: (status, headers, body); the
    body is Content-Length bytes (none for a HEAD)."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        check(part, "connection closed before a response: %r" % data)
        data += part
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    size = 0 if head_only else int(headers.get("content-length", "0"))
    while len(rest) < size:
        part = sock.recv(65536)
        check(part, "connection closed inside a body")
        rest += part
    check(len(rest) == size, "bytes after the response: %r" % rest[size:])
    return int(lines[0].split()[1]), headers, rest


def over_limit_from_the_cache(draft03):
    """The two cases below: four requests on one connection after the
    key went over its limit, each answered from the worker's cache."""
    away_from_hour_edge()
    spec = {"xRateLimitHeaders": "DraftVersion03"} if draft03 else {}
    with Redis() as redis, Upstream() as up, \
            Nginx(SERVER, {"rl.yaml": global_docs(
                redis.port, limit=1, **spec)}, up) as ngx:
        check(statuses(ngx.port, 2) == [200, 429], "the limit of 1 did not "
              "hold")
        sock = socket.create_connection(("127.0.0.1", ngx.port), 5)
        sock.settimeout(5)
        body = b"x" * 200000
        try:
            sock.sendall(b"POST /api HTTP/1.1\r\nHost: a\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
            got = [read_response(sock)]
            sock.sendall(b"POST /api HTTP/1.1\r\nHost: a\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n")
            got.append(read_response(sock))
            sock.sendall(b"HEAD /api HTTP/1.1\r\nHost: a\r\n\r\n")
            got.append(read_response(sock, head_only=True))
            sock.sendall(b"GET /api HTTP/1.1\r\nHost: a\r\n\r\n")
            got.append(read_response(sock))
        finally:
            sock.close()
        for status, headers, text in got:
            check(status == 429, "expected 429, got %d %r" % (status, headers))
            check(0 < int(headers.get("retry-after", "0")) <= 3600,
                  "retry-after: %r" % headers)
            if draft03:
                check(headers.get("x-ratelimit-limit") == "1, 1;w=3600" and
                      headers.get("x-ratelimit-remaining") == "0" and
                      headers.get("retry-after") == headers.get(
                          "x-ratelimit-reset"),
                      "x-ratelimit-*: %r" % headers)
            else:
                check(not any(k.startswith("x-ratelimit") for k in headers),
                      "x-ratelimit-* without xRateLimitHeaders: %r" % headers)
            check(text == b"", "a body: %r" % text)
        check(up.hits == 1, "the upstream saw %d requests" % up.hits)
        key = "nginx-test_generic_key_all_%d" % (time.time() // 3600 * 3600)
        counted = redis_get(redis.port, key)
        check(counted == b"2", "Redis counted %r, expected 2" % counted)


def over_limit_from_the_cache_keeps_the_connection():
    """Answered before the request gets a stream, a key over its limit
    is a 429 like Redis's verdict gave (retry-after, x-ratelimit-*), the
    request body is read and dropped, HEAD gets no body, and the
    connection serves the next request; Redis is not asked again."""
    over_limit_from_the_cache(draft03=True)


def over_limit_from_the_memo_keeps_the_connection():
    """The same without x-ratelimit-* headers: the route's one Generic
    descriptor is answered by rate_limit's short way (the worker's memo),
    with the same 429, body handling and connection."""
    over_limit_from_the_cache(draft03=False)


CASES = {f.__name__: f for f in [
    global_limit_holds_across_two_workers,
    global_limit_is_shared_by_two_nginx_instances,
    local_bucket_is_shared_by_two_workers,
    redis_killed_fails_closed_then_recovers,
    nginx_t_fails_on_a_bad_rate_limit_config,
    nginx_t_refuses_a_fifo_descriptors_file_at_once,
    localhost_reaches_redis_on_ipv4_loopback_only_and_after_a_restart,
    redis_a_thousand_concurrent_requests_are_counted_exactly,
    rls_counts_exactly_across_two_workers,
    rls_draft03_and_service_headers_reach_the_client,
    rls_service_down_fails_open_by_default_and_closed_when_asked,
    rls_hanging_service_times_out,
    rls_client_aborts_while_paused_leave_workers_alive,
    rls_a_thousand_concurrent_requests_are_counted_exactly,
    redis_over_tls_limit_holds_across_two_workers,
    per_second_redis_holds_limits_of_a_second_across_two_workers,
    over_limit_from_the_cache_keeps_the_connection,
    over_limit_from_the_memo_keeps_the_connection,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
