/* subscriber.c - the KV-event subscriber thread (see subscriber.h).
 *
 *   gateway (any thread)          subscriber thread (owns every zmq socket)
 *   sy_kvevents_sync(pool) --+    loop:
 *   acquire / release -------+-->   reconcile(): desired (mutex) -> open/close sockets, purge
 *        (mutex, gen++)             zmq_poll(all SUBs, SY_KVEVENTS_POLL_MS)
 *                                   for each readable SUB: recv until EAGAIN (ZMQ_DONTWAIT)
 *                                     frames -> seq check -> decode -> sy_precise_index_apply
 *
 * Draining choice: a dedicated thread blocking in zmq_poll with a timeout, rather than ZMQ_FD in
 * the workers' libuv loops. ZMQ_FD is edge-triggered and only says "check ZMQ_EVENTS": after every
 * readiness the loop must drain with ZMQ_DONTWAIT until EAGAIN, and a socket touched from another
 * thread can lose the edge. One thread owning all sockets has neither problem, keeps zmq's
 * non-thread-safe sockets on one thread, and keeps index writes off the request path. We still
 * drain each readable socket until EAGAIN per poll round, so a burst costs one poll.
 *
 * Sequence tracking per publisher (per-endpoint source, or the topic's pod in bind mode):
 *   (re)connected        with a replay ROUTER: drop the endpoint's entries, replay from 0 (the
 *                        SUB's monitor reports ZMQ_EVENT_CONNECTED; a restarted publisher's
 *                        first batches, sent before the SUB reconnected, come back this way)
 *   first message        accept (with replay configured and seq > 0: replay from 0 first)
 *   seq == last + 1      apply
 *   seq >  last + 1      gap: replay from last+1 when the endpoint has a replay ROUTER,
 *                        otherwise purge the endpoint's entries, then apply
 *   seq <= last          after a replay: a duplicate still queued, dropped; otherwise the
 *                        publisher restarted: purge, replay from 0 if possible, apply
 * Replay (DEALER, vLLM's ROUTER): send ["", be64(start)], then read replies until the end marker
 * (seq 0xFF..FF) or SY_KVEVENTS_REPLAY_IDLE_MS without a reply. Both reply shapes are accepted:
 * ["", topic, seq, payload] (vLLM >= 0.26, inference-sim) and ["", seq, payload] (older). The
 * replay runs synchronously on this thread (vLLM's own ROUTER stalls its publisher the same way);
 * live messages queue in the SUB meanwhile and are deduplicated by seq afterwards. If the first
 * replayed seq is above start, history was lost: the endpoint is purged before applying.
 *
 * Malformed messages (frame count, seq, topic, payload) are counted and skipped, never fatal.
 */
#include "kvevents/subscriber.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "kvevents/decode.h"
#include "pool/pool.h"
#include "prefix/precise_index.h"

#define MAX_FRAMES  6   /* frames read per message; more is malformed */
#define MAX_PUBS    256 /* publishers tracked in bind mode */
#define MAX_INDEXES 4   /* live indexes (old ones wait for their last release) */
#define END_SEQ     UINT64_MAX

struct seqstate {
    bool have;     /* a message was seen */
    bool dedup;    /* after a replay: seq <= last is a duplicate, not a restart */
    uint64_t last; /* last applied seq */
};

struct source {          /* one per-endpoint subscription */
    char *name;          /* endpoint address "host:port" (index key) */
    char *url;           /* kvEvents URL */
    char *replay;        /* replay ROUTER URL or NULL */
    void *sub;           /* SUB socket */
    void *dealer;        /* replay DEALER (lazily opened) */
    void *mon;           /* PAIR reading the SUB's monitor (with replay only), or NULL */
    struct seqstate seq; /* sequence tracking */
};

struct pub {        /* one publisher seen on the bound socket */
    char name[128]; /* pod from the topic */
    struct seqstate seq;
};

struct slot {
    struct sy_precise_index *idx; /* owned */
    int refs;                     /* acquires not yet released */
    struct sy_kvevents_opts o;    /* its options (strings owned) */
};

struct want {
    char *name; /* endpoint address */
    char *url;  /* kvEvents */
};

static struct {
    pthread_mutex_t mu; /* guards everything below up to the thread-only part */
    bool started;       /* thread running */
    atomic_bool stop;   /* ask the thread to exit */
    pthread_t th;
    void *zctx; /* zmq context */
    struct slot slots[MAX_INDEXES];
    int cur;           /* current slot, -1 none */
    struct want *want; /* desired per-endpoint sources (from the last sync) */
    size_t nwant;
    bool synced;         /* a pool was synced (bind mode filters on it) */
    uint64_t gen;        /* bumped on every change of the desired state */
    char *bind_url;      /* desired bind endpoint (NULL: none) */
    void *pending_bound; /* a SUB bound by acquire, handed to the thread */
    char *filter;        /* topic filter */
    int replay_offset;

