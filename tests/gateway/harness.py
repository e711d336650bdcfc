"""harness.py - Gateway API manifests → `gwf gateway render` → real nginx.

Standard library only; run with Debian's /usr/bin/python3.

    with Env() as env:                      # echo backends v1, v2, v3 ...
        env.add(route("r", [rule(backends=[backend_ref("infra-backend-v1")])]))
        env.start()                         # write, render, start nginx
        r = env.request("/x", host="example.com")
        expect_backend(r, "infra-backend-v1")

What a case gets:

  - echo backends (echo_backend.py) on free loopback ports, each the only
    endpoint of a Service: a `Service` (port 8080, name "http",
    targetPort the backend's real port) and an `EndpointSlice`
    (addressType IPv4, address 127.0.0.1, port "http" = the real port,
    ready), as kube-proxy would map them;
  - the conformance suite's namespaces (with their labels) and its
    Gateway `same-namespace` (one HTTP listener "http" on port 80,
    routes From Same) unless the case says otherwise;
  - listener ports as the case writes them (80, 8080, 443 ...) are
    logical: every Gateway listener port and every parentRef port is
    mapped to a free loopback port before the files are written
    (env.port(80) is the real one), so cases read like the conformance
    tests they come from;
  - the manifests written as block YAML the way kubectl writes it (a
    small emitter below: plain scalars where they read back as the same
    string, double quotes elsewhere) into <tmp>/manifests/, then
    `gwf gateway render -f <tmp>/manifests -o <tmp>/out --address 127.0.0.1
    --module $GWF_NGINX_MODULE`, then `nginx -p <tmp>/out/ -c
    <tmp>/out/nginx.conf` in the foreground (-g "daemon off;" unless the
    config says), waited for on every HTTP/HTTPS listener port;
  - nginx counts as started once it wrote its pid file (every port is
    bound by then) and the ports answer; a port somebody took meanwhile
    ("Address already in use") means new ports and another try;
  - at the end nginx gets SIGQUIT, and every *.log under <tmp>/out and
    nginx's stderr are read: "exited on signal", "signal 11", [alert],
    [emerg] or a sanitizer report fails the case.

Environment (meson sets it, tests/gateway/meson.build):

    GWF_EXE             the gwf command under test
    GWF_NGINX_MODULE    ngx_http_gwf_module.so, given to render as --module
    GWF_NGINX_TEST_DIR  tests/nginx (its harness.py is reused: nginx binary,
                        ASan, log patterns, Response)
    GWF_PLUGIN_DIRS     when set, given to render/run/status as --plugin-path
    GWF_NGINX_BIN, GWF_NGINX_ASAN, GWF_NGINX_ASAN_LIB  as tests/nginx
                        (GWF_NGINX_BIN also goes to `gwf gateway run` as
                        --nginx)
    GWF_GATEWAY_KEEP=1  keep the temporary directory (printed)

Every wait is bounded.
"""

import base64
import glob
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import echo_backend  # noqa: E402


def _load_nginx_harness():
    """tests/nginx/harness.py under another name (this file is harness.py
    too)."""
    d = os.environ.get("GWF_NGINX_TEST_DIR") or \
        os.path.join(os.path.dirname(_HERE), "nginx")
    spec = importlib.util.spec_from_file_location(
        "nginx_harness", os.path.join(d, "harness.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


nh = _load_nginx_harness()
TestFailure = nh.TestFailure
check = nh.check
free_port = nh.free_port
wait_for = nh.wait_for
read_text = nh.read_text
tail = nh.tail
Response = nh.Response

HTTP_TIMEOUT = 10.0
RENDER_TIMEOUT = 30.0

NS = "gateway-conformance-infra"
WEB_NS = "gateway-conformance-web-backend"
APP_NS = "gateway-conformance-app-backend"
GATEWAY_CLASS = "gwf"
GW_API = "gateway.networking.k8s.io/v1"
GW_GROUP = "gateway.networking.k8s.io"

# The conformance suite's backends: name → namespace.
DEFAULT_BACKENDS = [
    ("infra-backend-v1", NS),
    ("infra-backend-v2", NS),
    ("infra-backend-v3", NS),
    ("web-backend", WEB_NS),
    ("app-backend-v1", APP_NS),
    ("app-backend-v2", APP_NS),
]

# Log lines that fail any case (the brief: a crash or a sanitizer report;
# [emerg]/[alert] would be a config nginx refused or a worker lost).
FATAL_PATTERNS = [re.compile(p) for p in (
    r"exited on signal", r"signal 11", r"\[alert\]", r"\[emerg\]")]


class Skip(Exception):
    """The case cannot run here (a missing tool); counted as skipped."""


# ---------------------------------------------------------------------------
# YAML: a small block-style emitter (JSON-quoted strings are valid YAML)
# ---------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./\-]*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}


def _scalar(v):
    """A scalar as kubectl writes it: plain when that reads back as the
    same string, else double-quoted (JSON quoting is valid YAML)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _RESERVED:
        return s
    return json.dumps(s)


def _empty(v):
    return "{}" if isinstance(v, dict) else "[]"


def _yaml_lines(v, indent):
    """Block YAML lines of v at indent; lists under a key are written at
    the key's indent, as kubectl does."""
    pad = " " * indent
    out = []
    if isinstance(v, dict):
        if not v:
            return [pad + "{}"]
        for k, item in v.items():
            key = _scalar(k)
            if isinstance(item, dict) and item:
                out.append("%s%s:" % (pad, key))
                out.extend(_yaml_lines(item, indent + 2))
            elif isinstance(item, list) and item:
                out.append("%s%s:" % (pad, key))
                out.extend(_yaml_lines(item, indent))
            elif isinstance(item, (dict, list)):
                out.append("%s%s: %s" % (pad, key, _empty(item)))
            else:
                out.append("%s%s: %s" % (pad, key, _scalar(item)))
        return out
    if isinstance(v, list):
        if not v:
            return [pad + "[]"]
        for item in v:
            if isinstance(item, (dict, list)) and item:
                sub = _yaml_lines(item, indent + 2)
                out.append(pad + "- " + sub[0][indent + 2:])
                out.extend(sub[1:])
            elif isinstance(item, (dict, list)):
                out.append(pad + "- " + _empty(item))
            else:
                out.append(pad + "- " + _scalar(item))
        return out
    return [pad + _scalar(v)]


def to_yaml(docs):
    """Multi-document block YAML of a list of documents."""
    return "".join("---\n" + "\n".join(_yaml_lines(d, 0)) + "\n"
                   for d in docs)


# ---------------------------------------------------------------------------
# Manifests
# ---------------------------------------------------------------------------

def meta(name, ns=NS, **extra):
    m = {"name": name, "namespace": ns}
    m.update(extra)
    return m


def namespace(name, labels):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels}}


