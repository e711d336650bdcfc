/*
 * fuzz_cors.c - libFuzzer harness for the cors plugin's parsing: the
 * operator's `cors` JSON and the request's Origin header, both
 * untrusted.
 *
 * Each input is used three ways:
 *   1. as the plugin's config JSON (cors_config_parse); when it parses,
 *      a few fixed origins and the input itself are matched against the
 *      rules it built;
 *   2. as one allowOrigins entry (cors_origin_parse); when it parses,
 *      it is matched against fixed origins and the input;
 *   3. as a request's Origin, matched against the conformance suite's
 *      rules (www.foo.com, and "*.bar.com" as host, over https), "*" and
 *      "http://" with a "*" host.
 * A fake host answers config_error. Everything is freed: LeakSanitizer
 * reports what is not. config.c and origin.c are compiled in, so
 * coverage reaches into them.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cors.h"

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

static void
fake_log(gwf_instance *inst, gwf_log_level level, const char *msg, size_t len)
{
    (void)inst;
    (void)level;
    (void)msg;
    (void)len;
}

static gwf_host fake_host = {
    .size = sizeof(gwf_host),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "fuzz",
    .log = fake_log,
    .config_error = fake_config_error,
};

static gwf_instance fake_instance = {&fake_host};

static const char *const origins[] = {
    "https://www.foo.com", "https://a.www.bar.com:443",
    "http://[::1]:8080",   "null",
    "HTTPS://WWW.BAR.COM", "https://bar.com"};

static void
match_all(const cors_origin *rules, size_t count, gwf_view input)
{
    for (size_t i = 0; i < sizeof(origins) / sizeof(origins[0]); i++)
        (void)cors_origin_allowed(rules, count, gwf_cstr(origins[i]));
    (void)cors_origin_allowed(rules, count, input);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fixed[] = {"https://www.foo.com",
                                        "https://*.bar.com", "*", "http://*"};
    gwf_view input = {(const char *)data, size};
    cors_origin rules[4], one;
    cors_config *cfg = NULL;

    if (cors_config_parse(&fake_instance, input, &cfg) == GWF_OK) {
        match_all(cfg->origins, cfg->origin_count, input);
        cors_config_free(cfg);
    }
    if (cors_origin_parse(input.ptr, input.len, &one) == NULL)
        match_all(&one, 1, input);
    for (size_t i = 0; i < 4; i++)
        if (cors_origin_parse(fixed[i], strlen(fixed[i]), &rules[i]) != NULL)
            __builtin_trap();
    for (size_t i = 0; i < 4; i++)
        (void)cors_origin_allowed(rules, i + 1, input);
    return 0;
}
