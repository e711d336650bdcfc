/*
 * test_config.c - every config error the rate_limit plugin reports, with
 * the field path and the message an operator reads (gwf validate). No
 * Redis is needed: validation never connects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "support.h"

#define REDIS "redis: {address: \"127.0.0.1:6379\"}"
#define LIMITS                                                                 \
    "descriptors: [{key: k, rate_limit: {unit: minute, requests_per_unit: "    \
    "1}}]"
#define ROUTE "[{entries: [{type: Generic, generic: {key: k, value: v}}]}]"
#define OK_SPEC "{" REDIS ", domain: d, " LIMITS "}"

/* A spec.rateLimit error. */
#define SPEC_ERROR(name, spec, field, msg)                                     \
    static void test_##name(void **state)                                      \
    {                                                                          \
        (void)state;                                                           \
        assert_config_error(global_manifests(spec, ROUTE),                     \
                            "spec.rateLimit." field, msg);                     \
    }
/* A rateLimit.global (route) error. */
#define ROUTE_ERROR(name, descs, field, msg)                                   \
    static void test_##name(void **state)                                      \
    {                                                                          \
        (void)state;                                                           \
        assert_config_error(global_manifests(OK_SPEC, descs),                  \
                            "spec.rateLimit.global." field, msg);              \
    }

/* Neither kgateway's grpcService nor gwf's redis: the first is asked. */
SPEC_ERROR(grpc_service_or_redis_is_required, "{domain: d, " LIMITS "}",
           "grpcService",
           "is required (or redis, gwf's direct "
           "Redis mode)")
SPEC_ERROR(address_needs_a_port,
           "{redis: {address: localhost}, domain: d, " LIMITS "}",
           "redis.address", "expected \"host:port\"")
/* Not a valid DNS name: refused without a DNS query (the test stays on
 * this machine). */
SPEC_ERROR(address_host_must_resolve,
           "{redis: {address: \"bad host!:6379\"}, domain: d, " LIMITS "}",
           "redis.address", "cannot resolve \"bad host!\"")
SPEC_ERROR(address_port_out_of_range,
           "{redis: {address: \"127.0.0.1:70000\"}, domain: d, " LIMITS "}",
           "redis.address",
           "expected a port from 1 to 65535 after ':', found \"70000\"")
SPEC_ERROR(address_or_backend_ref_is_required,
           "{redis: {db: 1}, domain: d, " LIMITS "}", "redis.address",
           "is required (or redis.backendRef)")
SPEC_ERROR(address_and_backend_ref_exclude_each_other,
           "{redis: {address: \"127.0.0.1:1\", backendRef: {name: b}}, domain: "
           "d, " LIMITS "}",
           "redis", "expected one of address and backendRef, found both")
SPEC_ERROR(backend_ref_must_exist,
           "{redis: {backendRef: {name: nope}}, domain: d, " LIMITS "}",
           "redis.backendRef", "Backend nope not found")
SPEC_ERROR(db_must_be_in_range,
           "{redis: {address: \"127.0.0.1:1\", db: -1}, domain: d, " LIMITS "}",
           "redis.db", "expected an integer from 0 to 65535, found -1")
SPEC_ERROR(username_needs_a_password,
           "{redis: {address: \"127.0.0.1:1\", username: u}, domain: d, " LIMITS
           "}",
           "redis.username", "needs password or passwordSecretRef")
SPEC_ERROR(password_and_secret_exclude_each_other,
           "{redis: {address: \"127.0.0.1:1\", password: p, passwordSecretRef: "
           "{name: s}}, domain: d, " LIMITS "}",
           "redis", "expected one of password and passwordSecretRef")
SPEC_ERROR(password_secret_must_exist,
           "{redis: {address: \"127.0.0.1:1\", passwordSecretRef: {name: s}}, "
           "domain: d, " LIMITS "}",
           "redis.passwordSecretRef", "Secret s not found")