    /* thread-only */
    uint64_t seen_gen;
    void *bound;     /* bound SUB or NULL */
    char *bound_url; /* its URL */
    struct source *src;
    size_t nsrc;
    struct pub pubs[MAX_PUBS];
    size_t npubs;
    char **pool_names; /* snapshot of want names for bind-mode filtering */
    size_t npool;
    struct sy_kv_decoder dec;
    struct sy_precise_index *idx; /* index being fed (current slot) */
    char model[256];              /* model of the message being applied */
    struct sy_str ep;             /* endpoint of the message being applied */

    atomic_uint_fast64_t batches, events, malformed, gaps, restarts, replays, replayed, purges;
    atomic_size_t sources;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .cur = -1};

/* ---- message application ---------------------------------------------------------------- */

static int on_event(void *ud, const struct sy_kv_event *ev)
{
    (void)ud;
    sy_precise_index_apply(S.idx, S.ep, sy_str_c(S.model), ev);
    atomic_fetch_add(&S.events, 1);
    return 0;
}

/* Decodes and applies one payload for endpoint ep and model; false when malformed. */
static bool apply_payload(struct sy_str ep, struct sy_str model, const void *p, size_t n)
{
    if (!S.idx)
        return true;
    snprintf(S.model, sizeof S.model, "%.*s", (int)model.len, model.p);
    S.ep = ep;
    struct sy_kv_batch b;
    if (sy_kv_decode_batch(&S.dec, p, n, &b, on_event, NULL) != 0) {
        atomic_fetch_add(&S.malformed, 1);
        return false;
    }
    atomic_fetch_add(&S.batches, 1);
    return true;
}

static void purge(struct sy_str ep)
{
    sy_info("kvevents: %.*s: dropping its index entries", (int)ep.len, ep.p);
    if (S.idx)
        sy_precise_index_clear_endpoint(S.idx, ep);
    atomic_fetch_add(&S.purges, 1);
}

/* Receives one multipart message (non-blocking unless wait_ms >= 0). Returns the frame count,
 * 0 when nothing is pending, -1 on error; frames beyond MAX_FRAMES make it malformed (-2). */
static int recv_msg(void *sock, zmq_msg_t *fr, int flags)
{
    int n = 0;
    bool over = false;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, n == 0 ? flags : 0) < 0) {
            zmq_msg_close(&m);
            for (int i = 0; i < n && i < MAX_FRAMES; i++)
                zmq_msg_close(&fr[i]);
            return n == 0 && zmq_errno() == EAGAIN ? 0 : -1;
        }
        bool more = zmq_msg_more(&m);
        if (n < MAX_FRAMES)
            fr[n] = m;
        else {
            zmq_msg_close(&m);
            over = true;
        }
        n++;
        if (!more)
            break;
    }
    if (over) {
        for (int i = 0; i < MAX_FRAMES; i++)
            zmq_msg_close(&fr[i]);
        return -2;
    }
    return n;
}

static void close_frames(zmq_msg_t *fr, int n)
{
    for (int i = 0; i < n && i < MAX_FRAMES; i++)
        zmq_msg_close(&fr[i]);
}

/* ---- replay ----------------------------------------------------------------------------- */

/* Replays from start for source s; applies every batch with seq >= start in order. Returns true
 * when the replay ended with the end marker. */
