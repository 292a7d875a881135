/* stream_scale_bench.c - SSE streaming at scale (issue 20): a stub SSE model server and a load
 * generator, both single-threaded libuv programs, driven by bench/stream_scale.sh.
 *
 *   stream_scale_bench backend --ports P1,P2,... [--interval-ms 30] [--max-seconds 3600]
 *      A vLLM-shaped stub: GET /metrics and GET /v1/models (so the gateway marks it ready and
 *      knows model m1), and POST .../completions answered with a chunked text/event-stream of
 *      max_tokens events, one every stub_interval_ms (body keys; --interval-ms by default), then
 *      `data: [DONE]`. Every event carries "t": the CLOCK_MONOTONIC nanosecond it was written,
 *      so a client on the same machine knows how long the event took to reach it.
 *
 *      one uv_timer per stream (re-armed for a fixed schedule) -> event formatted into a stack
 * buffer as one HTTP chunk -> uv_try_write (one write(2)); only a short write is copied and queued
 *
 *   stream_scale_bench load --port P --streams N [--interval-ms 30] [--ramp-ms 2000]
 *                      [--warmup-ms 2000] [--measure-ms 5000] [--pids "PID ..."] [--label L]
 *      Opens N streaming requests (spread evenly over the ramp), waits warmup-ms after the last
 *      one opened (and until every stream has its response head, at most 20 s more), then measures
 * for measure-ms: events received, per-event delivery latency (arrival - "t"), inter-token gaps per
 * stream, and, for the processes named by --pids (the proxy: the gateway, or nginx's workers), CPU
 * seconds (utime+stime from /proc/PID/stat) spent in the window and resident memory (VmRSS) before
 * the first stream opened and with all N open. It prints one `RESULT key=value ...` line and exits,
 * closing its connections with a reset.
 *
 * Delivery latency through a proxy minus the same percentile straight to the stub is the latency
 * the proxy adds to every token; the inter-token gap percentiles show the same thing as jitter.
 * Both sides use one clock (CLOCK_MONOTONIC is system-wide), so no clock sync is involved.
 *
 * Responses are decoded properly (chunked framing, SSE lines split anywhere by a proxy that
 * re-chunks), so a proxy that changes chunk boundaries is measured correctly. Everything is
 * bounded: the load generator stops at ramp + warmup + measure + 40 s whatever happens; the
 * backend exits after --max-seconds.
 *
 * Alternatives rejected: wrk/wrk2 (no SSE, no per-event timestamps); one timer for all streams
 * (a per-stream timer keeps each stream's cadence independent of the others, as a model server's
 * decode steps are per request, and libuv's timer heap handles 10,000 timers cheaply).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define MAX_PORTS     8       /* listening ports of one backend */
#define REQ_MAX       4096    /* request head + body accepted by the backend */
#define HIST_US       1000000 /* histogram range: 1 us buckets up to 1 s, then overflow */
#define HEAD_MAX      2048    /* response head accepted by the load generator */
#define LINE_MAX_SSE  1024    /* SSE line kept across reads by the load generator */
#define DEFAULT_IVAL  30      /* ms between events */
#define SETTLE_MAX_MS 20000   /* warm-up extended until every stream has its head, this long */
#define HARD_SLACK_MS 40000   /* load generator: give up this long after the planned end */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Raises the soft descriptor limit to the hard limit; returns the soft limit in force. */
static long raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long)rl.rlim_cur;
}

/* ---------------------------------------------------------------- backend */

struct bconn {
    uv_tcp_t tcp;          /* client connection (data = this) */
    uv_timer_t timer;      /* event cadence while streaming */
    char req[REQ_MAX];     /* unparsed request bytes */
    size_t rlen;           /* bytes in req */
    bool streaming;        /* a stream is running: further requests wait */
    bool closing;          /* close started */
    int handles;           /* handles still open (free at 0) */
    unsigned sent, total;  /* events written / to write */
    unsigned long long id; /* stream id (in the event ids) */
    uint64_t due;          /* loop ms the next event is due (a fixed schedule: lateness on a
                              busy machine does not accumulate) */
    unsigned ival;         /* ms between this stream's events */
};

