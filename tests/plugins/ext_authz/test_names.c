/*
 * test_names.c - the header-name lists ext_authz searches (client.c):
 * headersToBackend, headersToClient, headersOnSuccess and the names
 * forwarded to the authz server. Every header of an answer is looked up
 * in them, so a lookup is one hash and one comparison; these tests pin
 * what a lookup finds: any case, whole names only, the first of a name
 * added twice, and every one of 1,000 names that share a long prefix
 * after the index has grown many times.
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
add(ea_names *n, const char *name)
{
    assert_int_equal(ea_names_add(n, name, strlen(name)), 0);
}

static long
find(const ea_names *n, const char *name)
{
    return ea_names_find(n, name, strlen(name));
}

static void
test_a_name_is_found_in_any_case(void **state)
{
    ea_names n = {0};

    (void)state;
    add(&n, "X-Tenant");
    add(&n, "authorization");
    assert_int_equal(find(&n, "x-tenant"), 0);
    assert_int_equal(find(&n, "X-TENANT"), 0);
    assert_int_equal(find(&n, "Authorization"), 1);
    assert_string_equal(n.items[0], "x-tenant");
    assert_true(ea_names_has(&n, "AUTHORIZATION", 13));
    ea_names_free(&n);
}

static void
test_names_that_are_prefixes_of_each_other_stay_apart(void **state)
{
    ea_names n = {0};

    (void)state;
    add(&n, "x-ab");
    assert_int_equal(find(&n, "x-a"), -1);
    assert_int_equal(find(&n, "x-abc"), -1);
    assert_int_equal(find(&n, ""), -1);
    add(&n, "x-a");
    assert_int_equal(find(&n, "x-a"), 1);
    assert_int_equal(find(&n, "x-ab"), 0);
    /* A length that cuts a name short is the shorter name. */
    assert_int_equal(ea_names_find(&n, "x-abc", 3), 1);
    /* A NUL inside is a byte of the name, not its end. */
    assert_int_equal(ea_names_find(&n, "x-a\0z", 5), -1);
    ea_names_free(&n);
}

static void
test_a_name_added_twice_is_found_at_its_first_number(void **state)
{
    ea_names n = {0};

    (void)state;
    add(&n, "x-one");
    add(&n, "x-two");
    add(&n, "X-One");
    assert_int_equal(n.count, 3);
    assert_int_equal(find(&n, "x-one"), 0);
    ea_names_free(&n);
}

static void
test_1000_names_sharing_a_prefix_are_each_found_at_their_number(void **state)
{
    ea_names n = {0};
    char name[64];

    (void)state;
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "X-Bench-Authz-Answer-Header-Number-%04d",
                 i);
        add(&n, name);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "x-bench-authz-answer-header-number-%04d",
                 i);
        assert_int_equal(find(&n, name), i);
    }
    assert_int_equal(find(&n, "x-bench-authz-answer-header-number-1000"), -1);
    assert_int_equal(find(&n, "x-bench-authz-answer-header-number-"), -1);
    ea_names_free(&n);
}

static void
test_an_empty_list_finds_nothing(void **state)
{
    ea_names n = {0};

    (void)state;
    assert_int_equal(find(&n, "x-any"), -1);
    assert_false(ea_names_has(&n, "x-any", 5));
}

static void
test_a_walked_list_is_not_searched_nor_added_to(void **state)
{
    ea_names n = {0};

    (void)state;
    assert_int_equal(ea_names_append(&n, "X-Gone", 6), 0);
    assert_string_equal(n.items[0], "x-gone");
    assert_int_equal(find(&n, "x-gone"), -1);
    assert_int_equal(ea_names_add(&n, "x-other", 7), -1);
    assert_int_equal(n.count, 1);
    ea_names_free(&n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_name_is_found_in_any_case),
        cmocka_unit_test(test_names_that_are_prefixes_of_each_other_stay_apart),
        cmocka_unit_test(test_a_name_added_twice_is_found_at_its_first_number),
        cmocka_unit_test(
            test_1000_names_sharing_a_prefix_are_each_found_at_their_number),
        cmocka_unit_test(test_an_empty_list_finds_nothing),
        cmocka_unit_test(test_a_walked_list_is_not_searched_nor_added_to),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
