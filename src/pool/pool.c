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
 * In-flight counters and the connect-failure time are atomics written by workers. Scraped state
 * (readiness, metrics, LoRA lists) and a lock-free copy of the model ids live in e->live, a
 * seqlock: every scheduling decision reads every endpoint's state, from N worker threads at once,
 * so readers must not write shared memory (a mutex per endpoint per decision was two lock round
 * trips and a bounced cache line each, ~30% of a 256-endpoint decision).
 *
 *   writer (scraper; reload)               reader (any worker)
 *   lock mu                                s0 = seq (acquire); odd -> retry
 *   seq = s+1; fence(release)              copy fields (relaxed atomic loads)
 *   store fields (relaxed atomics)         fence(acquire); s1 = seq (relaxed)
 *   seq = s+2 (release); unlock mu         s0 != s1 -> retry
 *
 * Why this is a consistent copy (Boehm, "Can seqlocks get along with programming language memory
 * models?", 2012): if the reader loaded any value stored after the writer's release fence, then
 * that fence synchronizes with the reader's acquire fence, so the writer's odd seq store happens
 * before the reader's second seq load, which then differs from s0 and the copy is dropped. If
 * s0 == s1 and s0 is even, no writer stored between the two loads, and the acquire load of s0
 * made everything up to the last writer's release store visible. Fields are atomics, not plain
 * memory copied with memcpy, so there is no data race for the C memory model or TSan; relaxed
 * loads and stores compile to plain moves. Writers are serialized by mu (the scraper, the
 * pool-building thread on reload, tests), so the counter needs no read-modify-write. A reader
 * that keeps failing (the writer was preempted mid-update) stops spinning after SPIN_MAX tries
 * and takes mu, under which no writer runs.
 *
 * The model-id strings stay under mu for readers that want them (admin's /v1/models); the live
 * block keeps a zero-padded copy of each id up to SY_MODEL_INLINE bytes for sy_endpoint_serves.
 * A longer id sets SY_LIVE_MODELS_SLOW and serves() compares under mu as before.
 *
 * Rejected: one mutex for serves + snapshot (still a lock RMW on a shared line per endpoint per
 * decision); a reference-counted immutable state record swapped by the scraper (a refcount RMW
 * per endpoint per decision, and frees to defer); copying the LoRA lists in every snapshot (512
 * of the old 608 bytes, read only by lora-affinity-scorer: sy_endpoint_read copies them on
 * request).
 *
 * Resolution happens here, synchronously (getaddrinfo may block on DNS for names): pools are
 * built at startup and on reload, never on the request path. The first address returned is used.
 * Host names are checked for legal characters first, so a typo never reaches the resolver.
 *
 * In-flight accounting must balance: every add is matched by one sub on every exit path. A sub
 * that would go below zero is a bug elsewhere; it is clamped at zero (so the scheduler never sees
 * negative load) and logged once per process. Requests take their share through one pair,
 * sy_pool_charge / sy_pool_discharge, which records what it added (count, tokens, decode work),
 * releases exactly that, decode work before the count, and makes a second release a no-op; only
 * the P/D prefill leg (src/disagg) moves the raw counters itself.
 */
#include "pool/pool.h"
#include "pool/decode.h"
#include "http/tls.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/time.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic bool g_underflow_logged;        /* the in-flight underflow bug was reported */
static _Atomic bool g_decode_underflow_logged; /* a negative decode counter was read */

#define SPIN_MAX 64 /* seqlock read attempts before falling back to the mutex */

_Static_assert(sizeof(((struct sy_engine_metrics *)0)->running_loras) == SY_LORA_LIST_CAP &&
                   sizeof(((struct sy_engine_metrics *)0)->waiting_loras) == SY_LORA_LIST_CAP,
               "the live LoRA lists mirror struct sy_engine_metrics'");
_Static_assert(SY_MODEL_INLINE % 8 == 0 && SY_LORA_LIST_CAP % 8 == 0, "stored as 8-byte words");

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

#define LD(a)    atomic_load_explicit(&(a), memory_order_relaxed)
#define ST(a, v) atomic_store_explicit(&(a), (v), memory_order_relaxed)

/* Writer side; the caller holds e->mu. */
static void live_begin(struct sy_endpoint_live *l)
{
    ST(l->seq, LD(l->seq) + 1); /* odd: readers that overlap retry */
    atomic_thread_fence(memory_order_release);
}

static void live_end(struct sy_endpoint_live *l)
{
    atomic_store_explicit(&l->seq, LD(l->seq) + 1, memory_order_release);
}

/* Word i of src[0..len) zero-padded to whole words (0 past the end). */
static inline uint64_t word_at(const char *src, size_t len, size_t i)
{
    uint64_t x = 0;
    if (i * 8 < len)
        memcpy(&x, src + i * 8, len - i * 8 < 8 ? len - i * 8 : 8);
    return x;
}

/* Stores src[0..len) zero-padded into w[0..nwords); len <= nwords * 8. */
static void words_put(_Atomic uint64_t *w, size_t nwords, const char *src, size_t len)
{
    for (size_t i = 0; i < nwords; i++)
        ST(w[i], word_at(src, len, i));
}

/* Stores the string list (a NUL-terminated char[SY_LORA_LIST_CAP]) with its terminator. */
static void list_put(_Atomic uint64_t *w, const char *list)
{
    words_put(w, SY_LORA_LIST_CAP / 8, list, strnlen(list, SY_LORA_LIST_CAP - 1));
}

/* Copies the string in words[cap/8] into dst[cap], stopping after the word that holds its NUL
 * (the rest is padding). A torn copy is discarded by the caller but must still be a bounded
 * string, so dst is always terminated. */
static void words_get(char *dst, size_t cap, _Atomic uint64_t *w)
{
    for (size_t i = 0; i < cap / 8; i++) {
        uint64_t x = LD(w[i]);
        memcpy(dst + i * 8, &x, 8);
        if ((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL)
            return; /* a zero byte in this word */
    }
    dst[cap - 1] = '\0';
}

static void endpoint_free(struct sy_endpoint *e)
{
    for (size_t i = 0; i < e->nlabels; i++) {
        free(e->labels[i].key);
        free(e->labels[i].value);
    }
    free(e->labels);
    for (size_t i = 0; i < e->nmodels; i++) {
        free(e->models[i]);
        free(e->models_json[i]);
    }
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
    sy_tls_ctx_unref(p->tls);
    free(p->tls_server_name);
    free(p);
}

const char *sy_pool_tls_name(const struct sy_pool *p, const struct sy_endpoint *e, char *buf,
                             size_t cap)
{
    uint16_t port;
    if (p->tls_server_name)
        snprintf(buf, cap, "%s", p->tls_server_name);
    else if (sy_parse_hostport(e->address, buf, cap, &port) != 0)
        snprintf(buf, cap, "%s", e->address);
    return buf;
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
    if (!e->kv_events != !ec->kv_events || e->supervisor_port != ec->supervisor_port ||
        e->rank != ec->rank)
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
    ST(e->live.waiting, dbits(-1));
    ST(e->live.running, dbits(-1));
    ST(e->live.kv_usage, dbits(-1));
    ST(e->live.block_size, -1);
    ST(e->live.num_blocks, -1);
    ST(e->live.max_lora, -1);
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
    e->supervisor_port = ec->supervisor_port;
    e->rank = ec->rank;
    return e;
fail:
    endpoint_free(e);
    return NULL;
}

/* Copies scrape state and models from old into a fresh endpoint e (labels changed on reload). */
static void inherit_state(struct sy_endpoint *e, struct sy_endpoint *old)
{
    const char *ids[SY_MAX_MODELS], *json[SY_MAX_MODELS];
    struct sy_endpoint_live *o = &old->live, *l = &e->live;
    pthread_mutex_lock(&old->mu); /* no writer of old->live while we hold it */
    pthread_mutex_lock(&e->mu);
    live_begin(l);
    ST(l->flags, LD(o->flags) & (SY_LIVE_READY | SY_LIVE_SCRAPED));
    ST(l->update_ns, LD(o->update_ns));
    ST(l->fail_ns, LD(o->fail_ns));
    ST(l->waiting, LD(o->waiting));
    ST(l->running, LD(o->running));
    ST(l->kv_usage, LD(o->kv_usage));
    ST(l->block_size, LD(o->block_size));
    ST(l->num_blocks, LD(o->num_blocks));
    ST(l->max_lora, LD(o->max_lora));
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < SY_LORA_LIST_CAP / 8; i++)
            ST(l->loras_w[k][i], LD(o->loras_w[k][i]));
    live_end(l);
    pthread_mutex_unlock(&e->mu);
    size_t n = old->nmodels;
    for (size_t i = 0; i < n; i++) {
        ids[i] = old->models[i];
        json[i] = old->models_json[i];
    }
    /* copies while old->mu keeps the strings alive */
    sy_endpoint_set_models_meta(e, ids, json, old->models_adapter, n);
    pthread_mutex_unlock(&old->mu);
    atomic_store(&e->conn_fail_ns, atomic_load(&old->conn_fail_ns));
    atomic_store(&e->served_ns, atomic_load(&old->served_ns));
    /* the mean output length (decode budgets without max_tokens) and its sample count; the
     * in-flight decode counters stay with old, whose requests release them there */
    atomic_store(&e->decode_mean, atomic_load(&old->decode_mean));
    atomic_store(&e->decode_samples, atomic_load(&old->decode_samples));
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

bool sy_pool_any_ready(const struct sy_pool *p)
{
    for (size_t i = 0; i < p->n; i++) {
        struct sy_endpoint_state st;
        sy_endpoint_snapshot(p->eps[i], &st);
        if (st.ready)
            return true;
    }
    return false;
}

struct sy_pool *sy_pool_new(const struct sy_config *cfg, const struct sy_pool *old, char *err,
                            size_t errcap)
{
    return sy_pool_new_eps(cfg, cfg->endpoints, cfg->nendpoints, old, err, errcap);
}

struct sy_pool *sy_pool_new_eps(const struct sy_config *cfg, const struct sy_endpoint_config *eps,
                                size_t n, const struct sy_pool *old, char *err, size_t errcap)
{
    const char *file = cfg->file ? cfg->file : "config";
    struct sy_pool *p = SY_NEW(struct sy_pool);
    atomic_init(&p->refs, 1);
    p->engine = cfg->engine;
    p->eps = sy_xcalloc(n ? n : 1, sizeof *p->eps);
    if (cfg->upstream_tls) {
        char why[700];
        p->tls =
            sy_tls_client_ctx_new(cfg->upstream_ca_file, cfg->upstream_tls_verify, why, sizeof why);
        if (!p->tls) {
            snprintf(err, errcap, "%s: pool.tls: %s", file, why);
            goto fail;
        }
        if (!cfg->upstream_tls_verify)
            sy_warn("pool.tls.insecureSkipVerify: model server certificates are not verified");
        if (cfg->upstream_server_name)
            p->tls_server_name = sy_xstrdup(cfg->upstream_server_name);
    }
    for (size_t i = 0; i < n; i++) {
        const struct sy_endpoint_config *ec = &eps[i];
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

/* Does the live copy of the model list hold model? 1 yes, 0 no, -1 ask under the mutex. Reads
 * inside a seqlock section: the answer is only trusted when the section validates. */
static int live_serves(struct sy_endpoint_live *l, uint32_t flags, const char *model, size_t len)
{
    uint32_t n = LD(l->nmodels);
    if (n == 0)
        return 1; /* unknown list: fail open */
    if (n > SY_MAX_MODELS)
        n = SY_MAX_MODELS; /* torn read; discarded by the caller */
    for (uint32_t k = 0; k < n; k++) {
        if (LD(l->models_len[k]) != len || len > SY_MODEL_INLINE)
            continue;
        size_t i = 0;
        for (; i * 8 < len; i++)
            if (LD(l->models_w[k][i]) != word_at(model, len, i))
                break;
        if (i * 8 >= len)
            return 1;
    }
    return flags & SY_LIVE_MODELS_SLOW ? -1 : 0;
}

/* Copies the fields of the live block (relaxed loads; see the file comment). */
static void live_copy(struct sy_endpoint_live *l, uint32_t flags, struct sy_endpoint_state *out,
                      struct sy_endpoint_loras *loras)
{
    out->ready = flags & SY_LIVE_READY;
    out->scraped = flags & SY_LIVE_SCRAPED;
    out->update_ns = LD(l->update_ns);
    out->fail_ns = LD(l->fail_ns);
    out->m.waiting = bitsd(LD(l->waiting));
    out->m.running = bitsd(LD(l->running));
    out->m.kv_usage = bitsd(LD(l->kv_usage));
    out->m.block_size = LD(l->block_size);
    out->m.num_blocks = LD(l->num_blocks);
    out->m.max_lora = LD(l->max_lora);
    if (loras) {
        words_get(loras->running, sizeof loras->running, l->loras_w[0]);
        words_get(loras->waiting, sizeof loras->waiting, l->loras_w[1]);
    }
}

/* The model-list check under the mutex, for ids too long for the live copy. */
static bool serves_locked(struct sy_endpoint *e, const char *model, size_t len)
{
    bool yes;
    pthread_mutex_lock(&e->mu);
    yes = e->nmodels == 0;
    for (size_t i = 0; i < e->nmodels && !yes; i++)
        yes = sy_str_eq_c((struct sy_str){model, len}, e->models[i]);
    pthread_mutex_unlock(&e->mu);
    return yes;
}

bool sy_endpoint_read(struct sy_endpoint *e, const char *model, size_t len,
                      struct sy_endpoint_state *out, struct sy_endpoint_loras *loras)
{
    struct sy_endpoint_live *l = &e->live;
    int served = 1;
    bool locked = false;
    for (int tries = 0;; tries++) {
        if (tries == SPIN_MAX) {
            pthread_mutex_lock(&e->mu); /* the writer was preempted: wait for it instead */
            locked = true;
        }
        uint64_t s0 = atomic_load_explicit(&l->seq, memory_order_acquire);
        if ((s0 & 1) && !locked) {
            cpu_relax();
            continue;
        }
        uint32_t flags = LD(l->flags);
        served = len ? live_serves(l, flags, model, len) : 1;
        if (served)
            live_copy(l, flags, out, loras);
        if (locked)
            break;
        atomic_thread_fence(memory_order_acquire);
        if (LD(l->seq) == s0)
            break;
        cpu_relax();
    }
    if (locked)
        pthread_mutex_unlock(&e->mu);
    if (served < 0 && !serves_locked(e, model, len))
        return false;
    if (!served)
        return false;
    out->conn_fail_ns = atomic_load_explicit(&e->conn_fail_ns, memory_order_relaxed);
    if (out->conn_fail_ns && out->conn_fail_ns >= out->update_ns)
        out->ready = false; /* a connection failed since the last good scrape */
    if (atomic_load_explicit(&e->supervisor_down, memory_order_relaxed))
        out->ready = false; /* its pod's data-parallel supervisor says not ready */
    /* acquire, paired with the release in sy_endpoint_inflight_sub: the decode counters read
     * after it include every release made before a count this load sees gone (pool.h,
     * sy_pool_discharge) on any architecture, not only x86's */
    int64_t r = atomic_load_explicit(&e->inflight_requests, memory_order_acquire);
    int64_t t = atomic_load_explicit(&e->inflight_tokens, memory_order_relaxed);
    out->inflight_requests = r < 0 ? 0 : r;
    out->inflight_tokens = t < 0 ? 0 : t;
    int64_t dl = atomic_load_explicit(&e->decode_left, memory_order_relaxed);
    int64_t dd = atomic_load_explicit(&e->decode_done, memory_order_relaxed);
    /* each request adds before it subtracts exactly what it added (pool/decode.c): a negative
     * sum is a release without its add; clamped for the reader, reported once */
    if ((dl < 0 || dd < 0) && !atomic_exchange(&g_decode_underflow_logged, true))
        sy_error("BUG: decode work left for %s went below zero (left=%lld done=%lld: a release "
                 "without its add); clamped at 0, further occurrences not logged",
                 e->address, (long long)dl, (long long)dd);
    out->decode_left = dl < 0 ? 0 : dl;
    out->decode_done = dd < 0 ? 0.0 : (double)dd / SY_DECODE_ONE;
    return true;
}

void sy_endpoint_snapshot(struct sy_endpoint *e, struct sy_endpoint_state *out)
{
    sy_endpoint_read(e, NULL, 0, out, NULL);
}

void sy_endpoint_snapshot_loras(struct sy_endpoint *e, struct sy_endpoint_state *out,
                                struct sy_endpoint_loras *loras)
{
    sy_endpoint_read(e, NULL, 0, out, loras);
}

void sy_endpoint_set_metrics(struct sy_endpoint *e, const struct sy_engine_metrics *m, uint64_t now)
{
    struct sy_endpoint_live *l = &e->live;
    pthread_mutex_lock(&e->mu);
    live_begin(l);
    ST(l->waiting, dbits(m->waiting));
    ST(l->running, dbits(m->running));
    ST(l->kv_usage, dbits(m->kv_usage));
    ST(l->block_size, m->block_size);
    ST(l->num_blocks, m->num_blocks);
    ST(l->max_lora, m->max_lora);
    list_put(l->loras_w[0], m->running_loras);
    list_put(l->loras_w[1], m->waiting_loras);
    ST(l->flags, LD(l->flags) | SY_LIVE_READY | SY_LIVE_SCRAPED);
    ST(l->update_ns, now);
    live_end(l);
    pthread_mutex_unlock(&e->mu);
}

void sy_endpoint_set_failed(struct sy_endpoint *e, uint64_t now)
{
    struct sy_endpoint_live *l = &e->live;
    pthread_mutex_lock(&e->mu);
    live_begin(l);
    /* keeps the last metrics and update time: staleness shows their age */
    ST(l->flags, LD(l->flags) & ~SY_LIVE_READY);
    ST(l->fail_ns, now);
    live_end(l);
    pthread_mutex_unlock(&e->mu);
}

bool sy_endpoint_scrape_timed_out(struct sy_endpoint *e, uint64_t now, uint64_t staleness_ns)
{
    struct sy_endpoint_live *l = &e->live;
    uint64_t served = atomic_load_explicit(&e->served_ns, memory_order_relaxed);
    bool keep;
    pthread_mutex_lock(&e->mu); /* the only writers of live hold mu: plain loads are stable */
    uint64_t upd = LD(l->update_ns);
    bool fresh = (LD(l->flags) & SY_LIVE_SCRAPED) && now >= upd && now - upd <= staleness_ns;
    bool serving = served && now >= served && now - served <= staleness_ns;
    keep = (LD(l->flags) & SY_LIVE_READY) && (fresh || serving);
    live_begin(l);
    if (!keep)
        ST(l->flags, LD(l->flags) & ~SY_LIVE_READY);
    ST(l->fail_ns, now);
    live_end(l);
    pthread_mutex_unlock(&e->mu);
    return keep;
}

void sy_endpoint_served(struct sy_endpoint *e, uint64_t now)
{
    /* one store per answered request; skipped while the value is under 1 ms old, so workers
     * answering many requests a millisecond do not keep bouncing the line */
    uint64_t prev = atomic_load_explicit(&e->served_ns, memory_order_relaxed);
    if (now > prev + SY_NS_PER_MS)
        atomic_store_explicit(&e->served_ns, now, memory_order_relaxed);
}

void sy_endpoint_conn_failed(struct sy_endpoint *e, uint64_t now)
{
    atomic_store_explicit(&e->conn_fail_ns, now ? now : 1, memory_order_relaxed);
}

void sy_endpoint_set_models(struct sy_endpoint *e, const char *const *ids, size_t n)
{
    sy_endpoint_set_models_meta(e, ids, NULL, 0, n);
}

void sy_endpoint_set_models_meta(struct sy_endpoint *e, const char *const *ids,
                                 const char *const *json, uint32_t adapters, size_t n)
{
    char *copy[SY_MAX_MODELS], *jcopy[SY_MAX_MODELS];
    char *gone[SY_MAX_MODELS], *jgone[SY_MAX_MODELS];
    size_t keep = n;
    if (n > SY_MAX_MODELS) {
        /* Too many to remember: fail open (serves everything) rather than refuse real models. */
        sy_warn("pool: %s lists %zu models, more than %d; treating its model list as unknown",
                e->address, n, SY_MAX_MODELS);
        keep = 0;
    }
    bool slow = false;
    for (size_t i = 0; i < keep; i++) {
        copy[i] = sy_xstrdup(ids[i] ? ids[i] : "");
        jcopy[i] = json && json[i] ? sy_xstrdup(json[i]) : NULL;
        slow |= strlen(copy[i]) > SY_MODEL_INLINE;
    }
    struct sy_endpoint_live *l = &e->live;
    pthread_mutex_lock(&e->mu);
    size_t ngone = e->nmodels;
    memcpy(gone, e->models, ngone * sizeof *gone);
    memcpy(jgone, e->models_json, ngone * sizeof *jgone);
    memcpy(e->models, copy, keep * sizeof *copy);
    memcpy(e->models_json, jcopy, keep * sizeof *jcopy);
    e->models_adapter = keep ? adapters : 0;
    e->nmodels = keep;
    live_begin(l);
    for (size_t i = 0; i < keep; i++) {
        size_t len = strlen(copy[i]);
        ST(l->models_len[i], (uint32_t)(len > SY_MODEL_INLINE ? SY_MODEL_INLINE + 1 : len));
        if (len <= SY_MODEL_INLINE)
            words_put(l->models_w[i], SY_MODEL_INLINE / 8, copy[i], len);
    }
    ST(l->nmodels, (uint32_t)keep);
    uint32_t f = LD(l->flags) & ~SY_LIVE_MODELS_SLOW;
    ST(l->flags, slow ? f | SY_LIVE_MODELS_SLOW : f);
    live_end(l);
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < ngone; i++) {
        free(gone[i]);
        free(jgone[i]);
    }
}

bool sy_endpoint_serves(struct sy_endpoint *e, const char *model, size_t len)
{
    struct sy_endpoint_state st;
    if (len == 0) /* sy_endpoint_read skips the check for len 0; an empty id is a real query */
        return serves_locked(e, model, len);
    return sy_endpoint_read(e, model, len, &st, NULL);
}

const char *sy_endpoint_label(const struct sy_endpoint *e, const char *key)
{
    for (size_t i = 0; i < e->nlabels; i++)
        if (strcmp(e->labels[i].key, key) == 0)
            return e->labels[i].value;
    return NULL;
}

/* Subtracts d from *a without going below zero; returns false when it had to clamp. */
static bool sub_clamped_order(_Atomic int64_t *a, int64_t d, memory_order order)
{
    int64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    int64_t next;
    do {
        next = cur - d;
        if (next < 0)
            next = 0;
    } while (!atomic_compare_exchange_weak_explicit(a, &cur, next, order, memory_order_relaxed));
    return cur - d >= 0;
}

static bool sub_clamped(_Atomic int64_t *a, int64_t d)
{
    return sub_clamped_order(a, d, memory_order_relaxed);
}

void sy_endpoint_inflight_tokens_sub(struct sy_endpoint *e, int64_t tokens)
{
    if (tokens > 0 && !sub_clamped(&e->inflight_tokens, tokens) &&
        !atomic_exchange(&g_underflow_logged, true))
        sy_error("BUG: in-flight tokens for %s went below zero; clamped at 0, further occurrences "
                 "not logged",
                 e->address);
}

void sy_endpoint_inflight_sub(struct sy_endpoint *e, int64_t tokens)
{
    if (tokens < 0)
        tokens = 0;
    /* release: a reader whose acquire load sees this count gone also sees the decode work
     * sy_pool_discharge released before it (sy_endpoint_read) */
    bool ok = sub_clamped_order(&e->inflight_requests, 1, memory_order_release);
    ok &= sub_clamped(&e->inflight_tokens, tokens);
    if (!ok && !atomic_exchange(&g_underflow_logged, true))
        sy_error("BUG: in-flight count for %s went below zero (a sub without its add); clamped "
                 "at 0, further occurrences not logged",
                 e->address);
}

void sy_endpoint_inflight_add(struct sy_endpoint *e, int64_t tokens)
{
    sy_endpoint_inflight_add_within(e, tokens, 0, 0); /* unbounded: never refused */
}

void sy_pool_charge(struct sy_charge *c, struct sy_endpoint *e, int64_t tokens, int64_t max_tokens,
                    int64_t choices)
{
    sy_pool_charge_within(c, e, tokens, max_tokens, choices, 0, 0); /* unbounded: never refused */
}

/* Adds d to *a only while the sum stays within cap, or *a is 0 (sy_inflight_fits; cap <= 0: no
 * bound, one fetch-add); returns whether it did. */
static bool add_within(_Atomic int64_t *a, int64_t d, int64_t cap)
{
    if (cap <= 0) {
        atomic_fetch_add_explicit(a, d, memory_order_relaxed);
        return true;
    }
    int64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    do {
        if (!sy_inflight_fits(cur, d, cap))
            return false;
    } while (!atomic_compare_exchange_weak_explicit(a, &cur, cur + d, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

bool sy_endpoint_inflight_add_within(struct sy_endpoint *e, int64_t tokens, int64_t cap_requests,
                                     int64_t cap_tokens)
{
    if (tokens < 0)
        tokens = 0;
    if (!add_within(&e->inflight_requests, 1, cap_requests))
        return false;
    if (!add_within(&e->inflight_tokens, tokens, cap_tokens)) {
        /* the slot taken above goes back: meanwhile readers saw one more (errs busier) */
        sub_clamped(&e->inflight_requests, 1);
        return false;
    }
    return true;
}

bool sy_pool_charge_within(struct sy_charge *c, struct sy_endpoint *e, int64_t tokens,
                           int64_t max_tokens, int64_t choices, int64_t cap_requests,
                           int64_t cap_tokens)
{
    if (tokens < 0)
        tokens = 0;
    if (!sy_endpoint_inflight_add_within(e, tokens, cap_requests, cap_tokens))
        return false;
    c->ep = e;
    c->tokens = tokens;
    sy_decode_begin(&c->dec, e, max_tokens, choices);
    return true;
}

void sy_pool_charge_release_tokens(struct sy_charge *c, int64_t tokens)
{
    if (!c->ep || tokens <= 0)
        return;
    if (tokens > c->tokens)
        tokens = c->tokens;
    sy_endpoint_inflight_tokens_sub(c->ep, tokens);
    c->tokens -= tokens;
}

void sy_pool_discharge(struct sy_charge *c, int64_t completion_tokens)
{
    if (!c->ep)
        return;
    sy_decode_end(&c->dec, completion_tokens); /* before the count: see sy_pool_discharge */
    sy_endpoint_inflight_sub(c->ep, c->tokens);
    c->ep = NULL;
    c->tokens = 0;
}
