#!/usr/bin/env bash
# test.sh - set up and run every gwf test, then print one summary line.
#
#   bash scripts/test.sh            (as root, or a user with sudo)
#
# Stages, each counted in the summary:
#   1. scripts/setup.sh               the Debian packages
#   2. build/        normal build     meson test (all suites)
#   3. build-asan/   -Dsanitize=true  meson test under ASan + UBSan
#   3b. build-tsan/  -Db_sanitize=thread, nginx disabled: the `threads`
#      suite (the runtime's loop, posts and conformance tests, whose
#      plugins use threads) under ThreadSanitizer. The nginx module is
#      left out: the system nginx is not instrumented, and TSan cannot be
#      preloaded into it the way the ASan runtime is.
#   4. an install into a temporary prefix, then examples/hello_header
#      built out of tree against that prefix's gwf-sdk.pc/gwf-testing.pc
#      and its meson test
#   5. build-fuzz/   clang, -Dfuzz=true, with ASan + UBSan: its meson
#      tests, then every libFuzzer harness runs a bounded smoke run over
#      its seed corpus in fuzz/corpus/<name>/
#
# Each meson test counts as one test (read from meson-logs/testlog.json),
# so do each fuzz smoke run and the two checks on the installed tree; a
# stage that cannot even build counts as one failure. The last line is always "N passed, N failed" (", N skipped"
# when some were); the exit status is 1 when anything failed.
#
# Environment: GWF_TEST_JOBS (default 2) for meson test --num-processes;
# GWF_FUZZ_RUNS (default 2000) executions per harness. With CI=true a
# stage that cannot run for want of a tool is a failure, never a skip.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

jobs=${GWF_TEST_JOBS:-2}
fuzz_runs=${GWF_FUZZ_RUNS:-2000}
ci=${CI:-false}
# The nginx module (needs nginx-dev): required in CI, built when possible
# elsewhere.
if [ "$ci" = true ]; then nginx_opt=enabled; else nginx_opt=auto; fi

passed=0
failed=0
skipped=0
failures=()
skips=()
started=$SECONDS

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gwf-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

stage() { printf '\n==> %s\n' "$*"; }
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); failures+=("$1"); printf 'FAILED: %s\n' "$1"; }
skip() { skipped=$((skipped + 1)); skips+=("$1"); printf 'SKIPPED: %s\n' "$1"; }

# A missing tool fails the run in CI and is a visible skip elsewhere.
missing_tool() {
    if [ "$ci" = true ]; then
        fail "$1"
    else
        skip "$1"
    fi
}

# setup_build DIR [meson options...]: configure DIR, or reconfigure it with
# these options when it exists (wiping it if meson cannot reuse it).
setup_build() {
    local dir=$1
    shift
    if [ -f "$dir/meson-private/coredata.dat" ]; then
        meson setup --reconfigure "$dir" "$@" ||
            meson setup --wipe "$dir" "$@"
    else
        rm -rf "$dir"
        meson setup "$dir" "$@"
    fi
}

# count_testlog LABEL DIR: add DIR's meson-logs/testlog.json to the counts.
# Returns 1 when there is no log or it holds no test.
count_testlog() {
    local label=$1 log=$2/meson-logs/testlog.json result name n=0
    [ -f "$log" ] || return 1
    while IFS=$'\t' read -r result name; do
        n=$((n + 1))
        case $result in
        OK | EXPECTEDFAIL) pass ;;
        SKIP) skip "$label: $name" ;;
        *) fail "$label: $name ($result)" ;;
        esac
    done < <(python3 -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.strip()
    if line:
        t = json.loads(line)
        print("%s\t%s" % (t["result"], t["name"]))
' "$log")
    [ "$n" -gt 0 ]
}

# meson_suite LABEL DIR [meson test options...]: build DIR, run its tests.
meson_suite() {
    local label=$1 dir=$2
    shift 2
    if ! ninja -C "$dir"; then
        fail "$label: build"
        return
    fi
    rm -f "$dir/meson-logs/testlog.json"
    local status=0 failed_before=$failed
    meson test -C "$dir" --num-processes "$jobs" --print-errorlogs "$@" ||
        status=$?
    if ! count_testlog "$label" "$dir"; then
        fail "$label: meson test ran no test (exit $status)"
    elif [ "$status" -ne 0 ] && [ "$failed" -eq "$failed_before" ]; then
        fail "$label: meson test exited $status"
    fi
}

