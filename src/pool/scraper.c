/* scraper.c - the data layer's poller (llm-d's metrics-data-source + core-metrics-extractor).
 *
 * One repeating timer at pool.scrapeInterval (llm-d: --refresh-metrics-interval, 50 ms). On each
 * tick every endpoint without a poll in flight gets `GET /metrics` over a pooled keep-alive
 * connection; the body (bounded at SY_SCRAPE_MAX_BODY) is parsed with the engine's metric names.
 * Every SY_SCRAPE_MODELS_EVERY ticks the endpoint's `GET /v1/models` is fetched too, so the
 * gateway can answer /v1/models and refuse models no endpoint serves.
 *
 * Readiness: a connect or I/O failure or a 5xx marks the endpoint not ready at once (the
 * scheduler skips it) until a later scrape succeeds. A 200 whose body lacks the engine's core
 * metrics (or a 404: a server started without metrics) keeps the endpoint ready with unknown
 * load (-1), logged once, so a fleet without metrics still gets routed to.
 *
 * A poll that times out (the server took the connection and the request, then did not answer
 * within the poll timeout) is a slow server, not a dead one: on a starved host every replica's
 * /metrics can take seconds while each still serves its requests, and dropping them all turned
 * a busy fleet into 503 no_ready_endpoints for every request (issue 19's grid lost 130 and 294
 * requests in two runs of one cell that way). Such an endpoint stays ready, routed on its last
 * metrics, while those are at most pool.metricsStalenessThreshold old or it answered a proxied
 * request within that time (pool.h, sy_endpoint_scrape_timed_out); after that it is marked not
 * ready as before.
 * llm-d never drops a pod for a failed poll (membership is the pod's Kubernetes readiness; its
 * scorers read whatever metrics are current), so this is the closer behaviour; a refused or
 * reset connection still drops the endpoint at once, and so does a proxied connect failure.
 *
 * Data-parallel supervisor (an endpoint with supervisor_port, docs/wide-ep.md): every tick also
 * `GET /readyz` on host:supervisor_port; anything but a 200 (vLLM's supervisor answers 200 only
 * when every rank's /health is 200), a connection failure included, marks the endpoint not ready
 * until a later /readyz is 200. All ranks of the pod poll the same supervisor, so all leave
 * together.
 *
 * Generations: each poll holds a reference to its endpoint; after a reload the next tick polls the
 * new pool, and polls of removed endpoints complete harmlessly.
 */
#include "pool/attrs.h"
#include "pool/scraper.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "http/client.h"
#include "metrics/metrics.h"

#define SY_SCRAPE_MAX_BODY     (4u << 20) /* bytes of /metrics or /v1/models kept */
#define SY_SCRAPE_MODELS_EVERY 20         /* ticks between /v1/models refreshes */

struct poll;

struct sy_scraper {
    uv_loop_t *loop;
    uv_timer_t timer;               /* the tick */
    struct sy_upstream_pool *conns; /* keep-alive connections to endpoints */
    struct sy_pool *pool;           /* current pool (reference) */
    uint64_t interval_ns;
    uint64_t timeout_ns;
    uint64_t timeout_set;            /* the caller's timeout (0: derived from the interval) */
    uint64_t staleness_ns;           /* pool.metricsStalenessThreshold */
    uint64_t ticks;                  /* ticks so far */
    struct poll *polls;              /* in-flight polls (list) */
    struct sy_metric_family *errors; /* datalayer_poll_errors_total */
    bool stopping;
};

struct poll {
    struct sy_scraper *s;
    struct sy_endpoint *ep; /* reference */
    bool models;            /* GET /v1/models instead of /metrics */
    bool supervisor;        /* GET /readyz on the endpoint's DP supervisor port instead */
    struct sy_upstream_req *up;
    struct sy_buf req;  /* request bytes */
    struct sy_buf body; /* response body */
    int status;
    bool truncated;
    struct poll *next, *prev;
};

static uint8_t busy_bit(bool models)
{
    return models ? 2 : 1;
}

#define SUPERVISOR_BUSY 4 /* scrape_busy bit of a supervisor /readyz poll */

