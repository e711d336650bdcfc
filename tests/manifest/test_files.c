/*
 * test_files.c - manifests are read only from regular files, and reading
 * one never blocks.
 *
 * A FIFO named x.yaml used to block open() until a writer came, hanging
 * `gwf validate` and an nginx master on reload; a device was read until
 * the size limit. Every such file is now refused with its name and what
 * it is, at once, and the regular files beside it still load. Every test
 * runs under an alarm: a read that blocks kills the test instead of
 * hanging the suite.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <gwf/manifest.h>

#define GW "apiVersion: gateway.kgateway.dev/v1alpha1\n"

/* Longer than any load takes; a blocked open or read ends the test. */
enum { ALARM_SECONDS = 10 };
#define QUICK_SECONDS 2.0

static const char file_a[] = GW "kind: DirectResponse\nmetadata: {name: a}\n"
                                "spec: {}\n";

typedef struct fixture {
    gwf_manifests *m;
    gwf_diag diag;
    char dir[64];
    char path[256]; /* the last fixture_path */
    char message[512];
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->m = gwf_manifests_new();
    gwf_diag_init(&f->diag);
    snprintf(f->dir, sizeof(f->dir), "/tmp/gwf-files-XXXXXX");
    if (!f->m || !mkdtemp(f->dir))
        return -1;
    *state = f;
    alarm(ALARM_SECONDS);
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    alarm(0);
    char command[128];
    snprintf(command, sizeof(command), "rm -rf '%s'", f->dir);
    if (system(command) != 0)
        print_message("could not remove %s\n", f->dir);
    gwf_manifests_free(f->m);
    gwf_diag_free(&f->diag);
    free(f);
    return 0;
}

/* <dir>/<name>, kept in f->path. */
static const char *
fixture_path(fixture *f, const char *name)
{
    snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
    return f->path;
}