static unsigned g_interval_ms = DEFAULT_IVAL; /* default cadence */
static unsigned long long g_next_id;          /* stream ids */
static unsigned long long g_events;           /* events written (all streams) */
static unsigned long long g_short_writes;     /* writes that had to be queued */

struct wreq {
    uv_write_t w; /* request (data unused) */
    char data[];  /* the bytes, owned */
};

static void on_bwrite(uv_write_t *w, int status)
{
    free(w); /* struct wreq starts with the uv_write_t */
}

static void bconn_handle_closed(uv_handle_t *h)
{
    struct bconn *c = h->data;
    if (--c->handles == 0)
        free(c);
}

static void bconn_close(struct bconn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, bconn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, bconn_handle_closed);
}

/* Writes all of data in order: try_write first, the rest copied and queued. */
static void bwrite(struct bconn *c, const char *data, size_t len)
{
    if (c->closing)
        return;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned int)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        bconn_close(c);
        return;
    }
    size_t off = n > 0 ? (size_t)n : 0;
    g_short_writes++;
    struct wreq *q = malloc(sizeof *q + len - off);
    if (!q) {
        bconn_close(c);
        return;
    }
    memcpy(q->data, data + off, len - off);
    b = uv_buf_init(q->data, (unsigned int)(len - off));
    if (uv_write(&q->w, (uv_stream_t *)&c->tcp, &b, 1, on_bwrite) != 0) {
        free(q);
        bconn_close(c);
    }
}

/* One SSE event as one HTTP chunk: "<hex>\r\ndata: {...}\n\n\r\n". */
static void emit_event(struct bconn *c, bool last)
{
    char ev[512], out[600];
    int n;
    if (!last)
        n = snprintf(ev, sizeof ev,
                     "data: {\"id\":\"cmpl-%llu\",\"object\":\"text_completion\",\"model\":\"m1\","
                     "\"choices\":[{\"index\":0,\"text\":\" tok\",\"finish_reason\":null}],"
                     "\"t\":%" PRIu64 "}\n\n",
                     c->id, now_ns());
    else
        n = snprintf(ev, sizeof ev,
                     "data: {\"id\":\"cmpl-%llu\",\"object\":\"text_completion\",\"model\":\"m1\","
                     "\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"length\"}],"
                     "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":%u,\"total_tokens\":%u}}"
                     "\n\ndata: [DONE]\n\n",
                     c->id, c->total, c->total + 4);
    int m =
        snprintf(out, sizeof out, "%x\r\n%.*s\r\n%s", (unsigned)n, n, ev, last ? "0\r\n\r\n" : "");
    bwrite(c, out, (size_t)m);
    g_events++;
}

static void on_tick(uv_timer_t *t);

/* Finds "key": <unsigned> in a JSON body (the stub's own bodies only: no nesting concerns). */
static long json_uint(const char *body, size_t len, const char *key, long dflt)
{
    char pat[64];
    int pl = snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = memmem(body, len, pat, (size_t)pl);
    if (!p)
        return dflt;
    p += pl;
    const char *end = body + len;
    while (p < end && (*p == ' ' || *p == ':'))
        p++;
    if (p >= end || *p < '0' || *p > '9')
        return dflt;
    return strtol(p, NULL, 10);
}

static void respond(struct bconn *c, int status, const char *ctype, const char *body)
{
    char out[1024];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n\r\n%s", status,
                     status == 200 ? "OK" : "Not Found", ctype, strlen(body), body);
    bwrite(c, out, (size_t)n);
}

