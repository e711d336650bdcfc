/*
 * ngx_http_gwf_headers.c - request and response headers as the runtime's
 * messages (gwf_message_ops).
 *
 * nginx keeps headers in lists, plus fields for the ones it interprets
 * (Host, Content-Length, Location, ...). Plugins get, set, add and remove
 * headers by name many times per request, so each message has an index
 * by name (valid for one epoch, see gwf_ngx_epoch) that makes every
 * operation O(1) amortised plus the values of that one name, and every
 * write keeps nginx's own fields right. The first few reads and removes
 * of request headers in an epoch pass over the list instead, and adds
 * then go to the list alone (HDR_SCANS): most plugins touch a few headers
 * per request, and building the index hashes them all.
 */
#include "ngx_http_gwf_module.h"

/* ------------------------------------------------------------------------
 * Header index
 *
 * nginx keeps a message's headers in an ngx_list_t: appending is cheap,
 * but finding a name or the i-th header walks every part from the start,
 * so a plugin setting n headers (an authz answer with 40,000 of them) cost
 * O(n^2) and held the worker for seconds. Each message therefore has an
 * index: a hash table from a name (case-insensitively) to that name's
 * live elements in list order, the count of live elements and a cursor
 * for positional reads. get/set/add/remove cost O(1) amortised plus the
 * number of elements of that one name; header_at in order is O(1) each.
 *
 * Removal marks elements (hash = 0), as nginx itself does. The response
 * header filters skip marked elements, but the upstream modules forward
 * every request element, so the request list is compacted once before the
 * request goes on (ngx_http_gwf_hdr_compact_request) and whenever the marks
 * outnumber the live headers, which keeps compaction amortised O(1).
 *
 * nginx and its modules change the lists between the module's calls into
 * the runtime (the upstream's headers arrive, error pages clear them), so
 * an index holds for one epoch: gwf_ngx_epoch moves on at every entry into
 * the runtime, and an index of an older epoch is rebuilt (O(n)) on its
 * first use in the new one.
 * --------------------------------------------------------------------- */

static ngx_inline u_char
hdr_lower(u_char c)
{
    return (u_char)(c | ((u_char)(c - 'A') < 26 ? 0x20 : 0));
}

/* ngx_hash_key_lc, inlined: every header call hashes its name. */
static ngx_inline ngx_uint_t
hdr_hash(const u_char *p, size_t len)
{
    ngx_uint_t key = 0;
    for (size_t i = 0; i < len; i++)
        key = ngx_hash(key, hdr_lower(p[i]));
    return key;
}

static ngx_inline uint64_t
hdr_load8(const u_char *p)
{
    uint64_t v;
    ngx_memcpy(&v, p, 8);
    return v;
}

/* Eight bytes with A-Z made a-z, every other byte as it is: in each
 * byte, adding 0x3f to the low 7 bits sets bit 7 from 'A' up, adding
 * 0x25 from past 'Z'; neither carries into the next byte. */
static ngx_inline uint64_t
hdr_lower8(uint64_t x)
{
    uint64_t low7 = x & 0x7f7f7f7f7f7f7f7fULL;
    uint64_t upper =
        ((low7 + 0x3f3f3f3f3f3f3f3fULL) ^ (low7 + 0x2525252525252525ULL)) & ~x &
        0x8080808080808080ULL;
    return x | (upper >> 2);
}

/* Header names are compared case-insensitively, eight bytes a step (the
 * last step ends on the last byte, overlapping the one before). */
static ngx_inline ngx_uint_t
hdr_same(const u_char *a, const u_char *b, size_t len)
{
    if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8)
            if (hdr_lower8(hdr_load8(a + i)) != hdr_lower8(hdr_load8(b + i)))
                return 0;
        return hdr_lower8(hdr_load8(a + len - 8)) ==
               hdr_lower8(hdr_load8(b + len - 8));
    }
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i] && hdr_lower(a[i]) != hdr_lower(b[i]))
            return 0;
    return 1;
}

static hdr_name_t *
hdr_find(hdr_index_t *idx, const char *name, size_t len, ngx_uint_t hash)
{
    for (hdr_name_t *n = idx->buckets[hash % idx->nbuckets]; n; n = n->next)
        if (n->hash == hash && n->key.len == len &&
            hdr_same(n->key.data, (const u_char *)name, len))
            return n;
    return NULL;
}

/* The live elements named `name`, or NULL if there are none. */
static ngx_array_t *
hdr_lookup(hdr_index_t *idx, const char *name, size_t len)
{
    hdr_name_t *n =
        hdr_find(idx, name, len, hdr_hash((const u_char *)name, len));
    return n && n->elts.nelts ? &n->elts : NULL;
}

static ngx_uint_t
hdr_live(hdr_index_t *idx, const char *name)
{
    ngx_array_t *elts = hdr_lookup(idx, name, ngx_strlen(name));
    return elts ? elts->nelts : 0;
}

/* Doubles the bucket table once there are as many names as buckets. */
static ngx_int_t
hdr_grow(ngx_pool_t *pool, hdr_index_t *idx)
{
    ngx_uint_t size = idx->nbuckets ? idx->nbuckets * 2 : 64;
    hdr_name_t **buckets = ngx_pcalloc(pool, size * sizeof *buckets);
    if (!buckets)
        return NGX_ERROR;
    for (ngx_uint_t b = 0; b < idx->nbuckets; b++) {
        hdr_name_t *n = idx->buckets[b];
        while (n) {
            hdr_name_t *next = n->next;
            n->next = buckets[n->hash % size];
            buckets[n->hash % size] = n;
            n = next;
        }
    }
    idx->buckets = buckets;
    idx->nbuckets = size;
    return NGX_OK;
}

/* A name entry, from the ones a rebuild gave back when there are. */
static hdr_name_t *
hdr_name_new(ngx_pool_t *pool, hdr_index_t *idx)
{
    hdr_name_t *n = idx->spare;
    if (n) {
        idx->spare = n->next;
        n->elts.nelts = 0;
        return n;
    }
    /* The entry and room for its first element in one allocation (most
     * names have one element; ngx_array_push moves a longer list out). */
    n = ngx_palloc(pool, sizeof *n + sizeof(ngx_table_elt_t *));
    if (!n)
        return NULL;
    n->elts.elts = n + 1;
    n->elts.nelts = 0;
    n->elts.size = sizeof(ngx_table_elt_t *);
    n->elts.nalloc = 1;
    n->elts.pool = pool;
    return n;
}

