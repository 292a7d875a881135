/* runner.c - drives one benchmark run: a workload against one target on one libuv loop.
 *
 * Phases, each a uv_run() that ends with uv_stop() when its work is done (the upstream pool keeps
 * idle keep-alive sockets as active handles, so the loop never runs dry by itself):
 *
 *   1. reset    (--reset-prefix-cache) POST /reset_prefix_cache to every metrics host
 *   2. before   GET every --metrics-url, sum vllm:prefix_cache_{queries,hits}_total
 *   3. warm-up  --warmup requests one at a time; their results are discarded
 *   4. main     requests sent on the arrival schedule (timer) or kept at a concurrency (closed
 *               loop, the next request leaves when one finishes); stops issuing at the request
 *               count, the duration or the end of the stages, then waits for the stragglers
 *   5. after    the metrics again; the deltas give the prefix-cache hit rate of this run
 *
 * In-flight cap (o->max_concurrency = N with a rate, stages or burst; vLLM benchmark_serving's
 * --max-concurrency, inference-perf's num_workers x worker_max_concurrency): arrivals keep their
 * schedule, but each arrival joins a FIFO in the client (struct pend) and is sent only while
 * fewer than N requests are in flight; a finished request hands its slot to the oldest waiting
 * arrival. Every record keeps its scheduled time beside its send time, TTFT / ITL / E2E are
 * measured from the send (as inference-perf does), and send - scheduled is the schedule delay
 * (stats.c). Without a cap the FIFO is emptied as soon as it is filled, which is exactly the
 * uncapped open loop. At --duration's end or on a signal, arrivals still waiting are dropped
 * and counted in run->unsent; at the end of the stages they are still sent (they arrived in
 * the schedule).
 *
 * Stage barrier (o->stage_barrier with --stages; inference-perf's run_stage): the first
 * arrival of stage k+1 is held until every request of the earlier stages has finished, then the
 * schedule is shifted so that stage k+1 starts o->stage_interval_s later (r->shift: simulated
 * seconds added to every later arrival time). Queues therefore do not carry over from stage to
 * stage; caches do (the target is not touched).
 *
 * Every request is streamed (the workload's bodies carry "stream": true and include_usage). The
 * response is parsed as SSE as it arrives (sse.c): TTFT is taken at the first data event whose
 * first choice has non-empty "text" (completions) or "delta.content" (chat), ITL between
 * consecutive such events, output tokens from the final usage event (content events when a
 * server sends no usage). All events of one read share its timestamp, as in every client-side
 * benchmark.
 *
 * Time scale (o->time_scale = x, for a target whose clock runs x simulated seconds per wall second,
 * e.g. `switchyard sim --time-scale x`): the arrival schedule, --duration and --timeout are in
 * simulated seconds, so a request due at simulated t leaves at wall t / x (a rate R is sent at
 * R * x per wall second, a stage of D seconds lasts D / x); everything is measured on the wall
 * clock and converted once at the end (sy_bench_run_to_simulated). The connect timeout (5 s) and
 * the metrics fetches are network matters and stay in wall time.
 *
 * Sessions that wait (o->session_wait, bench's default; multi-turn and agentic workloads, whose
 * items' group is a chat session or an agent): without it (--no-session-wait) item k of the run
 * is workload item k % n whatever is in flight, so a session's turn k+1 can leave while its turn k
 * is still streaming, which no chat user or agent does. With it, an item whose session has a
 * request in flight is not sent until that request ends (success or error): when a slot frees
 * (closed loop) or an arrival is due (open loop), the runner sends the first item in run order
 * whose session is idle. Items passed over are held, in run order, and go before any later item
 * once their session frees, so a session's turns still leave in order (turns.c, which also bounds
 * what is held). If no item is sendable the slot stays empty (closed loop) or the due arrival waits
 * in the FIFO (open loop) until a request ends; that cannot deadlock, since with nothing in flight
 * every session is idle. An open-loop arrival keeps its scheduled time: the wait for the session
 * shows as schedule delay (send - scheduled) and TTFT / ITL / E2E are still measured from the send.
 * Warm-up requests go one at a time, so they never overlap a session anyway. Other workloads have
 * no sessions and the flag changes nothing for them.
 *
 * SIGINT / SIGTERM: in-flight requests are cancelled (counted in run->cancelled), the run ends
 * with what finished, run->interrupted is set and the caller prints partial results.
 *
 * Ownership: the runner borrows the workload's bodies for the lifetime of each request; a struct
 * breq is freed in its on_done or when it is cancelled. Single-threaded (one loop).
 */
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "bench/bench.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"
#include "core/time.h"
#include "http/client.h"