/* Handles the complete requests in c->req; leaves an incomplete one (or waits for a stream). */
static void bconn_process(struct bconn *c)
{
    while (!c->streaming && !c->closing) {
        char *he = memmem(c->req, c->rlen, "\r\n\r\n", 4);
        if (!he) {
            if (c->rlen == sizeof c->req)
                bconn_close(c); /* head too large for a stub */
            return;
        }
        size_t hlen = (size_t)(he - c->req) + 4;
        long cl = 0;
        for (char *p = c->req; p < he; p++) {
            if ((*p == '\n') && strncasecmp(p + 1, "content-length:", 15) == 0) {
                cl = strtol(p + 16, NULL, 10);
                break;
            }
        }
        if (cl < 0 || hlen + (size_t)cl > sizeof c->req) {
            bconn_close(c);
            return;
        }
        if (c->rlen < hlen + (size_t)cl)
            return;
        const char *body = c->req + hlen;
        if (strncmp(c->req, "GET /metrics", 12) == 0) {
            respond(c, 200, "text/plain",
                    "vllm:num_requests_waiting{model_name=\"m1\"} 0\n"
                    "vllm:num_requests_running{model_name=\"m1\"} 0\n"
                    "vllm:kv_cache_usage_perc{model_name=\"m1\"} 0\n");
        } else if (strncmp(c->req, "GET /v1/models", 14) == 0) {
            respond(c, 200, "application/json",
                    "{\"object\":\"list\",\"data\":[{\"id\":\"m1\",\"object\":\"model\"}]}");
        } else if (strncmp(c->req, "POST ", 5) == 0 && memmem(c->req, hlen, "completions", 11)) {
            long tokens = json_uint(body, (size_t)cl, "max_tokens", 16);
            long ival = json_uint(body, (size_t)cl, "stub_interval_ms", (long)g_interval_ms);
            if (tokens < 1)
                tokens = 1;
            if (tokens > 1000000)
                tokens = 1000000;
            if (ival < 1)
                ival = 1;
            static const char head[] =
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                "cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
            bwrite(c, head, sizeof head - 1);
            c->streaming = true;
            c->sent = 0;
            c->total = (unsigned)tokens;
            c->id = ++g_next_id;
            c->ival = (unsigned)ival;
            c->due = uv_now(c->tcp.loop) + (uint64_t)ival;
            uv_timer_start(&c->timer, on_tick, (uint64_t)ival, 0);
        } else {
            respond(c, 404, "application/json", "{\"error\":{\"message\":\"not found\"}}");
        }
        memmove(c->req, c->req + hlen + (size_t)cl, c->rlen - hlen - (size_t)cl);
        c->rlen -= hlen + (size_t)cl;
    }
}

static void on_tick(uv_timer_t *t)
{
    struct bconn *c = t->data;
    c->sent++;
    bool last = c->sent >= c->total;
    emit_event(c, last);
    if (last) {
        c->streaming = false;
        bconn_process(c); /* a request that arrived meanwhile */
        return;
    }
    c->due += c->ival;
    uint64_t now = uv_now(t->loop);
    uv_timer_start(&c->timer, on_tick, c->due > now ? c->due - now : 0, 0);
}

static char g_scratch[65536]; /* read buffer shared by every connection (one thread) */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    *buf = uv_buf_init(g_scratch, sizeof g_scratch);
}

static void on_bread(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct bconn *c = s->data;
    if (n < 0) {
        bconn_close(c);
        return;
    }
    if ((size_t)n > sizeof c->req - c->rlen) {
        bconn_close(c);
        return;
    }
    memcpy(c->req + c->rlen, buf->base, (size_t)n);
    c->rlen += (size_t)n;
    bconn_process(c);
}

static void on_bconn(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    struct bconn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
        bconn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_bread);
}

static void on_lifetime(uv_timer_t *t)
{
    fprintf(stderr, "stream_scale_bench backend: --max-seconds reached, exiting\n");
    exit(0);
}

static void on_report(uv_timer_t *t)
{
    fprintf(stderr, "backend: %llu events written, %llu short writes\n", g_events, g_short_writes);
}

