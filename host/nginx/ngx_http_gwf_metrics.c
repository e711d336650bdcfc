/*
 * ngx_http_gwf_metrics.c - every worker's metrics, summed, at gwf_metrics.
 *
 * Each worker keeps its own metrics (the runtime's and the plugins').
 * Once a second it publishes a snapshot, in Prometheus text, into its
 * slot of a shared memory zone; a `gwf_metrics;` location answers with
 * every slot merged, its own worker's taken fresh, so a scrape sees all
 * workers without any lock on the request path.
 */
#include "ngx_http_gwf_module.h"

/* ------------------------------------------------------------------------
 * Metrics across workers
 * --------------------------------------------------------------------- */

typedef struct {
    ngx_atomic_t lock;
    uint64_t generation; /* the cycle that wrote it */
    size_t len;
    u_char text[GWF_METRICS_SLOT_SIZE];
} gwf_metrics_slot;

static ngx_event_t gwf_ngx_metrics_timer;

static ngx_int_t
gwf_metrics_zone_init(ngx_shm_zone_t *zone, void *data)
{
    if (data) {
        /* A reload: the zone and its slots carry over. */
        zone->data = data;
        return NGX_OK;
    }
    ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)zone->shm.addr;
    gwf_metrics_slot *slots =
        ngx_slab_calloc(shpool, sizeof(gwf_metrics_slot) * GWF_METRICS_SLOTS);
    if (!slots)
        return NGX_ERROR;
    zone->data = slots;
    return NGX_OK;
}

static gwf_metrics_slot *
gwf_metrics_slots(void)
{
    if (!gwf_ngx_main || !gwf_ngx_main->metrics_zone)
        return NULL;
    return gwf_ngx_main->metrics_zone->data;
}

static void
gwf_metrics_publish(void)
{
    gwf_metrics_slot *slots = gwf_metrics_slots();
    if (!slots || !gwf_ngx_runtime || ngx_worker >= GWF_METRICS_SLOTS)
        return;
    char *text = gwf_runtime_metrics_text(gwf_ngx_runtime);
    if (!text)
        return;
    gwf_metrics_slot *slot = &slots[ngx_worker];
    size_t len = ngx_strlen(text);
    if (len > GWF_METRICS_SLOT_SIZE) {
        /* Cut at the last whole line: the sum misses the tail, but never
         * reads half a series. */
        len = GWF_METRICS_SLOT_SIZE;
        while (len && text[len - 1] != '\n')
            len--;
    }
    ngx_spinlock(&slot->lock, ngx_pid, 1024);
    ngx_memcpy(slot->text, text, len);
    slot->len = len;
    slot->generation = (uint64_t)(uintptr_t)ngx_cycle;
    ngx_unlock(&slot->lock);
    free(text);
}

static void
gwf_ngx_metrics_tick(ngx_event_t *ev)
{
    gwf_metrics_publish();
    if (!ngx_exiting) {
        ngx_add_timer(ev, 1000);
    }
}

/* Sum "series value" lines across snapshots, keeping first-seen order
 * and one copy of each # HELP / # TYPE line. */
typedef struct {
    ngx_str_t key; /* the series, or the whole comment line */
    double value;
    ngx_uint_t comment;
} gwf_metric_line;

static ngx_int_t
gwf_metrics_merge(ngx_array_t *lines, ngx_pool_t *pool, u_char *text,
                  size_t len)
{
    u_char *p = text, *end = text + len;
    while (p < end) {
        u_char *eol = ngx_strlchr(p, end, '\n');
        if (!eol)
            eol = end;
        ngx_str_t line = {(size_t)(eol - p), p};
        p = eol + 1;
        if (line.len == 0)
            continue;
        ngx_uint_t comment = line.data[0] == '#';
        ngx_str_t key = line;
        double value = 0;
        if (!comment) {
            u_char *space = line.data + line.len;
            while (space > line.data && space[-1] != ' ')
                space--;
            if (space == line.data)
                continue;
            key.len = (size_t)(space - 1 - line.data);
            char num[64];
            size_t n = (size_t)(line.data + line.len - space);
            if (n >= sizeof num)
                continue;
            ngx_memcpy(num, space, n);
            num[n] = '\0';
            value = strtod(num, NULL);
        }
        gwf_metric_line *l = lines->elts;
        ngx_uint_t i;
        for (i = 0; i < lines->nelts; i++)
            if (l[i].key.len == key.len &&
                ngx_memcmp(l[i].key.data, key.data, key.len) == 0)
                break;
        if (i < lines->nelts) {
            if (!comment)
                l[i].value += value;
            continue;
        }
        gwf_metric_line *nl = ngx_array_push(lines);
        if (!nl)
            return NGX_ERROR;
        nl->key.data = ngx_pnalloc(pool, key.len);
        if (!nl->key.data)
            return NGX_ERROR;
        ngx_memcpy(nl->key.data, key.data, key.len);
        nl->key.len = key.len;
        nl->value = value;
        nl->comment = comment;
    }
    return NGX_OK;
}

