/* attrs.c - endpoint attributes from /metrics (attrs.h has the model).
 *
 * Registry: a fixed array of parsed selectors behind a mutex; slots are never freed, so a slot
 * number stays valid for the process lifetime and readers of the array after registration need
 * no lock once they hold their slot (the scraper takes the lock to copy the count and reads
 * entries below it, which are immutable once published).
 *
 * Values: each endpoint keeps SY_ATTR_MAX doubles as atomic bit patterns plus a presence mask,
 * written by the scraper thread and read lock-free by scheduling threads; one attribute is one
 * word, so a reader never sees a torn value, only possibly a mix of two scrapes across
 * attributes, which no plugin reads together.
 *
 * Alternative rejected: keeping each endpoint's last /metrics body and parsing it per decision
 * (megabytes per endpoint, and a parse on the hot path).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "pool/attrs.h"
#include "pool/prom.h"

#define ATTR_MAX_MATCHERS 8   /* label matchers per selector */
#define ATTR_MAX_TEXT     256 /* selector text length */

struct selector {
    char text[ATTR_MAX_TEXT];            /* as registered */
    char name[ATTR_MAX_TEXT];            /* metric name */
    size_t nmatch;                       /* label matchers */
    char lname[ATTR_MAX_MATCHERS][64];   /* label names */
    char lvalue[ATTR_MAX_MATCHERS][128]; /* wanted values (unescaped) */
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct selector reg[SY_ATTR_MAX];
static int nreg; /* guarded by reg_mu */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Parses `name` or `name{k=v, k="v"}` into sel. Returns 0 or -1 with a reason in err. */
static int parse_selector(const char *in, struct selector *sel, char *err, size_t errcap)
{
    memset(sel, 0, sizeof *sel);
    if (strlen(in) >= ATTR_MAX_TEXT) {
        snprintf(err, errcap, "longer than %d characters", ATTR_MAX_TEXT - 1);
        return -1;
    }
    snprintf(sel->text, sizeof sel->text, "%s", in);
    const char *p = skip_ws(in);
    size_t n = 0;
    while (p[n] && p[n] != '{' && p[n] != ' ' && p[n] != '\t')
        n++;
    if (!n) {
        snprintf(err, errcap, "'%s' does not start with a metric name", in);
        return -1;
    }
    memcpy(sel->name, p, n);
    p = skip_ws(p + n);
    if (!*p)
        return 0;
    if (*p != '{')
        goto bad;
    p = skip_ws(p + 1);
    while (*p && *p != '}') {
        if (sel->nmatch == ATTR_MAX_MATCHERS)
            goto bad;
        size_t k = 0;
        while (p[k] && p[k] != '=' && p[k] != ' ' && p[k] != '}' && p[k] != ',')
            k++;
        if (!k || k >= sizeof sel->lname[0])
            goto bad;
        memcpy(sel->lname[sel->nmatch], p, k);
        p = skip_ws(p + k);
        if (*p != '=')
            goto bad;
        p = skip_ws(p + 1);
        char *out = sel->lvalue[sel->nmatch];
        size_t o = 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                if (o + 1 >= sizeof sel->lvalue[0])
                    goto bad;
                out[o++] = *p++;
            }
            if (*p != '"')
                goto bad;
            p++;
        } else {
            while (*p && *p != ',' && *p != '}' && *p != ' ') {
                if (o + 1 >= sizeof sel->lvalue[0])
                    goto bad;
                out[o++] = *p++;
            }
        }
        out[o] = '\0';
        sel->nmatch++;
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
    }
    if (*p != '}' || *skip_ws(p + 1))
        goto bad;
    return 0;
bad:
    snprintf(err, errcap, "'%s' is not a metric selector (name or name{label=value,...})", in);
    return -1;
}

int sy_attr_register(const char *selector, char *err, size_t errcap)
{
    struct selector sel;
    if (!selector || parse_selector(selector, &sel, err, errcap))
        return -1;
    pthread_mutex_lock(&reg_mu);
    int slot = -1;
    for (int i = 0; i < nreg && slot < 0; i++)
        if (!strcmp(reg[i].text, sel.text))
            slot = i;
    if (slot < 0 && nreg < SY_ATTR_MAX) {
        reg[nreg] = sel;
        slot = nreg++;
    }
    pthread_mutex_unlock(&reg_mu);
    if (slot < 0)
        snprintf(err, errcap, "more than %d distinct endpoint attributes in this process",
                 SY_ATTR_MAX);
    return slot;
}

struct scan {
    int n;                   /* registered selectors scanned */
    double sum[SY_ATTR_MAX]; /* per selector */
    uint32_t present;        /* bit per selector with a match */
    char label[128];         /* scratch for unescaped label values */
};

static int on_sample(void *ud, const struct sy_prom_sample *s)
{
    struct scan *sc = ud;
    if (!isfinite(s->value))
        return 0;
    for (int i = 0; i < sc->n; i++) {
        const struct selector *sel = &reg[i];
        if (!sy_str_eq_c(s->name, sel->name))
            continue;
        bool ok = true;
        for (size_t m = 0; m < sel->nmatch && ok; m++) {
            struct sy_str raw;
            ok = sy_prom_label(s, sel->lname[m], &raw);
            if (ok) {
                sy_prom_unescape(raw, sc->label, sizeof sc->label);
                ok = !strcmp(sc->label, sel->lvalue[m]);
            }
        }
        if (ok) {
            sc->sum[i] += s->value;
            sc->present |= 1u << i;
        }
    }
    return 0;
}

void sy_attr_scrape(struct sy_endpoint *e, const char *text, size_t len)
{
    struct scan sc;
    memset(&sc, 0, sizeof sc);
    pthread_mutex_lock(&reg_mu);
    sc.n = nreg;
    pthread_mutex_unlock(&reg_mu);
    if (!sc.n)
        return;
    int line = 0;
    if (sy_prom_parse(text, len, on_sample, &sc, &line) != 0)
        sc.present = 0;            /* a malformed scrape reports nothing */
    for (int i = 0; i < sc.n; i++) /* a sum that overflowed is no value */
        sy_endpoint_set_attr(e, i, sc.sum[i], (sc.present & (1u << i)) && isfinite(sc.sum[i]));
}

bool sy_endpoint_attr(const struct sy_endpoint *e, int slot, double *v)
{
    if (slot < 0 || slot >= SY_ATTR_MAX)
        return false;
    uint32_t present = atomic_load_explicit(&e->attr_present, memory_order_acquire);
    if (!(present & (1u << slot)))
        return false;
    uint64_t bits = atomic_load_explicit(&e->attr_bits[slot], memory_order_relaxed);
    memcpy(v, &bits, sizeof *v);
    return true;
}

void sy_endpoint_set_attr(struct sy_endpoint *e, int slot, double v, bool present)
{
    if (slot < 0 || slot >= SY_ATTR_MAX)
        return;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    atomic_store_explicit(&e->attr_bits[slot], bits, memory_order_relaxed);
    if (present)
        atomic_fetch_or_explicit(&e->attr_present, 1u << slot, memory_order_release);
    else
        atomic_fetch_and_explicit(&e->attr_present, ~(1u << slot), memory_order_release);
}
