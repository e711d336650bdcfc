#!/usr/bin/python3
"""test_attack_rate_limit.py - a failing or hostile Redis behind the
global rate limit, in the real nginx.

    /usr/bin/python3 test_attack_rate_limit.py CASE  (exit 0 pass, 1 fail)

Two routes share the Redis: /closed (failOpen: false, failureStatus 503)
and /open (failOpen: true), each its own GatewayExtension, so its own
connection. Each case asserts, while Redis fails, that /closed answers
exactly 503 and nothing of it reaches the upstream, that /open reaches
the upstream, that every wait is bounded by `timeout`; and afterwards
that the same worker serves again (no worker died: the harness checks
the error log and the sanitizer reports).

The real redis-server is test_rate_limit_nginx.py's Redis (its own port,
no persistence); it is killed (SIGKILL), stopped (SIGSTOP), filled past
maxmemory, restarted. The protocol attacks use a fake Redis written here
on raw_peer.py (tests/attacks/ext_authz): error replies, wrong types,
truncated replies, bytes that are not RESP, a 2^31-element array header,
deep nesting, NOSCRIPT for ever (Rolling), a refused AUTH, an unsolicited
flood, a reply to a command never sent.
"""

import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ext_authz"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "plugins", "rate_limit"))
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(HERE, "..", "..", "nginx")))

from harness import (  # noqa: E402
    API, Background, Nginx, Upstream, check, metric, parse_metrics,
    read_text, request, run_case, wait_for)
from raw_peer import RawPeer, peak_rss_kib  # noqa: E402
from test_rate_limit_nginx import Redis  # noqa: E402

TIMEOUT_S = 0.2
FAILURE_STATUS = 503
RECOVERY_S = 10.0   # the reconnect backoff doubles up to 5 s
CLIENT_TIMEOUT_S = TIMEOUT_S + 3.0  # a decision that hangs fails fast
FLOOD_GROWTH_KIB = 48 * 1024  # what a flood may cost the worker
SERVER = """
        location /closed { gwf_policy default/closed; proxy_pass http://{UP}; }
        location /open { gwf_policy default/open; proxy_pass http://{UP}; }
        location = /metrics { gwf_metrics; }
"""


def manifests(port, limit=1000, headers=False, over_limit_cache=True,
              **extra_fields):
    docs = []
    for name, extra in (("closed", {"failureStatus": FAILURE_STATUS}),
                        ("open", {"failOpen": True})):
        rl = {"domain": "attack-" + name,
              "timeout": "%dms" % (TIMEOUT_S * 1000),
              "redis": {"address": "127.0.0.1:%d" % port},
              "descriptors": [{"key": "generic_key", "value": "all",
                               "rate_limit": {"unit": "hour",
                                              "requests_per_unit": limit}}]}
        if headers:
            rl["xRateLimitHeaders"] = "DraftVersion03"
        if not over_limit_cache:
            rl["overLimitCache"] = False
        for field, value in extra_fields.items():
            if field == "password":
                rl["redis"]["password"] = value
            else:
                rl[field] = value
        rl.update(extra)
        docs.append({"apiVersion": API, "kind": "GatewayExtension",
                     "metadata": {"name": "rl-" + name},
                     "spec": {"rateLimit": rl}})
        docs.append({"apiVersion": API, "kind": "TrafficPolicy",
                     "metadata": {"name": name},
                     "spec": {"rateLimit": {"global": {
                         "extensionRef": {"name": "rl-" + name},
                         "descriptors": [{"entries": [{
                             "type": "Generic", "generic": {
                                 "key": "generic_key",
                                 "value": "all"}}]}]}}}})
    return {"rl.yaml": docs}


def away_from_hour_edge():
    """The limits are per hour on the real clock: never straddle an hour."""
    left = 3600 - time.time() % 3600
    if left < 20:
        time.sleep(left + 0.5)


def errors_counted(ngx):
    r = request(ngx.port, "GET", "/metrics")
    return metric(parse_metrics(r.text), "gwf_rate_limit_decisions_total",
                  outcome="error") or 0