static bool replay(struct source *s, uint64_t start)
{
    if (!s->replay)
        return false;
    if (!s->dealer) {
        s->dealer = zmq_socket(S.zctx, ZMQ_DEALER);
        int zero = 0;
        zmq_setsockopt(s->dealer, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_connect(s->dealer, s->replay) != 0) {
            sy_warn("kvevents: replay connect %s: %s", s->replay, zmq_strerror(zmq_errno()));
            zmq_close(s->dealer);
            s->dealer = NULL;
            return false;
        }
    }
    atomic_fetch_add(&S.replays, 1);
    sy_info("kvevents: %s: replay from seq %llu (%s)", s->name, (unsigned long long)start,
            s->replay);
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(start >> (56 - 8 * i));
    zmq_send(s->dealer, "", 0, ZMQ_SNDMORE);
    zmq_send(s->dealer, be, 8, 0);
    bool first = true, ended = false;
    struct sy_str ep = sy_str_c(s->name);
    for (;;) {
        zmq_pollitem_t it = {.socket = s->dealer, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, SY_KVEVENTS_REPLAY_IDLE_MS) <= 0)
            break;
        zmq_msg_t fr[MAX_FRAMES];
        int n = recv_msg(s->dealer, fr, ZMQ_DONTWAIT);
        if (n <= 0)
            break;
        int b = 0;
        if (n > 0 && zmq_msg_size(&fr[0]) == 0)
            b = 1; /* the empty delimiter */
        int k = n - b;
        zmq_msg_t *seqf = NULL, *pay = NULL, *top = NULL;
        if (k == 3)
            top = &fr[b], seqf = &fr[b + 1], pay = &fr[b + 2];
        else if (k == 2)
            seqf = &fr[b], pay = &fr[b + 1];
        uint64_t seq;
        if (!seqf || sy_kv_parse_seq(zmq_msg_data(seqf), zmq_msg_size(seqf), &seq) != 0) {
            atomic_fetch_add(&S.malformed, 1);
            close_frames(fr, n);
            continue;
        }
        if (seq == END_SEQ) {
            close_frames(fr, n);
            ended = true;
            break;
        }
        struct sy_str pod, model = {"", 0};
        if (top && sy_kv_parse_topic(zmq_msg_data(top), zmq_msg_size(top), &pod, &model) != 0)
            model = (struct sy_str){"", 0};
        if (!top) /* old shape: the topic is not repeated; use the last live topic's model */
            model = sy_str_c(S.model);
        if (first && seq > start) {
            purge(ep); /* history before seq is gone */
        }
        first = false;
        if (seq >= start && (!s->seq.have || seq > s->seq.last)) {
            char mbuf[256];
            snprintf(mbuf, sizeof mbuf, "%.*s", (int)model.len, model.p);
            if (apply_payload(ep, sy_str_c(mbuf), zmq_msg_data(pay), zmq_msg_size(pay))) {
                atomic_fetch_add(&S.replayed, 1);
            }
            s->seq.have = true;
            s->seq.last = seq;
        }
        close_frames(fr, n);
    }
    s->seq.dedup = true;
    sy_info("kvevents: %s: replay %s at seq %llu", s->name, ended ? "complete" : "timed out",
            (unsigned long long)s->seq.last);
    return ended;
}

/* ---- live messages --------------------------------------------------------------------- */

/* Sequence decision for a live message; returns false to drop it. s may be NULL (bind mode). */
static bool check_seq(struct seqstate *q, struct source *s, struct sy_str ep, uint64_t seq)
{
    if (!q->have) {
        if (s && s->replay && seq > 0 && replay(s, 0) && q->have && seq <= q->last)
            return false;
        q->have = true;
        q->last = seq;
        return true;
    }
    if (seq == q->last + 1) {
        q->dedup = false;
        q->last = seq;
        return true;
    }
    if (seq > q->last + 1) {
        atomic_fetch_add(&S.gaps, 1);
        sy_info("kvevents: %.*s: sequence gap %llu -> %llu", (int)ep.len, ep.p,
                (unsigned long long)q->last, (unsigned long long)seq);
        if (!(s && s->replay && replay(s, q->last + 1)))
            purge(ep);
        if (q->have && seq <= q->last)
            return false; /* the replay covered it */
        q->dedup = false;
        q->last = seq;
        return true;
    }
    if (q->dedup)
        return false; /* still queued from before a replay */
    atomic_fetch_add(&S.restarts, 1);
    sy_info("kvevents: %.*s: publisher restarted (seq %llu after %llu)", (int)ep.len, ep.p,
            (unsigned long long)seq, (unsigned long long)q->last);
    purge(ep);
    q->have = false;
    if (s && s->replay && replay(s, 0) && q->have && seq <= q->last)
        return false;
    q->have = true;
    q->last = seq;
    return true;
}

static struct pub *find_pub(struct sy_str pod)
{
    for (size_t i = 0; i < S.npubs; i++)
        if (sy_str_eq_c(pod, S.pubs[i].name))
            return &S.pubs[i];
    if (S.npubs == MAX_PUBS || pod.len >= sizeof S.pubs[0].name)
        return NULL;
    struct pub *p = &S.pubs[S.npubs++];
    memset(p, 0, sizeof *p);
    memcpy(p->name, pod.p, pod.len);
    return p;
}

static bool in_pool(struct sy_str pod)
{
    if (!S.npool && !S.synced)
        return true;
    for (size_t i = 0; i < S.npool; i++)
        if (sy_str_eq_c(pod, S.pool_names[i]))
            return true;
    return false;
}

