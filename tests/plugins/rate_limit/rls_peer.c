/*
 * rls_peer.c - see rls_peer.h. The service's stdin is a pipe we hold: if
 * the test process dies, the pipe closes and the service exits.
 */
#define _GNU_SOURCE
#include "rls_peer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define PYTHON "/usr/bin/python3"

/* The limits the service holds (envoyproxy/ratelimit's format). */
const char rls_limits_yaml[] =
    "domain: api-gateway\n"
    "descriptors:\n"
    "  - key: service\n"
    "    value: premium-api\n"
    "    rate_limit: {unit: hour, requests_per_unit: 3}\n"
    "  - key: service\n"
    "    value: named\n"
    "    rate_limit: {unit: hour, requests_per_unit: 2, name: per-svc}\n"
    "  - key: service\n"
    "    value: big\n"
    "    rate_limit: {unit: day, requests_per_unit: 600}\n"
    "  - key: X-User-ID\n"
    "    rate_limit: {unit: hour, requests_per_unit: 1}\n"
    "  - key: remote_address\n"
    "    rate_limit: {unit: hour, requests_per_unit: 1}\n"
    "  - key: path\n"
    "    value: /path1\n"
    "    rate_limit: {unit: hour, requests_per_unit: 1}\n";

void
rls_peer_start_with(rls_peer *p, const char *cert, const char *key)
{
    int in[2], out[2], fd;
    char line[128];
    size_t len = 0;

    memset(p, 0, sizeof(*p));
    snprintf(p->config, sizeof(p->config), "/tmp/gwf-rls-XXXXXX");
    fd = mkstemp(p->config);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, rls_limits_yaml, strlen(rls_limits_yaml)),
                     (ssize_t)strlen(rls_limits_yaml));
    close(fd);
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    p->pid = fork();
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execl(PYTHON, PYTHON, RLS_SERVER_SCRIPT, p->config, cert, key,
              (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->stdin_fd = in[1];
    while (len < sizeof(line) - 1) {
        struct pollfd pfd = {.fd = out[0], .events = POLLIN};
        if (poll(&pfd, 1, 15000) <= 0 || read(out[0], line + len, 1) != 1)
            break;
        if (line[len++] == '\n')
            break;
    }
    line[len] = '\0';
    close(out[0]);
    if (sscanf(line, "PORT %d %d %d", &p->port, &p->control, &p->raw) != 3)
        fail_msg("rls_server.py did not start: \"%s\"", line);
}

void
rls_peer_start(rls_peer *p)
{
    rls_peer_start_with(p, NULL, NULL);
}

void
rls_peer_stop(rls_peer *p)
{
    if (p->stdin_fd > 0)
        close(p->stdin_fd);
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    if (p->config[0])
        unlink(p->config);
    memset(p, 0, sizeof(*p));
}

char *
rls_control(const rls_peer *p, const char *method, const char *path)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    char request[256], *answer = calloc(1, 1 << 20), *body;
    size_t len = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_non_null(answer);
    addr.sin_port = htons((uint16_t)p->control);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    snprintf(request, sizeof(request),
             "%s %s HTTP/1.0\r\nContent-Length: 0\r\n\r\n", method, path);
    assert_int_equal(write(fd, request, strlen(request)),
                     (ssize_t)strlen(request));
    while ((n = read(fd, answer + len, (1 << 20) - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    body = strstr(answer, "\r\n\r\n");
    assert_non_null(body);
    memmove(answer, body + 4, strlen(body + 4) + 1);
    return answer;
}

void
rls_set_mode(const rls_peer *p, const char *mode)
{
    char path[64];

    snprintf(path, sizeof(path), "/mode/%s", mode);
    free(rls_control(p, "POST", path));
}

int
rls_requests_seen(const rls_peer *p)
{
    char *json = rls_control(p, "GET", "/requests");
    int n = 0;

    for (const char *p = json; (p = strstr(p, "\"domain\"")); p++)
        n++;
    free(json);
    return n;
}