def listener(name, port, protocol="HTTP", hostname=None, from_="Same",
             selector=None, kinds=None, certs=None):
    ln = {"name": name, "port": port, "protocol": protocol}
    if hostname is not None:
        ln["hostname"] = hostname
    ns = {"from": from_}
    if selector is not None:
        ns["selector"] = {"matchLabels": selector}
    ln["allowedRoutes"] = {"namespaces": ns}
    if kinds is not None:
        ln["allowedRoutes"]["kinds"] = [{"kind": k} for k in kinds]
    if certs is not None:
        ln["tls"] = {"mode": "Terminate", "certificateRefs": [
            {"group": "", "kind": "Secret", "name": c} for c in certs]}
    return ln


def gateway(name, listeners, ns=NS, cls=GATEWAY_CLASS):
    return {"apiVersion": GW_API, "kind": "Gateway",
            "metadata": meta(name, ns),
            "spec": {"gatewayClassName": cls, "listeners": listeners}}


def same_namespace_gateway():
    """The conformance suite's `same-namespace` Gateway."""
    return gateway("same-namespace", [listener("http", 80)])


def parent(name="same-namespace", ns=None, section=None, port=None):
    p = {"name": name}
    if ns is not None:
        p["namespace"] = ns
    if section is not None:
        p["sectionName"] = section
    if port is not None:
        p["port"] = port
    return p


def route(name, rules, parents=None, hostnames=None, ns=NS, kind="HTTPRoute",
          created=None):
    m = meta(name, ns)
    if created is not None:
        m["creationTimestamp"] = created
    spec = {"parentRefs": parents if parents is not None else [parent()]}
    if hostnames is not None:
        spec["hostnames"] = hostnames
    spec["rules"] = rules
    return {"apiVersion": GW_API, "kind": kind, "metadata": m, "spec": spec}


def rule(matches=None, backends=None, filters=None, name=None, timeouts=None,
         retry=None):
    r = {}
    if name is not None:
        r["name"] = name
    if matches is not None:
        r["matches"] = matches
    if filters is not None:
        r["filters"] = filters
    if backends is not None:
        r["backendRefs"] = backends
    if timeouts is not None:
        r["timeouts"] = timeouts
    if retry is not None:
        r["retry"] = retry
    return r


def match(path=None, type="PathPrefix", headers=None, query=None, method=None):
    """One HTTPRouteMatch. headers/query: {name: value} or
    [(name, value, "RegularExpression")...]."""
    m = {}
    if path is not None:
        m["path"] = {"type": type, "value": path}

    def kv(items):
        if isinstance(items, dict):
            items = list(items.items())
        out = []
        for it in items:
            d = {"name": it[0], "value": it[1]}
            if len(it) > 2:
                d["type"] = it[2]
            out.append(d)
        return out
    if headers is not None:
        m["headers"] = kv(headers)
    if query is not None:
        m["queryParams"] = kv(query)
    if method is not None:
        m["method"] = method
    return m


def prefix(path):
    return match(path)


def exact(path):
    return match(path, "Exact")


def backend_ref(name, port=8080, weight=None, ns=None, filters=None,
                kind=None, group=None):
    b = {"name": name}
    if group is not None:
        b["group"] = group
    if kind is not None:
        b["kind"] = kind
    if ns is not None:
        b["namespace"] = ns
    if port is not None:
        b["port"] = port
    if weight is not None:
        b["weight"] = weight
    if filters is not None:
        b["filters"] = filters
    return b


def header_filter(set=None, add=None, remove=None,
                  type="RequestHeaderModifier"):
    body = {}
    if set:
        body["set"] = [{"name": k, "value": v} for k, v in set]
    if add:
        body["add"] = [{"name": k, "value": v} for k, v in add]
    if remove:
        body["remove"] = list(remove)
    key = type[0].lower() + type[1:]
    return {"type": type, key: body}


def response_header_filter(set=None, add=None, remove=None):
    return header_filter(set, add, remove, "ResponseHeaderModifier")