SPEC_ERROR(unknown_redis_field_is_refused,
           "{redis: {address: \"127.0.0.1:1\", ssl: true}, domain: d, " LIMITS
           "}",
           "redis.ssl",
           "unknown field; expected one of: address, backendRef, db, username, "
           "password, passwordSecretRef, keyPrefix, type, addresses, "
           "masterName, tls")
/* redis.poolSize: 1 to 16 clients per worker. */
SPEC_ERROR(pool_size_is_at_least_one,
           "{redis: {address: \"127.0.0.1:1\", poolSize: 0}, domain: d, " LIMITS
           "}",
           "redis.poolSize", "expected an integer from 1 to 16")
SPEC_ERROR(
    pool_size_is_at_most_sixteen,
    "{redis: {address: \"127.0.0.1:1\", poolSize: 17}, domain: d, " LIMITS "}",
    "redis.poolSize", "expected an integer from 1 to 16")
/* envoyproxy/ratelimit's pipeline window and limit have no meaning
 * here: refused with the reason, not ignored. */
SPEC_ERROR(pipeline_window_is_not_a_setting_of_gwf,
           "{redis: {address: \"127.0.0.1:1\", pipelineWindow: 1ms}, domain: "
           "d, " LIMITS "}",
           "redis.pipelineWindow", "always written together (pipelined)")
SPEC_ERROR(pipeline_limit_is_not_a_setting_of_gwf,
           "{redis: {address: \"127.0.0.1:1\", perSecond: {address: "
           "\"127.0.0.1:2\", pipelineLimit: 8}}, domain: d, " LIMITS "}",
           "redis.perSecond.pipelineLimit", "is not a setting of gwf")
/* A Redis Cluster has database 0 only: a db is a mistake, refused. */
SPEC_ERROR(cluster_has_database_0_only,
           "{redis: {type: Cluster, addresses: [\"127.0.0.1:7000\"], db: 0}, "
           "domain: d, " LIMITS "}",
           "redis.db", "a Redis Cluster has database 0 only")
SPEC_ERROR(
    type_is_single_sentinel_or_cluster,
    "{redis: {type: single, address: \"127.0.0.1:1\"}, domain: d, " LIMITS "}",
    "redis.type", "expected one of")
SPEC_ERROR(sentinel_needs_a_master_name,
           "{redis: {type: Sentinel, addresses: [\"127.0.0.1:26379\"]}, "
           "domain: d, " LIMITS "}",
           "redis.masterName", "is required")
/* Each sentinel is resolved as redis.address is: at load, never later
 * by a worker. */
SPEC_ERROR(sentinel_addresses_must_resolve,
           "{redis: {type: Sentinel, masterName: m, addresses: "
           "[\"127.0.0.1:26379\", \"bad host!:26379\"]}, domain: d, " LIMITS
           "}",
           "redis.addresses[1]", "cannot resolve \"bad host!\"")
SPEC_ERROR(cluster_addresses_need_ports,
           "{redis: {type: Cluster, addresses: [\"127.0.0.1:7000\", "
           "\"127.0.0.1\"]}, domain: d, " LIMITS "}",
           "redis.addresses[1]", "expected \"host:port\"")
SPEC_ERROR(cluster_takes_addresses_not_address,
           "{redis: {type: Cluster, address: \"127.0.0.1:7000\", addresses: "
           "[\"127.0.0.1:7000\"]}, domain: d, " LIMITS "}",
           "redis.address", "applies to type Single only")
SPEC_ERROR(single_takes_address_not_addresses,
           "{redis: {address: \"127.0.0.1:1\", addresses: [\"127.0.0.1:2\"]}, "
           "domain: d, " LIMITS "}",
           "redis.addresses", "applies to type Sentinel or Cluster only")
SPEC_ERROR(tls_is_an_object,
           "{redis: {address: \"127.0.0.1:1\", tls: true}, domain: d, " LIMITS
           "}",
           "redis.tls", "expected an object")
