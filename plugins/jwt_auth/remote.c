/*
 * remote.c - fetching a provider's JWKS over HTTP(S) without blocking the
 * worker: libcurl's multi-socket API, with its sockets and its timer
 * mapped onto the host's worker-scope fd watches and timers (the ABI's
 * way to do I/O on the data plane's own event loop).
 *
 * Each worker has its own fetcher and its own copy of the keys: no locks,
 * and a worker never waits for another. A fetch starts when the worker
 * starts; a success replaces the keys and schedules the next fetch at 90%
 * of cacheDuration (so keys are refreshed before they expire); a failure
 * keeps the old keys (served stale), is retried as retryPolicy says
 * (numRetries more tries with an exponential backoff, none without it),
 * and after the last try the next fetch is failedRefetchDuration later
 * (Envoy's 1s unless asyncFetch says otherwise).
 * A token naming an unknown kid may trigger one more fetch, at most every
 * JWT_KID_REFETCH_S, so that a client cannot make us hammer the
 * identity provider.
 *
 * TLS is always verified (libcurl's defaults, CURLOPT_SSL_VERIFYPEER and
 * VERIFYHOST), against the system CAs or the configured CA file. A plain
 * http:// URL (kgateway allows one; config.c warns) is fetched over
 * plain HTTP and never upgraded or redirected; an https:// URL never
 * falls back to http. The body is bounded by JWT_MAX_JWKS_LEN.
 */
#include "jwt_auth.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <gwf/sdk_curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct remote_state {
    jwt_fetcher *owner;
    size_t provider;
    jwt_jwks *keys;
    CURL *easy;                    /* non-NULL while a fetch runs */
    struct curl_slist *connect_to; /* CURLOPT_CONNECT_TO, for `easy` */
    gwf_strbuf body;
    gwf_curl_answer answer; /* was the answer whole? (sdk_curl.h) */
    int too_large;
    int first_done; /* the first fetch ended, well or not */
    int failures;   /* failed tries in a row (retryPolicy counts them) */
    int64_t last_start_s;
    uint64_t next_timer;
    int has_next_timer;
} remote_state;

struct jwt_fetcher {
    const jwt_config *cfg;
    gwf_instance *inst;
    jwt_fetch_done_cb done;
    void *done_arg;
    CURLM *multi;
    gwf_curl_loop *loop;  /* drives `multi` on the host loop */
    remote_state *states; /* one per provider; unused for local ones */
};

static int64_t
now_s(const jwt_fetcher *f)
{
    return f->inst->host->now(f->inst, GWF_CLOCK_REALTIME) / 1000000000;
}

static void fetch_start(remote_state *st);
static void check_done(jwt_fetcher *f);

/* -- Fetches --------------------------------------------------------------- */

static size_t
on_body(char *data, size_t size, size_t count, void *arg)
{
    remote_state *st = arg;
    size_t n = size * count;

    if (st->body.len + n > JWT_MAX_JWKS_LEN) {
        st->too_large = 1;
        return 0; /* makes libcurl fail the transfer */
    }
    gwf_strbuf_append(&st->body, data, n);
    return st->body.failed ? 0 : n;
}

static void
on_next_timer(void *arg)
{
    remote_state *st = arg;

    st->has_next_timer = 0;
    fetch_start(st);
}

static void
schedule_next(remote_state *st, int64_t delay_ms)
{
    jwt_fetcher *f = st->owner;

    if (delay_ms < 1)
        delay_ms = 1;
    if (st->has_next_timer)
        f->inst->host->timer_cancel(f->inst, st->next_timer);
    st->has_next_timer = f->inst->host->timer_start(
                             f->inst, NULL, (uint64_t)delay_ms * 1000000u,
                             on_next_timer, st, &st->next_timer) == GWF_OK;
}

/* The wait before the next try after `st->failures` failed ones: a retry
 * of retryPolicy (base * 2^(k-1), at most max), or, once they are spent,
 * failedRefetchDuration (and the count starts over). */