static int run_backend(int argc, char **argv)
{
    int ports[MAX_PORTS], nports = 0;
    long max_seconds = 3600;
    bool verbose = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--ports") == 0 && i + 1 < argc) {
            char *s = argv[++i];
            for (char *tok = strtok(s, ","); tok && nports < MAX_PORTS; tok = strtok(NULL, ","))
                ports[nports++] = atoi(tok);
        } else if (strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc) {
            g_interval_ms = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc) {
            max_seconds = atol(argv[++i]);
        } else if (strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
        } else {
            fprintf(stderr, "backend: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (nports == 0 || g_interval_ms == 0 || max_seconds <= 0) {
        fprintf(stderr, "backend: --ports P[,P...] is required; interval and lifetime > 0\n");
        return 2;
    }
    raise_nofile();
    uv_loop_t *loop = uv_default_loop();
    static uv_tcp_t srv[MAX_PORTS];
    for (int i = 0; i < nports; i++) {
        struct sockaddr_in a;
        uv_ip4_addr("127.0.0.1", ports[i], &a);
        uv_tcp_init(loop, &srv[i]);
        int r = uv_tcp_bind(&srv[i], (const struct sockaddr *)&a, 0);
        if (r == 0)
            r = uv_listen((uv_stream_t *)&srv[i], 4096, on_bconn);
        if (r != 0) {
            fprintf(stderr, "backend: cannot listen on 127.0.0.1:%d: %s\n", ports[i],
                    uv_strerror(r));
            return 1;
        }
    }
    static uv_timer_t life, report;
    uv_timer_init(loop, &life);
    uv_timer_start(&life, on_lifetime, (uint64_t)max_seconds * 1000, 0);
    uv_unref((uv_handle_t *)&life);
    if (verbose) {
        uv_timer_init(loop, &report);
        uv_timer_start(&report, on_report, 5000, 5000);
    }
    fprintf(stderr, "backend: listening on %d port(s)\n", nports);
    return uv_run(loop, UV_RUN_DEFAULT);
}

/* ---------------------------------------------------------------- load generator */

struct hist {
    uint32_t *b;     /* HIST_US + 1 buckets of 1 us; the last is overflow */
    uint64_t n;      /* samples */
    uint64_t max_us; /* largest sample */
};

static void hist_init(struct hist *h)
{
    h->b = calloc(HIST_US + 1, sizeof *h->b);
    h->n = 0;
    h->max_us = 0;
    if (!h->b) {
        fprintf(stderr, "load: out of memory\n");
        exit(1);
    }
}

static void hist_add(struct hist *h, uint64_t us)
{
    if (us > h->max_us)
        h->max_us = us;
    h->b[us < HIST_US ? us : HIST_US]++;
    h->n++;
}

static double hist_pct(const struct hist *h, double q)
{
    if (h->n == 0)
        return -1;
    uint64_t want = (uint64_t)(q * (double)h->n);
    if (want >= h->n)
        want = h->n - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i <= HIST_US; i++) {
        seen += h->b[i];
        if (seen > want)
            return (double)i;
    }
    return (double)HIST_US;
}

enum lstate { L_CONNECTING, L_HEAD, L_BODY, L_DONE, L_FAILED };
enum cstate { C_SIZE, C_DATA, C_CRLF, C_END, C_RAW };

struct lconn {
    uv_tcp_t tcp;            /* connection (data = this) */
    uv_connect_t creq;       /* connect request */
    uv_write_t wreq;         /* the request write */
    enum lstate st;          /* where the response is */
    enum cstate cs;          /* chunked decoder state */
    size_t chunk_left;       /* bytes left in the current chunk */
    uint64_t last_arrival;   /* previous event's arrival (0 = none) */
    uint16_t hlen;           /* bytes in head (L_HEAD) */
    uint16_t llen;           /* bytes in line */
    char head[HEAD_MAX];     /* response head while it arrives */
    char line[LINE_MAX_SSE]; /* SSE line across reads */
};

struct load {
    uv_loop_t *loop;                         /* the loop */
    struct sockaddr_in addr;                 /* target */
    int nstreams;                            /* streams to open */
    int opened;                              /* connects started */
    int heads;                               /* 200 heads received */
    int active;                              /* connections open */
    unsigned interval_ms;                    /* cadence asked of the stub */
    unsigned ramp_ms, warmup_ms, measure_ms; /* phases */
    bool measuring;                          /* in the measure window */
    uint64_t t_start;                        /* ns: ramp began */
    uint64_t t_measure;                      /* ns: window began */
    uint64_t events;                         /* events received in the window */
    uint64_t events_total;                   /* events received overall */
    uint64_t done, failed;                   /* streams ended normally / with an error */
    unsigned long errs_connect, errs_status, errs_closed; /* failures by kind */
    struct hist lat;                                      /* delivery latency, us */
    struct hist itl;                                      /* inter-token gaps, us */
    int pids[64]; /* processes whose CPU and RSS are reported */
    int npids;
    double cpu0, cpu1;         /* their CPU seconds at the window's edges */
    long rss0_kb, rss_open_kb; /* their RSS before any stream and with all open */
    char body[512];            /* request body */
    char req[1024];            /* request bytes */
    size_t reqlen;
    const char *label;            /* printed name */
    uv_timer_t ramp, phase, hard; /* timers */
};