SPEC_ERROR(tls_ca_file_must_be_readable,
           "{redis: {address: \"127.0.0.1:1\", tls: {caFile: "
           "/nonexistent/ca.pem}}, domain: d, " LIMITS "}",
           "redis.tls.caFile",
           "cannot load CA certificates from /nonexistent/ca.pem")
SPEC_ERROR(
    tls_cert_file_needs_a_key_file,
    "{redis: {address: \"127.0.0.1:1\", tls: {certFile: /etc/hostname}}, "
    "domain: d, " LIMITS "}",
    "redis.tls.keyFile", "is required with redis.tls.certFile")
SPEC_ERROR(tls_cert_file_must_hold_a_certificate,
           "{redis: {address: \"127.0.0.1:1\", tls: {certFile: /etc/hostname, "
           "keyFile: /etc/hostname}}, domain: d, " LIMITS "}",
           "redis.tls.certFile", "cannot load a certificate from /etc/hostname")
SPEC_ERROR(
    unknown_tls_field_is_refused,
    "{redis: {address: \"127.0.0.1:1\", tls: {ca: x}}, domain: d, " LIMITS "}",
    "redis.tls.ca", "unknown field")
SPEC_ERROR(domain_is_required, "{" REDIS ", " LIMITS "}", "domain",
           "is required")
SPEC_ERROR(descriptors_are_required, "{" REDIS ", domain: d}", "descriptors",
           "is required (or descriptorsFile)")
SPEC_ERROR(descriptors_and_file_exclude_each_other,
           "{" REDIS ", domain: d, descriptorsFile: x.yaml, " LIMITS "}",
           "descriptors", "found both")
SPEC_ERROR(descriptors_file_must_exist,
           "{" REDIS ", domain: d, descriptorsFile: /nonexistent/rl.yaml}",
           "descriptorsFile", "cannot open \"/nonexistent/rl.yaml\"")
SPEC_ERROR(timeout_must_be_a_duration,
           "{" REDIS ", domain: d, timeout: soon, " LIMITS "}", "timeout",
           "expected a duration such as \"10s\" or \"1m30s\", found \"soon\"")
SPEC_ERROR(timeout_must_be_positive,
           "{" REDIS ", domain: d, timeout: 0s, " LIMITS "}", "timeout",
           "expected a duration from 1ns to 2562047h, found \"0s\"")
SPEC_ERROR(x_rate_limit_headers_has_two_values,
           "{" REDIS ", domain: d, xRateLimitHeaders: Draft, " LIMITS "}",
           "xRateLimitHeaders",
           "expected one of: Off, DraftVersion03, found \"Draft\"")
SPEC_ERROR(unknown_algorithm_is_refused,
           "{" REDIS ", domain: d, algorithm: Leaky, " LIMITS "}", "algorithm",
           "expected one of: FixedWindow, Rolling, found \"Leaky\"")
SPEC_ERROR(fail_open_is_a_boolean,
           "{" REDIS ", domain: d, failOpen: \"yes\", " LIMITS "}", "failOpen",
           "expected true or false, found a string")
SPEC_ERROR(failure_status_is_an_http_status,
           "{" REDIS ", domain: d, failureStatus: 99, " LIMITS "}",
           "failureStatus", "expected an integer from 200 to 599, found 99")
SPEC_ERROR(near_limit_ratio_is_at_most_one,
           "{" REDIS ", domain: d, nearLimitRatio: 2, " LIMITS "}",
           "nearLimitRatio", "expected a number greater than 0")
SPEC_ERROR(unknown_field_is_refused,
           "{" REDIS ", domain: d, bogus: {}, " LIMITS "}", "bogus",
           "unknown field; expected one of: domain, failOpen, failureStatus, "
           "timeout, xRateLimitHeaders, algorithm, overLimitCache, "
           "nearLimitRatio, redis, descriptors, descriptorsFile")

