"""harness.py - run the system nginx with the gwf module for one test.

Standard library only; run with Debian's /usr/bin/python3.

    with Upstream() as up, Nginx(locations=..., manifests=...) as ngx:
        resp = request(ngx.port, "GET", "/x")

Environment (meson sets it, see meson.build):

    GWF_NGINX_MODULE    the module under test (ngx_http_gwf_module.so)
    GWF_PLUGIN_DIRS     ':'-separated plugin directories (direct_response,
                        probe): the value of gwf_plugin_path
    GWF_NGINX_BIN       the nginx binary (default /usr/sbin/nginx)
    GWF_NGINX_ASAN=1    the module is built with -Dsanitize=true: nginx is
                        run with the ASan runtime in LD_PRELOAD (and
                        ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:...),
                        and any AddressSanitizer / UndefinedBehaviorSanitizer
                        report fails the test
    GWF_NGINX_ASAN_LIB  that runtime (default: gcc -print-file-name=libasan.so)
    GWF_NGINX_KEEP=1    keep the temporary prefix (printed) for debugging

Every wait is bounded: nothing here can hang a test past its deadline.
"""

import glob
import http.client
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

NGINX_BIN = os.environ.get("GWF_NGINX_BIN", "/usr/sbin/nginx")
HTTP_TIMEOUT = 10.0       # one client request
START_TIMEOUT = 10.0      # nginx listening
STOP_TIMEOUT = 10.0       # QUIT before KILL
COMMAND_TIMEOUT = 20.0    # nginx -t, nginx -s reload

# Lines of the error log (or nginx's stderr) that fail any test.
FATAL_PATTERNS = [
    re.compile(r"\[alert\]"),
    re.compile(r"\[crit\]"),
    re.compile(r"\[emerg\]"),
    re.compile(r"signal 11"),
    re.compile(r"exited on signal"),
]
SANITIZER_PATTERNS = [
    re.compile(r"AddressSanitizer"),
    re.compile(r"UndefinedBehaviorSanitizer"),
    re.compile(r"runtime error:"),
    re.compile(r"LeakSanitizer"),
]


class TestFailure(Exception):
    """A check failed: the message says what was expected and seen."""


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def env_required(name):
    value = os.environ.get(name)
    if not value:
        raise TestFailure(
            "%s is not set (run through `meson test --suite nginx`)" % name)
    return value


def asan_enabled():
    return os.environ.get("GWF_NGINX_ASAN") == "1"


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A loopback TCP port nothing uses right now, for a server started
    next (nginx). It is taken below the ephemeral range: a port the
    kernel gave out for bind(0) is also where every outgoing connection
    (ours, nginx's to its peers, the other tests') takes its local port,
    so between this check and nginx's bind one of them could hold it and
    nginx would log "bind() ... failed (98: Address already in use)"."""
    hi = _ephemeral_low() - 1
    lo = 10000 if hi > 11000 else 1024
    for _ in range(200):
        port = random.randint(lo, hi)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise TestFailure("no free loopback port below %d" % (hi + 1))


def wait_for(pred, timeout, interval=0.02):
    """Poll pred() until it returns something true; that value, or None."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def read_text(path):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def tail(text, n=60):
    lines = text.splitlines()
    return "\n".join(lines[-n:])


# ---------------------------------------------------------------------------
# The upstream: a small echo server in a thread
# ---------------------------------------------------------------------------

class _EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gwf-test-upstream"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet
        pass

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers up to the empty line
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        body = self._read_body()
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        record = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("latin-1"),
            "body_len": len(body),
        }
        self.server.owner._record(record)
        if url.path.endswith("/slow"):
            ms = int(query.get("ms", ["500"])[0])
            time.sleep(ms / 1000.0)
        if url.path.endswith("/big"):
            n = int(query.get("n", ["100000"])[0])
            pattern = b"0123456789abcdef"
            data = (pattern * (n // len(pattern) + 1))[:n]
            self._send(200, data, "application/octet-stream")
            return
        extra = [("X-Upstream", "echo"), ("X-Drop-Me", "upstream-value")]
        self._send(200, json.dumps(record).encode(), extra=extra)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: when many paused requests
    # resume at once (a reload with 50 in flight), the kernel drops the
    # SYNs beyond it and retries them 1 s, 3 s ... later, long enough
    # under ASan for nginx's worker_shutdown_timeout to cut a request.
    request_queue_size = 128


class Upstream:
    """An HTTP echo server on a free loopback port.

    GET/POST/... anything: 200, a JSON body {method, path, headers: [[name,
    value]...], body, body_len} and the headers X-Upstream: echo and
    X-Drop-Me: upstream-value. .../slow?ms=N waits N ms first; .../big?n=N
    answers N bytes of application/octet-stream instead.
    Every request is recorded in .requests.
    """

    def __init__(self):
        self.requests = []
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _EchoHandler)
        self.server.owner = self
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
            daemon=True)

    def _record(self, rec):
        with self._lock:
            self.requests.append(rec)

    @property
    def hits(self):
        with self._lock:
            return len(self.requests)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def echo_header(record, name):
    """The value of a header in an echo record (first match), or None."""
    for k, v in record["headers"]:
        if k.lower() == name.lower():
            return v
    return None