#define MAX_ERR_BODY    512 /* bytes of a non-200 body kept for the message */
#define CONNECT_TIMEOUT (5 * SY_NS_PER_S)

struct target {
    char host[256];               /* host name or address */
    uint16_t port;                /* TCP port */
    char prefix[256];             /* path prefix without trailing '/' and without "/v1" */
    char path[256];               /* full path (metrics URLs) */
    char key[300];                /* pool key "host:port" */
    struct sockaddr_storage addr; /* resolved */
};

enum breq_kind { BREQ_BENCH, BREQ_WARM, BREQ_FETCH };

struct runner;

struct breq {
    struct runner *r;           /* owner */
    enum breq_kind kind;        /* what the response feeds */
    struct sy_upstream_req *ur; /* in flight */
    struct breq *prev, *next;   /* in-flight list (for cancellation) */
    char *head;                 /* owned request line + headers */
    uv_buf_t bufs[2];           /* head, body (borrowed from the workload) */
    uint64_t t_start, t_last;   /* ns */
    int status;                 /* HTTP status */
    struct sy_buf buf;          /* error or metrics body */
    struct sy_req_rec rec;      /* being filled */
    double *gaps;               /* ITL of this request, flushed on success */
    size_t ngaps, gaps_cap;     /* used, allocated */
    struct sy_sse sse;          /* the streamed response (status 200) */
    size_t fetch_index;         /* BREQ_FETCH: which metrics URL */
    size_t pos;                 /* BREQ_BENCH: run position (turns.c) */
};

/* An arrival waiting in the client for an in-flight slot. */
struct pend {
    double due_s; /* scheduled time, wall seconds since t0 */
    int stage;    /* --stages: its stage (else -1) */
};

struct runner {
    uv_loop_t loop;                            /* private loop */
    struct sy_upstream_pool *pool;             /* keep-alive connections */
    const struct sy_bench_opts *o;             /* borrowed */
    const struct sy_workload *w;               /* borrowed */
    struct sy_bench_run *run;                  /* borrowed; filled */
    struct target tgt;                         /* the benchmarked URL */
    struct target mt[SY_BENCH_MAX_METRICS];    /* metrics URLs */
    struct sy_buf mtext[SY_BENCH_MAX_METRICS]; /* their last bodies */
    bool mok[SY_BENCH_MAX_METRICS];            /* last fetch succeeded */
    struct sy_arrival arr;                     /* this run's schedule (simulated seconds) */
    double scale;                              /* simulated seconds per wall second (> 0) */
    uint64_t t0;                               /* main phase start (ns) */
    size_t issued, limit;                      /* requests sent / to send */
    size_t arrived;                            /* arrivals taken from the schedule */
    struct pend *pend;                         /* owned FIFO of arrivals not yet sent */
    size_t pend_head, pend_n, pend_cap;        /* first waiting, past the last, allocated */
    size_t cap;                                /* in-flight cap (SIZE_MAX = none) */
    double shift;                              /* stage barrier: simulated s added to arrivals */
    size_t cur_stage;                          /* stage barrier: stage being sent */
    double next_due;                           /* simulated s since t0, -1 = schedule over */
    bool stop_issuing;                         /* no more requests */
    bool interrupted;                          /* SIGINT/SIGTERM */
    size_t inflight;                           /* requests in flight (any kind) */
    unsigned warm_left;                        /* warm-up requests still to send */
    struct breq *head;                         /* in-flight list */
    uv_timer_t tick;                           /* next arrival */
    uv_timer_t progress;                       /* progress line */
    uv_timer_t deadline;                       /* --duration */
    uv_signal_t sigint, sigterm;               /* stop cleanly */
    bool progress_shown;                       /* a progress line was printed */
    struct sy_turns turns;                     /* which item goes next (turns.c) */
};

/* ---- URLs -------------------------------------------------------------------------------- */

