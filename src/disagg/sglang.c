/* sglang.c - SGLang's PD bootstrap protocol (sglang mini_lb; llm-d sidecar connector_sglang.go).
 *
 * The same body goes to the prefill and the decode endpoint at the same time, with
 * bootstrap_host (the prefill host; IPv6 in brackets), bootstrap_port (the prefill endpoint's
 * bootstrapPortLabel label, else bootstrapPort, default 8998) and bootstrap_room (a random
 * integer in 0..2^63-1). The client gets decode's answer; prefill's is read and dropped, and its
 * leg is not aborted when decode finishes (llm-d uses context.WithoutCancel).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/time.h"
#include "disagg/internal.h"

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* bootstrap fields for dx->res->prefill_ep into dx->bootstrap (three JSON values, NUL-split). */
static void fields(struct sy_disagg *dx, struct sy_str *host, struct sy_str *port,
                   struct sy_str *room)
{
    static _Atomic uint64_t ctr;
    const struct sy_endpoint *ep = dx->res->prefill_ep;
    const char *addr = ep->address;
    const char *colon = strrchr(addr, ':');
    size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
    unsigned port_n = dx->h.cfg->disagg.bootstrap_port;
    const char *lbl = sy_endpoint_label(ep, dx->h.cfg->disagg.bootstrap_port_label);
    if (lbl) {
        char *end;
        unsigned long v = strtoul(lbl, &end, 10);
        if (!*end && v > 0 && v < 65536)
            port_n = (unsigned)v;
    }
    dx->room = splitmix(sy_now_ns() ^ ((uint64_t)random() << 20) ^ atomic_fetch_add(&ctr, 1)) &
               0x7fffffffffffffffULL;
    bool v6 = memchr(addr, ':', hl) != NULL && addr[0] != '[';
    int a = snprintf(dx->bootstrap, sizeof dx->bootstrap, "\"%s%.*s%s\"", v6 ? "[" : "", (int)hl,
                     addr, v6 ? "]" : "");
    int b = snprintf(dx->bootstrap + a + 1, sizeof dx->bootstrap - (size_t)a - 1, "%u", port_n);
    snprintf(dx->bootstrap + a + b + 2, sizeof dx->bootstrap - (size_t)(a + b + 2), "%llu",
             (unsigned long long)dx->room);
    *host = (struct sy_str){dx->bootstrap, (size_t)a};
    *port = (struct sy_str){dx->bootstrap + a + 1, (size_t)b};
    *room = (struct sy_str){dx->bootstrap + a + b + 2, strlen(dx->bootstrap + a + b + 2)};
}

static int splice_body(struct sy_disagg *dx, struct sy_json_splice *out, char *err, size_t errcap)
{
    struct sy_str h, p, r;
    if (!dx->bootstrap[0])
        fields(dx, &h, &p, &r);
    else {
        h = (struct sy_str){dx->bootstrap, strlen(dx->bootstrap)};
        p = (struct sy_str){h.p + h.len + 1, strlen(h.p + h.len + 1)};
        r = (struct sy_str){p.p + p.len + 1, strlen(p.p + p.len + 1)};
    }
    struct sy_json_edit e[] = {
        {"bootstrap_host", h, false}, {"bootstrap_port", p, false}, {"bootstrap_room", r, false}};
    return sy_json_splice(out, dx->h.req->body, dx->h.req->body_len, e, 3, err, errcap);
}

static int prefill_body(struct sy_disagg *dx, struct sy_buf *out, char *err, size_t errcap)
{
    dx->bootstrap[0] = '\0'; /* a new room per exchange */
    struct sy_json_splice s;
    sy_json_splice_init(&s);
    int rc = splice_body(dx, &s, err, errcap);
    if (rc == 0)
        sy_json_splice_flatten(&s, out);
    sy_json_splice_fini(&s);
    return rc;
}

const struct sy_disagg_connector sy_disagg_sglang = {
    .name = "sglang",
    .prefill_leg = true,
    .concurrent = true,
    .prefill_body = prefill_body,
    .decode_body = splice_body,
};
