#!/usr/bin/env bash
# demo.sh - set up and run the gateway demo.
#
#   bash scripts/demo.sh        (as root, or a user with sudo)
#
# Installs the Debian packages (scripts/setup.sh), builds gwf and installs
# it into ./_demo/prefix, then sends the requests in
# examples/gateway/requests/ through a gateway configured by
# examples/gateway/manifests.yaml, printing for each the request, the
# command and the answer.
#
# The gateway is the `gwf` CLI today: one `gwf run` per request, routed by
# path the way nginx locations will route it. Only three functions know
# that: start_gateway, send_request and stop_gateway. Making this a real
# nginx gateway (issue 3) means starting nginx with the gwf module in
# start_gateway, sending each request file with curl in send_request, and
# stopping nginx in stop_gateway; the routes table and the rest stay.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

gateway=examples/gateway
demo=_demo
prefix=$root/$demo/prefix
gwf=$demo/prefix/bin/gwf

# The routes, first match wins: a path prefix and what answers it.
#   direct_response REF    a DirectResponse document from the manifests
#   upstream FILE          forwarded; the upstream's answer is FILE
routes=(
    "/hello  direct_response default/hello"
    "/api/   upstream        $gateway/upstream/orders.http"
    "/       direct_response default/not-found"
)

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
banner() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }

# show CMD...: print a command as a user would type it, then run it.
show() {
    printf '\n$ %s\n' "$*"
    "$@"
}

# -- the gateway ----------------------------------------------------------------

start_gateway() {
    show "$gwf" validate "$gateway/manifests.yaml"
}

# route_args PATH: the `gwf run` arguments for the first route matching.
route_args() {
    local path=$1 route prefix_ kind arg
    for route in "${routes[@]}"; do
        read -r prefix_ kind arg <<<"$route"
        case $path in
        "$prefix_"*)
            case $kind in
            direct_response) echo "--direct-response $arg" ;;
            upstream) echo "--upstream-response $arg" ;;
            esac
            return 0
            ;;
        esac
    done
    return 1
}

# send_request FILE: send one raw HTTP request through the gateway.
send_request() {
    local file=$1 method path
    read -r method path _ <"$file"
    banner "$method $path"
    echo "--- request ($file)"
    tr -d '\r' <"$file"
    [ -z "$(tail -c 1 "$file")" ] || echo # a body without a final newline
    local args
    args=$(route_args "$path")
    # shellcheck disable=SC2086 # route_args returns two words by design
    show "$gwf" run -f "$gateway/manifests.yaml" $args --request "$file"
}

stop_gateway() { :; }

# -- setup, build, install ------------------------------------------------------

banner "Debian packages (scripts/setup.sh)"
bash scripts/setup.sh

banner "build gwf and install it into $demo/prefix"
if [ ! -f "$demo/build/build.ninja" ]; then
    meson setup "$demo/build" --prefix "$prefix" -Dtests=false
fi
ninja -C "$demo/build"
meson install -C "$demo/build" --quiet
echo "installed:"
find "$demo/prefix" \( -path '*/bin/gwf' -o -path '*/gwf/plugins/*.so' \) |
    sed 's/^/  /'

banner "the plugin the gateway uses"
show "$gwf" inspect direct_response

# -- the demo -------------------------------------------------------------------

banner "start the gateway with $gateway/manifests.yaml"
start_gateway
trap stop_gateway EXIT
for request in "$gateway"/requests/*.http; do
    send_request "$request"
done

banner "done"
cat <<EOF
Each answer above came through gwf: /hello and unknown paths were answered
by the direct_response plugin (status, headers and body from
$gateway/manifests.yaml), /api/orders went to the upstream.
Try: $gwf run -f $gateway/manifests.yaml --direct-response default/hello \\
         --request $gateway/requests/hello.http --json
More in $gateway/README.md.
EOF
