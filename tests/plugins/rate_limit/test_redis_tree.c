/*
 * test_redis_tree.c - a Redis reply read by hiredis's reader into a
 * bounded tree (plugins/rate_limit/redis_tree.c): the shapes the cluster
 * and sentinel replies take, byte-by-byte delivery, and a hostile peer -
 * truncated replies, 2^31 announced elements, too deep, huge strings,
 * garbage - that must end in a refusal, never a crash or a large
 * allocation. The hooks are also called directly with tasks hiredis
 * would never produce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_tree.h"

typedef struct fixture {
    rl_tree *tree;
    redisReader *reader;
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->tree = rl_tree_new(1000, 64 * 1024);
    f->reader = rl_tree_reader_new(f->tree);
    assert_non_null(f->tree);
    assert_non_null(f->reader);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    redisReaderFree(f->reader);
    rl_tree_free(f->tree);
    free(f);
    return 0;
}

/* Feed `bytes` (all at once, or one byte at a time) and ask for a reply:
 * the reader's status; *reply is the reply or NULL. */
static int
read_reply(fixture *f, const char *bytes, size_t len, int bytewise,
           void **reply)
{
    *reply = NULL;
    if (!bytewise) {
        if (redisReaderFeed(f->reader, bytes, len) != REDIS_OK)
            return REDIS_ERR;
        return redisReaderGetReply(f->reader, reply);
    }
    for (size_t i = 0; i < len; i++) {
        if (redisReaderFeed(f->reader, bytes + i, 1) != REDIS_OK ||
            redisReaderGetReply(f->reader, reply) != REDIS_OK)
            return REDIS_ERR;
        if (*reply && i + 1 < len)
            fail_msg("reply complete after %zu of %zu bytes", i + 1, len);
    }
    return REDIS_OK;
}

#define READ(f, lit, bytewise, reply)                                          \
    read_reply((f), (lit), sizeof(lit) - 1, (bytewise), (reply))

/* CLUSTER SLOTS as Redis 7 sends it for one range, with metadata. */
static const char slots_reply[] =
    "*1\r\n"
    "*4\r\n"
    ":0\r\n"
    ":5460\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:30001\r\n"
    "$40\r\n09dbe9720cda62f7865eabc5fd8857c5d2678366\r\n*0\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:30004\r\n"
    "$40\r\n821d8ca00d7ccf931ed3ffc7e3db0599d2271abf\r\n"
    "*2\r\n$8\r\nhostname\r\n$4\r\nhost\r\n";

static void
check_slots_tree(const rl_reply_node *root)
{
    assert_non_null(root);
    assert_int_equal(root->type, REDIS_REPLY_ARRAY);
    assert_int_equal(root->count, 1);
    const rl_reply_node *range = &root->elems[0];
    assert_int_equal(range->type, REDIS_REPLY_ARRAY);
    assert_int_equal(range->count, 4);
    assert_int_equal(range->elems[0].type, REDIS_REPLY_INTEGER);
    assert_int_equal(range->elems[0].integer, 0);
    assert_int_equal(range->elems[1].integer, 5460);
    const rl_reply_node *primary = &range->elems[2];
    assert_int_equal(primary->count, 4);
    assert_int_equal(primary->elems[0].type, REDIS_REPLY_STRING);
    assert_string_equal(primary->elems[0].str, "127.0.0.1");
    assert_int_equal(primary->elems[0].len, 9);
    assert_int_equal(primary->elems[1].integer, 30001);
    assert_string_equal(primary->elems[2].str,
                        "09dbe9720cda62f7865eabc5fd8857c5d2678366");
    assert_int_equal(primary->elems[3].type, REDIS_REPLY_ARRAY);
    assert_int_equal(primary->elems[3].count, 0);
    assert_null(primary->elems[3].elems);
    const rl_reply_node *replica = &range->elems[3];
    assert_int_equal(replica->elems[1].integer, 30004);
    assert_int_equal(replica->elems[3].count, 2);
    assert_string_equal(replica->elems[3].elems[1].str, "host");
}

