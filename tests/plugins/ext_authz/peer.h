/*
 * peer.h - start and stop the authorization servers the ext_authz tests
 * talk to: Python programs run with Debian's /usr/bin/python3, on an
 * ephemeral loopback port they print as "PORT <n>"; and the manifests
 * that point the plugin at one.
 */
#ifndef EA_TEST_PEER_H
#define EA_TEST_PEER_H

#include <sys/types.h>

typedef struct ea_peer {
    pid_t pid;
    int stdin_fd; /* closing it makes the peer exit */
    int port;
} ea_peer;

/* Start `script` (a path) with extra arguments (NULL-terminated, may be
 * NULL). 0 when it is listening, -1 after 10 s or on failure. */
int ea_peer_start(ea_peer *p, const char *script, const char *const *args);
/* Stop it and wait for it (bounded: SIGKILL after 2 s). */
void ea_peer_stop(ea_peer *p);
/* A loopback port with nothing listening on it. */
int ea_unused_port(void);

/* A test host loaded with Backend default/authz (127.0.0.1:`port`),
 * GatewayExtension default/authz whose spec.extAuth is `ext_auth` (YAML
 * flow) and TrafficPolicy default/api using it, with `policy_extra`
 * (", field: value" or "") added to its extAuth. Fails the test when
 * the manifests do not load. Free with gwf_test_host_free. */
struct gwf_test_host;
struct gwf_test_host *ea_host_for(int port, const char *ext_auth,
                                  const char *policy_extra);

#endif
