/* session_affinity.h - what llm-d's session-affinity-scorer and session-affinity-filter share
 * (llm-d: plugins/scheduling/util/sessionaffinity): parameters, the two strategies, and the
 * session_id binding table. The scorer and the filter differ only in their output (1.0 for the
 * session's endpoint vs. keeping it alone).
 *
 *   strategy encoded_endpoint_header (default): stateless; the request header (default
 *     x-session-token, `encodedEndpointHeaderConfig.header`) carries base64 of the endpoint that
 *     served the previous turn; the response carries the served endpoint in the same header.
 *   strategy session_id: the client sends an opaque id (`sessionIdConfig.sources`, default the
 *     header x-session-id, first non-empty wins); the gateway binds id -> endpoint in PreRequest
 *     (first pick binds; a binding migrates only when its endpoint was absent from this request's
 *     candidates), drops bindings unused for evictionTtlSeconds (swept every
 *     evictionSweepSeconds), and writes nothing back.
 */
#ifndef SY_SCHED_SESSION_AFFINITY_H
#define SY_SCHED_SESSION_AFFINITY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/plugin.h"

#define SY_SESSION_MAX_SOURCES 8 /* sessionIdConfig.sources entries */
/* session_id bindings kept. When full, a new session is not bound (it gets no affinity) until the
 * TTL sweep frees room; nothing is evicted early. */
#define SY_SESSION_MAX_BINDINGS 100000

struct sy_session_binding;

struct sy_session {
    bool session_id;  /* strategy session_id (else encoded header) */
    char *profile;    /* profileName: the profile whose pick is pinned / written back; NULL = the
                         served (primary) pick; owned */
    char header[128]; /* encoded strategy: lowercase header name */
    char sources[SY_SESSION_MAX_SOURCES][128]; /* session_id: header names, priority order */
    size_t nsources;                           /* entries in sources */
    uint64_t ttl_ns;                           /* evictionTtlSeconds */
    uint64_t sweep_ns;                         /* evictionSweepSeconds */
    pthread_mutex_t mu;                        /* guards the fields below */
    struct sy_session_binding *bindings;       /* hash bucket heads (chains), lazily made */
    struct sy_session_binding *lru_old;        /* least recently used binding (evicted first) */
    struct sy_session_binding *lru_new;        /* most recently used binding */
    size_t nbindings;                          /* entries in bindings */
    uint64_t last_sweep_ns;                    /* monotonic time of the last sweep */
};

/* sy_session_new, _free, _pre_request and _response_header have the plugin hooks' shapes: both
 * ops tables name them directly. */

/* Parses the parameters of `type` (session-affinity-scorer or -filter) into a new session
 * object (*state, a struct sy_session). Returns 0 or SY_ECONFIG with "FILE:LINE: key: reason" in
 * err. Free with sy_session_free. */
int sy_session_new(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                   char *err, size_t errcap);
void sy_session_free(void *s);

/* The candidate the request is pinned to: its index in c[0..n), or -1 (no token/id, unbound,
 * or the bound endpoint is not a candidate). Records an absence for sy_session_pre_request. */
long sy_session_choose(struct sy_session *s, const struct sy_sched_cycle *cy,
                       const struct sy_sched_candidate *c, size_t n);
/* session_id: binds the request's session to the chosen endpoint, or with profileName to that
 * profile's pick (none when it did not run: decode-only) (PreRequest). */
void sy_session_pre_request(void *state, struct sy_sched_cycle *cy,
                            const struct sy_sched_candidate *chosen);
/* encoded strategy: appends "<header>: base64(address)\r\n" of the served endpoint, or with
 * profileName of that profile's pick (no header when it did not run); session_id: nothing. */
void sy_session_response_header(void *state, const struct sy_sched_cycle *cy,
                                const struct sy_endpoint *served, struct sy_buf *out);

#endif
