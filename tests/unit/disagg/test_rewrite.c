/* Unit tests for src/disagg/rewrite.c: what the client sees of a decode answer (usage cached
 * tokens from the prefill, kv_transfer_params removed), for JSON bodies and SSE streams split at
 * any byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "disagg/internal.h"

static char *rw(const char *in, long long cached)
{
    static char out[2048];
    struct sy_buf b;
    sy_buf_init(&b);
    bool changed = sy_disagg_rewrite_object(in, strlen(in), cached, &b);
    snprintf(out, sizeof out, "%s%.*s", changed ? "" : "=", (int)b.len, b.data ? b.data : "");
    sy_buf_fini(&b);
    return out;
}

static void test_objects(void **state)
{
    assert_string_equal(
        rw("{\"id\":\"x\",\"usage\":{\"prompt_tokens\":318,\"prompt_tokens_details\":"
           "{\"cached_tokens\":318,\"audio\":0}},\"kv_transfer_params\":null}",
           32),
        "{\"id\":\"x\",\"usage\":{\"prompt_tokens\":318,\"prompt_tokens_details\":"
        "{\"cached_tokens\":32,\"audio\":0}}}");
    /* null details: set when the prefill had cached tokens, left as vLLM's shape otherwise */
    assert_string_equal(rw("{\"usage\":{\"prompt_tokens\":3,\"prompt_tokens_details\":null}}", 5),
                        "{\"usage\":{\"prompt_tokens\":3,\"prompt_tokens_details\":"
                        "{\"cached_tokens\":5}}}");
    assert_string_equal(rw("{\"usage\":{\"prompt_tokens\":3,\"prompt_tokens_details\":null}}", 0),
                        "=");
    assert_string_equal(rw("{\"usage\":{\"prompt_tokens\":3}}", 7),
                        "{\"usage\":{\"prompt_tokens\":3,\"prompt_tokens_details\":"
                        "{\"cached_tokens\":7}}}");
    /* unknown prefill value (decode-only fallback): usage untouched, params still removed */
    assert_string_equal(
        rw("{\"usage\":{\"prompt_tokens\":3},\"kv_transfer_params\":{\"a\":1}}", -1),
        "{\"usage\":{\"prompt_tokens\":3}}");
    assert_string_equal(rw("{\"choices\":[]}", 5), "=");
    assert_string_equal(rw("{\"usage\":null}", 5), "=");
    assert_string_equal(rw("not json", 5), "=");
}

struct sink {
    char out[4096];
    size_t n;
};

static void emit(void *ud, const char *d, size_t n)
{
    struct sink *s = ud;
    memcpy(s->out + s->n, d, n);
    s->n += n;
    s->out[s->n] = '\0';
}

static void test_sse_any_split(void **state)
{
    const char *in = "data: {\"choices\":[{\"text\":\"a\"}]}\n\n"
                     "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
                     "\"prompt_tokens_details\":{\"cached_tokens\":9}},"
                     "\"kv_transfer_params\":{\"x\":1}}\r\n\r\n"
                     "data: [DONE]\n\n";
    const char *want = "data: {\"choices\":[{\"text\":\"a\"}]}\n\n"
                       "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
                       "\"prompt_tokens_details\":{\"cached_tokens\":4}}}\r\n\r\n"
                       "data: [DONE]\n\n";
    size_t len = strlen(in);
    for (size_t cut = 0; cut <= len; cut++) {
        struct sy_disagg *dx = SY_NEW(struct sy_disagg);
        sy_buf_init(&dx->fbuf);
        dx->cached = 4;
        struct sink s = {{0}, 0};
        sy_disagg_filter(dx, true, in, cut, emit, &s);
        sy_disagg_filter(dx, true, in + cut, len - cut, emit, &s);
        sy_disagg_filter_end(dx, true, emit, &s);
        assert_string_equal(s.out, want);
        sy_buf_fini(&dx->fbuf);
        free(dx);
    }
    /* JSON is held to the end, then rewritten once */
    struct sy_disagg *dx = SY_NEW(struct sy_disagg);
    sy_buf_init(&dx->fbuf);
    dx->cached = 1;
    struct sink s = {{0}, 0};
    const char *js = "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":9}}}";
    sy_disagg_filter(dx, false, js, 10, emit, &s);
    assert_int_equal(s.n, 0);
    sy_disagg_filter(dx, false, js + 10, strlen(js) - 10, emit, &s);
    sy_disagg_filter_end(dx, false, emit, &s);
    assert_string_equal(s.out, "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":1}}}");
    sy_buf_fini(&dx->fbuf);
    free(dx);
}