static struct load L;
static struct lconn **g_conns;

/* Sum of utime+stime (seconds) of pids (each /proc/PID/stat covers all its threads). */
static double cpu_seconds(const int *pids, int n)
{
    double hz = (double)sysconf(_SC_CLK_TCK), t = 0;
    for (int i = 0; i < n; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = 0;
        char *p = strrchr(buf, ')');
        if (!p)
            continue;
        unsigned long long ut = 0, st = 0;
        /* after ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
         * utime(14) stime(15) */
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            t += (double)(ut + st) / hz;
    }
    return t;
}

static long rss_kb(const int *pids, int n)
{
    long sum = 0;
    for (int i = 0; i < n; i++) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/status", pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "VmRSS:", 6) == 0) {
                sum += atol(line + 6);
                break;
            }
        }
        fclose(f);
    }
    return sum;
}

static void lconn_end(struct lconn *c, enum lstate st)
{
    if (c->st == L_DONE || c->st == L_FAILED)
        return;
    c->st = st;
    if (st == L_DONE)
        L.done++;
    else
        L.failed++;
    L.active--;
    uv_close((uv_handle_t *)&c->tcp, NULL); /* freed at exit with g_conns */
}

static void sse_line(struct lconn *c, const char *s, size_t n, uint64_t now)
{
    if (n >= 6 && memcmp(s, "data: ", 6) == 0) {
        if (n >= 12 && memcmp(s + 6, "[DONE]", 6) == 0) {
            lconn_end(c, L_DONE);
            return;
        }
        const char *t = memmem(s, n, "\"t\":", 4);
        if (!t)
            return; /* the final usage event */
        uint64_t ts = strtoull(t + 4, NULL, 10);
        L.events_total++;
        if (L.measuring) {
            L.events++;
            hist_add(&L.lat, now > ts ? (now - ts) / 1000 : 0);
            if (c->last_arrival)
                hist_add(&L.itl, (now - c->last_arrival) / 1000);
        }
        c->last_arrival = now;
    }
}

/* Decoded body bytes: split into SSE lines (a line may span reads and chunks). */
static void body_bytes(struct lconn *c, const char *p, size_t n, uint64_t now)
{
    while (n > 0 && c->st == L_BODY) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (c->llen + take > sizeof c->line)
            take = sizeof c->line - c->llen; /* overlong line: truncated, never an event */
        memcpy(c->line + c->llen, p, take);
        c->llen = (uint16_t)(c->llen + take);
        if (!nl) {
            return;
        }
        size_t used = (size_t)(nl - p) + 1;
        sse_line(c, c->line, c->llen, now);
        c->llen = 0;
        p += used;
        n -= used;
    }
}

/* Raw response bytes after the head: undo chunked framing. */
static void dechunk(struct lconn *c, const char *p, size_t n, uint64_t now)
{
    while (n > 0 && c->st == L_BODY) {
        switch (c->cs) {
        case C_RAW: body_bytes(c, p, n, now); return;
        case C_SIZE: { /* hex digits [; ext] CRLF: accumulate size until LF */
            char ch = *p++;
            n--;
            if (ch == '\n') {
                c->cs = c->chunk_left ? C_DATA : C_END;
                if (c->cs == C_END)
                    lconn_end(c, L_DONE);
            } else if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                       (ch >= 'A' && ch <= 'F')) {
                int v = ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
                c->chunk_left = c->chunk_left * 16 + (size_t)v;
            }
            break;
        }
        case C_DATA: {
            size_t take = n < c->chunk_left ? n : c->chunk_left;
            body_bytes(c, p, take, now);
            p += take;
            n -= take;
            c->chunk_left -= take;
            if (c->chunk_left == 0)
                c->cs = C_CRLF;
            break;
        }
        case C_CRLF: /* the CRLF after a chunk's data */
            if (*p == '\n')
                c->cs = C_SIZE;
            p++;
            n--;
            break;
        case C_END: return;
        }
    }
}

