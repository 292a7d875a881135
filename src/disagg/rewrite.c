/* rewrite.c - what the client sees of the decode answer: kv_transfer_params removed and
 * usage.prompt_tokens_details.cached_tokens set to the prefill leg's value (llm-d's sidecar does
 * the same, #916: the decode engine counts the transferred KV as cached, which is not what the
 * client's prompt hit).
 *
 *   SSE:  complete lines pass as soon as they end; a `data: {...}` line is rewritten only when it
 *         mentions "usage" or "kv_transfer_params" (a cheap memmem first), the rest are copied.
 *         Lines end with CRLF, LF or CR, as the SSE spec says (llama.cpp and some proxies send
 *         CRLF; a CR-only stream was one endless line, held to HOLD_CAP and never rewritten). A
 *         CR that ends a piece ends its line; the LF that may follow first in the next piece is
 *         passed as a line of its own (the bytes out are the same). Not api/sse_lines.c: that
 *         hands over events' data, and this filter must pass every byte the decode server sent
 *         (fields, comments, line ends) and change one line in place.
 *   JSON: held (bounded by SY_DISAGG_ANSWER_CAP x 8) and rewritten at the end; above the bound
 *         it passes through unchanged and a warning says so
 *
 * Edits are member splices (json_splice.c), nested twice for usage.prompt_tokens_details.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "disagg/internal.h"

#define HOLD_CAP (8u * SY_DISAGG_ANSWER_CAP) /* largest JSON answer rewritten */

bool sy_disagg_rewrite_object(const char *obj, size_t len, long long cached, struct sy_buf *out)
{
    enum sy_json_type t;
    struct sy_str kv, usage, ptd;
    bool has_kv = sy_json_member(obj, len, "kv_transfer_params", &t, &kv);
    bool has_usage =
        cached >= 0 && sy_json_member(obj, len, "usage", &t, &usage) && t == SY_JSON_OBJECT;
    if (!has_kv && !has_usage)
        return false;
    char num[32];
    struct sy_buf nu, np; /* new usage, new prompt_tokens_details */
    sy_buf_init(&nu);
    sy_buf_init(&np);
    struct sy_json_edit top[2];
    size_t ntop = 0;
    top[ntop++] = (struct sy_json_edit){"kv_transfer_params", {NULL, 0}, false};
    if (has_usage) {
        snprintf(num, sizeof num, "%lld", cached);
        enum sy_json_type pt = SY_JSON_NULL;
        bool has_ptd = sy_json_member(usage.p, usage.len, "prompt_tokens_details", &pt, &ptd);
        struct sy_json_splice s;
        sy_json_splice_init(&s);
        char err[64];
        bool edit = true;
        if (has_ptd && pt == SY_JSON_OBJECT) {
            struct sy_json_edit ce[] = {{"cached_tokens", {num, strlen(num)}, false}};
            edit = sy_json_splice(&s, ptd.p, ptd.len, ce, 1, err, sizeof err) == 0;
            if (edit)
                sy_json_splice_flatten(&s, &np);
        } else if (cached > 0) {
            sy_buf_printf(&np, "{\"cached_tokens\":%lld}", cached);
        } else {
            edit = false; /* null details and nothing cached: vLLM's own shape */
        }
        if (edit) {
            struct sy_json_edit ue[] = {{"prompt_tokens_details", {np.data, np.len}, false}};
            if (sy_json_splice(&s, usage.p, usage.len, ue, 1, err, sizeof err) == 0) {
                sy_json_splice_flatten(&s, &nu);
                top[ntop++] = (struct sy_json_edit){"usage", {nu.data, nu.len}, false};
            }
        }
        sy_json_splice_fini(&s);
    }
    bool changed = false;
    if (has_kv || ntop > 1) {
        struct sy_json_splice s;
        sy_json_splice_init(&s);
        char err[64];
        if (sy_json_splice(&s, obj, len, top, ntop, err, sizeof err) == 0) {
            sy_json_splice_flatten(&s, out);
            changed = true;
        }
        sy_json_splice_fini(&s);
    }
    sy_buf_fini(&nu);
    sy_buf_fini(&np);
    return changed;
}

