#!/usr/bin/python3
"""bench/ext_authz/timeouts.py - a worker with 10,000 checks timing out
must keep serving its other requests.

    /usr/bin/python3 bench/ext_authz/timeouts.py BUILDDIR

BUILDDIR is a meson build dir configured with -Dnginx=enabled and built
(nothing is built here). One nginx, one worker, serves:

  /check/N  gwf_policy of a TrafficPolicy whose extAuth (HTTP mode) asks
            an authz server that accepts every connection and never
            answers (a child process holding the sockets): each request
            is a check paused until requestTimeout, then a 403;
  /probe    a DirectResponse on the same worker.

A load client opens CHECKS connections at once, one check each; a probe
client (its own process, one kept-alive connection) asks /probe every
PROBE_MS and times each answer. The figure is the probe's p99 while the
checks time out (from the first 403 to the last), against a target of
50 ms, printed beside the probe's p99 on the idle worker before the load.
With bookkeeping that costs O(checks) per check (a list walked for each
closed socket), the timeouts stall the worker for seconds.

Also printed: the worker's CPU time from the first timeout to the last,
a figure that the machine's other load does not change (the p99 is, on a
shared machine: the probe and the worker wait for a core too). nginx
runs on the last core at nice -10, the clients on the others, the probe
with SCHED_FIFO (each when allowed), so that the p99 is the worker's.

Environment: CHECKS (10000), TIMEOUT (requestTimeout, "10s": longer than
the load's ramp, so that all the checks are in flight when the first times
out), PROBE_MS (2), NGINX (/usr/sbin/nginx), KEEP_TMP=1. Every wait is
bounded; the run takes about 25 s. The descriptors: the worker holds one per client connection
plus two per authz connection (the socket and the watched duplicate,
gwf/sdk_curl.h), at most 256 authz connections per worker (ext_authz's
EA_MAX_ACTIVE_CALLS); the hard RLIMIT_NOFILE must allow that.
"""

import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TARGET_P99_MS = 50.0
CHECKS = int(os.environ.get("CHECKS", "10000"))
TIMEOUT = os.environ.get("TIMEOUT", "10s")
PROBE_MS = float(os.environ.get("PROBE_MS", "2"))
# Popped, not read: nginx takes an environment variable NGINX for the
# sockets of a binary upgrade and logs an [emerg] for anything else.
NGINX = os.environ.pop("NGINX", "/usr/sbin/nginx")
API = "gateway.kgateway.dev/v1alpha1"

# The authz server: accepts everything, keeps it, never reads or answers.
SINK = r"""
import os, resource, selectors, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
lsn = socket.socket()
lsn.bind(("127.0.0.1", 0))
lsn.listen(4096)
lsn.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(lsn, selectors.EVENT_READ)
sel.register(sys.stdin, selectors.EVENT_READ)
print("PORT %d" % lsn.getsockname()[1], flush=True)
held = []
while True:
    for key, _ in sel.select():
        if key.fileobj is sys.stdin:
            os._exit(0)
        try:
            while True:
                conn, _ = lsn.accept()
                held.append(conn)
        except (BlockingIOError, OSError):
            pass
"""

# The probe: GET /probe on one kept-alive connection every PROBE_MS
# until stdin closes; prints [[start, seconds], ...] as JSON.
PROBE = r"""
import json, os, select, socket, sys, time
port, interval = int(sys.argv[1]), float(sys.argv[2]) / 1000.0
try:  # wake at once: time the worker, not this machine's run queue
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
except OSError:
    pass
req = b"GET /probe HTTP/1.1\r\nHost: bench\r\n\r\n"
out = []
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
print("READY", flush=True)
while not select.select([sys.stdin], [], [], 0)[0]:
    start = time.monotonic()
    s.sendall(req)
    got = b""
    while not (b"\r\n\r\n" in got and got.endswith(b"ok\n")):
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("nginx closed the probe's connection")
        got += chunk
    out.append([start, time.monotonic() - start])
    time.sleep(max(0.0, interval - (time.monotonic() - start)))
print(json.dumps(out), flush=True)
"""