def expect_failing(ngx, up, rounds=3, min_elapsed=0.0):
    """While Redis fails: /closed is 503 (never upstream), /open goes
    upstream; each bounded by the decision timeout."""
    for _ in range(rounds):
        before = up.hits
        r = request(ngx.port, "GET", "/closed/x", timeout=CLIENT_TIMEOUT_S)
        check(r.status == FAILURE_STATUS, "fail-closed: expected %d, got %d"
              % (FAILURE_STATUS, r.status))
        check(up.hits == before, "a fail-closed request reached the upstream")
        check(min_elapsed <= r.elapsed < TIMEOUT_S + 1.0,
              "fail-closed decision took %.2fs" % r.elapsed)
        r = request(ngx.port, "GET", "/open/x", timeout=CLIENT_TIMEOUT_S)
        check(r.status == 200, "fail-open: expected 200, got %d" % r.status)
        check(up.hits == before + 1, "the fail-open request did not reach "
              "the upstream")
        check(min_elapsed <= r.elapsed < TIMEOUT_S + 1.0,
              "fail-open decision took %.2fs" % r.elapsed)


def expect_recovered(ngx):
    """Both routes answer 200 again through Redis: not failed open (the
    error count stays put), three rounds in a row."""
    def round_through_redis():
        before = errors_counted(ngx)
        statuses = [request(ngx.port, "GET", path).status
                    for path in ("/closed/y", "/open/y")]
        return statuses == [200, 200] and errors_counted(ngx) == before
    check(wait_for(round_through_redis, RECOVERY_S, 0.1),
          "no recovery within %.0fs" % RECOVERY_S)
    for _ in range(3):
        check(round_through_redis(), "decisions fail after the recovery")