def redirect_filter(scheme=None, hostname=None, port=None, status=None,
                    full=None, prefix=None):
    body = {}
    if scheme is not None:
        body["scheme"] = scheme
    if hostname is not None:
        body["hostname"] = hostname
    if port is not None:
        body["port"] = port
    if full is not None:
        body["path"] = {"type": "ReplaceFullPath", "replaceFullPath": full}
    if prefix is not None:
        body["path"] = {"type": "ReplacePrefixMatch",
                        "replacePrefixMatch": prefix}
    if status is not None:
        body["statusCode"] = status
    return {"type": "RequestRedirect", "requestRedirect": body}


def rewrite_filter(hostname=None, full=None, prefix=None):
    body = {}
    if hostname is not None:
        body["hostname"] = hostname
    if full is not None:
        body["path"] = {"type": "ReplaceFullPath", "replaceFullPath": full}
    if prefix is not None:
        body["path"] = {"type": "ReplacePrefixMatch",
                        "replacePrefixMatch": prefix}
    return {"type": "URLRewrite", "urlRewrite": body}


def mirror_filter(name, port=8080, percent=None, fraction=None, ns=None):
    body = {"backendRef": backend_ref(name, port, ns=ns)}
    if percent is not None:
        body["percent"] = percent
    if fraction is not None:
        body["fraction"] = {"numerator": fraction[0],
                            "denominator": fraction[1]}
    return {"type": "RequestMirror", "requestMirror": body}


def reference_grant(name, ns, from_ns, from_kind="HTTPRoute",
                    from_group=GW_GROUP, to_kind="Service", to_group="",
                    to_name=None):
    to = {"group": to_group, "kind": to_kind}
    if to_name is not None:
        to["name"] = to_name
    return {"apiVersion": "gateway.networking.k8s.io/v1beta1",
            "kind": "ReferenceGrant", "metadata": meta(name, ns),
            "spec": {"from": [{"group": from_group, "kind": from_kind,
                               "namespace": from_ns}],
                     "to": [to]}}


def tls_secret(name, cert_pem, key_pem, ns=NS):
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": meta(name, ns),
            "data": {"tls.crt": base64.b64encode(cert_pem).decode(),
                     "tls.key": base64.b64encode(key_pem).decode()}}


def service_docs(name, ns, real_port, addresses=("127.0.0.1",),
                 address_type="IPv4", ready=True, svc_port=8080,
                 port_name="http", app_protocol=None):
    """A Service and its EndpointSlice, as a cluster would hold them for a
    Deployment whose pods listen on real_port. port_name None: the
    Service's only port has no name (the slice's port then has name "")."""
    sport = {"protocol": "TCP", "port": svc_port, "targetPort": real_port}
    eport = {"name": port_name or "", "protocol": "TCP", "port": real_port}
    if port_name:
        sport = dict({"name": port_name}, **sport)
    if app_protocol:
        sport["appProtocol"] = app_protocol
        eport["appProtocol"] = app_protocol
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": meta(name, ns),
           "spec": {"type": "ClusterIP", "selector": {"app": name},
                    "ports": [sport]}}
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": meta(name + "-x7k2p", ns,
                            labels={"kubernetes.io/service-name": name}),
           "addressType": address_type,
           "ports": [eport],
           "endpoints": [{"addresses": [a],
                          "conditions": {"ready": ready, "serving": ready,
                                         "terminating": False}}
                         for a in addresses]}
    return [svc, eps]


def base_namespaces():
    return [namespace(NS, {"gateway-conformance": "infra"}),
            namespace(WEB_NS, {"gateway-conformance": "backend"}),
            namespace(APP_NS, {"gateway-conformance": "backend"})]


# ---------------------------------------------------------------------------
# Certificates (openssl at test time)
# ---------------------------------------------------------------------------

class Certs:
    """A test CA and server certificates it signs, made with openssl."""

    def __init__(self, directory):
        if not shutil.which("openssl"):
            raise Skip("openssl is not installed")
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_key = os.path.join(directory, "ca.key")
        self.ca_crt = os.path.join(directory, "ca.crt")
        self._run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                   "-nodes", "-keyout", self.ca_key, "-out", self.ca_crt,
                   "-days", "2", "-subj", "/CN=gwf test CA"])

    def _run(self, cmd):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise TestFailure("%s failed: %s" % (" ".join(cmd), p.stderr))

    def server(self, name, dns_names):
        """(cert_pem, key_pem) bytes for dns_names, signed by the CA."""
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        crt = os.path.join(self.dir, name + ".crt")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=" +
                    ",".join("DNS:" + d for d in dns_names) + "\n")
        self._run(["openssl", "req", "-newkey", "rsa:2048", "-nodes",
                   "-keyout", key, "-out", csr, "-subj",
                   "/CN=" + dns_names[0]])
        self._run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca_crt,
                   "-CAkey", self.ca_key, "-CAcreateserial", "-out", crt,
                   "-days", "2", "-extfile", ext])
        with open(crt, "rb") as f:
            cert = f.read()
        with open(key, "rb") as f:
            k = f.read()
        return cert, k

    def client_context(self):
        ctx = ssl.create_default_context(cafile=self.ca_crt)
        ctx.check_hostname = True
        return ctx


# ---------------------------------------------------------------------------
# The environment of one case
# ---------------------------------------------------------------------------

def port_open(port):
    """Whether something listens on 127.0.0.1:port. A connect that the
    kernel gave the same source port (a TCP self-connect, possible while
    nothing listens on an ephemeral-range port) does not count."""
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2) as s:
            return s.getsockname() != s.getpeername()
    except OSError:
        return False


def env_required(name):
    value = os.environ.get(name)
    if not value:
        raise TestFailure("%s is not set (run through `meson test --suite "
                          "gateway-nginx`)" % name)
    return value


