/*
 * redis_tree.c - one whole Redis reply read into a bounded tree (see
 * redis_tree.h for the contract).
 *
 * hiredis's reader calls a hook per item, parents before children: an
 * array hook announces `elements`, then each element arrives with its
 * task's parent (whose obj is the array node we returned) and its index.
 * So an array's elements are allocated at once, contiguous, when the
 * array is announced - after the announcement has been checked against
 * the node budget - and each element hook fills its own slot. `pending`
 * counts the announced elements not yet filled: the reply is complete
 * when the root exists and nothing is pending.
 *
 * Memory is an arena of blocks that only grows (doubling, from 4 KiB)
 * and is reused from its first block after a reset, so a tree that reads
 * the same kind of reply every few seconds stops allocating. Strings are
 * copied into it with a NUL after them (hiredis's buffer is gone after
 * the call). The budget counts what the reply uses, not what the arena
 * holds; the arena never holds more than the budget plus one block's
 * rounding per block.
 *
 * hiredis 0.14.1 checks the multi-bulk length (-1..INT_MAX) and the depth
 * (8) itself. A bulk string reaches createString only once all its bytes
 * are in the reader's buffer, so a huge announced length makes the reader
 * wait (and buffer) rather than fail: the caller's cap on what it feeds
 * and its timeout end that (rl_tree_feed is such a cap). The byte budget is
 * still checked before anything is read from `s`, whatever length the hook is
 * given.
 */
#include "redis_tree.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RL_BLOCK_MIN 4096
#define RL_BLOCK_DOUBLE_MAX (1024 * 1024)

typedef struct rl_block {
    struct rl_block *next;
    size_t size; /* bytes of data */
    size_t used;
    max_align_t data[];
} rl_block;

struct rl_tree {
    size_t max_nodes, max_bytes;
    size_t nodes, bytes; /* used by the current reply */
    size_t pending;      /* announced elements not yet filled */
    rl_reply_node *root;
    const char *error; /* non-NULL: the current reply was refused */
    rl_block *first, *cur;
};

rl_tree *
rl_tree_new(size_t max_nodes, size_t max_bytes)
{
    rl_tree *t;

    /* Bounds that keep every size computation below far from SIZE_MAX. */
    if (max_nodes == 0 || max_bytes == 0 ||
        max_nodes > SIZE_MAX / 4 / sizeof(rl_reply_node) ||
        max_bytes > SIZE_MAX / 4)
        return NULL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->max_nodes = max_nodes;
    t->max_bytes = max_bytes;
    return t;
}

