/* dns.c - pool.discovery (dispatch; kubernetes lives in k8s.c) and pool.discovery.dns: a name (a
 * Kubernetes headless Service) re-resolved on an interval.
 *
 *   pool:
 *     discovery:
 *       dns:
 *         name: vllm.llm.svc.cluster.local   (SRV: _http._tcp.vllm.llm.svc.cluster.local)
 *         port: 8000                         A/AAAA mode: the port every address serves on
 *         srv: false                         true: SRV records give targets and ports
 *         interval: 5s                       re-resolve period (>= 100ms)
 *         server: 127.0.0.1:53               nameserver to ask (default: /etc/resolv.conf's)
 *         labels: {llm-d.ai/role: decode}    labels every discovered endpoint gets
 *
 * Lookups use glibc's resolver (res_nquery, one private resolver state per lookup) in libuv's
 * thread pool, so the control loop never blocks. The discovered set is sorted; the callback runs
 * only when it changed. At most one lookup is in flight; a stop while one runs lets it finish and
 * drops its result (the state is freed by whichever of the two comes last).
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "discovery/discovery.h"
#include "discovery/k8s.h"

#define MAX_FOUND 1024

struct found {
    char addr[300]; /* "ip:port" or "[ip6]:port" */
};

struct sy_discovery {
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_work_t work;
    bool busy;    /* a lookup is in flight */
    bool stopped; /* sy_discovery_stop ran */
    bool closed;  /* the timer handle is closed */
    sy_discovery_cb *cb;
    void *ud;
    /* settings */
    char name[256];
    uint16_t port;
    bool srv;
    uint64_t interval_ms;
    bool has_server;
    struct sockaddr_in server;
    struct sy_label *labels;
    size_t nlabels;
    char *file;
    /* lookup results (written by the thread, read on the loop after) */
    struct found *res;
    size_t nres;
    int lookup_rc; /* 0 ok (possibly empty), -1 failed: keep the last set */
    char lookup_err[200];
    struct sy_k8s *k8s; /* kubernetes mode (k8s.c); the fields above are unused */
    /* last reported set */
    struct found *last;
    size_t nlast;
    bool reported;
};

/* ---- config ---- */

static const struct sy_yaml_node *dns_node(const struct sy_config *cfg)
{
    const struct sy_yaml_node *pool = sy_yaml_get(cfg->root, "pool");
    const struct sy_yaml_node *d = pool ? sy_yaml_get(pool, "discovery") : NULL;
    if (!d || sy_yaml_is_null(d))
        return NULL;
    return d;
}

bool sy_discovery_configured(const struct sy_config *cfg)
{
    return dns_node(cfg) != NULL;
}

