/* config.c - loads and validates the gateway's YAML configuration (see config.h, docs/config.md).
 *
 * The file is parsed into a sy_yaml tree (yaml.c: line numbers, duplicate keys and hostile input
 * already rejected there), then walked once, section by section. Each section is a table of
 * known keys and handlers:
 *
 *     root:      listen admin workers busyPoll logLevel pool limits timeouts retry auth tls
 *                scheduler schedulerFile inferenceObjectives (checked by src/flow) extProc
 *                (checked by src/extproc/epp_config.c)
 *     pool:      engine scrapeInterval metricsStalenessThreshold endpoints tls disaggregation
 *                discovery forwardPriority (disaggregation is parsed by
 *                src/disagg/disagg_config.c, discovery by src/discovery)
 *     pool.tls:  caFile serverName insecureSkipVerify
 *     endpoint:  address labels kvEvents | host targetPorts supervisorPort labels kvEvents
 *                (a multi-port entry expands to one endpoint per port: docs/wide-ep.md)
 *     limits:    maxBodyBytes maxConnectionsPerWorker                          retry: maxAttempts
 *     timeouts:  connect request idle drain header body send streamIdle
 *     auth:      apiKeys apiKeysFile protectAdmin      tls: certFile keyFile admin
 *
 * walk() visits a mapping's pairs in document order, so the first error reported is the first one
 * in the file; a key missing from the table is "unknown key". A null value (`key:`, `~`, `null`)
 * counts as absent, as Kubernetes treats it. Checks that span keys (required keys, admin defaulting
 * to listen, staleness vs scrape interval, scheduler vs schedulerFile) run after their section.
 *
 * The loader keeps the dotted path of the key being examined ("pool.endpoints[2].address"), so
 * every message reads "FILE:LINE: PATH: reason" without handlers passing names around.
 *
 * `scheduler` (and `labels`) are not walked: the scheduler section is an llm-d EndpointPickerConfig
 * and belongs to src/sched, which validates it from cfg->scheduler. Only its shape (a mapping, or a
 * scalar naming a built-in scheduler) is checked here.
 *
 * Ownership: the config owns every string, its endpoint array and both YAML trees; the scheduler
 * pointer borrows from one of the trees. The object is immutable once returned and shared by
 * reference count (atomic), so a reload can swap configs while requests finish with the old one.
 */
#include "config/config.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_SCRAPE_NS      (50ULL * 1000000)     /* pool.scrapeInterval */
#define MIN_SCRAPE_NS          (10ULL * 1000000)     /* below this, scraping would flood servers */
#define DEFAULT_STALE_NS       (2ULL * 1000000000)   /* pool.metricsStalenessThreshold */
#define DEFAULT_BODY_BYTES     (32ULL << 20)         /* limits.maxBodyBytes */
#define MAX_BODY_BYTES         (4ULL << 30)          /* largest accepted limits.maxBodyBytes */
#define DEFAULT_CONNECT_NS     (2ULL * 1000000000)   /* timeouts.connect */
#define DEFAULT_REQUEST_NS     (300ULL * 1000000000) /* timeouts.request */
#define DEFAULT_IDLE_NS        (60ULL * 1000000000)  /* timeouts.idle */
#define DEFAULT_DRAIN_NS       (30ULL * 1000000000)  /* timeouts.drain */
#define DEFAULT_HEADER_NS      (30ULL * 1000000000)  /* timeouts.header */
#define DEFAULT_BODY_NS        (120ULL * 1000000000) /* timeouts.body */
#define DEFAULT_SEND_NS        (60ULL * 1000000000)  /* timeouts.send */
#define DEFAULT_STREAM_IDLE_NS (300ULL * 1000000000) /* timeouts.streamIdle */
#define DEFAULT_RETRIES        3                     /* retry.maxAttempts */
#define MAX_RETRIES            16                    /* largest retry.maxAttempts */
#define PATH_CAP               256                   /* longest key path kept for messages */
#define DESC_CAP               (64 * 4 + 16)         /* sy_yaml_describe buffer */

struct loader {
    struct sy_config *cfg;                       /* being filled; owned by the caller of walk */
    char *err;                                   /* caller's message buffer */
    size_t errcap;                               /* its size */
    char path[PATH_CAP];                         /* dotted path of the current key */
    size_t plen;                                 /* strlen(path) */
    struct sy_endpoint_config *ep;               /* endpoint being filled (endpoint table) */
    uint16_t tports[SY_CONFIG_MAX_TARGET_PORTS]; /* its targetPorts (multi-port entry) */
    size_t ntports;                              /* their count; 0 = an address: entry */
    const struct sy_yaml_node *host_node;        /* its `host` value when set */
    const struct sy_yaml_node *tports_node;      /* its `targetPorts` value when set */
    const struct sy_yaml_node *pool;             /* `pool` value, for "endpoints required" */
    const struct sy_yaml_node *admin;            /* `admin` value when set */
    const struct sy_yaml_node *scrape;           /* `pool.scrapeInterval` value when set */
    const struct sy_yaml_node *stale;      /* `pool.metricsStalenessThreshold` value when set */
    const struct sy_yaml_node *sched_key;  /* `scheduler` key when set */
    const struct sy_yaml_node *schedf_key; /* `schedulerFile` key when set */
    const struct sy_yaml_node *schedf_val; /* its value */
};

typedef int (*field_fn)(struct loader *L, const struct sy_yaml_node *key,
                        const struct sy_yaml_node *v);

struct field {
    const char *key; /* YAML key (camelCase, as llm-d spells it) */
    field_fn fn;     /* validates and stores the value; returns 0 or SY_ECONFIG */
};

/* ---- messages and key paths -------------------------------------------------------------- */

static int failv(struct loader *L, const struct sy_yaml_node *n, const char *fmt, va_list ap)
{
    if (L->errcap == 0)
        return SY_ECONFIG;
    int o = snprintf(L->err, L->errcap, "%s:%d: %s: ", n->file, n->line, L->path);
    if (o >= 0 && (size_t)o < L->errcap)
        vsnprintf(L->err + o, L->errcap - (size_t)o, fmt, ap);
    return SY_ECONFIG;
}