static ngx_int_t
gwf_metrics_handler(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD)))
        return NGX_HTTP_NOT_ALLOWED;
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK)
        return rc;
    gwf_metrics_publish();
    ngx_array_t *lines = ngx_array_create(r->pool, 64, sizeof(gwf_metric_line));
    if (!lines)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    gwf_metrics_slot *slots = gwf_metrics_slots();
    if (slots) {
        for (ngx_uint_t i = 0; i < GWF_METRICS_SLOTS; i++) {
            gwf_metrics_slot *slot = &slots[i];
            if (slot->generation != (uint64_t)(uintptr_t)ngx_cycle)
                continue;
            ngx_spinlock(&slot->lock, ngx_pid, 1024);
            u_char *copy = ngx_pnalloc(r->pool, slot->len ? slot->len : 1);
            size_t len = slot->len;
            if (copy)
                ngx_memcpy(copy, slot->text, len);
            ngx_unlock(&slot->lock);
            if (!copy || gwf_metrics_merge(lines, r->pool, copy, len) != NGX_OK)
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    } else if (gwf_ngx_runtime) {
        char *text = gwf_runtime_metrics_text(gwf_ngx_runtime);
        ngx_int_t ok = text ? gwf_metrics_merge(lines, r->pool, (u_char *)text,
                                                ngx_strlen(text))
                            : NGX_ERROR;
        free(text);
        if (ok != NGX_OK)
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    size_t size = 1;
    gwf_metric_line *l = lines->elts;
    for (ngx_uint_t i = 0; i < lines->nelts; i++)
        size += l[i].key.len + 40;
    ngx_buf_t *b = ngx_create_temp_buf(r->pool, size);
    if (!b)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    for (ngx_uint_t i = 0; i < lines->nelts; i++) {
        b->last = ngx_cpymem(b->last, l[i].key.data, l[i].key.len);
        if (!l[i].comment) {
            char num[40];
            int n = snprintf(num, sizeof num, " %.15g", l[i].value);
            b->last = ngx_cpymem(b->last, num, (size_t)n);
        }
        *b->last++ = '\n';
    }
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    if (b->last == b->pos)
        r->header_only = 1; /* no metric at all: an empty 200 */
    ngx_str_set(&r->headers_out.content_type, "text/plain; version=0.0.4");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only)
        return rc;
    ngx_chain_t out = {b, NULL};
    return ngx_http_output_filter(r, &out);
}

char *
ngx_http_gwf_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    (void)cmd;
    ngx_http_gwf_loc_conf_t *lcf = conf;
    lcf->metrics = 1;
    ngx_http_core_loc_conf_t *clcf =
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = gwf_metrics_handler;
    ngx_http_gwf_main_conf_t *mcf =
        ngx_http_conf_get_module_main_conf(cf, ngx_http_gwf_module);
    if (!mcf->metrics_zone) {
        ngx_str_t name = ngx_string("gwf_metrics");
        size_t size =
            sizeof(gwf_metrics_slot) * GWF_METRICS_SLOTS + 64 * ngx_pagesize;
        mcf->metrics_zone =
            ngx_shared_memory_add(cf, &name, size, &ngx_http_gwf_module);
        if (!mcf->metrics_zone)
            return NGX_CONF_ERROR;
        mcf->metrics_zone->init = gwf_metrics_zone_init;
    }
    return NGX_CONF_OK;
}

/* Publish this worker's snapshot once a second (init_process). */
void
gwf_ngx_metrics_start(ngx_cycle_t *cycle)
{
    gwf_ngx_metrics_timer.handler = gwf_ngx_metrics_tick;
    gwf_ngx_metrics_timer.log = cycle->log;
    gwf_ngx_metrics_timer.cancelable = 1;
    ngx_add_timer(&gwf_ngx_metrics_timer, 1000);
}

void
gwf_ngx_metrics_stop(void)
{
    if (gwf_ngx_metrics_timer.timer_set) {
        ngx_del_timer(&gwf_ngx_metrics_timer);
    }
}
