/* pool.c - the endpoint pool (see pool.h).
 *
 * Lifetime. A pool is built once per loaded config and never changes; a reload builds a new pool
 * and swaps it in. Endpoints outlive pools: sy_pool_new looks each configured address up in the
 * old pool and, when the endpoint's configuration (labels, KV-events address) is unchanged, takes
 * another reference to the same object, so its scraped state, model list and in-flight counters
 * carry over. An endpoint whose labels changed gets a fresh object (configuration fields are
 * immutable, and readers hold no lock on them); its scraped state and models are copied over, but
 * in-flight counts restart at 0 on the new object while the old one drains with its requests.
 *
 *   old pool --> ep(A) <-- new pool        same address, same labels: shared
 *   old pool --> ep(B)                      dropped from config: freed when its last request ends
 *                ep(C) <-- new pool         new address: resolved now
 *
 * Threading. Configuration fields are written before the pool is published and never again.
 * Scrape state and models sit under the endpoint's mutex (one writer: the scraper; readers copy
 * a snapshot). In-flight counters and the connect-failure time are atomics written by workers.
 *
 * Resolution happens here, synchronously (getaddrinfo may block on DNS for names): pools are
 * built at startup and on reload, never on the request path. The first address returned is used.
 * Host names are checked for legal characters first, so a typo never reaches the resolver.
 *
 * In-flight accounting must balance: every add is matched by one sub on every exit path. A sub
 * that would go below zero is a bug elsewhere; it is clamped at zero (so the scheduler never sees
 * negative load) and logged once per process.
 */
#include "pool/pool.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic bool g_underflow_logged; /* the in-flight underflow bug was reported */

