#!/usr/bin/env bash
# cli_test.sh - tests of the `gwf` command, one behaviour per case.
#
#   cli_test.sh CASE
#
# meson runs each case as its own test (tests/cli/meson.build) and passes,
# by environment:
#   GWF_EXE              the gwf binary under test
#   DIRECT_RESPONSE_DIR  the directory direct_response.so was built in
#   PROBE_DIR            the directory of the probe test plugin
#   BAD_PLUGINS_DIR      the directory of tests/support/bad's objects
#   CLI_SOURCE_DIR       this directory (for data/ and echo_server.py)
#   POLICY_PLUGIN_PATH   the directories of the cors, csrf, basic_auth and
#                        api_key_auth plugins (':'-separated)
# GWF_PLUGIN_PATH is set here from the two plugin directories, as an
# operator would set it.
#
# Every case runs gwf once (or twice), keeps its stdout, stderr and exit
# status, and checks them; the first failed check prints what gwf said
# and exits 1.
set -uo pipefail

for v in GWF_EXE DIRECT_RESPONSE_DIR PROBE_DIR BAD_PLUGINS_DIR CLI_SOURCE_DIR \
    POLICY_PLUGIN_PATH; do
    if [ -z "${!v:-}" ]; then
        echo "cli_test.sh: $v is not set (run through meson test)" >&2
        exit 1
    fi
done
case_name=${1:?usage: cli_test.sh CASE}
data=$CLI_SOURCE_DIR/data
export GWF_PLUGIN_PATH=$DIRECT_RESPONSE_DIR:$PROBE_DIR

work=$(mktemp -d "${TMPDIR:-/tmp}/gwf-cli.XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

out=$work/stdout
err=$work/stderr
status=0

# gwf ARGS...: run the binary, keeping stdout, stderr and the status.
gwf() {
    printf '+ gwf %s\n' "$*"
    status=0
    "$GWF_EXE" "$@" >"$out" 2>"$err" </dev/null || status=$?
}

fail() {
    echo "FAIL ($case_name): $*"
    echo "--- exit status: $status"
    echo "--- stdout:"
    cat "$out" 2>/dev/null
    echo "--- stderr:"
    cat "$err" 2>/dev/null
    exit 1
}

expect_status() {
    [ "$status" -eq "$1" ] || fail "expected exit status $1, got $status"
}

expect_nonzero() {
    [ "$status" -ne 0 ] || fail "expected a non-zero exit status"
}

# expect_out / expect_err TEXT: the stream contains TEXT (fixed string).
expect_out() { grep -qF -- "$1" "$out" || fail "stdout lacks: $1"; }
expect_err() { grep -qF -- "$1" "$err" || fail "stderr lacks: $1"; }

# expect_err_lines N: stderr has exactly N non-empty lines.
expect_err_lines() {
    local n
    n=$(grep -c . "$err")
    [ "$n" -eq "$1" ] || fail "expected $1 error line(s), got $n"
}

# expect_json PYTHON: stdout is a JSON document `d` for which each line of
# PYTHON (an assert statement, or anything) holds.
expect_json() {
    local why
    # shellcheck disable=SC2016 # Python source, not shell
    why=$(python3 -c '
import base64, json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
def header(headers, name):
    """The first value of `name` in a [[name, value], ...] list."""
    for n, v in headers:
        if n.lower() == name.lower():
            return v
    return None
exec(sys.argv[2])
' "$out" "$1" 2>&1) || fail "JSON check failed: $why"
}

# -- inspect --------------------------------------------------------------------

case_inspect_prints_name_version_abi_hooks() {
    gwf inspect "$DIRECT_RESPONSE_DIR/direct_response.so"
    expect_status 0
    grep -Eq '^name: +direct_response$' "$out" || fail "no name line"
    grep -Eq '^version: +[0-9]+\.[0-9]+' "$out" || fail "no version line"
    grep -Eq '^abi: +[0-9]+\.[0-9]+ \(this host: [0-9]+\.[0-9]+\)$' "$out" ||
        fail "no abi line"
    grep -Eq '^hooks: .*request_headers' "$out" || fail "no hooks line"
    expect_out "direct_response.so"
}

case_inspect_json_has_name_version_abi_hooks() {
    gwf inspect direct_response --json
    expect_status 0
    expect_json '
assert d["name"] == "direct_response", d["name"]
assert isinstance(d["version"], str) and d["version"], d["version"]
assert d["abi"].count(".") == 1, d["abi"]
assert "request_headers" in d["hooks"], d["hooks"]
assert d["path"].endswith("/direct_response.so"), d["path"]'
}

case_inspect_missing_plugin_is_named() {
    gwf inspect no_such_plugin_xyz
    expect_status 1
    expect_err "no_such_plugin_xyz"
}

case_inspect_non_plugin_names_missing_symbol() {
    gwf inspect "$BAD_PLUGINS_DIR/not_a_plugin.so"
    expect_status 1
    expect_err "not_a_plugin.so"
    expect_err "gwf_plugin_entry"
}

# -- validate -------------------------------------------------------------------

case_validate_good_manifests_exits_0() {
    gwf validate "$data/good.yaml" "$data/passthrough.yaml"
    expect_status 0
    expect_out "ok"
}

# Kinds gwf does not read (a Deployment, a ServiceAccount) are skipped
# with one line each, never refused; the rest is validated as usual.
case_validate_skips_unread_kinds_with_a_note() {
    gwf validate "$data/mixed_kinds.yaml"
    expect_status 0
    expect_out "ok"
    expect_err_lines 2
    expect_err 'mixed_kinds.yaml:3: document 1: skipped kind "Deployment" echo'
    expect_err 'mixed_kinds.yaml:8: document 2: skipped kind "ServiceAccount" echo'
}

# kgateway's Backend and GatewayExtension get the Accepted condition the
# data plane gives them: Accepted when the runtime takes them (the
# extension's plugin found and configured), Invalid with the reason when
# not.
kgateway_condition() { # KIND NAME: "status reason message" of Accepted
    python3 -c '
import json, sys
for o in json.load(open(sys.argv[1]))["items"]:
    if o["kind"] == sys.argv[2] and o["metadata"]["name"] == sys.argv[3]:
        c = [c for c in o["status"]["conditions"] if c["type"] == "Accepted"][0]
        print(c["status"], c["reason"], c["message"])
' "$out" "$1" "$2"
}

case_gateway_status_accepts_the_kgateway_objects_the_data_plane_takes() {
    gwf gateway status -f "$data/kgateway_objects.yaml" -o json
    expect_status 0
    [ "$(kgateway_condition Backend static)" = \
        "True Accepted accepted by the data plane" ] ||
        fail "Backend static: $(kgateway_condition Backend static)"
    [ "$(kgateway_condition GatewayExtension passthrough)" = \
        "True Accepted accepted by the data plane" ] ||
        fail "passthrough: $(kgateway_condition GatewayExtension passthrough)"
}

case_gateway_status_reports_an_extension_without_its_plugin_invalid() {
    gwf gateway status -f "$data/kgateway_objects.yaml" -o json
    expect_status 0
    local got
    got=$(kgateway_condition GatewayExtension missing)
    case $got in
    "False Invalid "*no_such_plugin*) ;;
    *) fail "GatewayExtension missing: $got" ;;
    esac
}