# ---------------------------------------------------------------------------
# Manifests
# ---------------------------------------------------------------------------

API = "gateway.kgateway.dev/v1alpha1"


def direct_response(name, status, body=None, headers=None, content_type=None,
                    namespace="default"):
    spec = {"status": status}
    if body is not None:
        spec["body"] = body
    if headers is not None:
        spec["headers"] = headers
    if content_type is not None:
        spec["contentType"] = content_type
    return {"apiVersion": API, "kind": "DirectResponse",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def probe(name, config, namespace="default"):
    """A GatewayExtension of the probe test plugin (tests/support/probe)."""
    return {"apiVersion": API, "kind": "GatewayExtension",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"plugin": {"name": "probe", "config": config}}}


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers          # list of (name, value)
        self.body = body                # bytes
        self.elapsed = elapsed          # seconds

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise TestFailure("expected the upstream's JSON echo, got %d: %r"
                              % (self.status, self.body[:300]))

    def __repr__(self):
        return "<%d %r %r>" % (self.status, self.headers, self.body[:200])


def request(port, method="GET", path="/", body=None, headers=None,
            timeout=HTTP_TIMEOUT, chunked=False):
    """One request on its own connection (so workers can differ).
    chunked=True sends `body` (bytes or an iterable of bytes) with
    Transfer-Encoding: chunked, one chunk per item."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.monotonic()
    headers = dict(headers or {})
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
        if isinstance(body, bytes):
            body = [body]
    try:
        conn.request(method, path, body=body, headers=headers,
                     encode_chunked=chunked)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.getheaders(), data,
                        time.monotonic() - start)
    except (OSError, http.client.HTTPException) as e:
        raise TestFailure("%s %s on port %d failed after %.2fs: %s: %s"
                          % (method, path, port, time.monotonic() - start,
                             type(e).__name__, e))
    finally:
        conn.close()


class Background:
    """Run request() in a thread; .result() waits (bounded) for it."""

    def __init__(self, *args, **kwargs):
        self._out = None
        self._err = None
        self._thread = threading.Thread(target=self._run, args=args,
                                        kwargs=kwargs, daemon=True)
        self._thread.start()

    def _run(self, *args, **kwargs):
        try:
            self._out = request(*args, **kwargs)
        except Exception as e:  # reported by result()
            self._err = e

    def done(self):
        """Whether the request has ended (answered or failed)."""
        return not self._thread.is_alive()

    def result(self, timeout=HTTP_TIMEOUT + 5):
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TestFailure("background request did not finish in %.0fs"
                              % timeout)
        if self._err:
            raise self._err
        return self._out


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------

def parse_metrics(text):
    """Prometheus text -> {series: value}, series as printed
    (e.g. 'gwf_streams_total{instance="/p"}')."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        try:
            out[series] = float(value)
        except ValueError:
            continue
    return out


def metric(metrics, name, **labels):
    """Sum of the series of `name` whose labels include `labels`."""
    total = 0.0
    found = False
    for series, value in metrics.items():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$", series)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                               m.group(2) or ""))
        if all(have.get(k) == str(v) for k, v in labels.items()):
            total += value
            found = True
    return total if found else None


# ---------------------------------------------------------------------------
# nginx
# ---------------------------------------------------------------------------

