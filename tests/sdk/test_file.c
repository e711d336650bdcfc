/*
 * test_file.c - gwf/sdk_file.h, one behaviour per test.
 *
 * Every test works in its own temporary directory. The FIFO tests are the
 * point of the helper: a FIFO with no writer blocks a plain open() or
 * read() forever, so each of them runs under alarm(): a helper that
 * blocked would be killed by SIGALRM and the test would fail instead of
 * hanging.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gwf/sdk_file.h>

#define BOUND_S 5 /* no call here may take longer than this */

typedef struct dir {
    char path[64];
    char file[128];
} dir;

static int
setup(void **state)
{
    dir *d = calloc(1, sizeof(*d));

    assert_non_null(d);
    snprintf(d->path, sizeof(d->path), "/tmp/gwf-test-file-XXXXXX");
    assert_non_null(mkdtemp(d->path));
    snprintf(d->file, sizeof(d->file), "%s/f", d->path);
    *state = d;
    alarm(BOUND_S);
    return 0;
}

static int
teardown(void **state)
{
    dir *d = *state;

    alarm(0);
    unlink(d->file);
    rmdir(d->path);
    free(d);
    return 0;
}

static void
write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void
test_regular_file_is_read_whole_with_a_nul_after_it(void **state)
{
    dir *d = *state;
    char err[256] = "";
    size_t len = 99;
    char *data;

    write_file(d->file, "a\0b\ncd", 6);
    data = gwf_file_read(d->file, 6, &len, err, sizeof(err));
    assert_non_null(data);
    assert_int_equal(len, 6);
    assert_memory_equal(data, "a\0b\ncd", 6);
    assert_int_equal(data[6], '\0');
    assert_string_equal(err, "");
    free(data);
}

static void
test_empty_file_is_read_as_empty(void **state)
{
    dir *d = *state;
    char err[256] = "";
    size_t len = 99;
    char *data;

    write_file(d->file, "", 0);
    data = gwf_file_read(d->file, 16, &len, err, sizeof(err));
    assert_non_null(data);
    assert_int_equal(len, 0);
    assert_string_equal(data, "");
    free(data);
}

static void
test_file_one_byte_over_the_bound_is_refused(void **state)
{
    dir *d = *state;
    char err[256] = "", want[256];
    size_t len = 0;

    write_file(d->file, "12345", 5);
    errno = 0;
    assert_null(gwf_file_read(d->file, 4, &len, err, sizeof(err)));
    assert_int_equal(errno, EFBIG);
    snprintf(want, sizeof(want), "\"%s\": larger than 4 bytes", d->file);
    assert_string_equal(err, want);
}

static void
test_larger_file_than_the_first_buffer_is_read_whole(void **state)
{
    dir *d = *state;
    char err[256] = "";
    size_t len = 0, n = 100000;
    char *big = malloc(n), *data;

    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    write_file(d->file, big, n);
    data = gwf_file_read(d->file, n, &len, err, sizeof(err));
    assert_non_null(data);
    assert_int_equal(len, n);
    assert_memory_equal(data, big, n);
    free(data);
    free(big);
}

static void
test_fifo_is_refused_at_once_by_read(void **state)
{
    dir *d = *state;
    char err[256] = "", want[256];
    size_t len = 0;

    assert_int_equal(mkfifo(d->file, 0600), 0);
    errno = 0;
    assert_null(gwf_file_read(d->file, 1024, &len, err, sizeof(err)));
    assert_int_equal(errno, EINVAL);
    snprintf(want, sizeof(want), "\"%s\": a FIFO, not a regular file", d->file);
    assert_string_equal(err, want);
}

static void
test_fifo_is_refused_at_once_by_check(void **state)
{
    dir *d = *state;
    char err[256] = "", want[256];

    assert_int_equal(mkfifo(d->file, 0600), 0);
    assert_int_equal(gwf_file_check(d->file, err, sizeof(err)), -1);
    assert_int_equal(errno, EINVAL);
    snprintf(want, sizeof(want), "\"%s\": a FIFO, not a regular file", d->file);
    assert_string_equal(err, want);
}

static void
test_directory_is_refused(void **state)
{
    dir *d = *state;
    char err[256] = "", want[256];
    size_t len = 0;

    assert_null(gwf_file_read(d->path, 1024, &len, err, sizeof(err)));
    snprintf(want, sizeof(want), "\"%s\": a directory, not a regular file",
             d->path);
    assert_string_equal(err, want);
    assert_int_equal(gwf_file_check(d->path, err, sizeof(err)), -1);
    assert_string_equal(err, want);
}

static void
test_character_device_is_refused_without_reading_it(void **state)
{
    char err[256] = "";
    size_t len = 0;

    (void)state;
    /* /dev/zero would never end: a bounded reader would still read it */
    assert_null(gwf_file_read("/dev/zero", 1024, &len, err, sizeof(err)));
    assert_string_equal(err, "\"/dev/zero\": a character device, not a regular "
                             "file");
}

static void
test_socket_is_refused(void **state)
{
    dir *d = *state;
    char err[256] = "", want[256];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_true(strlen(d->file) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, d->file, strlen(d->file) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(gwf_file_check(d->file, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "\"%s\": a socket, not a regular file",
             d->file);
    assert_string_equal(err, want);
    close(fd);
}

static void
test_missing_file_names_the_path_and_keeps_enoent(void **state)
{
    dir *d = *state;
    char err[256] = "", want[256];
    size_t len = 0;

    errno = 0;
    assert_null(gwf_file_read(d->file, 16, &len, err, sizeof(err)));
    assert_int_equal(errno, ENOENT);
    snprintf(want, sizeof(want),
             "cannot open \"%s\": No such file or directory", d->file);
    assert_string_equal(err, want);
    errno = 0;
    assert_int_equal(gwf_file_check(d->file, err, sizeof(err)), -1);
    assert_int_equal(errno, ENOENT);
}

static void
test_symlink_to_a_regular_file_is_followed(void **state)
{
    dir *d = *state;
    char err[256] = "", link[160];
    size_t len = 0;
    char *data;

    write_file(d->file, "ok", 2);
    snprintf(link, sizeof(link), "%s/l", d->path);
    assert_int_equal(symlink(d->file, link), 0);
    assert_int_equal(gwf_file_check(link, err, sizeof(err)), 0);
    data = gwf_file_read(link, 2, &len, err, sizeof(err));
    unlink(link);
    assert_non_null(data);
    assert_int_equal(len, 2);
    assert_memory_equal(data, "ok", 2);
    free(data);
}

static void
test_regular_file_passes_the_check(void **state)
{
    dir *d = *state;
    char err[256] = "";

    write_file(d->file, "x", 1);
    assert_int_equal(gwf_file_check(d->file, err, sizeof(err)), 0);
    assert_string_equal(err, "");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_regular_file_is_read_whole_with_a_nul_after_it),
        T(test_empty_file_is_read_as_empty),
        T(test_file_one_byte_over_the_bound_is_refused),
        T(test_larger_file_than_the_first_buffer_is_read_whole),
        T(test_fifo_is_refused_at_once_by_read),
        T(test_fifo_is_refused_at_once_by_check),
        T(test_directory_is_refused),
        T(test_character_device_is_refused_without_reading_it),
        T(test_socket_is_refused),
        T(test_missing_file_names_the_path_and_keeps_enoent),
        T(test_symlink_to_a_regular_file_is_followed),
        T(test_regular_file_passes_the_check),
    };
    return cmocka_run_group_tests_name("sdk_file", tests, NULL, NULL);
}
