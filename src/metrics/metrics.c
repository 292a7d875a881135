/* metrics.c - the Prometheus metrics registry (see metrics.h).
 *
 * Data structure:
 *
 *   struct sy_metrics
 *     families --> fam --> fam --> ...        append-only, registration order
 *                   |
 *                   children --> child --> child ...   append-only, creation order
 *     collectors --> col --> ...              append-only
 *
 * Every list is append-only and its links are atomics published with release stores, so readers
 * (sy_metric_get's fast path, sy_metrics_render) walk them without a lock; writers (registration,
 * child creation) serialise on a mutex (the registry's for families and collectors, the family's
 * for its children) and re-check under it, so a tuple gets exactly one child. Nothing is removed
 * before sy_metrics_free, which therefore must run after every other user is gone.
 *
 * Values: counters and gauges keep a double as its uint64 bit pattern in an atomic; add is a CAS
 * loop, set a plain store. Histograms keep one atomic per bucket (non-cumulative; the +Inf bucket
 * last) and the sum as double bits. _count is rendered as the total of the buckets read, so a
 * concurrent render always shows _count equal to the +Inf bucket, as Prometheus requires; _sum
 * may be one observation ahead or behind, which the format tolerates.
 *
 * Invariants and choices:
 *  - Counters never decrease: negative or NaN increments are dropped. NaN observations are
 *    dropped too (they would make _sum NaN forever).
 *  - Label values can come from requests (model names), so a family caps its children at
 *    SY_METRICS_MAX_CHILDREN; further tuples share one child whose values all read "other",
 *    and a warning is logged once per family. Memory stays bounded whatever clients send.
 *  - Registering an invalid name, or the same name with another type or label set, is a
 *    programming error found at startup: it aborts with a message (STYLE: crash only on broken
 *    invariants).
 *  - Numbers are printed in the shortest form that round-trips (%.15g, else %.17g), like the
 *    Go client's FormatFloat(v, 'g', -1, 64); +Inf, -Inf and NaN are spelled as the format says.
 *
 * Alternatives rejected: a hash map of children (lookups happen once per hot-path call site and
 * families have few children); per-thread shards (contention is a few atomics per request).
 */
#include "metrics/metrics.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SY_METRICS_MAX_CHILDREN 4096 /* children per family before tuples collapse to "other" */

struct sy_metric {
    struct sy_metric_family *fam;     /* owner */
    char **values;                    /* label values, fam->nlabels entries; owned */
    _Atomic uint64_t bits;            /* counter/gauge value (double bits); histogram sum */
    _Atomic uint64_t *buckets;        /* histogram: nbuckets + 1 counts (last = +Inf); owned */
    _Atomic(struct sy_metric *) next; /* next child in creation order */
};

struct sy_metric_family {
    char *name;                              /* owned */
    char *help;                              /* owned */
    enum sy_metric_type type;                /* counter, gauge or histogram */
    char *labels[SY_METRICS_MAX_LABELS];     /* label names; owned */
    size_t nlabels;                          /* label count */
    double bounds[SY_METRICS_MAX_BUCKETS];   /* histogram upper bounds, ascending */
    size_t nbounds;                          /* bucket count, excluding +Inf */
    pthread_mutex_t mu;                      /* serialises child creation */
    _Atomic(struct sy_metric *) head;        /* first child */
    struct sy_metric *tail;                  /* last child; under mu */
    size_t nchildren;                        /* under mu */
    struct sy_metric *overflow;              /* the shared "other" child; under mu */
    bool overflow_owned;                     /* overflow is not also on the children list */
    _Atomic(struct sy_metric_family *) next; /* next family in registration order */
};

struct collector {
    sy_metrics_collect_fn *fn;        /* callback */
    void *ud;                         /* its argument; borrowed */
    _Atomic(struct collector *) next; /* next in registration order */
};

struct sy_metrics {
    pthread_mutex_t mu;                          /* serialises registration */
    _Atomic(struct sy_metric_family *) families; /* first family */
    struct sy_metric_family *last;               /* last family; under mu */
    _Atomic(struct collector *) collectors;      /* first collector */
    struct collector *last_col;                  /* last collector; under mu */
};

/* ---- bucket layouts ---- */

const double sy_buckets_latency[] = {0.005, 0.025, 0.05, 0.1, 0.2,  0.4,  0.6,  0.8, 1.0,
                                     1.25,  1.5,   2,    3,   4,    5,    6,    8,   10,
                                     15,    20,    30,   45,  60,   120,  180,  240, 300,
                                     360,   480,   600,  900, 1200, 1800, 2700, 3600};
