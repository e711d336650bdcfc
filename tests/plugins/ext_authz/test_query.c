/*
 * test_query.c - an OK answer's query parameters applied to the request
 * target (query.c, compiled into this test as the fuzz replay does).
 *
 * maxAnswerHeaders lets an answer carry up to 10,000 parameters to set
 * or remove, so their lookup must not walk the answer for each parameter
 * of the target: the keys are indexed once. These tests pin the order
 * and last-wins rules the index must keep, and that 10,000 keys against
 * a target of 10,000 parameters stay far from the quadratic cost.
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
add(ea_pairs *p, const char *key, const char *value)
{
    assert_int_equal(ea_pairs_add_exact(p, key, strlen(key), value,
                                        value ? strlen(value) : 0),
                     0);
}

static void
expect_applied(const char *path, const ea_pairs *set, const ea_pairs *remove,
               const char *expected)
{
    gwf_strbuf out = {0};

    assert_int_equal(ea_query_apply(path, strlen(path), set, remove, &out), 0);
    assert_string_equal(out.data, expected);
    gwf_strbuf_free(&out);
}

static void
test_the_last_set_of_a_key_wins_in_place(void **state)
{
    ea_pairs set = {0}, remove = {0};

    (void)state;
    add(&set, "a", "1");
    add(&set, "b", "x");
    add(&set, "a", "2");
    expect_applied("/p?a=old&c=3&a=again", &set, &remove, "/p?a=2&c=3&b=x");
    ea_pairs_free(&set);
}

static void
test_a_removed_key_is_dropped_even_when_set(void **state)
{
    ea_pairs set = {0}, remove = {0};

    (void)state;
    add(&set, "api_key", "new");
    add(&set, "k", "v");
    add(&remove, "api_key", "");
    add(&remove, "ab", "");
    expect_applied("/p?api_key=s&a=1&ab=2&abc=3", &set, &remove,
                   "/p?a=1&abc=3&k=v");
    ea_pairs_free(&set);
    ea_pairs_free(&remove);
}

static void
test_keys_that_are_prefixes_of_each_other_stay_apart(void **state)
{
    ea_pairs set = {0}, remove = {0};

    (void)state;
    add(&set, "ab", "2");
    add(&set, "a", "1");
    add(&set, "abc", "3");
    expect_applied("/p?abc=x&a=x", &set, &remove, "/p?abc=3&a=1&ab=2");
    ea_pairs_free(&set);
}

/* At the largest bound (maxAnswerHeaders 10000) every key still finds
 * its parameter. (How long it takes is bench/ext_authz's to measure.) */
static void
test_10000_keys_against_10000_parameters_are_applied(void **state)
{
    ea_pairs set = {0}, remove = {0};
    gwf_strbuf path = {0}, out = {0};
    char key[32];

    (void)state;
    gwf_strbuf_append(&path, "/p?", 3);
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        if (i % 2)
            add(&remove, key, "");
        else
            add(&set, key, "s");
        gwf_strbuf_appendf(&path, "%sq%d=1", i ? "&" : "", i);
    }
    assert_false(path.failed);
    assert_int_equal(ea_query_apply(path.data, path.len, &set, &remove, &out),
                     0);
    assert_non_null(strstr(out.data, "&q9999=1&k0=s&k2=s&"));
    assert_null(strstr(out.data, "k1="));
    ea_pairs_free(&set);
    ea_pairs_free(&remove);
    gwf_strbuf_free(&path);
    gwf_strbuf_free(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_last_set_of_a_key_wins_in_place),
        cmocka_unit_test(test_a_removed_key_is_dropped_even_when_set),
        cmocka_unit_test(test_keys_that_are_prefixes_of_each_other_stay_apart),
        cmocka_unit_test(test_10000_keys_against_10000_parameters_are_applied),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
