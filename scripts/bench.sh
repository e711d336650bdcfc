#!/usr/bin/env bash
# bench.sh - build a release tree and run every gwf benchmark.
#
#   bash scripts/bench.sh
#
#   1. build-bench/: meson setup --buildtype=release -Dnginx=enabled
#      (reconfigured when it exists), then ninja
#   2. bench/bench_chain: the in-process chain benchmark (K no-op plugins
#      against an empty chain)
#   3. bench/nginx/run.sh build-bench: gwf inside the system nginx against
#      nginx doing the same work natively (DirectResponse vs `return`, a
#      no-op plugin on proxy_pass vs plain proxy_pass, worker memory over
#      1,000,000 requests); its environment (DURATION, CONNECTIONS,
#      BENCH_MEMORY, ...) passes through, see the script's header
#
# Every figure is a ratio against a baseline measured in the same run on
# the same machine. The exit status is 0 unless something failed to build
# or run; a missed target is printed, not an error.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
dir=build-bench

step() { printf '\n==> %s\n' "$*"; }

step "build ($dir: release, nginx module)"
if [ -f "$dir/meson-private/coredata.dat" ]; then
    meson setup --reconfigure "$dir" --buildtype=release -Dnginx=enabled ||
        meson setup --wipe "$dir" --buildtype=release -Dnginx=enabled ||
        exit 1
else
    rm -rf "$dir"
    meson setup "$dir" --buildtype=release -Dnginx=enabled || exit 1
fi
ninja -C "$dir" || exit 1

status=0

step "in-process chain (bench/bench_chain)"
GWF_PLUGIN_PATH=$root/$dir/bench "$dir/bench/bench_chain" || status=1

step "nginx (bench/nginx/run.sh $dir)"
bash bench/nginx/run.sh "$dir" || status=1

step "Gateway API routes (bench/gateway/run.sh $dir)"
bash bench/gateway/run.sh "$dir" || status=1

exit $status