/* "FILE:LINE: PATH: text" with FILE:LINE from n and PATH the current key path. */
static int fail(struct loader *L, const struct sy_yaml_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct loader *L, const struct sy_yaml_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(L, n, fmt, ap);
    va_end(ap);
    return rc;
}

/* "expected WHAT, got "value"" (or "got a mapping"). */
static int expected(struct loader *L, const struct sy_yaml_node *v, const char *what)
{
    char d[DESC_CAP];
    return fail(L, v, "expected %s, got %s", what, sy_yaml_describe(v, d, sizeof d));
}

/* Appends ".seg" (or "seg" at the top) to the path, escaping unprintable bytes; returns the old
 * length for path_pop. A path too long for the buffer is cut, never overflowed. */
static size_t path_push(struct loader *L, const char *seg, bool index)
{
    size_t old = L->plen;
    size_t o = L->plen;
    if (!index && o > 0 && o + 1 < PATH_CAP)
        L->path[o++] = '.';
    for (const unsigned char *s = (const unsigned char *)seg; *s && o + 5 < PATH_CAP; s++) {
        if (*s < 0x20 || *s == 0x7f)
            o += (size_t)snprintf(L->path + o, PATH_CAP - o, "\\x%02x", *s);
        else
            L->path[o++] = (char)*s;
    }
    L->path[o] = '\0';
    L->plen = o;
    return old;
}

static size_t path_push_index(struct loader *L, size_t i)
{
    char seg[32];
    snprintf(seg, sizeof seg, "[%zu]", i);
    return path_push(L, seg, true);
}

static void path_pop(struct loader *L, size_t old)
{
    L->plen = old;
    L->path[old] = '\0';
}

/* Visits m's pairs in order, dispatching each key to its handler (null values are skipped). */
static int walk(struct loader *L, const struct sy_yaml_node *m, const struct field *fields,
                size_t nfields)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct sy_yaml_node *k = m->keys[i], *v = m->items[i];
        const struct field *f = NULL;
        for (size_t j = 0; j < nfields && !f; j++)
            f = strcmp(fields[j].key, k->scalar) == 0 ? &fields[j] : NULL;
        size_t old = path_push(L, k->scalar, false);
        int rc = 0;
        if (!f)
            rc = fail(L, k, "unknown key");
        else if (!sy_yaml_is_null(v))
            rc = f->fn(L, k, v);
        path_pop(L, old);
        if (rc != 0)
            return rc;
    }
    return 0;
}

#define WALK(L, m, table) walk((L), (m), (table), sizeof(table) / sizeof((table)[0]))

/* ---- value parsers ----------------------------------------------------------------------- */

static int get_hostport(struct loader *L, const struct sy_yaml_node *v, char *host, size_t hostcap,
                        uint16_t *port)
{
    const char *s = sy_yaml_str(v);
    if (!s || sy_parse_hostport(s, host, hostcap, port) != 0)
        return expected(L, v, "host:port");
    return 0;
}

/* A duration of at least min_ns. */
static int get_duration(struct loader *L, const struct sy_yaml_node *v, uint64_t min_ns,
                        const char *min_text, uint64_t *out)
{
    const char *s = sy_yaml_str(v);
    uint64_t ns;
    if (!s || sy_parse_duration_ns(s, &ns) != 0)
        return expected(L, v, "a duration such as 500ms, 2s or 1m");
    if (ns < min_ns) {
        char d[DESC_CAP];
        return fail(L, v, "must be at least %s, got %s", min_text,
                    sy_yaml_describe(v, d, sizeof d));
    }
    *out = ns;
    return 0;
}

static int get_int(struct loader *L, const struct sy_yaml_node *v, uint64_t min, uint64_t max,
                   uint64_t *out)
{
    const char *s = sy_yaml_str(v);
    if (!s || sy_parse_u64(s, min, max, out) != 0) {
        char what[64];
        snprintf(what, sizeof what, "an integer from %llu to %llu", (unsigned long long)min,
                 (unsigned long long)max);
        return expected(L, v, what);
    }
    return 0;
}

/* ---- endpoints ------------------------------------------------------------------------- */

static int f_ep_address(struct loader *L, const struct sy_yaml_node *k,
                        const struct sy_yaml_node *v)
{
    struct sy_endpoint_config *ep = L->ep;
    if (get_hostport(L, v, ep->host, sizeof ep->host, &ep->port) != 0)
        return SY_ECONFIG;
    if (ep->port == 0)
        return fail(L, v, "port 0 is not a valid endpoint port");
    ep->address = sy_xstrdup(v->scalar);
    return 0;
}

static int f_ep_labels(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    struct sy_endpoint_config *ep = L->ep;
    if (v->type != SY_YAML_MAPPING)
        return expected(L, v, "a mapping of label names to values");
    if (v->n > SY_CONFIG_MAX_LABELS)
        return fail(L, v, "too many labels (%zu; the limit is %d)", v->n, SY_CONFIG_MAX_LABELS);
    ep->labels = sy_xcalloc(v->n, sizeof *ep->labels);
    for (size_t i = 0; i < v->n; i++) {
        const struct sy_yaml_node *lk = v->keys[i], *lv = v->items[i];
        if (lk->scalar[0] == '\0')
            return fail(L, lk, "empty label name");
        if (lv->type != SY_YAML_SCALAR) {
            size_t old = path_push(L, lk->scalar, false);
            int rc = expected(L, lv, "a label value (a string)");
            path_pop(L, old);
            return rc;
        }
        ep->labels[ep->nlabels].key = sy_xstrdup(lk->scalar);
        ep->labels[ep->nlabels].value = sy_xstrdup(sy_yaml_is_null(lv) ? "" : lv->scalar);
        ep->nlabels++;
    }
    return 0;
}

