#!/usr/bin/python3
"""test_gateway_run.py - the commands: `gwf gateway run` (serve, follow
the files, stop) and `gwf gateway render`'s own options and report.

    /usr/bin/python3 test_gateway_run.py [CASE]

`gwf gateway run -f DIR -o OUT` renders the manifests, checks the result
with `nginx -t`, starts nginx and watches its inputs: on every change it
renders and checks again and reloads nginx; input that does not load, or
a config nginx refuses, never reaches the running nginx (the old one
keeps serving and the error names file and line). These cases run it as
an operator would, with the echo backends and manifests of harness.py,
and judge it from outside: what answers on the listener port, what it
printed, which processes are left.
"""

import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    Env, Table, TestFailure, backend_ref, check, expect_backend,
    expect_status, gateway, listener, parent, port_open, prefix, read_text,
    route, rule, run_cases, tail, to_yaml, wait_for)

V1, V2 = "infra-backend-v1", "infra-backend-v2"
RELOAD_DEADLINE = 2.0   # the brief: a change answers within ~2 s
GRACE = 1.0             # scheduling slack on a loaded machine


class Run:
    """`gwf gateway run` over an Env's manifest directory, in its own
    process group; its stdout and stderr go to <tmp>/run.out."""

    def __init__(self, env):
        self.env = env
        self.out_path = os.path.join(env.dir, "run.out")
        self.proc = None
        self._out = None

    def start(self):
        self.env.write()
        self._out = open(self.out_path, "ab")
        self.proc = subprocess.Popen(
            [self.env.exe, "gateway", "run"] + self.env.render_args() +
            (["--nginx", os.environ["GWF_NGINX_BIN"]]
             if os.environ.get("GWF_NGINX_BIN") else []),
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._out,
            env=self.env.nginx_env(), start_new_session=True)
        ports = self.env.listener_ports()

        # Ready when the nginx gwf started has written its pid and the
        # ports answer. The ports alone are not enough: `nginx -t`, which
        # gwf runs first, binds them for a moment (it ignores only
        # EADDRINUSE), and a connection queued there is reset when it
        # exits.
        def up():
            if self.proc.poll() is not None:
                return "exited"
            if not pid_alive(self.nginx_master()):
                return None
            return "up" if all(port_open(p) for p in ports) else None
        state = wait_for(up, 15.0)
        if state != "up":
            raise TestFailure("gwf gateway run did not serve %s (exit %s)\n"
                              "--- its output:\n%s"
                              % (ports, self.proc.poll(), self.output()))
        return self

    def output(self):
        return tail(read_text(self.out_path), 60)

    def nginx_master(self):
        """The pid nginx wrote (the pid directive of the rendered conf),
        or None."""
        return self.env.nginx_pid()

    def stop(self):
        """SIGTERM, then SIGKILL of the group after 10 s; the exit status
        (None if it had to be killed)."""
        if not self.proc:
            return 0
        rc = self.proc.poll()
        if rc is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                rc = None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        if self._out:
            self._out.close()
            self._out = None
        return rc


def pid_alive(pid):
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


class RunEnv(Env):
    """An Env whose nginx is the one `gwf gateway run` starts."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.run = Run(self)

    def cleanup(self, check_logs=True):
        master = None
        try:
            master = self.run.nginx_master()
        finally:
            self.run.stop()
        # An nginx that outlived gwf (a failure of its own) is ended by
        # the pid it wrote: this case started it, through gwf.
        if pid_alive(master):
            try:
                os.kill(master, signal.SIGKILL)
            except OSError:
                pass
        return super().cleanup(check_logs)


def write_extra(env, name, docs):
    """One more manifest file, written whole at once (rename)."""
    path = os.path.join(env.manifest_dir, name)
    tmp = os.path.join(env.dir, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write(docs if isinstance(docs, str) else to_yaml(docs))
    os.rename(tmp, path)
    return path


def wait_answer(env, path, pred, deadline):
    """Poll GET path until pred(response) holds; (response, seconds) or
    (last response, None) at the deadline."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < deadline:
        try:
            last = env.request(path)
            if pred(last):
                return last, time.monotonic() - start
        except TestFailure:
            pass
        time.sleep(0.05)
    return last, None


def base(env):
    env.add(route("first", [rule([prefix("/first")],
                                 [backend_ref(V1)])]))