# -- TrafficPolicy fields run as plugins: cors, csrf, basicAuth, apiKeyAuth -----

# policy_fields.yaml: the route's policy switches cors off and gives csrf
# and apiKeyAuth, the Gateway's gives basicAuth (its cors and csrf lost);
# the location names each policy once, with its fields in chain order,
# and the lines follow the chain (apiKeyAuth before basicAuth, so the
# route's line first). cors, switched off, is not written.
case_gateway_render_merges_policy_fields_into_gwf_policy_lines_in_chain_order() {
    gwf gateway render -f "$data/policy_fields.yaml" -o "$work/out" \
        --plugin-path "$POLICY_PLUGIN_PATH:$GWF_PLUGIN_PATH"
    expect_status 0
    local conf=$work/out/nginx.conf lines
    lines=$(grep -F 'gwf_policy' "$conf")
    [ "$lines" = '            gwf_policy "default/route" apiKeyAuth csrf;
            gwf_policy "default/gw-wide" basicAuth;' ] ||
        fail "gwf_policy lines: $lines"
    grep -qF 'gwf_route "prefix=/other" status=500;' "$conf" ||
        fail "route other (both-basic) does not answer 500"
}

case_gateway_status_accepts_policies_with_the_new_fields() {
    gwf gateway status -f "$data/policy_fields.yaml" -o json \
        --plugin-path "$POLICY_PLUGIN_PATH:$GWF_PLUGIN_PATH"
    expect_status 0
    local p
    for p in gw-wide route; do
        [ "$(kgateway_condition TrafficPolicy "$p")" = \
            "True Accepted accepted by the data plane" ] ||
            fail "TrafficPolicy $p: $(kgateway_condition TrafficPolicy "$p")"
    done
}

# kgateway's ExactlyOneOf on basicAuth is the runtime's check: the policy
# is Invalid, naming the field, and the route it targets answers 500.
case_gateway_basic_auth_with_users_and_secret_ref_fails_its_route_closed() {
    gwf gateway status -f "$data/policy_fields.yaml" -o json \
        --plugin-path "$POLICY_PLUGIN_PATH:$GWF_PLUGIN_PATH"
    expect_status 0
    local got
    got=$(kgateway_condition TrafficPolicy both-basic)
    [ "$got" = "False Invalid spec.basicAuth: expected exactly one of users, secretRef, disable (kgateway's rule), found 2" ] ||
        fail "TrafficPolicy both-basic: $got"
}

# A header value from a Secret that does not resolve: the policy is not
# Accepted (the translator's reason, naming the Secret), as kgateway
# reports a policy it cannot translate.
case_gateway_status_reports_a_policy_with_a_missing_header_secret_invalid() {
    gwf gateway status -f "$data/header_secret_missing.yaml" -o json
    expect_status 0
    local got
    got=$(kgateway_condition TrafficPolicy hdr)
    case $got in
    "False Invalid "*upstream-token*) ;;
    *) fail "TrafficPolicy hdr: $got" ;;
    esac
}

