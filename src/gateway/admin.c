/* admin.c - the admin listener's routes and the informational client routes.
 *
 *   GET /health            200 while the process runs (503 while draining)
 *   GET /ready             200 when at least one endpoint is ready, else 503
 *   GET /metrics           Prometheus text exposition of every registered metric
 *   GET /debug/decisions   the scheduler's last decisions with per-scorer scores (JSON)
 *   GET /debug/endpoints   each endpoint's live state as the scheduler sees it (JSON)
 *   GET /v1/models         the union of the endpoints' /v1/models lists (client listener too)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/time.h"
#include "gateway/gateway.h"

static void respond_json(struct sy_http_req *req, int status, struct sy_buf *b)
{
    sy_http_respond(req, status, "application/json", NULL, b->data ? b->data : "", b->len);
}

void sy_gw_models_handle(struct sy_gateway *gw, struct sy_http_req *req)
{
    struct sy_gw_gen *g = sy_gw_gen_get(gw);
    struct sy_buf b;
    sy_buf_init(&b);
    if (sy_sched_has_plugin(g->sched, "models-responder")) { /* llm-d's answer, sched/ */
        if (sy_sched_models_list(g->pool, &b) == 200)
            respond_json(req, 200, &b);
        else
            sy_http_respond_error(req, 503, "service_unavailable", "models_not_collected",
                                  "no model data collected yet from any endpoint", NULL);
        sy_buf_fini(&b);
        sy_gw_gen_unref(g);
        return;
    }
    sy_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    const char *seen[1024];
    size_t nseen = 0;
    for (size_t i = 0; i < g->pool->n; i++) {
        struct sy_endpoint *e = g->pool->eps[i];
        pthread_mutex_lock(&e->mu);
        for (size_t k = 0; k < e->nmodels; k++) {
            bool dup = false;
            for (size_t j = 0; j < nseen && !dup; j++)
                dup = strcmp(seen[j], e->models[k]) == 0;
            if (dup || nseen == sizeof seen / sizeof seen[0])
                continue;
            if (nseen)
                sy_buf_puts(&b, ",");
            sy_buf_puts(&b, "{\"id\":");
            sy_buf_json_str(&b, e->models[k], strlen(e->models[k]));
            sy_buf_puts(&b, ",\"object\":\"model\",\"created\":0,\"owned_by\":\"switchyard\"}");
            /* a copy: the endpoint's list may be replaced once its lock is released */
            seen[nseen++] = sy_xstrdup(e->models[k]);
        }
        pthread_mutex_unlock(&e->mu);
    }
    sy_buf_puts(&b, "]}");
    for (size_t j = 0; j < nseen; j++)
        free((void *)seen[j]);
    respond_json(req, 200, &b);
    sy_buf_fini(&b);
    sy_gw_gen_unref(g);
}

static void endpoints_json(struct sy_gateway *gw, struct sy_buf *b)
{
    struct sy_gw_gen *g = sy_gw_gen_get(gw);
    uint64_t now = sy_now_ns();
    sy_buf_printf(b, "{\"generation\":%llu,\"engine\":\"%s\",\"endpoints\":[",
                  (unsigned long long)g->id, sy_engine_name(g->pool->engine));
    for (size_t i = 0; i < g->pool->n; i++) {
        struct sy_endpoint *e = g->pool->eps[i];
        struct sy_endpoint_state st;
        sy_endpoint_snapshot(e, &st);
        sy_buf_printf(b,
                      "%s{\"address\":\"%s\",\"ready\":%s,\"age_ms\":%.1f,\"waiting\":%g,"
                      "\"running\":%g,\"kv_cache_usage\":%g,\"block_size\":%lld,"
                      "\"num_blocks\":%lld,\"inflight_requests\":%lld,\"inflight_tokens\":%lld,"
                      "\"inflight_decode_tokens\":%lld,\"inflight_decoded\":%.3f",
                      i ? "," : "", e->address, st.ready ? "true" : "false",
                      st.scraped ? (double)(now - st.update_ns) / 1e6 : -1.0, st.m.waiting,
                      st.m.running, st.m.kv_usage, (long long)st.m.block_size,
                      (long long)st.m.num_blocks, (long long)st.inflight_requests,
                      (long long)st.inflight_tokens, (long long)st.decode_left, st.decode_done);
        /* labels; a multi-port entry's rank and data-parallel supervisor (docs/wide-ep.md) */
        sy_buf_puts(b, ",\"labels\":{");
        for (size_t j = 0; j < e->nlabels; j++) {
            if (j)
                sy_buf_puts(b, ",");
            sy_buf_json_str(b, e->labels[j].key, strlen(e->labels[j].key));
            sy_buf_puts(b, ":");
            sy_buf_json_str(b, e->labels[j].value, strlen(e->labels[j].value));
        }
        sy_buf_puts(b, "}");
        if (e->rank >= 0)
            sy_buf_printf(b, ",\"rank\":%d", (int)e->rank);
        if (e->supervisor_port)
            sy_buf_printf(b, ",\"supervisor_port\":%u,\"supervisor_ready\":%s",
                          (unsigned)e->supervisor_port,
                          atomic_load(&e->supervisor_down) ? "false" : "true");
        sy_buf_puts(b, "}");
    }
    sy_buf_puts(b, "]}");
    sy_gw_gen_unref(g);
}