static void
test_cluster_slots_reply_becomes_a_tree(void **state)
{
    fixture *f = *state;
    void *reply;

    assert_int_equal(READ(f, slots_reply, 0, &reply), REDIS_OK);
    assert_ptr_equal(reply, rl_tree_root(f->tree));
    check_slots_tree(rl_tree_root(f->tree));
    assert_string_equal(rl_tree_error(f->tree), "");
}

static void
test_reply_fed_byte_by_byte_is_the_same_tree(void **state)
{
    fixture *f = *state;
    void *reply;

    assert_int_equal(READ(f, slots_reply, 1, &reply), REDIS_OK);
    assert_non_null(reply);
    check_slots_tree(rl_tree_root(f->tree));
}

static void
test_status_error_integer_and_nil_roots(void **state)
{
    fixture *f = *state;
    void *reply;
    const rl_reply_node *n;

    assert_int_equal(READ(f, "+OK\r\n", 0, &reply), REDIS_OK);
    n = rl_tree_root(f->tree);
    assert_int_equal(n->type, REDIS_REPLY_STATUS);
    assert_string_equal(n->str, "OK");
    rl_tree_reset(f->tree);
    assert_int_equal(READ(f, "-MOVED 3999 127.0.0.1:6381\r\n", 0, &reply),
                     REDIS_OK);
    n = rl_tree_root(f->tree);
    assert_int_equal(n->type, REDIS_REPLY_ERROR);
    assert_string_equal(n->str, "MOVED 3999 127.0.0.1:6381");
    rl_tree_reset(f->tree);
    assert_int_equal(READ(f, ":-9223372036854775808\r\n", 0, &reply), REDIS_OK);
    n = rl_tree_root(f->tree);
    assert_int_equal(n->type, REDIS_REPLY_INTEGER);
    assert_true(n->integer == INT64_MIN);
    rl_tree_reset(f->tree);
    assert_int_equal(READ(f, "$-1\r\n", 0, &reply), REDIS_OK);
    assert_int_equal(rl_tree_root(f->tree)->type, REDIS_REPLY_NIL);
    rl_tree_reset(f->tree);
    assert_int_equal(READ(f, "*-1\r\n", 0, &reply), REDIS_OK);
    assert_int_equal(rl_tree_root(f->tree)->type, REDIS_REPLY_NIL);
    rl_tree_reset(f->tree);
    assert_int_equal(READ(f, "*0\r\n", 0, &reply), REDIS_OK);
    n = rl_tree_root(f->tree);
    assert_int_equal(n->type, REDIS_REPLY_ARRAY);
    assert_int_equal(n->count, 0);
}

static void
test_string_with_nul_bytes_keeps_its_length(void **state)
{
    fixture *f = *state;
    void *reply;

    assert_int_equal(READ(f, "$5\r\na\0b\0c\r\n", 0, &reply), REDIS_OK);
    const rl_reply_node *n = rl_tree_root(f->tree);
    assert_int_equal(n->len, 5);
    assert_memory_equal(n->str, "a\0b\0c", 6); /* NUL-ended too */
}

static void
test_truncated_reply_has_no_root(void **state)
{
    fixture *f = *state;
    void *reply;

    /* Cut after the first range's primary: the reader waits. */
    assert_int_equal(read_reply(f, slots_reply, 80, 0, &reply), REDIS_OK);
    assert_null(reply);
    assert_null(rl_tree_root(f->tree));
    assert_string_equal(rl_tree_error(f->tree), "");
}

static void
test_second_reply_is_refused_until_reset(void **state)
{
    fixture *f = *state;
    void *reply;

    assert_int_equal(READ(f, ":1\r\n", 0, &reply), REDIS_OK);
    const rl_reply_node *first = rl_tree_root(f->tree);
    assert_int_equal(READ(f, ":2\r\n", 0, &reply), REDIS_ERR);
    assert_string_equal(rl_tree_error(f->tree),
                        "the tree already holds a reply");
    assert_null(rl_tree_root(f->tree));
    /* A reset tree reads the next reply into the same memory. */
    rl_tree_reset(f->tree);
    redisReaderFree(f->reader);
    f->reader = rl_tree_reader_new(f->tree);
    assert_int_equal(READ(f, ":2\r\n", 0, &reply), REDIS_OK);
    assert_ptr_equal(rl_tree_root(f->tree), first);
    assert_int_equal(rl_tree_root(f->tree)->integer, 2);
}