static void endpoint_free(struct sy_endpoint *e)
{
    for (size_t i = 0; i < e->nlabels; i++) {
        free(e->labels[i].key);
        free(e->labels[i].value);
    }
    free(e->labels);
    for (size_t i = 0; i < e->nmodels; i++)
        free(e->models[i]);
    free(e->address);
    free(e->kv_events);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

struct sy_endpoint *sy_endpoint_ref(struct sy_endpoint *e)
{
    if (e)
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

void sy_endpoint_unref(struct sy_endpoint *e)
{
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        endpoint_free(e);
}

struct sy_pool *sy_pool_ref(struct sy_pool *p)
{
    if (p)
        atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void sy_pool_unref(struct sy_pool *p)
{
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < p->n; i++)
        sy_endpoint_unref(p->eps[i]);
    free(p->eps);
    free(p);
}

static bool valid_hostname(const char *h)
{
    if (!*h || strlen(h) > 253)
        return false;
    for (const char *c = h; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == '_';
        if (!ok)
            return false;
    }
    return true;
}

/* Resolves host:port into e->addr. Returns 0 or a static reason. */
static const char *resolve(struct sy_endpoint *e)
{
    bool literal6 = strchr(e->host, ':') != NULL;
    if (!literal6 && !valid_hostname(e->host))
        return "invalid host name";
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)e->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    hints.ai_flags = AI_NUMERICSERV | (literal6 ? AI_NUMERICHOST : 0);
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(e->host, port, &hints, &res);
    if (rc != 0 || !res)
        return rc == EAI_NONAME ? "host not found" : gai_strerror(rc);
    memcpy(&e->addr, res->ai_addr, res->ai_addrlen);
    e->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return NULL;
}

static bool same_config(const struct sy_endpoint *e, const struct sy_endpoint_config *ec)
{
    if (e->nlabels != ec->nlabels)
        return false;
    for (size_t i = 0; i < e->nlabels; i++)
        if (strcmp(e->labels[i].key, ec->labels[i].key) != 0 ||
            strcmp(e->labels[i].value, ec->labels[i].value) != 0)
            return false;
    if (!e->kv_events != !ec->kv_events)
        return false;
    return !e->kv_events || strcmp(e->kv_events, ec->kv_events) == 0;
}

static struct sy_endpoint *endpoint_new(const struct sy_endpoint_config *ec, const char *file,
                                        char *err, size_t errcap)
{
    struct sy_endpoint *e = SY_NEW(struct sy_endpoint);
    atomic_init(&e->refs, 1);
    pthread_mutex_init(&e->mu, NULL);
    e->address = sy_xstrdup(ec->address ? ec->address : "");
    e->m.waiting = e->m.running = e->m.kv_usage = -1;
    e->m.block_size = e->m.num_blocks = e->m.max_lora = -1;
    if (ec->host[0]) {
        snprintf(e->host, sizeof e->host, "%s", ec->host);
        e->port = ec->port;
    } else if (sy_parse_hostport(e->address, e->host, sizeof e->host, &e->port) != 0) {
        snprintf(err, errcap, "%s:%d: pool.endpoints: address \"%s\" is not host:port", file,
                 ec->line, e->address);
        goto fail;
    }
    if (e->port == 0) {
        snprintf(err, errcap, "%s:%d: pool.endpoints: address \"%s\": port 0 is not allowed", file,
                 ec->line, e->address);
        goto fail;
    }
    const char *why = resolve(e);
    if (why) {
        snprintf(err, errcap, "%s:%d: pool.endpoints: address \"%s\": %s", file, ec->line,
                 e->address, why);
        goto fail;
    }
    e->labels = sy_xcalloc(ec->nlabels ? ec->nlabels : 1, sizeof *e->labels);
    for (size_t i = 0; i < ec->nlabels; i++) {
        e->labels[i].key = sy_xstrdup(ec->labels[i].key ? ec->labels[i].key : "");
        e->labels[i].value = sy_xstrdup(ec->labels[i].value ? ec->labels[i].value : "");
    }
    e->nlabels = ec->nlabels;
    e->kv_events = ec->kv_events ? sy_xstrdup(ec->kv_events) : NULL;
    return e;
fail:
    endpoint_free(e);
    return NULL;
}

/* Copies scrape state and models from old into a fresh endpoint e (labels changed on reload). */
static void inherit_state(struct sy_endpoint *e, struct sy_endpoint *old)
{
    const char *ids[SY_MAX_MODELS];
    pthread_mutex_lock(&old->mu);
    e->ready = old->ready;
    e->scraped = old->scraped;
    e->update_ns = old->update_ns;
    e->fail_ns = old->fail_ns;
    e->m = old->m;
    size_t n = old->nmodels;
    for (size_t i = 0; i < n; i++)
        ids[i] = old->models[i];
    sy_endpoint_set_models(e, ids, n); /* copies while old->mu keeps the strings alive */
    pthread_mutex_unlock(&old->mu);
    atomic_store(&e->conn_fail_ns, atomic_load(&old->conn_fail_ns));
}

struct sy_endpoint *sy_pool_find(const struct sy_pool *p, const char *address)
{
    if (!p || !address)
        return NULL;
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->eps[i]->address, address) == 0)
            return p->eps[i];
    return NULL;
}

struct sy_pool *sy_pool_new(const struct sy_config *cfg, const struct sy_pool *old, char *err,
                            size_t errcap)
{
    const char *file = cfg->file ? cfg->file : "config";
    struct sy_pool *p = SY_NEW(struct sy_pool);
    atomic_init(&p->refs, 1);
    p->engine = cfg->engine;
    p->eps = sy_xcalloc(cfg->nendpoints ? cfg->nendpoints : 1, sizeof *p->eps);
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        const struct sy_endpoint_config *ec = &cfg->endpoints[i];
        const char *addr = ec->address ? ec->address : "";
        if (sy_pool_find(p, addr)) {
            snprintf(err, errcap, "%s:%d: pool.endpoints: duplicate address \"%s\"", file, ec->line,
                     addr);
            goto fail;
        }
        struct sy_endpoint *prev = sy_pool_find(old, addr);
        struct sy_endpoint *e;
        if (prev && same_config(prev, ec)) {
            e = sy_endpoint_ref(prev);
        } else {
            e = endpoint_new(ec, file, err, errcap);
            if (!e)
                goto fail;
            if (prev)
                inherit_state(e, prev);
        }
        p->eps[p->n++] = e;
    }
    return p;
fail:
    sy_pool_unref(p);
    return NULL;
}

