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

#ifdef __cplusplus
}
#endif

#endif /* GWF_SDK_CURL_H */
