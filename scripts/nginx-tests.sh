#!/usr/bin/env bash
# nginx-tests.sh - nginx's own test suite, with and without the gwf module.
#
# The module sits in every request of an nginx it is loaded into, so the
# strongest check that it changes nothing it should not is nginx's own
# suite (tests/nginx-tests/suite, vendored and pinned, see its README.md),
# run against Debian's /usr/sbin/nginx in up to three modes:
#
#   plain   nginx as Debian ships it: the baseline
#   gwf     the module loaded and, at http level (so on every server and
#           location), a chain of the probe test plugin that observes
#           every hook, bodies included, and changes nothing
#   change  the same, but the probe also appends to every response body,
#           so the module's body-rewriting path runs under every test
#
# Test::Nginx puts $TEST_NGINX_GLOBALS and $TEST_NGINX_GLOBALS_HTTP into
# every configuration it writes; that is how the module and the chain are
# added without touching a test. The Debian dynamic modules (perl,
# image_filter, xslt, geoip, mail, stream) are loaded by Test::Nginx
# itself in every mode, from $TEST_NGINX_MODULES, because `nginx -V` says
# they exist: their packages must be installed (packages.txt).
#
# A file "fails only with gwf" when it passes plain and fails in the gwf
# mode; those fail the run (exit 1). In the gwf modes a worker that
# "exited on signal" or any AddressSanitizer report fails the file too,
# whatever the test itself said. The change mode's test verdicts are shown
# but do not fail the run (the suite compares bodies byte for byte, and
# the appended byte is there by design); its crashes and sanitizer
# reports do. A file that fails only with gwf is run again, alone, in both
# modes before it is counted, so that a test that is merely slow under
# load on two cores does not fail CI (the table says "flaky" then); not
# when it timed out, nor when more than RETRY_MAX files failed.
#
# Usage:
#   scripts/nginx-tests.sh [options] [BUILD_DIR]       (default: build)
#     --all             every test file (default: tests/nginx-tests/ci-subset.txt)
#     --files "a b"     just these files (names with or without .t)
#     --modes LIST      comma-separated, of plain,gwf,change (default plain,gwf)
#     --jobs N          files run at once (default 2)
#     --no-retry        count gwf-only failures without running them again
#     --keep            keep the work directory even when everything passed
#     --work DIR        work directory (default: a new one under /tmp)
#     --baseline DIR    take the plain results from an earlier --keep run's
#                       work directory instead of running plain again
#
# An ASan build (meson -Dsanitize=true) is detected from BUILD_DIR: nginx
# then runs with the compiler's ASan runtime in LD_PRELOAD and reports go
# to files, one directory per test file.
#
# The last line is "N passed, N failed, N skipped", counting test files of
# the gwf comparison: failed = fails only with gwf, or crashed, or a
# sanitizer report; skipped = skipped by the suite (a missing capability)
# or failing without gwf too (no baseline to compare with).
#
# Run as root, the suite itself runs as "nobody": nginx started by root
# runs its workers as nobody, and they could not read the tests' private
# temporary directories.
set -euo pipefail

# The probe's config in each gwf mode. Edit here.
PROBE_ACTIONS='{"request_headers": "continue", "request_body": "continue",
  "response_headers": "continue", "response_body": "continue"}'
PROBE_CONFIG_GWF="{\"actions\": $PROBE_ACTIONS}"
PROBE_CONFIG_CHANGE="{\"actions\": $PROBE_ACTIONS,
  \"append_response_body\": \"x\", \"body_will_change\": [\"response\"]}"

NGINX=/usr/sbin/nginx
NGINX_MODULES=/usr/lib/nginx/modules
RETRY_MAX=10     # gwf-only failures run again alone, if no more than this
FILE_TIMEOUT=120 # seconds; the slowest file takes about 30 (60 under ASan)

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
suite=$root/tests/nginx-tests/suite

die() {
    echo "nginx-tests: $*" >&2
    exit 2
}

all=0 files_arg="" modes="plain,gwf" jobs=2 retry=1 keep=0 work="" build=""
baseline=""
while [ $# -gt 0 ]; do
    case $1 in
    --all) all=1 ;;
    --files) files_arg=$2; shift ;;
    --modes | --mode) modes=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --no-retry) retry=0 ;;
    --keep) keep=1 ;;
    --baseline) baseline=$2; shift ;;
    --work) work=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) build=$1 ;;
    esac
    shift