static int f_ep_kv_events(struct loader *L, const struct sy_yaml_node *k,
                          const struct sy_yaml_node *v)
{
    const char *s = sy_yaml_str(v);
    char host[256];
    uint16_t port;
    if (!s || strncmp(s, "tcp://", 6) != 0 ||
        sy_parse_hostport(s + 6, host, sizeof host, &port) != 0 || port == 0)
        return expected(L, v, "tcp://host:port");
    if (strcmp(host, "*") == 0) /* copied from vLLM's publisher side, which binds */
        return fail(L, v,
                    "tcp://*:PORT is where the model server binds; give its host, as in "
                    "tcp://10.0.0.1:%u",
                    port);
    L->ep->kv_events = sy_xstrdup(s);
    return 0;
}

/* Multi-port entry (an InferencePool's pod with several targetPorts, e.g. vLLM data-parallel
 * ranks): host, targetPorts (1..8 unique ports) and supervisorPort. */
static int f_ep_host(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    const char *s = sy_yaml_str(v);
    if (!s || !*s || strlen(s) >= sizeof L->ep->host || strchr(s, '/') || strchr(s, ' '))
        return expected(L, v, "a host name or IP address");
    const char *colon = strchr(s, ':');
    if (colon && strchr(colon + 1, ':') == NULL) /* one colon: host:port, not an IPv6 address */
        return fail(L, v, "give the host alone; its ports go in targetPorts");
    snprintf(L->ep->host, sizeof L->ep->host, "%s", s[0] == '[' ? s + 1 : s);
    char *rb = strchr(L->ep->host, ']');
    if (rb)
        *rb = '\0';
    L->host_node = v;
    return 0;
}

static int f_ep_target_ports(struct loader *L, const struct sy_yaml_node *k,
                             const struct sy_yaml_node *v)
{
    if (v->type != SY_YAML_SEQUENCE || v->n == 0)
        return expected(L, v, "a list of 1 to 8 ports");
    if (v->n > SY_CONFIG_MAX_TARGET_PORTS)
        return fail(L, v, "too many ports (%zu; an InferencePool allows %d)", v->n,
                    SY_CONFIG_MAX_TARGET_PORTS);
    for (size_t i = 0; i < v->n; i++) {
        uint64_t port;
        size_t old = path_push_index(L, i);
        int rc = get_int(L, v->items[i], 1, 65535, &port);
        for (size_t j = 0; !rc && j < i; j++)
            if (L->tports[j] == port)
                rc = fail(L, v->items[i], "port %u is listed twice", (unsigned)port);
        path_pop(L, old);
        if (rc)
            return rc;
        L->tports[i] = (uint16_t)port;
    }
    L->ntports = v->n;
    L->tports_node = v;
    return 0;
}

static int f_ep_supervisor_port(struct loader *L, const struct sy_yaml_node *k,
                                const struct sy_yaml_node *v)
{
    uint64_t port;
    if (get_int(L, v, 1, 65535, &port) != 0)
        return SY_ECONFIG;
    L->ep->supervisor_port = (uint16_t)port;
    return 0;
}

static const struct field endpoint_fields[] = {
    {"address", f_ep_address},          {"labels", f_ep_labels},
    {"kvEvents", f_ep_kv_events},       {"host", f_ep_host},
    {"targetPorts", f_ep_target_ports}, {"supervisorPort", f_ep_supervisor_port},
};

/* Expands the multi-port entry just walked into L->ntports endpoints (the first is ep itself):
 * each gets "host:port", the entry's labels (copied), the supervisor port, its rank (index), and,
 * when kvEvents is set, that publisher's port + rank (vLLM offsets each rank's publisher). */
static int expand_ports(struct loader *L, const struct sy_yaml_node *item)
{
    struct sy_config *cfg = L->cfg;
    struct sy_endpoint_config *base = L->ep;
    char kvhost[256] = "";
    uint16_t kvport = 0;
    if (base->kv_events) { /* already checked as tcp://host:port */
        sy_parse_hostport(base->kv_events + 6, kvhost, sizeof kvhost, &kvport);
        if ((uint32_t)kvport + L->ntports - 1 > 65535)
            return fail(L, sy_yaml_get(item, "kvEvents"), "port %u + %zu ranks is past 65535",
                        (unsigned)kvport, L->ntports - 1);
    }
    char *kv0 = base->kv_events;
    bool v6 = strchr(base->host, ':') != NULL;
    for (size_t r = 0; r < L->ntports; r++) {
        struct sy_endpoint_config *ep = r == 0 ? base : &cfg->endpoints[cfg->nendpoints++];
        if (r > 0) {
            *ep = *base;
            ep->labels = sy_xcalloc(base->nlabels ? base->nlabels : 1, sizeof *ep->labels);
            for (size_t j = 0; j < base->nlabels; j++) {
                ep->labels[j].key = sy_xstrdup(base->labels[j].key);
                ep->labels[j].value = sy_xstrdup(base->labels[j].value);
            }
        }
        ep->port = L->tports[r];
        ep->rank = (int16_t)r;
        char buf[300];
        snprintf(buf, sizeof buf, v6 ? "[%s]:%u" : "%s:%u", base->host, (unsigned)ep->port);
        ep->address = sy_xstrdup(buf);
        if (kv0) {
            bool kv6 = strchr(kvhost, ':') != NULL;
            snprintf(buf, sizeof buf, kv6 ? "tcp://[%s]:%u" : "tcp://%s:%u", kvhost,
                     (unsigned)(kvport + r));
            ep->kv_events = sy_xstrdup(buf);
        }
    }
    free(kv0); /* the entry's own kvEvents string; every rank now owns its own */
    return 0;
}