static void on_lread(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct lconn *c = s->data;
    if (nread < 0) {
        if (L.errs_closed++ == 0)
            fprintf(stderr, "load %s: a connection ended before its stream did (%s)\n", L.label,
                    nread == UV_EOF ? "closed" : uv_strerror((int)nread));
        lconn_end(c, L_FAILED);
        return;
    }
    uint64_t now = now_ns();
    const char *p = buf->base;
    size_t n = (size_t)nread;
    if (c->st == L_HEAD) {
        size_t take = n < sizeof c->head - c->hlen ? n : sizeof c->head - c->hlen;
        memcpy(c->head + c->hlen, p, take);
        size_t old = c->hlen;
        c->hlen = (uint16_t)(c->hlen + take);
        char *he = memmem(c->head, c->hlen, "\r\n\r\n", 4);
        if (!he) {
            if (c->hlen == sizeof c->head) {
                L.errs_status++;
                lconn_end(c, L_FAILED);
            }
            return;
        }
        size_t hl = (size_t)(he - c->head) + 4;
        if (c->hlen < 12 || memcmp(c->head + 9, "200", 3) != 0) {
            if (L.errs_status++ == 0)
                fprintf(stderr, "load %s: first non-200 head: %.*s\n", L.label,
                        (int)(c->hlen < 200 ? c->hlen : 200), c->head);
            lconn_end(c, L_FAILED);
            return;
        }
        bool chunked = false;
        for (char *q = c->head; q < he; q++)
            if (*q == '\n' && strncasecmp(q + 1, "transfer-encoding: chunked", 26) == 0)
                chunked = true;
        c->cs = chunked ? C_SIZE : C_RAW;
        c->st = L_BODY;
        L.heads++;
        p += hl - old;
        n -= hl - old;
    }
    if (c->st == L_BODY)
        dechunk(c, p, n, now);
}

static char g_lscratch[65536]; /* read buffer shared by every connection */

static void on_lalloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    *buf = uv_buf_init(g_lscratch, sizeof g_lscratch);
}

static void on_lwrite(uv_write_t *w, int status)
{
    struct lconn *c = w->data;
    if (status < 0) {
        L.errs_closed++;
        lconn_end(c, L_FAILED);
    }
}

static void on_lconnect(uv_connect_t *r, int status)
{
    struct lconn *c = r->data;
    if (status < 0) {
        if (L.errs_connect++ == 0)
            fprintf(stderr, "load %s: connect failed: %s\n", L.label, uv_strerror(status));
        lconn_end(c, L_FAILED);
        return;
    }
    c->st = L_HEAD;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_buf_t b = uv_buf_init(L.req, (unsigned int)L.reqlen);
    c->wreq.data = c;
    uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_lwrite);
    uv_read_start((uv_stream_t *)&c->tcp, on_lalloc, on_lread);
}

static void open_one(void)
{
    struct lconn *c = calloc(1, sizeof *c);
    if (!c) {
        fprintf(stderr, "load: out of memory\n");
        exit(1);
    }
    g_conns[L.opened++] = c;
    uv_tcp_init(L.loop, &c->tcp);
    c->tcp.data = c->creq.data = c;
    c->st = L_CONNECTING;
    L.active++;
    int r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&L.addr, on_lconnect);
    if (r != 0) {
        if (L.errs_connect++ == 0)
            fprintf(stderr, "load %s: connect failed: %s\n", L.label, uv_strerror(r));
        lconn_end(c, L_FAILED);
    }
}

static void finish(void);