/* Records `h`, the list's newest element, as the last of its name. */
static ngx_int_t
hdr_index_push(ngx_pool_t *pool, hdr_index_t *idx, ngx_table_elt_t *h)
{
    ngx_uint_t hash = hdr_hash(h->key.data, h->key.len);
    hdr_name_t *n = hdr_find(idx, (const char *)h->key.data, h->key.len, hash);
    if (!n) {
        if (idx->names >= idx->nbuckets && hdr_grow(pool, idx) != NGX_OK)
            return NGX_ERROR;
        n = hdr_name_new(pool, idx);
        if (!n)
            return NGX_ERROR;
        n->hash = hash;
        n->key = h->key;
        n->next = idx->buckets[hash % idx->nbuckets];
        idx->buckets[hash % idx->nbuckets] = n;
        idx->names++;
    }
    ngx_table_elt_t **slot = ngx_array_push(&n->elts);
    if (!slot)
        return NGX_ERROR;
    *slot = h;
    idx->live++;
    return NGX_OK;
}

static ngx_int_t
hdr_rebuild(ngx_pool_t *pool, hdr_index_t *idx, ngx_list_t *list)
{
    for (ngx_uint_t b = 0; b < idx->nbuckets; b++) {
        hdr_name_t *n = idx->buckets[b];
        while (n) {
            hdr_name_t *next = n->next;
            n->next = idx->spare;
            idx->spare = n;
            n = next;
        }
        idx->buckets[b] = NULL;
    }
    idx->epoch = 0; /* stays invalid if this fails half-way */
    idx->list = list;
    idx->names = idx->live = idx->marked = 0;
    idx->cursor_part = NULL;
    if (!idx->nbuckets && hdr_grow(pool, idx) != NGX_OK)
        return NGX_ERROR;
    for (ngx_list_part_t *part = &list->part; part; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0)
                idx->marked++;
            else if (hdr_index_push(pool, idx, &h[i]) != NGX_OK)
                return NGX_ERROR;
        }
    }
    idx->epoch = gwf_ngx_epoch;
    return NGX_OK;
}

static ngx_list_t *
msg_list(ngx_http_gwf_msg_t *m)
{
    return m->is_response ? &m->r->headers_out.headers
                          : &m->r->headers_in.headers;
}

/* The message's index, valid for the current list; NULL: no memory. */
static hdr_index_t *
hdr_index(ngx_http_gwf_msg_t *m)
{
    hdr_index_t *idx = &m->index;
    ngx_list_t *list = msg_list(m);
    if (idx->epoch == gwf_ngx_epoch && idx->list == list)
        return idx;
    return hdr_rebuild(m->r->pool, idx, list) == NGX_OK ? idx : NULL;
}

/* Marks every element of one name removed. */
static void
hdr_mark(hdr_index_t *idx, ngx_array_t *elts)
{
    ngx_table_elt_t **h = elts->elts;
    for (ngx_uint_t i = 0; i < elts->nelts; i++)
        h[i]->hash = 0;
    idx->live -= elts->nelts;
    idx->marked += elts->nelts;
    elts->nelts = 0;
    idx->cursor_part = NULL; /* positions after the marks moved */
}

/* Whether header_at shows `h`: the response's Content-Type and
 * Content-Length are shown from headers_out's own fields instead. */
static ngx_uint_t
hdr_shown(ngx_http_gwf_msg_t *m, ngx_table_elt_t *h)
{
    if (h->hash == 0)
        return 0;
    return !m->is_response ||
           (!ngx_http_gwf_name_is((const char *)h->key.data, h->key.len,
                                  "content-type") &&
            !ngx_http_gwf_name_is((const char *)h->key.data, h->key.len,
                                  "content-length"));
}

/* The number of shown elements, by a pass over the list: the count when
 * the index cannot be built, so that header_at answers the failure for
 * the headers there are instead of a count of 0 saying there are none. */
static size_t
list_shown(ngx_http_gwf_msg_t *m)
{
    size_t n = 0;
    for (ngx_list_part_t *part = &msg_list(m)->part; part; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++)
            n += hdr_shown(m, &h[i]);
    }
    return n;
}

/* The pos-th shown element. Reads in increasing order go on from the
 * last one found, so a walk over all headers is linear. */
static ngx_table_elt_t *
hdr_at(ngx_http_gwf_msg_t *m, hdr_index_t *idx, size_t pos)
{
    ngx_list_part_t *part = &idx->list->part;
    ngx_uint_t i = 0;
    size_t k = 0;
    if (idx->cursor_part && idx->cursor_pos <= pos) {
        part = idx->cursor_part;
        i = idx->cursor_i;
        k = idx->cursor_pos;
    }
    for (; part; part = part->next, i = 0) {
        ngx_table_elt_t *h = part->elts;
        for (; i < part->nelts; i++) {
            if (!hdr_shown(m, &h[i]))
                continue;
            if (k == pos) {
                idx->cursor_part = part;
                idx->cursor_i = i;
                idx->cursor_pos = pos;
                return &h[i];
            }
            k++;
        }
    }
    return NULL;
}

/* The fields of headers_in where nginx points at the request elements
 * it interprets, under nginx's own conditions (ngx_http_request.h); by
 * name in req_field, which must name the same ones. */