const size_t sy_buckets_latency_n = sizeof sy_buckets_latency / sizeof sy_buckets_latency[0];

const double sy_buckets_fast[] = {1e-5, 2.5e-5, 5e-5,   1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
                                  5e-3, 1e-2,   2.5e-2, 5e-2, 0.1,    0.25, 0.5,  1};
const size_t sy_buckets_fast_n = sizeof sy_buckets_fast / sizeof sy_buckets_fast[0];

const double sy_buckets_tokens[] = {1,   2,    4,    8,    16,   32,    64,    128,   256,
                                    512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072};
const size_t sy_buckets_tokens_n = sizeof sy_buckets_tokens / sizeof sy_buckets_tokens[0];

/* ---- helpers ---- */

static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, d2u(u2d(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

static bool valid_metric_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool valid_label_name(const char *s)
{
    if (!s || !*s || (s[0] == '_' && s[1] == '_'))
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static _Noreturn void misuse(const char *what, const char *name)
{
    sy_error("metrics: %s: %s", what, name ? name : "(null)");
    abort();
}

/* Formats v in the exposition format's float syntax into tmp (at least 32 bytes). */
static const char *fmt_double(char *tmp, size_t cap, double v)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    snprintf(tmp, cap, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, cap, "%.17g", v);
    return tmp;
}

static void put_double(struct sy_buf *b, double v)
{
    char tmp[40];
    sy_buf_puts(b, fmt_double(tmp, sizeof tmp, v));
}

/* Label value escaping: \ -> \\, " -> \", newline -> \n. HELP text escapes only \ and newline.
 * The exposition format is UTF-8: bytes that are not well-formed UTF-8 become U+FFFD, so a label
 * value taken from a request can never break a scraper's parse. */
static void put_escaped(struct sy_buf *b, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        if ((unsigned char)*s >= 0x80) {
            size_t k = sy_utf8_seq_len(s, strlen(s));
            if (k) {
                s += k - 1;
                continue;
            }
            rep = "\xef\xbf\xbd";
        } else if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (*s == '"' && quote)
            rep = "\\\"";
        if (!rep)
            continue;
        sy_buf_append(b, run, (size_t)(s - run));
        sy_buf_puts(b, rep);
        run = s + 1;
    }
    sy_buf_append(b, run, (size_t)(s - run));
}

/* ---- registry ---- */

struct sy_metrics *sy_metrics_new(void)
{
    struct sy_metrics *m = SY_NEW(struct sy_metrics);
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void child_free(struct sy_metric *c, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        free(c->values[i]);
    free(c->values);
    free(c->buckets);
    free(c);
}

void sy_metrics_free(struct sy_metrics *m)
{
    if (!m)
        return;
    struct sy_metric_family *f = atomic_load(&m->families);
    while (f) {
        struct sy_metric_family *fn = atomic_load(&f->next);
        struct sy_metric *c = atomic_load(&f->head);
        while (c) {
            struct sy_metric *cn = atomic_load(&c->next);
            child_free(c, f->nlabels);
            c = cn;
        }
        if (f->overflow_owned)
            child_free(f->overflow, f->nlabels);
        for (size_t i = 0; i < f->nlabels; i++)
            free(f->labels[i]);
        free(f->name);
        free(f->help);
        pthread_mutex_destroy(&f->mu);
        free(f);
        f = fn;
    }
    struct collector *col = atomic_load(&m->collectors);
    while (col) {
        struct collector *next = atomic_load(&col->next);
        free(col);
        col = next;
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static struct sy_metric *child_new(struct sy_metric_family *f, const char *const *values)
{
    struct sy_metric *c = SY_NEW(struct sy_metric);
    c->fam = f;
    c->values = sy_xcalloc(f->nlabels ? f->nlabels : 1, sizeof(char *));
    for (size_t i = 0; i < f->nlabels; i++)
        c->values[i] = sy_xstrdup(values && values[i] ? values[i] : "");
    if (f->type == SY_METRIC_HISTOGRAM)
        c->buckets = sy_xcalloc(f->nbounds + 1, sizeof(_Atomic uint64_t));
    atomic_init(&c->bits, d2u(0.0));
    atomic_init(&c->next, NULL);
    return c;
}

static bool same_labels(const struct sy_metric_family *f, const char *const *label_names)
{
    size_t n = 0;
    while (label_names && label_names[n])
        n++;
    if (n != f->nlabels)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(label_names[i], f->labels[i]) != 0)
            return false;
    return true;
}

struct sy_metric_family *sy_metrics_family(struct sy_metrics *m, const char *name, const char *help,
                                           enum sy_metric_type type, const char *const *label_names,
                                           const double *buckets, size_t nbuckets)
{
    if (!valid_metric_name(name))
        misuse("invalid metric name", name);
    pthread_mutex_lock(&m->mu);
    for (struct sy_metric_family *f = atomic_load(&m->families); f; f = atomic_load(&f->next)) {
        if (strcmp(f->name, name) != 0)
            continue;
        if (f->type != type || !same_labels(f, label_names))
            misuse("registered twice with another type or labels", name);
        pthread_mutex_unlock(&m->mu);
        return f;
    }
    struct sy_metric_family *f = SY_NEW(struct sy_metric_family);
    f->name = sy_xstrdup(name);
    f->help = sy_xstrdup(help ? help : "");
    f->type = type;
    for (size_t i = 0; label_names && label_names[i]; i++) {
        if (i >= SY_METRICS_MAX_LABELS || !valid_label_name(label_names[i]) ||
            (type == SY_METRIC_HISTOGRAM && strcmp(label_names[i], "le") == 0))
            misuse("invalid or too many label names", name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(label_names[i], label_names[j]) == 0)
                misuse("duplicate label name", name);
        f->labels[i] = sy_xstrdup(label_names[i]);
        f->nlabels = i + 1;
    }
    if (type == SY_METRIC_HISTOGRAM) {
        if (nbuckets > SY_METRICS_MAX_BUCKETS || (nbuckets && !buckets))
            misuse("too many histogram buckets", name);
        for (size_t i = 0; i < nbuckets; i++) {
            if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
                misuse("histogram buckets must be finite and ascending", name);
            f->bounds[i] = buckets[i];
        }
        f->nbounds = nbuckets;
    }
    pthread_mutex_init(&f->mu, NULL);
    atomic_init(&f->head, NULL);
    atomic_init(&f->next, NULL);
    /* A family without labels has exactly one series: create it now so it renders as 0. */
    if (f->nlabels == 0) {
        f->tail = child_new(f, NULL);
        f->nchildren = 1;
        atomic_store_explicit(&f->head, f->tail, memory_order_release);
    }
    if (m->last)
        atomic_store_explicit(&m->last->next, f, memory_order_release);
    else
        atomic_store_explicit(&m->families, f, memory_order_release);
    m->last = f;
    pthread_mutex_unlock(&m->mu);
    return f;
}

static bool child_matches(const struct sy_metric *c, size_t n, const char *const *values)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = values && values[i] ? values[i] : "";
        if (strcmp(c->values[i], v) != 0)
            return false;
    }
    return true;
}

static struct sy_metric *find_child(struct sy_metric_family *f, const char *const *values)
{
    for (struct sy_metric *c = atomic_load_explicit(&f->head, memory_order_acquire); c;
         c = atomic_load_explicit(&c->next, memory_order_acquire))
        if (child_matches(c, f->nlabels, values))
            return c;
    return NULL;
}

struct sy_metric *sy_metric_get(struct sy_metric_family *f, const char *const *label_values)
{
    struct sy_metric *c = find_child(f, label_values);
    if (c)
        return c;
    pthread_mutex_lock(&f->mu);
    c = find_child(f, label_values);
    if (!c) {
        if (f->nchildren >= SY_METRICS_MAX_CHILDREN) {
            if (!f->overflow) {
                const char *other[SY_METRICS_MAX_LABELS];
                for (size_t i = 0; i < f->nlabels; i++)
                    other[i] = "other";
                /* Reuse a real "other" tuple if one exists, so no series appears twice. */
                f->overflow = find_child(f, other);
                f->overflow_owned = f->overflow == NULL;
                if (!f->overflow)
                    f->overflow = child_new(f, other);
                sy_warn("metrics: %s has %d label sets; further ones are counted as \"other\"",
                        f->name, SY_METRICS_MAX_CHILDREN);
            }
            c = f->overflow;
        } else {
            c = child_new(f, label_values);
            if (f->tail)
                atomic_store_explicit(&f->tail->next, c, memory_order_release);
            else
                atomic_store_explicit(&f->head, c, memory_order_release);
            f->tail = c;
            f->nchildren++;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return c;
}

/* ---- updates ---- */

void sy_metric_inc(struct sy_metric *c)
{
    sy_metric_add(c, 1.0);
}

void sy_metric_add(struct sy_metric *c, double v)
{
    if (!c || c->fam->type == SY_METRIC_HISTOGRAM || isnan(v))
        return;
    if (c->fam->type == SY_METRIC_COUNTER && v < 0)
        return;
    atomic_add_double(&c->bits, v);
}

void sy_metric_set(struct sy_metric *c, double v)
{
    if (!c || c->fam->type == SY_METRIC_HISTOGRAM)
        return;
    atomic_store_explicit(&c->bits, d2u(v), memory_order_relaxed);
}

void sy_metric_observe(struct sy_metric *h, double v)
{
    if (!h || h->fam->type != SY_METRIC_HISTOGRAM || isnan(v))
        return;
    const struct sy_metric_family *f = h->fam;
    /* First bucket whose bound is >= v (le semantics); nbounds = the +Inf bucket. */
    size_t lo = 0, hi = f->nbounds;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= f->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
    atomic_add_double(&h->bits, v);
}

void sy_metrics_add_collector(struct sy_metrics *m, sy_metrics_collect_fn *fn, void *ud)
{
    struct collector *col = SY_NEW(struct collector);
    col->fn = fn;
    col->ud = ud;
    atomic_init(&col->next, NULL);
    pthread_mutex_lock(&m->mu);
    if (m->last_col)
        atomic_store_explicit(&m->last_col->next, col, memory_order_release);
    else
        atomic_store_explicit(&m->collectors, col, memory_order_release);
    m->last_col = col;
    pthread_mutex_unlock(&m->mu);
}

/* ---- rendering ---- */

/* Writes name{l1="v1",...[,le="x"]} (le only when le != NULL). */
static void put_series(struct sy_buf *b, const struct sy_metric_family *f, const char *suffix,
                       const struct sy_metric *c, const char *le)
{
    sy_buf_puts(b, f->name);
    sy_buf_puts(b, suffix);
    if (f->nlabels == 0 && !le)
        return;
    sy_buf_puts(b, "{");
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i)
            sy_buf_puts(b, ",");
        sy_buf_puts(b, f->labels[i]);
        sy_buf_puts(b, "=\"");
        put_escaped(b, c->values[i], true);
        sy_buf_puts(b, "\"");
    }
    if (le) {
        if (f->nlabels)
            sy_buf_puts(b, ",");
        sy_buf_puts(b, "le=\"");
        sy_buf_puts(b, le);
        sy_buf_puts(b, "\"");
    }
    sy_buf_puts(b, "}");
}

static void render_child(struct sy_buf *b, const struct sy_metric_family *f,
                         const struct sy_metric *c)
{
    if (f->type != SY_METRIC_HISTOGRAM) {
        put_series(b, f, "", c, NULL);
        sy_buf_puts(b, " ");
        put_double(b, u2d(atomic_load_explicit(&c->bits, memory_order_relaxed)));
        sy_buf_puts(b, "\n");
        return;
    }
    uint64_t cum = 0;
    for (size_t i = 0; i <= f->nbounds; i++) {
        char tmp[40];
        const char *le = i < f->nbounds ? fmt_double(tmp, sizeof tmp, f->bounds[i]) : "+Inf";
        cum += atomic_load_explicit(&c->buckets[i], memory_order_relaxed);
        put_series(b, f, "_bucket", c, le);
        sy_buf_printf(b, " %llu\n", (unsigned long long)cum);
    }
    put_series(b, f, "_sum", c, NULL);
    sy_buf_puts(b, " ");
    put_double(b, u2d(atomic_load_explicit(&c->bits, memory_order_relaxed)));
    sy_buf_puts(b, "\n");
    put_series(b, f, "_count", c, NULL);
    sy_buf_printf(b, " %llu\n", (unsigned long long)cum);
}

void sy_metrics_render(struct sy_metrics *m, struct sy_buf *out)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    for (struct sy_metric_family *f = atomic_load_explicit(&m->families, memory_order_acquire); f;
         f = atomic_load_explicit(&f->next, memory_order_acquire)) {
        struct sy_metric *head = atomic_load_explicit(&f->head, memory_order_acquire);
        if (!head)
            continue; /* a labelled family nobody has used yet: nothing to say */
        sy_buf_printf(out, "# HELP %s ", f->name);
        put_escaped(out, f->help, false);
        sy_buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
        for (struct sy_metric *c = head; c;
             c = atomic_load_explicit(&c->next, memory_order_acquire))
            render_child(out, f, c);
        /* The overflow child is published under the family mutex only. */
        pthread_mutex_lock(&f->mu);
        struct sy_metric *ov = f->overflow_owned ? f->overflow : NULL;
        pthread_mutex_unlock(&f->mu);
        if (ov)
            render_child(out, f, ov);
    }
    for (struct collector *col = atomic_load_explicit(&m->collectors, memory_order_acquire); col;
         col = atomic_load_explicit(&col->next, memory_order_acquire))
        col->fn(col->ud, out);
}
