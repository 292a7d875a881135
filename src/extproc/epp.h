/* epp.h - `switchyard epp`: the Endpoint Picker Protocol (Envoy ext_proc) front end.
 *
 * The gateway's lifecycle runs it (gateway.c: workers, reload, drain, admin, scraper); this
 * module only translates ext_proc Process streams into the shared core (gen/gen.h: parse ->
 * scheduler -> in-flight accounting and observers) and answers grpc.health.v1.
 *
 *   worker loop i:  ext_proc listener (SO_REUSEPORT, extProc.listen) -> Process + Health
 *   control loop:   health listener (extProc.healthListen)            -> Health
 */
#ifndef SY_EXTPROC_EPP_H
#define SY_EXTPROC_EPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"

struct sy_gateway;
struct sy_gw_worker;
struct sy_epp;

#define SY_EPP_CHUNK 62000 /* streamed_response chunk size (llm-d's) */

/* extProc section of the config (see docs/config.md). */
struct sy_epp_config {
    char host[256]; /* extProc.listen, default 0.0.0.0:9002 */
    uint16_t port;
    char health_host[256]; /* extProc.healthListen, default 0.0.0.0:9003 */
    uint16_t health_port;
    bool secure;      /* extProc.secureServing, default true */
    char *cert_file;  /* extProc.certFile (with keyFile), or NULL: self-signed; owned */
    char *key_file;   /* owned */
    bool emit_scores; /* extProc.emitEndpointScores (llm-d's --emit-endpoint-scores), default false
                       */
};

/* Reads cfg's extProc section. 0, or SY_ECONFIG with "FILE:LINE: extProc.key: reason". */
int sy_epp_config_parse(const struct sy_config *cfg, struct sy_epp_config *out, char *err,
                        size_t errcap);
void sy_epp_config_fini(struct sy_epp_config *c);

/* Builds the EPP for a gateway (parses extProc, prepares TLS). NULL with err. */
struct sy_epp *sy_epp_new(struct sy_gateway *gw, const struct sy_config *cfg, char *err,
                          size_t errcap);
void sy_epp_free(struct sy_epp *e);
/* Starts worker w's ext_proc listener on its loop (w->xp). */
int sy_epp_worker_start(struct sy_epp *e, struct sy_gw_worker *w, uint16_t port, char *err,
                        size_t errcap);
/* Starts / closes the health listener on the control loop. */
int sy_epp_health_start(struct sy_epp *e, uv_loop_t *loop, char *err, size_t errcap);
void sy_epp_health_stop(struct sy_epp *e);
const struct sy_epp_config *sy_epp_cfg(const struct sy_epp *e);
uint16_t sy_epp_health_port(const struct sy_epp *e);

#endif