# ---------------------------------------------------------------------------

def run_serves_the_rendered_routes():
    with RunEnv() as env:
        base(env)
        env.run.start()
        expect_backend(env.request("/first/x"), V1, path="/first/x")
        expect_status(env.request("/nothing-here"), 404)
        out = read_text(env.run.out_path)
        check("same-namespace" in out,
              "run printed no line for Gateway same-namespace:\n%s" % out)


def run_reloads_when_a_route_is_added():
    with RunEnv() as env:
        base(env)
        env.run.start()
        expect_status(env.request("/second"), 404)
        write_extra(env, "second.yaml", [route("second", [rule(
            [prefix("/second")], [backend_ref(V2)])])])
        r, took = wait_answer(env, "/second", lambda r: r.status == 200,
                              RELOAD_DEADLINE + GRACE)
        check(took is not None,
              "the new route did not answer within %.1fs (last: %r)\n"
              "--- run output:\n%s" % (RELOAD_DEADLINE + GRACE, r,
                                       env.run.output()))
        expect_backend(r, V2, path="/second")
        expect_backend(env.request("/first"), V1)


def run_reloads_when_a_file_changes_in_place():
    with RunEnv() as env:
        base(env)
        env.run.start()
        # The same route now sends /first to v2.
        env.remove_docs(lambda d: d.get("kind") == "HTTPRoute")
        env.add(route("first", [rule([prefix("/first")],
                                     [backend_ref(V2)])]))
        env.write()
        r, took = wait_answer(
            env, "/first",
            lambda r: r.status == 200 and r.json().get("backend") == V2,
            RELOAD_DEADLINE + GRACE)
        check(took is not None, "the changed route still answers %r after "
              "%.1fs\n--- run output:\n%s"
              % (r, RELOAD_DEADLINE + GRACE, env.run.output()))


def _directresponse(name, status, body):
    return {"apiVersion": "gateway.kgateway.dev/v1alpha1",
            "kind": "DirectResponse",
            "metadata": {"name": name, "namespace": "gateway-conformance-"
                                                     "infra"},
            "spec": {"status": status, "body": body}}


def run_follows_policy_changes_and_fails_closed_on_one_it_cannot_honour():
    """A TrafficPolicy added while running attaches (here: a DirectResponse
    named by an ExtensionRef filter starts answering); one given a field
    gwf lacks (transformation) makes its rule answer 500 after the reload,
    while the other routes keep serving and nginx never refuses the
    configuration."""
    with RunEnv() as env:
        ns = "gateway-conformance-infra"
        env.add(route("first", [rule([prefix("/first")],
                                     [backend_ref(V1)], name="a")]))
        env.add(route("tea", [rule([prefix("/tea")], filters=[{
            "type": "ExtensionRef", "extensionRef": {
                "group": "gateway.kgateway.dev", "kind": "DirectResponse",
                "name": "teapot"}}])]))
        env.run.start()
        expect_status(env.request("/tea"), 500)   # no DirectResponse yet
        write_extra(env, "dr.yaml", [_directresponse("teapot", 418, "tea")])
        r, took = wait_answer(env, "/tea", lambda r: r.status == 418,
                              RELOAD_DEADLINE + GRACE)
        check(took is not None, "the DirectResponse did not answer within "
              "%.1fs (last: %r)\n--- run output:\n%s"
              % (RELOAD_DEADLINE + GRACE, r, env.run.output()))
        write_extra(env, "tp.yaml", [{
            "apiVersion": "gateway.kgateway.dev/v1alpha1",
            "kind": "TrafficPolicy",
            "metadata": {"name": "tf", "namespace": ns},
            "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io",
                                     "kind": "HTTPRoute", "name": "first",
                                     "sectionName": "a"}],
                     "transformation": {"request": {}}}}])
        r, took = wait_answer(env, "/first", lambda r: r.status == 500,
                              RELOAD_DEADLINE + GRACE)
        check(took is not None, "the rule a transformation policy targets "
              "still "
              "answers %r\n--- run output:\n%s" % (r, env.run.output()))
        expect_status(env.request("/tea"), 418)


