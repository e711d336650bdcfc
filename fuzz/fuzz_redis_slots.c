/*
 * fuzz_redis_slots.c - libFuzzer harness for what the rate_limit plugin
 * reads from a Redis Cluster node off the hot path: a reply parsed by
 * hiredis's reader into a bounded tree (redis_tree.c), a slot map built
 * from it as from CLUSTER SLOTS and as from CLUSTER SHARDS, a MOVED / ASK
 * redirection parsed from an error reply's text (redis_slots.c), and the hash
 * slot of any key.
 *
 * The first byte picks how the rest reaches the reader (its value
 * modulo 4): 0 whole, 1 in two pieces split at the second byte's
 * position, 2 one byte at a time, 3 through rl_tree_feed with a small
 * budget (8 nodes, 64 bytes). The rest is also parsed as a redirection
 * text and hashed as a key.
 *
 * Beyond "no crash, no leak, no UB": a tree is complete only when the
 * reader returned it; a map that is built names an owner for a slot
 * only if that shard exists, its shards' slot counts add up to the
 * assigned slots, and every host is 1..255 valid bytes with a port
 * 1..65535; a redirection that parses has a slot below 16384, a port and
 * a host of valid bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis_slots.h"
#include "redis_tree.h"

static void
check(int ok)
{
    if (!ok)
        __builtin_trap();
}

static void
check_host(const char *host)
{
    size_t len = strlen(host);

    check(len >= 1 && len <= RL_HOST_MAX);
    for (size_t i = 0; i < len; i++)
        check(host[i] > ' ' && host[i] < 0x7f && host[i] != '/');
}

static void
check_map(const rl_slot_map *m)
{
    size_t assigned = 0, total = 0;

    for (size_t s = 0; s < RL_SLOT_COUNT; s++) {
        if (m->owner[s] == RL_SLOT_UNASSIGNED) {
            check(rl_slot_map_shard(m, (unsigned)s) == NULL);
            continue;
        }
        check(m->owner[s] < m->shard_count);
        assigned++;
    }
    check(assigned == m->assigned && assigned > 0);
    for (size_t i = 0; i < m->shard_count; i++) {
        const rl_shard *sh = &m->shards[i];
        check_host(sh->primary.host);
        check(sh->primary.port >= 1);
        check(sh->first_replica + sh->replica_count <= m->replica_count);
        total += sh->slots;
    }
    check(total == assigned);
    for (size_t i = 0; i < m->replica_count; i++) {
        check_host(m->replicas[i].host);
        check(m->replicas[i].port >= 1);
    }
}

static void
check_redirect(const char *s, size_t len)
{
    rl_redirect r;

    if (rl_redirect_parse(s, len, "127.0.0.1", &r) != 0)
        return;
    check(r.kind == RL_REDIRECT_MOVED || r.kind == RL_REDIRECT_ASK);
    check(r.slot < RL_SLOT_COUNT);
    check(r.port >= 1);
    check_host(r.host);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 4;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    rl_tree *t = mode == 3 ? rl_tree_new(8, 64) : rl_tree_new(4096, 65536);
    redisReader *r = rl_tree_reader_new(t);
    void *reply = NULL;
    int status = REDIS_OK;

    if (!t || !r)
        abort();
    if (mode == 0 || mode == 3) {
        status = mode == 0 ? redisReaderFeed(r, in, len)
                           : rl_tree_feed(t, r, in, len);
        if (status == REDIS_OK)
            status = redisReaderGetReply(r, &reply);
    } else if (mode == 1) {
        size_t cut = len ? (size_t)(uint8_t)in[0] % (len + 1) : 0;
        status = redisReaderFeed(r, in, cut);
        if (status == REDIS_OK)
            status = redisReaderGetReply(r, &reply);
        if (status == REDIS_OK && !reply) {
            status = redisReaderFeed(r, in + cut, len - cut);
            if (status == REDIS_OK)
                status = redisReaderGetReply(r, &reply);
        }
    } else {
        for (size_t i = 0; i < len && status == REDIS_OK && !reply; i++) {
            status = redisReaderFeed(r, in + i, 1);
            if (status == REDIS_OK)
                status = redisReaderGetReply(r, &reply);
        }
    }
    const rl_reply_node *root = rl_tree_root(t);
    if (status != REDIS_OK)
        check(root == NULL);
    check((reply != NULL) == (root != NULL));
    if (root) {
        check(reply == (const void *)root);
        rl_slot_map *m = rl_slot_map_from_slots(root, "127.0.0.1", NULL, 0);
        if (m) {
            check(root->type == REDIS_REPLY_ARRAY);
            check_map(m);
            rl_slot_map_free(m);
        }
        m = rl_slot_map_from_shards(root, "127.0.0.1", NULL, 0);
        if (m) {
            check(root->type == REDIS_REPLY_ARRAY);
            check_map(m);
            rl_slot_map_free(m);
        }
        if (root->type == REDIS_REPLY_ERROR)
            check_redirect(root->str, root->len);
    }
    redisReaderFree(r);
    rl_tree_free(t);
    check_redirect(in, len);
    check(rl_key_slot(in, len) < RL_SLOT_COUNT);
    return 0;
}