class Env:
    """Echo backends, manifests, `gwf gateway render` output and one
    nginx: see the file's opening comment."""

    def __init__(self, backends=DEFAULT_BACKENDS, base_gateway=True):
        self.exe = env_required("GWF_EXE")
        self.module = env_required("GWF_NGINX_MODULE")
        check(os.path.isfile(self.exe), "gwf %s does not exist (build it)"
              % self.exe)
        check(os.path.isfile(self.module),
              "module %s does not exist (build it first)" % self.module)
        self.dir = tempfile.mkdtemp(prefix="gwf-gateway-")
        # nginx workers may run as another user: they must reach out/.
        os.chmod(self.dir, 0o755)
        self.manifest_dir = os.path.join(self.dir, "manifests")
        self.out = os.path.join(self.dir, "out")
        os.makedirs(self.manifest_dir)
        self.backends = {}
        self.docs = []
        self.infra = list(base_namespaces())
        self.ports = {}
        self.proc = None
        self._stderr = None
        self.allowed_errors = []
        self.render_result = None
        self.files = {}     # more manifest files: name → text
        self.render_extra = []
        self.gateway_classes = [GATEWAY_CLASS]  # those nginx must serve
        self._certs = None
        if base_gateway:
            self.docs.append(same_namespace_gateway())
        try:
            for name, ns in backends:
                self.add_backend(name, ns)
        except BaseException:
            self.cleanup(check_logs=False)
            raise

    # -- pieces ------------------------------------------------------------

    def add_backend(self, name, ns=NS, ipv6=False):
        be = echo_backend.EchoBackend(name, ns).start()
        self.backends[name] = be
        if ipv6:
            if not be.port6:
                raise Skip("no IPv6 loopback on this machine")
            self.infra.extend(service_docs(name, ns, be.port6,
                                           addresses=("::1",),
                                           address_type="IPv6"))
        else:
            self.infra.extend(service_docs(name, ns, be.port))
        return be

    def add_grpc_backend(self, name, ns=NS):
        """A gRPC echo (python3-grpcio) behind a Service whose only,
        unnamed port says appProtocol kubernetes.io/h2c, as the
        conformance suite's gRPC backends do."""
        if not echo_backend.grpc_available():
            raise Skip("python3-grpcio is not installed")
        be = echo_backend.GrpcEchoBackend(name, ns).start()
        self.backends[name] = be
        self.infra.extend(service_docs(name, ns, be.port, port_name=None,
                                       app_protocol="kubernetes.io/h2c"))
        return be

    def grpc_call(self, method, metadata=(), authority=None, port=80,
                  timeout=5.0):
        """One unary call of `method` ("/pkg.Service/Method") through the
        listener; (echo record, None) or (None, grpc.StatusCode)."""
        import grpc
        opts = [("grpc.enable_http_proxy", 0)]
        if authority:
            opts.append(("grpc.default_authority", authority))
        with grpc.insecure_channel("127.0.0.1:%d" % self.port(port),
                                   options=opts) as ch:
            try:
                reply = ch.unary_unary(method)(b"ping", metadata=metadata,
                                               timeout=timeout)
            except grpc.RpcError as e:
                return None, e.code()
        try:
            return json.loads(reply), None
        except ValueError:
            raise TestFailure("%s answered %r, not the gRPC echo"
                              % (method, reply[:200]))

    def add(self, *docs):
        for d in docs:
            if isinstance(d, list):
                self.docs.extend(d)
            else:
                self.docs.append(d)

    def remove_docs(self, pred):
        self.docs = [d for d in self.docs if not pred(d)]

    def certs(self):
        if self._certs is None:
            self._certs = Certs(os.path.join(self.dir, "certs"))
        return self._certs

    def port(self, logical):
        """The real loopback port standing for a port the manifests name."""
        if logical not in self.ports:
            taken = set(self.ports.values())
            while True:
                p = free_port()
                if p not in taken:
                    break
            self.ports[logical] = p
        return self.ports[logical]

    def _mapped(self, docs):
        """Copies of docs with Gateway listener ports and parentRef ports
        replaced by real ones."""
        out = json.loads(json.dumps(docs))
        for d in out:
            spec = d.get("spec") or {}
            if d.get("kind") == "Gateway":
                for ln in spec.get("listeners") or []:
                    if isinstance(ln.get("port"), int):
                        ln["port"] = self.port(ln["port"])
            if d.get("kind") in ("HTTPRoute", "GRPCRoute"):
                for p in spec.get("parentRefs") or []:
                    if isinstance(p.get("port"), int):
                        p["port"] = self.port(p["port"])
        return out

    def listener_ports(self):
        """Real ports of our class's HTTP/HTTPS listeners (those nginx
        must listen on)."""
        ports = set()
        for d in self.docs:
            if d.get("kind") != "Gateway" or \
                    d["spec"].get("gatewayClassName") not in \
                    self.gateway_classes:
                continue
            for ln in d["spec"].get("listeners") or []:
                if ln.get("protocol") in ("HTTP", "HTTPS"):
                    ports.add(self.port(ln["port"]))
        return sorted(ports)

    def write(self):
        """(Re)write the manifest files: infra.yaml (namespaces, Services,
        EndpointSlices), case.yaml (the case's documents, ports mapped)
        and .files as given."""
        texts = [("infra.yaml", to_yaml(self.infra)),
                 ("case.yaml", to_yaml(self._mapped(self.docs)))]
        texts += sorted(self.files.items())
        for name, text in texts:
            path = os.path.join(self.manifest_dir, name)
            tmp = os.path.join(self.dir, "." + name + ".tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.rename(tmp, path)

    # -- gwf ---------------------------------------------------------------

    def gwf(self, *args, timeout=RENDER_TIMEOUT):
        cmd = [self.exe] + list(args)
        try:
            return subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s did not finish in %.0fs" % (cmd, timeout))

    def render_args(self):
        """The options render and run get: these inputs and out/, the
        loopback address, the module under test, then .render_extra
        (e.g. --gateway-class)."""
        args = ["-f", self.manifest_dir, "-o", self.out,
                "--address", "127.0.0.1", "--module", self.module]
        if os.environ.get("GWF_PLUGIN_DIRS"):
            args += ["--plugin-path", os.environ["GWF_PLUGIN_DIRS"]]
        return args + list(self.render_extra)

    def render(self, expect_ok=True):
        """`gwf gateway render`; the CompletedProcess. With expect_ok a
        non-zero exit fails the case, naming what gwf printed."""
        self.write()
        p = self.gwf("gateway", "render", *self.render_args())
        self.render_result = p
        if expect_ok and p.returncode != 0:
            raise TestFailure("render failed (exit %d): %s%s"
                              % (p.returncode, p.stderr.strip()[-3000:],
                                 ("\nstdout: " + p.stdout.strip()[-1000:])
                                 if p.stdout.strip() else ""))
        return p

    def status(self):
        """`gwf gateway status -o json`: the list of objects it printed."""
        self.write()
        extra = []
        if os.environ.get("GWF_PLUGIN_DIRS"):
            extra = ["--plugin-path", os.environ["GWF_PLUGIN_DIRS"]]
        p = self.gwf("gateway", "status", "-f", self.manifest_dir,
                     "-o", "json", *extra)
        if p.returncode != 0:
            raise TestFailure("status failed (exit %d): %s"
                              % (p.returncode, p.stderr.strip()[-3000:]))
        return parse_status_output(p.stdout)

    # -- nginx -------------------------------------------------------------

    def conf_path(self):
        return os.path.join(self.out, "nginx.conf")

    def nginx_env(self):
        env = dict(os.environ)
        if nh.asan_enabled():
            lib = os.environ.get("GWF_NGINX_ASAN_LIB") or subprocess.run(
                ["gcc", "-print-file-name=libasan.so"], capture_output=True,
                text=True, timeout=10).stdout.strip()
            check(lib and os.path.exists(lib),
                  "GWF_NGINX_ASAN=1 but no ASan runtime (set "
                  "GWF_NGINX_ASAN_LIB)")
            reports = os.path.join(self.dir, "reports")
            os.makedirs(reports, exist_ok=True)
            os.chmod(reports, 0o1777)
            env["LD_PRELOAD"] = lib
            env["ASAN_OPTIONS"] = ("detect_leaks=0:abort_on_error=1:"
                                   "log_path=%s/asan" % reports)
            env["UBSAN_OPTIONS"] = ("print_stacktrace=1:halt_on_error=1:"
                                    "log_path=%s/ubsan" % reports)
        return env

    def nginx_cmd(self, *extra):
        conf = read_text(self.conf_path())
        cmd = [nh.NGINX_BIN, "-p", self.out + "/", "-c", self.conf_path(),
               "-e", os.path.join(self.out, "startup-error.log")]
        if not re.search(r"^\s*daemon\s", conf, re.M):
            cmd += ["-g", "daemon off;"]
        return cmd + list(extra)

    def nginx_test(self):
        """`nginx -t` on the rendered config."""
        return subprocess.run(self.nginx_cmd("-t"), capture_output=True,
                              text=True, timeout=30, env=self.nginx_env(),
                              stdin=subprocess.DEVNULL)

    def start(self, wait_ports=None):
        """Write, render, start nginx; wait for every listener port. A
        port taken by someone else meanwhile (nginx: "Address already in
        use") means new ports and another try, twice at most."""
        for attempt in range(3):
            self.render()
            try:
                return self.launch(wait_ports)
            except TestFailure:
                if attempt == 2 or "Address already in use" not in \
                        self.logs():
                    raise
            # Start afresh: other ports, no logs of the failed try.
            self.ports = {}
            shutil.rmtree(self.out, ignore_errors=True)
            try:
                os.unlink(os.path.join(self.dir, "nginx.stderr"))
            except OSError:
                pass
        raise TestFailure("no free ports for nginx")

    def launch(self, wait_ports=None):
        """Start nginx on out/nginx.conf as it is; wait for wait_ports
        (default: every listener port of the served Gateways)."""
        check(os.path.isfile(self.conf_path()),
              "render exited 0 but wrote no %s" % self.conf_path())
        if re.search(r"^\s*daemon\s+on\s*;", read_text(self.conf_path()),
                     re.M):
            raise TestFailure("the rendered nginx.conf says `daemon on;`: "
                              "the harness runs nginx in the foreground")
        # Workers (maybe "nobody") must reach the temp paths inside out/.
        for root, dirs, _ in os.walk(self.out):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        os.chmod(self.out, 0o755)
        self._stderr = open(os.path.join(self.dir, "nginx.stderr"), "ab")
        self.proc = subprocess.Popen(
            self.nginx_cmd(), stdin=subprocess.DEVNULL, stdout=self._stderr,
            stderr=self._stderr, env=self.nginx_env(), start_new_session=True)
        ports = self.listener_ports() if wait_ports is None else wait_ports
        has_pid = self.pid_path() is not None

        # Up when this nginx wrote its pid (it has bound every port by
        # then: a port that someone else holds would answer too) and the
        # ports answer.
        def up():
            if self.proc.poll() is not None:
                return "exited"
            if has_pid and self.nginx_pid() != self.proc.pid:
                return None
            return "up" if all(port_open(p) for p in ports) else None
        state = wait_for(up, 10.0)
        if state != "up":
            rc = self.proc.poll()
            self._kill()
            raise TestFailure(
                "nginx did not start listening on %s (exit status %s)\n"
                "--- stderr:\n%s\n--- logs:\n%s\n--- nginx.conf (head):\n%s"
                % (ports, rc, tail(read_text(os.path.join(
                    self.dir, "nginx.stderr"))), tail(self.logs()),
                   "\n".join(read_text(self.conf_path()).splitlines()[:80])))
        return self

    def pid_path(self):
        """The pid file the rendered conf names (relative to out/), or
        None when it names none."""
        conf = read_text(self.conf_path())
        m = re.search(r"^\s*pid\s+(\"[^\"]*\"|[^;\s]+)\s*;", conf, re.M)
        if not m:
            return None
        path = m.group(1).strip('"')
        return path if os.path.isabs(path) else os.path.join(self.out, path)

    def nginx_pid(self):
        """The pid in that file (the running master), or None."""
        path = self.pid_path()
        try:
            return int(read_text(path).strip() or "0") or None \
                if path else None
        except ValueError:
            return None

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

    def stop_nginx(self):
        """SIGQUIT, then SIGKILL after 10 s; whether it stopped gracefully."""
        if not self.proc:
            return True
        graceful = True
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGQUIT)
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                graceful = False
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        if self._stderr:
            self._stderr.close()
            self._stderr = None
        self.proc = None
        return graceful

    def reload(self):
        """Render again and `nginx -s reload`; waits until the old workers
        are gone."""
        self.render()
        old = self._workers()
        p = subprocess.run(self.nginx_cmd("-s", "reload"),
                           capture_output=True, text=True, timeout=30,
                           env=self.nginx_env(), stdin=subprocess.DEVNULL)
        check(p.returncode == 0, "nginx -s reload failed: %s" % p.stderr)
        check(wait_for(lambda: self._workers() and
                       not set(self._workers()) & set(old), 10.0),
              "nginx did not replace its workers after reload\n%s"
              % tail(self.logs()))

    def _workers(self):
        pids = []
        if not self.proc:
            return pids
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(stat.split("/")[2]))
        return pids

    # -- logs --------------------------------------------------------------

    def log_files(self):
        files = sorted(set(glob.glob(os.path.join(self.out, "**", "*.log"),
                                     recursive=True)))
        files.append(os.path.join(self.dir, "nginx.stderr"))
        files += sorted(glob.glob(os.path.join(self.dir, "reports", "*")))
        return files

    def logs(self):
        return "\n".join("== %s\n%s" % (os.path.relpath(f, self.dir),
                                        read_text(f))
                         for f in self.log_files() if os.path.exists(f))

    def problems(self):
        found = []
        for f in self.log_files():
            is_report = "/reports/" in f
            for line in read_text(f).splitlines():
                if is_report and line.strip():
                    found.append("%s: %s" % (os.path.basename(f), line))
                elif any(p.search(line) for p in nh.SANITIZER_PATTERNS):
                    found.append("%s: %s" % (os.path.basename(f), line))
                elif any(p.search(line) for p in FATAL_PATTERNS) and \
                        not any(re.search(a, line)
                                for a in self.allowed_errors):
                    found.append("%s: %s" % (os.path.basename(f), line))
        return found

    def cleanup(self, check_logs=True):
        graceful = self.stop_nginx()
        for be in self.backends.values():
            be.stop()
        self.backends = {}
        problems = self.problems()
        keep = os.environ.get("GWF_GATEWAY_KEEP") == "1"
        failed = check_logs and (problems or not graceful)
        if keep or failed or not check_logs:
            sys.stdout.write("test directory: %s\n" % self.dir)
        if not keep and not failed and check_logs:
            shutil.rmtree(self.dir, ignore_errors=True)
        if failed:
            msg = []
            if not graceful:
                msg.append("nginx did not stop within 10s of SIGQUIT")
            if problems:
                msg.append("the logs show problems:\n" + "\n".join(problems))
            raise TestFailure("\n".join(msg))
        return problems

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.cleanup(check_logs=True)
            return False
        problems = self.cleanup(check_logs=False)
        if problems and isinstance(exc, TestFailure):
            raise TestFailure("nginx logged problems:\n%s\n--- and then: %s"
                              % ("\n".join(problems), exc)) from None
        return False

    # -- requests ----------------------------------------------------------

    def request(self, path="/", host=None, method="GET", headers=None,
                port=80, body=None, tls=False, sni=None, timeout=HTTP_TIMEOUT):
        """One request on its own connection to the listener port the
        manifests call `port`. host: the Host header (default
        127.0.0.1:<real port>); a host without ':' gets no port, as a
        client on port 80 would send it. tls: HTTPS with the test CA,
        SNI = sni or the host without port."""
        real = self.port(port)
        if host is None:
            host = "127.0.0.1:%d" % real
        hdrs = [("Host", host)]
        for k, v in (headers.items() if isinstance(headers, dict)
                     else (headers or [])):
            hdrs.append((k, v))
        start = time.monotonic()
        try:
            if tls:
                ctx = self.certs().client_context()
                server_name = sni or host.rsplit(":", 1)[0] \
                    if not host.startswith("[") else sni
                raw = socket.create_connection(("127.0.0.1", real), timeout)
                sock = ctx.wrap_socket(raw, server_hostname=server_name)
                conn = http.client.HTTPConnection("127.0.0.1", real,
                                                  timeout=timeout)
                conn.sock = sock
            else:
                conn = http.client.HTTPConnection("127.0.0.1", real,
                                                  timeout=timeout)
            conn.putrequest(method, path, skip_host=True,
                            skip_accept_encoding=True)
            for k, v in hdrs:
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read() if method != "HEAD" else b""
            r = Response(resp.status, resp.getheaders(), data,
                         time.monotonic() - start)
        except (OSError, http.client.HTTPException, ssl.SSLError) as e:
            raise TestFailure("%s %s (Host %s) on port %d failed after "
                              "%.2fs: %s: %s"
                              % (method, path, host, real,
                                 time.monotonic() - start,
                                 type(e).__name__, e))
        finally:
            try:
                conn.close()
            except Exception:
                pass
        r.request = "%s %s Host: %s%s" % (method, path, host,
                                          " " + repr(dict(hdrs[1:]))
                                          if len(hdrs) > 1 else "")
        return r