def die(msg):
    sys.stderr.write("bench/ext_authz/timeouts: %s\n" % msg)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_child(code, *args):
    proc = subprocess.Popen([sys.executable, "-c", code] + list(args),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    if not line:
        die("a helper process did not start")
    return proc, line.split()


def manifests(authz_port):
    docs = [
        {"apiVersion": API, "kind": "Backend", "metadata": {"name": "authz"},
         "spec": {"static": {"hosts": [{"host": "127.0.0.1",
                                        "port": authz_port}]}}},
        {"apiVersion": API, "kind": "GatewayExtension",
         "metadata": {"name": "authz"},
         "spec": {"extAuth": {"httpService": {
             "backendRef": {"name": "authz"}, "requestTimeout": TIMEOUT}}}},
        {"apiVersion": API, "kind": "TrafficPolicy",
         "metadata": {"name": "api"},
         "spec": {"extAuth": {"extensionRef": {"name": "authz"}}}},
        {"apiVersion": API, "kind": "DirectResponse",
         "metadata": {"name": "probe"},
         "spec": {"status": 200, "body": "ok\n"}},
    ]
    return "".join("---\n" + json.dumps(d) + "\n" for d in docs)


def nginx_conf(tmp, builddir, port, nofile):
    plugins = ":".join(os.path.join(builddir, "plugins", p)
                       for p in ("ext_authz", "direct_response"))
    return """\
load_module {b}/host/nginx/ngx_http_gwf_module.so;
worker_processes 1;
worker_rlimit_nofile {nofile};
daemon off;
master_process on;
pid {t}/nginx.pid;
error_log {t}/error.log warn;
events {{ worker_connections {conns}; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    client_body_temp_path {t}/tmp;
    proxy_temp_path {t}/tmp;
    fastcgi_temp_path {t}/tmp;
    uwsgi_temp_path {t}/tmp;
    scgi_temp_path {t}/tmp;
    gwf_manifests {t}/manifests;
    gwf_plugin_path {plugins};
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location /check/ {{ gwf_policy default/api;
                           proxy_pass http://127.0.0.1:9; }}
        location = /probe {{ gwf_direct_response probe; }}
    }}
}}
""".format(b=builddir, t=tmp, nofile=nofile, conns=nofile - 64,
           plugins=plugins, port=port)


def pin_and_raise(cores):
    """nginx's place: its own core, ahead of other work on a shared
    machine (nice -10, when allowed), so that its stalls are its own."""
    os.sched_setaffinity(0, cores)
    try:
        os.nice(-10)
    except OSError:
        pass


def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def worker_pid(master):
    """The nginx master's one child, from /proc."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            return int(entry)
    return None


def cpu_seconds(pid):
    """utime + stime of `pid`, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class WorkerCpu:
    """The worker's CPU time at the first and at the last answer."""

    def __init__(self, pid):
        self.pid, self.first, self.last = pid, None, None

    def answered(self, count):
        if count == 1:
            self.first = cpu_seconds(self.pid)
        elif count == CHECKS:
            self.last = cpu_seconds(self.pid)


async def one_check(port, i, sent, done, sem, cpu):
    async with sem:  # bound the connects in flight (SYN queue)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /check/%d HTTP/1.1\r\nHost: bench\r\n"
                 b"Connection: close\r\n\r\n" % i)
    await writer.drain()
    sent.append(time.monotonic())
    data = await reader.read()
    writer.close()
    done.append((time.monotonic(), data[9:12]))
    cpu.answered(len(done))


async def load(port, deadline_s, cpu):
    """CHECKS checks at once; (send times, [(answer time, status)],
    client errors, unfinished)."""
    sent, done, sem = [], [], asyncio.Semaphore(512)
    tasks = [asyncio.ensure_future(one_check(port, i, sent, done, sem, cpu))
             for i in range(CHECKS)]
    _, pending = await asyncio.wait(tasks, timeout=deadline_s)
    for t in pending:
        t.cancel()
    errors = sum(1 for t in tasks if t.done() and not t.cancelled() and
                 t.exception() is not None)
    return sent, done, errors, len(pending)


def p99(values):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))]


def probe_run(port, seconds):
    proc, _ = start_child(PROBE, str(port), str(PROBE_MS))
    time.sleep(seconds)
    out, _ = proc.communicate(b"", timeout=30)
    return probe_samples(out)


def probe_samples(out):
    lines = out.decode().strip().splitlines()
    if not lines or not lines[-1].startswith("["):
        die("the probe failed: %r" % out[-300:])
    return json.loads(lines[-1])


