/*
 * gwf/sdk_curl.h - libcurl's multi interface on the host's event loop.
 *
 * A plugin that talks HTTP (an authz server, a JWKS endpoint) keeps one
 * curl multi handle per worker and lets this drive it: libcurl's socket
 * and timer callbacks become worker-scope fd watches and one timer of the
 * host, and events go back through curl_multi_socket_action. Nothing
 * blocks. After every call into libcurl, `progress(arg)` runs: read the
 * finished transfers there with curl_multi_info_read (libcurl forbids
 * re-entering the multi handle from its own callbacks, so this is the
 * place to act on them).
 *
 * It works around a libcurl 7.88 habit: a socket still connecting can be
 * closed before libcurl says CURL_POLL_REMOVE, and a host must never be
 * asked to drop a watch on a closed (or reused) fd number (nginx logs
 * epoll_ctl EBADF alerts). The host watches a duplicate of each socket,
 * open until its watch is cancelled.
 *
 * It also says whether an HTTP answer arrived whole (gwf_curl_answer
 * below): libcurl 7.88 calls an answer cut inside its headers a success.
 *
 * Link with libcurl (the SDK's library does not pull it in unless this is
 * used). [worker] for everything.
 */
#ifndef GWF_SDK_CURL_H
#define GWF_SDK_CURL_H

#include <curl/curl.h>
#include <gwf/abi.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gwf_curl_loop gwf_curl_loop;

/* Take over `multi`'s socket and timer callbacks. NULL on allocation
 * failure. */
gwf_curl_loop *gwf_curl_loop_new(gwf_instance *inst, CURLM *multi,
                                 void (*progress)(void *arg), void *arg);

/* Cancel every watch and the timer and free the loop. Call it after
 * curl_multi_cleanup(multi) (which still reports sockets to the loop). */
void gwf_curl_loop_free(gwf_curl_loop *loop);

/*
 * Is an HTTP answer complete? libcurl 7.88 reports CURLE_OK for an answer
 * cut inside its header block ("HTTP/1.1 200 OK\r\n", then the server
 * closes): the status is there, the headers never ended. A caller that
 * takes that for an answer allows what it should not (an authz check) or
 * keeps what is not there (a JWKS). Every transfer whose answer means
 * something should be tracked:
 *
 *   gwf_curl_answer_track(&st->answer, easy, my_header_cb, st);
 *   ... when curl_multi_info_read says the transfer is done:
 *   result = gwf_curl_answer_result(&st->answer, msg->data.result);
 *
 * The answer is complete when the header block of its final response
 * (not a 1xx) ended with its empty line and libcurl found its body whole
 * by its framing: libcurl itself fails a body shorter than its
 * Content-Length or a chunked body without its last chunk
 * (CURLE_PARTIAL_FILE); a body delimited by the connection's close is
 * whole by definition. An answer whose framing is ambiguous (two
 * different Content-Length values, or Content-Length beside
 * Transfer-Encoding: RFC 9112 6.3, the bytes after the body one reading
 * picks may be a smuggled answer) is failed as soon as its headers say
 * so, which makes libcurl close the connection.
 */
typedef struct gwf_curl_answer {
    curl_write_callback header_fn; /* the caller's, or NULL */
    void *header_arg;
    int status;        /* of the last status line seen, 0 before one */
    int headers_ended; /* the final response's header block ended */
    /* framing headers of the current header block */
    int chunked;               /* Transfer-Encoding seen */
    char content_length[24];   /* the first Content-Length value */
    size_t content_length_len; /* 0: none; SIZE_MAX: too long to keep */
    int framing_ambiguous;     /* the transfer was failed for it */
} gwf_curl_answer;

/* Set CURLOPT_HEADERFUNCTION and CURLOPT_HEADERDATA of `easy` to the
 * tracker, which passes every header line on to header_fn(line, size,
 * nmemb, header_arg) when that is not NULL (its return value is libcurl's
 * answer). `answer` is the caller's (not copied) and must stay in place
 * until the transfer is done; call this again for each transfer (after
 * curl_easy_reset too). */
void gwf_curl_answer_track(gwf_curl_answer *answer, CURL *easy,
                           curl_write_callback header_fn, void *header_arg);

/* The result to act on for a finished tracked transfer:
 * CURLE_WEIRD_SERVER_REPLY when its framing was ambiguous; `result` when
 * it is an error already; CURLE_PARTIAL_FILE when the final header block
 * never ended; else CURLE_OK. */
CURLcode gwf_curl_answer_result(const gwf_curl_answer *answer, CURLcode result);

#ifdef __cplusplus
}
#endif

#endif /* GWF_SDK_CURL_H */