static const size_t req_elt_fields[] = {
    offsetof(ngx_http_headers_in_t, host),
    offsetof(ngx_http_headers_in_t, connection),
    offsetof(ngx_http_headers_in_t, if_modified_since),
    offsetof(ngx_http_headers_in_t, if_unmodified_since),
    offsetof(ngx_http_headers_in_t, if_match),
    offsetof(ngx_http_headers_in_t, if_none_match),
    offsetof(ngx_http_headers_in_t, user_agent),
    offsetof(ngx_http_headers_in_t, referer),
    offsetof(ngx_http_headers_in_t, content_length),
    offsetof(ngx_http_headers_in_t, content_range),
    offsetof(ngx_http_headers_in_t, content_type),
    offsetof(ngx_http_headers_in_t, range),
    offsetof(ngx_http_headers_in_t, if_range),
    offsetof(ngx_http_headers_in_t, transfer_encoding),
    offsetof(ngx_http_headers_in_t, te),
    offsetof(ngx_http_headers_in_t, expect),
    offsetof(ngx_http_headers_in_t, upgrade),
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    offsetof(ngx_http_headers_in_t, accept_encoding),
    offsetof(ngx_http_headers_in_t, via),
#endif
    offsetof(ngx_http_headers_in_t, authorization),
    offsetof(ngx_http_headers_in_t, keep_alive),
#if (NGX_HTTP_REALIP)
    offsetof(ngx_http_headers_in_t, x_real_ip),
#endif
#if (NGX_HTTP_HEADERS)
    offsetof(ngx_http_headers_in_t, accept),
    offsetof(ngx_http_headers_in_t, accept_language),
#endif
#if (NGX_HTTP_DAV)
    offsetof(ngx_http_headers_in_t, depth),
    offsetof(ngx_http_headers_in_t, destination),
    offsetof(ngx_http_headers_in_t, overwrite),
    offsetof(ngx_http_headers_in_t, date),
#endif
};

#define REQ_ELT_FIELDS (sizeof req_elt_fields / sizeof req_elt_fields[0])

/* The fields of headers_in that point at a request element now. */
typedef struct {
    ngx_table_elt_t **field[REQ_ELT_FIELDS];
    ngx_uint_t count;
} req_fields_t;

static void
req_fields(ngx_http_request_t *r, req_fields_t *f)
{
    f->count = 0;
    for (size_t i = 0; i < REQ_ELT_FIELDS; i++) {
        ngx_table_elt_t **at =
            (ngx_table_elt_t **)((u_char *)&r->headers_in + req_elt_fields[i]);
        if (*at)
            f->field[f->count++] = at;
    }
}

/* The element at `from` is now at `to`, or gone (NULL): so are the
 * fields that pointed at it. */
static void
req_fields_follow(req_fields_t *f, ngx_table_elt_t *from, ngx_table_elt_t *to)
{
    for (ngx_uint_t i = 0; i < f->count; i++)
        if (*f->field[i] == from)
            *f->field[i] = to;
}

/* nginx's array of a name's lines (Cookie, X-Forwarded-For), made again
 * from the compacted list: every live line of that name in list order,
 * which is what nginx's parser and req_add keep in it. One pass, however
 * many lines a client sent: following each moved line through the array
 * would cost lines times array entries. Never more entries than before,
 * so the array does not grow. */
static void
req_array_rebuild(ngx_list_t *list, ngx_array_t *array, const char *name)
{
    size_t len = ngx_strlen(name);
    if (!array->nelts)
        return;
    ngx_table_elt_t **out = array->elts;
    ngx_uint_t n = 0;
    for (ngx_list_part_t *part = &list->part; part; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts && n < array->nalloc; i++)
            if (h[i].key.len == len &&
                hdr_same(h[i].key.data, (const u_char *)name, len))
                out[n++] = &h[i];
    }
    array->nelts = n;
}

/* Drops the marked elements from the request list, which the upstream
 * modules would forward, in place: the live ones move up over them,
 * headers_in's fields follow the element they point at, or are cleared
 * with a removed one (a Range a plugin removed is no longer honoured),
 * and its arrays are made again from the list. Nothing is allocated: the
 * request's pool keeps its room for nginx. The texts do not move. */
ngx_int_t
ngx_http_gwf_hdr_compact_request(ngx_http_gwf_msg_t *m)
{
    hdr_index_t *idx = &m->index;
    ngx_list_t *list = &m->r->headers_in.headers;
    if (!idx->marked)
        return NGX_OK;
    req_fields_t f;
    req_fields(m->r, &f);
    /* Every part but the last is full: the write position runs behind
     * the read position, part by part. */
    ngx_list_part_t *wp = &list->part;
    ngx_uint_t wi = 0;
    for (ngx_list_part_t *part = &list->part; part; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            ngx_table_elt_t *to = NULL;
            if (h[i].hash != 0) {
                if (wi == list->nalloc) {
                    wp->nelts = wi;
                    wp = wp->next;
                    wi = 0;
                }
                to = (ngx_table_elt_t *)wp->elts + wi++;
                if (to == &h[i])
                    continue;
                *to = h[i];
            }
            req_fields_follow(&f, &h[i], to);
        }
    }
    wp->nelts = wi;
    wp->next = NULL;
    list->last = wp;
    req_array_rebuild(list, &m->r->headers_in.cookies, "cookie");
#if (NGX_HTTP_X_FORWARDED_FOR)
    req_array_rebuild(list, &m->r->headers_in.x_forwarded_for,
                      "x-forwarded-for");
#endif
    idx->epoch = 0; /* elements moved */
    idx->marked = 0;
    idx->cursor_part = NULL;
    return NGX_OK;
}

static ngx_table_elt_t *
list_add(ngx_http_request_t *r, ngx_list_t *list, const char *name,
         size_t name_len, const char *value, size_t value_len)
{
    ngx_table_elt_t *h = ngx_list_push(list);
    if (!h)
        return NULL;
    /* A response header is only written out (the HTTP/2 and HTTP/3
     * filters lower-case names themselves): like nginx's own add_header,
     * its hash is 1 and it needs no lower-case copy. A request header is
     * looked up by nginx and the upstream modules by its hash. */
    ngx_uint_t response = list == &r->headers_out.headers;
    size_t lower_len = response ? 0 : name_len;
    /* One allocation for the texts: a plugin may add many. */
    u_char *text = ngx_pnalloc(r->pool, name_len + lower_len + value_len + 1);
    if (!text) {
        /* Not left with hash 0 and no name: it was the list's last. */
        list->last->nelts--;
        return NULL;
    }
    h->key.data = text;
    h->value.data = text + name_len + lower_len;
    ngx_memcpy(h->key.data, name, name_len);
    h->key.len = name_len;
    if (response) {
        h->lowcase_key = h->key.data;
        h->hash = 1;
    } else {
        /* Lower case and hash in one pass (the same hash as
         * ngx_hash_key of the lower-case name). */
        h->lowcase_key = text + name_len;
        h->hash = ngx_hash_strlow(h->lowcase_key, (u_char *)name, name_len);
    }
    ngx_memcpy(h->value.data, value, value_len);
    h->value.len = value_len;
    return h;
}

