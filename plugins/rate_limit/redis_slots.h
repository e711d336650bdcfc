/*
 * redis_slots.h - what Redis Cluster routing is built from: the hash slot
 * of a key, the slot map (16384 slots -> the primary that owns each)
 * read from a CLUSTER SLOTS reply, and MOVED / ASK redirections parsed.
 *
 * Pure functions over bytes and reply trees (redis_tree.h): no I/O, no
 * clock. A cluster client keeps one rl_slot_map, builds a new one from a
 * fresh CLUSTER SLOTS reply when a MOVED says the old one is stale, and
 * swaps it in only when the build succeeded (a refused reply leaves the
 * old map in use).
 */
#ifndef RL_REDIS_SLOTS_H
#define RL_REDIS_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include "redis_tree.h"

#define RL_SLOT_COUNT 16384
/* owner[] of a slot no primary serves: a key there fails, it is never
 * sent to a node picked at random. */
#define RL_SLOT_UNASSIGNED UINT16_MAX
/* A host name or address as Redis reports it (IPv6 without brackets). */
#define RL_HOST_MAX 255
#define RL_NODE_ID_LEN 40

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0, no reflection), the
 * checksum of the Redis Cluster specification. */
uint16_t rl_crc16(const char *buf, size_t len);

/* The hash slot of a key: CRC16 mod 16384 of the hash tag - the bytes
 * between the first '{' and the first '}' after it, when there is at
 * least one - or else of the whole key. Any bytes, any length. */
uint16_t rl_key_slot(const char *key, size_t len);

typedef struct rl_cluster_node {
    char host[RL_HOST_MAX + 1];  /* NUL-ended, validated */
    uint16_t port;               /* 1..65535 */
    char id[RL_NODE_ID_LEN + 1]; /* 40 hex digits, or "" if not reported */
} rl_cluster_node;

typedef struct rl_shard {
    rl_cluster_node primary;
    size_t first_replica; /* its replicas: map->replicas[first..+count) */
    size_t replica_count;
    size_t slots; /* how many slots it owns */
} rl_shard;

typedef struct rl_slot_map {
    uint16_t owner[RL_SLOT_COUNT]; /* shard index or RL_SLOT_UNASSIGNED */
    rl_shard *shards;
    size_t shard_count;
    rl_cluster_node *replicas;
    size_t replica_count;
    size_t assigned; /* slots with an owner */
} rl_slot_map;

/* A slot map built from a CLUSTER SLOTS reply: an array of ranges
 * [start, end, primary, replica...], each node [host, port, id?,
 * metadata?]. Refused (NULL, a message in err[errlen] naming what was
 * wrong) unless every range is inside 0..16383 with start <= end, ranges
 * do not overlap, every port is 1..65535, every host is 1..255 bytes of
 * [A-Za-z0-9.:_%-], every id is 40 hex digits, one address is one node,
 * and at least one slot is assigned. A host that is empty, "?" or nil
 * (the node answering does not know its own address) is replaced by
 * `asked_host`, the address the reply came from (NULL: refused). The
 * caller owns the map: rl_slot_map_free. */
rl_slot_map *rl_slot_map_from_slots(const rl_reply_node *reply,
                                    const char *asked_host, char *err,
                                    size_t errlen);
/* The same map from a CLUSTER SHARDS reply (Redis 7): shards as flat
 * maps {slots: [start, end, ...], nodes: [...]}, nodes as flat maps
 * {id, port, ip, endpoint, role, health, ...}. The primary of a shard is
 * its node with role "master" and health "online" (two: refused; none:
 * its slots stay unassigned - a key there fails); its replicas are the
 * other online nodes. A node's host is its "endpoint" (the address Redis
 * says clients should use), else its "ip". The same checks as for
 * CLUSTER SLOTS. */
rl_slot_map *rl_slot_map_from_shards(const rl_reply_node *reply,
                                     const char *asked_host, char *err,
                                     size_t errlen);
void rl_slot_map_free(rl_slot_map *m);

/* The shard that owns `slot`, or NULL (unassigned, or slot >= 16384). */
const rl_shard *rl_slot_map_shard(const rl_slot_map *m, unsigned slot);
/* The index of the shard whose primary is host:port, or -1. */
int rl_slot_map_find(const rl_slot_map *m, const char *host, unsigned port);

typedef enum rl_redirect_kind {
    RL_REDIRECT_MOVED = 1, /* the slot lives there now: refresh the map */
    RL_REDIRECT_ASK = 2,   /* this once, with ASKING first */
} rl_redirect_kind;

typedef struct rl_redirect {
    rl_redirect_kind kind;
    uint16_t slot;
    char host[RL_HOST_MAX + 1];
    uint16_t port;
} rl_redirect;

/* Parse an error reply's text (as hiredis gives it, without the '-'):
 * "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>", slot
 * 0..16383 in decimal, port 1..65535, host as Redis prints it - IPv6
 * without brackets ("::1:6381": the last ':' ends the host), brackets
 * accepted; an empty host or "?" (unknown endpoint) is `asked_host`.
 * 0 and *out filled, or -1 for anything else (other errors, a missing
 * or extra field, out-of-range numbers, signs, spaces, a bad host). */
int rl_redirect_parse(const char *s, size_t len, const char *asked_host,
                      rl_redirect *out);

#endif
