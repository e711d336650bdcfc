# gwf in a container: Debian's nginx with the gwf module, the `gwf` CLI,
# the first-party plugins, the SDK headers and pkg-config files, installed
# under /usr/local.
#
#   docker build -t gwf .
#   docker run --rm gwf                                   # gwf --help
#   docker run --rm gwf gwf inspect direct_response
#   docker run --rm -v $PWD/my-gateway:/etc/gwf -p 8080:8080 gwf \
#       nginx -g 'daemon off;' -c /etc/gwf/nginx.conf
#
# An nginx.conf for the last line starts with
#   load_module /usr/local/lib/x86_64-linux-gnu/nginx/modules/ngx_http_gwf_module.so;
# and uses gwf_manifests / gwf_direct_response ... (host/nginx/README.md).

# -- build: the same packages and build a developer uses -----------------------
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN bash scripts/setup.sh && rm -rf /var/lib/apt/lists/*
# Only the sources the build reads, not a developer's build directories.
COPY meson.build meson_options.txt ./
COPY abi abi
COPY sdk sdk
COPY host host
COPY plugins plugins
COPY bench bench
COPY fuzz fuzz
COPY tests tests
RUN meson setup /build --prefix=/usr/local -Dtests=false -Dnginx=enabled \
    && ninja -C /build \
    && meson install -C /build \
    && /usr/local/bin/gwf inspect direct_response

# -- runtime: shared libraries only, no compilers ---------------------------
FROM debian:bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libyaml-0-2 libjansson4 libcurl4 libssl3 libpcre2-8-0 \
        libhiredis0.14 libjwt0 libprotobuf-c1 libnghttp2-14 ca-certificates \
        nginx \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local /usr/local
COPY examples/gateway /usr/local/share/gwf/examples/gateway
RUN gwf inspect direct_response >/dev/null
CMD ["gwf", "--help"]