static int parse_url(const char *url, struct target *t, char *err, size_t errcap)
{
    memset(t, 0, sizeof *t);
    const char *p = url;
    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strstr(p, "://")) {
        snprintf(err, errcap, "%s: only http:// URLs are supported", url);
        return SY_EINVAL;
    }
    const char *slash = strchr(p, '/');
    size_t alen = slash ? (size_t)(slash - p) : strlen(p);
    char auth[300];
    if (alen == 0 || alen >= sizeof auth) {
        snprintf(err, errcap, "%s: expected http://HOST:PORT[/PATH]", url);
        return SY_EINVAL;
    }
    memcpy(auth, p, alen);
    auth[alen] = '\0';
    bool has_port = auth[0] == '[' ? strstr(auth, "]:") != NULL : strchr(auth, ':') != NULL;
    if (!has_port) {
        size_t l = strlen(auth);
        if (l + 4 >= sizeof auth) {
            snprintf(err, errcap, "%s: host too long", url);
            return SY_EINVAL;
        }
        memcpy(auth + l, ":80", 4);
    }
    if (sy_parse_hostport(auth, t->host, sizeof t->host, &t->port) != 0 || t->port == 0) {
        snprintf(err, errcap, "%s: bad host:port '%s'", url, auth);
        return SY_EINVAL;
    }
    const char *path = slash ? slash : "";
    if (strlen(path) >= sizeof t->path) {
        snprintf(err, errcap, "%s: path too long", url);
        return SY_EINVAL;
    }
    snprintf(t->path, sizeof t->path, "%s", path);
    for (const char *c = path; *c; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            snprintf(err, errcap, "%s: control character or space in the path", url);
            return SY_EINVAL;
        }
    }
    snprintf(t->prefix, sizeof t->prefix, "%s", path);
    size_t pl = strlen(t->prefix);
    while (pl > 0 && t->prefix[pl - 1] == '/')
        t->prefix[--pl] = '\0';
    if (pl >= 3 && strcmp(t->prefix + pl - 3, "/v1") == 0)
        t->prefix[pl - 3] = '\0';
    bool v6 = strchr(t->host, ':') != NULL;
    snprintf(t->key, sizeof t->key, v6 ? "[%s]:%u" : "%s:%u", t->host, t->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", t->port);
    int g = getaddrinfo(t->host, port, &hints, &res);
    if (g != 0 || !res) {
        snprintf(err, errcap, "%s: cannot resolve '%s': %s", url, t->host, gai_strerror(g));
        return SY_ECONNECT;
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* ---- Prometheus ---------------------------------------------------------------------------- */

bool sy_bench_prom_sum(const char *text, size_t len, const char *name, double *out)
{
    size_t nl = strlen(name);
    bool found = false;
    double sum = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *q = p;
        p = eol + 1;
        if ((size_t)(eol - q) <= nl || memcmp(q, name, nl) != 0)
            continue;
        q += nl;
        if (*q == '{') {
            bool inq = false;
            for (q++; q < eol; q++) {
                if (inq && *q == '\\' && q + 1 < eol)
                    q++;
                else if (*q == '"')
                    inq = !inq;
                else if (!inq && *q == '}')
                    break;
            }
            if (q >= eol)
                continue;
            q++;
        }
        if (q >= eol || (*q != ' ' && *q != '\t'))
            continue;
        while (q < eol && (*q == ' ' || *q == '\t'))
            q++;
        char num[64];
        size_t k = 0;
        while (q < eol && *q != ' ' && *q != '\t' && *q != '\r' && k + 1 < sizeof num)
            num[k++] = *q++;
        num[k] = '\0';
        char *e;
        double v = strtod(num, &e);
        if (k == 0 || *e != '\0' || !isfinite(v))
            continue;
        sum += v;
        found = true;
    }
    if (found)
        *out = sum;
    return found;
}

/* ---- requests ---------------------------------------------------------------------------- */

static double since_t0(const struct runner *r, uint64_t ns)
{
    return ns >= r->t0 ? (double)(ns - r->t0) / 1e9 : 0;
}

static void list_add(struct runner *r, struct breq *q)
{
    q->next = r->head;
    if (r->head)
        r->head->prev = q;
    r->head = q;
    r->inflight++;
}

static void list_del(struct runner *r, struct breq *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        r->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    r->inflight--;
}

static void breq_free(struct breq *q)
{
    free(q->head);
    sy_buf_fini(&q->buf);
    free(q->gaps);
    sy_sse_fini(&q->sse);
    free(q);
}

static void on_head(void *ud, const struct sy_upstream_head *h)
{
    struct breq *q = ud;
    q->status = h->status;
    if (q->kind != BREQ_BENCH)
        return;
    for (size_t i = 0; i < h->nheaders; i++) {
        if (sy_str_case_eq_c(h->names[i], "x-gateway-destination-endpoint")) {
            q->rec.endpoint = sy_bench_run_endpoint(q->r->run, h->values[i].p, h->values[i].len);
            break;
        }
    }
}

static void content_event(void *ud)
{
    struct breq *q = ud;
    uint64_t now = sy_now_ns();
    if (q->rec.events == 0) {
        q->rec.ttft_s = (double)(now - q->t_start) / 1e9;
    } else {
        if (q->ngaps == q->gaps_cap) {
            q->gaps_cap = q->gaps_cap ? q->gaps_cap * 2 : 64;
            q->gaps = sy_xrealloc(q->gaps, q->gaps_cap * sizeof *q->gaps);
        }
        q->gaps[q->ngaps++] = (double)(now - q->t_last) / 1e9;
    }
    q->t_last = now;
    q->rec.events++;
}

static void on_body(void *ud, const char *p, size_t n)
{
    struct breq *q = ud;
    if (q->kind == BREQ_FETCH || q->status != 200) {
        size_t cap = q->kind == BREQ_FETCH ? (64u << 20) : MAX_ERR_BODY;
        if (q->buf.len < cap)
            sy_buf_append(&q->buf, p, n < cap - q->buf.len ? n : cap - q->buf.len);
        return;
    }
    sy_sse_feed(&q->sse, p, n);
}

static void pump(struct runner *r);
static void issue(struct runner *r, enum breq_kind kind, const struct pend *p, size_t seq);

static enum sy_bench_err err_kind(int err)
{
    switch (err) {
    case SY_ECONNECT: return SY_BE_CONNECT;
    case SY_ETIMEDOUT: return SY_BE_TIMEOUT;
    case SY_ECLOSED: return SY_BE_CLOSED;
    default: return SY_BE_IO;
    }
}

static void finish_bench(struct breq *q, int err)
{
    struct runner *r = q->r;
    struct sy_bench_run *run = r->run;
    uint64_t now = sy_now_ns();
    q->rec.start_s = since_t0(r, q->t_start);
    q->rec.end_s = since_t0(r, now);
    char msg[MAX_ERR_BODY + 64];
    int kind = -1;
    if (err != 0) {
        kind = (int)err_kind(err);
        snprintf(msg, sizeof msg, "%s", sy_strerror(err));
    } else if (q->status == 200) {
        sy_sse_finish(&q->sse); /* the last event may lack its blank line */
    }
    if (kind >= 0) {
        /* already classified */
    } else if (q->status != 200) {
        kind = q->status == 429                      ? SY_BE_HTTP_429
               : q->status >= 400 && q->status < 500 ? SY_BE_HTTP_4XX
               : q->status >= 500                    ? SY_BE_HTTP_5XX
                                                     : SY_BE_HTTP_OTHER;
        snprintf(msg, sizeof msg, "HTTP %d: %.*s", q->status, (int)q->buf.len,
                 q->buf.data ? q->buf.data : "");
    } else if (q->sse.err) {
        kind = SY_BE_STREAM;
        snprintf(msg, sizeof msg, "%s", q->sse.err);
    } else if (q->sse.data_events == 0 && q->sse.bytes > 0) {
        kind = SY_BE_STREAM;
        snprintf(msg, sizeof msg,
                 "HTTP 200 without SSE data lines (did the server ignore "
                 "\"stream\": true?)");
    } else if (q->rec.events == 0 && !q->sse.usage) {
        kind = SY_BE_EMPTY;
        snprintf(msg, sizeof msg, "HTTP 200 with no content event and no usage");
    }
    q->rec.err = kind;
    q->rec.usage = q->sse.usage;
    q->rec.prompt_tokens = q->sse.prompt_tokens;
    q->rec.cached_tokens = q->sse.cached_tokens;
    if (kind >= 0) {
        for (char *c = msg; *c; c++)
            if (*c == '\n' || *c == '\r')
                *c = ' ';
        sy_bench_run_error(run, (enum sy_bench_err)kind, msg);
    } else {
        q->rec.out_tokens = q->sse.usage ? q->sse.completion_tokens : q->rec.events;
        q->rec.itl_first = run->nitl;
        q->rec.itl_n = q->ngaps;
        for (size_t i = 0; i < q->ngaps; i++) {
            sy_bench_run_add_itl(run, q->gaps[i]);
            q->rec.itl_sum_s += q->gaps[i];
        }
        if (q->ngaps) {
            struct sy_summary g;
            sy_stats_summarize(q->gaps, q->ngaps, &g); /* sorts: the gaps were copied above */
            q->rec.itl_p99_s = g.p99;
        }
    }
    sy_bench_run_add(run, &q->rec);
}

static void on_done(void *ud, int err)
{
    struct breq *q = ud;
    struct runner *r = q->r;
    list_del(r, q);
    q->ur = NULL;
    switch (q->kind) {
    case BREQ_BENCH:
        sy_turns_done(&r->turns, q->pos); /* its session's next turn may leave */
        finish_bench(q, err);
        breq_free(q);
        pump(r);
        return;
    case BREQ_WARM:
        breq_free(q);
        if (r->warm_left > 0 && !r->interrupted)
            issue(r, BREQ_WARM, NULL, 0);
        else
            uv_stop(&r->loop);
        return;
    case BREQ_FETCH:
        if (err == 0 && q->status / 100 == 2) {
            sy_buf_reset(&r->mtext[q->fetch_index]);
            sy_buf_append(&r->mtext[q->fetch_index], q->buf.data ? q->buf.data : "", q->buf.len);
            r->mok[q->fetch_index] = true;
        } else {
            r->mok[q->fetch_index] = false;
            fprintf(stderr, "switchyard bench: %s: %s\n", r->o->metrics_urls[q->fetch_index],
                    err ? sy_strerror(err) : "unexpected HTTP status");
        }
        breq_free(q);
        if (r->inflight == 0)
            uv_stop(&r->loop);
        return;
    }
}

static const struct sy_upstream_cbs cbs = {
    .on_head = on_head,
    .on_body = on_body,
    .on_done = on_done,
};

static void send_breq(struct runner *r, struct breq *q, const struct target *t, const char *method,
                      const char *path, const char *body, size_t blen)
{
    struct sy_buf h;
    sy_buf_init(&h);
    sy_buf_printf(&h, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: switchyard-bench\r\n", method,
                  path, t->key);
    if (q->kind != BREQ_FETCH)
        sy_buf_puts(&h, "Accept: text/event-stream\r\n");
    if (body)
        sy_buf_printf(&h, "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    else if (strcmp(method, "POST") == 0)
        sy_buf_puts(&h, "Content-Length: 0\r\n");
    sy_buf_puts(&h, "\r\n");
    size_t hl;
    q->head = sy_buf_steal(&h, &hl);
    q->bufs[0] = uv_buf_init(q->head, (unsigned)hl);
    size_t nb = 1;
    if (body && blen) {
        q->bufs[1] = uv_buf_init((char *)body, (unsigned)blen);
        nb = 2;
    }
    q->t_start = q->t_last = sy_now_ns();
    list_add(r, q);
    double tmo = r->o->timeout_s > 0 ? r->o->timeout_s : 300;
    if (q->kind != BREQ_FETCH)
        tmo = sy_bench_wall_s(tmo, r->scale); /* simulated seconds of the target */
    q->ur = sy_upstream_send(r->pool, t->key, (const struct sockaddr *)&t->addr, q->bufs, nb,
                             CONNECT_TIMEOUT, (uint64_t)(tmo * 1e9), &cbs, q);
}

static struct breq *breq_new(struct runner *r, enum breq_kind kind)
{
    struct breq *q = SY_NEW(struct breq);
    q->r = r;
    q->kind = kind;
    sy_buf_init(&q->buf);
    sy_sse_init(&q->sse, content_event, q);
    q->rec.ttft_s = -1;
    q->rec.stage = -1;
    q->rec.sched_s = -1;
    q->rec.endpoint = -1;
    q->rec.err = -1;
    q->rec.item = -1;
    return q;
}

/* Sends run position seq (item seq % n; BREQ_BENCH) or the next warm-up request. */
static void issue(struct runner *r, enum breq_kind kind, const struct pend *p, size_t seq)
{
    size_t idx;
    if (kind == BREQ_WARM) {
        idx = (size_t)(r->o->warmup - r->warm_left) % r->w->n;
        r->warm_left--;
    } else {
        idx = seq % r->w->n;
        r->issued++;
    }
    const struct sy_wl_item *it = &r->w->items[idx];
    struct breq *q = breq_new(r, kind);
    q->pos = seq;
    q->rec.item = (long)idx;
    q->rec.group = it->group;
    q->rec.turn = it->turn;
    if (kind == BREQ_BENCH && p) {
        q->rec.stage = p->stage; /* the stage it was scheduled in */
        q->rec.sched_s = p->due_s;
    }
    char path[400];
    snprintf(path, sizeof path, "%s%s", r->tgt.prefix,
             it->chat ? "/v1/chat/completions" : "/v1/completions");
    send_breq(r, q, &r->tgt, "POST", path, it->body, it->body_len);
}

/* ---- scheduling -------------------------------------------------------------------------- */

static bool can_issue(const struct runner *r)
{
    return !r->stop_issuing && !r->interrupted && r->issued < r->limit;
}

/* Open loop: the schedule still has arrivals to hand out. */
static bool can_arrive(const struct runner *r)
{
    return !r->stop_issuing && !r->interrupted && r->arrived < r->limit && r->next_due >= 0;
}

static void pend_push(struct runner *r, double due_s, int stage)
{
    if (r->pend_head > 0 && r->pend_head == r->pend_n) {
        r->pend_head = r->pend_n = 0; /* empty: reuse from the start */
    } else if (r->pend_n == r->pend_cap && r->pend_head > r->pend_cap / 2) {
        memmove(r->pend, r->pend + r->pend_head, (r->pend_n - r->pend_head) * sizeof *r->pend);
        r->pend_n -= r->pend_head;
        r->pend_head = 0;
    }
    if (r->pend_n == r->pend_cap) {
        r->pend_cap = r->pend_cap ? r->pend_cap * 2 : 256;
        r->pend = sy_xrealloc(r->pend, r->pend_cap * sizeof *r->pend);
    }
    r->pend[r->pend_n].due_s = due_s;
    r->pend[r->pend_n].stage = stage;
    r->pend_n++;
}

/* Arrivals that will never be sent (--duration's end, a signal): counted, then forgotten. */
static void pend_drop(struct runner *r)
{
    r->run->unsent += r->pend_n - r->pend_head;
    r->pend_head = r->pend_n = 0;
}

static void on_tick(uv_timer_t *t)
{
    pump(t->data);
}

static void pump(struct runner *r)
{
    if (r->arr.mode == SY_ARR_CONCURRENCY) {
        size_t seq;
        while (can_issue(r) && r->inflight < r->arr.concurrency && sy_turns_next(&r->turns, &seq))
            issue(r, BREQ_BENCH, NULL, seq);
        if (!can_issue(r) && r->inflight == 0)
            uv_stop(&r->loop);
        return;
    }
    double now = since_t0(r, sy_now_ns()); /* wall */
    bool barrier = false;                  /* waiting for the earlier stages to finish */
    while (can_arrive(r)) {
        if (r->o->stage_barrier && r->arr.mode == SY_ARR_STAGES && r->arr.stage > r->cur_stage) {
            if (r->pend_head < r->pend_n || r->inflight > 0) {
                barrier = true; /* the last on_done pumps again */
                break;
            }
            /* drained: the next stage starts its schedule interval seconds from now */
            r->shift = now * r->scale + r->o->stage_interval_s -
                       sy_arrival_stage_start_s(&r->arr, r->arr.stage);
            r->cur_stage = r->arr.stage;
        }
        double due = sy_bench_wall_s(r->next_due + r->shift, r->scale);
        if (due > now)
            break;
        int stage = r->arr.mode == SY_ARR_STAGES ? (int)r->arr.stage : -1; /* next_due's */
        pend_push(r, due, stage);
        r->arrived++;
        r->next_due = sy_arrival_next(&r->arr);
    }
    if (r->stop_issuing || r->interrupted)
        pend_drop(r);
    size_t seq;
    while (r->pend_head < r->pend_n && r->inflight < r->cap && sy_turns_next(&r->turns, &seq)) {
        struct pend p = r->pend[r->pend_head++];
        issue(r, BREQ_BENCH, &p, seq);
    }
    if (can_arrive(r) && !barrier) {
        double wait_ms = ceil((sy_bench_wall_s(r->next_due + r->shift, r->scale) - now) * 1000.0);
        uv_timer_start(&r->tick, on_tick, wait_ms > 0 ? (uint64_t)wait_ms : 0, 0);
    }
    if (!can_arrive(r) && r->pend_head == r->pend_n && r->inflight == 0)
        uv_stop(&r->loop);
}

static void on_deadline(uv_timer_t *t)
{
    struct runner *r = t->data;
    r->stop_issuing = true;
    uv_timer_stop(&r->tick);
    pump(r);
}

static void show_progress(struct runner *r, bool final)
{
    if (!r->o->progress)
        return;
    double el = r->t0 ? since_t0(r, sy_now_ns()) : 0;
    size_t errs = 0;
    for (size_t k = 0; k < SY_BE_COUNT_; k++)
        errs += r->run->errors[k];
    fprintf(stderr, "\r  %-14.14s %6zu/%zu sent  %6zu done  %4zu in flight  %zu errors  %6.1fs%s%s",
            r->run->name, r->issued, r->limit, r->run->nrecs, r->inflight, errs, el * r->scale,
            r->scale != 1 ? " simulated" : "", final ? "\n" : "  ");
    fflush(stderr);
    r->progress_shown = true;
}

static void on_progress(uv_timer_t *t)
{
    show_progress(t->data, false);
}

static void on_signal(uv_signal_t *s, int sig)
{
    struct runner *r = s->data;
    if (r->interrupted)
        return;
    r->interrupted = true;
    r->stop_issuing = true;
    if (r->o->progress)
        fprintf(stderr, "\n");
    fprintf(stderr, "switchyard bench: %s: stopping, partial results follow\n",
            sig == SIGINT ? "interrupted" : "terminated");
    while (r->head) {
        struct breq *q = r->head;
        list_del(r, q);
        if (q->ur)
            sy_upstream_cancel(q->ur);
        if (q->kind == BREQ_BENCH)
            r->run->cancelled++;
        breq_free(q);
    }
    uv_stop(&r->loop);
}

/* ---- metrics ------------------------------------------------------------------------------- */

static void fetch_all(struct runner *r, bool reset)
{
    for (size_t i = 0; i < r->o->nmetrics && !r->interrupted; i++) {
        struct breq *q = breq_new(r, BREQ_FETCH);
        q->fetch_index = i;
        const char *path = reset              ? "/reset_prefix_cache"
                           : r->mt[i].path[0] ? r->mt[i].path
                                              : "/metrics";
        send_breq(r, q, &r->mt[i], reset ? "POST" : "GET", path, NULL, 0);
    }
    if (r->inflight > 0)
        uv_run(&r->loop, UV_RUN_DEFAULT);
}

static bool metrics_sum(struct runner *r, double *q, double *h)
{
    *q = *h = 0;
    for (size_t i = 0; i < r->o->nmetrics; i++) {
        double a, b;
        if (!r->mok[i] ||
            !sy_bench_prom_sum(r->mtext[i].data ? r->mtext[i].data : "", r->mtext[i].len,
                               "vllm:prefix_cache_queries_total", &a) ||
            !sy_bench_prom_sum(r->mtext[i].data, r->mtext[i].len, "vllm:prefix_cache_hits_total",
                               &b))
            return false;
        *q += a;
        *h += b;
    }
    return r->o->nmetrics > 0;
}

/* ---- the run --------------------------------------------------------------------------------- */

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

int sy_bench_execute(const struct sy_bench_opts *o, const struct sy_workload *w, const char *url,
                     struct sy_bench_run *run, char *err, size_t errcap)
{
    if (!w || w->n == 0) {
        snprintf(err, errcap, "empty workload");
        return SY_EINVAL;
    }
    struct runner *r = SY_NEW(struct runner);
    int rc = parse_url(url, &r->tgt, err, errcap);
    for (size_t i = 0; rc == 0 && i < o->nmetrics; i++) {
        rc = parse_url(o->metrics_urls[i], &r->mt[i], err, errcap);
    }
    if (rc != 0) {
        free(r);
        return rc;
    }
    for (size_t i = 0; i < SY_BENCH_MAX_METRICS; i++)
        sy_buf_init(&r->mtext[i]);
    r->o = o;
    r->w = w;
    r->run = run;
    r->arr = o->arrival;
    r->scale = o->time_scale > 0 ? o->time_scale : 1;
    if (o->arrival.mode == SY_ARR_STAGES) {
        run->nstages = o->arrival.nstages;
        memcpy(run->stages, o->arrival.stages, run->nstages * sizeof *run->stages);
    }
    r->limit = o->num_requests ? o->num_requests : w->n;
    r->cap =
        o->max_concurrency && o->arrival.mode != SY_ARR_CONCURRENCY ? o->max_concurrency : SIZE_MAX;
    run->max_concurrency = r->cap == SIZE_MAX ? 0 : o->max_concurrency;
    run->stage_interval_s =
        o->arrival.mode == SY_ARR_STAGES && o->stage_barrier ? o->stage_interval_s : -1;
    sy_turns_init(&r->turns, w, r->limit, o->session_wait);
    run->session_wait = r->turns.wait;
    uv_loop_init(&r->loop);
    r->pool = sy_upstream_pool_new(&r->loop, 30 * SY_NS_PER_S, 4096);
    uv_timer_init(&r->loop, &r->tick);
    uv_timer_init(&r->loop, &r->progress);
    uv_timer_init(&r->loop, &r->deadline);
    r->tick.data = r->progress.data = r->deadline.data = r;
    uv_signal_init(&r->loop, &r->sigint);
    uv_signal_init(&r->loop, &r->sigterm);
    r->sigint.data = r->sigterm.data = r;
    uv_signal_start(&r->sigint, on_signal, SIGINT);
    uv_signal_start(&r->sigterm, on_signal, SIGTERM);
    if (o->stop && *o->stop)
        r->interrupted = true; /* a signal arrived before ours were installed */

    double q0 = 0, h0 = 0, q1, h1;
    bool have0 = false;
    if (o->nmetrics) {
        if (o->reset_prefix_cache)
            fetch_all(r, true);
        fetch_all(r, false);
        have0 = metrics_sum(r, &q0, &h0);
    }
    if (o->warmup && !r->interrupted) {
        r->warm_left = o->warmup;
        issue(r, BREQ_WARM, NULL, 0);
        uv_run(&r->loop, UV_RUN_DEFAULT);
    }
    if (!r->interrupted) {
        r->t0 = sy_now_ns();
        run->t0_monotonic_s = (double)r->t0 / 1e9; /* lets a sampler align its own clock */
        r->next_due = sy_arrival_next(&r->arr);
        double dur = o->duration_s;
        if (dur > 0)
            uv_timer_start(&r->deadline, on_deadline,
                           (uint64_t)ceil(sy_bench_wall_s(dur, r->scale) * 1000), 0);
        if (o->progress)
            uv_timer_start(&r->progress, on_progress, 1000, 1000);
        pump(r);
        if (r->inflight > 0 || can_issue(r) || r->pend_head < r->pend_n)
            uv_run(&r->loop, UV_RUN_DEFAULT);
        pend_drop(r); /* a signal stopped the loop before pump saw it */
        uint64_t last = r->t0;
        for (size_t i = 0; i < run->nrecs; i++) {
            uint64_t e = r->t0 + (uint64_t)(run->recs[i].end_s * 1e9);
            if (e > last)
                last = e;
        }
        run->duration_s = r->interrupted ? since_t0(r, sy_now_ns()) : since_t0(r, last);
        uv_timer_stop(&r->progress);
        uv_timer_stop(&r->deadline);
        uv_timer_stop(&r->tick);
        if (r->progress_shown || o->progress)
            show_progress(r, true);
    }
    if (o->nmetrics && have0 && !r->interrupted) {
        fetch_all(r, false);
        if (metrics_sum(r, &q1, &h1) && q1 >= q0 && h1 >= h0) {
            run->cache_queries = q1 - q0;
            run->cache_hits = h1 - h0;
        }
    }
    run->interrupted = r->interrupted;
    run->session_held = r->turns.passed;
    run->slo_ttft_s = o->slo_ttft_s;
    run->slo_itl_p99_s = o->slo_itl_p99_s;
    sy_bench_run_to_simulated(run, r->scale);
    sy_bench_run_compute(run);

    /* teardown: cancel anything left, close handles, drain the loop */
    while (r->head) {
        struct breq *q = r->head;
        list_del(r, q);
        if (q->ur)
            sy_upstream_cancel(q->ur);
        breq_free(q);
    }
    sy_upstream_pool_free(r->pool);
    free(r->pend);
    sy_turns_fini(&r->turns);
    uv_close((uv_handle_t *)&r->tick, close_cb);
    uv_close((uv_handle_t *)&r->progress, close_cb);
    uv_close((uv_handle_t *)&r->deadline, close_cb);
    uv_close((uv_handle_t *)&r->sigint, close_cb);
    uv_close((uv_handle_t *)&r->sigterm, close_cb);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
    for (size_t i = 0; i < SY_BENCH_MAX_METRICS; i++)
        sy_buf_fini(&r->mtext[i]);
    free(r);
    return 0;
}