/* envoyproxy/ratelimit descriptors */
SPEC_ERROR(descriptor_key_is_required,
           "{" REDIS ", domain: d, descriptors: [{value: v}]}",
           "descriptors[0].key", "is required")
SPEC_ERROR(descriptor_unit_must_be_known,
           "{" REDIS ", domain: d, descriptors: [{key: k, rate_limit: "
           "{unit: fortnight, requests_per_unit: 1}}]}",
           "descriptors[0].rate_limit.unit",
           "expected one of: second, minute, hour, day, week, month, year, "
           "found \"fortnight\"")
/* A null unit (YAML `unit: ~`, or a tagged scalar) is an absent one
 * (found by fuzz_ratelimit_config: it used to reach strcasecmp). */
SPEC_ERROR(descriptor_null_unit_is_required,
           "{" REDIS ", domain: d, descriptors: [{key: k, rate_limit: "
           "{unit: null, requests_per_unit: 1}}]}",
           "descriptors[0].rate_limit.unit", "is required")
SPEC_ERROR(descriptor_requests_per_unit_is_required,
           "{" REDIS ", domain: d, descriptors: [{key: k, rate_limit: "
           "{unit: second}}]}",
           "descriptors[0].rate_limit.requests_per_unit", "is required")
SPEC_ERROR(unlimited_descriptor_has_no_unit,
           "{" REDIS ", domain: d, descriptors: [{key: k, rate_limit: "
           "{unlimited: true, unit: second}}]}",
           "descriptors[0].rate_limit", "an unlimited rate_limit has no unit")
SPEC_ERROR(nested_descriptor_error_names_its_path,
           "{" REDIS ", domain: d, descriptors: [{key: a, descriptors: "
           "[{key: b}, {value: c}]}]}",
           "descriptors[0].descriptors[1].key", "is required")
SPEC_ERROR(duplicate_descriptor_is_refused,
           "{" REDIS ", domain: d, descriptors: [{key: a, value: x}, "
           "{key: a, value: x}]}",
           "descriptors[1]", "duplicate descriptor key \"a\" value \"x\"")
SPEC_ERROR(descriptor_value_must_be_a_string,
           "{" REDIS ", domain: d, descriptors: [{key: a, value: 5}]}",
           "descriptors[0].value", "expected a string (quote numbers")
SPEC_ERROR(shadow_mode_is_a_boolean,
           "{" REDIS ", domain: d, descriptors: [{key: a, shadow_mode: 1}]}",
           "descriptors[0].shadow_mode", "expected true or false")
SPEC_ERROR(unknown_descriptor_field_is_refused,
           "{" REDIS ", domain: d, descriptors: [{key: a, limit: 5}]}",
           "descriptors[0].limit",
           "unknown field; expected one of: key, value, rate_limit, "
           "shadow_mode, descriptors, detailed_metric")

/* TrafficPolicy rateLimit.global */
ROUTE_ERROR(entry_type_must_be_known, "[{entries: [{type: Cookie}]}]",
            "descriptors[0].entries[0].type",
            "expected one of: Generic, Header, RemoteAddress, Path, JWTClaim, "
            "found \"Cookie\"")
ROUTE_ERROR(generic_entry_needs_key_and_value,
            "[{entries: [{type: Generic, generic: {value: v}}]}]",
            "descriptors[0].entries[0].generic.key",
            "is required: expected a non-empty string")
ROUTE_ERROR(header_entry_needs_a_header, "[{entries: [{type: Header}]}]",
            "descriptors[0].entries[0].header", "is required for type Header")
ROUTE_ERROR(header_entry_needs_a_valid_name,
            "[{entries: [{type: Header, header: \"x y\"}]}]",
            "descriptors[0].entries[0].header", "expected a header name")
ROUTE_ERROR(jwt_claim_entry_needs_a_name,
            "[{entries: [{type: JWTClaim, jwtClaim: {key: user}}]}]",
            "descriptors[0].entries[0].jwtClaim.name",
            "is required: expected a non-empty string")
