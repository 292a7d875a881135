/* sim_internal.h - state shared by sim_server.c (HTTP front of the replicas) and sim_pd.c
 * (prefill/decode disaggregation between them). Private to src/sim; not installed.
 *
 * Threading: everything runs on the server's loop.
 */
#ifndef SY_SIM_SIM_INTERNAL_H
#define SY_SIM_SIM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "sim/engine.h"
#include "sim/sim_server.h"

struct sy_http_req;
struct sy_http_server;
struct sy_sim_kvpub;
struct sy_upstream_pool;
struct sim_call;
struct sim_remote;

struct replica {
    struct sy_sim_server *srv;   /* owner */
    uint32_t index;              /* replica number (also the KV events dp_rank) */
    uint16_t port;               /* HTTP port */
    struct sy_sim_engine *eng;   /* the model */
    struct sy_http_server *http; /* its listener */
    uv_timer_t timer;            /* fires at the end of the step in flight */
    bool timer_init;             /* timer initialised */
    struct sy_sim_kvpub *kv;     /* KV events publisher or NULL */
    uint64_t next_id;            /* response id counter */
    enum sy_sim_role role;       /* P/D role */
    char engine_id[40];          /* NixlConnector remote_engine_id (a UUID) */
    uint32_t nparked;            /* its decodes parked in sim_pd.c */
    struct sim_dp *dp;           /* its data-parallel group (sim_dp.c), or NULL */
};

struct sy_sim_server {
    uv_loop_t *loop;         /* the loop */
    struct sy_sim_opts opts; /* copied options (strings borrowed from the caller) */
    char *model;             /* served model name (owned) */
    uint64_t wall0;          /* monotonic start */
    uint64_t rng;            /* failure injection generator */
    int reqlog_fd;           /* --request-log file (O_APPEND), or -1 */
    void *zctx;              /* ZMQ context (KV events) or NULL */
    struct replica *reps;    /* replicas */
    uint32_t nreps;          /* their count */
    uint32_t closing;        /* timers still closing */
    /* P/D (sim_pd.c) */
    uv_timer_t park_timer;                  /* deadline of the first parked decode */
    bool park_timer_init;                   /* park_timer initialised */
    struct sim_call *park_head, *park_tail; /* SGLang decodes waiting for their prefill */
    struct sim_room *ready_rooms;           /* rooms whose prefill ended (held or failed) */
    uint32_t nready, ready_cap;             /* their count and capacity */
    struct sim_release *releases;           /* pulls done or given up: free the held KV */
    uint32_t nreleases, releases_cap;       /* their count and capacity */
    bool pd_busy;                           /* inside sy_sim__pd_process */
    struct sy_upstream_pool *up;            /* side-channel client (created on first use) */
    struct sim_remote *remotes;             /* side-channel exchanges in flight */
    /* data parallel (sim_dp.c) */
    struct sim_dp *dps; /* groups of dp_size consecutive replicas, or NULL */
    uint32_t ndps;      /* their count */
};

/* What a request asks of P/D (parsed by sy_sim__pd_parse). */
enum sim_pd_kind {
    SIM_PD_NONE,         /* a plain request */
    SIM_PD_NIXL_PREFILL, /* kv_transfer_params.do_remote_decode: prefill and hold */
    SIM_PD_NIXL_DECODE,  /* kv_transfer_params.do_remote_prefill: pull, then decode */
    SIM_PD_SG_PREFILL,   /* bootstrap_room on a prefill replica */
    SIM_PD_SG_DECODE     /* bootstrap_room on a decode replica */
};

struct sim_pd {
    enum sim_pd_kind kind;  /* see above */
    enum sy_sim_pull claim; /* NIXL_DECODE: UNKNOWN when the params cannot name held KV */
    int32_t engine;         /* NIXL_DECODE: replica index named by remote_engine_id, or -1 */
    uint64_t key;           /* NIXL_DECODE: held key from remote_request_id; SG: the room */
    bool remote;            /* NIXL_DECODE: held by another process, claimed over its side
                               channel at remote_host:remote_port */
    uint16_t rport;         /* remote: remote_port */
    char rhost[64];         /* remote: remote_host */
    char reid[64];          /* remote: remote_engine_id */
    char rrid[64];          /* remote: remote_request_id */
};

/* An SGLang room whose prefill ended. */
struct sim_room {
    uint64_t key; /* the room */
    bool failed;  /* the prefill was aborted: its decodes prefill locally now */
};

/* A claimed held entry to free on a prefill replica. */
struct sim_release {
    uint32_t replica; /* prefill replica index */
    uint64_t key;     /* held key */
};

