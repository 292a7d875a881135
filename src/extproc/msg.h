/* msg.h - the ext_proc v3 and grpc.health.v1 messages Switchyard's EPP reads and writes.
 *
 * Written from the field table (docs/kubernetes.md, "ext_proc messages"); no generated code.
 *
 *   ProcessingRequest  --sy_xp_decode-->  struct sy_xp_req (which phase, headers, body, eos,
 *                                         envoy.lb.subset_hint, served endpoint)
 *   decision / chunks  --sy_xp_put_*-->   ProcessingResponse bytes (one gRPC message each)
 *
 * Decoded views point into the message bytes: they live as long as the caller's input buffer.
 */
#ifndef SY_EXTPROC_MSG_H
#define SY_EXTPROC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/str.h"

/* ProcessingRequest.request oneof field numbers (also ProcessingResponse's, minus one). */
enum sy_xp_phase {
    SY_XP_NONE = 0,
    SY_XP_REQUEST_HEADERS = 2,
    SY_XP_RESPONSE_HEADERS = 3,
    SY_XP_REQUEST_BODY = 4,
    SY_XP_RESPONSE_BODY = 5,
    SY_XP_REQUEST_TRAILERS = 6,
    SY_XP_RESPONSE_TRAILERS = 7,
};

#define SY_XP_MAX_HEADERS 256 /* headers kept per message; more is an error */
#define SY_XP_MAX_SUBSET  64  /* entries of the subset hint kept */

struct sy_xp_req {
    enum sy_xp_phase phase;                  /* which oneof arm was set */
    struct sy_str names[SY_XP_MAX_HEADERS];  /* headers: key */
    struct sy_str values[SY_XP_MAX_HEADERS]; /* raw_value when present, else value */
    size_t nheaders;
    bool end_of_stream;                     /* HttpHeaders.end_of_stream / HttpBody.end_of_stream */
    struct sy_str body;                     /* HttpBody.body */
    struct sy_str subset[SY_XP_MAX_SUBSET]; /* envoy.lb.subset_hint x-gateway-destination-
                                               endpoint-subset (ip:port entries) */
    size_t nsubset;
    bool has_subset;      /* the hint was present (an empty one means no endpoint qualifies) */
    struct sy_str served; /* envoy.lb x-gateway-destination-endpoint-served, or empty */
    bool observability_mode;
};

/* Decodes a ProcessingRequest. Returns 0, or -1 with a reason in err (malformed protobuf, no
 * phase set, too many headers). */
int sy_xp_decode(const void *msg, size_t len, struct sy_xp_req *out, char *err, size_t errcap);

/* Header lookup (case-insensitive); false when absent. */
bool sy_xp_header(const struct sy_xp_req *r, const char *name, struct sy_str *out);

/* One header to set (HeaderValueOption with OVERWRITE_IF_EXISTS_OR_ADD). */
struct sy_xp_set {
    const char *name;
    struct sy_str value;
};

/* ProcessingResponse{request_headers: {response: {clear_route_cache, header_mutation}},
 * dynamic_metadata: {"envoy.lb": {"x-gateway-destination-endpoint": dest}}}. */
void sy_xp_put_route(struct sy_buf *b, const struct sy_xp_set *set, size_t nset, const char *dest);

/* One endpoint's score for envoy.lb/x-gateway-destination-endpoint-scores. */
struct sy_xp_score {
    const char *addr; /* ip:port */
    double score;
};

/* The routing answer in full: headers to set and to remove (HeaderMutation.remove_headers), the
 * destination, and optionally the endpoint scores (llm-d's --emit-endpoint-scores) as a Struct
 * ip:port -> number beside the destination in dynamic_metadata["envoy.lb"]. */
struct sy_xp_route {
    const struct sy_xp_set *set;
    size_t nset;
    const char *const *remove;
    size_t nremove;
    const char *dest;
    const struct sy_xp_score *scores;
    size_t nscores;
};
void sy_xp_put_route_ex(struct sy_buf *b, const struct sy_xp_route *r);
/* ProcessingResponse{request_body|response_body: {response: {body_mutation: {streamed_response:
 * {body, end_of_stream}}}}}; phase is SY_XP_REQUEST_BODY or SY_XP_RESPONSE_BODY. */
void sy_xp_put_body_chunk(struct sy_buf *b, enum sy_xp_phase phase, const void *p, size_t n,
                          bool eos);
/* A CONTINUE answer for a phase (response headers, trailers, or a body in a non-streamed mode),
 * with headers to set (nset may be 0). */
void sy_xp_put_continue(struct sy_buf *b, enum sy_xp_phase phase, const struct sy_xp_set *set,
                        size_t nset);
/* ProcessingResponse{immediate_response: {status, headers, body}}. */
void sy_xp_put_immediate(struct sy_buf *b, int http_status, const struct sy_xp_set *set,
                         size_t nset, const char *body, size_t body_len);

/* grpc.health.v1: HealthCheckRequest.service (1); HealthCheckResponse.status (1). */
enum { SY_HEALTH_UNKNOWN = 0, SY_HEALTH_SERVING = 1, SY_HEALTH_NOT_SERVING = 2 };
int sy_health_decode(const void *msg, size_t len, struct sy_str *service);
void sy_health_put(struct sy_buf *b, int status);

#endif