done
build=${build:-build}
case $build in /*) ;; *) build=$root/$build ;; esac

# -- what to run --------------------------------------------------------------

IFS=, read -r -a mode_list <<<"$modes"
for m in "${mode_list[@]}"; do
    case $m in plain | gwf | change) ;; *) die "unknown mode $m" ;; esac
done
has_mode() { [[ ",$modes," == *",$1,"* ]]; }

if [ -n "$files_arg" ]; then
    names=$files_arg
elif [ $all = 1 ]; then
    names=$(cd "$suite" && ls -- *.t)
else
    names=$(sed 's/#.*//' "$root/tests/nginx-tests/ci-subset.txt")
fi
files=()
for n in $names; do
    n=${n%.t}
    [ -f "$suite/$n.t" ] || die "no test file $n.t in $suite"
    files+=("$n.t")
done
[ ${#files[@]} -gt 0 ] || die "no test files"

# -- prerequisites ------------------------------------------------------------

[ -x $NGINX ] || die "$NGINX is not installed"
command -v prove >/dev/null || die "prove (perl) is not installed"
# Test::Nginx loads every module `nginx -V` calls dynamic; a missing one
# would fail every test file, in every mode.
for so in ngx_http_geoip_module ngx_http_image_filter_module \
    ngx_http_perl_module ngx_http_xslt_filter_module ngx_mail_module \
    ngx_stream_module ngx_stream_geoip_module; do
    [ -f $NGINX_MODULES/$so.so ] ||
        die "$NGINX_MODULES/$so.so missing: apt-get install the" \
            "packages of tests/nginx-tests/packages.txt"
done
module=$build/host/nginx/ngx_http_gwf_module.so
probe_dir=$build/tests/support/probe
if has_mode gwf || has_mode change; then
    [ -f "$module" ] || die "$module not built (meson -Dnginx=enabled -Dtests=true)"
    [ -f "$probe_dir/probe.so" ] || die "$probe_dir/probe.so not built (-Dtests=true)"
fi
asan=0 asan_lib=""
if grep -q '"name": "sanitize", "value": true' \
    "$build/meson-info/intro-buildoptions.json" 2>/dev/null; then
    asan=1
    asan_lib=$(gcc -print-file-name=libasan.so)
    [ -f "$asan_lib" ] || die "ASan build but no ASan runtime ($asan_lib)"
fi

as_user=()
if [ "$(id -u)" = 0 ]; then
    as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fi

if [ -z "$work" ]; then
    work=$(mktemp -d /tmp/gwf-nginx-tests.XXXXXX)
fi
mkdir -p "$work"
chmod 755 "$work"

# -- one mode -----------------------------------------------------------------

# write_mode_dir MODE: the mode's directory - its probe manifest, its nginx
# wrapper (ASan) and run-one, the command prove runs for each file.
write_mode_dir() {
    local mode=$1 dir=$work/$1 config
    rm -rf "$dir"
    mkdir -p "$dir/files" "$dir/results"
    case $mode in
    gwf) config=$PROBE_CONFIG_GWF ;;
    change) config=$PROBE_CONFIG_CHANGE ;;
    esac
    if [ "$mode" != plain ]; then
        # JSON is YAML.
        cat >"$dir/probe.yaml" <<EOF
---
{"apiVersion": "gateway.kgateway.dev/v1alpha1", "kind": "GatewayExtension",
 "metadata": {"name": "probe", "namespace": "default"},
 "spec": {"plugin": {"name": "probe", "config": $config}}}
EOF
    fi
    local binary=$NGINX
    if [ "$mode" != plain ] && [ $asan = 1 ]; then
        # The system nginx is not instrumented, the module is: nginx runs
        # with the runtime preloaded. Leaks are nginx's own (it never
        # frees its cycle) and not looked for.
        binary=$dir/nginx-asan
        cat >"$binary" <<EOF
#!/bin/sh
export LD_PRELOAD=$asan_lib
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=1:log_path=\$GWF_NT_REPORTS/asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=\$GWF_NT_REPORTS/ubsan
exec $NGINX "\$@"
EOF
        chmod 755 "$binary"
    fi
    # One directory per test file: its TMPDIR (so the nginx prefixes that
    # Test::Nginx leaves are known to be this file's), its TAP, its
    # sanitizer reports. The verdict goes to results/NAME.
    cat >"$dir/run-one" <<EOF
#!/bin/bash
t=\$1 name=\${1%.t}
d=$dir/files/\$name
# A file run again keeps its first run beside it.
if [ -d "\$d" ]; then rm -rf "\$d.first"; mv "\$d" "\$d.first"; fi
mkdir -p "\$d/tmp" "\$d/reports"
export TMPDIR=\$d/tmp GWF_NT_REPORTS=\$d/reports TEST_NGINX_BINARY=$binary
start=\$(date +%s)
timeout -k 10 $FILE_TIMEOUT perl "\$t" >"\$d/tap" 2>"\$d/stderr"
rc=\$?
secs=\$((\$(date +%s) - start))
verdict=fail
[ \$rc = 0 ] && verdict=pass
reason=\$(sed -n 's/^1\.\.0 # SKIP *//p' "\$d/tap")
if [ -n "\$reason" ]; then verdict=skip; fi
[ \$rc = 124 ] && reason="timeout after ${FILE_TIMEOUT}s"
if [ "\${GWF_NT_SCAN:-0}" = 1 ]; then
    # A worker that crashed, a sanitizer report: the file fails, whatever
    # its tests said.
    if grep -q 'exited on signal' "\$d"/tmp/*/error.log 2>/dev/null; then
        verdict=crash
        reason=\$(grep -h -m1 'exited on signal' "\$d"/tmp/*/error.log | cut -c1-160)
    fi
    if ls "\$d"/reports/* >/dev/null 2>&1 ||
        grep -q 'AddressSanitizer' "\$d"/tmp/*/error.log "\$d/stderr" 2>/dev/null; then
        verdict=asan
        reason="sanitizer report in \$d"
    fi
