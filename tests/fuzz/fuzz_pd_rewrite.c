/* fuzz_pd_rewrite.c - libFuzzer target for the P/D response rewrite of a streamed decode answer
 * (src/disagg/rewrite.c, sy_disagg_filter): arbitrary bytes, fed at once and in input-determined
 * pieces, never crash, never read out of bounds, and give the same bytes out however they are
 * split (lines end at CRLF, LF or CR, a CR and its LF may be in different pieces); a stream that
 * mentions neither "usage" nor "kv_transfer_params" passes through unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "disagg/internal.h"

static void emit(void *ud, const char *d, size_t n)
{
    sy_buf_append(ud, d, n);
}

static void run(const char *p, size_t n, size_t step, long long cached, struct sy_buf *out)
{
    struct sy_disagg *dx = SY_NEW(struct sy_disagg);
    sy_buf_init(&dx->fbuf);
    dx->cached = cached;
    for (size_t off = 0; off < n; off += step)
        sy_disagg_filter(dx, true, p + off, n - off < step ? n - off : step, emit, out);
    sy_disagg_filter_end(dx, true, emit, out);
    sy_buf_fini(&dx->fbuf);
    free(dx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1;
    long long cached = (long long)data[1] - 128; /* negative: the prefill's value unknown */
    const char *p = (const char *)data + 2;
    size_t n = size - 2;
    struct sy_buf whole, parts;
    sy_buf_init(&whole);
    sy_buf_init(&parts);
    run(p, n, n ? n : 1, cached, &whole);
    run(p, n, step, cached, &parts);
    if (whole.len != parts.len || (whole.len && memcmp(whole.data, parts.data, whole.len) != 0))
        abort(); /* splitting must not change what the client gets */
    if (!memmem(p, n, "\"usage\"", 7) && !memmem(p, n, "\"kv_transfer_params\"", 20) &&
        (whole.len != n || (n && memcmp(whole.data, p, n) != 0)))
        abort(); /* nothing to rewrite: the bytes pass as they came */
    sy_buf_fini(&whole);
    sy_buf_fini(&parts);
    return 0;
}