static void on_phase(uv_timer_t *t)
{
    if (!L.measuring && L.heads + (int)L.failed < L.opened &&
        now_ns() - L.t_start < (uint64_t)(L.ramp_ms + L.warmup_ms + SETTLE_MAX_MS) * 1000000u) {
        uv_timer_start(&L.phase, on_phase, 100, 0); /* streams still opening: wait (bounded) */
        return;
    }
    if (!L.measuring) { /* warm-up over: the window starts */
        L.rss_open_kb = rss_kb(L.pids, L.npids);
        L.cpu0 = cpu_seconds(L.pids, L.npids);
        L.t_measure = now_ns();
        L.measuring = true;
        uv_timer_start(&L.phase, on_phase, L.measure_ms, 0);
        return;
    }
    finish();
}

static void on_ramp(uv_timer_t *t)
{
    uint64_t el = (now_ns() - L.t_start) / 1000000;
    int due = L.ramp_ms ? (int)((uint64_t)L.nstreams * (el + 1) / L.ramp_ms) : L.nstreams;
    if (due > L.nstreams)
        due = L.nstreams;
    while (L.opened < due)
        open_one();
    if (L.opened == L.nstreams) {
        uv_timer_stop(&L.ramp);
        uv_timer_start(&L.phase, on_phase, L.warmup_ms, 0);
    }
}

static void on_hard(uv_timer_t *t)
{
    fprintf(stderr, "load %s: hard time limit reached\n", L.label);
    finish();
}

static void finish(void)
{
    uint64_t t_end = now_ns();
    L.cpu1 = cpu_seconds(L.pids, L.npids);
    double secs = L.measuring ? (double)(t_end - L.t_measure) / 1e9 : 0;
    double cpu = L.cpu1 - L.cpu0;
    double expected = (double)L.nstreams * 1000.0 / (double)L.interval_ms;
    long rss_delta = L.rss_open_kb - L.rss0_kb;
    printf(
        "RESULT label=%s streams=%d heads=%d open=%d interval_ms=%u window_s=%.2f events=%" PRIu64
        " rate=%.0f expected_rate=%.0f sustained=%.3f lat_p50_us=%.0f lat_p99_us=%.0f "
        "lat_max_us=%" PRIu64 " itl_p50_us=%.0f itl_p99_us=%.0f cpu_s=%.3f "
        "cpu_us_per_event=%.3f rss_base_kb=%ld rss_open_kb=%ld rss_per_stream_b=%.0f "
        "done=%" PRIu64 " failed=%" PRIu64 " err_connect=%lu err_status=%lu err_closed=%lu\n",
        L.label, L.nstreams, L.heads, L.active, L.interval_ms, secs, L.events,
        secs > 0 ? (double)L.events / secs : 0, expected,
        secs > 0 && expected > 0 ? (double)L.events / secs / expected : 0, hist_pct(&L.lat, 0.5),
        hist_pct(&L.lat, 0.99), L.lat.max_us, hist_pct(&L.itl, 0.5), hist_pct(&L.itl, 0.99),
        L.npids ? cpu : 0, L.npids && L.events ? cpu * 1e6 / (double)L.events : 0, L.rss0_kb,
        L.rss_open_kb, L.npids && L.nstreams ? (double)rss_delta * 1024.0 / (double)L.nstreams : 0,
        L.done, L.failed, L.errs_connect, L.errs_status, L.errs_closed);
    fflush(stdout);
    /* reset, not FIN: no TIME_WAIT pile-up across runs; the proxies see a client that left */
    for (int i = 0; i < L.opened; i++) {
        struct lconn *c = g_conns[i];
        if (c->st != L_DONE && c->st != L_FAILED && c->st != L_CONNECTING)
            uv_tcp_close_reset(&c->tcp, NULL);
        else if (c->st == L_CONNECTING)
            uv_close((uv_handle_t *)&c->tcp, NULL);
    }
    uv_stop(L.loop);
    /* no further callbacks run: exit from here (the kernel tears the sockets down) */
    _exit(0);
}