static void
write_manifest(fixture *f, const char *name, const char *text)
{
    FILE *fp = fopen(fixture_path(f, name), "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static double
seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Loads `path` and returns the number of errors; fails if it took more
 * than QUICK_SECONDS. */
static int
load_quickly(fixture *f, const char *path)
{
    double start = seconds_now();
    int errors = gwf_manifests_load_path(f->m, path, &f->diag);
    double took = seconds_now() - start;
    if (took > QUICK_SECONDS)
        fail_msg("loading %s took %.1f s", path, took);
    return errors;
}

/* The refusal of <dir>/<name> as `what`, as the operator reads it. */
static void
assert_refused(fixture *f, const char *name, const char *what)
{
    snprintf(f->message, sizeof(f->message),
             "%s/%s: refused: %s, not a regular file (manifests are read "
             "only from regular files or symlinks to them)",
             f->dir, name, what);
    for (size_t i = 0; i < f->diag.count; i++)
        if (strcmp(gwf_diag_line(&f->diag, i), f->message) == 0)
            return;
    for (size_t i = 0; i < f->diag.count; i++)
        print_message("got: %s\n", gwf_diag_line(&f->diag, i));
    fail_msg("expected: %s", f->message);
}

/* The regular a.yaml beside the refused file still loaded. */
static void
assert_a_loaded(fixture *f)
{
    assert_int_equal(gwf_manifests_count(f->m), 1);
    assert_string_equal(gwf_manifests_at(f->m, 0)->name, "a");
}

static void
test_fifo_named_yaml_in_a_directory_is_refused_without_blocking(void **state)
{
    fixture *f = *state;
    write_manifest(f, "a.yaml", file_a);
    assert_int_equal(mkfifo(fixture_path(f, "b.yaml"), 0600), 0);

    assert_int_equal(load_quickly(f, f->dir), 1);

    assert_refused(f, "b.yaml", "a FIFO");
    assert_a_loaded(f);
}

static void
test_fifo_given_as_the_path_is_refused_without_blocking(void **state)
{
    fixture *f = *state;
    assert_int_equal(mkfifo(fixture_path(f, "only.yaml"), 0600), 0);

    assert_int_equal(load_quickly(f, f->path), 1);

    assert_refused(f, "only.yaml", "a FIFO");
    assert_int_equal(gwf_manifests_count(f->m), 0);
}

static void
test_directory_named_yaml_in_a_directory_is_refused(void **state)
{
    fixture *f = *state;
    write_manifest(f, "a.yaml", file_a);
    assert_int_equal(mkdir(fixture_path(f, "b.yaml"), 0700), 0);

    assert_int_equal(load_quickly(f, f->dir), 1);

    assert_refused(f, "b.yaml", "a directory");
    assert_a_loaded(f);
}

static void
test_unix_socket_named_yaml_is_refused(void **state)
{
    fixture *f = *state;
    write_manifest(f, "a.yaml", file_a);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    const char *path = fixture_path(f, "b.yaml");
    assert_true(strlen(path) < sizeof(addr.sun_path));
    memcpy(addr.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 1), 0);

    int errors = load_quickly(f, f->dir);
    close(fd);

    assert_int_equal(errors, 1);
    assert_refused(f, "b.yaml", "a socket");
    assert_a_loaded(f);
}

static void
test_symlink_to_dev_zero_is_refused_not_read(void **state)
{
    fixture *f = *state;
    write_manifest(f, "a.yaml", file_a);
    assert_int_equal(symlink("/dev/zero", fixture_path(f, "b.yaml")), 0);

    assert_int_equal(load_quickly(f, f->dir), 1);

    assert_refused(f, "b.yaml", "a character device");
    assert_a_loaded(f);
}

static void
test_symlink_to_dev_null_is_refused(void **state)
{
    fixture *f = *state;
    write_manifest(f, "a.yaml", file_a);
    assert_int_equal(symlink("/dev/null", fixture_path(f, "b.yml")), 0);

    assert_int_equal(load_quickly(f, f->dir), 1);

    assert_refused(f, "b.yml", "a character device");
    assert_a_loaded(f);
}

static void
test_dev_null_given_as_the_path_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_quickly(f, "/dev/null"), 1);
    assert_string_equal(gwf_diag_line(&f->diag, 0),
                        "/dev/null: refused: a character device, not a "
                        "regular file (manifests are read only from "
                        "regular files or symlinks to them)");
}

static void
test_symlink_to_a_regular_file_is_loaded(void **state)
{
    fixture *f = *state;
    char target[256];
    write_manifest(f, "real.txt", file_a);
    snprintf(target, sizeof(target), "%s", f->path);
    assert_int_equal(symlink(target, fixture_path(f, "a.yaml")), 0);

    assert_int_equal(load_quickly(f, f->dir), 0);

    assert_int_equal(f->diag.count, 0);
    assert_a_loaded(f);
}

static void
test_glob_still_skips_directories_but_refuses_a_fifo(void **state)
{
    fixture *f = *state;
    char pattern[256];
    write_manifest(f, "a.yaml", file_a);
    assert_int_equal(mkdir(fixture_path(f, "sub"), 0700), 0);
    assert_int_equal(mkfifo(fixture_path(f, "pipe"), 0600), 0);
    snprintf(pattern, sizeof(pattern), "%s/*", f->dir);

    assert_int_equal(load_quickly(f, pattern), 1);

    assert_refused(f, "pipe", "a FIFO");
    assert_a_loaded(f);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fifo_named_yaml_in_a_directory_is_refused_without_blocking),
        T(test_fifo_given_as_the_path_is_refused_without_blocking),
        T(test_directory_named_yaml_in_a_directory_is_refused),
        T(test_unix_socket_named_yaml_is_refused),
        T(test_symlink_to_dev_zero_is_refused_not_read),
        T(test_symlink_to_dev_null_is_refused),
        T(test_dev_null_given_as_the_path_is_refused),
        T(test_symlink_to_a_regular_file_is_loaded),
        T(test_glob_still_skips_directories_but_refuses_a_fifo),
    };
    return cmocka_run_group_tests_name("manifest files", tests, NULL, NULL);
}