def run_keeps_serving_on_a_yaml_error_and_names_file_and_line():
    with RunEnv() as env:
        # `nginx -t` on refused input may log [emerg]: expected here.
        env.allowed_errors = [r"\[emerg\]"]
        base(env)
        env.run.start()
        bad = ("---\napiVersion: gateway.networking.k8s.io/v1\n"
               "kind: HTTPRoute\nmetadata:\n  name: broken\n"
               "  namespace: gateway-conformance-infra\n"
               "spec:\n  rules: [ {\n")       # unterminated flow: line 8
        write_extra(env, "broken.yaml", bad)
        seen = wait_for(lambda: "broken.yaml" in read_text(env.run.out_path),
                        RELOAD_DEADLINE + GRACE)
        out = read_text(env.run.out_path)
        check(seen, "run printed nothing naming broken.yaml:\n%s" % out)
        check(re.search(r"broken\.yaml:\d+", out) or
              re.search(r"broken\.yaml.*line \d+", out),
              "the error names no line of broken.yaml:\n%s" % out)
        expect_backend(env.request("/first"), V1)
        check(env.run.proc.poll() is None,
              "gwf gateway run exited on bad input:\n%s" % out)
        # Fixed again: the next change is taken.
        os.unlink(os.path.join(env.manifest_dir, "broken.yaml"))
        write_extra(env, "second.yaml", [route("second", [rule(
            [prefix("/second")], [backend_ref(V2)])])])
        r, took = wait_answer(env, "/second", lambda r: r.status == 200,
                              RELOAD_DEADLINE + GRACE)
        check(took is not None, "after the fix /second answers %r\n%s"
              % (r, env.run.output()))


def run_keeps_serving_when_a_regex_does_not_compile():
    with RunEnv() as env:
        env.allowed_errors = [r"\[emerg\]"]
        base(env)
        env.run.start()
        write_extra(env, "regex.yaml", [route("bad-regex", [rule(
            [{"path": {"type": "RegularExpression", "value": "/a(["}}],
            [backend_ref(V2)])])])
        seen = wait_for(lambda: "regex.yaml" in read_text(env.run.out_path)
                        or "bad-regex" in read_text(env.run.out_path),
                        RELOAD_DEADLINE + GRACE)
        out = read_text(env.run.out_path)
        check(seen, "run printed nothing about the bad regex:\n%s" % out)
        expect_backend(env.request("/first"), V1)
        check(env.run.proc.poll() is None,
              "gwf gateway run exited on a bad regex:\n%s" % out)


def run_stops_nginx_on_sigterm():
    with RunEnv() as env:
        base(env)
        env.run.start()
        expect_backend(env.request("/first"), V1)
        master = env.run.nginx_master()
        check(pid_alive(master), "no nginx master found from the pid file "
              "(%r)" % master)
        port = env.port(80)
        os.kill(env.run.proc.pid, signal.SIGTERM)
        try:
            rc = env.run.proc.wait(10)
        except subprocess.TimeoutExpired:
            raise TestFailure("gwf gateway run did not exit within 10s of "
                              "SIGTERM:\n%s" % env.run.output())
        check(rc in (0, 143), "gwf gateway run exited %s on SIGTERM:\n%s"
              % (rc, env.run.output()))
        check(wait_for(lambda: not pid_alive(master), 5.0),
              "nginx master %d still runs after gwf exited" % master)
        check(not port_open(port), "port %d still answers" % port)


# ---------------------------------------------------------------------------
# render's own options and report

def render_prints_one_line_per_gateway():
    """render says what it did: one line per Gateway, naming it."""
    with Env() as env:
        env.add(gateway("second-gateway", [listener("http", 8080)]))
        base(env)
        env.add(route("refused", [rule(backends=[backend_ref(V1)])],
                      parents=[parent("second-gateway", port=81)]))
        p = env.render()
        lines = p.stdout.splitlines() + p.stderr.splitlines()
        t = Table()
        for gw in ("same-namespace", "second-gateway"):
            def one(gw=gw):
                mine = [ln for ln in lines
                        if re.search(r"(^|[/ ])%s\b" % re.escape(gw), ln)]
                check(len(mine) == 1, "lines naming Gateway %s: %r (all "
                      "output: %r)" % (gw, mine, lines))
                check(re.search(r"\d", mine[0]),
                      "the line of %s gives no counts: %r" % (gw, mine[0]))
            t.run(gw, one)
        t.done()


