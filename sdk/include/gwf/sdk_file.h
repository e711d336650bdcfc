/*
 * gwf/sdk_file.h - reading a file named in a config, without ever
 * blocking the process that reads it.
 *
 * Configs are parsed by the nginx master (`nginx -t`, a reload). A plain
 * fopen() of a path the operator wrote there blocks forever when that
 * path is a FIFO with no writer (the master then handles no signal: no
 * reload, no stop), and a character device can be read without end. The
 * runtime refuses such manifests (host/runtime/manifest.c); a plugin
 * reading a file named in a manifest (a CA bundle, a descriptors file, a
 * credentials file) must do the same, and these helpers do: a path is
 * accepted only if it is a regular file (symlinks to one are followed),
 * checked with stat before anything is opened (a device is never even
 * opened) and again with fstat on what was opened (O_NONBLOCK, so a FIFO
 * swapped in between cannot block the open). A whole-file read is
 * bounded, while reading too (the file may grow after fstat).
 *
 * Errors are sentences for the operator that name the path and why:
 * "\"/etc/ca.pem\": a FIFO, not a regular file", "\"/x\": larger than
 * 4194304 bytes", "cannot open \"/x\": No such file or directory". The
 * caller prefixes the config field (gwf_config_errorf). errno is set too,
 * for callers that treat a missing file differently: the system's errno
 * when the file cannot be opened, stat'ed or read, EINVAL when it is not
 * a regular file, EFBIG when it is larger than the bound, ENOMEM.
 *
 * [any thread]; typically [config] in the master.
 */
#ifndef GWF_SDK_FILE_H
#define GWF_SDK_FILE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 0 when `path` is a regular file this process can open for reading;
 * else -1 with the reason in err (and errno). For a path another
 * component opens later (libcurl's CURLOPT_CAINFO on a worker): check it
 * at config time, so that the error is a config error naming the field
 * rather than a worker blocked on a FIFO at request time. */
int gwf_file_check(const char *path, char *err, size_t err_size);

/* The whole content of the regular file `path`, at most `max` bytes, in a
 * malloc'd buffer with a NUL after the last byte (the content may hold
 * NULs: use *len), or NULL with the reason in err (and errno). The
 * caller frees it (and wipes it first when it holds secrets). */
char *gwf_file_read(const char *path, size_t max, size_t *len, char *err,
                    size_t err_size);

#ifdef __cplusplus
}
#endif

#endif /* GWF_SDK_FILE_H */