static uint8_t poll_bit(const struct poll *p)
{
    return p->supervisor ? SUPERVISOR_BUSY : busy_bit(p->models);
}

static void poll_unlink_free(struct poll *p)
{
    struct sy_scraper *s = p->s;
    if (p->prev)
        p->prev->next = p->next;
    else
        s->polls = p->next;
    if (p->next)
        p->next->prev = p->prev;
    /* mark the endpoint free for the next tick */
    p->ep->scrape_busy &= (uint8_t)~poll_bit(p);
    sy_endpoint_unref(p->ep);
    sy_buf_fini(&p->req);
    sy_buf_fini(&p->body);
    free(p);
}

static void count_error(struct sy_scraper *s, struct sy_endpoint *ep)
{
    if (s->errors) {
        const char *lv[] = {ep->address, NULL};
        sy_metric_inc(sy_metric_get(s->errors, lv));
    }
}

static void on_head(void *ud, const struct sy_upstream_head *h)
{
    struct poll *p = ud;
    p->status = h->status;
}

static void on_body(void *ud, const char *d, size_t n)
{
    struct poll *p = ud;
    if (p->body.len + n > SY_SCRAPE_MAX_BODY) {
        p->truncated = true;
        return;
    }
    sy_buf_append(&p->body, d, n);
}

static void apply_models(struct poll *p)
{
    cJSON *root = cJSON_ParseWithLength(p->body.data ? p->body.data : "", p->body.len);
    const cJSON *data = root ? cJSON_GetObjectItemCaseSensitive(root, "data") : NULL;
    if (!cJSON_IsArray(data)) {
        cJSON_Delete(root);
        return;
    }
    const char *ids[SY_MAX_MODELS];
    char *json[SY_MAX_MODELS];
    uint32_t adapters = 0;
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, data)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!cJSON_IsString(id) || n == SY_MAX_MODELS)
            continue;
        /* the public fields llm-d's models-responder returns, with the server's values */
        cJSON *pub = cJSON_CreateObject();
        static const char *const fields[] = {"id", "object", "created", "owned_by",
                                             "shutdown_date"};
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, fields[f]);
            if ((cJSON_IsString(v) && *v->valuestring) || (cJSON_IsNumber(v) && v->valuedouble))
                cJSON_AddItemToObject(pub, fields[f], cJSON_Duplicate(v, 0));
        }
        const cJSON *parent = cJSON_GetObjectItemCaseSensitive(it, "parent");
        if (cJSON_IsString(parent) && *parent->valuestring)
            adapters |= 1u << n;
        json[n] = cJSON_PrintUnformatted(pub);
        cJSON_Delete(pub);
        ids[n++] = id->valuestring;
    }
    if (n)
        sy_endpoint_set_models_meta(p->ep, ids, (const char *const *)json, adapters, n);
    for (size_t i = 0; i < n; i++)
        cJSON_free(json[i]);
    cJSON_Delete(root);
}