def parse_status_output(text):
    """Objects from `gwf gateway status -o json`: a List (items), a JSON
    array, one object or several concatenated."""
    text = text.strip()
    objs = []
    dec = json.JSONDecoder()
    i = 0
    while i < len(text):
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i >= len(text):
            break
        try:
            v, i = dec.raw_decode(text, i)
        except ValueError as e:
            raise TestFailure("status -o json printed no JSON (%s): %r"
                              % (e, text[:500]))
        if isinstance(v, list):
            objs.extend(v)
        elif isinstance(v, dict) and isinstance(v.get("items"), list):
            objs.extend(v["items"])
        else:
            objs.append(v)
    return objs


def find_object(objs, kind, name, ns=NS):
    for o in objs:
        m = o.get("metadata") or {}
        if o.get("kind") == kind and m.get("name") == name and \
                m.get("namespace", ns) == ns:
            return o
    raise TestFailure("status has no %s %s/%s; it has: %s" % (
        kind, ns, name, [(o.get("kind"), (o.get("metadata") or {}).get(
            "name")) for o in objs]))


def condition(conds, type_):
    for c in conds or []:
        if c.get("type") == type_:
            return c
    return None


def expect_condition(conds, type_, status, reason=None, what=""):
    c = condition(conds, type_)
    check(c is not None, "%s: no %s condition in %s" % (what, type_, conds))
    want = "True" if status else "False"
    check(c.get("status") == want,
          "%s: %s is %s, expected %s (%s)" % (what, type_, c.get("status"),
                                              want, c))
    if reason is not None:
        check(c.get("reason") == reason,
              "%s: %s reason is %r, expected %r (%s)"
              % (what, type_, c.get("reason"), reason, c))
    return c


