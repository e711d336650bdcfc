/*
 * fuzz_ratelimit_config.c - libFuzzer harness for the rate_limit plugin's
 * config parsing: the operator's JSON and envoyproxy/ratelimit's limits
 * files, both untrusted.
 *
 * Each input is used four ways:
 *   1. as the GatewayExtension's spec.rateLimit JSON (rl_config_parse);
 *   2. as a TrafficPolicy's rateLimit.global JSON (rl_route_parse);
 *   3. as a limits file (YAML, or JSON when it starts with '{') named by
 *      descriptorsFile, which reaches the YAML-to-JSON reader;
 *   4. when 1 or 3 parsed, its descriptor tree is matched against request
 *      descriptors cut from the input, and a fixed-window key is built.
 * A fake host answers config_error, lookup_document (a Backend and a
 * Secret, so backendRef and passwordSecretRef parse) and config_dir.
 * Everything is freed: LeakSanitizer reports what is not.
 *
 * The plugin's parsing sources (config.c, limits_file.c, descriptors.c,
 * fixed_window.c) and the SDK are compiled in, so coverage reaches into them,
 * with -DRL_NO_RESOLVE: a host name in the input must not become a DNS query.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rate_limit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fake_config_error(gwf_instance *inst, const char *field, const char *msg,
                  size_t len)
{
    (void)inst;
    (void)field;
    (void)msg;
    (void)len;
}

static gwf_status
fake_lookup(gwf_instance *inst, const char *kind, const char *ref,
            gwf_view *spec)
{
    (void)inst;
    (void)ref;
    if (strcmp(kind, "Backend") == 0)
        *spec = gwf_cstr("{\"static\": {\"hosts\": [{\"host\": "
                         "\"127.0.0.1\", \"port\": 6379}]}}");
    else if (strcmp(kind, "Secret") == 0)
        *spec = gwf_cstr("{\"data\": {\"password\": \"aHVudGVyMg==\"}}");
    else
        return GWF_ERR_NOT_FOUND;
    return GWF_OK;
}

static gwf_view
fake_config_dir(gwf_instance *inst)
{
    (void)inst;
    return gwf_cstr("");
}

static gwf_host fake_host = {
    .size = sizeof(gwf_host),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "fuzz",
    .config_error = fake_config_error,
    .lookup_document = fake_lookup,
    .config_dir = fake_config_dir,
};
static gwf_instance fake_instance = {&fake_host};

/* Match request descriptors cut from the input against the tree. */
static void
exercise_tree(const rl_config *cfg, const uint8_t *data, size_t size)
{
    rl_entry entries[RL_MAX_ENTRIES];
    size_t count = 0, pos = 0;

    while (pos < size && count < RL_MAX_ENTRIES) {
        size_t klen = data[pos] % 8, vlen;
        pos++;
        if (pos + klen > size)
            break;
        entries[count].key = (const char *)data + pos;
        entries[count].key_len = klen;
        pos += klen;
        vlen = pos < size ? data[pos] % 16 : 0;
        pos++;
        if (pos + vlen > size)
            vlen = pos < size ? size - pos : 0;
        entries[count].value = pos < size ? (const char *)data + pos : "";
        entries[count].value_len = vlen;
        pos += vlen;
        count++;
        const rl_limit *limit =
            rl_descriptors_match(&cfg->root, entries, count);
        if (limit && !limit->unlimited) {
            gwf_strbuf key = {0};
            rl_fixed_window_key(&key, cfg->key_head ? cfg->key_head : "",
                                cfg->key_head_len, entries, count,
                                limit->unit_seconds, 1767225600, NULL);
            gwf_strbuf_free(&key);
        }
    }
}

static void
parse_spec(json_t *spec, const uint8_t *data, size_t size)
{
    rl_config cfg;
    gwf_cfg c;

    memset(&cfg, 0, sizeof(cfg));
    cfg.instance = &fake_instance;
    gwf_cfg_init(&c, &fake_instance);
    if (rl_config_parse(&cfg, &c, spec) == GWF_OK && !cfg.is_local)
        exercise_tree(&cfg, data, size);
    rl_config_free(&cfg);
}

static void
parse_as_file(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/fuzz-rl-XXXXXX";
    int fd = mkstemp(path);
    json_t *spec;

    if (fd < 0)
        return;
    if (write(fd, data, size) == (ssize_t)size) {
        spec = json_pack("{s:{s:s}, s:s, s:s}", "redis", "address",
                         "127.0.0.1:6379", "descriptorsFile", path, "domain",
                         "fuzz");
        if (spec)
            parse_spec(spec, data, size);
        json_decref(spec);
    }
    close(fd);
    unlink(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)data, size, 0, &je);

    if (json_is_object(doc)) {
        rl_route route;
        gwf_cfg c;
        parse_spec(doc, data, size);
        memset(&route, 0, sizeof(route));
        gwf_cfg_init(&c, &fake_instance);
        rl_route_parse(&c, doc, &route);
        rl_route_free(&route);
    }
    json_decref(doc);
    parse_as_file(data, size);
    return 0;
}