class Nginx:
    """One nginx (master + workers) in a temporary prefix.

    locations: the text of the server block (locations and all); "{UP}" is
    replaced with the upstream's address (127.0.0.1:port).
    manifests: {file name: document or list of documents or raw text}
    written into <prefix>/manifests/, which gwf_manifests names.
    http_extra: more http-level directives (gwf_max_pause ..., another
    server block).
    In both texts "{PREFIX}" is replaced with the temporary prefix (where
    a case puts the files a location serves, before start()).
    """

    def __init__(self, locations, manifests=None, upstream=None, workers=1,
                 http_extra="", reuseport=False, allowed_errors=()):
        self.module = env_required("GWF_NGINX_MODULE")
        self.plugin_dirs = env_required("GWF_PLUGIN_DIRS")
        check(os.path.isfile(self.module),
              "module %s does not exist (build it first)" % self.module)
        check(os.path.isfile(NGINX_BIN), "%s is not installed" % NGINX_BIN)
        self.prefix = tempfile.mkdtemp(prefix="gwf-nginx-")
        # Workers may run as another user (root starts them as nobody):
        # they need to reach the temp paths below the prefix.
        os.chmod(self.prefix, 0o755)
        # Sanitizer reports are written by the workers themselves: a
        # directory they can write to as any user (sticky, like /tmp).
        self.report_dir = os.path.join(self.prefix, "reports")
        os.makedirs(self.report_dir)
        os.chmod(self.report_dir, 0o1777)
        self.manifest_dir = os.path.join(self.prefix, "manifests")
        os.makedirs(self.manifest_dir)
        self.conf = os.path.join(self.prefix, "nginx.conf")
        self.error_log = os.path.join(self.prefix, "error.log")
        self.access_log = os.path.join(self.prefix, "access.log")
        self.stderr_path = os.path.join(self.prefix, "stderr.log")
        self.pid_file = os.path.join(self.prefix, "nginx.pid")
        self.locations = locations
        self.upstream = upstream
        self.workers = workers
        self.http_extra = http_extra
        self.reuseport = reuseport
        # Regexes of [emerg]/[alert] lines the test expects (e.g. a failed
        # reload); any other such line still fails the test.
        self.allowed_errors = [re.compile(p) for p in allowed_errors]
        self.port = None
        self.proc = None
        self._stderr = None
        self._log_checked_upto = 0
        for name, docs in (manifests or {}).items():
            self.write_manifest(name, docs)

    # -- files -------------------------------------------------------------

    def write_manifest(self, name, docs):
        path = os.path.join(self.manifest_dir, name)
        if isinstance(docs, str):
            text = docs
        else:
            if isinstance(docs, dict):
                docs = [docs]
            # JSON is YAML: one flow document per '---' section.
            text = "".join("---\n" + json.dumps(d, indent=1) + "\n"
                           for d in docs)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)  # never a half-written file for a reload
        return path

    def remove_manifest(self, name):
        os.unlink(os.path.join(self.manifest_dir, name))

    def config_text(self):
        up = "127.0.0.1:%d" % self.upstream.port if self.upstream else \
            "127.0.0.1:9"
        p = self.prefix
        server = self.locations.replace("{UP}", up).replace("{PREFIX}", p)
        extra = self.http_extra.replace("{UP}", up).replace("{PREFIX}", p)
        return """\
load_module {module};
worker_processes {workers};
daemon off;
master_process on;
pid {p}/nginx.pid;
error_log {p}/error.log info;
worker_shutdown_timeout 5s;

events {{
    worker_connections 512;
}}

http {{
    log_format gwf_test '$pid $remote_addr "$request" $status $body_bytes_sent $request_time';
    access_log {p}/access.log gwf_test;
    client_body_temp_path {p}/client_body_temp;
    proxy_temp_path {p}/proxy_temp;
    fastcgi_temp_path {p}/fastcgi_temp;
    uwsgi_temp_path {p}/uwsgi_temp;
    scgi_temp_path {p}/scgi_temp;
    proxy_connect_timeout 5s;
    proxy_read_timeout 10s;
    proxy_set_header X-Worker-Pid $pid;
    keepalive_timeout 5s;

    gwf_manifests {p}/manifests;
    gwf_plugin_path {plugins};
{extra}
    server {{
        listen 127.0.0.1:{port}{reuseport};
        server_name localhost;
{server}
    }}
}}
""".format(module=self.module, workers=self.workers, p=p,
           plugins=self.plugin_dirs, extra=extra, port=self.port,
           reuseport=" reuseport" if self.reuseport else "", server=server)

    def write_conf(self):
        with open(self.conf, "w") as f:
            f.write(self.config_text())

    # -- processes ---------------------------------------------------------

    def env(self):
        env = dict(os.environ)
        if asan_enabled():
            lib = os.environ.get("GWF_NGINX_ASAN_LIB") or subprocess.run(
                ["gcc", "-print-file-name=libasan.so"], capture_output=True,
                text=True, timeout=10).stdout.strip()
            check(lib and os.path.isabs(lib) and os.path.exists(lib),
                  "GWF_NGINX_ASAN=1 but the ASan runtime was not found "
                  "(got %r; set GWF_NGINX_ASAN_LIB)" % lib)
            env["LD_PRELOAD"] = lib
            # Leaks in nginx itself (it never frees its cycle) would drown
            # LSan; our leak check is the gwf gauges.
            env["ASAN_OPTIONS"] = ("detect_leaks=0:abort_on_error=1:"
                                   "detect_stack_use_after_return=1:"
                                   "log_path=%s/asan" % self.report_dir)
            env["UBSAN_OPTIONS"] = ("print_stacktrace=1:halt_on_error=1:"
                                    "log_path=%s/ubsan" % self.report_dir)
        return env

    def command(self, *args, timeout=COMMAND_TIMEOUT):
        """Run `nginx -p prefix -e error.log -c conf ARGS` (nginx -t,
        -s reload ...); returns CompletedProcess with text stdout/stderr."""
        cmd = [NGINX_BIN, "-p", self.prefix + "/", "-e", self.error_log,
               "-c", self.conf] + list(args)
        try:
            return subprocess.run(cmd, capture_output=True, text=True,
                                  env=self.env(), timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s did not finish in %.0fs" % (cmd, timeout))

    def test_config(self):
        """nginx -t on the config as written (the port is set first)."""
        if self.port is None:
            self.port = free_port()
        self.write_conf()
        return self.command("-t")

    def start(self):
        for attempt in range(3):
            self.port = free_port()
            self.write_conf()
            self._stderr = open(self.stderr_path, "ab")
            self.proc = subprocess.Popen(
                [NGINX_BIN, "-p", self.prefix + "/", "-e", self.error_log,
                 "-c", self.conf],
                stdin=subprocess.DEVNULL, stdout=self._stderr,
                stderr=self._stderr, env=self.env(), start_new_session=True)
            up = wait_for(self._listening, START_TIMEOUT)
            if up and attempt < 2 and self._bind_refused():
                # Somebody held the port at nginx's first bind: whatever
                # answered may not be nginx. Another port, clean logs.
                self._kill()
                self._stderr.close()
                for path in (self.stderr_path, self.error_log):
                    open(path, "w").close()
                continue
            if up:
                # The master listens before it forks its workers: wait
                # for them too, so tests that count workers see them all
                # (a worker that dies at start is reported by stop()).
                wait_for(lambda: self.proc.poll() is not None or
                         len(self.worker_pids()) >= self.workers,
                         START_TIMEOUT)
                return self
            rc = self.proc.poll()
            text = read_text(self.stderr_path) + read_text(self.error_log)
            if rc is not None and "Address already in use" in text \
                    and attempt < 2:
                self._stderr.close()
                continue  # somebody took the port meanwhile: another one
            self._kill()
            raise TestFailure(
                "nginx did not start listening on port %d in %.0fs "
                "(exit status %s)\n--- stderr:\n%s\n--- error.log:\n%s"
                % (self.port, START_TIMEOUT, rc,
                   tail(read_text(self.stderr_path)),
                   tail(read_text(self.error_log))))
        raise TestFailure("no free port for nginx")

    def _bind_refused(self):
        return "failed (98: Address already in use)" in \
            read_text(self.error_log) + read_text(self.stderr_path)

    def _listening(self):
        if self.proc.poll() is not None:
            return True  # exited: start() reports it
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.2):
                return True
        except OSError:
            return False

    def master_pid(self):
        return self.proc.pid

    def worker_pids(self):
        """The master's children (its workers), from /proc."""
        pids = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(stat.split("/")[2]))
        return sorted(pids)

    def reload(self):
        """`nginx -s reload`; returns the CompletedProcess."""
        return self.command("-s", "reload")

    def wait_reloaded(self, old_workers, timeout=10.0):
        """Wait until the workers are all new ones (none of old_workers)."""
        def fresh():
            now = self.worker_pids()
            return len(now) >= self.workers and \
                not set(now) & set(old_workers)
        check(wait_for(fresh, timeout),
              "nginx did not replace its workers %s within %.0fs (now %s)"
              "\n--- error.log:\n%s" % (old_workers, timeout,
                                          self.worker_pids(),
                                          tail(self.log())))

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def stop(self):
        """QUIT (graceful), then KILL after STOP_TIMEOUT; returns whether
        the graceful stop worked."""
        if not self.proc:
            return True
        graceful = True
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGQUIT)
            except OSError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                graceful = False
                self._kill()
        # Workers left behind (the master died first): kill the group.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        if self._stderr:
            self._stderr.close()
            self._stderr = None
        return graceful

    # -- logs --------------------------------------------------------------

    def log(self):
        return read_text(self.error_log)

    def access(self):
        return read_text(self.access_log)

    def wait_log(self, pattern, timeout=5.0, count=1):
        """Wait until the error log matches `pattern` (a regex) `count`
        times; returns the matches."""
        rx = re.compile(pattern)

        def found():
            m = rx.findall(self.log())
            return m if len(m) >= count else None
        got = wait_for(found, timeout)
        check(got, "the error log does not show /%s/ (x%d) within %.0fs"
              "\n--- error.log:\n%s" % (pattern, count, timeout,
                                          tail(self.log())))
        return got

    def problems(self):
        """Fatal lines in the error log and stderr, and sanitizer reports."""
        found = []
        sources = [("error.log", self.log()),
                   ("stderr", read_text(self.stderr_path))]
        for path in sorted(
                glob.glob(os.path.join(self.report_dir, "asan*")) +
                glob.glob(os.path.join(self.report_dir, "ubsan*"))):
            sources.append((os.path.basename(path), read_text(path)))
        for name, text in sources:
            is_report = name.startswith(("asan", "ubsan"))
            for line in text.splitlines():
                if any(p.search(line) for p in SANITIZER_PATTERNS) or \
                        (is_report and line.strip()):
                    found.append("%s: %s" % (name, line))
                    continue
                if any(p.search(line) for p in FATAL_PATTERNS) and \
                        not any(p.search(line) for p in self.allowed_errors):
                    found.append("%s: %s" % (name, line))
        return found

    def sanitizer_reports(self):
        return [p for p in self.problems()
                if p.startswith(("asan", "ubsan")) or
                any(s.search(p) for s in SANITIZER_PATTERNS)]

    def discard(self):
        """Remove the prefix of an nginx that never served (the nginx -t
        cases, whose [emerg] lines are expected); still fails on a
        sanitizer report."""
        reports = self.sanitizer_reports()
        if os.environ.get("GWF_NGINX_KEEP") == "1" or reports:
            sys.stdout.write("nginx prefix: %s\n" % self.prefix)
        else:
            shutil.rmtree(self.prefix, ignore_errors=True)
        if reports:
            raise TestFailure("sanitizer reports:\n" + "\n".join(reports))

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup(check_logs=False)
            raise

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.cleanup(check_logs=True)
            return False
        problems = self.cleanup(check_logs=False)
        if problems and isinstance(exc, TestFailure):
            # A crashed worker or a sanitizer report explains the failure
            # better than its symptom (a reset, a timeout, a lost gauge).
            raise TestFailure("nginx logged problems:\n%s\n--- and then: %s"
                              % ("\n".join(problems), exc)) from None
        return False

    def cleanup(self, check_logs=True):
        """Stop nginx; with check_logs, fail on problems in the logs (and
        remove the prefix when there are none); returns the problems."""
        graceful = self.stop()
        problems = self.problems()
        keep = os.environ.get("GWF_NGINX_KEEP") == "1"
        failed = check_logs and (problems or not graceful)
        if keep or failed or not check_logs:
            # Show where to look when anything went wrong.
            sys.stdout.write("nginx prefix: %s\n" % self.prefix)
        if not check_logs:
            # The test already failed: show the log to explain it.
            sys.stdout.write("--- error.log (tail):\n%s\n"
                             % tail(self.log(), 80))
            if problems:
                sys.stdout.write("--- problems:\n%s\n" % "\n".join(problems))
        if not keep and not failed and check_logs:
            shutil.rmtree(self.prefix, ignore_errors=True)
        if failed:
            msg = []
            if not graceful:
                msg.append("nginx did not stop within %.0fs of SIGQUIT "
                           "(killed)" % STOP_TIMEOUT)
            if problems:
                msg.append("the logs show problems:\n" + "\n".join(problems))
            msg.append("--- error.log (tail):\n" + tail(self.log(), 80))
            raise TestFailure("\n".join(msg))
        return problems


def run_case(cases, argv):
    """main() of a test script: run the case named argv[1]."""
    if len(argv) != 2 or argv[1] not in cases:
        sys.stderr.write("usage: %s CASE\ncases:\n  %s\n"
                         % (argv[0], "\n  ".join(sorted(cases))))
        return 2
    name = argv[1]
    try:
        cases[name]()
    except TestFailure as e:
        print("FAIL (%s): %s" % (name, e))
        return 1
    except Exception as e:  # a harness bug or an unexpected error
        import traceback
        traceback.print_exc(file=sys.stdout)
        print("FAIL (%s): %s: %s" % (name, type(e).__name__, e))
        return 1
    print("PASS (%s)" % name)
    return 0