# The rendered configuration may hold header values from Secrets: it is
# written for its owner only, whatever the umask.
case_gateway_render_writes_the_configuration_for_its_owner_only() {
    (umask 022 && "$GWF_EXE" gateway render -f "$data/gateway_min.yaml"         -o "$work/out") >"$out" 2>"$err"
    status=$?
    expect_status 0
    local mode
    mode=$(stat -c %a "$work/out/nginx.conf")
    [ "$mode" = 600 ] || fail "nginx.conf mode $mode, want 600"
}

# nginx reads relative paths against its prefix, not the directory gwf
# ran in: the module and plugin directories given relative are written
# absolute.
case_gateway_render_writes_module_and_plugin_paths_absolute() {
    mkdir -p "$work/cwd/mods" "$work/cwd/plugins"
    touch "$work/cwd/mods/gwf.so"
    (cd "$work/cwd" && "$GWF_EXE" gateway render -f "$data/gateway_min.yaml" \
        -o "$work/out" --module mods/gwf.so --plugin-path plugins) \
        >"$out" 2>"$err"
    status=$?
    expect_status 0
    grep -qF "load_module $work/cwd/mods/gwf.so;" "$work/out/nginx.conf" ||
        fail "load_module is not absolute: $(grep load_module "$work/out/nginx.conf")"
}

# Each bad manifest has one error: exit 1, one line naming file:line and
# the field.
case_validate_unresolved_extension_ref_fails() {
    gwf validate "$data/good.yaml" "$data/bad_ref.yaml"
    expect_status 1
    expect_err_lines 1
    # Line 10 holds the name that does not resolve.
    expect_err "bad_ref.yaml:10:"
    expect_err "spec.extAuth.extensionRef"
    expect_err "no-such-extension"
}

case_validate_direct_response_status_99_fails() {
    gwf validate "$data/bad_status.yaml"
    expect_status 1
    expect_err_lines 1
    expect_err "bad_status.yaml:8:"
    expect_err "spec.status"
    expect_err "99"
}

case_validate_yaml_syntax_error_fails() {
    gwf validate "$data/bad_syntax.yaml"
    expect_status 1
    expect_err_lines 1
    # libyaml notices the unclosed flow mapping of line 8 on line 9.
    grep -Eq 'bad_syntax\.yaml:(8|9):' "$err" || fail "no file:line"
}

# A FIFO named like a manifest used to block gwf forever in open(). It is
# refused at once, by name; the regular file beside it is still read, and
# the exit status says the manifests are not valid.
case_validate_fifo_in_manifest_dir_is_refused_promptly() {
    mkdir "$work/manifests"
    cp "$data/good.yaml" "$work/manifests/good.yaml"
    mkfifo "$work/manifests/pipe.yaml"
    printf '+ timeout 10 gwf validate %s\n' "$work/manifests"
    status=0
    timeout 10 "$GWF_EXE" validate "$work/manifests" >"$out" 2>"$err" \
        </dev/null || status=$?
    [ "$status" -ne 124 ] || fail "gwf validate still blocked after 10 s"
    expect_status 1
    expect_err_lines 1
    expect_err "$work/manifests/pipe.yaml: refused: a FIFO, not a regular file"
}

# -- run: local replies ------------------------------------------------------