def route_parent_status(obj, gateway_name, ns=NS, section=None):
    """The status.parents[] entry of a route for one Gateway."""
    parents = ((obj.get("status") or {}).get("parents")) or []
    for p in parents:
        ref = p.get("parentRef") or {}
        if ref.get("name") == gateway_name and \
                ref.get("namespace", ns) == ns and \
                (section is None or ref.get("sectionName") == section):
            return p
    raise TestFailure("route %s has no status for parent %s/%s: %s"
                      % (obj["metadata"]["name"], ns, gateway_name, parents))


def listener_status(gw_obj, name):
    for ln in (gw_obj.get("status") or {}).get("listeners") or []:
        if ln.get("name") == name:
            return ln
    raise TestFailure("Gateway %s has no status for listener %s: %s"
                      % (gw_obj["metadata"]["name"], name,
                         gw_obj.get("status")))


# ---------------------------------------------------------------------------
# Expectations
# ---------------------------------------------------------------------------

def _echo(resp):
    try:
        return json.loads(resp.body)
    except ValueError:
        return None


def _joined(headers, name):
    """Values of a header in an echo record joined with ',', or None."""
    vals = []
    for k, v in headers.items():
        if k.lower() == name.lower():
            vals.extend(v)
    return ",".join(vals) if vals else None


