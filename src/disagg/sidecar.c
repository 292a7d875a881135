/* sidecar.c - for clusters that already run llm-d's routing sidecar beside their decode pods: no
 * prefill leg from the gateway; one request to the decode endpoint carrying
 * `x-prefiller-host-port: HOST:PORT` (the prefill pick), and the sidecar runs the exchange. The
 * body is the client's, as is.
 */
#include "disagg/internal.h"

static void decode_headers(struct sy_disagg *dx, struct sy_buf *out)
{
    sy_buf_puts(out, "x-prefiller-host-port: ");
    sy_buf_puts(out, dx->res->prefill_ep->address);
    sy_buf_puts(out, "\r\n");
}

const struct sy_disagg_connector sy_disagg_sidecar = {
    .name = "sidecar",
    .decode_headers = decode_headers,
};
