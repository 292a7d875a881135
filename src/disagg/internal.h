/* internal.h - the exchange's state and the connector interface, shared by disagg.c and the
 * connector files (nixlv2.c, sglang.c, sidecar.c). The front end sees only disagg.h.
 */
#ifndef SY_DISAGG_INTERNAL_H
#define SY_DISAGG_INTERNAL_H

#include "api/json_splice.h"
#include "disagg/disagg.h"

#define SY_DISAGG_ANSWER_CAP (1u << 20) /* prefill answers larger than this are unusable */

enum sy_dx_state {
    SY_DX_IDLE,     /* no exchange started */
    SY_DX_PREFILL,  /* waiting for the prefill answer (nixlv2) */
    SY_DX_DECODE,   /* decode leg handed to the host (P/D) */
    SY_DX_FALLBACK, /* decode leg handed to the host (decode-only fallback) */
    SY_DX_ENDED     /* answered with an error or the prefill's 4xx */
};

/* A connector: one const ops table per file, chosen by pool.disaggregation.connector. */
struct sy_disagg_connector {
    const char *name; /* "nixlv2", "sglang", "sidecar" */
    bool prefill_leg; /* the gateway sends a prefill request */
    bool concurrent;  /* decode starts with prefill; the prefill answer is read and dropped */
    /* The prefill leg's body, flattened into out (one copy of the client's body). */
    int (*prefill_body)(struct sy_disagg *dx, struct sy_buf *out, char *err, size_t errcap);
    /* A 2xx prefill answer: keep what decode needs; 0, or -1 with a reason (unusable). */
    int (*take_answer)(struct sy_disagg *dx, const char *body, size_t len, char *why,
                       size_t whycap);
    /* The decode leg's body as segments (NULL hook: the client's body as is). */
    int (*decode_body)(struct sy_disagg *dx, struct sy_json_splice *out, char *err, size_t errcap);
    /* Extra decode header lines (NULL hook: none). */
    void (*decode_headers)(struct sy_disagg *dx, struct sy_buf *out);
};

extern const struct sy_disagg_connector sy_disagg_nixlv2;
extern const struct sy_disagg_connector sy_disagg_sglang;
extern const struct sy_disagg_connector sy_disagg_sidecar;

struct sy_disagg {
    struct sy_disagg_host h;                /* the front end's loan */
    char reqid[64];                         /* copy of h.request_id (outlives the front end) */
    const struct sy_disagg_connector *conn; /* from the config */
    struct sy_sched_result *res;            /* the current decision (borrowed) */
    enum sy_dx_state state;                 /* where the exchange is */
    /* prefill leg */
    struct sy_endpoint *pep;    /* its endpoint (reference) */
    bool p_inflight;            /* in-flight counted on pep */
    int64_t p_tokens;           /* the count's token estimate */
    struct sy_upstream_req *up; /* the leg in flight, NULL when none */
    struct sy_buf phead, pbody; /* its request (owned: outlives the client) */
    struct sy_buf pans;         /* its answer body */
    int pstatus;                /* its answer status */
    struct sy_buf pheaders;     /* answer header lines kept for a 4xx pass-through */
    int attempts;               /* prefill legs in this exchange */
    unsigned flags;             /* SY_DISAGG_* of this exchange */
    bool last_timeout;          /* the last failed leg timed out (504, not 502) */
    unsigned resends;           /* of those, resent on a fresh connection by the client */
    struct sy_endpoint *failed[SY_DISAGG_MAX_ATTEMPTS * 2]; /* prefill endpoints that failed */
    size_t nfailed;
    uint64_t t_prefill0, t_prefill1; /* leg start / answer (monotonic ns) */
    /* what the decode leg carries */
    struct sy_str params;          /* kv_transfer_params (view into pans) */
    long long cached;              /* prefill's cached tokens, -1 unknown */
    const char *fallback_reason;   /* decode-only fallback reason, or NULL */
    char prefill_addr[64];         /* endpoint that prefilled, "" when none */
    uint64_t room;                 /* sglang bootstrap_room */
    char bootstrap[160];           /* sglang: bootstrap_host/port JSON values */
    struct sy_json_splice dsplice; /* decode body */
    bool dsplice_set;              /* dsplice holds the decode body */
    struct sy_buf dflat;           /* decode body flattened (too many segments) */
    struct sy_buf dheaders;        /* extra decode header lines */
    uint64_t t_decode0;            /* decode leg sent */
    bool first_byte;               /* decode answered */
    /* response filter */
    struct sy_buf fbuf; /* SSE line tail / JSON body held */
    bool fpass;         /* too large to hold: passed through as is */
    bool orphan;        /* host freed us while an sglang leg runs */
};

#endif
