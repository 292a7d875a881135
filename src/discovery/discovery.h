/* discovery.h - pool membership from the cluster: endpoints that come and go while the process
 * runs (pool.discovery). Static pool.endpoints stay as they are and are always part of the pool.
 *
 *   control loop: timer --> uv_queue_work (resolver thread) --> results on the loop
 *                 --> changed? --> cb(ud, endpoints) --> the front end builds the next
 *                     generation with sy_gen_with_pool (same config and scheduler, new pool)
 *
 * DNS (dns.c): a name re-resolved every interval; A/AAAA records with a configured port, or SRV
 * records (each target's port, targets' A/AAAA). NXDOMAIN or no records means no endpoints; a
 * failed lookup (timeout, SERVFAIL) keeps the last set and is logged.
 */
#ifndef SY_DISCOVERY_DISCOVERY_H
#define SY_DISCOVERY_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"

struct sy_discovery;

/* The full discovered set (not including static endpoints), sorted by address. Borrowed for the
 * call. */
typedef void sy_discovery_cb(void *ud, const struct sy_endpoint_config *eps, size_t n);

/* Validates cfg's pool.discovery ("FILE:LINE: pool.discovery.key: reason"); 0 when valid or
 * absent. */
int sy_discovery_check(const struct sy_config *cfg, char *err, size_t errcap);
/* sy_config_load followed by sy_discovery_check: the configuration every front end starts and
 * reloads from. NULL with err ("FILE:LINE: key: reason") when either refuses it. Caller unrefs. */
struct sy_config *sy_discovery_config_load(const char *path, char *err, size_t errcap);
/* True when cfg has pool.discovery. */
bool sy_discovery_configured(const struct sy_config *cfg);
/* Starts discovery on loop (first lookup right away). NULL with err when the section is invalid. */
struct sy_discovery *sy_discovery_start(uv_loop_t *loop, const struct sy_config *cfg,
                                        sy_discovery_cb *cb, void *ud, char *err, size_t errcap);
/* Stops; a lookup in flight finishes in its thread and is dropped. NULL is a no-op. */
void sy_discovery_stop(struct sy_discovery *d);

/* Frees endpoint configs built by discovery (address and labels owned). */
void sy_discovery_free_eps(struct sy_endpoint_config *eps, size_t n);
/* Merges static cfg->endpoints with discovered ones (a discovered address equal to a static one
 * is dropped). Caller frees with sy_discovery_free_eps. */
struct sy_endpoint_config *sy_discovery_merge(const struct sy_config *cfg,
                                              const struct sy_endpoint_config *disc, size_t nd,
                                              size_t *n_out);

#endif