static int64_t
after_failure_ms(remote_state *st)
{
    const jwt_provider *p = &st->owner->cfg->providers[st->provider];
    int64_t wait;

    if (st->failures > p->retries) {
        st->failures = 0;
        return p->failed_refetch_ms;
    }
    wait = p->retry_base_ms;
    for (int k = 1; k < st->failures && wait < p->retry_max_ms; k++)
        wait *= 2;
    return wait < p->retry_max_ms ? wait : p->retry_max_ms;
}

static void
fetch_start(remote_state *st)
{
    jwt_fetcher *f = st->owner;
    const jwt_provider *p = &f->cfg->providers[st->provider];

    if (st->easy)
        return; /* one at a time */
    st->last_start_s = now_s(f);
    gwf_strbuf_free(&st->body);
    st->too_large = 0;
    st->easy = curl_easy_init();
    if (!st->easy)
        goto fail;
    curl_easy_setopt(st->easy, CURLOPT_URL, p->remote_url);
    /* The URL's own scheme only: no downgrade, no other protocol. */
    curl_easy_setopt(st->easy, CURLOPT_PROTOCOLS_STR,
                     p->remote_plain_http ? "http" : "https");
    curl_easy_setopt(st->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(st->easy, CURLOPT_TIMEOUT_MS, (long)p->fetch_timeout_ms);
    curl_easy_setopt(st->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(st->easy, CURLOPT_WRITEDATA, st);
    /* An answer cut in its headers or with ambiguous framing (two
     * Content-Lengths, Content-Length beside Transfer-Encoding) is a
     * failed fetch, never keys: libcurl alone would call the first a
     * success and pick one reading of the second. */
    gwf_curl_answer_track(&st->answer, st->easy, NULL, NULL);
    curl_easy_setopt(st->easy, CURLOPT_PRIVATE, st);
    curl_easy_setopt(st->easy, CURLOPT_USERAGENT, "gwf-jwt_auth");
    if (p->remote_ca_file)
        curl_easy_setopt(st->easy, CURLOPT_CAINFO, p->remote_ca_file);
    if (p->remote_connect_to) {
        st->connect_to = curl_slist_append(NULL, p->remote_connect_to);
        if (!st->connect_to)
            goto fail;
        curl_easy_setopt(st->easy, CURLOPT_CONNECT_TO, st->connect_to);
    }
    if (curl_multi_add_handle(f->multi, st->easy) != CURLM_OK)
        goto fail;
    return;
fail:
    curl_slist_free_all(st->connect_to);
    st->connect_to = NULL;
    if (st->easy)
        curl_easy_cleanup(st->easy);
    st->easy = NULL;
    gwf_logf(f->inst, GWF_LOG_ERROR,
             "providers[%zu]: cannot start the JWKS fetch", st->provider);
    st->failures++;
    schedule_next(st, after_failure_ms(st));
}

/* Why a finished transfer gave no keys, or NULL with st->keys replaced. */
static const char *
take_keys(remote_state *st, CURLcode code, char *err, size_t err_size)
{
    long status = 0;
    jwt_jwks *keys;

    if (st->too_large)
        return "JWKS larger than the limit";
    if (code != CURLE_OK)
        return curl_easy_strerror(code);
    if (st->body.failed)
        return "out of memory";
    curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        snprintf(err, err_size, "HTTP status %ld", status);
        return err;
    }
    keys = jwt_jwks_parse(st->body.data ? st->body.data : "", st->body.len, err,
                          err_size, NULL, 0);
    if (!keys)
        return err;
    jwt_jwks_free(st->keys);
    st->keys = keys;
    return NULL;
}

static void
finish(jwt_fetcher *f, remote_state *st, CURLcode code)
{
    const jwt_provider *p = &f->cfg->providers[st->provider];
    char err[256] = "";
    int retrying = 0;
    const char *why = take_keys(st, gwf_curl_answer_result(&st->answer, code),
                                err, sizeof(err));

    curl_multi_remove_handle(f->multi, st->easy);
    curl_easy_cleanup(st->easy);
    st->easy = NULL;
    curl_slist_free_all(st->connect_to);
    st->connect_to = NULL;
    gwf_strbuf_free(&st->body);
    if (why) {
        int64_t wait;
        st->failures++;
        retrying = st->failures <= p->retries;
        wait = after_failure_ms(st);
        /* The URL is the operator's, not a secret; the body is not
         * logged. */
        gwf_logf(f->inst, GWF_LOG_WARN,
                 "providers[%zu]: JWKS fetch from %s failed: %s; %s, "
                 "next try in %" PRId64 "ms",
                 st->provider, p->remote_url, why,
                 st->keys ? "keeping the previous keys" : "no keys yet", wait);
        schedule_next(st, wait);
    } else {
        st->failures = 0;
        gwf_logf(f->inst, GWF_LOG_INFO,
                 "providers[%zu]: %zu JWKS key(s) from %s", st->provider,
                 st->keys->count, p->remote_url);
        schedule_next(st, p->cache_duration_ms - p->cache_duration_ms / 10);
    }
    /* A fetch that retryPolicy will try again has not ended: requests
     * waiting for it go on waiting (within their fetchTimeout). */
    if (!retrying) {
        st->first_done = 1;
        f->done(f->done_arg, st->provider);
    }
}

/* gwf_curl_loop's progress callback: act on finished fetches. */
static void
check_done_cb(void *arg)
{
    check_done(arg);
}

static void
check_done(jwt_fetcher *f)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(f->multi, &left))) {
        remote_state *st = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&st);
        if (st)
            finish(f, st, msg->data.result);
    }
}

