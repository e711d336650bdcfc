/*
 * gateway_run.c - `gwf gateway run`: keep a running nginx in step with
 * the manifests.
 *
 * Each change of the inputs produces a new *generation*: the model is
 * rendered into DIR/gen/N/ (nginx.conf and its TLS files), checked with
 * `nginx -t` exactly where it lies, and only then copied over
 * DIR/nginx.conf (write + rename, so nginx never reads half a file) and
 * nginx is told to reload (SIGHUP to its master). Input that does not
 * load, a model the emitter refuses, or a configuration nginx refuses
 * stops at the first failing step: the error is printed and the running
 * nginx keeps its configuration, because DIR/nginx.conf was not touched.
 * pid, logs and temp paths stay in DIR across generations.
 *
 * Watching: inotify on directories only, each watch with a name filter:
 * a file input watches its parent directory for its own name (so an
 * editor that writes a new file and renames it over the old one is
 * seen), a directory input watches itself for *.yaml, *.yml and *.json,
 * and a glob watches the directory of its last component for names
 * matching it. Events are debounced: a render starts once the inputs
 * have been quiet for DEBOUNCE_MS, so a tool that writes ten files
 * causes one reload.
 *
 * nginx runs in the foreground (daemon off) as our child, in its own
 * process group; SIGINT and SIGTERM (read from a signalfd, so no handler
 * races the loop) stop it and end the command with 0. nginx exiting by
 * itself ends it with 1.
 */
#define _GNU_SOURCE
#include "gateway_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEBOUNCE_MS 200
#define MAX_WATCHES (GATEWAY_MAX_INPUTS)
#define STOP_GRACE_MS 5000

typedef enum watch_kind {
    WATCH_NAME,     /* one file of the directory */
    WATCH_MANIFESTS /* every manifest file of the directory */
} watch_kind;

typedef struct watch {
    int wd;
    watch_kind kind;
    char pattern[NAME_MAX + 1]; /* WATCH_NAME: name or glob */
} watch;

typedef struct runner {
    const gateway_args *a;
    char dir[PATH_MAX];       /* the nginx prefix */
    char conf[PATH_MAX + 32]; /* DIR/nginx.conf, what nginx reads */
    char log[PATH_MAX + 32];  /* DIR/logs/error.log */
    const char *nginx;
    unsigned generation; /* current; 0: none yet */
    pid_t nginx_pid;
    int inotify_fd, signal_fd;
    watch watches[MAX_WATCHES];
    size_t watch_count;
} runner;

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -- Generations ------------------------------------------------------------
 */

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void
remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
generation_dir(const runner *r, unsigned n, char *out, size_t size)
{
    snprintf(out, size, "%s/gen/%u", r->dir, n);
}

/* Runs argv (argv[0] is the path) with stdout and stderr into `out`;
 * returns its exit status, or -1. */
static int
run_capture(char *const argv[], char *out, size_t size)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t keep = (size_t)n;
        if (keep > size - 1 - len)
            keep = size - 1 - len;
        memcpy(out + len, chunk, keep);
        len += keep;
    }
    out[len] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
nginx_test(const runner *r, const char *conf)
{
    char output[16384];
    char *argv[] = {(char *)r->nginx, "-t", "-q",         "-p",
                    (char *)r->dir,   "-c", (char *)conf, "-e",
                    (char *)r->log,   NULL};
    int status = run_capture(argv, output, sizeof output);
    if (status == 0)
        return 0;
    fprintf(stderr,
            "gwf: nginx -t refused the rendered configuration "
            "(%s):\n%s",
            conf, output);
    if (status == 127)
        fprintf(stderr, "gwf: could not run %s\n", r->nginx);
    return -1;
}

static int
read_whole(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *buf = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&buf, &size);
    if (!mem) {
        fclose(f);
        return -1;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, mem);
    int bad = ferror(f);
    fclose(f);
    if (fclose(mem) != 0 || bad) {
        free(buf);
        return -1;
    }
    *text = buf;
    *len = size;
    return 0;
}

/* Renders and checks generation `generation + 1`; on success it becomes
 * DIR/nginx.conf and the current generation. Returns 0 or -1 (printed). */