struct sim_call {
    struct replica *rep;      /* serving replica */
    struct sy_http_req *http; /* the client's request; NULL once it went away */
    struct sy_sim_req *ereq;  /* the engine's request; NULL while parked */
    bool chat;                /* chat completions (else completions) */
    bool anthropic;           /* /v1/messages: Anthropic output (sim_anthropic.c) */
    bool stream;              /* SSE */
    bool include_usage;       /* stream_options.include_usage */
    bool in_token;            /* inside on_token (abort must defer the free) */
    bool dead;                /* client went away during on_token */
    bool truncate;            /* --truncate-rate picked it: cut after its first token */
    uint32_t n_prompt;        /* prompt tokens */
    int32_t priority;         /* request `priority` (vLLM: lower first; priority policy only) */
    uint64_t created;         /* unix seconds */
    char id[48];              /* "chatcmpl-..." / "cmpl-..." */
    struct sy_buf text;       /* non-stream: generated text */
    /* P/D */
    struct sim_pd pd;                       /* what the request asked */
    uint64_t num;                           /* request number on its replica (NIXL held key) */
    uint32_t *park_ids;                     /* parked: prompt token ids (owned) */
    int64_t park_max_tokens;                /* parked: max_tokens for the submit */
    uint64_t park_deadline;                 /* parked: wall ns when it falls back */
    struct sim_call *park_prev, *park_next; /* parked list links */
    bool parked;                            /* in the parked list */
    bool pulled;                            /* claimed held KV on replica pd.engine (key pd.key) */
    bool released;                          /* that claim was handed back for release */
    struct sim_remote *claim;               /* side-channel claim in flight (parked meanwhile) */
};

/* sim_server.c */
uint64_t sy_sim__now(const struct sy_sim_server *s); /* simulated ns */
void sy_sim__kick(struct replica *r); /* advance r's engine to now and arm its timer */

/* sim_pd.c */
/* Parses the P/D fields of a completion body for replica r. Returns 0, or SY_EINVAL with a
 * client-facing message in err (answer 400). */
int sy_sim__pd_parse(const struct replica *r, const void *cjson_root, bool stream,
                     struct sim_pd *out, char *err, size_t errcap);
/* Submits c (c->pd parsed, ids[0..n) its prompt) to its replica's engine, or parks it (an SGLang
 * decode whose prefill has not finished yet: ids are copied). Returns 0, or SY_EINVAL when the
 * engine refused the request (nothing submitted or parked). */
int sy_sim__pd_submit(struct sim_call *c, const uint32_t *ids, uint32_t n, int64_t max_tokens);
/* Appends `,"kv_transfer_params":...` for a finished request's non-streaming response. */
void sy_sim__pd_response_params(const struct sim_call *c, const struct sy_sim_req *q,
                                struct sy_buf *b);
/* A request finished (inside engine callbacks): remembers SGLang rooms whose KV is now held. */
void sy_sim__pd_on_finish(struct sim_call *c, const struct sy_sim_req *q);
/* Outside engine callbacks: submits parked decodes whose prefill is ready or whose deadline has
 * passed. */
void sy_sim__pd_process(struct sy_sim_server *s);

/* Data parallel (sim_dp.c): groups of opts.dp_size consecutive replicas stepping in lockstep,
 * each with a supervisor HTTP server. start: after the replicas; 0 or -1 with err. kick: advance
 * r's group to now and arm its timer. close: closes the supervisors and timers, returns how many
 * handles will call cb with the server. free: after every handle closed. */
int sy_sim__dp_start(struct sy_sim_server *s, char *err, size_t errcap);
void sy_sim__dp_kick(struct sim_dp *g);
uint32_t sy_sim__dp_close(struct sy_sim_server *s, uv_close_cb cb);
void sy_sim__dp_free(struct sy_sim_server *s);
/* The client of a call went away: unlinks a parked call, hands back a pull in progress (the
 * caller frees c). */
void sy_sim__pd_client_gone(struct sim_call *c);
/* Engine callback (ud = the decode's replica): the pull completed; the prefill's blocks are
 * freed at the next sy_sim__pd_process. */
void sy_sim__pd_on_loaded(void *ud, struct sy_sim_req *q, uint64_t now_ns);
/* Lifecycle of the P/D state: start after the replicas exist; close frees parked calls and
 * closes the park timer (returns true when a handle close is pending, cb runs then). */
void sy_sim__pd_start(struct sy_sim_server *s);
bool sy_sim__pd_close(struct sy_sim_server *s, uv_close_cb cb);
/* The side channel a replica serves for decodes of other processes (POST /_sim/kv/claim and
 * /_sim/kv/release): answers req. */
void sy_sim__pd_handle_side_channel(struct replica *r, struct sy_http_req *req, bool claim);
/* Fills r->engine_id with a UUID-shaped id derived from seed, start time and index. */
void sy_sim__pd_engine_id(struct replica *r, uint64_t seed);

#endif