static bool same_endpoint(const struct sy_endpoint_config *a, const struct sy_endpoint_config *b)
{
    return a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

static int load_endpoint(struct loader *L, const struct sy_yaml_node *item)
{
    struct sy_config *cfg = L->cfg;
    if (item->type != SY_YAML_MAPPING)
        return expected(L, item, "a mapping with an address");
    size_t first = cfg->nendpoints;
    struct sy_endpoint_config *ep = &cfg->endpoints[cfg->nendpoints++];
    ep->line = item->line;
    ep->rank = -1;
    L->ep = ep;
    L->ntports = 0;
    L->host_node = L->tports_node = NULL;
    int rc = WALK(L, item, endpoint_fields);
    if (rc != 0)
        return rc;
    size_t old;
    if (ep->address && (L->host_node || L->tports_node || ep->supervisor_port)) {
        old = path_push(L, "address", false);
        rc = fail(L, sy_yaml_get(item, "address"),
                  "give either address, or host with targetPorts (a multi-port entry)");
        goto out;
    }
    if (!ep->address && (L->host_node || L->tports_node)) {
        old = path_push(L, L->host_node ? "targetPorts" : "host", false);
        if (!L->host_node || !L->tports_node) {
            rc = fail(L, item,
                      "missing required key (a multi-port entry needs host and "
                      "targetPorts)");
            goto out;
        }
        path_pop(L, old);
        old = path_push(L, "supervisorPort", false);
        for (size_t r = 0; r < L->ntports; r++)
            if (ep->supervisor_port == L->tports[r]) {
                rc = fail(L, sy_yaml_get(item, "supervisorPort"),
                          "%u is also a target port (vLLM refuses that too)",
                          (unsigned)ep->supervisor_port);
                goto out;
            }
        path_pop(L, old);
        old = path_push(L, "kvEvents", false);
        if ((rc = expand_ports(L, item)) != 0)
            goto out;
        path_pop(L, old);
    } else if (ep->supervisor_port) {
        old = path_push(L, "supervisorPort", false);
        rc = fail(L, sy_yaml_get(item, "supervisorPort"),
                  "belongs to a multi-port entry (host with targetPorts)");
        goto out;
    }
    old = path_push(L, "address", false);
    if (!ep->address) {
        rc = fail(L, item, "missing required key");
        goto out;
    }
    for (size_t i = first; i < cfg->nendpoints; i++)
        for (size_t j = 0; j < i; j++) {
            if (same_endpoint(&cfg->endpoints[j], &cfg->endpoints[i])) {
                const struct sy_yaml_node *at = sy_yaml_get(item, "address");
                rc = fail(L, at ? at : L->tports_node, "duplicate endpoint %s (also at line %d)",
                          cfg->endpoints[i].address, cfg->endpoints[j].line);
                goto out;
            }
        }
out:
    path_pop(L, old);
    return rc;
}

static int f_endpoints(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    struct sy_config *cfg = L->cfg;
    if (v->type != SY_YAML_SEQUENCE)
        return expected(L, v, "a list of endpoints");
    if (v->n == 0)
        return fail(L, v, "at least one endpoint is required");
    if (v->n > SY_CONFIG_MAX_ENDPOINTS)
        return fail(L, v, "too many endpoints (%zu; the limit is %d)", v->n,
                    SY_CONFIG_MAX_ENDPOINTS);
    size_t slots = 0; /* a multi-port entry takes one slot per target port */
    for (size_t i = 0; i < v->n; i++) {
        const struct sy_yaml_node *tp =
            v->items[i]->type == SY_YAML_MAPPING ? sy_yaml_get(v->items[i], "targetPorts") : NULL;
        slots += tp && tp->type == SY_YAML_SEQUENCE && tp->n > 1
                     ? (tp->n < SY_CONFIG_MAX_TARGET_PORTS ? tp->n : SY_CONFIG_MAX_TARGET_PORTS)
                     : 1;
    }
    if (slots > SY_CONFIG_MAX_ENDPOINTS)
        return fail(L, v, "too many endpoints (%zu with every target port; the limit is %d)", slots,
                    SY_CONFIG_MAX_ENDPOINTS);
    cfg->endpoints = sy_xcalloc(slots, sizeof *cfg->endpoints);
    for (size_t i = 0; i < v->n; i++) {
        size_t old = path_push_index(L, i);
        int rc = load_endpoint(L, v->items[i]);
        path_pop(L, old);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- pool -------------------------------------------------------------------------------- */

static int f_engine(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    if (sy_engine_parse(sy_yaml_str(v), &L->cfg->engine) != 0)
        return expected(L, v, "vllm, sglang, trtllm or llamacpp");
    return 0;
}

static int f_scrape(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    L->scrape = v;
    return get_duration(L, v, MIN_SCRAPE_NS, "10ms", &L->cfg->scrape_interval_ns);
}

static int f_stale(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    L->stale = v;
    return get_duration(L, v, 1, "1ns", &L->cfg->staleness_ns);
}

static int f_disagg(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return sy_disagg_config_parse(v, &L->cfg->disagg, L->err, L->errcap);
}

static char *resolve_path(const char *base, const char *rel);

/* Opens the file the value v names (relative to the config file's directory) for reading; it must
 * be a regular file. Returns the stream with its resolved path in *path (the caller closes and
 * frees both), or NULL with *rc set after "FILE:LINE: key: cannot read PATH: why" (or "expected a
 * file path"). */
static FILE *open_named_file(struct loader *L, const struct sy_yaml_node *v, char **path, int *rc)
{
    const char *s = sy_yaml_str(v);
    if (!s || !*s) {
        *rc = expected(L, v, "a file path");
        return NULL;
    }
    *path = resolve_path(v->file ? v->file : "", s);
    /* O_NONBLOCK: a FIFO must not block the open; a directory opens too. Only a regular file
     * is read. */
    int fd = open(*path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    FILE *f = NULL;
    if (fd < 0 || fstat(fd, &st) != 0)
        *rc = fail(L, v, "cannot read %s: %s", *path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        *rc = fail(L, v, "cannot read %s: not a regular file", *path);
    else if (!(f = fdopen(fd, "r")))
        *rc = fail(L, v, "cannot read %s: %s", *path, strerror(errno));
    else
        return f;
    if (fd >= 0)
        close(fd);
    free(*path);
    *path = NULL;
    return NULL;
}

/* A PEM file's path into *out, which must be readable now: a missing file is refused here, with
 * the key's line, rather than later by OpenSSL without one. Its content is checked when the
 * generation is built (every load and reload). */
static int pem_path(struct loader *L, const struct sy_yaml_node *v, char **out)
{
    char *path;
    int rc = 0;
    FILE *f = open_named_file(L, v, &path, &rc);
    if (!f)
        return rc;
    fclose(f);
    free(*out);
    *out = path;
    return 0;
}

static int f_ptls_ca(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return pem_path(L, v, &L->cfg->upstream_ca_file);
}

static int f_ptls_name(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    const char *s = sy_yaml_str(v);
    if (!s || !*s || strlen(s) > 253 || strpbrk(s, " /:"))
        return expected(L, v, "a host name or IP address");
    free(L->cfg->upstream_server_name);
    L->cfg->upstream_server_name = sy_xstrdup(s);
    return 0;
}

static int f_ptls_insecure(struct loader *L, const struct sy_yaml_node *k,
                           const struct sy_yaml_node *v)
{
    const char *s = sy_yaml_str(v);
    bool insecure;
    if (!s || sy_parse_bool(s, &insecure) != 0)
        return expected(L, v, "true or false");
    L->cfg->upstream_tls_verify = !insecure;
    return 0;
}

static const struct field pool_tls_fields[] = {
    {"caFile", f_ptls_ca},
    {"serverName", f_ptls_name},
    {"insecureSkipVerify", f_ptls_insecure},
};

static int f_pool_tls(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    if (v->type != SY_YAML_MAPPING)
        return expected(L, v, "a mapping (an empty one, {}, verifies with the system's CAs)");
    L->cfg->upstream_tls = true;
    return WALK(L, v, pool_tls_fields);
}

/* pool.discovery is read and checked by src/discovery (discovery.c); here only its shape. */
static int f_discovery(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    if (v->type != SY_YAML_MAPPING)
        return expected(L, v, "a mapping (dns, kubernetes)");
    return 0;
}

static int f_forward_priority(struct loader *L, const struct sy_yaml_node *k,
                              const struct sy_yaml_node *v)
{
    const char *s = sy_yaml_str(v);
    if (!s || sy_parse_bool(s, &L->cfg->forward_priority) != 0)
        return expected(L, v, "true or false");
    return 0;
}

static const struct field pool_fields[] = {
    {"discovery", f_discovery},   {"engine", f_engine},
    {"scrapeInterval", f_scrape}, {"metricsStalenessThreshold", f_stale},
    {"endpoints", f_endpoints},   {"disaggregation", f_disagg},
    {"tls", f_pool_tls},          {"forwardPriority", f_forward_priority},
};

static int f_pool(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    struct sy_config *cfg = L->cfg;
    if (v->type != SY_YAML_MAPPING)
        return expected(L, v, "a mapping");
    L->pool = v;
    int rc = WALK(L, v, pool_fields);
    if (rc != 0)
        return rc;
    /* Metrics older than the threshold mark an endpoint stale; with a threshold no longer than
     * the scrape interval every endpoint would go stale between two scrapes. */
    if (cfg->staleness_ns <= cfg->scrape_interval_ns) {
        if (L->stale) {
            size_t old = path_push(L, "metricsStalenessThreshold", false);
            rc = fail(L, L->stale, "must be longer than pool.scrapeInterval (%s)",
                      L->scrape ? L->scrape->scalar : "50ms");
            path_pop(L, old);
        } else {
            size_t old = path_push(L, "scrapeInterval", false);
            rc = fail(L, L->scrape, "must be shorter than pool.metricsStalenessThreshold (2s)");
            path_pop(L, old);
        }
    }
    return rc;
}

/* ---- limits, timeouts, retry ------------------------------------------------------------- */

static int f_max_body(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    const char *s = sy_yaml_str(v);
    uint64_t n;
    if (!s || sy_parse_size(s, &n) != 0)
        return expected(L, v, "a size such as 32MiB, 512KiB or 4096");
    if (n < 1 || n > MAX_BODY_BYTES) {
        char d[DESC_CAP];
        return fail(L, v, "must be between 1 byte and 4GiB, got %s",
                    sy_yaml_describe(v, d, sizeof d));
    }
    L->cfg->max_body_bytes = n;
    return 0;
}

static int f_max_conns(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return get_int(L, v, 0, 10000000, &L->cfg->max_conns_per_worker);
}

static const struct field limits_fields[] = {
    {"maxBodyBytes", f_max_body},
    {"maxConnectionsPerWorker", f_max_conns},
};

static int f_t_connect(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return get_duration(L, v, 1000000, "1ms", &L->cfg->connect_timeout_ns);
}

static int f_t_request(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return get_duration(L, v, 1000000, "1ms", &L->cfg->request_timeout_ns);
}

static int f_t_idle(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return get_duration(L, v, 1000000, "1ms", &L->cfg->idle_timeout_ns);
}

static int f_t_drain(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return get_duration(L, v, 0, "0s", &L->cfg->drain_timeout_ns);
}

static int f_t_header(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return get_duration(L, v, 1000000, "1ms", &L->cfg->header_timeout_ns);
}

static int f_t_body(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return get_duration(L, v, 1000000, "1ms", &L->cfg->body_timeout_ns);
}

static int f_t_send(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return get_duration(L, v, 1000000, "1ms", &L->cfg->send_timeout_ns);
}

static int f_t_stream_idle(struct loader *L, const struct sy_yaml_node *k,
                           const struct sy_yaml_node *v)
{
    return get_duration(L, v, 1000000, "1ms", &L->cfg->stream_idle_ns);
}

static const struct field timeouts_fields[] = {
    {"connect", f_t_connect}, {"request", f_t_request},        {"idle", f_t_idle},
    {"drain", f_t_drain},     {"header", f_t_header},          {"body", f_t_body},
    {"send", f_t_send},       {"streamIdle", f_t_stream_idle},
};

/* ---- auth -------------------------------------------------------------------------------- */

#define MAX_API_KEYS 4096 /* keys from the config and the file together */

/* A key is printable ASCII without spaces, 8 to 512 bytes: what fits an Authorization header. */
static bool key_ok(const char *s, size_t n)
{
    if (n < 8 || n > 512)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return false;
    return true;
}

static int add_key(struct loader *L, const struct sy_yaml_node *at, const char *s, size_t n)
{
    struct sy_config *c = L->cfg;
    if (!key_ok(s, n))
        return fail(L, at, "an API key must be 8 to 512 printable ASCII characters without spaces");
    if (c->napi_keys == MAX_API_KEYS)
        return fail(L, at, "too many API keys (the limit is %d)", MAX_API_KEYS);
    c->api_keys = sy_xrealloc(c->api_keys, (c->napi_keys + 1) * sizeof *c->api_keys);
    c->api_keys[c->napi_keys++] = sy_str_dup((struct sy_str){s, n});
    return 0;
}

static int f_api_keys(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    if (v->type != SY_YAML_SEQUENCE)
        return expected(L, v, "a list of keys");
    for (size_t i = 0; i < v->n; i++) {
        const char *s = sy_yaml_str(v->items[i]);
        if (!s)
            return expected(L, v->items[i], "a key (a string)");
        if (add_key(L, v->items[i], s, strlen(s)) != 0)
            return SY_ECONFIG;
    }
    return 0;
}

static char *resolve_path(const char *base, const char *rel);

/* One key per line; blank lines and lines starting with '#' are skipped. Read at every load, so
 * SIGHUP picks up a rotated file. */
static int f_api_keys_file(struct loader *L, const struct sy_yaml_node *k,
                           const struct sy_yaml_node *v)
{
    char *path;
    int rc = 0;
    FILE *f = open_named_file(L, v, &path, &rc);
    if (!f)
        return rc;
    char line[1024];
    while (rc == 0 && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t'))
            line[--n] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        rc = add_key(L, v, p, strlen(p));
    }
    /* a read error (EISDIR, EIO) must not pass for the end of the file */
    if (rc == 0 && ferror(f))
        rc = fail(L, v, "cannot read %s: %s", path, strerror(errno));
    fclose(f);
    free(path);
    return rc;
}

static int f_protect_admin(struct loader *L, const struct sy_yaml_node *k,
                           const struct sy_yaml_node *v)
{
    const char *s = sy_yaml_str(v);
    if (!s || sy_parse_bool(s, &L->cfg->protect_admin) != 0)
        return expected(L, v, "true or false");
    return 0;
}

/* ---- tls --------------------------------------------------------------------------------- */

static int f_tls_cert(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return pem_path(L, v, &L->cfg->tls_cert_file);
}

static int f_tls_key(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return pem_path(L, v, &L->cfg->tls_key_file);
}

static int f_tls_admin(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    const char *s = sy_yaml_str(v);
    if (!s || sy_parse_bool(s, &L->cfg->tls_admin) != 0)
        return expected(L, v, "true or false");
    return 0;
}

static const struct field tls_fields[] = {
    {"certFile", f_tls_cert},
    {"keyFile", f_tls_key},
    {"admin", f_tls_admin},
};

static int f_tls(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    if (v->type != SY_YAML_MAPPING)
        return expected(L, v, "a mapping");
    int rc = WALK(L, v, tls_fields);
    if (rc == 0 && (!L->cfg->tls_cert_file || !L->cfg->tls_key_file))
        return fail(L, v, "certFile and keyFile are both required");
    return rc;
}

static const struct field auth_fields[] = {
    {"apiKeys", f_api_keys},
    {"apiKeysFile", f_api_keys_file},
    {"protectAdmin", f_protect_admin},
};

static int f_auth(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    if (v->type != SY_YAML_MAPPING)
        return expected(L, v, "a mapping");
    int rc = WALK(L, v, auth_fields);
    /* zero keys would silently run without auth (an empty or unreadable key file) */
    if (rc == 0 && L->cfg->napi_keys == 0)
        return fail(L, v,
                    "holds no key: give at least one in apiKeys or apiKeysFile (leave auth out "
                    "to run without keys)");
    return rc;
}

static int f_max_attempts(struct loader *L, const struct sy_yaml_node *k,
                          const struct sy_yaml_node *v)
{
    uint64_t n;
    if (get_int(L, v, 1, MAX_RETRIES, &n) != 0)
        return SY_ECONFIG;
    L->cfg->max_retries = (int)n;
    return 0;
}

static const struct field retry_fields[] = {
    {"maxAttempts", f_max_attempts},
};

static int f_limits(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return v->type == SY_YAML_MAPPING ? WALK(L, v, limits_fields) : expected(L, v, "a mapping");
}

static int f_timeouts(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return v->type == SY_YAML_MAPPING ? WALK(L, v, timeouts_fields) : expected(L, v, "a mapping");
}

static int f_retry(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    return v->type == SY_YAML_MAPPING ? WALK(L, v, retry_fields) : expected(L, v, "a mapping");
}

/* ---- top level --------------------------------------------------------------------------- */

static int f_listen(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    struct sy_config *cfg = L->cfg;
    return get_hostport(L, v, cfg->listen_host, sizeof cfg->listen_host, &cfg->listen_port);
}

static int f_admin(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    struct sy_config *cfg = L->cfg;
    L->admin = v;
    return get_hostport(L, v, cfg->admin_host, sizeof cfg->admin_host, &cfg->admin_port);
}

static int f_workers(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    uint64_t n;
    if (get_int(L, v, 0, SY_CONFIG_MAX_WORKERS, &n) != 0)
        return SY_ECONFIG;
    L->cfg->workers = (int)n;
    return 0;
}

static int f_busy_poll(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    if (get_duration(L, v, 0, "0s", &L->cfg->busy_poll_ns) != 0)
        return SY_ECONFIG;
    if (L->cfg->busy_poll_ns > SY_CONFIG_MAX_BUSY_POLL_NS) {
        char d[DESC_CAP];
        return fail(L, v, "must be at most 10ms, got %s", sy_yaml_describe(v, d, sizeof d));
    }
    return 0;
}

static int f_log_level(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    enum sy_log_level lvl;
    const char *s = sy_yaml_str(v);
    if (!s || sy_log_parse_level(s, &lvl) != 0)
        return expected(L, v, "debug, info, warn or error");
    L->cfg->log_level = sy_xstrdup(s);
    return 0;
}

static int f_scheduler(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    if (v->type != SY_YAML_MAPPING && v->type != SY_YAML_SCALAR)
        return expected(L, v,
                        "a mapping (an llm-d EndpointPickerConfig) or a built-in scheduler's "
                        "name (switchyard-default, llm-d-default)");
    L->sched_key = k;
    L->cfg->scheduler = v;
    return 0;
}

static int f_scheduler_file(struct loader *L, const struct sy_yaml_node *k,
                            const struct sy_yaml_node *v)
{
    if (v->type != SY_YAML_SCALAR)
        return expected(L, v, "a file path");
    L->schedf_key = k;
    L->schedf_val = v;
    return 0;
}

/* inferenceObjectives: kept as a subtree; src/flow validates it (so --check does too). */
static int f_inference_objectives(struct loader *L, const struct sy_yaml_node *k,
                                  const struct sy_yaml_node *v)
{
    if (v->type != SY_YAML_SEQUENCE)
        return expected(L, v, "a list of {name, priority}");
    L->cfg->inference_objectives = v;
    return 0;
}

/* extProc is read and checked by `switchyard epp` (src/extproc/epp_config.c); here only its shape.
 */
static int f_ext_proc(struct loader *L, const struct sy_yaml_node *k, const struct sy_yaml_node *v)
{
    if (v->type != SY_YAML_MAPPING)
        return expected(L, v,
                        "a mapping (listen, healthListen, secureServing, certFile, keyFile, "
                        "emitEndpointScores)");
    return 0;
}

static const struct field root_fields[] = {
    {"listen", f_listen},
    {"admin", f_admin},
    {"workers", f_workers},
    {"logLevel", f_log_level},
    {"busyPoll", f_busy_poll},
    {"pool", f_pool},
    {"limits", f_limits},
    {"timeouts", f_timeouts},
    {"retry", f_retry},
    {"auth", f_auth},
    {"tls", f_tls},
    {"scheduler", f_scheduler},
    {"schedulerFile", f_scheduler_file},
    {"inferenceObjectives", f_inference_objectives},
    {"extProc", f_ext_proc},
};

/* rel resolved against the directory of base (rel as is when absolute or base has no '/'). */
static char *resolve_path(const char *base, const char *rel)
{
    const char *slash = strrchr(base, '/');
    if (rel[0] == '/' || !slash)
        return sy_xstrdup(rel);
    size_t dlen = (size_t)(slash - base) + 1, rlen = strlen(rel);
    char *p = sy_xmalloc(dlen + rlen + 1);
    memcpy(p, base, dlen);
    memcpy(p + dlen, rel, rlen + 1);
    return p;
}

/* Loads schedulerFile into cfg->scheduler_root. A file that cannot be read is reported at the
 * schedulerFile key; a YAML error inside it is reported as that file's own FILE:LINE. */
static int load_scheduler_file(struct loader *L)
{
    struct sy_config *cfg = L->cfg;
    size_t old = path_push(L, "schedulerFile", false);
    int rc = 0;
    if (L->sched_key) {
        rc = fail(L, L->schedf_key, "cannot be combined with scheduler (line %d); use one",
                  L->sched_key->line);
        goto out;
    }
    if (L->schedf_val->scalar[0] == '\0') {
        rc = expected(L, L->schedf_val, "a file path");
        goto out;
    }
    free(cfg->scheduler_file);
    cfg->scheduler_file = resolve_path(cfg->file, L->schedf_val->scalar);
    char msg[512];
    cfg->scheduler_root = sy_yaml_load_file(cfg->scheduler_file, msg, sizeof msg);
    if (!cfg->scheduler_root) {
        size_t flen = strlen(cfg->scheduler_file);
        bool read_error = strncmp(msg, cfg->scheduler_file, flen) == 0 && msg[flen] == ':' &&
                          msg[flen + 1] == ' ';
        if (read_error) { /* "PATH: cannot read: ...": no line of its own, so point at the key */
            rc = fail(L, L->schedf_val, "%s", msg);
        } else {
            snprintf(L->err, L->errcap, "%s", msg);
            rc = SY_ECONFIG;
        }
        goto out;
    }
    if (cfg->scheduler_root->type != SY_YAML_MAPPING) {
        char d[DESC_CAP];
        rc = sy_yaml_errf(L->err, L->errcap, cfg->scheduler_root,
                          "expected a mapping (an llm-d EndpointPickerConfig), got %s",
                          sy_yaml_describe(cfg->scheduler_root, d, sizeof d));
        goto out;
    }
    cfg->scheduler = cfg->scheduler_root;
out:
    path_pop(L, old);
    return rc;
}

static int load_root(struct loader *L, const struct sy_yaml_node *root)
{
    struct sy_config *cfg = L->cfg;
    char d[DESC_CAP];
    if (root->type != SY_YAML_MAPPING)
        return sy_yaml_errf(L->err, L->errcap, root, "expected a mapping at the top level, got %s",
                            sy_yaml_describe(root, d, sizeof d));
    int rc = WALK(L, root, root_fields);
    if (rc != 0)
        return rc;
    const struct sy_yaml_node *listen = sy_yaml_get(root, "listen");
    const struct sy_yaml_node *xp = sy_yaml_get(root, "extProc");
    bool no_listen = !listen || sy_yaml_is_null(listen);
    if (no_listen && (!xp || sy_yaml_is_null(xp)))
        return sy_yaml_errf(L->err, L->errcap, root, "listen: missing required key");
    if (no_listen) { /* an EPP-only config: no client listener; admin defaults to llm-d's 9090 */
        cfg->listen_host[0] = '\0';
        if (!L->admin) {
            snprintf(cfg->admin_host, sizeof cfg->admin_host, "0.0.0.0");
            cfg->admin_port = 9090;
        }
        cfg->admin_shared = false;
    } else if (!L->admin) {
        memcpy(cfg->admin_host, cfg->listen_host, sizeof cfg->admin_host);
        cfg->admin_port = cfg->listen_port;
    }
    if (!no_listen)
        cfg->admin_shared = cfg->admin_port == cfg->listen_port &&
                            strcasecmp(cfg->admin_host, cfg->listen_host) == 0;
    const struct sy_yaml_node *disc = L->pool ? sy_yaml_get(L->pool, "discovery") : NULL;
    if (cfg->nendpoints == 0 && (!disc || sy_yaml_is_null(disc)))
        return sy_yaml_errf(L->err, L->errcap, L->pool ? L->pool : root,
                            "pool.endpoints: at least one endpoint is required");
    if (L->schedf_key)
        return load_scheduler_file(L);
    return 0;
}

/* ---- object ------------------------------------------------------------------------------ */

static void config_free(struct sy_config *c)
{
    for (size_t i = 0; i < c->nendpoints; i++) {
        struct sy_endpoint_config *ep = &c->endpoints[i];
        for (size_t j = 0; j < ep->nlabels; j++) {
            free(ep->labels[j].key);
            free(ep->labels[j].value);
        }
        free(ep->labels);
        free(ep->address);
        free(ep->kv_events);
    }
    free(c->endpoints);
    for (size_t i = 0; i < c->napi_keys; i++)
        free(c->api_keys[i]);
    free(c->api_keys);
    free(c->tls_cert_file);
    free(c->tls_key_file);
    free(c->upstream_ca_file);
    free(c->upstream_server_name);
    free(c->log_level);
    free(c->scheduler_file);
    sy_yaml_free(c->scheduler_root);
    sy_yaml_free(c->root);
    free(c->file);
    free(c);
}

/* Takes ownership of root; returns the validated config or NULL (root freed) with a message. */
static struct sy_config *config_from_tree(struct sy_yaml_node *root, const char *name, char *err,
                                          size_t errcap)
{
    struct sy_config *cfg = SY_NEW(struct sy_config);
    atomic_init(&cfg->refs, 1);
    cfg->file = sy_xstrdup(name);
    cfg->scheduler_file = sy_xstrdup(name);
    cfg->root = root;
    cfg->engine = SY_ENGINE_VLLM;
    cfg->scrape_interval_ns = DEFAULT_SCRAPE_NS;
    cfg->staleness_ns = DEFAULT_STALE_NS;
    cfg->max_body_bytes = DEFAULT_BODY_BYTES;
    cfg->connect_timeout_ns = DEFAULT_CONNECT_NS;
    cfg->request_timeout_ns = DEFAULT_REQUEST_NS;
    cfg->idle_timeout_ns = DEFAULT_IDLE_NS;
    cfg->drain_timeout_ns = DEFAULT_DRAIN_NS;
    cfg->max_retries = DEFAULT_RETRIES;
    sy_disagg_config_defaults(&cfg->disagg);
    cfg->header_timeout_ns = DEFAULT_HEADER_NS;
    cfg->body_timeout_ns = DEFAULT_BODY_NS;
    cfg->send_timeout_ns = DEFAULT_SEND_NS;
    cfg->stream_idle_ns = DEFAULT_STREAM_IDLE_NS;
    cfg->upstream_tls_verify = true;
    struct loader L = {.cfg = cfg, .err = err, .errcap = errcap};
    if (load_root(&L, root) != 0) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

struct sy_config *sy_config_load(const char *path, char *err, size_t errcap)
{
    char dummy[1];
    if (!err || errcap == 0) {
        err = dummy;
        errcap = sizeof dummy;
    }
    struct sy_yaml_node *root = sy_yaml_load_file(path, err, errcap);
    if (!root)
        return NULL;
    return config_from_tree(root, path, err, errcap);
}

struct sy_config *sy_config_load_string(const char *text, size_t len, const char *name, char *err,
                                        size_t errcap)
{
    char dummy[1];
    if (!err || errcap == 0) {
        err = dummy;
        errcap = sizeof dummy;
    }
    if (!name)
        name = "<string>";
    struct sy_yaml_node *root = sy_yaml_load_string(text, len, name, err, errcap);
    if (!root)
        return NULL;
    return config_from_tree(root, name, err, errcap);
}

struct sy_config *sy_config_ref(struct sy_config *c)
{
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void sy_config_unref(struct sy_config *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        config_free(c);
}

static const char *const engine_names[] = {
    [SY_ENGINE_VLLM] = "vllm",
    [SY_ENGINE_SGLANG] = "sglang",
    [SY_ENGINE_TRTLLM] = "trtllm",
    [SY_ENGINE_LLAMACPP] = "llamacpp",
};

const char *sy_engine_name(enum sy_engine e)
{
    if ((unsigned)e < sizeof engine_names / sizeof engine_names[0])
        return engine_names[e];
    return "unknown";
}

int sy_engine_parse(const char *s, enum sy_engine *out)
{
    for (size_t i = 0; s && i < sizeof engine_names / sizeof engine_names[0]; i++) {
        if (strcmp(s, engine_names[i]) == 0) {
            *out = (enum sy_engine)i;
            return 0;
        }
    }
    return SY_EINVAL;
}