static int
next_generation(runner *r)
{
    unsigned n = r->generation + 1;
    char gen[PATH_MAX + 32], tls[PATH_MAX + 40], conf[PATH_MAX + 48];
    generation_dir(r, n, gen, sizeof gen);
    snprintf(tls, sizeof tls, "%s/tls", gen);
    snprintf(conf, sizeof conf, "%s/nginx.conf", gen);
    remove_tree(gen);
    if (gateway_mkdirs(gen, 0755) < 0) {
        fprintf(stderr, "gwf: %s: %s\n", gen, strerror(errno));
        return -1;
    }
    char *summary = NULL, *text = NULL;
    size_t len = 0;
    if (gateway_render_once(r->a, r->dir, tls, conf, &summary) != 0 ||
        nginx_test(r, conf) < 0)
        goto fail;
    if (read_whole(conf, &text, &len) < 0 ||
        gateway_write_atomic(r->conf, text, len) < 0) {
        fprintf(stderr, "gwf: %s: %s\n", r->conf, strerror(errno));
        goto fail;
    }
    free(text);
    printf("%s", summary);
    free(summary);
    if (r->generation) {
        char old[PATH_MAX + 32];
        generation_dir(r, r->generation, old, sizeof old);
        remove_tree(old);
    }
    r->generation = n;
    return 0;
fail:
    free(text);
    free(summary);
    remove_tree(gen);
    return -1;
}

/* -- nginx ------------------------------------------------------------------
 */

static int
start_nginx(runner *r)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "gwf: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
        char *argv[] = {(char *)r->nginx, "-p", r->dir, "-c",
                        r->conf,          "-e", r->log, "-g",
                        "daemon off;",    NULL};
        execv(r->nginx, argv);
        fprintf(stderr, "gwf: %s: %s\n", r->nginx, strerror(errno));
        _exit(127);
    }
    r->nginx_pid = pid;
    printf("started nginx (pid %ld): %s\n", (long)pid, r->conf);
    fflush(stdout);
    return 0;
}

/* Fast shutdown (SIGTERM), then SIGKILL after STOP_GRACE_MS. */
static void
stop_nginx(runner *r)
{
    if (r->nginx_pid <= 0)
        return;
    kill(r->nginx_pid, SIGTERM);
    int64_t deadline = now_ms() + STOP_GRACE_MS;
    while (waitpid(r->nginx_pid, NULL, WNOHANG) == 0) {
        if (now_ms() > deadline) {
            kill(r->nginx_pid, SIGKILL);
            waitpid(r->nginx_pid, NULL, 0);
            break;
        }
        struct timespec pause = {0, 20 * 1000000};
        nanosleep(&pause, NULL);
    }
    r->nginx_pid = 0;
}

/* -- Watching ------------------------------------------------------------- */

static bool
has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static int
add_watch(runner *r, const char *dir, watch_kind kind, const char *pattern)
{
    if (r->watch_count == MAX_WATCHES)
        return -1;
    uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                    IN_DELETE | IN_ATTRIB;
    int wd = inotify_add_watch(r->inotify_fd, dir, mask);
    if (wd < 0) {
        fprintf(stderr, "gwf: cannot watch %s: %s\n", dir, strerror(errno));
        return -1;
    }
    watch *w = &r->watches[r->watch_count++];
    w->wd = wd;
    w->kind = kind;
    snprintf(w->pattern, sizeof w->pattern, "%s", pattern ? pattern : "");
    return 0;
}

static int
watch_input(runner *r, const char *path)
{
    struct stat st;
    if (!has_glob(path) && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return add_watch(r, path, WATCH_MANIFESTS, NULL);
    char copy1[PATH_MAX], copy2[PATH_MAX];
    snprintf(copy1, sizeof copy1, "%s", path);
    snprintf(copy2, sizeof copy2, "%s", path);
    const char *dir = dirname(copy1), *base = basename(copy2);
    if (has_glob(dir)) {
        fprintf(stderr,
                "gwf: %s: only the last component of a watched "
                "glob may hold wildcards\n",
                path);
        return -1;
    }
    return add_watch(r, dir, WATCH_NAME, base);
}

static bool
is_manifest_name(const char *name)
{
    if (name[0] == '.')
        return false;
    const char *dot = strrchr(name, '.');
    return dot && (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0 ||
                   strcmp(dot, ".json") == 0);
}

static bool
event_matters(const runner *r, const struct inotify_event *ev)
{
    if (ev->len == 0)
        return false;
    for (size_t i = 0; i < r->watch_count; i++) {
        const watch *w = &r->watches[i];
        if (w->wd != ev->wd)
            continue;
        if (w->kind == WATCH_MANIFESTS ? is_manifest_name(ev->name)
                                       : fnmatch(w->pattern, ev->name, 0) == 0)
            return true;
    }
    return false;
}

/* Drains the inotify fd; true when an input changed. */
static bool
read_events(const runner *r)
{
    bool changed = false;
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(r->inotify_fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            changed = changed || event_matters(r, ev);
            p += sizeof *ev + ev->len;
        }
    }
    return changed;
}