/* Appends a header to the message's list and its index. */
static ngx_table_elt_t *
hdr_add(ngx_http_gwf_msg_t *m, hdr_index_t *idx, const char *name, size_t len,
        const char *value, size_t value_len)
{
    ngx_table_elt_t *h =
        list_add(m->r, msg_list(m), name, len, value, value_len);
    if (!h) {
        idx->epoch = 0; /* rebuilt from the list on next use */
        return NULL;
    }
    if (hdr_index_push(m->r->pool, idx, h) != NGX_OK) {
        idx->epoch = 0; /* rebuilt from the list on next use */
        return NULL;
    }
    return h;
}

/* Appends a header to the message's list, and to its index only when
 * that is current: a stale index (a new epoch, a list just made, as for
 * a local reply) is rebuilt from the list when next used, so an append
 * never pays for an index nobody may read. */
static ngx_table_elt_t *
hdr_append(ngx_http_gwf_msg_t *m, const char *name, size_t len,
           const char *value, size_t value_len)
{
    hdr_index_t *idx = &m->index;
    if (idx->epoch == gwf_ngx_epoch && idx->list == msg_list(m))
        return hdr_add(m, idx, name, len, value, value_len);
    return list_add(m->r, msg_list(m), name, len, value, value_len);
}

/* The nth element named `name`, or NULL. */
static ngx_table_elt_t *
hdr_get(hdr_index_t *idx, const char *name, size_t len, size_t index)
{
    ngx_array_t *elts = hdr_lookup(idx, name, len);
    if (!elts || index >= elts->nelts)
        return NULL;
    return ((ngx_table_elt_t **)elts->elts)[index];
}

/* ------------------------------------------------------------------------
 * Request headers as gwf_message_ops
 * --------------------------------------------------------------------- */

/* Calls a stale index is not rebuilt for: rebuilding hashes every
 * header of the request (about 260 instructions a header), while a
 * plugin that reads, replaces or removes a few headers per request (an
 * Authorization read and removed, a claim set) needs a pass over the
 * list each (a length compare per header). From the next call in the
 * same epoch on, the index pays, so a plugin that sets many headers (an
 * authz answer's) makes at most this many passes over a list it grows. */
#define HDR_SCANS 8

/* Whether this call may pass over the request list instead of using the
 * index: the index is stale, and fewer than HDR_SCANS calls of this
 * epoch did. */
static ngx_uint_t
hdr_may_scan(ngx_http_gwf_msg_t *m)
{
    hdr_index_t *idx = &m->index;
    if (idx->epoch == gwf_ngx_epoch && idx->list == msg_list(m))
        return 0;
    if (m->scan_epoch != gwf_ngx_epoch) {
        m->scan_epoch = gwf_ngx_epoch;
        m->scans = 0;
    }
    if (m->scans >= HDR_SCANS)
        return 0;
    m->scans++;
    return 1;
}

/* The index-th live element of `list` named `name`, or NULL: the answer
 * the index would give, by a pass over the list. */
static ngx_table_elt_t *
list_find(ngx_list_t *list, const char *name, size_t len, size_t index)
{
    for (ngx_list_part_t *part = &list->part; part; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++)
            if (h[i].hash != 0 && h[i].key.len == len &&
                hdr_same(h[i].key.data, (const u_char *)name, len) &&
                index-- == 0)
                return &h[i];
    }
    return NULL;
}

/* Marks every live element of `list` named `name` removed, by a pass
 * over the list; returns how many, and in `*zeros` how many elements of
 * the list have hash 0 now: these marks, earlier ones, and those nginx
 * gave hash 0 itself (a name of underscores only, with
 * ignore_invalid_headers off), which compaction drops too. */
static ngx_uint_t
list_mark(ngx_list_t *list, const char *name, size_t len, ngx_uint_t *zeros)
{
    ngx_uint_t marked = 0;
    *zeros = 0;
    for (ngx_list_part_t *part = &list->part; part; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (h[i].hash != 0 && h[i].key.len == len &&
                hdr_same(h[i].key.data, (const u_char *)name, len)) {
                h[i].hash = 0;
                marked++;
            }
            *zeros += h[i].hash == 0;
        }
    }
    return marked;
}

static gwf_status
req_get(ngx_http_gwf_msg_t *m, const char *name, size_t len, size_t index,
        gwf_view *v)
{
    ngx_http_request_t *r = m->r;
    if (len && name[0] == ':') {
        if (index)
            return GWF_ERR_NOT_FOUND;
        if (ngx_http_gwf_name_is(name, len, ":method")) {
            v->ptr = (const char *)r->method_name.data;
            v->len = r->method_name.len;
        } else if (ngx_http_gwf_name_is(name, len, ":path")) {
            v->ptr = (const char *)r->unparsed_uri.data;
            v->len = r->unparsed_uri.len;
        } else if (ngx_http_gwf_name_is(name, len, ":scheme")) {
#if (NGX_HTTP_SSL)
            v->ptr = r->connection->ssl ? "https" : "http";
#else
            v->ptr = "http";
#endif
            v->len = ngx_strlen(v->ptr);
        } else if (ngx_http_gwf_name_is(name, len, ":authority")) {
            if (!r->headers_in.host)
                return GWF_ERR_NOT_FOUND;
            v->ptr = (const char *)r->headers_in.host->value.data;
            v->len = r->headers_in.host->value.len;
        } else {
            return GWF_ERR_NOT_FOUND;
        }
        return GWF_OK;
    }
    ngx_table_elt_t *h;
    if (hdr_may_scan(m)) {
        h = list_find(msg_list(m), name, len, index);
    } else {
        hdr_index_t *idx = hdr_index(m);
        if (!idx)
            return GWF_ERR_NO_MEMORY;
        h = hdr_get(idx, name, len, index);
    }
    if (!h)
        return GWF_ERR_NOT_FOUND;
    v->ptr = (const char *)h->value.data;
    v->len = h->value.len;
    return GWF_OK;
}

static size_t
req_count(ngx_http_gwf_msg_t *m)
{
    hdr_index_t *idx = hdr_index(m);
    return idx ? idx->live : list_shown(m);
}