def backend_problems(resp, backend, ns=NS, path=None, method=None, host=None,
                     headers=None, absent=(), resp_headers=None,
                     resp_absent=()):
    """What differs from "served by `backend` with this request"; [] if
    nothing. path: the request target the backend must see (None: not
    checked); headers: {name: joined value} it must see."""
    out = []
    if resp.status != 200:
        return ["status %d, expected 200 from %s; body %r"
                % (resp.status, backend, resp.body[:200])]
    rec = _echo(resp)
    if rec is None or "backend" not in rec:
        return ["body is not an echo: %r" % resp.body[:200]]
    if rec["backend"] != backend or rec["namespace"] != ns:
        out.append("served by %s/%s, expected %s/%s"
                   % (rec["namespace"], rec["backend"], ns, backend))
    if path is not None and rec["path"] != path:
        out.append("backend saw path %r, expected %r" % (rec["path"], path))
    if method is not None and rec["method"] != method:
        out.append("backend saw method %s, expected %s"
                   % (rec["method"], method))
    if host is not None and rec["host"] != host:
        out.append("backend saw Host %r, expected %r" % (rec["host"], host))
    for name, want in (headers or {}).items():
        got = _joined(rec["headers"], name)
        if got != want:
            out.append("backend saw %s: %r, expected %r" % (name, got, want))
    for name in absent:
        got = _joined(rec["headers"], name)
        if got is not None:
            out.append("backend saw %s: %r, expected none" % (name, got))
    for name, want in (resp_headers or {}).items():
        got = ",".join(resp.header_all(name)) or None
        if got != want:
            out.append("response %s: %r, expected %r" % (name, got, want))
    for name in resp_absent:
        got = resp.header_all(name)
        if got:
            out.append("response has %s: %r, expected none" % (name, got))
    return out