static void
test_reset_tree_reuses_its_memory_for_a_large_reply(void **state)
{
    fixture *f = *state;
    void *reply;
    char buf[16384];
    size_t n = 0;

    /* 600 strings of 9 bytes: more than one arena block. */
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "*600\r\n");
    for (int i = 0; i < 600; i++)
        n +=
            (size_t)snprintf(buf + n, sizeof(buf) - n, "$9\r\nelem%05d\r\n", i);
    const rl_reply_node *first = NULL, *first_last = NULL;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(read_reply(f, buf, n, 0, &reply), REDIS_OK);
        const rl_reply_node *root = rl_tree_root(f->tree);
        assert_non_null(root);
        /* The same arena, filled the same way: the same addresses. */
        if (!first) {
            first = root;
            first_last = &root->elems[599];
        }
        assert_ptr_equal(root, first);
        assert_ptr_equal(&root->elems[599], first_last);
        assert_int_equal(root->count, 600);
        assert_string_equal(root->elems[0].str, "elem00000");
        assert_string_equal(root->elems[599].str, "elem00599");
        rl_tree_reset(f->tree);
    }
}

static void
test_2_31_announced_elements_are_refused_by_the_reader(void **state)
{
    fixture *f = *state;
    void *reply;

    assert_int_equal(READ(f, "*2147483648\r\n", 0, &reply), REDIS_ERR);
    assert_string_equal(f->reader->errstr, "Multi-bulk length out of range");
    assert_null(rl_tree_root(f->tree));
}

static void
test_int_max_announced_elements_are_refused_before_allocation(void **state)
{
    fixture *f = *state;
    void *reply;

    /* Allowed by hiredis; 48 bytes * 2^31 would be 100 GiB. */
    assert_int_equal(READ(f, "*2147483647\r\n", 0, &reply), REDIS_ERR);
    assert_string_equal(f->reader->errstr, "Out of memory");
    assert_string_equal(rl_tree_error(f->tree), "reply has too many elements");
    assert_null(rl_tree_root(f->tree));
}