static gwf_status
req_at(ngx_http_gwf_msg_t *m, size_t index, gwf_view *name, gwf_view *value)
{
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return GWF_ERR_NO_MEMORY;
    ngx_table_elt_t *h = hdr_at(m, idx, index);
    if (!h)
        return GWF_ERR_NOT_FOUND;
    name->ptr = (const char *)h->key.data;
    name->len = h->key.len;
    value->ptr = (const char *)h->value.data;
    value->len = h->value.len;
    return GWF_OK;
}

/* The headers_in field that points at the request element named
 * `name`, for every field of req_elt_fields: nginx sets them by name
 * (ngx_http_headers_in), and so do req_add and req_remove, so a removed
 * element is never left pointed at. */
static ngx_table_elt_t **
req_field(ngx_http_request_t *r, const char *name, size_t len)
{
    ngx_http_headers_in_t *in = &r->headers_in;
    const u_char *n = (const u_char *)name;
#define REQ_FIELD(lit, field)                                                  \
    if (hdr_same(n, (const u_char *)(lit), len))                               \
        return &in->field;
    switch (len) {
    case 2:
        REQ_FIELD("te", te)
        break;
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    case 3:
        REQ_FIELD("via", via)
        break;
#endif
    case 4:
        REQ_FIELD("host", host)
#if (NGX_HTTP_DAV)
        REQ_FIELD("date", date)
#endif
        break;
    case 5:
        REQ_FIELD("range", range)
#if (NGX_HTTP_DAV)
        REQ_FIELD("depth", depth)
#endif
        break;
    case 6:
        REQ_FIELD("expect", expect)
#if (NGX_HTTP_HEADERS)
        REQ_FIELD("accept", accept)
#endif
        break;
    case 7:
        REQ_FIELD("referer", referer)
        REQ_FIELD("upgrade", upgrade)
        break;
    case 8:
        REQ_FIELD("if-match", if_match)
        REQ_FIELD("if-range", if_range)
        break;
    case 9:
#if (NGX_HTTP_REALIP)
        REQ_FIELD("x-real-ip", x_real_ip)
#endif
#if (NGX_HTTP_DAV)
        REQ_FIELD("overwrite", overwrite)
#endif
        break;
    case 10:
        REQ_FIELD("connection", connection)
        REQ_FIELD("user-agent", user_agent)
        REQ_FIELD("keep-alive", keep_alive)
        break;
#if (NGX_HTTP_DAV)
    case 11:
        REQ_FIELD("destination", destination)
        break;
#endif
    case 12:
        REQ_FIELD("content-type", content_type)
        break;
    case 13:
        REQ_FIELD("authorization", authorization)
        REQ_FIELD("content-range", content_range)
        REQ_FIELD("if-none-match", if_none_match)
        break;
    case 14:
        REQ_FIELD("content-length", content_length)
        break;
    case 15:
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
        REQ_FIELD("accept-encoding", accept_encoding)
#endif
#if (NGX_HTTP_HEADERS)
        REQ_FIELD("accept-language", accept_language)
#endif
        break;
    case 17:
        REQ_FIELD("if-modified-since", if_modified_since)
        REQ_FIELD("transfer-encoding", transfer_encoding)
        break;
    case 19:
        REQ_FIELD("if-unmodified-since", if_unmodified_since)
        break;
    default:
        break;
    }
#undef REQ_FIELD
    return NULL;
}

/* The headers_in fields an added header fills when they are empty: the
 * ones nginx and its modules read after the access phase. Those that
 * steer nginx's own handling of the request (Connection, Range,
 * conditionals, ...) are nginx's to set from what the client sent. */
static ngx_table_elt_t **
req_field_added(ngx_http_request_t *r, const char *name, size_t len)
{
    ngx_http_headers_in_t *in = &r->headers_in;
    ngx_table_elt_t **field = req_field(r, name, len);
    return field == &in->host || field == &in->content_length ||
                   field == &in->content_type || field == &in->authorization ||
                   field == &in->user_agent || field == &in->referer
               ? field
               : NULL;
}

/* The headers nginx also keeps as arrays of pointers, read by variables
 * such as $http_cookie and $proxy_add_x_forwarded_for. */
static ngx_array_t *
req_array(ngx_http_request_t *r, const char *name, size_t len)
{
    if (ngx_http_gwf_name_is(name, len, "cookie"))
        return &r->headers_in.cookies;
#if (NGX_HTTP_X_FORWARDED_FOR)
    if (ngx_http_gwf_name_is(name, len, "x-forwarded-for"))
        return &r->headers_in.x_forwarded_for;
#endif
    return NULL;
}

/* Removed elements at the end of the request list leave it at once:
 * nothing follows them to move up, and the next add reuses their room.
 * No field points at them (req_field). The index's count of elements
 * with hash 0 is exact here (hdr_rebuild, hdr_mark, list_mark), so it
 * loses exactly those dropped, and stays above 0 while one is left for
 * compaction. */
static void
req_drop_tail(ngx_http_gwf_msg_t *m)
{
    ngx_list_part_t *last = m->r->headers_in.headers.last;
    ngx_table_elt_t *h = last->elts;
    ngx_uint_t n = last->nelts;
    while (n && h[n - 1].hash == 0)
        n--;
    m->index.marked -= last->nelts - n;
    last->nelts = n;
}

/* Marks the name's elements; the list is compacted when the marks
 * outnumber the live headers and before the request goes upstream. */
gwf_status
ngx_http_gwf_req_remove(ngx_http_gwf_msg_t *m, const char *name, size_t len)
{
    ngx_http_request_t *r = m->r;
    if (len && name[0] == ':')
        return GWF_ERR_BAD_ARGUMENT;
    hdr_index_t *idx = &m->index;
    ngx_uint_t indexed = !hdr_may_scan(m);
    if (indexed) {
        idx = hdr_index(m);
        if (!idx)
            return GWF_ERR_NO_MEMORY;
        ngx_array_t *elts = hdr_lookup(idx, name, len);
        if (!elts)
            return GWF_OK;
        hdr_mark(idx, elts);
    } else {
        ngx_uint_t zeros;
        if (!list_mark(msg_list(m), name, len, &zeros))
            return GWF_OK;
        /* The stale index is rebuilt (and its marks counted again) when
         * next used; meanwhile the count, exact as a rebuild's (every
         * element with hash 0), makes the request list compacted before
         * it goes upstream, and req_drop_tail keeps it exact. */
        idx->marked = zeros;
    }
    ngx_table_elt_t **field = req_field(r, name, len);
    if (field)
        *field = NULL;
    ngx_array_t *array = req_array(r, name, len);
    if (array)
        array->nelts = 0;
    if (ngx_http_gwf_name_is(name, len, "host")) {
        ngx_str_null(&r->headers_in.server);
    }
    if (ngx_http_gwf_name_is(name, len, "content-length"))
        r->headers_in.content_length_n = -1;
    req_drop_tail(m);
    if (indexed && idx->marked > idx->live + 64 &&
        ngx_http_gwf_hdr_compact_request(m) != NGX_OK)
        return GWF_ERR_NO_MEMORY;
    return GWF_OK;
}