static int parse(const struct sy_config *cfg, struct sy_discovery *d, char *err, size_t errcap)
{
    const struct sy_yaml_node *disc = dns_node(cfg);
    char desc[96];
    for (size_t i = 0; i < disc->n; i++) {
        const char *k = disc->keys[i]->scalar;
        if (strcmp(k, "dns") != 0 && strcmp(k, "kubernetes") != 0)
            return sy_yaml_errf(err, errcap, disc->keys[i],
                                "pool.discovery.%s: unknown key (dns or kubernetes)", k);
    }
    if (sy_yaml_get(disc, "dns") && sy_yaml_get(disc, "kubernetes"))
        return sy_yaml_errf(err, errcap, disc, "pool.discovery: set dns or kubernetes, not both");
    if (sy_yaml_get(disc, "kubernetes"))
        return 1; /* kubernetes mode: k8s.c reads it */
    const struct sy_yaml_node *dns = sy_yaml_get(disc, "dns");
    if (!dns || dns->type != SY_YAML_MAPPING)
        return sy_yaml_errf(err, errcap, dns ? dns : disc,
                            "pool.discovery.dns: expected a mapping with name and port");
    d->interval_ms = 5000;
    bool have_port = false;
    for (size_t i = 0; i < dns->n; i++) {
        const char *k = dns->keys[i]->scalar;
        const struct sy_yaml_node *v = dns->items[i];
        const char *s = sy_yaml_str(v);
        uint64_t u;
        if (sy_yaml_is_null(v))
            continue;
        if (strcmp(k, "name") == 0) {
            if (!s || !s[0] || strlen(s) >= sizeof d->name)
                return sy_yaml_errf(err, errcap, v,
                                    "pool.discovery.dns.name: expected a DNS "
                                    "name, got %s",
                                    sy_yaml_describe(v, desc, sizeof desc));
            snprintf(d->name, sizeof d->name, "%s", s);
        } else if (strcmp(k, "port") == 0) {
            if (!s || sy_parse_u64(s, 1, 65535, &u) != 0)
                return sy_yaml_errf(err, errcap, v,
                                    "pool.discovery.dns.port: expected 1..65535, got %s",
                                    sy_yaml_describe(v, desc, sizeof desc));
            d->port = (uint16_t)u;
            have_port = true;
        } else if (strcmp(k, "srv") == 0) {
            if (!s || sy_parse_bool(s, &d->srv) != 0)
                return sy_yaml_errf(err, errcap, v,
                                    "pool.discovery.dns.srv: expected true or false, got %s",
                                    sy_yaml_describe(v, desc, sizeof desc));
        } else if (strcmp(k, "interval") == 0) {
            if (!s || sy_parse_duration_ns(s, &u) != 0 || u < 100000000ull)
                return sy_yaml_errf(err, errcap, v,
                                    "pool.discovery.dns.interval: expected a duration of at "
                                    "least 100ms, got %s",
                                    sy_yaml_describe(v, desc, sizeof desc));
            d->interval_ms = u / 1000000ull;
        } else if (strcmp(k, "server") == 0) {
            char host[64];
            uint16_t port;
            if (!s || sy_parse_hostport(s, host, sizeof host, &port) != 0 ||
                inet_pton(AF_INET, host, &d->server.sin_addr) != 1)
                return sy_yaml_errf(err, errcap, v,
                                    "pool.discovery.dns.server: expected IPv4:port, got %s",
                                    sy_yaml_describe(v, desc, sizeof desc));
            d->server.sin_family = AF_INET;
            d->server.sin_port = htons(port);
            d->has_server = true;
        } else if (strcmp(k, "labels") == 0) {
            if (v->type != SY_YAML_MAPPING)
                return sy_yaml_errf(err, errcap, v,
                                    "pool.discovery.dns.labels: expected a mapping");
            d->labels = sy_xcalloc(v->n ? v->n : 1, sizeof *d->labels);
            for (size_t j = 0; j < v->n; j++) {
                const char *lv = sy_yaml_str(v->items[j]);
                if (!lv)
                    return sy_yaml_errf(err, errcap, v->items[j],
                                        "pool.discovery.dns.labels.%s: expected a string",
                                        v->keys[j]->scalar);
                d->labels[d->nlabels].key = sy_xstrdup(v->keys[j]->scalar);
                d->labels[d->nlabels].value = sy_xstrdup(lv);
                d->nlabels++;
            }
        } else {
            return sy_yaml_errf(err, errcap, dns->keys[i], "pool.discovery.dns.%s: unknown key", k);
        }
    }
    if (!d->name[0])
        return sy_yaml_errf(err, errcap, dns, "pool.discovery.dns.name: missing required key");
    if (!d->srv && !have_port)
        return sy_yaml_errf(err, errcap, dns,
                            "pool.discovery.dns.port: required unless srv is true");
    return 0;
}

static void settings_free(struct sy_discovery *d)
{
    for (size_t i = 0; i < d->nlabels; i++) {
        free(d->labels[i].key);
        free(d->labels[i].value);
    }
    free(d->labels);
    free(d->res);
    free(d->last);
    free(d->file);
    free(d);
}

int sy_discovery_check(const struct sy_config *cfg, char *err, size_t errcap)
{
    if (!sy_discovery_configured(cfg))
        return 0;
    struct sy_discovery *d = sy_xcalloc(1, sizeof *d);
    int rc = parse(cfg, d, err, errcap);
    settings_free(d);
    if (rc == 1)
        return sy_k8s_check(sy_yaml_get(dns_node(cfg), "kubernetes"), err, errcap);
    return rc ? SY_ECONFIG : 0;
}

struct sy_config *sy_discovery_config_load(const char *path, char *err, size_t errcap)
{
    struct sy_config *cfg = sy_config_load(path, err, errcap);
    if (cfg && sy_discovery_check(cfg, err, errcap) != 0) {
        sy_config_unref(cfg);
        return NULL;
    }
    return cfg;
}

/* ---- lookups (resolver thread) ---- */

static void add_found(struct sy_discovery *d, int family, const void *ip, uint16_t port)
{
    if (d->nres >= MAX_FOUND)
        return;
    char a[INET6_ADDRSTRLEN];
    inet_ntop(family, ip, a, sizeof a);
    if (family == AF_INET6)
        snprintf(d->res[d->nres].addr, sizeof d->res[0].addr, "[%s]:%u", a, port);
    else
        snprintf(d->res[d->nres].addr, sizeof d->res[0].addr, "%s:%u", a, port);
    d->nres++;
}

