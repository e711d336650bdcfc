#!/usr/bin/python3
"""bench/gateway/manifests.py - the Gateway API manifests the gateway
benchmark renders.

    manifests.py DIR ROUTES RULES GATEWAY_PORT UPSTREAM_PORT
    manifests.py --extra DIR UPSTREAM_PORT

writes into DIR: a GatewayClass and a Gateway listening on GATEWAY_PORT;
a Service `up` (port 80) whose EndpointSlice points at 127.0.0.1:
UPSTREAM_PORT, as kube-proxy would map it; ROUTES HTTPRoutes `rN` of
RULES rules each, a PathPrefix match /rN/sM to `up`; and ROUTES more,
`hN`, whose rules match /hN/sM only for GET with the header x-env:
canary and the query parameter debug=1.

--extra adds one more HTTPRoute, /new-route, to an existing DIR (the
reload benchmark).
"""

import os
import sys

HEAD = """apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gwf}
spec: {controllerName: gwf.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench, namespace: default}
spec:
  gatewayClassName: gwf
  listeners:
  - {name: http, protocol: HTTP, port: %(gateway_port)d}
---
apiVersion: v1
kind: Service
metadata: {name: up, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: %(upstream_port)d}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: up-1
  namespace: default
  labels: {kubernetes.io/service-name: up}
addressType: IPv4
ports: [{name: http, port: %(upstream_port)d}]
endpoints:
- addresses: [127.0.0.1]
  conditions: {ready: true}
"""

ROUTE = """---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: %(name)s, namespace: default}
spec:
  parentRefs: [{name: bench}]
  rules:
"""

PATH_RULE = """  - matches: [{path: {type: PathPrefix, value: /%(name)s/s%(rule)d}}]
    backendRefs: [{name: up, port: 80}]
"""

HEADER_RULE = """  - matches:
    - path: {type: PathPrefix, value: /%(name)s/s%(rule)d}
      method: GET
      headers: [{name: x-env, value: canary}]
      queryParams: [{name: debug, value: "1"}]
    backendRefs: [{name: up, port: 80}]
"""


def route(name, rules, rule_text):
    out = [ROUTE % {"name": name}]
    for m in range(rules):
        out.append(rule_text % {"name": name, "rule": m})
    return "".join(out)


def main(argv):
    if len(argv) == 4 and argv[1] == "--extra":
        with open(os.path.join(argv[2], "zz-new-route.yaml"), "w") as f:
            f.write(ROUTE % {"name": "new-route"})
            f.write("  - matches: [{path: {type: PathPrefix, value: "
                    "/new-route}}]\n    backendRefs: [{name: up, port: 80}]\n")
        return 0
    if len(argv) != 6:
        sys.exit(__doc__)
    out, routes, rules, gateway_port, upstream_port = (
        argv[1], int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5]))
    with open(os.path.join(out, "gateway.yaml"), "w") as f:
        f.write(HEAD % {"gateway_port": gateway_port,
                        "upstream_port": upstream_port})
    with open(os.path.join(out, "routes.yaml"), "w") as f:
        for n in range(routes):
            f.write(route("r%d" % n, rules, PATH_RULE))
            f.write(route("h%d" % n, rules, HEADER_RULE))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