static gwf_status
req_add(ngx_http_gwf_msg_t *m, const char *name, size_t len, const char *value,
        size_t value_len)
{
    ngx_http_request_t *r = m->r;
    if (len && name[0] == ':') {
        if (!ngx_http_gwf_name_is(name, len, ":authority"))
            return GWF_ERR_BAD_ARGUMENT;
        name = "host";
        len = 4;
    }
    /* Into the index only when it is current (hdr_append). */
    ngx_table_elt_t *h = hdr_append(m, name, len, value, value_len);
    if (!h)
        return GWF_ERR_NO_MEMORY;
    ngx_table_elt_t **field = req_field_added(r, name, len);
    if (field && !*field)
        *field = h;
    ngx_array_t *array = req_array(r, name, len);
    if (array) {
        if (!array->pool && ngx_array_init(array, r->pool, 2,
                                           sizeof(ngx_table_elt_t *)) != NGX_OK)
            return GWF_ERR_NO_MEMORY;
        ngx_table_elt_t **slot = ngx_array_push(array);
        if (!slot)
            return GWF_ERR_NO_MEMORY;
        *slot = h;
    }
    if (ngx_http_gwf_name_is(name, len, "host") && r->headers_in.host == h)
        r->headers_in.server = h->value;
    if (ngx_http_gwf_name_is(name, len, "content-length"))
        r->headers_in.content_length_n = ngx_atoof(h->value.data, h->value.len);
    return GWF_OK;
}

static ngx_str_t
pool_str(ngx_pool_t *pool, const char *s, size_t len)
{
    ngx_str_t out = {0, NULL};
    out.data = ngx_pnalloc(pool, len ? len : 1);
    if (out.data) {
        ngx_memcpy(out.data, s, len);
        out.len = len;
    }
    return out;
}

/* ":path" rewrites what the upstream receives; the location that was
 * matched stays the same. */
static gwf_status
req_set_path(ngx_http_request_t *r, const char *value, size_t len)
{
    if (!len || value[0] != '/')
        return GWF_ERR_BAD_ARGUMENT;
    ngx_str_t raw = pool_str(r->pool, value, len);
    if (!raw.data)
        return GWF_ERR_NO_MEMORY;
    u_char *q = ngx_strlchr(raw.data, raw.data + raw.len, '?');
    size_t path_len = q ? (size_t)(q - raw.data) : raw.len;
    u_char *decoded = ngx_pnalloc(r->pool, path_len + 1);
    if (!decoded)
        return GWF_ERR_NO_MEMORY;
    u_char *src = raw.data, *dst = decoded;
    ngx_unescape_uri(&dst, &src, path_len, NGX_UNESCAPE_URI);
    /* No dot segments: nginx normalises the client's path, and a plugin's
     * path must not climb out of where the upstream expects it. */
    for (u_char *p = decoded; p < dst; p++) {
        if (*p != '/' || p + 1 >= dst || p[1] != '.')
            continue;
        u_char *after = p + 2 < dst && p[2] == '.' ? p + 3 : p + 2;
        if (after == dst || *after == '/')
            return GWF_ERR_BAD_ARGUMENT;
    }
    r->uri.data = decoded;
    r->uri.len = (size_t)(dst - decoded);
    if (q) {
        r->args.data = q + 1;
        r->args.len = raw.len - path_len - 1;
    } else {
        ngx_str_null(&r->args);
    }
    r->unparsed_uri = raw;
    r->valid_unparsed_uri = 1;
    /* As after `rewrite ... break`: proxy_pass sends this path whole,
     * without replacing the location's prefix (which the new path need
     * not start with), and escapes it again if it had escapes. */
    r->valid_location = 0;
    r->quoted_uri = ngx_strlchr(raw.data, raw.data + path_len, '%') != NULL;
    return GWF_OK;
}

gwf_status
ngx_http_gwf_req_set(ngx_http_gwf_msg_t *m, const char *name, size_t len,
                     const char *value, size_t value_len)
{
    ngx_http_request_t *r = m->r;
    if (ngx_http_gwf_name_is(name, len, ":path"))
        return req_set_path(r, value, value_len);
    if (ngx_http_gwf_name_is(name, len, ":method")) {
        static const struct {
            const char *name;
            ngx_uint_t method;
        } methods[] = {
            {"GET", NGX_HTTP_GET},       {"HEAD", NGX_HTTP_HEAD},
            {"POST", NGX_HTTP_POST},     {"PUT", NGX_HTTP_PUT},
            {"DELETE", NGX_HTTP_DELETE}, {"OPTIONS", NGX_HTTP_OPTIONS},
            {"PATCH", NGX_HTTP_PATCH},   {"TRACE", NGX_HTTP_TRACE},
        };
        ngx_uint_t method = NGX_HTTP_UNKNOWN;
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
            if (value_len == ngx_strlen(methods[i].name) &&
                ngx_memcmp(value, methods[i].name, value_len) == 0)
                method = methods[i].method;
        ngx_str_t m = pool_str(r->pool, value, value_len);
        if (!m.data)
            return GWF_ERR_NO_MEMORY;
        /* nginx decides HEAD handling and body reading from r->method. */
        r->method_name = m;
        r->method = method;
        return GWF_OK;
    }
    if (len && name[0] == ':' && !ngx_http_gwf_name_is(name, len, ":authority"))
        return GWF_ERR_BAD_ARGUMENT;
    if (ngx_http_gwf_name_is(name, len, ":authority")) {
        name = "host";
        len = 4;
    }
    gwf_status st = ngx_http_gwf_req_remove(m, name, len);
    return st == GWF_OK ? req_add(m, name, len, value, value_len) : st;
}