def render_gateway_class_option_selects_the_gateways_served():
    with Env(base_gateway=False) as env:
        env.add(gateway("ours", [listener("http", 80)], cls="gwf"))
        env.add(gateway("special", [listener("http", 8080)],
                        cls="special-class"))
        env.add(route("to-ours", [rule(backends=[backend_ref(V1)])],
                      parents=[parent("ours")]))
        env.add(route("to-special", [rule(backends=[backend_ref(V2)])],
                      parents=[parent("special")]))
        env.render_extra = ["--gateway-class", "special-class"]
        env.gateway_classes = ["special-class"]
        env.start()
        expect_backend(env.request("/", port=8080), V2)
        try:
            r = env.request("/", port=80)
        except TestFailure:
            r = None
        check(r is None, "the Gateway of class gwf was served too: %r" % r)


def render_http_include_goes_inside_an_operators_http_block():
    """--http-include writes out/gateway.conf; an operator's own nginx.conf
    loads the module, includes it in http {} beside its own server, and
    both serve."""
    with Env() as env:
        base(env)
        env.render_extra = ["--http-include"]
        env.render()
        include = os.path.join(env.out, "gateway.conf")
        check(os.path.isfile(include), "render --http-include wrote no %s "
              "(out/ has %s)" % (include, sorted(os.listdir(env.out))))
        own_port = env.port(9999)
        out = env.out
        with open(env.conf_path(), "w") as f:
            f.write("""load_module %s;
pid %s/own.pid;
error_log %s/own-error.log info;
events { worker_connections 256; }
http {
    access_log %s/own-access.log;
    client_body_temp_path %s/cb;
    proxy_temp_path %s/pt;
    fastcgi_temp_path %s/ft;
    uwsgi_temp_path %s/ut;
    scgi_temp_path %s/st;
    server {
        listen 127.0.0.1:%d;
        location / { return 200 "operator's own\n"; }
    }
    include %s;
}
""" % ((env.module,) + (out,) * 8 + (own_port, include)))
        env.launch(env.listener_ports() + [own_port])
        expect_backend(env.request("/first"), V1)
        r = env.request("/", port=9999)
        check(r.status == 200 and r.body == b"operator's own\n",
              "the operator's own server answered %r" % r)


def render_refuses_bad_input_naming_file_line_and_field():
    """A manifest that does not load: render exits non-zero, names the
    file, line and field, and writes no nginx.conf."""
    with Env() as env:
        base(env)
        env.files["bad.yaml"] = (
            "---\napiVersion: gateway.networking.k8s.io/v1\n"
            "kind: HTTPRoute\nmetadata:\n  name: bad-port\n"
            "  namespace: gateway-conformance-infra\nspec:\n"
            "  parentRefs:\n  - name: same-namespace\n  rules:\n"
            "  - backendRefs:\n    - name: infra-backend-v1\n"
            "      port: not-a-number\n")        # line 13
        p = env.render(expect_ok=False)
        out = p.stdout + p.stderr
        check(p.returncode != 0, "render exited 0 on bad input:\n%s" % out)
        check(re.search(r"bad\.yaml:13\b", out),
              "the error does not name bad.yaml:13:\n%s" % out)
        check("bad-port" in out, "the error does not name the document "
              "(HTTPRoute bad-port):\n%s" % out)
        check(re.search(r"backendRefs.*\bport\b", out),
              "the error does not name the field (backendRefs[].port):\n%s"
              % out)
        check(not os.path.exists(env.conf_path()),
              "render wrote %s despite the error" % env.conf_path())


CASES = {f.__name__: f for f in [
    run_follows_policy_changes_and_fails_closed_on_one_it_cannot_honour,
    run_serves_the_rendered_routes,
    run_reloads_when_a_route_is_added,
    run_reloads_when_a_file_changes_in_place,
    run_keeps_serving_on_a_yaml_error_and_names_file_and_line,
    run_keeps_serving_when_a_regex_does_not_compile,
    run_stops_nginx_on_sigterm,
    render_prints_one_line_per_gateway,
    render_gateway_class_option_selects_the_gateways_served,
    render_http_include_goes_inside_an_operators_http_block,
    render_refuses_bad_input_naming_file_line_and_field,
]}

if __name__ == "__main__":
    sys.exit(run_cases(CASES, sys.argv))