def main():
    if len(sys.argv) != 2:
        die("usage: timeouts.py BUILDDIR")
    builddir = os.path.abspath(sys.argv[1])
    for f in ("host/nginx/ngx_http_gwf_module.so",
              "plugins/ext_authz/ext_authz.so",
              "plugins/direct_response/direct_response.so"):
        if not os.path.isfile(os.path.join(builddir, f)):
            die("%s is missing in %s" % (f, builddir))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = CHECKS + 2 * 256 + 200
    if hard < need:
        die("RLIMIT_NOFILE hard limit %d < %d needed for CHECKS=%d"
            % (hard, need, CHECKS))

    tmp = tempfile.mkdtemp(prefix="gwf-bench-timeouts-")
    os.makedirs(os.path.join(tmp, "manifests"))
    os.makedirs(os.path.join(tmp, "tmp"))
    sink, words = start_child(SINK)
    authz_port = int(words[1])
    port = free_port()
    with open(os.path.join(tmp, "manifests", "bench.yaml"), "w") as f:
        f.write(manifests(authz_port))
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write(nginx_conf(tmp, builddir, port, min(hard, 20000)))
    # nginx alone on the last core, the clients on the others (as
    # bench/lib.sh's bench_pin_cores), when there are two or more.
    cores = sorted(os.sched_getaffinity(0))
    nginx_cores = set(cores[-1:])
    if len(cores) >= 2:
        os.sched_setaffinity(0, set(cores[:-1]))
    ngx = subprocess.Popen([NGINX, "-p", tmp + "/", "-e",
                            os.path.join(tmp, "error.log"), "-c",
                            os.path.join(tmp, "nginx.conf")],
                           stdin=subprocess.DEVNULL, start_new_session=True,
                           preexec_fn=lambda: pin_and_raise(nginx_cores))
    verdict = 1
    try:
        if not wait_listening(port, ngx):
            die("nginx did not start (see %s/error.log)" % tmp)
        idle = [lat for _, lat in probe_run(port, 2.0)]

        probe, _ = start_child(PROBE, str(port), str(PROBE_MS))
        t0 = time.monotonic()
        timeout_s = float(TIMEOUT.rstrip("ms")) / (1000 if TIMEOUT.endswith(
            "ms") else 1)
        cpu = WorkerCpu(worker_pid(ngx.pid))
        sent, done, errors, unfinished = asyncio.run(
            load(port, timeout_s + 20, cpu))
        time.sleep(0.5)
        out, _ = probe.communicate(b"", timeout=30)
        samples = probe_samples(out)

        statuses = {}
        for _, st in done:
            statuses[st.decode("latin-1")] = statuses.get(
                st.decode("latin-1"), 0) + 1
        if not done:
            die("no check finished")
        first = min(t for t, _ in done)
        last = max(t for t, _ in done)
        window = [lat for start, lat in samples
                  if first - 0.05 <= start <= last]
        worst = max(window) if window else float("nan")
        figure = p99(window) * 1000
        print("bench/ext_authz/timeouts: %d checks (requestTimeout %s), "
              "answers %s, client errors %d, unfinished %d"
              % (CHECKS, TIMEOUT, json.dumps(statuses, sort_keys=True),
                 errors, unfinished))
        print("  %d checks in flight when the first timed out; they timed "
              "out over %.2f s, from %.1f s after the start"
              % (sum(1 for t in sent if t < first), last - first,
                 first - t0))
        print("  probe p99 on the idle worker       %7.2f ms (%d samples)"
              % (p99(idle) * 1000, len(idle)))
        print("  probe p99 while the checks time out %7.2f ms (%d samples, "
              "max %.2f ms)" % (figure, len(window), worst * 1000))
        if cpu.first is not None and cpu.last is not None:
            print("  the worker's CPU time meanwhile      %7.0f ms (%.0f us "
                  "per check)" % ((cpu.last - cpu.first) * 1000,
                                  (cpu.last - cpu.first) * 1e6 / CHECKS))
        ok = statuses.get("403", 0) == CHECKS and figure < TARGET_P99_MS
        print("  target: p99 < %.0f ms with every check answered 403: %s"
              % (TARGET_P99_MS, "PASS" if ok else "MISS"))
        verdict = 0 if ok else 1
    finally:
        try:
            os.killpg(ngx.pid, signal.SIGQUIT)
            ngx.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(ngx.pid, signal.SIGKILL)
        sink.stdin.close()
        sink.wait(10)
        with open(os.path.join(tmp, "error.log")) as f:
            bad = [line for line in f
                   if "[alert]" in line or "[crit]" in line or
                   "[emerg]" in line or "exited on signal" in line]
        if bad:
            print("  nginx logged problems:\n  " + "  ".join(bad[:10]))
            verdict = 1
        if os.environ.get("KEEP_TMP") == "1" or bad:
            print("  nginx prefix: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return verdict


if __name__ == "__main__":
    sys.exit(main())