void
rl_tree_free(rl_tree *t)
{
    if (!t)
        return;
    for (rl_block *b = t->first, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(t);
}

void
rl_tree_reset(rl_tree *t)
{
    for (rl_block *b = t->first; b; b = b->next)
        b->used = 0;
    t->cur = t->first;
    t->nodes = t->bytes = t->pending = 0;
    t->root = NULL;
    t->error = NULL;
}

const rl_reply_node *
rl_tree_root(const rl_tree *t)
{
    if (!t || t->error || !t->root || t->pending)
        return NULL;
    return t->root;
}

const char *
rl_tree_error(const rl_tree *t)
{
    return t && t->error ? t->error : "";
}

static void *
refuse(rl_tree *t, const char *why)
{
    if (!t->error)
        t->error = why;
    return NULL;
}

/* `size` bytes (the caller keeps size within the budget), aligned for
 * any type, from the arena. */
static void *
arena_take(rl_tree *t, size_t size)
{
    const size_t align = sizeof(max_align_t);
    rl_block *b;

    size = (size + align - 1) / align * align;
    for (b = t->cur; b; b = b->next) {
        if (b->size - b->used >= size)
            break;
    }
    if (!b) {
        size_t last = t->cur ? t->cur->size : 0;
        size_t want = last < RL_BLOCK_DOUBLE_MAX ? last * 2 : last;
        if (want < RL_BLOCK_MIN)
            want = RL_BLOCK_MIN;
        if (want < size)
            want = size;
        b = malloc(sizeof(*b) + want);
        if (!b)
            return NULL;
        b->size = want;
        b->used = 0;
        /* Appended after the last block: earlier ones stay in use. */
        b->next = NULL;
        if (!t->first) {
            t->first = b;
        } else {
            rl_block *last_b = t->cur ? t->cur : t->first;
            while (last_b->next)
                last_b = last_b->next;
            last_b->next = b;
        }
    }
    t->cur = b;
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

/* The node `task` fills: a new root, or its slot in its parent array. */
static rl_reply_node *
node_for(rl_tree *t, const redisReadTask *task)
{
    if (t->error)
        return NULL;
    if (!task->parent) {
        if (t->root)
            return refuse(t, "the tree already holds a reply");
        if (t->max_nodes - t->nodes < 1)
            return refuse(t, "reply has too many elements");
        rl_reply_node *n = arena_take(t, sizeof(rl_reply_node));
        if (!n)
            return refuse(t, "out of memory");
        memset(n, 0, sizeof(*n));
        t->nodes++;
        t->root = n;
        return n;
    }
    rl_reply_node *p = task->parent->obj;
    if (!t->root || !p || p->type != REDIS_REPLY_ARRAY || task->idx < 0 ||
        (size_t)task->idx >= p->count || p->elems[task->idx].type != 0 ||
        t->pending == 0)
        return refuse(t, "reply element outside the tree");
    t->pending--;
    return &p->elems[task->idx];
}

/* Arrays in `task`'s chain, its own included (the root is depth 1). */
static int
depth_of(const redisReadTask *task)
{
    int d = 1;

    for (const redisReadTask *p = task->parent; p; p = p->parent)
        if (++d > RL_TREE_MAX_DEPTH)
            break;
    return d;
}

void *
rl_tree_string(rl_tree *t, const redisReadTask *task, char *s, size_t len)
{
    if (!t || !task)
        return NULL;
    if (task->type != REDIS_REPLY_STRING && task->type != REDIS_REPLY_STATUS &&
        task->type != REDIS_REPLY_ERROR)
        return refuse(t, "string of an unknown type");
    /* The budget before anything is read from `s`: hiredis may pass a
     * length it has not got (see the top of the file). */
    if (len >= t->max_bytes - t->bytes)
        return refuse(t, "reply has too many bytes");
    rl_reply_node *n = node_for(t, task);
    if (!n)
        return NULL;
    char *copy = arena_take(t, len + 1);
    if (!copy)
        return refuse(t, "out of memory");
    if (len)
        memcpy(copy, s, len);
    copy[len] = 0;
    t->bytes += len + 1;
    n->type = task->type;
    n->str = copy;
    n->len = len;
    return n;
}

void *
rl_tree_array(rl_tree *t, const redisReadTask *task, int elements)
{
    if (!t || !task)
        return NULL;
    if (elements < 0)
        return refuse(t, "array of a negative length");
    if (depth_of(task) > RL_TREE_MAX_DEPTH)
        return refuse(t, "reply nested too deep");
    /* The announced count against the budget (the array's own node
     * counts too when it is the root), before anything is allocated. */
    size_t own = task->parent ? 0 : 1;
    if ((size_t)elements > t->max_nodes - t->nodes ||
        (size_t)elements + own > t->max_nodes - t->nodes)
        return refuse(t, "reply has too many elements");
    rl_reply_node *n = node_for(t, task);
    if (!n)
        return NULL;
    rl_reply_node *elems = NULL;
    if (elements > 0) {
        elems = arena_take(t, (size_t)elements * sizeof(rl_reply_node));
        if (!elems)
            return refuse(t, "out of memory");
        memset(elems, 0, (size_t)elements * sizeof(rl_reply_node));
    }
    t->nodes += (size_t)elements;
    t->pending += (size_t)elements;
    n->type = REDIS_REPLY_ARRAY;
    n->elems = elems;
    n->count = (size_t)elements;
    return n;
}

void *
rl_tree_integer(rl_tree *t, const redisReadTask *task, long long v)
{
    if (!t || !task)
        return NULL;
    rl_reply_node *n = node_for(t, task);
    if (!n)
        return NULL;
    n->type = REDIS_REPLY_INTEGER;
    n->integer = v;
    return n;
}

void *
rl_tree_nil(rl_tree *t, const redisReadTask *task)
{
    if (!t || !task)
        return NULL;
    rl_reply_node *n = node_for(t, task);
    if (!n)
        return NULL;
    n->type = REDIS_REPLY_NIL;
    return n;
}

static void *
fn_string(const redisReadTask *task, char *s, size_t len)
{
    return rl_tree_string(task->privdata, task, s, len);
}

static void *
fn_array(const redisReadTask *task, int elements)
{
    return rl_tree_array(task->privdata, task, elements);
}

static void *
fn_integer(const redisReadTask *task, long long v)
{
    return rl_tree_integer(task->privdata, task, v);
}

static void *
fn_nil(const redisReadTask *task)
{
    return rl_tree_nil(task->privdata, task);
}

/* The tree owns every node: the reader has nothing to free. */
static void
fn_free(void *obj)
{
    (void)obj;
}

const redisReplyObjectFunctions rl_tree_functions = {
    .createString = fn_string,
    .createArray = fn_array,
    .createInteger = fn_integer,
    .createNil = fn_nil,
    .freeObject = fn_free,
};

int
rl_tree_feed(rl_tree *t, redisReader *r, const char *buf, size_t len)
{
    if (!t || !r)
        return REDIS_ERR;
    /* max_nodes and max_bytes are below SIZE_MAX / 4 (rl_tree_new). */
    size_t cap = t->max_bytes + t->max_nodes * 32;
    size_t held = r->len - r->pos;
    if (held > cap || len > cap - held) {
        refuse(t, "reply has too many bytes");
        return REDIS_ERR;
    }
    return redisReaderFeed(r, buf, len);
}

redisReader *
rl_tree_reader_new(rl_tree *t)
{
    /* hiredis takes a non-const table it never writes to. */
    redisReader *r = redisReaderCreateWithFunctions(
        (redisReplyObjectFunctions *)(uintptr_t)&rl_tree_functions);

    if (r)
        r->privdata = t; /* redisReaderSetPrivdata casts to int */
    return r;
}