/* One query; returns the answer length, 0 for "no such name / no data", -1 on failure. */
static int query(res_state st, const char *name, int type, unsigned char *ans, int cap, char *err,
                 size_t errcap)
{
    int n = res_nquery(st, name, ns_c_in, type, ans, cap);
    if (n >= 0)
        return n;
    if (st->res_h_errno == HOST_NOT_FOUND || st->res_h_errno == NO_DATA)
        return 0;
    snprintf(err, errcap, "%.120s: %s", name, hstrerror(st->res_h_errno));
    return -1;
}

/* Address records of name (A then AAAA) with port. -1 when both lookups failed (a server that
 * answers A but fails AAAA, as some do for IPv4-only names, still counts). */
static int resolve_addrs(struct sy_discovery *d, res_state st, const char *name, uint16_t port)
{
    static const int types[] = {ns_t_a, ns_t_aaaa};
    unsigned char ans[8192];
    int failed = 0;
    for (int t = 0; t < 2; t++) {
        int n = query(st, name, types[t], ans, sizeof ans, d->lookup_err, sizeof d->lookup_err);
        if (n < 0) {
            failed++;
            continue;
        }
        ns_msg msg;
        if (n == 0 || ns_initparse(ans, n, &msg) < 0)
            continue;
        for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
            ns_rr rr;
            if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
                break;
            if (ns_rr_type(rr) == ns_t_a && ns_rr_rdlen(rr) == 4)
                add_found(d, AF_INET, ns_rr_rdata(rr), port);
            else if (ns_rr_type(rr) == ns_t_aaaa && ns_rr_rdlen(rr) == 16)
                add_found(d, AF_INET6, ns_rr_rdata(rr), port);
        }
    }
    return failed == 2 ? -1 : 0;
}

static int cmp_found(const void *a, const void *b)
{
    return strcmp(((const struct found *)a)->addr, ((const struct found *)b)->addr);
}

static void lookup_work(uv_work_t *w)
{
    struct sy_discovery *d = w->data;
    d->nres = 0;
    d->lookup_rc = 0;
    d->lookup_err[0] = '\0';
    struct __res_state st;
    memset(&st, 0, sizeof st);
    if (res_ninit(&st) != 0) {
        d->lookup_rc = -1;
        snprintf(d->lookup_err, sizeof d->lookup_err, "resolver initialisation failed");
        return;
    }
    if (d->has_server) {
        st.nscount = 1;
        st.nsaddr_list[0] = d->server;
    }
    st.retrans = 1;
    st.retry = 2;
    if (!d->srv) {
        d->lookup_rc = resolve_addrs(d, &st, d->name, d->port);
    } else {
        unsigned char ans[8192];
        int n = query(&st, d->name, ns_t_srv, ans, sizeof ans, d->lookup_err, sizeof d->lookup_err);
        ns_msg msg;
        if (n < 0) {
            d->lookup_rc = -1;
        } else if (n > 0 && ns_initparse(ans, n, &msg) == 0) {
            for (int i = 0; i < ns_msg_count(msg, ns_s_an) && d->lookup_rc == 0; i++) {
                ns_rr rr;
                if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
                    break;
                if (ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7)
                    continue;
                const unsigned char *rd = ns_rr_rdata(rr);
                uint16_t port = (uint16_t)(rd[4] << 8 | rd[5]);
                char target[NS_MAXDNAME];
                if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rd + 6, target,
                                       sizeof target) < 0)
                    continue;
                if (resolve_addrs(d, &st, target, port) != 0)
                    d->lookup_rc = -1;
            }
        }
    }
    res_nclose(&st);
    qsort(d->res, d->nres, sizeof *d->res, cmp_found);
    /* drop duplicates */
    size_t o = 0;
    for (size_t i = 0; i < d->nres; i++)
        if (o == 0 || strcmp(d->res[o - 1].addr, d->res[i].addr) != 0)
            d->res[o++] = d->res[i];
    d->nres = o;
}

static void timer_closed(uv_handle_t *h)
{
    struct sy_discovery *d = h->data;
    d->closed = true;
    if (!d->busy)
        settings_free(d);
}

static void report(struct sy_discovery *d)
{
    struct sy_endpoint_config *eps = sy_xcalloc(d->nres ? d->nres : 1, sizeof *eps);
    for (size_t i = 0; i < d->nres; i++) {
        eps[i].address = sy_xstrdup(d->res[i].addr);
        eps[i].rank = -1; /* one endpoint per address, not a multi-port entry's rank */
        sy_parse_hostport(d->res[i].addr, eps[i].host, sizeof eps[i].host, &eps[i].port);
        eps[i].labels = sy_xcalloc(d->nlabels ? d->nlabels : 1, sizeof *eps[i].labels);
        for (size_t j = 0; j < d->nlabels; j++) {
            eps[i].labels[j].key = sy_xstrdup(d->labels[j].key);
            eps[i].labels[j].value = sy_xstrdup(d->labels[j].value);
        }
        eps[i].nlabels = d->nlabels;
    }
    d->cb(d->ud, eps, d->nres);
    sy_discovery_free_eps(eps, d->nres);
}