# -- 1. packages ----------------------------------------------------------------
stage "packages: scripts/setup.sh"
bash scripts/setup.sh || fail "setup: scripts/setup.sh"

# -- 1b. formatting ------------------------------------------------------------
# Every C file of the project (not the vendored suites) is clang-format
# clean with the repository's .clang-format.
stage "format: clang-format --dry-run --Werror"
if ! command -v clang-format >/dev/null 2>&1; then
    missing_tool "format: clang-format not installed"
elif git ls-files '*.c' '*.h' | grep -v '^tests/nginx-tests/' |
        xargs clang-format --dry-run --Werror; then
    pass
else
    fail "format: clang-format differences (run clang-format -i on the files above)"
fi

# -- 2. normal build ----------------------------------------------------------
stage "build/: normal build and all suites"
if setup_build build -Dsanitize=false -Dtests=true -Dfuzz=false \
        -Dnginx="$nginx_opt"; then
    meson_suite build build
else
    fail "build: meson setup"
fi

# -- 3. sanitizer build ---------------------------------------------------------
stage "build-asan/: AddressSanitizer + UndefinedBehaviorSanitizer"
if setup_build build-asan -Dsanitize=true -Db_sanitize=address,undefined \
        -Dtests=true -Dfuzz=false -Dnginx="$nginx_opt"; then
    ASAN_OPTIONS=detect_leaks=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson_suite build-asan build-asan --timeout-multiplier 3
else
    fail "build-asan: meson setup"
fi

# -- 3a. nginx's own test suite ------------------------------------------------
# tests/nginx-tests (vendored, pinned to nginx 1.22.1): the CI subset, run
# against Debian's nginx alone and with the ASan-built module and a
# body-observing chain on every server; a file that fails only with gwf,
# a worker that died or a sanitizer report fails the run. The whole suite:
# scripts/nginx-tests.sh --all build-asan.
stage "nginx-tests: nginx's own suite, without and with gwf (CI subset)"
if [ ! -f build-asan/host/nginx/ngx_http_gwf_module.so ]; then
    missing_tool "nginx-tests: no nginx module in build-asan/"