static void
test_nested_elements_beyond_the_node_budget_are_refused(void **state)
{
    rl_tree *t = rl_tree_new(7, 1024);
    redisReader *r = rl_tree_reader_new(t);
    void *reply;
    /* 1 root + 3 + 3 = 7 nodes: fits. */
    const char fits[] = "*3\r\n*2\r\n:1\r\n:2\r\n:3\r\n*1\r\n:4\r\n";
    /* 1 + 3 + 4 = 8 nodes: the last array is refused when announced. */
    const char over[] = "*3\r\n*2\r\n:1\r\n:2\r\n:3\r\n*2\r\n:4\r\n:5\r\n";

    (void)state;
    assert_int_equal(redisReaderFeed(r, fits, sizeof(fits) - 1), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_non_null(rl_tree_root(t));
    rl_tree_reset(t);
    assert_int_equal(redisReaderFeed(r, over, sizeof(over) - 1), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_ERR);
    assert_string_equal(rl_tree_error(t), "reply has too many elements");
    assert_null(rl_tree_root(t));
    redisReaderFree(r);
    rl_tree_free(t);
}

static void
test_strings_beyond_the_byte_budget_are_refused(void **state)
{
    rl_tree *t = rl_tree_new(100, 8);
    redisReader *r = rl_tree_reader_new(t);
    void *reply;

    (void)state;
    /* 4 + 1 and 2 + 1 bytes: 8, fits. */
    assert_int_equal(redisReaderFeed(r, "*2\r\n$4\r\nabcd\r\n+ok\r\n", 19),
                     REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_non_null(rl_tree_root(t));
    rl_tree_reset(t);
    /* 4 + 1 and 3 + 1: 9. */
    assert_int_equal(redisReaderFeed(r, "*2\r\n$4\r\nabcd\r\n-err\r\n", 20),
                     REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_ERR);
    assert_string_equal(rl_tree_error(t), "reply has too many bytes");
    redisReaderFree(r);
    rl_tree_free(t);
}

static void
test_huge_bulk_length_is_cut_off_by_tree_feed(void **state)
{
    fixture *f = *state;
    void *reply;
    char chunk[4096];

    /* The reader itself would wait for 2^63-1 bytes: it is not an error
     * to it... */
    const char head[] = "$9223372036854775807\r\nabc";
    assert_int_equal(rl_tree_feed(f->tree, f->reader, head, sizeof(head) - 1),
                     REDIS_OK);
    assert_int_equal(redisReaderGetReply(f->reader, &reply), REDIS_OK);
    assert_null(reply);
    /* ... so the feed stops once more is held than a reply within the
     * budget (64 KiB + 1000 * 32) can take. */
    memset(chunk, 'x', sizeof(chunk));
    int fed = 0, status = REDIS_OK;
    while (fed < 100 && (status = rl_tree_feed(f->tree, f->reader, chunk,
                                               sizeof(chunk))) == REDIS_OK) {
        assert_int_equal(redisReaderGetReply(f->reader, &reply), REDIS_OK);
        assert_null(reply);
        fed++;
    }
    assert_int_equal(status, REDIS_ERR);
    assert_int_equal(fed, (64 * 1024 + 1000 * 32 - 25) / 4096);
    assert_string_equal(rl_tree_error(f->tree), "reply has too many bytes");
}

static void
test_string_hook_refuses_a_huge_length_without_reading(void **state)
{
    fixture *f = *state;
    redisReadTask task = {.type = REDIS_REPLY_STRING, .idx = -1};

    /* NULL bytes: the hook must refuse before touching them. */
    assert_null(rl_tree_string(f->tree, &task, NULL, SIZE_MAX));
    assert_string_equal(rl_tree_error(f->tree), "reply has too many bytes");
    rl_tree_reset(f->tree);
    assert_null(rl_tree_string(f->tree, &task, NULL, 64 * 1024));
}

static void
test_ten_levels_deep_are_refused(void **state)
{
    fixture *f = *state;
    void *reply;

    assert_int_equal(READ(f,
                          "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*"
                          "1\r\n*1\r\n:1\r\n",
                          0, &reply),
                     REDIS_ERR);
    assert_null(rl_tree_root(f->tree));
}

static void
test_array_hook_refuses_arrays_deeper_than_the_limit(void **state)
{
    fixture *f = *state;
    redisReadTask tasks[RL_TREE_MAX_DEPTH + 1];

    /* A chain built through the hooks, as hiredis would: each task's
     * parent holds the array the previous hook returned. */
    for (int i = 0; i <= RL_TREE_MAX_DEPTH; i++) {
        memset(&tasks[i], 0, sizeof(tasks[i]));
        tasks[i].type = REDIS_REPLY_ARRAY;
        tasks[i].idx = i ? 0 : -1;
        tasks[i].parent = i ? &tasks[i - 1] : NULL;
        tasks[i].obj = rl_tree_array(f->tree, &tasks[i], 1);
        if (i < RL_TREE_MAX_DEPTH)
            assert_non_null(tasks[i].obj);
    }
    assert_null(tasks[RL_TREE_MAX_DEPTH].obj);
    assert_string_equal(rl_tree_error(f->tree), "reply nested too deep");
}

static void
test_hooks_refuse_tasks_outside_the_tree(void **state)
{
    fixture *f = *state;
    redisReadTask root = {.type = REDIS_REPLY_ARRAY, .idx = -1};
    redisReadTask child = {.type = REDIS_REPLY_INTEGER, .parent = &root};

    /* A child before any root. */
    root.obj = NULL;
    assert_null(rl_tree_integer(f->tree, &child, 1));
    rl_tree_reset(f->tree);
    /* Index past the end, negative, twice the same, negative length,
     * unknown string type. */
    root.obj = rl_tree_array(f->tree, &root, 2);
    assert_non_null(root.obj);
    child.idx = 2;
    assert_null(rl_tree_integer(f->tree, &child, 1));
    assert_string_equal(rl_tree_error(f->tree),
                        "reply element outside the tree");
    rl_tree_reset(f->tree);
    root.obj = rl_tree_array(f->tree, &root, 2);
    child.idx = -1;
    assert_null(rl_tree_nil(f->tree, &child));
    rl_tree_reset(f->tree);
    root.obj = rl_tree_array(f->tree, &root, 2);
    child.idx = 0;
    assert_non_null(rl_tree_integer(f->tree, &child, 1));
    assert_null(rl_tree_integer(f->tree, &child, 1));
    rl_tree_reset(f->tree);
    assert_null(rl_tree_array(f->tree, &root, -1));
    assert_string_equal(rl_tree_error(f->tree), "array of a negative length");
    rl_tree_reset(f->tree);
    redisReadTask odd = {.type = REDIS_REPLY_INTEGER, .idx = -1};
    assert_null(rl_tree_string(f->tree, &odd, "x", 1));
    assert_string_equal(rl_tree_error(f->tree), "string of an unknown type");
    /* Refused is sticky until reset. */
    redisReadTask ok = {.type = REDIS_REPLY_STATUS, .idx = -1};
    assert_null(rl_tree_string(f->tree, &ok, "x", 1));
    rl_tree_reset(f->tree);
    assert_non_null(rl_tree_string(f->tree, &ok, "x", 1));
    assert_non_null(rl_tree_root(f->tree));
}

static void
test_negative_lengths_and_garbage_fail_the_reader(void **state)
{
    static const char *const bad[] = {
        "*-5\r\n",  "$-2\r\n",   "*abc\r\n",     "$1x\r\n",
        ":12a\r\n", "?what\r\n", "*1\r\n!1\r\n",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fixture *f = *state;
        void *reply;
        rl_tree_reset(f->tree);
        redisReaderFree(f->reader);
        f->reader = rl_tree_reader_new(f->tree);
        assert_int_equal(read_reply(f, bad[i], strlen(bad[i]), 0, &reply),
                         REDIS_ERR);
        assert_null(rl_tree_root(f->tree));
    }
}

static void
test_reader_freed_mid_reply_frees_nothing_of_the_tree(void **state)
{
    fixture *f = *state;
    void *reply;

    /* The reader holds a root object (r->reply) when freed mid-reply and
     * calls freeObject on it: a no-op, the tree stays whole (ASan). */
    assert_int_equal(read_reply(f, slots_reply, 60, 0, &reply), REDIS_OK);
    redisReaderFree(f->reader);
    f->reader = rl_tree_reader_new(f->tree);
    rl_tree_reset(f->tree);
    assert_int_equal(READ(f, slots_reply, 0, &reply), REDIS_OK);
    check_slots_tree(rl_tree_root(f->tree));
}

static void
test_tree_new_refuses_empty_and_absurd_budgets(void **state)
{
    (void)state;
    assert_null(rl_tree_new(0, 10));
    assert_null(rl_tree_new(10, 0));
    assert_null(rl_tree_new(SIZE_MAX, 10));
    assert_null(rl_tree_new(10, SIZE_MAX));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_cluster_slots_reply_becomes_a_tree),
        T(test_reply_fed_byte_by_byte_is_the_same_tree),
        T(test_status_error_integer_and_nil_roots),
        T(test_string_with_nul_bytes_keeps_its_length),
        T(test_truncated_reply_has_no_root),
        T(test_second_reply_is_refused_until_reset),
        T(test_reset_tree_reuses_its_memory_for_a_large_reply),
        T(test_2_31_announced_elements_are_refused_by_the_reader),
        T(test_int_max_announced_elements_are_refused_before_allocation),
        T(test_nested_elements_beyond_the_node_budget_are_refused),
        T(test_strings_beyond_the_byte_budget_are_refused),
        T(test_huge_bulk_length_is_cut_off_by_tree_feed),
        T(test_string_hook_refuses_a_huge_length_without_reading),
        T(test_ten_levels_deep_are_refused),
        T(test_array_hook_refuses_arrays_deeper_than_the_limit),
        T(test_hooks_refuse_tasks_outside_the_tree),
        T(test_negative_lengths_and_garbage_fail_the_reader),
        T(test_reader_freed_mid_reply_frees_nothing_of_the_tree),
        T(test_tree_new_refuses_empty_and_absurd_budgets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