void sy_endpoint_snapshot(struct sy_endpoint *e, struct sy_endpoint_state *out)
{
    pthread_mutex_lock(&e->mu);
    out->ready = e->ready;
    out->scraped = e->scraped;
    out->update_ns = e->update_ns;
    out->fail_ns = e->fail_ns;
    out->m = e->m;
    pthread_mutex_unlock(&e->mu);
    out->conn_fail_ns = atomic_load_explicit(&e->conn_fail_ns, memory_order_relaxed);
    if (out->conn_fail_ns && out->conn_fail_ns >= out->update_ns)
        out->ready = false; /* a connection failed since the last good scrape */
    int64_t r = atomic_load_explicit(&e->inflight_requests, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&e->inflight_tokens, memory_order_relaxed);
    out->inflight_requests = r < 0 ? 0 : r;
    out->inflight_tokens = t < 0 ? 0 : t;
}

void sy_endpoint_set_metrics(struct sy_endpoint *e, const struct sy_engine_metrics *m, uint64_t now)
{
    pthread_mutex_lock(&e->mu);
    e->m = *m;
    e->ready = true;
    e->scraped = true;
    e->update_ns = now;
    pthread_mutex_unlock(&e->mu);
}

void sy_endpoint_set_failed(struct sy_endpoint *e, uint64_t now)
{
    pthread_mutex_lock(&e->mu);
    e->ready = false; /* keeps the last metrics and update time: staleness shows their age */
    e->fail_ns = now;
    pthread_mutex_unlock(&e->mu);
}

void sy_endpoint_conn_failed(struct sy_endpoint *e, uint64_t now)
{
    atomic_store_explicit(&e->conn_fail_ns, now ? now : 1, memory_order_relaxed);
}

void sy_endpoint_set_models(struct sy_endpoint *e, const char *const *ids, size_t n)
{
    char *copy[SY_MAX_MODELS];
    char *gone[SY_MAX_MODELS];
    size_t keep = n;
    if (n > SY_MAX_MODELS) {
        /* Too many to remember: fail open (serves everything) rather than refuse real models. */
        sy_warn("pool: %s lists %zu models, more than %d; treating its model list as unknown",
                e->address, n, SY_MAX_MODELS);
        keep = 0;
    }
    for (size_t i = 0; i < keep; i++)
        copy[i] = sy_xstrdup(ids[i] ? ids[i] : "");
    pthread_mutex_lock(&e->mu);
    size_t ngone = e->nmodels;
    memcpy(gone, e->models, ngone * sizeof *gone);
    memcpy(e->models, copy, keep * sizeof *copy);
    e->nmodels = keep;
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < ngone; i++)
        free(gone[i]);
}

bool sy_endpoint_serves(struct sy_endpoint *e, const char *model, size_t len)
{
    bool yes;
    pthread_mutex_lock(&e->mu);
    yes = e->nmodels == 0;
    for (size_t i = 0; i < e->nmodels && !yes; i++)
        yes = strlen(e->models[i]) == len && (len == 0 || memcmp(e->models[i], model, len) == 0);
    pthread_mutex_unlock(&e->mu);
    return yes;
}

const char *sy_endpoint_label(const struct sy_endpoint *e, const char *key)
{
    for (size_t i = 0; i < e->nlabels; i++)
        if (strcmp(e->labels[i].key, key) == 0)
            return e->labels[i].value;
    return NULL;
}

void sy_endpoint_inflight_add(struct sy_endpoint *e, int64_t tokens)
{
    if (tokens < 0)
        tokens = 0;
    atomic_fetch_add_explicit(&e->inflight_requests, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->inflight_tokens, tokens, memory_order_relaxed);
}

/* Subtracts d from *a without going below zero; returns false when it had to clamp. */
static bool sub_clamped(_Atomic int64_t *a, int64_t d)
{
    int64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    int64_t next;
    do {
        next = cur - d;
        if (next < 0)
            next = 0;
    } while (!atomic_compare_exchange_weak_explicit(a, &cur, next, memory_order_relaxed,
                                                    memory_order_relaxed));
    return cur - d >= 0;
}

void sy_endpoint_inflight_sub(struct sy_endpoint *e, int64_t tokens)
{
    if (tokens < 0)
        tokens = 0;
    bool ok = sub_clamped(&e->inflight_requests, 1);
    ok &= sub_clamped(&e->inflight_tokens, tokens);
    if (!ok && !atomic_exchange(&g_underflow_logged, true))
        sy_error("BUG: in-flight count for %s went below zero (a sub without its add); clamped "
                 "at 0, further occurrences not logged",
                 e->address);
}