/* -- Public ---------------------------------------------------------------- */

jwt_fetcher *
jwt_fetcher_start(const jwt_config *cfg, gwf_instance *inst,
                  jwt_fetch_done_cb done, void *arg)
{
    jwt_fetcher *f = calloc(1, sizeof(*f));

    if (!f)
        return NULL;
    f->cfg = cfg;
    f->inst = inst;
    f->done = done;
    f->done_arg = arg;
    f->states = calloc(cfg->provider_count, sizeof(*f->states));
    f->multi = curl_multi_init();
    if (f->multi)
        f->loop = gwf_curl_loop_new(inst, f->multi, check_done_cb, f);
    if (!f->states || !f->multi || !f->loop) {
        curl_multi_cleanup(f->multi);
        gwf_curl_loop_free(f->loop);
        free(f->states);
        free(f);
        return NULL;
    }
    for (size_t i = 0; i < cfg->provider_count; i++) {
        f->states[i].owner = f;
        f->states[i].provider = i;
        /* An alias slot (config.c) uses its provider's keys. */
        if (cfg->providers[i].remote_url && cfg->providers[i].keys_from == i)
            fetch_start(&f->states[i]);
    }
    return f;
}

void
jwt_fetcher_stop(jwt_fetcher *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->cfg->provider_count; i++) {
        remote_state *st = &f->states[i];
        if (st->easy) {
            /* Removing the handle makes libcurl close its sockets, which
             * cancels their watches through the curl loop. */
            curl_multi_remove_handle(f->multi, st->easy);
            curl_easy_cleanup(st->easy);
        }
        curl_slist_free_all(st->connect_to);
        gwf_strbuf_free(&st->body);
        if (st->has_next_timer)
            f->inst->host->timer_cancel(f->inst, st->next_timer);
        jwt_jwks_free(st->keys);
    }
    curl_multi_cleanup(f->multi);
    gwf_curl_loop_free(f->loop);
    free(f->states);
    free(f);
}

const jwt_jwks *
jwt_fetcher_keys(const jwt_fetcher *f, size_t provider)
{
    return f ? f->states[provider].keys : NULL;
}

int
jwt_fetcher_pending(const jwt_fetcher *f, size_t provider)
{
    return f && !f->states[provider].first_done;
}

int
jwt_fetcher_refetch(jwt_fetcher *f, size_t provider, int64_t now)
{
    remote_state *st;

    if (!f)
        return 0;
    st = &f->states[provider];
    if (st->easy)
        return 1;
    if (now - st->last_start_s < JWT_KID_REFETCH_S)
        return 0;
    fetch_start(st);
    return st->easy != NULL;
}
