/*
 * fuzz_csrf.c - libFuzzer harness for the csrf plugin's parsing: the
 * operator's `csrf` JSON (string matchers and their PCRE2 regexes) and
 * the request's Origin / Referer and Host, all untrusted.
 *
 * Each input is used three ways:
 *   1. as the plugin's config JSON (csrf_config_parse); when it parses,
 *      the input's host and port and a few fixed sources are checked
 *      against it, with match data as a worker has;
 *   2. as an Origin or Referer value: reduced to its host and port
 *      (csrf_host_and_port) and checked against a fixed config with one
 *      matcher of each kind, the regex included;
 *   3. split at its first NUL into source and Host: the two compared.
 * A fake host answers config_error. Everything is freed: LeakSanitizer
 * reports what is not. config.c and check.c are compiled in.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "csrf.h"

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

static gwf_host fake_host = {
    .size = sizeof(gwf_host),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "fuzz",
    .config_error = fake_config_error,
};

static gwf_instance fake_instance = {&fake_host};

static const char fixed_config[] =
    "{\"percentageEnabled\": 100, \"additionalOrigins\": ["
    "{\"exact\": \"app.example\"}, {\"prefix\": \"admin.\"},"
    "{\"suffix\": \".trusted.example\", \"ignoreCase\": true},"
    "{\"contains\": \"-partner-\"},"
    "{\"safeRegex\": \"(a|aa)*b|shop[0-9]+\\\\.example:8443\"}]}";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static csrf_config *fixed;
    static pcre2_match_data *md;
    gwf_view input = {(const char *)data, size};
    gwf_view source = csrf_host_and_port(input), target = gwf_cstr("h.example");
    const char *nul = memchr(data, '\0', size);
    csrf_config *cfg = NULL;

    if (!fixed) {
        if (csrf_config_parse(&fake_instance, gwf_cstr(fixed_config), &fixed) !=
            GWF_OK)
            __builtin_trap();
        md = pcre2_match_data_create(1, NULL);
    }
    if (csrf_config_parse(&fake_instance, input, &cfg) == GWF_OK) {
        (void)csrf_source_allowed(cfg, source, target, md);
        (void)csrf_source_allowed(cfg, gwf_cstr("app.example"), target, md);
        csrf_config_free(cfg);
    }
    (void)csrf_is_modify_method(input);
    (void)csrf_source_allowed(fixed, source, target, md);
    if (nul) {
        gwf_view a = {(const char *)data, (size_t)(nul - (const char *)data)};
        gwf_view b = {nul + 1, size - a.len - 1};
        (void)csrf_source_allowed(fixed, csrf_host_and_port(a),
                                  csrf_host_and_port(b), md);
    }
    return 0;
}