def expect_backend(resp, backend, ns=NS, **kw):
    probs = backend_problems(resp, backend, ns, **kw)
    check(not probs, "%s: %s" % (getattr(resp, "request", "?"),
                                 "; ".join(probs)))
    return _echo(resp)


def expect_status(resp, status):
    check(resp.status == status,
          "%s: status %d, expected %d; body %r"
          % (getattr(resp, "request", "?"), resp.status, status,
             resp.body[:200]))


DEFAULT_PORTS = {"http": 80, "https": 443}


def redirect_problems(resp, status, scheme, host, port, path):
    """Location must be scheme://host[:port]path: port None means the
    scheme's default, which may be written or left out."""
    if resp.status != status:
        return ["status %d, expected %d redirect; headers %r"
                % (resp.status, status, resp.headers)]
    loc = resp.header_all("location")
    if len(loc) != 1:
        return ["expected one Location, got %r" % loc]
    u = urllib.parse.urlsplit(loc[0])
    out = []
    if u.scheme != scheme:
        out.append("Location %r: scheme %r, expected %r"
                   % (loc[0], u.scheme, scheme))
    if u.hostname != host:
        out.append("Location %r: host %r, expected %r"
                   % (loc[0], u.hostname, host))
    try:
        got_port = u.port
    except ValueError:
        got_port = "invalid"
    want = port if port is not None else DEFAULT_PORTS.get(scheme)
    if (got_port or DEFAULT_PORTS.get(u.scheme)) != want:
        out.append("Location %r: port %r, expected %r"
                   % (loc[0], got_port, want))
    got_path = u.path + ("?" + u.query if u.query else "")
    if got_path != path:
        out.append("Location %r: path %r, expected %r"
                   % (loc[0], got_path, path))
    return out


def expect_redirect(resp, status, scheme, host, port, path):
    probs = redirect_problems(resp, status, scheme, host, port, path)
    check(not probs, "%s: %s" % (getattr(resp, "request", "?"),
                                 "; ".join(probs)))


class Table:
    """Collects every mismatch of a table of requests, so one run shows
    all that is wrong, then fails once."""

    def __init__(self):
        self.failures = []
        self.count = 0

    def run(self, what, fn):
        self.count += 1
        try:
            fn()
        except TestFailure as e:
            self.failures.append("[%s] %s" % (what, e))

    def done(self):
        check(not self.failures, "%d of %d requests wrong:\n  %s"
              % (len(self.failures), self.count,
                 "\n  ".join(self.failures)))


def run_table(env, cases, port=80, tls=False):
    """Each case: dict(path=, host=, method=, headers=, sni=, then either
    backend=, ns=, expect_path=, expect_headers=, absent=, resp_headers=,
    resp_absent=, or status=). expect_path defaults to the request path;
    the request's own headers must reach the backend unless the case
    gives expect_headers."""
    t = Table()
    for c in cases:
        what = "%s%s %s%s%s" % ("SNI %s: " % c["sni"] if c.get("sni") else "",
                                c.get("method", "GET"), c.get("host") or "",
                                c["path"], " " + repr(c["headers"])
                                if c.get("headers") else "")

        def one(c=c):
            r = env.request(c["path"], host=c.get("host"),
                            method=c.get("method", "GET"),
                            headers=c.get("headers"),
                            port=c.get("port", port), tls=tls,
                            sni=c.get("sni"))
            if "backend" in c:
                hdrs = c.get("expect_headers")
                if hdrs is None:
                    hdrs = dict(c.get("headers") or {})
                expect_backend(r, c["backend"], c.get("ns", NS),
                               path=c.get("expect_path", c["path"]),
                               method=c.get("method", "GET"),
                               host=c.get("expect_host"),
                               headers=hdrs, absent=c.get("absent", ()),
                               resp_headers=c.get("resp_headers"),
                               resp_absent=c.get("resp_absent", ()))
            else:
                expect_status(r, c["status"])
        t.run(what, one)
    t.done()


# ---------------------------------------------------------------------------
# Running cases
# ---------------------------------------------------------------------------

def run_cases(cases, argv):
    """main() of a test script. With a case name: run it (exit 0 pass, 1
    fail, 77 skip, as meson reads them). Without: run every case, then
    print "N passed, N failed, N skipped"."""
    if len(argv) > 2 or (len(argv) == 2 and argv[1] not in cases):
        sys.stderr.write("usage: %s [CASE]\ncases:\n  %s\n"
                         % (argv[0], "\n  ".join(cases)))
        return 2
    names = [argv[1]] if len(argv) == 2 else list(cases)
    passed = failed = skipped = 0
    for name in names:
        try:
            cases[name]()
        except Skip as e:
            print("SKIP (%s): %s" % (name, e))
            skipped += 1
            continue
        except TestFailure as e:
            print("FAIL (%s): %s" % (name, e))
            failed += 1
            continue
        except Exception as e:  # a harness bug or an unexpected error
            traceback.print_exc(file=sys.stdout)
            print("FAIL (%s): %s: %s" % (name, type(e).__name__, e))
            failed += 1
            continue
        print("PASS (%s)" % name)
        passed += 1
        sys.stdout.flush()
    if len(names) > 1:
        print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if failed:
        return 1
    if skipped and not passed:
        return 77
    return 0