static void on_done(void *ud, int err)
{
    struct poll *p = ud;
    struct sy_scraper *s = p->s;
    uint64_t now = sy_now_ns();
    p->up = NULL;
    if (p->supervisor) {
        bool down = err != 0 || p->status != 200;
        if (down != atomic_load(&p->ep->supervisor_down))
            sy_warn("endpoint %s: data-parallel supervisor %s:%u %s", p->ep->address, p->ep->host,
                    (unsigned)p->ep->supervisor_port,
                    down ? "is not ready; rank marked not ready" : "is ready again");
        atomic_store(&p->ep->supervisor_down, down);
        poll_unlink_free(p);
        return;
    }
    if (p->models) {
        if (err == 0 && p->status == 200 && !p->truncated)
            apply_models(p);
        poll_unlink_free(p);
        return;
    }
    if (err == SY_ETIMEDOUT) { /* slow, not refused: ready on recent metrics or traffic */
        struct sy_endpoint_state st;
        sy_endpoint_snapshot(p->ep, &st);
        bool was = st.ready;
        bool kept = sy_endpoint_scrape_timed_out(p->ep, now, s->staleness_ns);
        if (was && kept && st.fail_ns <= st.update_ns) /* once per episode */
            sy_warn(
                "endpoint %s: metrics scrape timed out; routing on its last metrics (%llu ms "
                "old) while they are younger than metricsStalenessThreshold or it answers "
                "requests",
                p->ep->address,
                (unsigned long long)(now > st.update_ns ? (now - st.update_ns) / SY_NS_PER_MS : 0));
        else if (was && !kept)
            sy_warn("endpoint %s: metrics scrape timed out, its last metrics are older than "
                    "metricsStalenessThreshold and it answered no request within it; marked not "
                    "ready",
                    p->ep->address);
        count_error(s, p->ep);
        poll_unlink_free(p);
        return;
    }
    if (err != 0 || p->status >= 500) {
        struct sy_endpoint_state st;
        sy_endpoint_snapshot(p->ep, &st);
        if (st.ready || !st.fail_ns)
            sy_warn("endpoint %s: metrics scrape failed (%s); marked not ready", p->ep->address,
                    err ? sy_strerror(err) : "HTTP error status");
        sy_endpoint_set_failed(p->ep, now);
        count_error(s, p->ep);
        poll_unlink_free(p);
        return;
    }
    struct sy_engine_metrics m;
    int line = 0;
    int rc = p->status == 200
                 ? sy_engine_metrics_parse(s->pool->engine, p->body.data ? p->body.data : "",
                                           p->body.len, &m, &line)
                 : SY_ENOTFOUND;
    if (rc == SY_EPARSE || p->truncated) {
        sy_warn("endpoint %s: malformed /metrics (line %d); marked not ready", p->ep->address,
                line);
        sy_endpoint_set_failed(p->ep, now);
        count_error(s, p->ep);
    } else {
        if (rc != 0) {
            struct sy_endpoint_state st;
            sy_endpoint_snapshot(p->ep, &st);
            if (!st.scraped)
                sy_warn("endpoint %s: no %s metrics found; routing without load data",
                        p->ep->address, sy_engine_name(s->pool->engine));
            memset(&m, 0, sizeof m);
            m.waiting = m.running = m.kv_usage = -1;
            m.block_size = m.num_blocks = m.max_lora = -1;
        }
        sy_endpoint_set_metrics(p->ep, &m, now);
        if (p->status == 200) /* endpoint attributes plugins registered (pool/attrs.h) */
            sy_attr_scrape(p->ep, p->body.data ? p->body.data : "", p->body.len);
    }
    poll_unlink_free(p);
}

static const struct sy_upstream_cbs cbs = {
    .on_head = on_head, .on_body = on_body, .on_done = on_done};

/* O(1): the flag lives on the endpoint (a linear scan of the in-flight list per endpoint per
 * tick was O(n^2) at 256 endpoints). */
static bool polling(const struct sy_endpoint *ep, bool models)
{
    return (ep->scrape_busy & busy_bit(models)) != 0;
}

static void start_poll(struct sy_scraper *s, struct sy_endpoint *ep, bool models, bool sup)
{
    struct poll *p = SY_NEW(struct poll);
    p->s = s;
    p->ep = sy_endpoint_ref(ep);
    p->models = models;
    p->supervisor = sup;
    ep->scrape_busy |= poll_bit(p);
    sy_buf_init(&p->req);
    sy_buf_init(&p->body);
    char key[300];
    struct sockaddr_storage sa = ep->addr;
    if (sup) { /* the supervisor: same host, its own port */
        snprintf(key, sizeof key, strchr(ep->host, ':') ? "[%s]:%u" : "%s:%u", ep->host,
                 (unsigned)ep->supervisor_port);
        if (sa.ss_family == AF_INET6)
            ((struct sockaddr_in6 *)&sa)->sin6_port = htons(ep->supervisor_port);
        else
            ((struct sockaddr_in *)&sa)->sin_port = htons(ep->supervisor_port);
    } else {
        snprintf(key, sizeof key, "%s", ep->address);
    }
    sy_buf_printf(&p->req,
                  "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: switchyard-scraper\r\nAccept: "
                  "%s\r\n\r\n",
                  sup      ? "/readyz"
                  : models ? "/v1/models"
                           : "/metrics",
                  key, models ? "application/json" : "text/plain;version=0.0.4");
    p->next = s->polls;
    if (s->polls)
        s->polls->prev = p;
    s->polls = p;
    uv_buf_t b = uv_buf_init(p->req.data, (unsigned)p->req.len);
    char tls_name[256];
    struct sy_upstream_opts o = {.connect_timeout_ns = s->timeout_ns,
                                 .response_timeout_ns = s->timeout_ns,
                                 .may_resend = true,
                                 .tls = s->pool->tls};
    if (o.tls) /* pool.tls: endpoints speak HTTPS, their metrics too */
        o.server_name = sy_pool_tls_name(s->pool, ep, tls_name, sizeof tls_name);
    p->up = sy_upstream_send_opts(s->conns, key, (const struct sockaddr *)&sa, &b, 1, &o, &cbs, p);
}