/* in through the filter cut at cuts[0..ncuts) (ascending) is want. */
static void filter_cut(const char *in, const char *want, const size_t *cuts, size_t ncuts)
{
    struct sy_disagg *dx = SY_NEW(struct sy_disagg);
    sy_buf_init(&dx->fbuf);
    dx->cached = 4;
    struct sink s = {{0}, 0};
    size_t len = strlen(in), from = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        sy_disagg_filter(dx, true, in + from, to - from, emit, &s);
        from = to;
    }
    sy_disagg_filter_end(dx, true, emit, &s);
    assert_string_equal(s.out, want);
    sy_buf_fini(&dx->fbuf);
    free(dx);
}

/* A stream with line ends eol (CRLF or CR): every line passes, the usage line is rewritten,
 * whatever one or two cuts. */
static void check_eol(const char *eol)
{
    char in[1024], want[1024];
    snprintf(in, sizeof in,
             ": ping%s%s"
             "event: message%sdata: {\"choices\":[{\"text\":\"a\"}]}%s%s"
             "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
             "\"prompt_tokens_details\":{\"cached_tokens\":9}},"
             "\"kv_transfer_params\":{\"x\":1}}%s%s"
             "data: [DONE]%s%s",
             eol, eol, eol, eol, eol, eol, eol, eol, eol);
    snprintf(want, sizeof want,
             ": ping%s%s"
             "event: message%sdata: {\"choices\":[{\"text\":\"a\"}]}%s%s"
             "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
             "\"prompt_tokens_details\":{\"cached_tokens\":4}}}%s%s"
             "data: [DONE]%s%s",
             eol, eol, eol, eol, eol, eol, eol, eol, eol);
    size_t len = strlen(in);
    filter_cut(in, want, NULL, 0);
    for (size_t i = 0; i <= len; i++)
        filter_cut(in, want, &i, 1);
    for (size_t i = 1; i < len; i++) {
        for (size_t j = i; j < len; j++) {
            size_t cuts[2] = {i, j};
            filter_cut(in, want, cuts, 2);
        }
    }
}

static void test_sse_crlf_and_cr(void **state)
{
    check_eol("\r\n");
    check_eol("\r");
    /* a CR-ended line passes as soon as it ends, not held for a line end that never comes */
    struct sy_disagg *dx = SY_NEW(struct sy_disagg);
    sy_buf_init(&dx->fbuf);
    dx->cached = 4;
    struct sink s = {{0}, 0};
    const char *a = "data: {\"choices\":[{\"text\":\"a\"}]}\r";
    sy_disagg_filter(dx, true, a, strlen(a), emit, &s);
    assert_string_equal(s.out, a);
    assert_int_equal(dx->fbuf.len, 0);
    const char *u = "data: {\"usage\":{\"prompt_tokens\":1}}\rdata: {\"choi";
    sy_disagg_filter(dx, true, u, strlen(u), emit, &s);
    assert_string_equal(s.out, "data: {\"choices\":[{\"text\":\"a\"}]}\r"
                               "data: {\"usage\":{\"prompt_tokens\":1,"
                               "\"prompt_tokens_details\":{\"cached_tokens\":4}}}\r");
    assert_int_equal(dx->fbuf.len, 12); /* the unfinished line */
    sy_buf_fini(&dx->fbuf);
    free(dx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_sse_any_split),
        cmocka_unit_test(test_sse_crlf_and_cr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