/* Handles one received message from source s (NULL: the bound socket). */
static void handle(struct source *s, zmq_msg_t *fr, int n)
{
    struct sy_str pod, model;
    uint64_t seq;
    if (n != 3 || sy_kv_parse_seq(zmq_msg_data(&fr[1]), zmq_msg_size(&fr[1]), &seq) != 0 ||
        sy_kv_parse_topic(zmq_msg_data(&fr[0]), zmq_msg_size(&fr[0]), &pod, &model) != 0) {
        atomic_fetch_add(&S.malformed, 1);
        return;
    }
    snprintf(S.model, sizeof S.model, "%.*s", (int)model.len, model.p);
    struct sy_str ep;
    struct seqstate *q;
    if (s) {
        ep = sy_str_c(s->name);
        q = &s->seq;
    } else {
        if (!in_pool(pod))
            return;
        struct pub *p = find_pub(pod);
        if (!p) {
            atomic_fetch_add(&S.malformed, 1);
            return;
        }
        ep = sy_str_c(p->name);
        q = &p->seq;
    }
    char mbuf[256];
    snprintf(mbuf, sizeof mbuf, "%s", S.model);
    if (!check_seq(q, s, ep, seq))
        return;
    apply_payload(ep, sy_str_c(mbuf), zmq_msg_data(&fr[2]), zmq_msg_size(&fr[2]));
}

static void drain(void *sock, struct source *s)
{
    for (int budget = 0; budget < 4096; budget++) {
        zmq_msg_t fr[MAX_FRAMES];
        int n = recv_msg(sock, fr, ZMQ_DONTWAIT);
        if (n == 0 || n == -1)
            return;
        if (n == -2) {
            atomic_fetch_add(&S.malformed, 1);
            continue;
        }
        handle(s, fr, n);
        close_frames(fr, n);
    }
}

/* ---- reconcile desired state ------------------------------------------------------------ */

/* Opens a SUB on url. With mon, its CONNECTED events are watched on a PAIR returned in *mon,
 * attached before connecting: a loopback connect completes at once, and an event raised before the
 * monitor (or its PAIR) exists is lost, and with it the start-up replay. */