/* ------------------------------------------------------------------------
 * Response headers as gwf_message_ops
 *
 * nginx keeps Content-Type and Content-Length outside the header list
 * (headers_out.content_type, content_length_n); they are presented as
 * ordinary headers after the list ones.
 * --------------------------------------------------------------------- */

static gwf_status
resp_special(ngx_http_request_t *r, size_t which, gwf_view *name,
             gwf_view *value)
{
    /* which: 0 = content-type, 1 = content-length */
    if (which == 0) {
        if (!r->headers_out.content_type.len)
            return GWF_ERR_NOT_FOUND;
        name->ptr = "content-type";
        name->len = 12;
        value->ptr = (const char *)r->headers_out.content_type.data;
        value->len = r->headers_out.content_type.len;
        return GWF_OK;
    }
    if (r->headers_out.content_length_n < 0)
        return GWF_ERR_NOT_FOUND;
    u_char *text = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
    if (!text)
        return GWF_ERR_NO_MEMORY;
    name->ptr = "content-length";
    name->len = 14;
    value->ptr = (const char *)text;
    value->len =
        (size_t)(ngx_sprintf(text, "%O", r->headers_out.content_length_n) -
                 text);
    return GWF_OK;
}

static gwf_status
resp_get(ngx_http_gwf_msg_t *m, const char *name, size_t len, size_t index,
         gwf_view *v)
{
    ngx_http_request_t *r = m->r;
    gwf_view ignored;
    if (ngx_http_gwf_name_is(name, len, ":status")) {
        if (index)
            return GWF_ERR_NOT_FOUND;
        u_char *text = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (!text)
            return GWF_ERR_NO_MEMORY;
        v->ptr = (const char *)text;
        v->len =
            (size_t)(ngx_sprintf(text, "%ui", r->headers_out.status) - text);
        return GWF_OK;
    }
    if (ngx_http_gwf_name_is(name, len, "content-type"))
        return index ? GWF_ERR_NOT_FOUND : resp_special(r, 0, &ignored, v);
    if (ngx_http_gwf_name_is(name, len, "content-length"))
        return index ? GWF_ERR_NOT_FOUND : resp_special(r, 1, &ignored, v);
    if (len && name[0] == ':')
        return GWF_ERR_NOT_FOUND;
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return GWF_ERR_NO_MEMORY;
    ngx_table_elt_t *h = hdr_get(idx, name, len, index);
    if (!h)
        return GWF_ERR_NOT_FOUND;
    v->ptr = (const char *)h->value.data;
    v->len = h->value.len;
    return GWF_OK;
}

/* The list headers shown (not Content-Type or Content-Length). */
static size_t
resp_list_count(hdr_index_t *idx)
{
    return idx->live - hdr_live(idx, "content-type") -
           hdr_live(idx, "content-length");
}

static gwf_status
resp_at(ngx_http_gwf_msg_t *m, size_t index, gwf_view *name, gwf_view *value)
{
    ngx_http_request_t *r = m->r;
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return GWF_ERR_NO_MEMORY;
    size_t listed = resp_list_count(idx);
    if (index < listed) {
        ngx_table_elt_t *h = hdr_at(m, idx, index);
        if (!h)
            return GWF_ERR_NOT_FOUND;
        name->ptr = (const char *)h->key.data;
        name->len = h->key.len;
        value->ptr = (const char *)h->value.data;
        value->len = h->value.len;
        return GWF_OK;
    }
    size_t n = listed;
    for (size_t which = 0; which < 2; which++)
        if (resp_special(r, which, name, value) == GWF_OK && n++ == index)
            return GWF_OK;
    return GWF_ERR_NOT_FOUND;
}

static size_t
resp_count(ngx_http_gwf_msg_t *m)
{
    ngx_http_request_t *r = m->r;
    hdr_index_t *idx = hdr_index(m);
    return (idx ? resp_list_count(idx) : list_shown(m)) +
           (r->headers_out.content_type.len != 0) +
           (r->headers_out.content_length_n >= 0);
}

/* Clears the headers_out fields that point at an element being removed,
 * so nginx's filters do not read a header that is gone. */
static void
resp_forget(ngx_http_request_t *r, ngx_table_elt_t *h)
{
    ngx_table_elt_t **fields[] = {
        &r->headers_out.server,         &r->headers_out.date,
        &r->headers_out.content_length, &r->headers_out.content_encoding,
        &r->headers_out.location,       &r->headers_out.refresh,
        &r->headers_out.last_modified,  &r->headers_out.content_range,
        &r->headers_out.accept_ranges,  &r->headers_out.www_authenticate,
        &r->headers_out.expires,        &r->headers_out.etag,
    };
    if (h == r->headers_out.last_modified)
        r->headers_out.last_modified_time = -1;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (*fields[i] == h)
            *fields[i] = NULL;
}

/* Removes every list element named `name` and what points at them. */
static void
resp_remove_listed(ngx_http_gwf_msg_t *m, hdr_index_t *idx, const char *name,
                   size_t len)
{
    ngx_http_request_t *r = m->r;
    ngx_array_t *elts = hdr_lookup(idx, name, len);
    if (!elts)
        return;
    ngx_table_elt_t **h = elts->elts;
    for (ngx_uint_t i = 0; i < elts->nelts; i++)
        resp_forget(r, h[i]);
    if (ngx_http_gwf_name_is(name, len, "cache-control"))
        r->headers_out.cache_control.nelts = 0;
    if (ngx_http_gwf_name_is(name, len, "link"))
        r->headers_out.link.nelts = 0;
    hdr_mark(idx, elts);
}

/* Content-Length lives in content_length_n; an element in the list
 * (the upstream's) would be sent beside the new value. */
static void
resp_drop_content_length(ngx_http_gwf_msg_t *m, hdr_index_t *idx)
{
    ngx_http_request_t *r = m->r;
    resp_remove_listed(m, idx, "content-length", 14);
    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }
}

