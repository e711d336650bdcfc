/*
 * test_http_answer.c - an HTTP check answer read into a verdict
 * (ea_http_verdict_from, http_check.c, compiled into this test as the
 * fuzz replay does): the headers its Connection headers name.
 *
 * maxAnswerHeaders lets an answer carry up to 10,000 header lines, and a
 * Connection header may list thousands of names: each header is looked up
 * among those names once, by binary search, never against every name.
 * These tests pin which headers count as named and that 10,000 headers
 * against 50,000 names stay far from the quadratic cost.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ext_authz.h"

static void
add(ea_pairs *p, const char *name, const char *value)
{
    assert_int_equal(ea_pairs_add(p, name, strlen(name), value, strlen(value)),
                     0);
}

static const char *
client_header(const ea_verdict *v, const char *name)
{
    const ea_pair *p = ea_pairs_find(&v->to_client, name, 0);
    return p ? p->value : "(absent)";
}

/* A denial passes every header (headersToClient unset) but those its
 * Connection headers name: in any case, with blanks around, in any of
 * them; a name is matched whole, not as a prefix. */
static void
test_headers_named_by_connection_are_not_passed_on(void **state)
{
    ea_config cfg;
    ea_pairs headers = {0};
    ea_verdict v;

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    add(&headers, "connection", "keep-alive, X-Hop-One");
    add(&headers, "connection", " ,x-hop-two\t, ");
    add(&headers, "x-hop-one", "1");
    add(&headers, "x-hop-two", "2");
    add(&headers, "x-hop", "kept");
    add(&headers, "x-hop-one-more", "kept too");
    ea_http_verdict_from(&cfg, 401, &headers, "", 0, &v);
    assert_int_equal(v.kind, EA_VERDICT_DENY);
    assert_string_equal(client_header(&v, "x-hop-one"), "(absent)");
    assert_string_equal(client_header(&v, "x-hop-two"), "(absent)");
    assert_string_equal(client_header(&v, "x-hop"), "kept");
    assert_string_equal(client_header(&v, "x-hop-one-more"), "kept too");
    assert_int_equal(v.to_client.count, 2);
    ea_verdict_free(&v);
    ea_pairs_free(&headers);
}

/* At the largest bound, 10,000 headers against 50,000 names listed in
 * Connection: exactly the named ones are left out. */
static void
test_10000_headers_against_50000_connection_names_are_sorted_out(void **state)
{
    ea_config cfg;
    ea_pairs headers = {0};
    gwf_strbuf list = {0};
    ea_verdict v;
    char name[32];

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    for (int i = 0; i < 50000; i++)
        gwf_strbuf_appendf(&list, "%sx-c%d", i ? "," : "", i);
    assert_false(list.failed);
    add(&headers, "connection", list.data);
    for (int i = 0; i < 9999; i++) {
        snprintf(name, sizeof(name), i % 2 ? "x-c%d" : "x-h%d", i);
        add(&headers, name, "v");
    }
    ea_http_verdict_from(&cfg, 401, &headers, "", 0, &v);
    assert_int_equal(v.kind, EA_VERDICT_DENY);
    /* x-h0, x-h2, ... x-h9998: the named x-c headers are left out. */
    assert_int_equal(v.to_client.count, 5000);
    assert_string_equal(client_header(&v, "x-h9998"), "v");
    assert_string_equal(client_header(&v, "x-c9997"), "(absent)");
    ea_verdict_free(&v);
    ea_pairs_free(&headers);
    gwf_strbuf_free(&list);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_named_by_connection_are_not_passed_on),
        cmocka_unit_test(
            test_10000_headers_against_50000_connection_names_are_sorted_out),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
