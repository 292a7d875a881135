/* sim_server.h - simulated vLLM replicas: one engine per replica behind the OpenAI HTTP API.
 *
 * sy_sim_server_start() binds N HTTP servers on one libuv loop, each driving its own
 * struct sy_sim_engine with a uv timer (never a busy loop): simulated time runs time_scale times
 * faster than wall time. Each replica serves /v1/completions, /v1/chat/completions (stream and
 * non-stream), /v1/models, /health, /metrics, /tokenize, and optionally publishes KV events.
 *
 * Threading: everything runs on the loop given to start.
 */
#ifndef SY_SIM_SIM_SERVER_H
#define SY_SIM_SIM_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct sy_tokenizer;

#include "sim/engine.h"
#include "sim/sched_policy.h"

struct sy_buf;

/* Failure kinds of llm-d-inference-sim's --failure-types (bit flags). */
enum sy_sim_failure {
    SY_SIM_FAIL_RATE_LIMIT = 1 << 0,      /* 429 */
    SY_SIM_FAIL_INVALID_API_KEY = 1 << 1, /* 401 */
    SY_SIM_FAIL_CONTEXT_LENGTH = 1 << 2,  /* 400 */
    SY_SIM_FAIL_SERVER_ERROR = 1 << 3,    /* 503 */
    SY_SIM_FAIL_INVALID_REQUEST = 1 << 4, /* 400 */
    SY_SIM_FAIL_MODEL_NOT_FOUND = 1 << 5, /* 404 */
    SY_SIM_FAIL_ALL_ = (1 << 6) - 1,      /* the default: llm-d-inference-sim's six kinds */
    SY_SIM_FAIL_INTERNAL_ERROR = 1 << 6   /* 500; only when named (fault soaks) */
};
/* Parses "rate_limit,server_error,..." into flags; 0 or SY_EINVAL with the bad name in err. */
int sy_sim_parse_failure_types(const char *s, unsigned *out, char *err, size_t errcap);

#define SY_SIM_MAX_REPLICAS 1024 /* replicas per process */

/* P/D role of a replica (llm-d's pod label llm-d.ai/role). Every role serves plain requests and
 * both NixlConnector legs, as vLLM with kv_role kv_both does; SGLang's bootstrap fields are
 * honoured by prefill and decode replicas only (SGLang's --disaggregation-mode). */
enum sy_sim_role {
    SY_SIM_ROLE_BOTH,    /* aggregated: prefill and decode */
    SY_SIM_ROLE_PREFILL, /* prefill pool */
    SY_SIM_ROLE_DECODE   /* decode pool */
};
const char *sy_sim_role_name(enum sy_sim_role r); /* "both", "prefill", "decode" */

/* KV connector protocol the replicas speak. */
enum sy_sim_connector {
    SY_SIM_CONN_NIXLV2, /* vLLM NixlConnector: kv_transfer_params */
    SY_SIM_CONN_SGLANG  /* SGLang PD: bootstrap_host / bootstrap_port / bootstrap_room */
};

struct sy_sim_opts {
    const char *host;                          /* bind address (default 127.0.0.1) */
    uint16_t ports[SY_SIM_MAX_REPLICAS];       /* one port per replica */
    uint32_t replicas;                         /* replica count */
    const char *model;                         /* served model name */
    struct sy_sim_profile prof;                /* profile with flag overrides applied */
    const struct sy_sim_profile *replica_prof; /* [replicas] per-group profiles (--profile A:N,B),
                                                  NULL = prof for every replica */
    double time_scale;                         /* simulated seconds per wall second (> 0) */
    uint64_t seed;                             /* determinism seed (replica i uses seed + i) */
    double failure_rate;                       /* percent of completion requests failed, 0..100 */
    unsigned failure_types;                    /* SY_SIM_FAIL_* (0 = all) */
    const char *kv_events;                     /* "tcp://HOST:PORT" (replica i on PORT+i) or NULL */
    bool kv_map_format;                        /* tagged-map event encoding instead of arrays */
    bool kv_connect;       /* dial kv_events (central subscriber) instead of binding */
    const char *kv_replay; /* "tcp://HOST:PORT" replay ROUTER (PORT+i) or NULL */
    const struct sy_tokenizer *tokenizer; /* Hugging Face tokenizer (--tokenizer DIR), borrowed;
                                             NULL = the built-in tokenizer */
    uint8_t roles[SY_SIM_MAX_REPLICAS];   /* enum sy_sim_role per replica (0 = both) */
    enum sy_sim_connector connector;      /* P/D protocol (default nixlv2) */
    uint32_t dp_size;            /* data-parallel ranks per group (vLLM --data-parallel-size-local;
                                    0/1 = none): replicas [g*dp_size, (g+1)*dp_size) step in
                                    lockstep (src/sim/lockstep.h) and publish KV events with
                                    data_parallel_rank = index within the group */
    uint16_t dp_supervisor_port; /* group g's supervisor (/health, /ready, /readyz) on this + g;
                                    0 = ephemeral */
    /* fault injection for soaks (bench/fault_soak.py) */
    double truncate_rate;      /* percent of streaming completions cut after their first token
                                  (the connection is closed with no end chunk) */
    uint32_t metrics_delay_ms; /* GET /metrics answered this late (0 = at once) */
    const char *request_log;   /* append "PORT X-REQUEST-ID\n" per completion request received,
                                  or NULL */
    struct sy_sim_sched sched; /* --scheduling-policy, --long-prefill-token-threshold */
};

struct sy_sim_server;

/* Starts every replica. Returns NULL with a message in err on failure (nothing left running). */
struct sy_sim_server *sy_sim_server_start(uv_loop_t *loop, const struct sy_sim_opts *opts,
                                          char *err, size_t errcap);
/* The port of data-parallel group g's supervisor (0 when none). */
uint16_t sy_sim_server_supervisor_port(const struct sy_sim_server *s, uint32_t g);
/* The port replica i listens on. */
uint16_t sy_sim_server_port(const struct sy_sim_server *s, uint32_t i);
/* The engine of replica i (borrowed; for benchmarks and tests). */
struct sy_sim_engine *sy_sim_server_engine(struct sy_sim_server *s, uint32_t i);
/* Stops the replicas and frees everything once their handles have closed (run the loop). */
void sy_sim_server_close(struct sy_sim_server *s);

/* Renders the engine's state as vLLM's /metrics exposition (appends to out). */
void sy_sim_render_metrics(const struct sy_sim_engine *e, const char *model, struct sy_buf *out);
/* Appends the P/D series of one replica: vLLM's NIXL metrics and Switchyard's replica info
 * (role, connector, engine id), held KV, decodes parked waiting for their KV (parked), and
 * fallbacks by reason. */
void sy_sim_render_pd_metrics(const struct sy_sim_engine *e, const char *model,
                              enum sy_sim_role role, enum sy_sim_connector conn,
                              const char *engine_id, uint32_t parked, struct sy_buf *out);

/* Entry point of `switchyard sim`. */
int sy_sim_main(int argc, char **argv);

#endif
