/*
 * file.c - reading files named in configs without blocking (see
 * gwf/sdk_file.h for the contract).
 *
 * The order of the checks is the point: stat before open, so that a
 * device or a FIFO is refused without being opened; open with O_NONBLOCK,
 * so that a FIFO put there after the stat cannot block; fstat on the open
 * descriptor, which is what is read and so what counts; and a read bound
 * that holds even if the file grows after fstat.
 */
#include <gwf/sdk_file.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a file that is not a regular file is, for the error message. */
static const char *
type_name(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    return "something";
}

static int
refuse_non_regular(const char *path, mode_t mode, char *err, size_t err_size)
{
    snprintf(err, err_size, "\"%s\": %s, not a regular file", path,
             type_name(mode));
    errno = EINVAL;
    return -1;
}

static int
refuse_errno(const char *what, const char *path, int e, char *err,
             size_t err_size)
{
    snprintf(err, err_size, "cannot %s \"%s\": %s", what, path, strerror(e));
    errno = e;
    return -1;
}

/* The descriptor of the regular file `path`, opened for reading, or -1
 * (err, errno). *st is its fstat. */
static int
open_regular(const char *path, struct stat *st, char *err, size_t err_size)
{
    int fd, e;

    if (stat(path, st) != 0)
        return refuse_errno("open", path, errno, err, err_size);
    if (!S_ISREG(st->st_mode))
        return refuse_non_regular(path, st->st_mode, err, err_size);
    fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return refuse_errno("open", path, errno, err, err_size);
    if (fstat(fd, st) != 0) {
        e = errno;
        close(fd);
        return refuse_errno("stat", path, e, err, err_size);
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return refuse_non_regular(path, st->st_mode, err, err_size);
    }
    return fd;
}

int
gwf_file_check(const char *path, char *err, size_t err_size)
{
    struct stat st;
    int fd = open_regular(path, &st, err, err_size);

    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static void
refuse_too_large(const char *path, size_t max, char *err, size_t err_size)
{
    snprintf(err, err_size, "\"%s\": larger than %zu bytes", path, max);
    errno = EFBIG;
}

/* Reads fd to its end into a buffer of first_cap bytes that grows up to
 * max + 1 (one byte more than allowed tells "too large"). */
static char *
read_all(int fd, const char *path, size_t first_cap, size_t max, size_t *len,
         char *err, size_t err_size)
{
    size_t cap = first_cap, n = 0;
    char *data = malloc(cap + 1), *bigger;
    ssize_t got;

    if (!data)
        goto no_memory;
    for (;;) {
        if (n == cap) {
            if (cap > max)
                break; /* read max + 1 bytes: too large */
            cap = cap < max / 2 ? (cap ? cap * 2 : 4096) : max + 1;
            if (cap > max + 1)
                cap = max + 1;
            bigger = realloc(data, cap + 1);
            if (!bigger)
                goto no_memory;
            data = bigger;
        }
        got = read(fd, data + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            refuse_errno("read", path, errno, err, err_size);
            goto fail;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (n > max) {
        refuse_too_large(path, max, err, err_size);
        goto fail;
    }
    data[n] = '\0';
    *len = n;
    return data;
no_memory:
    snprintf(err, err_size, "\"%s\": out of memory", path);
    errno = ENOMEM;
fail:
    free(data);
    return NULL;
}

char *
gwf_file_read(const char *path, size_t max, size_t *len, char *err,
              size_t err_size)
{
    struct stat st;
    int fd = open_regular(path, &st, err, err_size), e;
    char *data;

    if (fd < 0)
        return NULL;
    if (st.st_size < 0 || (unsigned long long)st.st_size > max) {
        close(fd);
        refuse_too_large(path, max, err, err_size);
        return NULL;
    }
    data = read_all(fd, path, (size_t)st.st_size, max, len, err, err_size);
    e = errno;
    close(fd);
    errno = e;
    return data;
}
