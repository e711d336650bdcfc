#!/usr/bin/env bash
# demo.sh - set up and run the gateway demo: Gateway API manifests served
# by nginx with the gwf module, through `gwf gateway run`.
#
#   bash scripts/demo.sh          (as root, or a user with sudo)
#   bash scripts/demo.sh stop     stop the gateway it left running
#
# Installs the Debian packages (scripts/setup.sh), builds gwf with the
# nginx module and installs it into ./_demo/prefix, builds the third-party
# example plugin (examples/hello_header) out of tree against that install,
# starts the two echo backends of examples/gateway (127.0.0.1:8081 and
# :8082), then `gwf gateway run` on the manifests of examples/gateway: it
# renders them into nginx configuration, starts the system nginx on
# 127.0.0.1:8080, and re-renders and reloads it whenever a manifest
# changes. The demo shows a few curl calls and their answers and leaves
# the gateway running for you to try (and edit).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

gateway=$root/examples/gateway
demo=$root/_demo
prefix=$demo/prefix
run=$demo/gateway
port=8080

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
banner() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }

# show CMD...: print a command as a user would type it, then run it.
show() {
    printf '\n$'
    printf ' %q' "$@"
    printf '\n'
    "$@"
}

# stop_pid FILE: stops the process whose pid FILE holds (TERM, then up to
# 5 s for it to go), and removes FILE.
stop_pid() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$1"
}

stop_gateway() {
    stop_pid "$demo/gateway-run.pid" # gwf gateway run stops its nginx
    stop_pid "$demo/orders-v1.pid"
    stop_pid "$demo/orders-v2.pid"
}

if [ "${1:-}" = stop ]; then
    stop_gateway
    echo "gateway stopped"
    exit 0
fi

# -- setup, build, install ------------------------------------------------------

banner "Debian packages (scripts/setup.sh)"
bash scripts/setup.sh

banner "build gwf with the nginx module and install it into _demo/prefix"
if [ ! -f "$demo/build/build.ninja" ]; then
    meson setup "$demo/build" --prefix "$prefix" -Dtests=false -Dnginx=enabled
fi
ninja -C "$demo/build"
meson install -C "$demo/build" --quiet
module=$(find "$prefix" -name ngx_http_gwf_module.so | head -n 1)
plugins=$(dirname "$(find "$prefix" -path '*/gwf/plugins/direct_response.so' | head -n 1)")
pcdir=$(dirname "$(find "$prefix" -name gwf-sdk.pc | head -n 1)")

banner "build the third-party plugin examples/hello_header against it"
export PKG_CONFIG_PATH=$pcdir
if [ ! -f "$demo/hello_header/build.ninja" ]; then
    meson setup "$demo/hello_header" examples/hello_header --prefix "$prefix"
fi
ninja -C "$demo/hello_header"
meson install -C "$demo/hello_header" --quiet
echo "plugins in $plugins:"
ls "$plugins" | sed 's/^/  /'
show "$prefix/bin/gwf" inspect hello_header

# -- the gateway ------------------------------------------------------------------

stop_gateway
banner "two echo backends: orders-v1 on 127.0.0.1:8081, orders-v2 on :8082"
for v in 1 2; do
    python3 "$gateway/backend.py" "orders-v$v" "808$v" &
    echo $! >"$demo/orders-v$v.pid"
done
for v in 1 2; do
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:808$v/" && break
        sleep 0.1
    done
done

banner "the manifests: a Gateway, Services with EndpointSlices, HTTPRoutes"
ls "$gateway"/*.yaml | sed "s|^$root/|  |"
echo
echo "\$ gwf gateway status -f $gateway -o yaml   (the conditions, abridged)"
"$prefix/bin/gwf" gateway status -f "$gateway" -o yaml --plugin-path "$plugins" |
    grep -E '^  kind:|^    name:|- type:|reason:|attachedRoutes:' | head -40

banner "gwf gateway run: render, nginx -t, start nginx on 127.0.0.1:$port, watch"
mkdir -p "$run"
echo "\$ gwf gateway run -f $gateway -o $run --module $module --plugin-path $plugins &"
"$prefix/bin/gwf" gateway run -f "$gateway" -o "$run" --module "$module" \
    --plugin-path "$plugins" >"$demo/gateway-run.log" 2>&1 &
echo $! >"$demo/gateway-run.pid"
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/api/orders" && break
    sleep 0.1
done
sed 's/^/  /' "$demo/gateway-run.log"

banner "a path match: /api/orders goes to orders-v1"
show curl -s "http://127.0.0.1:$port/api/orders/42"

banner "a header match: x-canary: always goes to orders-v2"
show curl -s "http://127.0.0.1:$port/api/orders/42" -H 'x-canary: always'

banner "a method match with a request header filter: POST is tagged x-write"
show curl -s -X POST "http://127.0.0.1:$port/api/orders" -d '{}'

banner "a URLRewrite: /api/v1/orders is served as /api/orders"
show curl -s "http://127.0.0.1:$port/api/v1/orders/7?expand=1"

banner "a weighted split: /split, 90% orders-v1, 10% orders-v2 (100 requests)"
for _ in $(seq 100); do
    curl -s "http://127.0.0.1:$port/split"
done | sed 's/.*"backend": "\([^"]*\)".*/\1/' | sort | uniq -c

banner "kgateway policies: a DirectResponse by ExtensionRef, a rule's own rate limit"
show curl -s "http://127.0.0.1:$port/status"
for i in 1 2 3 4; do
    show curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/limited"
done

banner "a RequestRedirect, and no route at all"
show curl -s -o /dev/null -w '%{http_code} %{redirect_url}\n' \
    "http://127.0.0.1:$port/old-docs/intro?lang=en"
show curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/nowhere"

banner "done"
cat <<EOF
The gateway is still running on http://127.0.0.1:$port/. gwf gateway run
watches $gateway: edit a route there and it re-renders, checks and
reloads nginx; a broken manifest is reported in $demo/gateway-run.log and
never reaches nginx. The rendered configuration: $run/nginx.conf.
Stop it with:    bash scripts/demo.sh stop
EOF
