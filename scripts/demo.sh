#!/usr/bin/env bash
# demo.sh - set up and run the gateway demo: nginx with the gwf module.
#
#   bash scripts/demo.sh          (as root, or a user with sudo)
#   bash scripts/demo.sh stop     stop the gateway it left running
#
# Installs the Debian packages (scripts/setup.sh), builds gwf with the
# nginx module and installs it into ./_demo/prefix, builds the third-party
# example plugin (examples/hello_header) out of tree against that install,
# then starts the system nginx with examples/gateway/nginx.conf.in on
# 127.0.0.1:8080 (GWF_DEMO_PORT changes it) and shows a few curl calls and
# their answers. The gateway keeps running afterwards for you to try.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

gateway=$root/examples/gateway
demo=$root/_demo
prefix=$demo/prefix
run=$demo/nginx
port=${GWF_DEMO_PORT:-8080}
backend_port=$((port + 1))
nginx=/usr/sbin/nginx

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
banner() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }

# show CMD...: print a command as a user would type it, then run it.
show() {
    printf '\n$'
    printf ' %q' "$@"
    printf '\n'
    "$@"
}

stop_gateway() {
    if [ -f "$run/nginx.pid" ] && kill -0 "$(cat "$run/nginx.pid")" 2>/dev/null; then
        "$nginx" -p "$run" -c "$run/nginx.conf" -s quit 2>/dev/null || true
        for _ in $(seq 50); do
            [ -f "$run/nginx.pid" ] || break
            sleep 0.1
        done
    fi
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

banner "start nginx with the gwf module on 127.0.0.1:$port"
stop_gateway
mkdir -p "$run"
sed -e "s|@MODULE@|$module|" -e "s|@RUN@|$run|g" -e "s|@GATEWAY@|$gateway|" \
    -e "s|@PLUGINS@|$plugins|" -e "s|@PORT@|$port|g" \
    -e "s|@BACKEND_PORT@|$backend_port|g" \
    "$gateway/nginx.conf.in" >"$run/nginx.conf"
show "$nginx" -t -q -p "$run" -c "$run/nginx.conf"
show "$nginx" -p "$run" -c "$run/nginx.conf"
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/hello" && break
    sleep 0.1
done

banner "a DirectResponse answered by the direct_response plugin"
show curl -si "http://127.0.0.1:$port/hello"

banner "a proxied request through the third-party hello_header plugin"
show curl -si "http://127.0.0.1:$port/api/orders" -H 'x-demo: 1'

banner "anything else: another DirectResponse"
show curl -si "http://127.0.0.1:$port/nowhere"

banner "metrics of gwf and its plugins (Prometheus text)"
sleep 1.2 # each worker publishes its numbers once a second
show curl -s "http://127.0.0.1:$port/metrics" | grep -v '^#' | grep -v '_bucket'

banner "done"
cat <<EOF
The gateway is still running on http://127.0.0.1:$port/ (config:
$run/nginx.conf, log: $run/error.log). Edit $gateway/manifests.yaml and
reload it with:  $nginx -p $run -c $run/nginx.conf -s reload
Stop it with:    bash scripts/demo.sh stop
EOF
