/*
 * support.c - see support.h.
 */
#define _GNU_SOURCE
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_SERVER "/usr/bin/redis-server"

static const char *
bind_of(const redis_peer *p)
{
    return p->bind ? p->bind : "127.0.0.1";
}

/* A TCP socket bound to `addr`:`port` (0: a port the kernel picks), or
 * -1 when that port is taken. */
static int
bound_socket(const char *addr, int port, struct sockaddr_storage *ss,
             socklen_t *len)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    int fd;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
    } else {
        assert_int_equal(inet_pton(AF_INET, addr, &a4->sin_addr), 1);
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
    }
    fd = socket(ss->ss_family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (bind(fd, (struct sockaddr *)ss, *len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int
free_port(const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = bound_socket(addr, 0, &ss, &len), port;

    assert_true(fd >= 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    close(fd);
    return port;
}

/* A free port for a cluster node: redis-server also listens on the
 * port 10000 above it (the cluster bus) and refuses a port above 55535,
 * while the kernel hands out ports up to 60999; both must be free. */
static int
free_cluster_port(const char *addr)
{
    for (int i = 0; i < 1000; i++) {
        struct sockaddr_storage ss;
        socklen_t len;
        int port = free_port(addr), fd;

        if (port > 55535)
            continue;
        fd = bound_socket(addr, port + 10000, &ss, &len);
        if (fd < 0)
            continue;
        close(fd);
        return port;
    }
    fail_msg("no free port pair (port and port + 10000) for a cluster node");
    return 0;
}

void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

redisContext *
redis_connect_ms(const char *addr, int port, long timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(addr, port, tv);

    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

pid_t
spawn_quiet(const char *path, const char *const *argv, const char *log)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = log ? open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600)
                      : open("/dev/null", O_WRONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int
listen_loopback(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

pid_t
scripted_peer_start(const char *answer, int *port)
{
    int fd = listen_loopback(port);
    pid_t pid;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char buf[512];
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) {
            int c = accept(fd, NULL, NULL);
            if (c < 0)
                continue;
            ssize_t got = read(c, buf, sizeof(buf));
            if (!answer) {
                close(c); /* after the first read, whatever it was */
                continue;
            }
            if (got > 0 && write(c, answer, strlen(answer)) < 0) {
                /* the client went */
            }
            /* kept open: the client reads on */
        }
    }
    close(fd);
    return pid;
}

void
scripted_peer_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int
answers_ping(const char *addr, int port)
{
    redisContext *c = redis_connect_ms(addr, port, 200);
    redisReply *r;
    int ok = 0;

    if (!c)
        return 0;
    r = redisCommand(c, "PING");
    /* Any answer will do: PONG, or NOAUTH when a password is set. */
    ok = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR);
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* A TLS-only Redis is up when it accepts a connection. */
static int
accepts(const char *addr, int port)
{
    redisContext *c = redis_connect_ms(addr, port, 200);

    if (c)
        redisFree(c);
    return c != NULL;
}

void
remove_tree(const char *dir)
{
    DIR *d;
    struct dirent *e;
    char path[512];

    if (!dir[0] || !(d = opendir(dir)))
        return;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Peers still running, by pid and folder: a test that fails half-way
 * (cmocka jumps out of it) never reaches its redis_peer_kill, so these
 * are stopped and their folders removed when the test program exits. */
static struct {
    pid_t pid;
    char dir[64];
} live_peers[32];

static void
reap_live_peers(void)
{
    for (size_t i = 0; i < sizeof(live_peers) / sizeof(live_peers[0]); i++) {
        if (live_peers[i].pid <= 0)
            continue;
        kill(live_peers[i].pid, SIGCONT);
        kill(live_peers[i].pid, SIGKILL);
        waitpid(live_peers[i].pid, NULL, 0);
        remove_tree(live_peers[i].dir);
        live_peers[i].pid = 0;
    }
}

static void
live_peer_set(pid_t pid, const char *dir, int running)
{
    static int registered;

    if (!registered && atexit(reap_live_peers) == 0)
        registered = 1;
    for (size_t i = 0; i < sizeof(live_peers) / sizeof(live_peers[0]); i++) {
        if (running && live_peers[i].pid <= 0) {
            live_peers[i].pid = pid;
            snprintf(live_peers[i].dir, sizeof(live_peers[i].dir), "%s", dir);
            return;
        }
        if (!running && live_peers[i].pid == pid) {
            live_peers[i].pid = 0;
            return;
        }
    }
}

void
redis_peer_start(redis_peer *p)
{
    char port[16];
    const char *argv[40];
    int argc = 0;

    if (access(REDIS_SERVER, X_OK) != 0)
        fail_msg("%s is not installed (Debian package redis-server)",
                 REDIS_SERVER);
    int fixed_port = p->port != 0; /* a restart keeps its port */
    for (int attempt = 0; attempt < 5; attempt++) {
        /* A failed attempt's kill removed the folder: a new one each. */
        if (!p->dir[0]) {
            snprintf(p->dir, sizeof(p->dir), "/tmp/gwf-rl-redis-XXXXXX");
            assert_non_null(mkdtemp(p->dir));
        }
        if (!fixed_port)
            p->port = p->cluster_bus ? free_cluster_port(bind_of(p))
                                     : free_port(bind_of(p));
        snprintf(port, sizeof(port), "%d", p->port);
        argc = 0;
        argv[argc++] = REDIS_SERVER;
        argv[argc++] = "--port";
        if (p->tls) {
            argv[argc++] = "0";
            argv[argc++] = "--tls-port";
        }
        argv[argc++] = port;
        argv[argc++] = "--bind";
        argv[argc++] = bind_of(p);
        argv[argc++] = "--save";
        argv[argc++] = "";
        argv[argc++] = "--appendonly";
        argv[argc++] = "no";
        argv[argc++] = "--dir";
        argv[argc++] = p->dir;
        for (int i = 0; i < 20 && p->extra[i]; i++)
            argv[argc++] = p->extra[i];
        argv[argc] = NULL;
        p->pid = spawn_quiet(REDIS_SERVER, argv, NULL);
        live_peer_set(p->pid, p->dir, 1);
        for (int i = 0; i < 250; i++) {
            int status;
            if (p->tls ? accepts(bind_of(p), p->port)
                       : answers_ping(bind_of(p), p->port))
                return;
            if (waitpid(p->pid, &status, WNOHANG) == p->pid)
                break; /* exited: port taken? try another */
            sleep_ms(20);
        }
        redis_peer_kill(p);
    }
    fail_msg("redis-server did not start");
}

void
redis_peer_kill(redis_peer *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGCONT);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        live_peer_set(p->pid, NULL, 0);
    }
    p->pid = 0;
    /* No RDB or AOF of its own, but a replica keeps the dump.rdb of its
     * full sync there. A restart makes a new one. */
    remove_tree(p->dir);
    p->dir[0] = 0;
}

int
dead_port(void)
{
    redis_peer p = {0};
    redis_peer_start(&p);
    redis_peer_kill(&p);
    return p.port;
}

void
redis_peer_pause(redis_peer *p)
{
    assert_int_equal(kill(p->pid, SIGSTOP), 0);
}

void
redis_peer_continue(redis_peer *p)
{
    assert_int_equal(kill(p->pid, SIGCONT), 0);
}

redisContext *
redis_peer_client(const redis_peer *p, const char *user, const char *password)
{
    redisContext *c = redis_connect_ms(bind_of(p), p->port, 1000);

    if (!c)
        fail_msg("cannot connect to redis on port %d", p->port);
    if (password) {
        redisReply *r = user ? redisCommand(c, "AUTH %s %s", user, password)
                             : redisCommand(c, "AUTH %s", password);
        assert_non_null(r);
        freeReplyObject(r);
    }
    return c;
}

long long
redis_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v = -1;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return v;
}

int
redis_exists(const redis_peer *p, const char *key)
{
    redisContext *c = redis_peer_client(p, NULL, NULL);
    long long n = redis_int(c, "EXISTS %s", key);
    redisFree(c);
    return n == 1;
}

void
redis_flush(const redis_peer *p)
{
    redisContext *c = redis_peer_client(p, NULL, NULL);
    redisReply *r = redisCommand(c, "FLUSHALL");
    if (r)
        freeReplyObject(r);
    redisFree(c);
}

gwf_test_host *
host_with(const char *text)
{
    gwf_test_host *h = gwf_test_host_new();

    assert_non_null(h);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}

const char *
global_manifests(const char *spec, const char *descs)
{
    static char text[16384];
    int n = snprintf(text, sizeof(text),
                     "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                     "kind: GatewayExtension\n"
                     "metadata: {name: rl, namespace: default}\n"
                     "spec:\n"
                     "  rateLimit: %s\n"
                     "---\n"
                     "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                     "kind: TrafficPolicy\n"
                     "metadata: {name: api, namespace: default}\n"
                     "spec:\n"
                     "  rateLimit:\n"
                     "    global:\n"
                     "      extensionRef: {name: rl}\n"
                     "      descriptors: %s\n",
                     spec, descs);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    return text;
}

static gwf_test_request *
make_request(const char *path, const char *header)
{
    gwf_test_request *req = gwf_test_request_new("GET", path);

    assert_non_null(req);
    if (header) {
        char name[128];
        const char *colon = strchr(header, ':');
        assert_non_null(colon);
        snprintf(name, sizeof(name), "%.*s", (int)(colon - header), header);
        gwf_test_request_header(req, name, colon + 2);
    }
    return req;
}

gwf_test_result *
start_api(gwf_test_host *h, const char *path, const char *header, long real_ms)
{
    const gwf_test_route route = {.policy = "default/api"};
    gwf_test_request *req = make_request(path, header);
    gwf_test_result *res = gwf_test_start(h, &route, req, real_ms);

    gwf_test_request_free(req);
    if (!res)
        fail_msg("start: %s", gwf_test_error(h));
    return res;
}

gwf_test_result *
run_api(gwf_test_host *h, const char *path, const char *header)
{
    gwf_test_result *res = start_api(h, path, header, 5000);

    if (gwf_test_outcome(res) == GWF_TEST_RUNNING)
        fail_msg("request still paused after 5 s");
    return res;
}

int
status_of(gwf_test_host *h, const char *path, const char *header)
{
    gwf_test_result *res = run_api(h, path, header);
    int status = gwf_test_status(res);

    gwf_test_result_free(res);
    return status;
}

void
assert_config_error(const char *text, const char *field, const char *message)
{
    gwf_test_host *h = host_with(text);
    const char *err;

    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    assert_non_null(err);
    if (!strstr(err, field) || !strstr(err, message))
        fail_msg("want field \"%s\" and \"%s\" in:\n%s", field, message, err);
    gwf_test_host_free(h);
}

/* -- Sentinel ------------------------------------------------------------- */

int
sentinel_peer_master_port(const sentinel_peer *s)
{
    redisContext *c = redis_connect_ms("127.0.0.1", s->port, 300);
    redisReply *r;
    int port = 0;

    if (!c)
        return 0;
    r = redisCommand(c, "SENTINEL get-master-addr-by-name mymaster");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        port = atoi(r->element[1]->str);
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return port;
}

/* How many replicas the sentinel knows for mymaster (-1: no answer). */
static long
sentinel_replicas(const sentinel_peer *s)
{
    redisContext *c = redis_connect_ms("127.0.0.1", s->port, 300);
    redisReply *r;
    long n = -1;

    if (!c)
        return -1;
    r = redisCommand(c, "SENTINEL replicas mymaster");
    if (r && r->type == REDIS_REPLY_ARRAY)
        n = (long)r->elements;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return n;
}

void
sentinel_peer_start(sentinel_peer *s, int primary_port, long replicas)
{
    char conf[128];
    const char *argv[] = {REDIS_SERVER, conf, "--sentinel", NULL};
    FILE *f;

    snprintf(s->dir, sizeof(s->dir), "/tmp/gwf-rl-sentinel-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(conf, sizeof(conf), "%s/sentinel.conf", s->dir);
    s->port = free_port("127.0.0.1");
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndir %s\n"
            "sentinel monitor mymaster 127.0.0.1 %d 1\n"
            "sentinel down-after-milliseconds mymaster 300\n"
            "sentinel failover-timeout mymaster 2000\n",
            s->port, s->dir, primary_port);
    fclose(f);
    s->pid = spawn_quiet(argv[0], argv, NULL);
    for (int i = 0; i < 250; i++) {
        if (sentinel_peer_master_port(s) == primary_port &&
            sentinel_replicas(s) >= replicas)
            return;
        sleep_ms(20);
    }
    fail_msg("the sentinel did not see the primary and %ld replicas", replicas);
}

void
sentinel_peer_stop(sentinel_peer *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
    remove_tree(s->dir);
    s->dir[0] = 0;
}