else
    nt_log=$tmp/nginx-tests.log
    nt_status=0
    bash scripts/nginx-tests.sh build-asan >"$nt_log" 2>&1 || nt_status=$?
    tail -n 40 "$nt_log"
    nt_line=$(tail -n 1 "$nt_log")
    if [[ $nt_line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        skipped=$((skipped + BASH_REMATCH[3]))
        if [ "${BASH_REMATCH[2]}" -gt 0 ] || [ "$nt_status" -ne 0 ]; then
            fail "nginx-tests: ${BASH_REMATCH[2]} file(s) fail only with gwf (exit $nt_status; table above)"
        fi
    else
        fail "nginx-tests: no summary line (exit $nt_status)"
    fi
fi

# -- 3b. ThreadSanitizer -------------------------------------------------------
# Can this compiler build and run a TSan program here? (libtsan is part of
# Debian's gcc; an old kernel layout can still make TSan refuse to start.)
tsan_works() {
    printf '%s\n' '#include <pthread.h>' \
        'static void *run(void *arg) { return arg; }' \
        'int main(void) { pthread_t t; pthread_create(&t, 0, run, 0);' \
        '    return pthread_join(t, 0); }' >"$tmp/tsan_probe.c" &&
        "${CC:-cc}" -fsanitize=thread -pthread "$tmp/tsan_probe.c" \
            -o "$tmp/tsan_probe" 2>"$tmp/tsan_probe.log" &&
        "$tmp/tsan_probe" 2>>"$tmp/tsan_probe.log"
}

stage "build-tsan/: ThreadSanitizer, suite threads"
if ! tsan_works; then
    cat "$tmp/tsan_probe.log"
    missing_tool "tsan: ${CC:-cc} cannot build or run -fsanitize=thread"
elif setup_build build-tsan -Db_sanitize=thread -Dsanitize=false \
        -Dtests=true -Dfuzz=false -Dnginx=disabled; then
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        meson_suite build-tsan build-tsan --suite threads \
            --timeout-multiplier 3
else
    fail "build-tsan: meson setup"
fi

# -- 4. install + out-of-tree example ---------------------------------------
# A prefix of its own (not `meson install --destdir`): the .pc files and
# the compiled-in plugin directory must both point into it.
stage "install into a temporary prefix; examples/hello_header against it"
prefix=$tmp/prefix
example_build=$tmp/hello_header
if meson setup "$tmp/build-install" --prefix "$prefix" -Dtests=false \
        -Dfuzz=false -Dsanitize=false -Dnginx="$nginx_opt" &&
    ninja -C "$tmp/build-install" &&
    meson install -C "$tmp/build-install" --quiet; then
    pcdir=$(dirname "$(find "$prefix" -name gwf-sdk.pc | head -n 1)")
    # The installed CLI finds the installed plugin by name, with no path.
    if env -u GWF_PLUGIN_PATH "$prefix/bin/gwf" inspect direct_response; then
        pass
    else
        fail "install: installed gwf does not find direct_response by name"
    fi
    if PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH} \
        meson setup "$example_build" examples/hello_header \
            --pkg-config-path "$pcdir"; then
        meson_suite hello_header "$example_build"
        # Installed where gwf-sdk.pc says, the runtime finds it by name.
        if meson install -C "$example_build" --quiet &&
            env -u GWF_PLUGIN_PATH "$prefix/bin/gwf" inspect hello_header
        then
            pass
        else
            fail "hello_header: installed plugin not found by name"
        fi
    else
        fail "hello_header: meson setup against $pcdir"
    fi
else
    fail "install: build and install into $prefix"
fi

# -- 5. fuzz smoke runs ---------------------------------------------------------
stage "build-fuzz/: libFuzzer harnesses, $fuzz_runs runs each"
if ! command -v clang >/dev/null 2>&1; then
    missing_tool "fuzz: clang not installed"
elif CC=clang setup_build build-fuzz -Dfuzz=true -Dtests=false \
        -Dsanitize=true -Dnginx="$nginx_opt" && ninja -C build-fuzz; then
    # The fuzz build's own meson tests (seed corpus replays), if any.
    if [ -n "$(meson test -C build-fuzz --list 2>/dev/null)" ]; then
        ASAN_OPTIONS=detect_leaks=1 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            meson_suite build-fuzz build-fuzz --timeout-multiplier 3
    fi
    harnesses=$(meson introspect --targets build-fuzz | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["type"] == "executable" and t["name"].startswith("fuzz_"):
        print(t["filename"][0])
')
    if [ -z "$harnesses" ]; then
        fail "fuzz: -Dfuzz=true built no fuzz_* harness"
    fi
    for exe in $harnesses; do
        name=$(basename "$exe")
        seeds=fuzz/corpus/${name#fuzz_}
        found=$tmp/found-$name
        artifacts=build-fuzz/artifacts/$name-
        mkdir -p "$found" build-fuzz/artifacts
        args=(-runs="$fuzz_runs" -max_total_time=120
              -artifact_prefix="$artifacts" "$found")
        if [ -d "$seeds" ]; then
            args+=("$seeds")
        else
            echo "note: no seed corpus $seeds; starting from nothing"
        fi
        echo "$name ${args[*]}"
        # New inputs go to the temporary directory, never to the seeds.
        if ASAN_OPTIONS=detect_leaks=1 \
            UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            timeout 300 "$exe" "${args[@]}" >"$tmp/$name.log" 2>&1; then
            tail -n 2 "$tmp/$name.log"
            pass
        else
            tail -n 40 "$tmp/$name.log"
            fail "fuzz: $name (log above; crash inputs: $artifacts*)"
        fi
    done
else
    fail "fuzz: build with clang -Dfuzz=true"
fi

# -- summary ------------------------------------------------------------------
echo
echo "==> done in $((SECONDS - started)) s"
for s in "${skips[@]}"; do echo "skipped: $s"; done
for f in "${failures[@]}"; do echo "failed:  $f"; done
summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary+=", $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ]
