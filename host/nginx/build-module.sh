#!/usr/bin/env bash
# build-module.sh - build ngx_http_gwf_module.so against the system nginx
# (Debian's nginx-dev), binary-compatible with Debian's nginx binary.
#
#   build-module.sh SRC_DIR BUILD_DIR RUNTIME_LIB CFLAGS OUTPUT [LDFLAGS [DEPFILE]]
#
#   SRC_DIR      directory holding the nginx `config` file and the
#                module's sources, ngx_http_gwf_*.c (host/nginx)
#   BUILD_DIR    private, writable directory for the copied nginx tree
#   RUNTIME_LIB  path of the static runtime, libgwf-runtime.a (-fPIC)
#   CFLAGS       extra compiler flags, e.g. "-O2 -g" or, for a sanitizer
#                build, "-O2 -g -fsanitize=address,undefined ..."
#   OUTPUT       where to put the module .so
#   LDFLAGS      extra linker flags, e.g. the sanitizer flags
#   DEPFILE      optional: write a Makefile-style depfile for OUTPUT naming
#                every gwf header the module source includes (for ninja)
#
# Environment: CC (the compiler, default cc); NGINX_SRC (default
# /usr/share/nginx/src, from nginx-dev); GWF_SOURCE_ROOT (the gwf tree,
# default SRC_DIR/../..).
#
# The recipe is nginx's own: copy NGINX_SRC into BUILD_DIR, run configure
# with exactly the flags Debian built its nginx with (NGINX_SRC/conf_flags,
# which include --with-compat) plus --add-dynamic-module=SRC_DIR, then
# `make -f objs/Makefile modules`. Configure runs once per BUILD_DIR; it is
# re-run only when its inputs change (compiler, nginx-dev, `config`, paths).
# Each run recompiles the module source and relinks: about a second.
#
# CFLAGS and LDFLAGS are deliberately not given to configure (as
# --with-cc-opt/--with-ld-opt): configure compiles and *runs* its feature
# tests with those, so sanitizer flags would either break it (clang's
# -shared-libasan: the test programs cannot find the runtime) or could
# change what it detects. Configure sees exactly Debian's flags, so
# objs/ngx_auto_config.h matches Debian's nginx; our flags are appended to
# CFLAGS and LINK in objs/Makefile and given to make. nginx's own CFLAGS
# (-O -W -Wall -Wpointer-arith -Wno-unused-parameter -Werror -g) come first,
# so "-O2" in CFLAGS wins and any warning in the module source is an error.
#
# Quiet: the output goes to BUILD_DIR/build.log, whose tail is printed on
# failure.
#
# Sanitizers: with -fsanitize=address in CFLAGS/LDFLAGS the module (and the
# runtime archive, built the same way by meson) is instrumented but the
# system nginx binary is not, so the ASan runtime must be loaded first:
#   gcc:   LD_PRELOAD=$(gcc -print-file-name=libasan.so) nginx ...
#   clang: LD_PRELOAD=$(clang -print-file-name=libclang_rt.asan-x86_64.so) nginx ...
# (and ASAN_OPTIONS=detect_leaks=0, since nginx does not free its cycle
# at exit). See host/nginx/README.md.
set -euo pipefail

prog=build-module.sh
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }

if [ $# -lt 5 ] || [ $# -gt 7 ]; then
    die "usage: $prog SRC_DIR BUILD_DIR RUNTIME_LIB CFLAGS OUTPUT [LDFLAGS [DEPFILE]]"
fi

src_dir=$1 build_dir=$2 runtime_lib=$3 cflags=$4 output=$5
ldflags=${6:-} depfile=${7:-}
nginx_src=${NGINX_SRC:-/usr/share/nginx/src}
cc=${CC:-cc}

if [ ! -x "$nginx_src/configure" ] || [ ! -f "$nginx_src/conf_flags" ]; then
    die "nginx-dev is not installed: apt-get install nginx nginx-dev"
fi
[ -f "$src_dir/config" ] || die "no nginx module config in $src_dir"
[ -f "$src_dir/ngx_http_gwf_module.c" ] ||
    die "no module source $src_dir/ngx_http_gwf_module.c"
[ -f "$runtime_lib" ] || die "runtime library $runtime_lib not found"

src_dir=$(cd "$src_dir" && pwd)
runtime_lib=$(cd "$(dirname "$runtime_lib")" && pwd)/$(basename "$runtime_lib")
GWF_SOURCE_ROOT=$(cd "${GWF_SOURCE_ROOT:-$src_dir/../..}" && pwd)
export GWF_SOURCE_ROOT GWF_RUNTIME_LIB=$runtime_lib CC=$cc

mkdir -p "$build_dir"
build_dir=$(cd "$build_dir" && pwd)
tree=$build_dir/nginx
log=$build_dir/build.log
stamp=$build_dir/configure.stamp

failed() {
    printf '%s: %s failed; last lines of %s:\n' "$prog" "$1" "$log" >&2
    tail -n 40 "$log" >&2
    exit 1
}

# -MMD: the compiler records which headers the module source includes; the
# gwf ones become the depfile, so ninja rebuilds when any of them changes.
make_cflags="-MMD${cflags:+ $cflags}"
# The runtime archive's own symbols stay inside the module: nothing else in
# the nginx process (nor a plugin) binds to them.
make_ldflags="-Wl,--exclude-libs,$(basename "$runtime_lib")${ldflags:+ $ldflags}"

# Everything configure's result depends on. A change re-runs configure.
signature=$(
    printf 'cc=%s\nsrc=%s\nroot=%s\nlib=%s\n' \
        "$cc" "$src_dir" "$GWF_SOURCE_ROOT" "$runtime_lib"
    # shellcheck disable=SC2086 # CC may be a command line ("ccache cc")
    $cc --version 2>/dev/null | head -n 1 || true
    cat "$nginx_src/conf_flags" "$src_dir/config"
    grep -h 'define NGINX_VERSION ' "$nginx_src/src/core/nginx.h" || true
)

if [ ! -f "$stamp" ] || [ ! -f "$tree/objs/Makefile" ] ||
    [ ! -d "$tree/objs/addon" ] || [ "$(cat "$stamp")" != "$signature" ]; then
    rm -rf "$tree" "$stamp"
    cp -R "$nginx_src" "$tree"
    chmod -R u+w "$tree"
    # conf_flags is a bash array: NGX_CONF_FLAGS=( ... )
    # shellcheck disable=SC1091
    . "$nginx_src/conf_flags"
    {
        echo "+ CC='$cc' ./configure ${NGX_CONF_FLAGS[*]} --add-dynamic-module=$src_dir"
        (cd "$tree" && ./configure "${NGX_CONF_FLAGS[@]}" \
            --add-dynamic-module="$src_dir")
    } >"$log" 2>&1 || failed "nginx configure"
    # Hooks for our flags, given on make's command line below.
    # shellcheck disable=SC2016 # $(...) is for make
    sed -i -e 's/^CFLAGS =.*/& $(GWF_CFLAGS)/' \
        -e 's/^LINK =.*/& $(GWF_LDFLAGS)/' "$tree/objs/Makefile"
    [ "$(grep -c -E '^(CFLAGS|LINK) =.*\$\(GWF_(C|LD)FLAGS\)$' \
        "$tree/objs/Makefile")" -eq 2 ] ||
        failed "patching objs/Makefile (no CFLAGS or LINK line)"
    printf '%s\n' "$signature" >"$stamp"
else
    : >"$log"
fi

# make only tracks the .c file and the headers listed in `config`, never
# the runtime archive nor our flags: drop the module's objects so that every
# run (ninja only runs us when an input changed) recompiles and relinks.
find "$tree/objs/addon" -name '*.o' -delete
rm -f "$tree/objs/ngx_http_gwf_module_modules.o" \
    "$tree/objs/ngx_http_gwf_module.so"
{
    echo "+ make -f objs/Makefile modules GWF_CFLAGS='$make_cflags' GWF_LDFLAGS='$make_ldflags'"
    make -C "$tree" -f objs/Makefile modules \
        GWF_CFLAGS="$make_cflags" GWF_LDFLAGS="$make_ldflags"
} >>"$log" 2>&1 || failed "make modules"

so=$tree/objs/ngx_http_gwf_module.so
[ -f "$so" ] || failed "make modules (no $so)"
mkdir -p "$(dirname "$output")"
cp "$so" "$output.tmp"
mv -f "$output.tmp" "$output"

if [ -n "$depfile" ]; then
    # objs/addon/<dir>/ngx_http_gwf_*.d, one per module source: keep the
    # sources and the headers under the gwf tree (not nginx's own, which
    # live in $tree).
    {
        printf '%s:' "$output"
        find "$tree/objs/addon" -name 'ngx_http_gwf_*.d' -print0 |
            xargs -0 -r sed -e 's/\\$//' -e 's/^[^:]*://' | tr ' ' '\n' |
            awk -v a="$src_dir/" -v b="$GWF_SOURCE_ROOT/" \
                'index($0, a) == 1 || index($0, b) == 1' | sort -u |
            while read -r f; do printf ' \\\n  %s' "$f"; done
        printf '\n'
    } >"$depfile.tmp"
    mv -f "$depfile.tmp" "$depfile"
fi