static int run_load(int argc, char **argv)
{
    int port = 0;
    const char *pids = "", *path = "/v1/completions";
    L.nstreams = 100;
    L.interval_ms = DEFAULT_IVAL;
    L.ramp_ms = 2000;
    L.warmup_ms = 2000;
    L.measure_ms = 5000;
    L.label = "run";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "load: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--port") == 0)
            port = atoi(v);
        else if (strcmp(a, "--streams") == 0)
            L.nstreams = atoi(v);
        else if (strcmp(a, "--interval-ms") == 0)
            L.interval_ms = (unsigned)atoi(v);
        else if (strcmp(a, "--ramp-ms") == 0)
            L.ramp_ms = (unsigned)atoi(v);
        else if (strcmp(a, "--warmup-ms") == 0)
            L.warmup_ms = (unsigned)atoi(v);
        else if (strcmp(a, "--measure-ms") == 0)
            L.measure_ms = (unsigned)atoi(v);
        else if (strcmp(a, "--pids") == 0)
            pids = v;
        else if (strcmp(a, "--path") == 0)
            path = v;
        else if (strcmp(a, "--label") == 0)
            L.label = v;
        else {
            fprintf(stderr, "load: unknown argument '%s'\n", a);
            return 2;
        }
    }
    if (port <= 0 || L.nstreams <= 0 || L.nstreams > 1000000 || L.interval_ms == 0 ||
        L.measure_ms == 0) {
        fprintf(stderr, "load: --port is required; --streams 1..1000000; interval, measure > 0\n");
        return 2;
    }
    for (char *s = (char *)pids; *s && L.npids < 64;) {
        char *e;
        long v = strtol(s, &e, 10);
        if (e == s) {
            s++;
            continue;
        }
        L.pids[L.npids++] = (int)v;
        s = e;
    }
    long lim = raise_nofile();
    if (lim >= 0 && lim < L.nstreams + 32) {
        fprintf(stderr, "load: the descriptor limit (%ld) is below --streams + 32\n", lim);
        return 2;
    }
    /* enough tokens to outlast the run: streams end only when the load generator leaves */
    unsigned long tokens =
        (unsigned long)(L.ramp_ms + L.warmup_ms + L.measure_ms + HARD_SLACK_MS) / L.interval_ms +
        16;
    int bl = snprintf(L.body, sizeof L.body,
                      "{\"model\":\"m1\",\"prompt\":\"Say something long.\",\"stream\":true,"
                      "\"max_tokens\":%lu,\"stub_interval_ms\":%u}",
                      tokens, L.interval_ms);
    int rl = snprintf(L.req, sizeof L.req,
                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\ncontent-type: application/json\r\n"
                      "accept: text/event-stream\r\ncontent-length: %d\r\n\r\n%s",
                      path, port, bl, L.body);
    L.reqlen = (size_t)rl;
    hist_init(&L.lat);
    hist_init(&L.itl);
    g_conns = calloc((size_t)L.nstreams, sizeof *g_conns);
    if (!g_conns)
        return 1;
    L.loop = uv_default_loop();
    uv_ip4_addr("127.0.0.1", port, &L.addr);
    L.rss0_kb = rss_kb(L.pids, L.npids);
    L.t_start = now_ns();
    uv_timer_init(L.loop, &L.ramp);
    uv_timer_init(L.loop, &L.phase);
    uv_timer_init(L.loop, &L.hard);
    uv_timer_start(&L.ramp, on_ramp, 0, 5);
    uv_timer_start(&L.hard, on_hard,
                   (uint64_t)L.ramp_ms + L.warmup_ms + L.measure_ms + HARD_SLACK_MS, 0);
    uv_run(L.loop, UV_RUN_DEFAULT);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* a peer that left is an EPIPE from write, not the end of us */
    if (argc >= 2 && strcmp(argv[1], "backend") == 0)
        return run_backend(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "load") == 0)
        return run_load(argc, argv);
    fprintf(stderr, "usage: stream_scale_bench backend --ports P[,P...] [--interval-ms 30]\n"
                    "       stream_scale_bench load --port P --streams N [--interval-ms 30]\n"
                    "            [--ramp-ms 2000] [--warmup-ms 2000] [--measure-ms 5000]\n"
                    "            [--pids \"PID ...\"] [--label NAME] [--path /v1/completions]\n");
    return 2;
}