/* One complete SSE line (with its line end). */
static void sse_line(struct sy_disagg *dx, const char *l, size_t n, sy_disagg_emit_fn *emit,
                     void *ud)
{
    if (n > 6 && !memcmp(l, "data:", 5) &&
        (memmem(l, n, "\"usage\"", 7) || memmem(l, n, "\"kv_transfer_params\"", 20))) {
        size_t s = 5;
        while (s < n && l[s] == ' ')
            s++;
        size_t e = n;
        while (e > s && (l[e - 1] == '\n' || l[e - 1] == '\r'))
            e--;
        if (e > s && l[s] == '{') {
            struct sy_buf o;
            sy_buf_init(&o);
            sy_buf_append(&o, l, s);
            if (sy_disagg_rewrite_object(l + s, e - s, dx->cached, &o)) {
                sy_buf_append(&o, l + e, n - e);
                emit(ud, o.data, o.len);
                sy_buf_fini(&o);
                return;
            }
            sy_buf_fini(&o);
        }
    }
    emit(ud, l, n);
}

/* The length of the line at p (up to end) with its line end (CRLF, LF or CR), 0 when no line end
 * comes before end. *lf and *cr are the piece's next LF and CR (NULL: no more), found again only
 * once p has passed them, so a piece is scanned once for each. */
static size_t line_len(const char *p, const char *end, const char **lf, const char **cr)
{
    if (*lf && *lf < p)
        *lf = memchr(p, '\n', (size_t)(end - p));
    if (*cr && *cr < p)
        *cr = memchr(p, '\r', (size_t)(end - p));
    const char *e = !*lf ? *cr : !*cr ? *lf : *lf < *cr ? *lf : *cr;
    if (!e)
        return 0;
    if (*e == '\r' && e + 1 < end && e[1] == '\n')
        e++;
    return (size_t)(e + 1 - p);
}

void sy_disagg_filter(struct sy_disagg *dx, bool sse, const char *data, size_t n,
                      sy_disagg_emit_fn *emit, void *ud)
{
    if (dx->fpass) {
        emit(ud, data, n);
        return;
    }
    if (!sse) {
        if (dx->fbuf.len + n > HOLD_CAP) {
            sy_warn("P/D: decode answer larger than %u bytes passed through without the usage "
                    "rewrite",
                    HOLD_CAP);
            dx->fpass = true;
            emit(ud, dx->fbuf.data, dx->fbuf.len);
            sy_buf_reset(&dx->fbuf);
            emit(ud, data, n);
            return;
        }
        sy_buf_append(&dx->fbuf, data, n);
        return;
    }
    if (n == 0) /* (data may be NULL then) */
        return;
    /* Lines: first complete the held tail, then whole lines straight from data. */
    const char *end = data + n;
    const char *lf = memchr(data, '\n', n), *cr = memchr(data, '\r', n);
    size_t i = 0;
    if (dx->fbuf.len) {
        size_t k = line_len(data, end, &lf, &cr);
        if (!k) {
            sy_buf_append(&dx->fbuf, data, n);
            if (dx->fbuf.len > HOLD_CAP) { /* a "line" this long is not an event we rewrite */
                emit(ud, dx->fbuf.data, dx->fbuf.len);
                sy_buf_reset(&dx->fbuf);
            }
            return;
        }
        sy_buf_append(&dx->fbuf, data, k);
        sse_line(dx, dx->fbuf.data, dx->fbuf.len, emit, ud);
        sy_buf_reset(&dx->fbuf);
        i = k;
    }
    while (i < n) {
        size_t k = line_len(data + i, end, &lf, &cr);
        if (!k) {
            sy_buf_append(&dx->fbuf, data + i, n - i);
            return;
        }
        sse_line(dx, data + i, k, emit, ud);
        i += k;
    }
}

void sy_disagg_filter_end(struct sy_disagg *dx, bool sse, sy_disagg_emit_fn *emit, void *ud)
{
    if (!dx->fbuf.len)
        return;
    if (sse) {
        sse_line(dx, dx->fbuf.data, dx->fbuf.len, emit, ud);
    } else {
        struct sy_buf o;
        sy_buf_init(&o);
        if (sy_disagg_rewrite_object(dx->fbuf.data, dx->fbuf.len, dx->cached, &o))
            emit(ud, o.data, o.len);
        else
            emit(ud, dx->fbuf.data, dx->fbuf.len);
        sy_buf_fini(&o);
    }
    sy_buf_reset(&dx->fbuf);
}