static void tick(uv_timer_t *t)
{
    struct sy_scraper *s = t->data;
    bool models = s->ticks % SY_SCRAPE_MODELS_EVERY == 0;
    s->ticks++;
    for (size_t i = 0; i < s->pool->n; i++) {
        struct sy_endpoint *ep = s->pool->eps[i];
        if (!polling(ep, false))
            start_poll(s, ep, false, false);
        if (models && !polling(ep, true))
            start_poll(s, ep, true, false);
        if (ep->supervisor_port && !(ep->scrape_busy & SUPERVISOR_BUSY))
            start_poll(s, ep, false, true);
    }
}

static uint64_t timeout_for(uint64_t interval_ns, uint64_t timeout_ns)
{
    if (timeout_ns)
        return timeout_ns;
    /* a poll may take up to 20 intervals, at least 1 s */
    uint64_t t = interval_ns * 20;
    return t < SY_NS_PER_S ? SY_NS_PER_S : t;
}

struct sy_scraper *sy_scraper_start(uv_loop_t *loop, struct sy_pool *pool, uint64_t interval_ns,
                                    uint64_t timeout_ns, uint64_t staleness_ns,
                                    struct sy_metrics *metrics)
{
    struct sy_scraper *s = SY_NEW(struct sy_scraper);
    s->loop = loop;
    s->pool = sy_pool_ref(pool);
    s->interval_ns = interval_ns ? interval_ns : 50 * SY_NS_PER_MS;
    s->timeout_set = timeout_ns;
    s->timeout_ns = timeout_for(s->interval_ns, timeout_ns);
    s->staleness_ns = staleness_ns ? staleness_ns : 2 * SY_NS_PER_S;
    s->conns = sy_upstream_pool_new(loop, 60 * SY_NS_PER_S, 2);
    if (metrics) {
        static const char *const labels[] = {"endpoint", NULL};
        s->errors = sy_metrics_family(metrics, "datalayer_poll_errors_total",
                                      "Failed polls of model server metrics, per endpoint.",
                                      SY_METRIC_COUNTER, labels, NULL, 0);
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uint64_t ms = s->interval_ns / SY_NS_PER_MS;
    uv_timer_start(&s->timer, tick, 0, ms ? ms : 1);
    return s;
}

void sy_scraper_set_pool(struct sy_scraper *s, struct sy_pool *pool, uint64_t interval_ns,
                         uint64_t staleness_ns)
{
    if (staleness_ns)
        s->staleness_ns = staleness_ns;
    struct sy_pool *old = s->pool;
    s->pool = sy_pool_ref(pool);
    sy_pool_unref(old);
    s->ticks = 0; /* refresh model lists at once */
    if (interval_ns && interval_ns != s->interval_ns) {
        s->interval_ns = interval_ns;
        s->timeout_ns = timeout_for(interval_ns, s->timeout_set); /* it was the old interval's */
        uint64_t ms = interval_ns / SY_NS_PER_MS;
        uv_timer_start(&s->timer, tick, 0, ms ? ms : 1);
    }
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void sy_scraper_stop(struct sy_scraper *s)
{
    while (s->polls) {
        struct poll *p = s->polls;
        sy_upstream_cancel(p->up);
        poll_unlink_free(p);
    }
    sy_upstream_pool_free(s->conns);
    sy_pool_unref(s->pool);
    uv_close((uv_handle_t *)&s->timer, timer_closed);
}
