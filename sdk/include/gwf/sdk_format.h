/*
 * gwf/sdk_format.h - Envoy's substitution format strings, for every plugin.
 *
 * kgateway lets operators write Envoy format strings where a value is
 * computed per request: a DirectResponse's `bodyFormat`, ext-authz's
 * `headersToAdd`. The same strings must mean the same thing in every
 * plugin, so the engine lives here: compile a string once at config time
 * (every mistake is a config error naming the field and the byte, counted
 * from 0), then render it per request into a gwf_strbuf, with no
 * allocation but the output buffer's (a FILTER_STATE of type JSON placed
 * in a JSON format is the one exception: it is re-encoded with jansson so
 * the output stays valid JSON).
 *
 * Text form: literal text with command operators, as Envoy's `text_format`:
 *
 *   %REQ(name)%  %REQ(name?alt)%  %REQ(name):N%    a request header (first
 *                                   value); :path, :method, :authority and
 *                                   :scheme too; N cuts to N bytes
 *   %REQ_WITHOUT_QUERY(name?alt):N% the same, without "?query"
 *   %RESP(name?alt):N%               a response header (once one exists)
 *   %DOWNSTREAM_REMOTE_ADDRESS%      "192.0.2.1:5555", "[2001:db8::1]:5555"
 *   %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%, %DOWNSTREAM_REMOTE_PORT%
 *   %DOWNSTREAM_DIRECT_REMOTE_ADDRESS% (_WITHOUT_PORT): the same (gwf has
 *                                   no PROXY protocol)
 *   %DOWNSTREAM_LOCAL_ADDRESS% (_WITHOUT_PORT), %DOWNSTREAM_LOCAL_PORT%
 *   %START_TIME%                     "2026-01-01T00:00:00.000Z" (UTC)
 *   %START_TIME(fmt)%                strftime conversions, plus Envoy's
 *                                   %s (seconds since the epoch), %f
 *                                   (nanoseconds), %1f..%9f (that many
 *                                   digits of the second), %E<n>S / %E*S
 *                                   (seconds with n / all fractional
 *                                   digits); always UTC
 *   %PROTOCOL%                       "HTTP/1.1", "HTTP/2", "HTTP/3"
 *   %REQUEST_HEADERS_BYTES%          Envoy's header map size: the bytes of
 *                                   every name and value, pseudo-headers
 *                                   (:method :path :scheme :authority)
 *                                   included, no separators
 *   %RESPONSE_CODE%                  the status, 0 while there is none
 *   %ROUTE_NAME%                     the data plane's name for the route
 *   %FILTER_STATE(key)%              a shared stream value (value_get),
 *                                   serialized as JSON; (key:PLAIN) as
 *                                   plain text, (key:TYPED) as the default
 *   %HOSTNAME%                       this machine's name (read once)
 *   %%                               a literal '%'
 *
 * A value that does not exist renders "-" in text, as Envoy does.
 *
 * JSON form (Envoy's `json_format`): an object whose string values are
 * format strings, at any depth (lists too); other JSON values are kept as
 * they are. A string that is exactly one command keeps that command's type:
 * numbers stay numbers, a missing value is null; a string mixing text and
 * commands is a string, with "-" for what is missing. The output is
 * compact JSON with the keys sorted, and ends with "\n" as Envoy's does.
 * Control bytes are escaped; bytes that are not UTF-8 become U+FFFD.
 *
 * Threads: compile and free [main]; render [worker], on any number of
 * workers at once (a compiled format is read-only). This header includes
 * <jansson.h>: a plugin that uses it links jansson.
 */
#ifndef GWF_SDK_FORMAT_H
#define GWF_SDK_FORMAT_H

#include <gwf/sdk_config.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gwf_format gwf_format;

/* What a caller may know better than the stream (all fields optional,
 * zero meaning "ask the stream"). */
typedef struct gwf_format_vars {
    /* %RESPONSE_CODE% before a response exists: the status a plugin is
     * about to answer with (DirectResponse's `status`). */
    uint32_t response_code;
    /* Nonzero: a value that is missing renders as nothing, not "-" (text)
     * or null (JSON) — Envoy's header formatter, for values that become
     * header values (a header whose value renders empty is then left
     * out, as Envoy leaves it out). */
    int missing_empty;
} gwf_format_vars;

/* Compile the text form `text` (NUL-terminated), found in the config at
 * "<path>.<field>" ("<field>" when path is ""): that is the field every
 * error names, "expected an Envoy format string, found <what> at byte N".
 * On success *out is the caller's (gwf_format_free). On a mistake the
 * error is reported through `c`, *out is left alone and the status is
 * GWF_ERR_BAD_ARGUMENT (GWF_ERR_NO_MEMORY when memory ran out). [main] */
gwf_status gwf_format_compile(gwf_cfg *c, const char *path, const char *field,
                              const char *text, gwf_format **out);

/* Compile the JSON form: `obj` (at "<path>.<field>") must be a JSON
 * object; a format string at key `k` is reported at "<path>.<field>.k"
 * (lists: "...k[2]"). `obj` is only read: the format keeps its own
 * copy. Returns as gwf_format_compile. [main] */
gwf_status gwf_format_compile_json(gwf_cfg *c, const char *path,
                                   const char *field, const json_t *obj,
                                   gwf_format **out);

/* Append the rendering for stream `s` to `out`. REQ reads the request's
 * headers, RESP the response's. Returns GWF_OK, or GWF_ERR_NO_MEMORY
 * (out->failed is set) when `out` could not grow or the host could not
 * read a value the format names (out of memory: that is not a missing
 * value, so it is not rendered as one). [worker] */
gwf_status gwf_format_render(const gwf_format *f, gwf_stream *s,
                             gwf_strbuf *out);
/* The same with what the caller knows (`vars` may be NULL). [worker] */
gwf_status gwf_format_render_vars(const gwf_format *f, gwf_stream *s,
                                  const gwf_format_vars *vars, gwf_strbuf *out);

/* 1 when `f` has no command that depends on the stream: its rendering is
 * the same for every request (render it once, with any stream, even
 * NULL). [any] */
int gwf_format_is_constant(const gwf_format *f);

/* Free a compiled format. NULL is ignored. [main] */
void gwf_format_free(gwf_format *f);

#ifdef __cplusplus
}
#endif

#endif /* GWF_SDK_FORMAT_H */
