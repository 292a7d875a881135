/* config.h - the gateway's configuration (`switchyard gateway --config FILE`).
 *
 * sy_config_load parses and validates the whole file: unknown keys, bad values and bad references
 * are errors reported as `FILE:LINE: key: reason`. The scheduler section is handed, as a YAML
 * subtree, to the scheduler's own loader (src/sched), so `--check` validates it too.
 *
 * A loaded config is immutable and reference-counted: a SIGHUP reload builds a new one and swaps it
 * in; requests still holding the old one finish with it.
 */
#ifndef SY_CONFIG_CONFIG_H
#define SY_CONFIG_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/yaml.h"
#include "disagg/disagg_config.h"

#define SY_CONFIG_MAX_ENDPOINTS    1024 /* pool.endpoints entries (= SY_SCHED_MAX_CANDIDATES) */
#define SY_CONFIG_MAX_LABELS       64   /* labels per endpoint */
#define SY_CONFIG_MAX_TARGET_PORTS 8    /* targetPorts of a multi-port entry (InferencePool max) */
#define SY_CONFIG_MAX_WORKERS      1024 /* workers */
#define SY_CONFIG_MAX_BUSY_POLL_NS 10000000ull /* busyPoll: 10ms */

enum sy_engine {
    SY_ENGINE_VLLM,    /* vllm:* metric names (default) */
    SY_ENGINE_SGLANG,  /* sglang:* */
    SY_ENGINE_TRTLLM,  /* trtllm_* (trtllm-serve) */
    SY_ENGINE_LLAMACPP /* llamacpp:* (llama.cpp server --metrics) */
};

struct sy_label {
    char *key;   /* owned */
    char *value; /* owned */
};

struct sy_endpoint_config {
    char *address;           /* "host:port" as written; owned */
    char host[256];          /* parsed host */
    uint16_t port;           /* parsed port */
    struct sy_label *labels; /* owned array */
    size_t nlabels;          /* label count */
    char *kv_events;         /* optional "tcp://HOST:PORT" KV-event publisher; owned or NULL */
    int line;                /* line in the config file, for messages */
    /* Multi-port entries (host + targetPorts: one endpoint per port, docs/wide-ep.md): */
    uint16_t supervisor_port; /* vLLM data-parallel supervisor port whose /readyz gates this
                                 endpoint, or 0 */
    int16_t rank;             /* index of the port in its entry's targetPorts, -1 for address: */
};

struct sy_config {
    _Atomic int refs;            /* reference count; sy_config_unref frees at 0 */
    char *file;                  /* path it was loaded from; owned */
    char listen_host[256];       /* client listener */
    uint16_t listen_port;        /* its port (0 = ephemeral) */
    char admin_host[256];        /* admin listener (/metrics, /health, /ready, /debug) */
    uint16_t admin_port;         /* its port */
    bool admin_shared;           /* admin == listen: admin routes served on the client port */
    int workers;                 /* worker threads; 0 in the file means one per core */
    uint64_t busy_poll_ns;       /* busyPoll: workers poll this long after I/O; 0 = off */
    enum sy_engine engine;       /* pool.engine */
    uint64_t scrape_interval_ns; /* pool.scrapeInterval, default 50ms */
    uint64_t staleness_ns;       /* pool.metricsStalenessThreshold, default 2s */
    struct sy_endpoint_config *endpoints; /* pool.endpoints; owned */
    size_t nendpoints;                    /* at least 1 */
    uint64_t max_body_bytes;              /* limits.maxBodyBytes, default 32 MiB */
    uint64_t connect_timeout_ns;          /* timeouts.connect, default 2s */
    /* timeouts.request: upstream response headers deadline, default 300s */
    uint64_t request_timeout_ns;
    uint64_t idle_timeout_ns; /* timeouts.idle: client/upstream keep-alive idle, default 60s */
    /* timeouts.drain: SIGTERM grace for in-flight streams, default 30s */
    uint64_t drain_timeout_ns;
    /* pool.disaggregation: the P/D exchange (connector, timeouts, fallback); defaults if absent */
    struct sy_disagg_config disagg;
    /* pool.forwardPriority: add the request's flow-control priority to the body as vLLM's
     * `priority` (negated: vLLM runs lower values first), default false */
    bool forward_priority;
    int max_retries;            /* retry.maxAttempts: endpoints tried per request, default 3 */
    uint64_t header_timeout_ns; /* timeouts.header: whole client request head, default 30s */
    uint64_t body_timeout_ns;   /* timeouts.body: whole client request body, default 120s */
    uint64_t send_timeout_ns;   /* timeouts.send: a client taking no bytes, default 60s */
    /* timeouts.streamIdle: upstream silence allowed once the response body streams, default 300s
     */
    uint64_t stream_idle_ns;
    uint64_t max_conns_per_worker; /* limits.maxConnectionsPerWorker; 0 = from the fd limit */
    char **api_keys;               /* auth.apiKeys + auth.apiKeysFile lines; owned */
    size_t napi_keys;              /* their count; 0 = client routes open */
    bool protect_admin;            /* auth.protectAdmin: /metrics and /debug/... need a key */
    char *tls_cert_file;           /* tls.certFile resolved against the file's directory; owned */
    char *tls_key_file;            /* tls.keyFile, likewise; owned */
    bool tls_admin;                /* tls.admin: the admin listener serves TLS too */
    bool upstream_tls;             /* pool.tls present: HTTPS to the endpoints */
    char *upstream_ca_file;        /* pool.tls.caFile (resolved), NULL = system store; owned */
    char *upstream_server_name;    /* pool.tls.serverName, NULL = each endpoint's host; owned */
    bool upstream_tls_verify;      /* !pool.tls.insecureSkipVerify */
    char *log_level;               /* logLevel: debug|info|warn|error; owned or NULL */
    struct sy_yaml_node *root;     /* the whole parsed file; owned */
    const struct sy_yaml_node *scheduler; /* `scheduler` subtree or the schedulerFile's root; NULL
                                             means llm-d's built-in default */
    struct sy_yaml_node *scheduler_root;  /* root of schedulerFile when used; owned */
    /* file the scheduler section came from (for messages): the resolved schedulerFile path, else
     * a copy of file; owned */
    char *scheduler_file;
    /* inferenceObjectives: [{name, priority}] (validated by src/flow); NULL when absent */
    const struct sy_yaml_node *inference_objectives;
};

/* Loads and validates FILE. Returns a config with refs == 1, or NULL with the first error in err
 * ("FILE:LINE: key: reason"). Does not validate the scheduler section's plugins: the caller
 * builds the scheduler from cfg->scheduler and reports its errors the same way. */
struct sy_config *sy_config_load(const char *path, char *err, size_t errcap);
/* Same, from text in memory (tests, fuzzing); name stands in for the file name (and a relative
 * schedulerFile resolves against its directory). */
struct sy_config *sy_config_load_string(const char *text, size_t len, const char *name, char *err,
                                        size_t errcap);
struct sy_config *sy_config_ref(struct sy_config *c);
void sy_config_unref(struct sy_config *c);
/* "vllm", "sglang", "trtllm", "llamacpp" (static). */
const char *sy_engine_name(enum sy_engine e);
/* The reverse of sy_engine_name; returns 0 or SY_EINVAL. */
int sy_engine_parse(const char *s, enum sy_engine *out);

#endif
