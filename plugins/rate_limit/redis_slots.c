/*
 * redis_slots.c - hash slots, the slot map and redirections for Redis
 * Cluster (see redis_slots.h).
 *
 * The slot of a key follows the Redis Cluster specification: CRC16
 * (XMODEM) of the key, or of its hash tag, mod 16384. envoyproxy/ratelimit
 * names its keys domain_key_value_..._window without hash tags, and so do
 * we (descriptors.c): the keys of one decision usually land on different
 * slots, often on different primaries. A value holding '{...}' acts as a
 * tag, the same way for us, for ratelimit and for Redis.
 *
 * The map is built from CLUSTER SLOTS or CLUSTER SHARDS; a client should
 * ask CLUSTER SLOTS. SLOTS answers on every Redis that has a cluster (3.0
 * to 7.x, deprecated in 7 but kept) and lists exactly the ranges the map
 * needs, each with the primary that serves it; SHARDS exists from 7.0
 * only and leaves the client to pick the primary among nodes of every
 * role and health. What SHARDS adds - a failed primary's slots known as
 * unserved before the failover - a client learns anyway from a refused
 * connection and the MOVED that follows the failover. On a real cluster
 * the two give the same map, before and after a failover
 * (test_cluster_slots.c). Everything in a reply is checked before it is
 * used; the first inconsistency refuses the whole reply - a half-trusted
 * map would route keys at random.
 *
 * A host the answering node does not know (an empty string in older
 * versions, "?" or nil with cluster-preferred-endpoint-type
 * unknown-endpoint) means "the address you asked": the caller passes it.
 */
#include "redis_slots.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint16_t crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7, 0x8108,
    0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef, 0x1231, 0x0210,
    0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6, 0x9339, 0x8318, 0xb37b,
    0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de, 0x2462, 0x3443, 0x0420, 0x1401,
    0x64e6, 0x74c7, 0x44a4, 0x5485, 0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee,
    0xf5cf, 0xc5ac, 0xd58d, 0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6,
    0x5695, 0x46b4, 0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d,
    0xc7bc, 0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b, 0x5af5,
    0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12, 0xdbfd, 0xcbdc,
    0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a, 0x6ca6, 0x7c87, 0x4ce4,
    0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41, 0xedae, 0xfd8f, 0xcdec, 0xddcd,
    0xad2a, 0xbd0b, 0x8d68, 0x9d49, 0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13,
    0x2e32, 0x1e51, 0x0e70, 0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a,
    0x9f59, 0x8f78, 0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e,
    0xe16f, 0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e, 0x02b1,
    0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256, 0xb5ea, 0xa5cb,
    0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d, 0x34e2, 0x24c3, 0x14a0,
    0x0481, 0x7466, 0x6447, 0x5424, 0x4405, 0xa7db, 0xb7fa, 0x8799, 0x97b8,
    0xe75f, 0xf77e, 0xc71d, 0xd73c, 0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657,
    0x7676, 0x4615, 0x5634, 0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9,
    0xb98a, 0xa9ab, 0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882,
    0x28a3, 0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92, 0xfd2e,
    0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9, 0x7c26, 0x6c07,
    0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1, 0xef1f, 0xff3e, 0xcf5d,
    0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8, 0x6e17, 0x7e36, 0x4e55, 0x5e74,
    0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

uint16_t
rl_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;

    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^
                         crc16_table[((crc >> 8) ^ (uint8_t)buf[i]) & 0xff]);
    return crc;
}

uint16_t
rl_key_slot(const char *key, size_t len)
{
    const char *open = len ? memchr(key, '{', len) : NULL;

    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', len - from);
        if (close && close > key + from)
            return rl_crc16(key + from, (size_t)(close - (key + from))) &
                   (RL_SLOT_COUNT - 1);
    }
    return rl_crc16(key, len) & (RL_SLOT_COUNT - 1);
}

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int
host_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == ':' || c == '-' ||
           c == '_' || c == '%';
}

/* Copy a reported host into out (RL_HOST_MAX + 1 bytes): "", "?" or
 * NULL are `asked`. 0 or -1. */
static int
host_set(char *out, const char *s, size_t len, const char *asked)
{
    if (!s || len == 0 || (len == 1 && s[0] == '?')) {
        if (!asked)
            return -1;
        s = asked;
        len = strlen(asked);
        if (len == 0)
            return -1;
    }
    if (len > RL_HOST_MAX)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!host_char_ok((unsigned char)s[i]))
            return -1;
    memcpy(out, s, len);
    out[len] = 0;
    return 0;
}