fi
if [ \$verdict = fail ] && [ -z "\$reason" ]; then
    reason=\$(grep '^not ok' "\$d/tap" | grep -v '# TODO' | head -3 |
        cut -c1-70 | paste -sd'|' -)
    [ -n "\$reason" ] || reason="exit \$rc: \$(grep -v '^#' "\$d/stderr" | head -1 | cut -c1-80)"
fi
printf '%s %s %s\n' "\$verdict" "\$secs" "\$reason" >"$dir/results/\$name"
# Passing files leave nothing behind (some write large files).
if [ \$verdict = pass ] || [ \$verdict = skip ]; then rm -rf "\$d/tmp"; fi
cat "\$d/tap"; cat "\$d/stderr" >&2
exit \$rc
EOF
    chmod 755 "$dir/run-one"
    # Workers and test processes run as nobody when we are root.
    [ ${#as_user[@]} = 0 ] || chown -R 65534:65534 "$dir"
}

# run_mode MODE LOG FILE...: the files under prove, $jobs at once; prove's
# output to the mode's LOG.
run_mode() {
    local mode=$1 dir=$work/$1 log=$work/$1/$2
    shift 2
    local -a env=(
        HOME="$dir" TMPDIR="$dir"
        TEST_NGINX_MODULES="$NGINX_MODULES" TEST_NGINX_LEAVE=1
    )
    if [ "$mode" != plain ]; then
        env+=(
            GWF_NT_SCAN=1
            TEST_NGINX_GLOBALS="load_module $module;"
            TEST_NGINX_GLOBALS_HTTP="gwf_manifests $dir/probe.yaml;
gwf_plugin_path $probe_dir;
gwf_extension probe;"
        )
    fi
    (cd "$suite" &&
        env "${env[@]}" "${as_user[@]}" \
            prove -j"$jobs" --exec "$dir/run-one" "$@" \
            >>"$log" 2>&1) || true
    tail -n 3 "$log" | sed "s/^/  [$mode] /"
}

result() { # result MODE NAME -> "verdict secs reason" (missing: "none")
    cat "$work/$1/results/$2" 2>/dev/null || echo "none 0"
}

if [ -n "$baseline" ]; then
    [ -d "$baseline/plain/results" ] || die "no plain results in $baseline"
    has_mode plain && die "--baseline replaces the plain mode"
    write_mode_dir plain
    cp "$baseline"/plain/results/* "$work/plain/results/"
    echo "nginx-tests: plain results from $baseline"
fi

for m in "${mode_list[@]}"; do
    write_mode_dir "$m"
    sanitizer=""
    [ $asan = 1 ] && [ "$m" != plain ] && sanitizer=", ASan"
    echo "nginx-tests: mode $m, ${#files[@]} files, $jobs at once$sanitizer"
    t0=$(date +%s)
    run_mode "$m" prove.log "${files[@]}"
    echo "nginx-tests: mode $m took $(($(date +%s) - t0))s"
done

# -- compare ------------------------------------------------------------------

gwf_mode=gwf
has_mode gwf || gwf_mode=change
has_mode "$gwf_mode" || gwf_mode=plain
has_baseline() { [ -d "$work/plain/results" ]; }

# verdict NAME: ok | skip | FAIL | (baseline) for the comparison.
verdict() {
    local n=$1 p g c
    p=$(result plain "$n" | cut -d' ' -f1)
    g=$(result "$gwf_mode" "$n" | cut -d' ' -f1)
    c=$(result change "$n" | cut -d' ' -f1)
    case $g:$c in crash:* | asan:* | *:crash | *:asan) echo FAIL; return ;; esac
    # No result at all: the file never ran (prove could not start it), which
    # is a broken run, not a skip.
    if { has_mode plain || [ -n "$baseline" ]; } && [ "$p" = none ]; then
        echo FAIL; return
    fi
    [ "$g" = none ] && { echo FAIL; return; }
    if [ "$gwf_mode" = plain ]; then
        case $p in pass) echo ok ;; skip) echo skip ;; *) echo FAIL ;; esac
        return
    fi
    case $g in
    skip) echo skip ;;
    pass) echo ok ;;
    *) if has_baseline && [ "$p" != pass ]; then echo baseline; else echo FAIL; fi ;;
    esac
}

if [ $retry = 1 ] && [ "$gwf_mode" = gwf ] && has_baseline; then
    again=()
    for f in "${files[@]}"; do
        [ "$(verdict "${f%.t}")" = FAIL ] || continue
        # A hang is no matter of load: not run again.
        read -r gv _ greason <<<"$(result gwf "${f%.t}")"
        [ "$gv" = fail ] && [[ $greason != timeout* ]] && again+=("$f")
    done
    # Many failures are no matter of load either: not run again.
    if [ ${#again[@]} -gt $RETRY_MAX ]; then
        echo "nginx-tests: ${#again[@]} gwf-only failures, more than" \
            "$RETRY_MAX: not run again"
    elif [ ${#again[@]} -gt 0 ]; then
        echo "nginx-tests: running ${#again[@]} gwf-only failures again, alone"
        for f in "${again[@]}"; do
            for m in plain gwf; do
                cp "$work/$m/results/${f%.t}" "$work/$m/results/${f%.t}.first"
            done
            jobs=1 run_mode plain prove-again.log "$f" >/dev/null
            jobs=1 run_mode gwf prove-again.log "$f" >/dev/null
            if [ "$(verdict "${f%.t}")" = ok ]; then
                echo "flaky" >"$work/gwf/results/${f%.t}.flaky"
            fi
        done
    fi
fi

passed=0 failed=0 skipped=0
columns=("${mode_list[@]}")
[ -z "$baseline" ] || columns=(plain "${mode_list[@]}")
table=$work/table.txt
{
    printf '%-44s' file
    for m in "${columns[@]}"; do printf ' %-6s %4s' "$m" s; done
    printf '  verdict\n'
    for f in "${files[@]}"; do
        n=${f%.t}
        v=$(verdict "$n")
        note=""
        [ -f "$work/gwf/results/$n.flaky" ] && note="flaky, passed alone"
        case $v in
        ok) passed=$((passed + 1)) ;;
        skip | baseline) skipped=$((skipped + 1)) ;;
        FAIL) failed=$((failed + 1)) ;;
        esac
        printf '%-44s' "$n"
        for m in "${columns[@]}"; do
            read -r mv ms _ <<<"$(result "$m" "$n")"
            printf ' %-6s %4s' "$mv" "$ms"
        done
        if [ "$v" = FAIL ]; then
            read -r _ _ why <<<"$(result "$gwf_mode" "$n")"
            if [ "$gwf_mode" != change ]; then
                read -r cv _ cwhy <<<"$(result change "$n")"
                case $cv in crash | asan) why="change: $cwhy" ;; esac
            fi
            note="$why"
        fi
        printf '  %s%s\n' "$v" "${note:+ ($note)}"
    done
    printf '\n%s passed, %s failed, %s skipped\n' $passed $failed $skipped
} >"$table"

# The whole table for a short list; for --all the rows that say something.
if [ ${#files[@]} -le 100 ]; then
    sed '$d' "$table" | sed '$d'
else
    head -1 "$table"
    grep -E '  (FAIL|baseline)|flaky' "$table" || true
    echo "(full table: $table)"
fi
echo "nginx-tests: logs in $work (per mode: prove.log, prove-again.log," \
    "files/NAME/{tap,stderr,tmp})"
if [ $failed = 0 ] && [ $keep = 0 ]; then
    rm -rf "$work"
    echo "nginx-tests: all clean, removed $work"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