ROUTE_ERROR(entries_are_required, "[{entries: []}]", "descriptors[0].entries",
            "expected a list of at least 1 item, found an empty list")
ROUTE_ERROR(unknown_entry_field_is_refused,
            "[{entries: [{type: Path, cookie: x}]}]",
            "descriptors[0].entries[0].cookie",
            "unknown field; expected one of: type, generic, header, jwtClaim")

static void
test_local_max_tokens_is_an_integer(void **state)
{
    (void)state;
    assert_config_error(
        "apiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\n"
        "metadata: {name: api}\nspec:\n  rateLimit:\n    local:\n"
        "      tokenBucket: {maxTokens: abc, fillInterval: 1s}\n",
        "tokenBucket.maxTokens", "expected an integer");
}

static void
test_valid_config_is_accepted(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(
        "{" REDIS ", domain: d, failOpen: true, timeout: 50ms, "
        "xRateLimitHeaders: DraftVersion03, algorithm: FixedWindow, "
        "descriptors: [{key: k, value: \"v*\", shadow_mode: true, "
        "detailed_metric: true, rate_limit: {unit: SECOND, "
        "requests_per_unit: 1, name: x}}]}",
        "[{entries: [{type: Generic, generic: {key: k, value: v}}, {type: "
        "Header, header: x-user}, {type: RemoteAddress}, {type: Path}, "
        "{type: JWTClaim, jwtClaim: {name: sub}}]}]"));
    if (gwf_test_validate(h) != 0)
        fail_msg("%s", gwf_test_error(h));
    gwf_test_host_free(h);
}

/* descriptorsFile is read by the nginx master at config time: a FIFO
 * there blocked it in fopen (no reload, no stop: alarm() turns that hang
 * into a failure here), a directory was "read error". Both are refused
 * at once, naming the field and what the path is (gwf/sdk_file.h). */
static void
assert_descriptors_file_refused(const char *make, const char *what)
{
    char dir[] = "/tmp/gwf-rl-file-XXXXXX", path[64], spec[256], want[160];

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/limits.yaml", dir);
    if (strcmp(make, "fifo") == 0)
        assert_int_equal(mkfifo(path, 0600), 0);
    else
        assert_int_equal(mkdir(path, 0700), 0);
    snprintf(spec, sizeof(spec), "{" REDIS ", domain: d, descriptorsFile: %s}",
             path);
    snprintf(want, sizeof(want), "\"%s\": %s, not a regular file", path, what);
    alarm(10);
    assert_config_error(global_manifests(spec, ROUTE),
                        "spec.rateLimit.descriptorsFile", want);
    alarm(0);
    if (strcmp(make, "fifo") == 0)
        unlink(path);
    else
        rmdir(path);
    rmdir(dir);
}

static void
test_descriptors_file_that_is_a_fifo_is_refused_at_once(void **state)
{
    (void)state;
    assert_descriptors_file_refused("fifo", "a FIFO");
}

static void
test_descriptors_file_that_is_a_directory_is_refused(void **state)
{
    (void)state;
    assert_descriptors_file_refused("dir", "a directory");
}

/* passwordSecretRef to a Secret in namespace vault, with or without a
 * ReferenceGrant there for GatewayExtensions of default. */
static const char *
secret_elsewhere(int granted)
{
    static char text[20000];
    const char *spec = "{redis: {address: \"127.0.0.1:1\", passwordSecretRef: "
                       "{name: pw, namespace: vault}}, domain: d, " LIMITS "}";

    snprintf(text, sizeof(text),
             "%s---\napiVersion: v1\nkind: Secret\n"
             "metadata: {name: pw, namespace: vault}\n"
             "stringData: {password: hunter2}\n%s",
             global_manifests(spec, ROUTE),
             granted ? "---\napiVersion: gateway.networking.k8s.io/v1beta1\n"
                       "kind: ReferenceGrant\n"
                       "metadata: {name: g, namespace: vault}\n"
                       "spec:\n"
                       "  from: [{group: gateway.kgateway.dev, kind: "
                       "GatewayExtension, namespace: default}]\n"
                       "  to: [{group: \"\", kind: Secret, name: pw}]\n"
                     : "");
    return text;
}