/* host_set from a reply node that is a string or nil (nil: `asked`). */
static int
host_from_node(char *out, const rl_reply_node *h, const char *asked)
{
    if (h->type == REDIS_REPLY_NIL)
        return host_set(out, NULL, 0, asked);
    return host_set(out, h->str, h->len, asked);
}

static int
node_id_ok(const char *s, size_t len)
{
    if (len != RL_NODE_ID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
              (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

/* One node of a CLUSTER SLOTS range: [host, port, id?, metadata?, ...]
 * (later positions are ignored: newer versions may add some). */
static int
node_parse(const rl_reply_node *n, const char *asked, rl_cluster_node *out,
           char *err, size_t errlen, size_t range, size_t pos)
{
    memset(out, 0, sizeof(*out));
    if (n->type != REDIS_REPLY_ARRAY || n->count < 2)
        return fail(err, errlen, "range %zu node %zu: not [host, port, ...]",
                    range, pos);
    const rl_reply_node *h = &n->elems[0], *p = &n->elems[1];
    if (h->type != REDIS_REPLY_STRING && h->type != REDIS_REPLY_NIL)
        return fail(err, errlen, "range %zu node %zu: host is not a string",
                    range, pos);
    if (host_from_node(out->host, h, asked) != 0)
        return fail(err, errlen, "range %zu node %zu: bad host", range, pos);
    if (p->type != REDIS_REPLY_INTEGER || p->integer < 1 || p->integer > 65535)
        return fail(err, errlen, "range %zu node %zu: port not in 1..65535",
                    range, pos);
    out->port = (uint16_t)p->integer;
    if (n->count >= 3) {
        const rl_reply_node *id = &n->elems[2];
        if (id->type != REDIS_REPLY_STRING || !node_id_ok(id->str, id->len))
            return fail(err, errlen,
                        "range %zu node %zu: id is not 40 hex digits", range,
                        pos);
        memcpy(out->id, id->str, RL_NODE_ID_LEN);
        out->id[RL_NODE_ID_LEN] = 0;
    }
    if (n->count >= 4 && n->elems[3].type != REDIS_REPLY_ARRAY)
        return fail(err, errlen, "range %zu node %zu: metadata is not a map",
                    range, pos);
    return 0;
}

static int
same_address(const rl_cluster_node *a, const rl_cluster_node *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

void
rl_slot_map_free(rl_slot_map *m)
{
    if (!m)
        return;
    free(m->shards);
    free(m->replicas);
    free(m);
}

/* A new map with every slot unassigned, for a reply of `cmd` ("CLUSTER
 * SLOTS" or "CLUSTER SHARDS") that must be an array; NULL with err
 * otherwise, or when out of memory. */
static rl_slot_map *
map_new(const rl_reply_node *reply, const char *cmd, char *err, size_t errlen)
{
    rl_slot_map *m;

    if (err && errlen)
        err[0] = 0;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            fail(err, errlen, "%s: %.80s", cmd, reply->str);
        else
            fail(err, errlen, "%s: reply is not an array", cmd);
        return NULL;
    }
    m = calloc(1, sizeof(*m));
    if (!m) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < RL_SLOT_COUNT; i++)
        m->owner[i] = RL_SLOT_UNASSIGNED;
    return m;
}

/* 1 when a and b are integers with 0 <= a <= b <= 16383. */
static int
slot_range_ok(const rl_reply_node *a, const rl_reply_node *b)
{
    return a->type == REDIS_REPLY_INTEGER && b->type == REDIS_REPLY_INTEGER &&
           a->integer >= 0 && b->integer >= a->integer &&
           b->integer < RL_SLOT_COUNT;
}

/* Slots a..b (checked by slot_range_ok) to shard s; -1 with err when one
 * already has an owner (`what` "range" or "shard", `idx` its index in the
 * reply). */
static int
slots_assign(rl_slot_map *m, long s, long long a, long long b, const char *what,
             size_t idx, char *err, size_t errlen)
{
    for (long long slot = a; slot <= b; slot++) {
        if (m->owner[slot] != RL_SLOT_UNASSIGNED)
            return fail(err, errlen, "%s %zu: slot %lld is in two %ss", what,
                        idx, slot, what);
        m->owner[slot] = (uint16_t)s;
    }
    m->shards[s].slots += (size_t)(b - a + 1);
    m->assigned += (size_t)(b - a + 1);
    return 0;
}

/* Append a shard with no replica yet (its replicas must follow it). */
static long
shard_push(rl_slot_map *m, const rl_cluster_node *primary, char *err,
           size_t errlen)
{
    if (m->shard_count >= RL_SLOT_COUNT) /* one per slot at most */
        return fail(err, errlen, "too many primaries");
    rl_shard *s = realloc(m->shards, (m->shard_count + 1) * sizeof(*s));
    if (!s)
        return fail(err, errlen, "out of memory");
    m->shards = s;
    s = &m->shards[m->shard_count];
    memset(s, 0, sizeof(*s));
    s->primary = *primary;
    s->first_replica = m->replica_count;
    return (long)m->shard_count++;
}

/* Append a replica to the last shard pushed. */
static int
replica_push(rl_slot_map *m, const rl_cluster_node *node, char *err,
             size_t errlen)
{
    rl_cluster_node *r =
        realloc(m->replicas, (m->replica_count + 1) * sizeof(*r));
    if (!r)
        return fail(err, errlen, "out of memory");
    m->replicas = r;
    m->replicas[m->replica_count++] = *node;
    m->shards[m->shard_count - 1].replica_count++;
    return 0;
}

/* The shard of `primary` (an existing one, or appended with the range's
 * replicas). -1 with err on a conflict or no memory. */
static long
shard_of(rl_slot_map *m, const rl_reply_node *range,
         const rl_cluster_node *primary, const char *asked, char *err,
         size_t errlen, size_t ri)
{
    for (size_t i = 0; i < m->shard_count; i++) {
        rl_cluster_node *known = &m->shards[i].primary;
        if (!same_address(known, primary))
            continue;
        if (strcmp(known->id, primary->id) != 0)
            return fail(err, errlen, "range %zu: %s:%u reported with two ids",
                        ri, primary->host, (unsigned)primary->port);
        /* Its replicas were taken from its first range; these are
         * checked all the same. */
        for (size_t j = 3; j < range->count; j++) {
            rl_cluster_node r;
            if (node_parse(&range->elems[j], asked, &r, err, errlen, ri,
                           j - 2) != 0)
                return -1;
        }
        return (long)i;
    }
    long s = shard_push(m, primary, err, errlen);
    if (s < 0)
        return -1;
    for (size_t j = 3; j < range->count; j++) {
        rl_cluster_node r;
        if (node_parse(&range->elems[j], asked, &r, err, errlen, ri, j - 2) !=
            0)
            return -1;
        if (same_address(&r, primary))
            return fail(err, errlen, "range %zu: a replica is its primary", ri);
        if (replica_push(m, &r, err, errlen) != 0)
            return -1;
    }
    return s;
}

rl_slot_map *
rl_slot_map_from_slots(const rl_reply_node *reply, const char *asked_host,
                       char *err, size_t errlen)
{
    rl_slot_map *m = map_new(reply, "CLUSTER SLOTS", err, errlen);

    if (!m)
        return NULL;
    for (size_t ri = 0; ri < reply->count; ri++) {
        const rl_reply_node *range = &reply->elems[ri];
        rl_cluster_node primary;
        if (range->type != REDIS_REPLY_ARRAY || range->count < 3) {
            fail(err, errlen, "range %zu: not [start, end, primary, ...]", ri);
            goto refused;
        }
        const rl_reply_node *a = &range->elems[0], *b = &range->elems[1];
        if (!slot_range_ok(a, b)) {
            fail(err, errlen, "range %zu: not 0 <= start <= end <= 16383", ri);
            goto refused;
        }
        if (node_parse(&range->elems[2], asked_host, &primary, err, errlen, ri,
                       0) != 0)
            goto refused;
        long s = shard_of(m, range, &primary, asked_host, err, errlen, ri);
        if (s < 0)
            goto refused;
        if (slots_assign(m, s, a->integer, b->integer, "range", ri, err,
                         errlen) != 0)
            goto refused;
    }
    if (m->assigned == 0) {
        fail(err, errlen, "CLUSTER SLOTS: no slot is assigned");
        goto refused;
    }
    return m;
refused:
    rl_slot_map_free(m);
    return NULL;
}

/* CLUSTER SHARDS (Redis 7): an array of shards, each a flat map
 * {"slots": [start, end, ...], "nodes": [node map, ...], ...}, each node
 * a flat map {"id", "port", "ip", "endpoint", "hostname"?, "tls-port"?,
 * "role", "replication-offset", "health"}. Unknown keys are skipped (the
 * map grows between versions); a key twice is refused. */

/* The value of `key` in the flat map `map`: 0 and *out (NULL when
 * absent), or -1 when map is not a flat map of string keys or has the
 * key twice. */
static int
map_get(const rl_reply_node *map, const char *key, const rl_reply_node **out)
{
    size_t klen = strlen(key);

    *out = NULL;
    if (map->type != REDIS_REPLY_ARRAY || map->count % 2 != 0)
        return -1;
    for (size_t i = 0; i < map->count; i += 2) {
        const rl_reply_node *k = &map->elems[i];
        if (k->type != REDIS_REPLY_STRING)
            return -1;
        if (k->len != klen || memcmp(k->str, key, klen) != 0)
            continue;
        if (*out)
            return -1;
        *out = &map->elems[i + 1];
    }
    return 0;
}

/* 1 when the value of `key` is the string `want`; 0 when it is another
 * string; -1 when absent or not a string. */
static int
map_is(const rl_reply_node *map, const char *key, const char *want)
{
    const rl_reply_node *v;

    if (map_get(map, key, &v) != 0 || !v || v->type != REDIS_REPLY_STRING)
        return -1;
    return v->len == strlen(want) && memcmp(v->str, want, v->len) == 0;
}

/* One node map of CLUSTER SHARDS: its address (the endpoint Redis
 * prefers, else its ip), port and id. */
static int
shard_node_parse(const rl_reply_node *n, const char *asked,
                 rl_cluster_node *out, char *err, size_t errlen, size_t si,
                 size_t ni)
{
    const rl_reply_node *id, *port, *ep, *ip;

    memset(out, 0, sizeof(*out));
    if (map_get(n, "id", &id) != 0 || map_get(n, "port", &port) != 0 ||
        map_get(n, "endpoint", &ep) != 0 || map_get(n, "ip", &ip) != 0)
        return fail(err, errlen, "shard %zu node %zu: not a map", si, ni);
    if (!id || id->type != REDIS_REPLY_STRING || !node_id_ok(id->str, id->len))
        return fail(err, errlen, "shard %zu node %zu: id is not 40 hex digits",
                    si, ni);
    memcpy(out->id, id->str, RL_NODE_ID_LEN);
    if (!port || port->type != REDIS_REPLY_INTEGER || port->integer < 1 ||
        port->integer > 65535)
        return fail(err, errlen, "shard %zu node %zu: port not in 1..65535", si,
                    ni);
    out->port = (uint16_t)port->integer;
    const rl_reply_node *h = ep ? ep : ip;
    if (!h || (h->type != REDIS_REPLY_STRING && h->type != REDIS_REPLY_NIL) ||
        host_from_node(out->host, h, asked) != 0)
        return fail(err, errlen, "shard %zu node %zu: bad host", si, ni);
    return 0;
}

/* One shard of CLUSTER SHARDS into m: its online primary owns its slots
 * (none online: its slots stay unassigned), its online replicas. */
static int
shard_parse(rl_slot_map *m, const rl_reply_node *sh, const char *asked,
            char *err, size_t errlen, size_t si)
{
    const rl_reply_node *slots, *nodes;
    rl_cluster_node node, primary;
    int have_primary = 0;

    if (map_get(sh, "slots", &slots) != 0 ||
        map_get(sh, "nodes", &nodes) != 0 || !slots || !nodes ||
        slots->type != REDIS_REPLY_ARRAY || slots->count % 2 != 0 ||
        nodes->type != REDIS_REPLY_ARRAY)
        return fail(err, errlen, "shard %zu: not {slots: [...], nodes: [...]}",
                    si);
    for (size_t i = 0; i < slots->count; i += 2) {
        if (!slot_range_ok(&slots->elems[i], &slots->elems[i + 1]))
            return fail(err, errlen,
                        "shard %zu: not 0 <= start <= end <= 16383", si);
    }
    /* Every node checked; the online primary found. */
    for (size_t i = 0; i < nodes->count; i++) {
        const rl_reply_node *n = &nodes->elems[i];
        if (shard_node_parse(n, asked, &node, err, errlen, si, i) != 0)
            return -1;
        int master = map_is(n, "role", "master");
        int online = map_is(n, "health", "online");
        if (master < 0 || online < 0)
            return fail(err, errlen, "shard %zu node %zu: no role or health",
                        si, i);
        if (master && online) {
            if (have_primary)
                return fail(err, errlen, "shard %zu: two online primaries", si);
            primary = node;
            have_primary = 1;
        }
    }
    if (!have_primary || slots->count == 0)
        return 0; /* nothing to route there */
    if (rl_slot_map_find(m, primary.host, primary.port) >= 0)
        return fail(err, errlen, "shard %zu: %s:%u is in two shards", si,
                    primary.host, (unsigned)primary.port);
    long s = shard_push(m, &primary, err, errlen);
    if (s < 0)
        return -1;
    for (size_t i = 0; i < nodes->count; i++) {
        const rl_reply_node *n = &nodes->elems[i];
        if (map_is(n, "role", "master") == 1 ||
            map_is(n, "health", "online") != 1)
            continue;
        shard_node_parse(n, asked, &node, NULL, 0, si, i);
        if (same_address(&node, &primary))
            return fail(err, errlen, "shard %zu: a replica is its primary", si);
        if (replica_push(m, &node, err, errlen) != 0)
            return -1;
    }
    for (size_t i = 0; i < slots->count; i += 2)
        if (slots_assign(m, s, slots->elems[i].integer,
                         slots->elems[i + 1].integer, "shard", si, err,
                         errlen) != 0)
            return -1;
    return 0;
}

rl_slot_map *
rl_slot_map_from_shards(const rl_reply_node *reply, const char *asked_host,
                        char *err, size_t errlen)
{
    rl_slot_map *m = map_new(reply, "CLUSTER SHARDS", err, errlen);

    if (!m)
        return NULL;
    for (size_t si = 0; si < reply->count; si++)
        if (shard_parse(m, &reply->elems[si], asked_host, err, errlen, si) != 0)
            goto refused;
    if (m->assigned == 0) {
        fail(err, errlen, "CLUSTER SHARDS: no slot is served");
        goto refused;
    }
    return m;
refused:
    rl_slot_map_free(m);
    return NULL;
}

const rl_shard *
rl_slot_map_shard(const rl_slot_map *m, unsigned slot)
{
    if (!m || slot >= RL_SLOT_COUNT || m->owner[slot] == RL_SLOT_UNASSIGNED)
        return NULL;
    return &m->shards[m->owner[slot]];
}

int
rl_slot_map_find(const rl_slot_map *m, const char *host, unsigned port)
{
    if (!m || !host)
        return -1;
    for (size_t i = 0; i < m->shard_count; i++)
        if (m->shards[i].primary.port == port &&
            strcmp(m->shards[i].primary.host, host) == 0)
            return (int)i;
    return -1;
}

/* Decimal digits only (no sign, no space), at most `max_digits`, value
 * in min..max. */
static int
parse_uint(const char *s, size_t len, size_t max_digits, unsigned min,
           unsigned max, unsigned *out)
{
    unsigned v = 0;

    if (len == 0 || len > max_digits)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int
rl_redirect_parse(const char *s, size_t len, const char *asked_host,
                  rl_redirect *out)
{
    rl_redirect r = {0};
    size_t pos;
    unsigned slot, port;

    if (!s || !out)
        return -1;
    if (len > 6 && memcmp(s, "MOVED ", 6) == 0) {
        r.kind = RL_REDIRECT_MOVED;
        pos = 6;
    } else if (len > 4 && memcmp(s, "ASK ", 4) == 0) {
        r.kind = RL_REDIRECT_ASK;
        pos = 4;
    } else {
        return -1;
    }
    const char *sp = memchr(s + pos, ' ', len - pos);
    if (!sp || parse_uint(s + pos, (size_t)(sp - (s + pos)), 5, 0,
                          RL_SLOT_COUNT - 1, &slot) != 0)
        return -1;
    pos = (size_t)(sp - s) + 1;
    const char *addr = s + pos;
    size_t alen = len - pos;
    const char *colon = NULL;
    for (size_t i = alen; i > 0; i--)
        if (addr[i - 1] == ':') {
            colon = addr + i - 1;
            break;
        }
    if (!colon || parse_uint(colon + 1, alen - (size_t)(colon + 1 - addr), 5, 1,
                             65535, &port) != 0)
        return -1;
    size_t hlen = (size_t)(colon - addr);
    if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
        addr++;
        hlen -= 2;
        if (hlen == 0)
            return -1; /* "[]" is not an address */
    }
    if (host_set(r.host, addr, hlen, asked_host) != 0)
        return -1;
    r.slot = (uint16_t)slot;
    r.port = (uint16_t)port;
    *out = r;
    return 0;
}