/* -- The loop ------------------------------------------------------------- */

/* Returns the exit status once asked to stop or nginx ended. */
static int
loop(runner *r)
{
    bool pending = false;
    int64_t due = 0;
    for (;;) {
        int timeout = -1;
        if (pending) {
            int64_t left = due - now_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        struct pollfd fds[2] = {{r->signal_fd, POLLIN, 0},
                                {r->inotify_fd, POLLIN, 0}};
        int ready = poll(fds, 2, timeout);
        if (ready < 0 && errno != EINTR) {
            fprintf(stderr, "gwf: poll: %s\n", strerror(errno));
            return 1;
        }
        if (ready > 0 && (fds[0].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(r->signal_fd, &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
                    printf("stopping nginx\n");
                    stop_nginx(r);
                    return 0;
                }
            }
            int status;
            if (waitpid(r->nginx_pid, &status, WNOHANG) == r->nginx_pid) {
                r->nginx_pid = 0;
                fprintf(stderr, "gwf: nginx exited (%s %d); see %s\n",
                        WIFEXITED(status) ? "status" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status)
                                          : WTERMSIG(status),
                        r->log);
                return 1;
            }
        }
        if (ready > 0 && (fds[1].revents & POLLIN) && read_events(r)) {
            pending = true;
            due = now_ms() + DEBOUNCE_MS;
        }
        if (pending && now_ms() >= due) {
            pending = false;
            if (next_generation(r) == 0) {
                kill(r->nginx_pid, SIGHUP);
                printf("reloaded nginx (generation %u)\n", r->generation);
            } else {
                fprintf(stderr,
                        "gwf: kept the running configuration "
                        "(generation %u)\n",
                        r->generation);
            }
            fflush(stdout);
        }
    }
}

static int
setup(runner *r, const gateway_args *a)
{
    r->a = a;
    r->nginx = a->nginx ? a->nginx : "/usr/sbin/nginx";
    r->inotify_fd = r->signal_fd = -1;
    if (gateway_mkdirs(a->output, 0755) < 0 || !realpath(a->output, r->dir)) {
        fprintf(stderr, "gwf: %s: %s\n", a->output, strerror(errno));
        return -1;
    }
    snprintf(r->conf, sizeof r->conf, "%s/nginx.conf", r->dir);
    snprintf(r->log, sizeof r->log, "%s/logs/error.log", r->dir);
    char logs[PATH_MAX + 8], gen[PATH_MAX + 8];
    snprintf(logs, sizeof logs, "%s/logs", r->dir);
    snprintf(gen, sizeof gen, "%s/gen", r->dir);
    remove_tree(gen); /* generations of an earlier run */
    if (gateway_mkdirs(logs, 0755) < 0) {
        fprintf(stderr, "gwf: %s: %s\n", logs, strerror(errno));
        return -1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    r->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (r->signal_fd < 0 || r->inotify_fd < 0) {
        fprintf(stderr, "gwf: %s\n", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < a->input_count; i++)
        if (watch_input(r, a->inputs[i]) < 0)
            return -1;
    return 0;
}

int
gateway_run(const gateway_args *a)
{
    runner r;
    memset(&r, 0, sizeof r);
    int status = 1;
    if (setup(&r, a) < 0)
        goto out;
    /* Watches first: a change made while the first render runs is seen. */
    if (next_generation(&r) < 0 || start_nginx(&r) < 0)
        goto out;
    status = loop(&r);
out:
    stop_nginx(&r);
    if (r.inotify_fd >= 0)
        close(r.inotify_fd);
    if (r.signal_fd >= 0)
        close(r.signal_fd);
    return status;
}
