/*
 * redis_tree.h - one whole Redis reply read into a bounded tree.
 *
 * For the replies off the hot path (CLUSTER SLOTS, CLUSTER SHARDS,
 * SENTINEL get-master-addr-by-name, ROLE, INFO): hiredis's redisReader
 * parses the protocol and calls the hooks below for every item; the hooks
 * build rl_reply_node values in an arena the tree owns. The peer is not
 * trusted: a reply larger than the tree's node or byte budget, or nested deeper
 * than RL_TREE_MAX_DEPTH, makes the hook return NULL and the reader fail
 * ("Out of memory" in its errstr, the reason in rl_tree_error). Nothing
 * the peer announces is allocated before it is checked against the
 * budget. The reader's freeObject is a no-op: the tree owns every node.
 *
 * A tree holds one reply. Pointers into it (rl_tree_root and everything
 * under it) stay valid until rl_tree_reset or rl_tree_free; a new reply
 * is refused until the tree is reset. Not thread-safe: one tree, one
 * reader, one thread.
 */
#ifndef RL_REDIS_TREE_H
#define RL_REDIS_TREE_H

#include <stddef.h>

#include <hiredis/read.h>

/* Arrays nested deeper than this (the root is depth 1) are refused.
 * hiredis 0.14 itself stops at 8 (its stack of 9 tasks). */
#define RL_TREE_MAX_DEPTH 7

typedef struct rl_reply_node {
    int type;          /* REDIS_REPLY_* */
    long long integer; /* INTEGER */
    const char *str;   /* STRING, STATUS, ERROR: NUL-ended, len bytes */
    size_t len;        /* (may hold NUL bytes: use len, not strlen) */
    struct rl_reply_node *elems; /* ARRAY: count nodes, contiguous */
    size_t count;
} rl_reply_node;

typedef struct rl_tree rl_tree;

/* A tree that accepts replies of at most `max_nodes` nodes (each array
 * element and the root count one) and `max_bytes` bytes of strings
 * (each string counts its length plus its NUL). Both at least 1. NULL on
 * allocation failure. The arena grows on demand, never beyond what the
 * budget allows (plus block rounding). Free with rl_tree_free. */
rl_tree *rl_tree_new(size_t max_nodes, size_t max_bytes);
void rl_tree_free(rl_tree *t);
/* Forget the last reply (complete, partial or failed); keep the memory
 * for the next one. */
void rl_tree_reset(rl_tree *t);
/* The last complete reply, or NULL (none yet, partial, or refused). */
const rl_reply_node *rl_tree_root(const rl_tree *t);
/* Why the last reply was refused ("" when it was not). Static text. */
const char *rl_tree_error(const rl_tree *t);

/* The reader hooks, one per redisReplyObjectFunctions member, taking the
 * tree. Each returns the node it filled, or NULL to make the reader fail
 * (budget, depth, a task that does not fit the tree built so far). */
void *rl_tree_string(rl_tree *t, const redisReadTask *task, char *s,
                     size_t len);
void *rl_tree_array(rl_tree *t, const redisReadTask *task, int elements);
void *rl_tree_integer(rl_tree *t, const redisReadTask *task, long long v);
void *rl_tree_nil(rl_tree *t, const redisReadTask *task);

/* Hooks that take the tree from task->privdata (the reader's privdata),
 * for a reader that only builds trees. freeObject is a no-op. */
extern const redisReplyObjectFunctions rl_tree_functions;

/* Feed `len` bytes to `r`, a reader building into `t`, unless the bytes
 * it would then hold unparsed exceed what a reply within the tree's
 * budget can take (max_bytes plus 32 bytes of framing per node): a peer
 * announcing a huge string is cut off here rather than buffered. REDIS_OK,
 * or REDIS_ERR with rl_tree_error set (the reader is left as it was:
 * drop it). */
int rl_tree_feed(rl_tree *t, redisReader *r, const char *buf, size_t len);

/* A reader with rl_tree_functions and privdata = `t` (the tree must
 * outlive it). Free with redisReaderFree. NULL on allocation failure. */
redisReader *rl_tree_reader_new(rl_tree *t);

#endif