static gwf_status
resp_remove(ngx_http_gwf_msg_t *m, const char *name, size_t len)
{
    ngx_http_request_t *r = m->r;
    if (len && name[0] == ':')
        return GWF_ERR_BAD_ARGUMENT;
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return GWF_ERR_NO_MEMORY;
    if (ngx_http_gwf_name_is(name, len, "content-type")) {
        ngx_str_null(&r->headers_out.content_type);
        r->headers_out.content_type_len = 0;
        r->headers_out.content_type_lowcase = NULL;
        ngx_str_null(&r->headers_out.charset);
    }
    if (ngx_http_gwf_name_is(name, len, "content-length")) {
        r->headers_out.content_length_n = -1;
        resp_drop_content_length(m, idx);
        return GWF_OK;
    }
    resp_remove_listed(m, idx, name, len);
    return GWF_OK;
}

gwf_status
ngx_http_gwf_resp_add(ngx_http_gwf_msg_t *m, const char *name, size_t len,
                      const char *value, size_t value_len)
{
    ngx_http_request_t *r = m->r;
    if (len && name[0] == ':')
        return GWF_ERR_BAD_ARGUMENT;
    if (ngx_http_gwf_name_is(name, len, "content-type")) {
        ngx_str_t ct = pool_str(r->pool, value, value_len);
        if (!ct.data)
            return GWF_ERR_NO_MEMORY;
        ngx_http_gwf_content_type_t parts;
        ngx_http_gwf_content_type_parse(&ct, &parts);
        ngx_http_gwf_content_type_set(r, &parts);
        return GWF_OK;
    }
    if (ngx_http_gwf_name_is(name, len, "content-length")) {
        hdr_index_t *idx = hdr_index(m);
        if (!idx)
            return GWF_ERR_NO_MEMORY;
        off_t n = ngx_atoof((u_char *)value, value_len);
        if (n < 0)
            return GWF_ERR_BAD_ARGUMENT;
        r->headers_out.content_length_n = n;
        resp_drop_content_length(m, idx);
        return GWF_OK;
    }
    ngx_table_elt_t *h = hdr_append(m, name, len, value, value_len);
    if (!h)
        return GWF_ERR_NO_MEMORY;
    if (ngx_http_gwf_name_is(name, len, "location"))
        r->headers_out.location = h;
    else if (ngx_http_gwf_name_is(name, len, "www-authenticate"))
        r->headers_out.www_authenticate = h;
    return GWF_OK;
}

/* A Content-Type as nginx's proxy keeps one it copies from an upstream:
 * the whole value is sent as it is, and a `charset=` parameter, when
 * there is one, gives content_type_len (the media type before the
 * parameters: what gzip_types, sub_filter_types and the like compare
 * with) and charset (what the charset module reads). */
void
ngx_http_gwf_content_type_parse(const ngx_str_t *value,
                                ngx_http_gwf_content_type_t *out)
{
    out->value = *value;
    out->type_len = value->len;
    ngx_str_null(&out->charset);
    u_char *p = value->data, *end = value->data + value->len;
    for (; p < end; p++) {
        if (*p != ';')
            continue;
        u_char *semi = p;
        while (p + 1 < end && p[1] == ' ')
            p++;
        if ((size_t)(end - (p + 1)) < 8 ||
            ngx_strncasecmp(p + 1, (u_char *)"charset=", 8) != 0)
            continue;
        u_char *cs = p + 9, *last = end;
        if (cs < last && *cs == '"')
            cs++;
        if (last > cs && last[-1] == '"')
            last--;
        out->type_len = (size_t)(semi - value->data);
        out->charset.data = cs;
        out->charset.len = (size_t)(last - cs);
        return;
    }
}

void
ngx_http_gwf_content_type_set(ngx_http_request_t *r,
                              const ngx_http_gwf_content_type_t *ct)
{
    r->headers_out.content_type = ct->value;
    r->headers_out.content_type_len = ct->type_len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset = ct->charset;
}

static gwf_status
resp_set(ngx_http_gwf_msg_t *m, const char *name, size_t len, const char *value,
         size_t value_len)
{
    ngx_http_request_t *r = m->r;
    if (ngx_http_gwf_name_is(name, len, ":status")) {
        ngx_int_t status = ngx_atoi((u_char *)value, value_len);
        if (status < 100 || status > 999)
            return GWF_ERR_BAD_ARGUMENT;
        r->headers_out.status = (ngx_uint_t)status;
        ngx_str_null(&r->headers_out.status_line);
        return GWF_OK;
    }
    gwf_status st = resp_remove(m, name, len);
    return st == GWF_OK ? ngx_http_gwf_resp_add(m, name, len, value, value_len)
                        : st;
}

/* The runtime gets one message_ops and, per stream, the request's and
 * the response's ngx_http_gwf_msg_t (in the request's ctx) as messages. */
static gwf_status
msg_get(void *msg, const char *name, size_t len, size_t index, gwf_view *v)
{
    ngx_http_gwf_msg_t *m = msg;
    return m->is_response ? resp_get(m, name, len, index, v)
                          : req_get(m, name, len, index, v);
}

static size_t
msg_count(void *msg)
{
    ngx_http_gwf_msg_t *m = msg;
    return m->is_response ? resp_count(m) : req_count(m);
}

static gwf_status
msg_at(void *msg, size_t index, gwf_view *name, gwf_view *value)
{
    ngx_http_gwf_msg_t *m = msg;
    return m->is_response ? resp_at(m, index, name, value)
                          : req_at(m, index, name, value);
}

static gwf_status
msg_set(void *msg, const char *name, size_t len, const char *value,
        size_t value_len)
{
    ngx_http_gwf_msg_t *m = msg;
    return m->is_response
               ? resp_set(m, name, len, value, value_len)
               : ngx_http_gwf_req_set(m, name, len, value, value_len);
}

static gwf_status
msg_add(void *msg, const char *name, size_t len, const char *value,
        size_t value_len)
{
    ngx_http_gwf_msg_t *m = msg;
    return m->is_response
               ? ngx_http_gwf_resp_add(m, name, len, value, value_len)
               : req_add(m, name, len, value, value_len);
}

static gwf_status
msg_remove(void *msg, const char *name, size_t len)
{
    ngx_http_gwf_msg_t *m = msg;
    return m->is_response ? resp_remove(m, name, len)
                          : ngx_http_gwf_req_remove(m, name, len);
}

const gwf_message_ops gwf_ngx_message_ops = {
    .get = msg_get,
    .count = msg_count,
    .at = msg_at,
    .set = msg_set,
    .add = msg_add,
    .remove = msg_remove,
};