case_run_direct_response_replies_locally() {
    gwf run -f "$data/good.yaml" --direct-response hello \
        --request "$data/get.http"
    expect_status 0
    expect_out "=== local reply"
    expect_out "HTTP/1.1 200"
    expect_out "x-served-by: gwf-cli-test"
    expect_out "hello from gwf"
    grep -q "=== upstream request" "$out" && fail "went upstream"
    return 0
}

case_run_direct_response_json() {
    gwf run -f "$data/good.yaml" --direct-response default/gone \
        --request "$data/get.http" --json
    expect_status 0
    expect_json '
assert d["outcome"] == "local_reply", d["outcome"]
assert d["upstream_request"] is None, d["upstream_request"]
assert d["response"]["status"] == 410, d["response"]["status"]
assert d["response"]["body"] == "this page is gone\n", d["response"]["body"]'
}

# -- run: forwarding ------------------------------------------------------------

# Checks the JSON of post.http forwarded to the upstream_201.http stub.
check_forwarded_post() {
    expect_json '
assert d["outcome"] == "forwarded", d["outcome"]
up = d["upstream_request"]
assert up["method"] == "POST", up["method"]
assert up["path"] == "/orders", up["path"]
assert header(up["headers"], "x-request-id") == "cli-42", up["headers"]
assert header(up["headers"], "content-type") == "application/json"
assert up["body"] == "{\"item\":\"tea\"}", up["body"]
r = d["response"]
assert r["status"] == 201, r["status"]
assert header(r["headers"], "x-upstream") == "stub", r["headers"]
assert json.loads(r["body"]) == {"id": 7, "state": "created"}, r["body"]'
}

case_run_without_extension_forwards() {
    gwf run --request "$data/post.http" \
        --upstream-response "$data/upstream_201.http" --json
    expect_status 0
    check_forwarded_post
}

case_run_passthrough_extension_forwards() {
    gwf run -f "$data/passthrough.yaml" --extension passthrough \
        --request "$data/post.http" \
        --upstream-response "$data/upstream_201.http" --json
    expect_status 0
    check_forwarded_post
}

case_run_forwarded_text_shows_upstream_request() {
    gwf run --request "$data/post.http" \
        --upstream-response "$data/upstream_201.http"
    expect_status 0
    expect_out "=== upstream request"
    expect_out "POST /orders HTTP/1.1"
    expect_out "=== response"
    expect_out "HTTP/1.1 201"
}

case_run_binary_body_is_base64() {
    gwf run --request "$data/binary.http" --json
    expect_status 0
    expect_json '
up = d["upstream_request"]
assert "body" not in up, up
assert base64.b64decode(up["body_base64"]) == b"\x00\xff\xfe\x80A", up
assert d["response"]["status"] == 200, d["response"]'
}

case_run_real_upstream_forwards() {
    local port_file=$work/port
    python3 "$CLI_SOURCE_DIR/echo_server.py" "$port_file" \
        2>"$work/server.log" &
    server_pid=$!
    for _ in $(seq 100); do
        [ -s "$port_file" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -s "$port_file" ] || fail "echo server did not start: $(cat "$work/server.log")"
    local port
    port=$(cat "$port_file")
    gwf run -f "$data/passthrough.yaml" --extension passthrough \
        --request "$data/post.http" --upstream "http://127.0.0.1:$port" --json
    expect_status 0
    expect_json '
assert d["outcome"] == "forwarded", d["outcome"]
r = d["response"]
assert r["status"] == 200, r["status"]
assert header(r["headers"], "x-echo") == "yes", r["headers"]
echo = json.loads(r["body"])
assert echo["method"] == "POST", echo
assert echo["path"] == "/orders", echo
assert header(echo["headers"], "x-request-id") == "cli-42", echo
assert echo["body"] == "{\"item\":\"tea\"}", echo'
}

# -- usage and input errors ---------------------------------------------------

case_run_bad_now_exits_2() {
    gwf run --request "$data/get.http" --now yesterday
    expect_status 2
    expect_err "yesterday"
}

case_unknown_command_exits_2() {
    gwf frobnicate
    expect_status 2
    expect_err "frobnicate"
}

case_run_malformed_request_file_is_named() {
    gwf run --request "$data/malformed.http"
    expect_nonzero
    expect_err "malformed.http"
}

case_run_missing_request_file_is_named() {
    gwf run --request "$work/no-such-request.http"
    expect_nonzero
    expect_err "no-such-request.http"
}

fn=case_${case_name//-/_}
if ! declare -F "$fn" >/dev/null; then
    echo "cli_test.sh: unknown case $case_name" >&2
    exit 1
fi
"$fn"
echo "ok: $case_name"
