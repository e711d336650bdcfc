#!/usr/bin/python3
"""bench/nginx/headers.py - the cost of one header operation of the nginx
module, as the number of headers a plugin sets grows.

    /usr/bin/python3 bench/nginx/headers.py BUILDDIR

BUILDDIR is a meson build dir configured with -Dnginx=enabled -Dtests=true
and built (nothing is built here): it uses the module, the probe test
plugin (tests/support/probe, `set_many_*_headers`) and the nginx test
harness (tests/nginx/harness.py), with one worker.

For N = 1,000, 10,000 and 40,000 it times one request whose plugin sets N
distinct headers, on each side:

  request   the probe sets N request headers, then answers 204 itself
            (no upstream: the time is nginx's and the module's)
  response  the probe sets N response headers on the upstream's small
            answer, which the client reads whole from a raw socket

and prints the time per header in microseconds (best of REPEAT runs, up
to ten times more for small N, after subtracting the same request with
N = 0) and the ratio between the
per-header cost at N = 40,000 and at N = 1,000: an operation that costs
O(1) gives about 1, one that walks every header O(N). PASS when the ratio
is at most 2, MISS otherwise. An authz answer with 40,000 headers took
6.6 s of the worker when each set walked the whole list.

Also printed: the same ratio between the two largest N. On a machine with
a small CPU cache (1 MB here) 1,000 headers fit in it and 10,000 do not,
so the per-header cost steps up once between them (cache misses and fresh
pool pages, not a longer walk) and is flat after: that second ratio is
the one that shows whether the cost still grows with N.

Environment: REPEAT (5), SIZES (1000,10000,40000: the first and the last
give the ratio), NGINX (/usr/sbin/nginx).
"""

import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "tests", "nginx"))

SIZES = tuple(int(n) for n in os.environ.get(
    "SIZES", "1000,10000,40000").split(","))
TARGET_RATIO = 2.0


def setup_env(builddir):
    module = os.path.join(builddir, "host", "nginx", "ngx_http_gwf_module.so")
    probe_dir = os.path.join(builddir, "tests", "support", "probe")
    for path in (module, os.path.join(probe_dir, "probe.so")):
        if not os.path.exists(path):
            sys.exit("headers.py: %s is missing; build %s with "
                     "-Dnginx=enabled -Dtests=true first" % (path, builddir))
    os.environ["GWF_NGINX_MODULE"] = module
    os.environ["GWF_PLUGIN_DIRS"] = probe_dir
    os.environ.setdefault("GWF_NGINX_ASAN", "0")
    if "NGINX" in os.environ:
        os.environ["GWF_NGINX_BIN"] = os.environ["NGINX"]


def timed_request(port, path):
    """Seconds from sending a request to reading its whole answer (the
    server closes the connection), and the answer's status line."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: bench\r\n"
                  b"Connection: close\r\n\r\n" % path.encode())
        chunks = []
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            chunks.append(data)
    elapsed = time.monotonic() - start
    head = b"".join(chunks).split(b"\r\n", 1)[0].decode("latin-1")
    return elapsed, head


def manifests():
    from harness import probe
    docs = []
    for n in (0,) + SIZES:
        many = {"prefix": "x-many-", "count": n}
        docs.append(probe("req%d" % n, {
            "tag": "Q%d" % n, "set_many_request_headers": many,
            "actions": {"request_headers": "reply:204"}}))
        docs.append(probe("resp%d" % n, {
            "tag": "S%d" % n, "set_many_response_headers": many}))
    return {"p.yaml": docs}


def locations():
    locs = []
    for n in (0,) + SIZES:
        for side in ("req", "resp"):
            locs.append("location /%s%d { gwf_extension default/%s%d; "
                        "proxy_pass http://{UP}; }" % (side, n, side, n))
    return "\n".join(locs)


def runs(repeat, n):
    """Runs for one N: REPEAT for the largest, up to 10x for small ones."""
    return repeat * max(1, min(10, SIZES[-1] // (4 * max(n, 1))))


def best(port, path, repeat, expect):
    times = []
    for _ in range(repeat):
        elapsed, head = timed_request(port, path)
        if expect not in head:
            sys.exit("headers.py: %s answered %r, expected %s"
                     % (path, head, expect))
        times.append(elapsed)
    return min(times)


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    setup_env(os.path.abspath(argv[1]))
    from harness import Nginx, Upstream
    repeat = int(os.environ.get("REPEAT", "5"))
    with Upstream() as up, Nginx(locations(), manifests(), up) as ngx:
        ok = True
        for side, expect in (("req", " 204"), ("resp", " 200")):
            # A warm-up at the largest N first: the worker's heap has then
            # grown once, and no N pays for the pages of its first use.
            best(ngx.port, "/%s%d" % (side, SIZES[-1]), 1, expect)
            # Small N differ from N = 0 by a fraction of a millisecond:
            # more runs for them, so that the best of each is the cost.
            base = best(ngx.port, "/%s0" % side, runs(repeat, 0), expect)
            per = {}
            for n in SIZES:
                t = best(ngx.port, "/%s%d" % (side, n), runs(repeat, n),
                         expect)
                per[n] = max(t - base, 0.0) / n * 1e6
                print("%-8s N=%6d  %9.1f ms  %7.3f us/header"
                      % ("request" if side == "req" else "response", n,
                         t * 1e3, per[n]))
            if len(SIZES) > 2 and per[SIZES[-2]]:
                # Both out of the CPU's cache: what is left is the growth.
                growth = per[SIZES[-1]] / per[SIZES[-2]]
                print("%-8s per-header cost N=%d / N=%d: %.2fx"
                      % ("request" if side == "req" else "response",
                         SIZES[-1], SIZES[-2], growth))
            ratio = per[SIZES[-1]] / per[SIZES[0]] if per[SIZES[0]] else 0
            verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
            ok = ok and verdict == "PASS"
            print("%-8s per-header cost N=%d / N=%d: %.2fx (target <= %.0fx)"
                  " %s" % ("request" if side == "req" else "response",
                           SIZES[-1], SIZES[0], ratio, TARGET_RATIO, verdict))
        ngx.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