static void *open_sub(const char *url, bool bind, const char *filter, void **mon)
{
    void *z = zmq_socket(S.zctx, ZMQ_SUB);
    int zero = 0;
    zmq_setsockopt(z, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(z, ZMQ_SUBSCRIBE, filter, strlen(filter));
    if (mon) {
        static unsigned monitor_seq;
        char mep[64];
        snprintf(mep, sizeof mep, "inproc://sy-kvevents-mon-%u", monitor_seq++);
        *mon = NULL;
        if (zmq_socket_monitor(z, mep, ZMQ_EVENT_CONNECTED) == 0) {
            *mon = zmq_socket(S.zctx, ZMQ_PAIR);
            if (zmq_connect(*mon, mep) != 0) {
                zmq_close(*mon);
                *mon = NULL;
            }
        }
    }
    if ((bind ? zmq_bind(z, url) : zmq_connect(z, url)) != 0) {
        sy_warn("kvevents: %s %s: %s", bind ? "bind" : "connect", url, zmq_strerror(zmq_errno()));
        if (mon && *mon) {
            zmq_socket_monitor(z, NULL, 0);
            zmq_close(*mon);
            *mon = NULL;
        }
        zmq_close(z);
        return NULL;
    }
    return z;
}

static void source_close(struct source *s, bool purge_entries)
{
    if (purge_entries)
        purge(sy_str_c(s->name));
    if (s->mon) {
        zmq_socket_monitor(s->sub, NULL, 0);
        zmq_close(s->mon);
    }
    if (s->sub)
        zmq_close(s->sub);
    if (s->dealer)
        zmq_close(s->dealer);
    free(s->name);
    free(s->url);
    free(s->replay);
}

/* tcp://HOST:PORT -> tcp://HOST:(PORT+off); NULL when off is 0 or the URL has no port. */
static char *replay_url(const char *url, int off)
{
    if (off == 0)
        return NULL;
    const char *c = strrchr(url, ':');
    if (!c || c[1] < '0' || c[1] > '9')
        return NULL;
    long port = strtol(c + 1, NULL, 10) + off;
    if (port <= 0 || port > 65535)
        return NULL;
    size_t hl = (size_t)(c - url);
    char *r = sy_xmalloc(hl + 8);
    snprintf(r, hl + 8, "%.*s:%ld", (int)hl, url, port);
    return r;
}

static void reconcile(void)
{
    pthread_mutex_lock(&S.mu);
    if (S.seen_gen == S.gen) {
        pthread_mutex_unlock(&S.mu);
        return;
    }
    S.seen_gen = S.gen;
    S.idx = S.cur >= 0 ? S.slots[S.cur].idx : NULL;
    const char *filter = S.filter ? S.filter : "kv@";
    /* bound socket: S.bound is thread-only; acquire hands a new one over in pending_bound */
    if (S.bound && (!S.bind_url || strcmp(S.bind_url, S.bound_url) != 0 || S.pending_bound)) {
        zmq_close(S.bound);
        S.bound = NULL;
        free(S.bound_url);
        S.bound_url = NULL;
    }
    if (S.pending_bound) {
        S.bound = S.pending_bound;
        S.bound_url = sy_xstrdup(S.bind_url ? S.bind_url : "");
        S.pending_bound = NULL;
        S.npubs = 0; /* new socket, new publishers */
    }
    /* per-endpoint sources: close the ones not wanted (or changed) */
    size_t k = 0;
    for (size_t i = 0; i < S.nsrc; i++) {
        bool keep = false;
        for (size_t j = 0; j < S.nwant && !keep; j++)
            keep = S.want[j].url && !strcmp(S.want[j].name, S.src[i].name) &&
                   !strcmp(S.want[j].url, S.src[i].url);
        if (keep)
            S.src[k++] = S.src[i];
        else
            source_close(&S.src[i], true);
    }
    S.nsrc = k;
    for (size_t j = 0; j < S.nwant; j++) {
        bool have = !S.want[j].url;
        for (size_t i = 0; i < S.nsrc && !have; i++)
            have = !strcmp(S.want[j].name, S.src[i].name);
        if (have)
            continue;
        char *rurl = replay_url(S.want[j].url, S.replay_offset);
        /* (Re)connections trigger a replay from 0: watch them on the SUB's monitor. */
        void *mon = NULL;
        void *z = open_sub(S.want[j].url, false, filter, rurl ? &mon : NULL);
        if (!z) {
            free(rurl);
            continue;
        }
        S.src = sy_xrealloc(S.src, (S.nsrc + 1) * sizeof *S.src);
        S.src[S.nsrc++] = (struct source){.name = sy_xstrdup(S.want[j].name),
                                          .url = sy_xstrdup(S.want[j].url),
                                          .replay = rurl,
                                          .sub = z,
                                          .mon = mon};
    }
    /* bind-mode pool filter: publishers that left are purged */
    for (size_t i = 0; i < S.npool; i++)
        free(S.pool_names[i]);
    free(S.pool_names);
    S.npool = S.nwant;
    S.pool_names = sy_xmalloc((S.nwant ? S.nwant : 1) * sizeof *S.pool_names);
    for (size_t j = 0; j < S.nwant; j++)
        S.pool_names[j] = sy_xstrdup(S.want[j].name);
    pthread_mutex_unlock(&S.mu);
    for (size_t i = 0; i < S.npubs; i++) {
        if (!in_pool(sy_str_c(S.pubs[i].name))) {
            purge(sy_str_c(S.pubs[i].name));
            S.pubs[i--] = S.pubs[--S.npubs];
        }
    }
    atomic_store(&S.sources, S.nsrc);
}

/* The SUB of s (re)connected to its publisher: messages may have been missed, and the publisher
 * may be a new process. Like llm-d, replay from 0; entries learned before are dropped first, since
 * the replay rebuilds the endpoint's state from the publisher's own buffer. */
static void on_monitor(struct source *s)
{
    zmq_msg_t fr[MAX_FRAMES];
    int n = recv_msg(s->mon, fr, ZMQ_DONTWAIT);
    if (n <= 0)
        return;
    uint16_t ev = 0;
    if (zmq_msg_size(&fr[0]) >= 2)
        memcpy(&ev, zmq_msg_data(&fr[0]), 2); /* native byte order, as libzmq writes it */
    close_frames(fr, n);
    if (ev != ZMQ_EVENT_CONNECTED)
        return;
    sy_info("kvevents: %s: connected to %s", s->name, s->url);
    if (s->seq.have)
        purge(sy_str_c(s->name));
    s->seq.have = false;
    s->seq.dedup = false;
    replay(s, 0);
}

static void *run(void *arg)
{
    (void)arg;
    sy_kv_decoder_init(&S.dec);
    while (!atomic_load(&S.stop)) {
        reconcile();
        size_t n = 2 * S.nsrc + 1;
        zmq_pollitem_t *it = sy_xcalloc(n, sizeof *it);
        size_t m = 0;
        if (S.bound)
            it[m++] = (zmq_pollitem_t){.socket = S.bound, .events = ZMQ_POLLIN};
        for (size_t i = 0; i < S.nsrc; i++)
            it[m++] = (zmq_pollitem_t){.socket = S.src[i].sub, .events = ZMQ_POLLIN};
        for (size_t i = 0; i < S.nsrc; i++)
            if (S.src[i].mon)
                it[m++] = (zmq_pollitem_t){.socket = S.src[i].mon, .events = ZMQ_POLLIN};
        int rc = zmq_poll(it, (int)m, SY_KVEVENTS_POLL_MS);
        if (rc > 0) {
            size_t j = 0;
            if (S.bound && (it[j++].revents & ZMQ_POLLIN))
                drain(S.bound, NULL);
            for (size_t i = 0; i < S.nsrc; i++, j++)
                if (it[j].revents & ZMQ_POLLIN)
                    drain(S.src[i].sub, &S.src[i]);
            for (size_t i = 0; i < S.nsrc; i++)
                if (S.src[i].mon && (it[j++].revents & ZMQ_POLLIN))
                    on_monitor(&S.src[i]);
        } else if (m == 0) {
            /* zmq_poll with no items returns at once on some versions */
            struct timespec ts = {0, SY_KVEVENTS_POLL_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
        free(it);
    }
    for (size_t i = 0; i < S.nsrc; i++)
        source_close(&S.src[i], false);
    free(S.src);
    S.src = NULL;
    S.nsrc = 0;
    if (S.bound)
        zmq_close(S.bound);
    S.bound = NULL;
    free(S.bound_url);
    S.bound_url = NULL;
    sy_kv_decoder_fini(&S.dec);
    return NULL;
}

/* ---- public ---------------------------------------------------------------------------- */

static bool same_opts(const struct sy_kvevents_opts *a, const struct sy_kvevents_opts *b)
{
    return a->block_tokens == b->block_tokens && a->max_keys == b->max_keys &&
           !strcmp(a->hash_seed ? a->hash_seed : "", b->hash_seed ? b->hash_seed : "");
}

/* With S.mu held: asks the subscriber thread to pick up the current slot (S.gen) and waits, with
 * S.mu unlocked, until it has (or has stopped); then locks S.mu again. A replay can hold the thread
 * for a while (2 s per idle wait): allow 30 s. False when the thread did not move on in time. */
static bool wait_thread_moved_on(void)
{
    S.gen++;
    uint64_t want = S.gen;
    bool done = !S.started;
    pthread_mutex_unlock(&S.mu);
    for (int k = 0; k < 1500 && !done; k++) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&S.mu);
        done = S.seen_gen >= want || !S.started;
        pthread_mutex_unlock(&S.mu);
    }
    pthread_mutex_lock(&S.mu);
    return done;
}

/* With S.mu held, after wait_thread_moved_on: slot i still holds idx, unheld and not current
 * (nobody else freed or reused it while S.mu was unlocked). */
static bool still_unused(int i, const struct sy_precise_index *idx)
{
    const struct slot *sl = &S.slots[i];
    return i != S.cur && sl->idx && sl->idx == idx && sl->refs <= 0;
}

/* With S.mu held: frees a slot nobody holds any more that is not current (released while it was
 * current, then replaced by a config with other options) once the thread has moved past it, and
 * returns its number; -1 when there is none. Unlocks S.mu while it waits for the thread. */
static int reclaim_unused(void)
{
    for (int i = 0; i < MAX_INDEXES; i++) {
        if (i == S.cur || !S.slots[i].idx || S.slots[i].refs > 0)
            continue;
        struct sy_precise_index *idx = S.slots[i].idx;
        bool done = wait_thread_moved_on();
        struct slot *sl = &S.slots[i];
        if (!done || !still_unused(i, idx))
            continue;
        sy_precise_index_free(sl->idx);
        free((char *)sl->o.hash_seed);
        memset(sl, 0, sizeof *sl);
        return i;
    }
    return -1;
}

struct sy_precise_index *sy_kvevents_acquire(const struct sy_kvevents_opts *o, char *err,
                                             size_t errcap)
{
    pthread_mutex_lock(&S.mu);
    if (!S.zctx)
        S.zctx = zmq_ctx_new();
    if (o->bind && *o->bind && (!S.bind_url || strcmp(S.bind_url, o->bind) != 0)) {
        if (S.started && S.bind_url) {
            /* rebinding while the thread runs: let it close the old socket (frees the port) */
            free(S.bind_url);
            S.bind_url = NULL;
            S.gen++;
            pthread_mutex_unlock(&S.mu);
            for (int i = 0; i < 50; i++) {
                struct timespec ts = {0, 20 * 1000000L};
                nanosleep(&ts, NULL);
                pthread_mutex_lock(&S.mu);
                bool done = S.seen_gen == S.gen;
                pthread_mutex_unlock(&S.mu);
                if (done)
                    break;
            }
            pthread_mutex_lock(&S.mu);
        }
        if (S.pending_bound)
            zmq_close(S.pending_bound);
        S.pending_bound = NULL;
        void *z = open_sub(o->bind, true,
                           o->topic_filter && *o->topic_filter ? o->topic_filter : "kv@", NULL);
        if (!z) {
            snprintf(err, errcap, "kvEventsConfig.zmqEndpoint: cannot bind %s: %s", o->bind,
                     zmq_strerror(zmq_errno()));
            pthread_mutex_unlock(&S.mu);
            return NULL;
        }
        /* Bound here, on the caller's thread, so a bad address is a config error; the socket is
         * then handed to the subscriber thread (zmq allows moving a socket between threads with
         * a full memory barrier, which the mutex provides). */
        S.pending_bound = z;
        free(S.bind_url);
        S.bind_url = sy_xstrdup(o->bind);
        S.gen++;
    }
    free(S.filter);
    S.filter = sy_xstrdup(o->topic_filter && *o->topic_filter ? o->topic_filter : "kv@");
    S.replay_offset = o->replay_port_offset;
    int slot = -1;
    if (S.cur >= 0 && same_opts(&S.slots[S.cur].o, o))
        slot = S.cur;
    for (int i = 0; i < MAX_INDEXES && slot < 0; i++)
        if (!S.slots[i].idx)
            slot = i;
    if (slot < 0)
        slot = reclaim_unused();
    if (slot < 0) {
        snprintf(err, errcap, "too many precise prefix-cache configurations alive at once");
        pthread_mutex_unlock(&S.mu);
        return NULL;
    }
    struct slot *sl = &S.slots[slot];
    if (!sl->idx) {
        sl->idx = sy_precise_index_new(o->block_tokens, sy_str_c(o->hash_seed), o->max_keys);
        sl->o = *o;
        sl->o.hash_seed = sy_xstrdup(o->hash_seed ? o->hash_seed : "");
        sl->o.bind = NULL;
        sl->o.topic_filter = NULL;
        S.cur = slot;
        S.gen++;
    }
    sl->refs++;
    S.gen++;
    if (!S.started) {
        atomic_store(&S.stop, false);
        if (pthread_create(&S.th, NULL, run, NULL) == 0)
            S.started = true;
        else
            sy_warn("kvevents: cannot start the subscriber thread");
    }
    struct sy_precise_index *idx = sl->idx;
    pthread_mutex_unlock(&S.mu);
    return idx;
}

void sy_kvevents_release(struct sy_precise_index *idx)
{
    if (!idx)
        return;
    pthread_mutex_lock(&S.mu);
    for (int i = 0; i < MAX_INDEXES; i++) {
        struct slot *sl = &S.slots[i];
        if (sl->idx != idx || --sl->refs > 0)
            continue;
        if (i == S.cur) {
            /* Still current: keep it (a reload with the same options acquires it again); it is
             * freed by sy_kvevents_shutdown. */
            sl->refs = 0;
            continue;
        }
        /* The thread may be applying to it only if it is current; it is not. Wait for the
         * thread to pick up the current slot before freeing. */
        bool done = wait_thread_moved_on();
        /* While S.mu was unlocked an acquire may have reclaimed this slot (reclaim_unused waits
         * for the same thread) and put a new index in it: that one is not ours to free. */
        if (!still_unused(i, idx))
            continue;
        if (!done) {
            /* Never free what the thread may still write to: keep it (a leak, logged). */
            sy_warn("kvevents: subscriber thread busy; keeping a released index");
            memset(sl, 0, sizeof *sl);
            continue;
        }
        sy_precise_index_free(sl->idx);
        free((char *)sl->o.hash_seed);
        memset(sl, 0, sizeof *sl);
    }
    pthread_mutex_unlock(&S.mu);
}

void sy_kvevents_sync(const struct sy_pool *pool)
{
    pthread_mutex_lock(&S.mu);
    for (size_t i = 0; i < S.nwant; i++) {
        free(S.want[i].name);
        free(S.want[i].url);
    }
    free(S.want);
    S.want = NULL;
    S.nwant = 0;
    size_t n = pool ? pool->n : 0;
    S.want = sy_xcalloc(n ? n : 1, sizeof *S.want);
    for (size_t i = 0; i < n; i++) {
        const struct sy_endpoint *e = pool->eps[i];
        S.want[S.nwant++] = (struct want){.name = sy_xstrdup(e->address),
                                          .url = e->kv_events ? sy_xstrdup(e->kv_events) : NULL};
    }
    /* names without a kvEvents URL still count for bind-mode filtering, but open no socket */
    S.synced = true;
    S.gen++;
    pthread_mutex_unlock(&S.mu);
}

bool sy_kvevents_has_source(const struct sy_pool *pool)
{
    for (size_t i = 0; pool && i < pool->n; i++)
        if (pool->eps[i]->kv_events)
            return true;
    pthread_mutex_lock(&S.mu);
    bool bound = S.bind_url != NULL;
    pthread_mutex_unlock(&S.mu);
    return bound;
}

void sy_kvevents_stats(struct sy_kvevents_stats *out)
{
    out->batches = atomic_load(&S.batches);
    out->events = atomic_load(&S.events);
    out->malformed = atomic_load(&S.malformed);
    out->gaps = atomic_load(&S.gaps);
    out->restarts = atomic_load(&S.restarts);
    out->replays = atomic_load(&S.replays);
    out->replayed = atomic_load(&S.replayed);
    out->purges = atomic_load(&S.purges);
    out->sources = atomic_load(&S.sources);
}

void sy_kvevents_metrics_collect(void *ud, struct sy_buf *out)
{
    (void)ud;
    struct sy_kvevents_stats st;
    sy_kvevents_stats(&st);
    static const char *const names[] = {"batches",  "events",  "malformed",        "gaps",
                                        "restarts", "replays", "replayed_batches", "purges"};
    static const char *const help[] = {
        "KV-event batches applied to the precise index.",
        "KV events applied to the precise index.",
        "KV-event messages skipped as malformed (frames, sequence, topic or payload).",
        "Sequence gaps seen in KV-event streams.",
        "KV-event publisher restarts seen (sequence went back).",
        "KV-event replay requests sent.",
        "KV-event batches applied from replays.",
        "Endpoint purges from the precise index (gap without replay, restart, left the pool)."};
    const uint64_t v[] = {st.batches,  st.events,  st.malformed, st.gaps,
                          st.restarts, st.replays, st.replayed,  st.purges};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        sy_buf_printf(out,
                      "# HELP switchyard_kv_events_%s_total %s\n"
                      "# TYPE switchyard_kv_events_%s_total counter\n"
                      "switchyard_kv_events_%s_total %llu\n",
                      names[i], help[i], names[i], names[i], (unsigned long long)v[i]);
    sy_buf_printf(out,
                  "# HELP switchyard_kv_events_sources Per-endpoint KV-event subscriptions open.\n"
                  "# TYPE switchyard_kv_events_sources gauge\nswitchyard_kv_events_sources %zu\n",
                  st.sources);
    struct sy_precise_stats ps = {0};
    pthread_mutex_lock(&S.mu);
    if (S.cur >= 0 && S.slots[S.cur].idx)
        sy_precise_index_stats(S.slots[S.cur].idx, &ps);
    pthread_mutex_unlock(&S.mu);
    sy_buf_printf(out,
                  "# HELP switchyard_precise_index_keys Request keys in the precise prefix index.\n"
                  "# TYPE switchyard_precise_index_keys gauge\nswitchyard_precise_index_keys %zu\n"
                  "# HELP switchyard_precise_index_engine_keys Engine block hashes mapped.\n"
                  "# TYPE switchyard_precise_index_engine_keys gauge\n"
                  "switchyard_precise_index_engine_keys %zu\n",
                  ps.keys, ps.engine_keys);
}

void sy_kvevents_shutdown(void)
{
    pthread_mutex_lock(&S.mu);
    bool started = S.started;
    S.started = false;
    pthread_mutex_unlock(&S.mu);
    if (started) {
        atomic_store(&S.stop, true);
        pthread_join(S.th, NULL);
    }
    pthread_mutex_lock(&S.mu);
    if (S.bound)
        zmq_close(S.bound);
    if (S.pending_bound)
        zmq_close(S.pending_bound);
    S.bound = S.pending_bound = NULL;
    free(S.bound_url);
    free(S.bind_url);
    free(S.filter);
    S.bound_url = S.bind_url = S.filter = NULL;
    for (int i = 0; i < MAX_INDEXES; i++) {
        sy_precise_index_free(S.slots[i].idx);
        free((char *)S.slots[i].o.hash_seed);
        memset(&S.slots[i], 0, sizeof S.slots[i]);
    }
    S.cur = -1;
    for (size_t i = 0; i < S.nwant; i++) {
        free(S.want[i].name);
        free(S.want[i].url);
    }
    free(S.want);
    S.want = NULL;
    S.nwant = 0;
    S.synced = false;
    for (size_t i = 0; i < S.npool; i++)
        free(S.pool_names[i]);
    free(S.pool_names);
    S.pool_names = NULL;
    S.npool = 0;
    S.npubs = 0;
    S.idx = NULL;
    S.seen_gen = 0;
    S.gen = 1;
    if (S.zctx) {
        zmq_ctx_term(S.zctx);
        S.zctx = NULL;
    }
    pthread_mutex_unlock(&S.mu);
}