static void lookup_done(uv_work_t *w, int status)
{
    struct sy_discovery *d = w->data;
    d->busy = false;
    if (d->stopped) {
        if (d->closed)
            settings_free(d);
        return;
    }
    if (status != 0)
        return;
    if (d->lookup_rc != 0) {
        sy_warn("discovery: DNS lookup failed, keeping %zu endpoints: %s", d->nlast, d->lookup_err);
        return;
    }
    bool same = d->reported && d->nres == d->nlast;
    for (size_t i = 0; same && i < d->nres; i++)
        same = strcmp(d->res[i].addr, d->last[i].addr) == 0;
    if (same)
        return;
    sy_info("discovery: %s now has %zu endpoints (was %zu)", d->name, d->nres, d->nlast);
    free(d->last);
    d->last = sy_xcalloc(d->nres ? d->nres : 1, sizeof *d->last);
    memcpy(d->last, d->res, d->nres * sizeof *d->res);
    d->nlast = d->nres;
    d->reported = true;
    report(d);
}

static void on_tick(uv_timer_t *t)
{
    struct sy_discovery *d = t->data;
    if (d->busy || d->stopped)
        return;
    d->busy = true;
    d->work.data = d;
    uv_queue_work(d->loop, &d->work, lookup_work, lookup_done);
}

struct sy_discovery *sy_discovery_start(uv_loop_t *loop, const struct sy_config *cfg,
                                        sy_discovery_cb *cb, void *ud, char *err, size_t errcap)
{
    struct sy_discovery *d = sy_xcalloc(1, sizeof *d);
    int rc = parse(cfg, d, err, errcap);
    if (rc == 1) {
        d->k8s = sy_k8s_start(loop, sy_yaml_get(dns_node(cfg), "kubernetes"), cb, ud, err, errcap);
        if (!d->k8s) {
            settings_free(d);
            return NULL;
        }
        d->stopped = false;
        return d;
    }
    if (rc != 0) {
        settings_free(d);
        return NULL;
    }
    d->loop = loop;
    d->cb = cb;
    d->ud = ud;
    d->res = sy_xcalloc(MAX_FOUND, sizeof *d->res);
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, on_tick, 0, d->interval_ms);
    return d;
}

void sy_discovery_stop(struct sy_discovery *d)
{
    if (!d || d->stopped)
        return;
    d->stopped = true;
    if (d->k8s) {
        sy_k8s_stop(d->k8s);
        settings_free(d);
        return;
    }
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, timer_closed);
}

/* ---- endpoint lists ---- */

void sy_discovery_free_eps(struct sy_endpoint_config *eps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(eps[i].address);
        for (size_t j = 0; j < eps[i].nlabels; j++) {
            free(eps[i].labels[j].key);
            free(eps[i].labels[j].value);
        }
        free(eps[i].labels);
        free(eps[i].kv_events);
    }
    free(eps);
}

struct sy_endpoint_config *sy_discovery_merge(const struct sy_config *cfg,
                                              const struct sy_endpoint_config *disc, size_t nd,
                                              size_t *n_out)
{
    size_t cap = cfg->nendpoints + nd;
    struct sy_endpoint_config *out = sy_xcalloc(cap ? cap : 1, sizeof *out);
    size_t n = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        const struct sy_endpoint_config *src = pass == 0 ? cfg->endpoints : disc;
        size_t ns = pass == 0 ? cfg->nendpoints : nd;
        for (size_t i = 0; i < ns; i++) {
            bool dup = false;
            for (size_t j = 0; j < n && !dup; j++)
                dup = strcmp(out[j].address, src[i].address) == 0;
            if (dup)
                continue;
            struct sy_endpoint_config *e = &out[n++];
            *e = src[i];
            e->address = sy_xstrdup(src[i].address);
            e->kv_events = src[i].kv_events ? sy_xstrdup(src[i].kv_events) : NULL;
            e->labels = sy_xcalloc(src[i].nlabels ? src[i].nlabels : 1, sizeof *e->labels);
            for (size_t j = 0; j < src[i].nlabels; j++) {
                e->labels[j].key = sy_xstrdup(src[i].labels[j].key);
                e->labels[j].value = sy_xstrdup(src[i].labels[j].value);
            }
        }
    }
    *n_out = n;
    return out;
}