bool sy_gw_admin_path(struct sy_str path)
{
    return sy_str_eq_c(path, "/health") || sy_str_eq_c(path, "/ready") ||
           sy_str_eq_c(path, "/metrics") || sy_str_eq_c(path, "/debug") ||
           (path.len >= 7 && memcmp(path.p, "/debug/", 7) == 0);
}

static bool get_or_head(const struct sy_http_req *req)
{
    return sy_str_eq_c(req->method, "GET") || sy_str_eq_c(req->method, "HEAD");
}

bool sy_gw_admin_request(const struct sy_http_req *req)
{
    return get_or_head(req) && sy_gw_admin_path(req->path);
}

bool sy_gw_admin_refused(struct sy_http_req *req)
{
    if (!sy_gw_admin_path(req->path) || sy_gw_admin_request(req))
        return false;
    char msg[300];
    snprintf(msg, sizeof msg, "Method %.*s not allowed on %.*s (admin routes answer GET and HEAD)",
             (int)(req->method.len > 20 ? 20 : req->method.len), req->method.p,
             (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p);
    sy_http_respond_error(req, 405, "invalid_request_error", "method_not_allowed", msg,
                          "Allow: GET, HEAD\r\n");
    return true;
}

bool sy_gw_admin_handle(struct sy_gateway *gw, struct sy_http_req *req)
{
    bool get = get_or_head(req);
    struct sy_buf b;
    sy_buf_init(&b);
    if (get && sy_str_eq_c(req->path, "/health")) {
        bool draining = atomic_load(&gw->draining);
        sy_buf_puts(&b, draining ? "{\"status\":\"draining\"}" : "{\"status\":\"ok\"}");
        respond_json(req, draining ? 503 : 200, &b);
    } else if (get && sy_str_eq_c(req->path, "/ready")) {
        struct sy_gw_gen *g = sy_gw_gen_get(gw);
        size_t ready = 0;
        for (size_t i = 0; i < g->pool->n; i++) {
            struct sy_endpoint_state st;
            sy_endpoint_snapshot(g->pool->eps[i], &st);
            ready += st.ready;
        }
        bool ok = ready > 0 && !atomic_load(&gw->draining);
        sy_buf_printf(&b, "{\"status\":\"%s\",\"ready_endpoints\":%zu,\"endpoints\":%zu}",
                      ok ? "ready" : "not ready", ready, g->pool->n);
        respond_json(req, ok ? 200 : 503, &b);
        sy_gw_gen_unref(g);
    } else if (get && sy_str_eq_c(req->path, "/metrics")) {
        sy_metrics_render(gw->metrics, &b);
        sy_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
                        b.data ? b.data : "", b.len);
    } else if (get && sy_str_eq_c(req->path, "/debug/decisions")) {
        struct sy_gw_gen *g = sy_gw_gen_get(gw);
        sy_sched_debug_json(g->sched, &b);
        if (!b.len)
            sy_buf_puts(&b, "[]");
        respond_json(req, 200, &b);
        sy_gw_gen_unref(g);
    } else if (get && sy_str_eq_c(req->path, "/debug/endpoints")) {
        endpoints_json(gw, &b);
        respond_json(req, 200, &b);
    } else if (get && sy_str_eq_c(req->path, "/v1/models")) {
        sy_gw_models_handle(gw, req);
    } else {
        sy_buf_fini(&b);
        return false;
    }
    sy_buf_fini(&b);
    return true;
}
