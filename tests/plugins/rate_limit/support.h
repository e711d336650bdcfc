/*
 * support.h - what the rate_limit tests share: a real redis-server the
 * tests start on an ephemeral loopback port (no persistence) and always
 * stop, a synchronous Redis client to look at keys, the process and
 * socket pieces the Redis, TLS, Sentinel and Cluster tests have in common
 * (children started quietly, scripted peers, free ports), and manifest
 * and request helpers for the in-process test host.
 */
#ifndef RL_TEST_SUPPORT_H
#define RL_TEST_SUPPORT_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <gwf/testing.h>

/* 2026-01-01T00:00:00Z, the test host's fixed clock, in seconds. */
#define T0 INT64_C(1767225600)
#define NS INT64_C(1000000000)

typedef struct redis_peer {
    pid_t pid;
    int port;
    char dir[64];
    const char *extra[20]; /* more redis-server arguments, NULL-ended */
    const char *bind;      /* the one address it listens on; NULL: 127.0.0.1 */
    /* TLS only (--port 0 --tls-port port; the certificates in extra):
     * started when it accepts a connection (no plain PING to ask). */
    int tls;
    /* A cluster node: its port is at most 55535, and the port 10000
     * above it (the cluster bus) is free too. */
    int cluster_bus;
} redis_peer;

/* Remove `dir` and the files in it ("" is ignored). */
void remove_tree(const char *dir);

/* Start redis-server on p->bind, port p->port (0: pick a free one) and
 * wait until it answers PING (5 s bound). Fails the test if it cannot. */
void redis_peer_start(redis_peer *p);
/* SIGKILL and reap. Safe to call twice. */
void redis_peer_kill(redis_peer *p);
/* Stop (SIGSTOP) / continue (SIGCONT) the server. */
void redis_peer_pause(redis_peer *p);
/* A 127.0.0.1 port nothing listens on (a Redis killed right after it
 * started there). */
int dead_port(void);
void redis_peer_continue(redis_peer *p);
/* A synchronous client (1 s timeouts); authenticates if `password`. */
redisContext *redis_peer_client(const redis_peer *p, const char *user,
                                const char *password);
/* Run a command and return its integer reply (-1 on error / nil). */
long long redis_int(redisContext *c, const char *fmt, ...);
/* 1 when `key` exists in db 0. */
int redis_exists(const redis_peer *p, const char *key);
void redis_flush(const redis_peer *p);

/* Process and socket pieces the test files share. */
void sleep_ms(long ms);
/* A port free on `addr` (IPv4 or IPv6 loopback) right now. */
int free_port(const char *addr);
/* A synchronous client with `timeout_ms` to connect and per command, or
 * NULL when it cannot connect. */
redisContext *redis_connect_ms(const char *addr, int port, long timeout_ms);
/* Fork and exec `path` with `argv` (NULL-ended): stdin from /dev/null,
 * stdout and stderr to the file `log` (truncated) or /dev/null, killed
 * when the test program dies. Its pid. */
pid_t spawn_quiet(const char *path, const char *const *argv, const char *log);
/* A socket listening on a free 127.0.0.1 port (*port). */
int listen_loopback(int *port);
/* A scripted peer on a free 127.0.0.1 port (*port): a child that reads
 * once from each connection, then writes `answer` and keeps the
 * connection open, or (answer NULL) closes it. Stop it with
 * scripted_peer_stop (SIGKILL and reap). */
pid_t scripted_peer_start(const char *answer, int *port);
void scripted_peer_stop(pid_t pid);

/* redis-server --sentinel on a free 127.0.0.1 port, watching
 * 127.0.0.1:primary_port as mymaster (quorum 1, down-after 300 ms,
 * failover-timeout 2 s); started when it names the primary and knows at
 * least `replicas` replicas (5 s bound). Stopped with its folder. */
typedef struct sentinel_peer {
    pid_t pid;
    int port;
    char dir[64];
} sentinel_peer;
void sentinel_peer_start(sentinel_peer *s, int primary_port, long replicas);
void sentinel_peer_stop(sentinel_peer *s);
/* The port it names for mymaster (0: none, or not answering). */
int sentinel_peer_master_port(const sentinel_peer *s);

/* The test host with `text` loaded (fails the test otherwise). */
gwf_test_host *host_with(const char *text);
/* A GatewayExtension default/rl (spec.rateLimit = `spec`, YAML flow) and
 * a TrafficPolicy default/api (rateLimit.global.descriptors = `descs`
 * and an extensionRef to rl). */
const char *global_manifests(const char *spec, const char *descs);
/* GET `path` through the policy default/api; `header` "name: value" or
 * NULL. Finished within 5 s or fails. */
gwf_test_result *run_api(gwf_test_host *h, const char *path,
                         const char *header);
/* Start it, but run the loop only `real_ms` (for requests that wait on
 * the clock). */
gwf_test_result *start_api(gwf_test_host *h, const char *path,
                           const char *header, long real_ms);
/* Run one request and return its status (the result is freed). */
int status_of(gwf_test_host *h, const char *path, const char *header);

/* Fail unless the config is refused with `field` and `message`. */
void assert_config_error(const char *text, const char *field,
                         const char *message);

#endif
