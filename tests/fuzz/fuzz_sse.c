/* fuzz_sse.c - libFuzzer target for the benchmark's streamed-response parser (src/bench/sse.c):
 * arbitrary bytes, fed in input-determined pieces, never crash, never read out of bounds, and
 * feeding in pieces gives the same content count as feeding at once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

static void count(void *ud)
{
    (*(size_t *)ud)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    size_t a = 0, b = 0;
    struct sy_sse whole, parts;
    sy_sse_init(&whole, count, &a);
    sy_sse_feed(&whole, p, n);
    sy_sse_finish(&whole);
    sy_sse_init(&parts, count, &b);
    for (size_t off = 0; off < n; off += step)
        sy_sse_feed(&parts, p + off, n - off < step ? n - off : step);
    sy_sse_finish(&parts);
    if (a != b)
        abort(); /* splitting must not change what is parsed */
    sy_sse_fini(&whole);
    sy_sse_fini(&parts);
    return 0;
}
