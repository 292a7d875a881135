/* internal.h - structures shared by the scheduler's own files (sched.c, epp_config.c,
 * registry.c). Plugins never include this: they see only plugin.h.
 */
#ifndef SY_SCHED_INTERNAL_H
#define SY_SCHED_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/plugin.h"
#include "sched/sched.h"

struct sy_metric;
struct sy_metric_family;

enum sy_sched_ext {
    SY_SCHED_EXT_PRODUCE,     /* "PrepareData" */
    SY_SCHED_EXT_FILTER,      /* "Filter" */
    SY_SCHED_EXT_SCORE,       /* "Scorer" */
    SY_SCHED_EXT_PICK,        /* "Picker" */
    SY_SCHED_EXT_PRE_REQUEST, /* "PreRequest" */
    SY_SCHED_EXT_DONE,        /* "ResponseComplete" */
    SY_SCHED_EXT_COUNT
};

/* One configured plugin instance. */
struct sy_sched_plugin {
    const struct sy_plugin_ops *ops;            /* its type */
    void *state;                                /* from ops->create; owned */
    char *name;                                 /* instance name; owned */
    int line;                                   /* config line (0 = injected by the loader) */
    bool injected;                              /* created by a loader default, not the user */
    struct sy_metric *hist[SY_SCHED_EXT_COUNT]; /* plugin_duration children (metrics attached) */
};

struct sy_sched_weighted {
    struct sy_sched_plugin *p; /* borrowed from the scheduler's list */
    double weight;             /* llm-d: default 1 */
};

struct sy_sched_profile {
    char *name;                       /* owned */
    struct sy_sched_plugin **filters; /* borrowed pointers; array owned */
    size_t nfilters;
    struct sy_sched_weighted scorers[SY_SCHED_MAX_SCORERS]; /* in config order */
    size_t nscorers;
    struct sy_sched_plugin *picker; /* borrowed */
};

#define SY_SCHED_MAX_PARSERS 8  /* parser entries in requestHandler.parsers */
#define SY_SCHED_RING        64 /* decisions kept for GET /debug/decisions */
#define SY_SCHED_RING_TOP    8  /* candidates kept per decision (best totals) */

struct sy_sched_record_cand {
    char addr[64];                      /* endpoint address (truncated) */
    double total;                       /* weighted sum */
    float scores[SY_SCHED_MAX_SCORERS]; /* clamped per-scorer scores */
};

struct sy_sched_record {
    uint64_t seq;                                       /* decision number */
    double wall;                                        /* wall clock seconds */
    char request_id[64];                                /* x-request-id (truncated) */
    char model[64];                                     /* model (truncated) */
    const struct sy_sched_profile *prof;                /* profile that ran (lives as long as s) */
    char chosen[64];                                    /* chosen address, "" when failed */
    char prefill[64];                                   /* P/D prefill pick, "" when none */
    uint32_t ncands;                                    /* candidates scored */
    uint32_t nkept;                                     /* entries in top[] */
    struct sy_sched_record_cand top[SY_SCHED_RING_TOP]; /* best totals first */
};

struct sy_scheduler {
    struct sy_sched_plugin **plugins; /* every instance, config order then injected; owned */
    size_t nplugins;
    struct sy_sched_plugin *handler;   /* the profile handler (borrowed from plugins) */
    struct sy_sched_profile *profiles; /* owned */
    size_t nprofiles;
    struct sy_sched_plugin **producers; /* instances with a produce hook; array owned */
    size_t nproducers;
    struct sy_sched_plugin **admitters; /* admission plugins, config order; array owned */
    size_t nadmitters;
    bool wants_prefix; /* some producer produces SY_PREFIX_KEY */
    bool wants_loras;  /* some plugin needs_loras: candidates carry their LoRA lists */
    enum sy_parser parsers[SY_SCHED_MAX_PARSERS]; /* requestHandler.parsers in order (parsers.c) */
    size_t nparsers;

    struct sy_metric *e2e;           /* scheduler_e2e_duration_seconds (NULL: no metrics) */
    struct sy_metric *attempts_ok;   /* scheduler_attempts_total{status="success"} */
    struct sy_metric *attempts_fail; /* scheduler_attempts_total{status="failure"} */
    struct sy_metric *slot_lost; /* switchyard_scheduler_slot_lost_total (sy_sched_pick_charge) */
    struct sy_metric_family *pd_decisions;     /* disagg_decision_total (NULL: no metrics) */
    struct sy_metric_family *pd_decisions_old; /* deprecated pd_decision_total twin */

    pthread_mutex_t ring_mu; /* guards the ring */
    struct sy_sched_record ring[SY_SCHED_RING];
    uint64_t ring_seq; /* decisions recorded so far */
};

/* Registry (registry.c). */
const struct sy_plugin_ops *sy_sched__registry_find(const char *type);
/* Canonical name for a legacy alias, or NULL. */
const char *sy_sched__registry_alias(const char *type);
/* Why a known llm-d type is not available ("not supported by Switchyard yet ..."), or NULL. */
const char *sy_sched__registry_unsupported(const char *type);
/* The specific reason a known llm-d type is refused (checked before the list above), or NULL. */
const char *sy_sched__registry_reason(const char *type);
/* The default producer of a data key, or NULL. */
const struct sy_plugin_ops *sy_sched__registry_producer(const char *key);
size_t sy_sched__registry_count(void);
const struct sy_plugin_ops *sy_sched__registry_at(size_t i);

/* Loader (epp_config.c): fills s from cfg (NULL = built-in default). */
int sy_sched__load(struct sy_scheduler *s, const struct sy_yaml_node *cfg, const char *file,
                   char *err, size_t errcap);
/* Request parsers (parsers.c): fills s->parsers from `parser` (v0.8) or `requestHandler` (router),
 * either may be NULL; with neither, llm-d's defaults (legacy: v0.8's apiVersion). Plugins must be
 * loaded. Returns 0 or SY_ECONFIG with "FILE:LINE: key: reason" in err. */
int sy_sched__load_parsers(struct sy_scheduler *s, const char *file,
                           const struct sy_yaml_node *parser, const struct sy_yaml_node *handler,
                           bool legacy, char *err, size_t errcap);
/* Frees what the loader built (plugins, profiles). */
void sy_sched__unload(struct sy_scheduler *s);

#endif
