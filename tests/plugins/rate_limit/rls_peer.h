/*
 * rls_peer.h - the rate limit service the rate_limit tests talk to:
 * rls_server.py (grpcio), started on loopback ports with the limits in
 * rls_limits_yaml (envoyproxy/ratelimit's format), and its control port
 * (what it was sent, how it answers: see rls_server.py). The tests are
 * built with -DRLS_SERVER_SCRIPT naming the script.
 */
#ifndef RL_TEST_RLS_PEER_H
#define RL_TEST_RLS_PEER_H

#include <sys/types.h>

typedef struct rls_peer {
    pid_t pid;
    int stdin_fd;
    int port, control, raw; /* gRPC, control (HTTP), raw (cuts answers) */
    char config[64];
} rls_peer;

/* The limits: domain api-gateway; service=premium-api 3/hour,
 * service=named 2/hour (name per-svc), service=big 600/day, X-User-ID
 * 1/hour, remote_address 1/hour, path=/path1 1/hour. */
extern const char rls_limits_yaml[];

/* Start it (over TLS with `cert` and `key` when not NULL); fails the
 * test if it does not print its ports within 15 s. */
void rls_peer_start_with(rls_peer *p, const char *cert, const char *key);
void rls_peer_start(rls_peer *p);
/* SIGKILL, reap, remove the limits file. */
void rls_peer_stop(rls_peer *p);
/* One HTTP/1.0 exchange with the control port: the body (malloc'd). */
char *rls_control(const rls_peer *p, const char *method, const char *path);
/* POST /mode/<mode>. */
void rls_set_mode(const rls_peer *p, const char *mode);
/* How many ShouldRateLimit calls it has seen. */
int rls_requests_seen(const rls_peer *p);

#endif