def redis_cmd(port, *args):
    """One command to the real Redis; the raw reply's first line."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(out)
        return s.recv(4096).split(b"\r\n")[0]


# ---------------------------------------------------------------------------
# A real redis-server that fails
# ---------------------------------------------------------------------------

def redis_killed_mid_run_then_restarted():
    away_from_hour_edge()
    redis = Redis().start()
    try:
        with Upstream() as up, \
                Nginx(SERVER, manifests(redis.port), up) as ngx:
            expect_recovered(ngx)
            os.kill(redis.proc.pid, signal.SIGKILL)
            redis.proc.wait(5)
            expect_failing(ngx, up)
            check(errors_counted(ngx) >= 6, "errors were not counted")
            redis = Redis(redis.port).start()
            expect_recovered(ngx)
    finally:
        redis.kill()


def redis_stopped_decision_timeout_is_honoured_then_recovers():
    away_from_hour_edge()
    with Redis() as redis, Upstream() as up, \
            Nginx(SERVER, manifests(redis.port), up) as ngx:
        expect_recovered(ngx)
        os.kill(redis.proc.pid, signal.SIGSTOP)
        try:
            # Two rounds (four decisions per extension, one after the
            # other): after no reply across 3 timeouts the connection
            # is re-made, and decisions in its backoff fail at once.
            expect_failing(ngx, up, rounds=2, min_elapsed=TIMEOUT_S * 0.9)
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        expect_recovered(ngx)


def redis_stalled_briefly_under_load_keeps_its_connection():
    """A stall of 1.5 timeouts (a 1 s timeout here, so that every request
    is surely sent within the stall) with 16 decisions of each extension
    in flight: every one of them times out together (503 closed, 200
    open), but Redis answers again before 3 timeouts of time went by
    without a reply, so the connection is kept: no reconnect, and the
    very next decisions are Redis's (200, no error counted), with no
    backoff of refusals after the stall."""
    timeout_s = 1.0
    away_from_hour_edge()
    with Redis() as redis, Upstream() as up, \
            Nginx(SERVER, manifests(redis.port, timeout="%dms"
                                    % (timeout_s * 1000)), up) as ngx:
        expect_recovered(ngx)
        os.kill(redis.proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            waiting = [Background(ngx.port, "GET", path,
                                  timeout=timeout_s + 3.0)
                       for _ in range(16) for path in ("/closed/s", "/open/s")]
            time.sleep(max(0.0, timeout_s * 1.5 -
                           (time.monotonic() - stopped)))
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        got = {}
        for b in waiting:
            r = b.result()
            got.setdefault(r.status, 0)
            got[r.status] += 1
        check(got == {FAILURE_STATUS: 16, 200: 16},
              "in the stall: expected 16 x %d and 16 x 200, got %r"
              % (FAILURE_STATUS, got))
        before = errors_counted(ngx)
        for path in ("/closed/t", "/open/t") * 3:
            r = request(ngx.port, "GET", path)
            check(r.status == 200, "%s right after the stall: expected 200, "
                  "got %d" % (path, r.status))
        check(errors_counted(ngx) == before,
              "decisions after the stall failed (counted as errors)")
        dropped = [line for line in read_text(ngx.error_log).splitlines()
                   if "reconnecting" in line]
        check(not dropped, "the connection was dropped for a short stall:\n"
              + "\n".join(dropped))


def redis_out_of_memory_is_a_failure():
    """maxmemory 1mb with noeviction, over it: INCRBY answers -OOM."""
    away_from_hour_edge()
    with Redis() as redis, Upstream() as up, \
            Nginx(SERVER, manifests(redis.port), up) as ngx:
        expect_recovered(ngx)
        check(redis_cmd(redis.port, "SET", "filler", b"f" * (2 << 20)) ==
              b"+OK", "cannot fill Redis")
        check(redis_cmd(redis.port, "CONFIG", "SET", "maxmemory-policy",
                        "noeviction") == b"+OK", "CONFIG SET policy")
        check(redis_cmd(redis.port, "CONFIG", "SET", "maxmemory", "1mb") ==
              b"+OK", "CONFIG SET maxmemory")
        check(redis_cmd(redis.port, "INCRBY", "probe", 1).startswith(b"-OOM"),
              "Redis is not out of memory")
        expect_failing(ngx, up)
        check(redis_cmd(redis.port, "CONFIG", "SET", "maxmemory", "0") ==
              b"+OK", "CONFIG SET maxmemory 0")
        expect_recovered(ngx)


def redis_restarted_counts_start_over_and_the_limit_holds():
    """Limit 5 per hour with x-ratelimit headers: 5 x 200 then 429 with
    retry-after; Redis restarts empty: after the reconnect, exactly 5
    more are allowed (the counts restart with Redis), then 429 again.
    Without the over-limit cache, which would (rightly) keep refusing
    from memory until the window ends."""
    away_from_hour_edge()
    limit = 5
    redis = Redis().start()
    try:
        with Upstream() as up, Nginx(
                SERVER, manifests(redis.port, limit, headers=True,
                                  over_limit_cache=False),
                up) as ngx:
            got = [request(ngx.port, "GET", "/closed/a").status
                   for _ in range(limit)]
            check(got == [200] * limit, "before the limit: %r" % got)
            expect_limited(ngx, limit)
            redis.kill()
            redis = Redis(redis.port).start()
            first = wait_for(lambda: request(ngx.port, "GET", "/closed/b")
                             .status == 200, RECOVERY_S, 0.1)
            check(first, "no recovery after the restart")
            got = [request(ngx.port, "GET", "/closed/c").status
                   for _ in range(limit - 1)]
            check(got == [200] * (limit - 1), "after the restart: %r" % got)
            expect_limited(ngx, limit)
    finally:
        redis.kill()


def expect_limited(ngx, limit):
    r = request(ngx.port, "GET", "/closed/over")
    check(r.status == 429, "over the limit: expected 429, got %d" % r.status)
    window_left = 3600 - int(time.time()) % 3600
    retry = int(r.header("retry-after") or -1)
    check(abs(retry - window_left) <= 2,
          "retry-after %r, the window ends in %d s" % (retry, window_left))
    check(r.header("x-ratelimit-limit") == "%d, %d;w=3600" % (limit, limit),
          "x-ratelimit-limit %r" % r.header("x-ratelimit-limit"))
    check(r.header("x-ratelimit-remaining") == "0",
          "x-ratelimit-remaining %r" % r.header("x-ratelimit-remaining"))
    check(abs(int(r.header("x-ratelimit-reset") or -1) - window_left) <= 2,
          "x-ratelimit-reset %r" % r.header("x-ratelimit-reset"))


# ---------------------------------------------------------------------------
# A fake Redis that lies
# ---------------------------------------------------------------------------

def read_command(conn):
    """One RESP command (an array of bulk strings) as a list of bytes."""
    head = conn.read_until(b"\r\n")
    if not head.startswith(b"*"):
        raise EOFError  # not a client we know: hang up
    args = []
    for _ in range(int(head[1:-2])):
        size = conn.read_until(b"\r\n")
        args.append(conn.read_exactly(int(size[1:-2]) + 2)[:-2])
    return args


# What a healthy Redis answers: AUTH and SELECT +OK, a count of 1 to
# INCRBY (always allowed), 1 to EXPIRE, the Rolling script's "allowed"
# {1, remaining, retry_after_ms, reset_ms}.
PROPER = {b"AUTH": b"+OK\r\n", b"SELECT": b"+OK\r\n",
          b"EVALSHA": b"*4\r\n:1\r\n:999\r\n:0\r\n:1000\r\n",
          b"EVAL": b"*4\r\n:1\r\n:999\r\n:0\r\n:1000\r\n"}


def proper_reply(args):
    return PROPER.get(args[0].upper(), b":1\r\n")


def fake_redis(attack):
    """A behaviour: until peer.recovered, each command gets attack(conn,
    args) (which returns False to end the connection); then what a
    healthy Redis answers (proper_reply)."""
    def behaviour(conn, peer):
        try:
            while not peer.stopping.is_set():
                args = read_command(conn)
                if peer.recovered.is_set():
                    conn.send(proper_reply(args))
                elif not attack(conn, args):
                    return
        except EOFError:
            return
    return behaviour


def expect_fake_redis_failure(attack, min_elapsed=0.0, flood=False,
                              **fields):
    """expect_failing, then expect_recovered, against the fake Redis;
    with flood, also that the worker's peak memory grew by less than
    FLOOD_GROWTH_KIB."""
    away_from_hour_edge()
    with RawPeer(fake_redis(attack)) as peer, Upstream() as up, \
            Nginx(SERVER, manifests(peer.port, **fields), up) as ngx:
        worker = ngx.worker_pids()[0]
        peak_before = peak_rss_kib(worker)
        expect_failing(ngx, up, min_elapsed=min_elapsed)
        check(peer.connections >= 2, "the fake Redis was not asked")
        if flood:
            grown = peak_rss_kib(worker) - peak_before
            check(grown < FLOOD_GROWTH_KIB, "the attack grew the worker by "
                  "%d KiB" % grown)
        peer.recovered.set()
        expect_recovered(ngx)


def reply(data, keep=True):
    def attack(conn, args):
        conn.send(data)
        return keep
    return attack


def resp_error_replies():
    expect_fake_redis_failure(reply(b"-ERR injected failure\r\n"))


def resp_wrong_type_bulk_string_reply():
    expect_fake_redis_failure(reply(b"$5\r\nhello\r\n"))


def resp_wrong_type_status_and_nil_replies():
    def attack(conn, args):
        conn.send(b"+OK\r\n" if args[0].upper() == b"INCRBY" else
                  b"$-1\r\n")
        return True
    expect_fake_redis_failure(attack)


def resp_truncated_reply_then_close():
    expect_fake_redis_failure(reply(b":1", keep=False))


def resp_truncated_reply_then_hang():
    def attack(conn, args):
        conn.send(b":12")
        conn.hang()
        return False
    expect_fake_redis_failure(attack)


def resp_not_resp_at_all():
    expect_fake_redis_failure(reply(b"HTTP/1.1 200 OK\r\n\r\n", keep=True))


def resp_huge_array_length():
    """An array header announcing 2^31-1 elements, none sent: an error
    by the decision timeout at the latest, the worker neither blocked
    (by walking or freeing that many entries) nor grown."""
    def attack(conn, args):
        conn.send(b"*2147483647\r\n:1\r\n")
        conn.hang()
        return False
    expect_fake_redis_failure(attack, flood=True)


def resp_deeply_nested_arrays():
    expect_fake_redis_failure(reply(b"*1\r\n" * 64 + b":1\r\n", keep=False))


def resp_noscript_forever_with_rolling():
    """Rolling: EVALSHA answered NOSCRIPT is sent again once as EVAL; an
    EVAL answered NOSCRIPT too is an error, never a loop."""
    def attack(conn, args):
        check_commands.append(args[0].upper())
        conn.send(b"-NOSCRIPT No matching script. Please use EVAL.\r\n")
        return True
    check_commands = []
    expect_fake_redis_failure(attack, algorithm="Rolling")
    check(check_commands.count(b"EVALSHA") == check_commands.count(b"EVAL")
          and set(check_commands) == {b"EVALSHA", b"EVAL"},
          "commands sent: %r" % check_commands)


def resp_auth_refused():
    """The password is refused: every decision on that connection fails
    (the fail mode decides), none is sent to an unauthenticated Redis."""
    def attack(conn, args):
        if args[0].upper() == b"AUTH":
            conn.send(b"-WRONGPASS invalid username-password pair\r\n")
        else:
            conn.send(b":1\r\n")
        return True
    expect_fake_redis_failure(attack, password="not-the-password")


def resp_unsolicited_flood():
    """Replies pour in, far more than commands were sent: the decision
    is an error, the connection is dropped, memory stays bounded."""
    def attack(conn, args):
        conn.flood(b"+flood\r\n" * 512, limit=64 << 20)
        return False
    expect_fake_redis_failure(attack, flood=True)


def resp_reply_to_a_command_never_sent():
    """Each command is answered properly plus one reply nobody asked for:
    the answered decision stands (200 on both routes), the extra reply
    ends that connection without harm, and the worker serves on."""
    def attack(conn, args):
        conn.send(b":1\r\n:999999\r\n")
        return True
    away_from_hour_edge()
    with RawPeer(fake_redis(attack)) as peer, Upstream() as up, \
            Nginx(SERVER, manifests(peer.port), up) as ngx:
        for path in ("/closed/x", "/open/x", "/closed/x", "/open/x"):
            r = request(ngx.port, "GET", path)
            check(r.status == 200, "%s: expected 200 (the reply to its own "
                  "INCRBY is a count of 1), got %d" % (path, r.status))
            check(up.hits and up.requests[-1]["path"] == path,
                  "%s did not reach the upstream" % path)
            time.sleep(0.3)  # past any reconnect backoff
        peer.recovered.set()
        expect_recovered(ngx)


CASES = {f.__name__: f for f in [
    redis_killed_mid_run_then_restarted,
    redis_stopped_decision_timeout_is_honoured_then_recovers,
    redis_stalled_briefly_under_load_keeps_its_connection,
    redis_out_of_memory_is_a_failure,
    redis_restarted_counts_start_over_and_the_limit_holds,
    resp_error_replies,
    resp_wrong_type_bulk_string_reply,
    resp_wrong_type_status_and_nil_replies,
    resp_truncated_reply_then_close,
    resp_truncated_reply_then_hang,
    resp_not_resp_at_all,
    resp_huge_array_length,
    resp_deeply_nested_arrays,
    resp_noscript_forever_with_rolling,
    resp_auth_refused,
    resp_unsolicited_flood,
    resp_reply_to_a_command_never_sent,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