/* A Secret is read across namespaces only with a ReferenceGrant there,
 * as every cross-namespace reference in the Gateway API: without one it
 * is not found (and never read). */
static void
test_a_secret_in_another_namespace_is_not_found_without_a_grant(void **state)
{
    (void)state;
    assert_config_error(secret_elsewhere(0),
                        "spec.rateLimit.redis.passwordSecretRef", "not found");
}

static void
test_a_reference_grant_lets_the_secret_be_read(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(secret_elsewhere(1));

    assert_int_equal(gwf_test_validate(h), 0);
    gwf_test_host_free(h);
}

#define T(name) cmocka_unit_test(test_##name)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(grpc_service_or_redis_is_required),
        T(a_secret_in_another_namespace_is_not_found_without_a_grant),
        T(a_reference_grant_lets_the_secret_be_read),
        T(address_needs_a_port),
        T(address_host_must_resolve),
        T(address_port_out_of_range),
        T(address_or_backend_ref_is_required),
        T(address_and_backend_ref_exclude_each_other),
        T(backend_ref_must_exist),
        T(db_must_be_in_range),
        T(username_needs_a_password),
        T(password_and_secret_exclude_each_other),
        T(password_secret_must_exist),
        T(unknown_redis_field_is_refused),
        T(cluster_has_database_0_only),
        T(pool_size_is_at_least_one),
        T(pool_size_is_at_most_sixteen),
        T(pipeline_window_is_not_a_setting_of_gwf),
        T(pipeline_limit_is_not_a_setting_of_gwf),
        T(type_is_single_sentinel_or_cluster),
        T(sentinel_needs_a_master_name),
        T(sentinel_addresses_must_resolve),
        T(cluster_addresses_need_ports),
        T(cluster_takes_addresses_not_address),
        T(single_takes_address_not_addresses),
        T(tls_is_an_object),
        T(tls_ca_file_must_be_readable),
        T(tls_cert_file_needs_a_key_file),
        T(tls_cert_file_must_hold_a_certificate),
        T(unknown_tls_field_is_refused),
        T(domain_is_required),
        T(descriptors_are_required),
        T(descriptors_and_file_exclude_each_other),
        T(descriptors_file_must_exist),
        T(descriptors_file_that_is_a_directory_is_refused),
        T(descriptors_file_that_is_a_fifo_is_refused_at_once),
        T(timeout_must_be_a_duration),
        T(timeout_must_be_positive),
        T(x_rate_limit_headers_has_two_values),
        T(unknown_algorithm_is_refused),
        T(fail_open_is_a_boolean),
        T(failure_status_is_an_http_status),
        T(near_limit_ratio_is_at_most_one),
        T(unknown_field_is_refused),
        T(descriptor_key_is_required),
        T(descriptor_unit_must_be_known),
        T(descriptor_null_unit_is_required),
        T(descriptor_requests_per_unit_is_required),
        T(unlimited_descriptor_has_no_unit),
        T(nested_descriptor_error_names_its_path),
        T(duplicate_descriptor_is_refused),
        T(descriptor_value_must_be_a_string),
        T(shadow_mode_is_a_boolean),
        T(unknown_descriptor_field_is_refused),
        T(entry_type_must_be_known),
        T(generic_entry_needs_key_and_value),
        T(header_entry_needs_a_header),
        T(header_entry_needs_a_valid_name),
        T(jwt_claim_entry_needs_a_name),
        T(entries_are_required),
        T(unknown_entry_field_is_refused),
        T(local_max_tokens_is_an_integer),
        T(valid_config_is_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
