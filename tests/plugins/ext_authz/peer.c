/*
 * peer.c - see peer.h. The peer's stdin is a pipe we hold: if the test
 * process dies, the pipe closes and the peer exits by itself.
 */
#define _GNU_SOURCE
#include "peer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gwf/testing.h>

#define PYTHON "/usr/bin/python3"

int
ea_peer_start(ea_peer *p, const char *script, const char *const *args)
{
    int in[2], out[2];
    const char *argv[16];
    size_t n = 0;
    char line[64];
    size_t len = 0;

    memset(p, 0, sizeof(*p));
    p->stdin_fd = -1;
    if (pipe2(in, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    argv[n++] = PYTHON;
    argv[n++] = script;
    for (size_t i = 0; args && args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    p->pid = fork();
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execv(PYTHON, (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->stdin_fd = in[1];
    if (p->pid < 0) {
        close(out[0]);
        close(in[1]);
        return -1;
    }
    /* Read "PORT n\n", at most 10 s. */
    while (len < sizeof(line) - 1) {
        struct pollfd pfd = {.fd = out[0], .events = POLLIN};
        ssize_t r;

        if (poll(&pfd, 1, 10000) <= 0)
            break;
        r = read(out[0], line + len, 1);
        if (r <= 0)
            break;
        len++;
        if (line[len - 1] == '\n')
            break;
    }
    line[len] = '\0';
    close(out[0]);
    if (sscanf(line, "PORT %d", &p->port) != 1) {
        ea_peer_stop(p);
        return -1;
    }
    return 0;
}

void
ea_peer_stop(ea_peer *p)
{
    if (p->stdin_fd >= 0)
        close(p->stdin_fd);
    p->stdin_fd = -1;
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
            p->pid = 0;
            return;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

int
ea_unused_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

gwf_test_host *
ea_host_for(int port, const char *ext_auth, const char *policy_extra)
{
    static char text[8192];
    gwf_test_host *h = gwf_test_host_new();

    assert_non_null(h);
    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: Backend\n"
             "metadata: {name: authz}\n"
             "spec: {static: {hosts: [{host: 127.0.0.1, port: %d}]}}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: authz}\n"
             "spec: {extAuth: %s}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: api}\n"
             "spec: {extAuth: {extensionRef: {name: authz}%s}}\n",
             port, ext_auth, policy_extra);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}
