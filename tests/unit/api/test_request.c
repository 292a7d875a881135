/* Unit tests for src/api/request.c and src/api/json_scan.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_scan.h"
#include "api/request.h"
#include "core/err.h"

static int parse(enum sy_api_kind k, const char *body, struct sy_request *r, char *err)
{
    return sy_request_parse(k, body, strlen(body), r, err, 256);
}

static void test_completions(void **state)
{
    struct sy_request r;
    char err[256];
    const char *b = "{\"model\":\"m1\",\"prompt\":\"hello world, a prompt\",\"max_tokens\":7,"
                    "\"stream\":true}";
    assert_int_equal(parse(SY_API_COMPLETIONS, b, &r, err), 0);
    assert_string_equal(r.model, "m1");
    assert_true(r.stream);
    assert_int_equal(r.max_tokens, 7);
    assert_int_equal(r.prompt.len, strlen("hello world, a prompt"));
    assert_memory_equal(r.prompt.p, "hello world, a prompt", r.prompt.len);
    assert_int_equal(r.prompt_tokens_est, (r.prompt.len + 3) / 4);
    assert_ptr_equal(r.body, b);
}

static void test_chat(void **state)
{
    struct sy_request r;
    char err[256];
    const char *b = " {\"messages\": [{\"role\":\"user\",\"content\":\"hi \\\"there\\\"\"}],"
                    " \"model\": \"Qwen\\/Qwen3\\u002d8B\", \"max_completion_tokens\": 5,"
                    " \"nested\": {\"a\": [1, 2.5e3, -0.1, null, false]}} ";
    assert_int_equal(parse(SY_API_CHAT_COMPLETIONS, b, &r, err), 0);
    assert_string_equal(r.model, "Qwen/Qwen3-8B");
    assert_false(r.stream);
    assert_int_equal(r.max_tokens, 5);
    assert_int_equal(r.prompt.p[0], '[');
    assert_int_equal(r.prompt.p[r.prompt.len - 1], ']');
}

/* n and best_of: the sequences generated at once (the larger), 1 by default; a value that is not
 * a positive integer is a 400 on the APIs that have the field. */
static void test_choices(void **state)
{
    (void)state;
    struct sy_request r;
    char err[256];
    assert_int_equal(parse(SY_API_COMPLETIONS, "{\"model\":\"m\"}", &r, err), 0);
    assert_int_equal(r.choices, 1);
    assert_int_equal(parse(SY_API_CHAT_COMPLETIONS, "{\"model\":\"m\",\"n\": 4}", &r, err), 0);
    assert_int_equal(r.choices, 4);
    assert_int_equal(parse(SY_API_COMPLETIONS, "{\"best_of\":5,\"model\":\"m\",\"n\":2}", &r, err),
                     0);
    assert_int_equal(r.choices, 5);
    assert_int_equal(parse(SY_API_COMPLETIONS, "{\"model\":\"m\",\"n\":null}", &r, err), 0);
    assert_int_equal(r.choices, 1);
    /* not a positive integer: 400 naming the field */
    assert_int_not_equal(parse(SY_API_COMPLETIONS, "{\"model\":\"m\",\"n\":0}", &r, err), 0);
    assert_non_null(strstr(err, "'n' must be a positive integer"));
    assert_int_not_equal(parse(SY_API_CHAT_COMPLETIONS, "{\"model\":\"m\",\"n\":\"3\"}", &r, err),
                         0);
    assert_non_null(strstr(err, "'n' must be a positive integer"));
    assert_int_not_equal(parse(SY_API_COMPLETIONS, "{\"model\":\"m\",\"best_of\":-2}", &r, err), 0);
    assert_non_null(strstr(err, "'best_of' must be a positive integer"));
    assert_int_not_equal(parse(SY_API_COMPLETIONS, "{\"model\":\"m\",\"n\":1.5}", &r, err), 0);
    /* the Anthropic and Responses APIs have no n: passed through, not counted */
    assert_int_equal(parse(SY_API_MESSAGES,
                           "{\"model\":\"m\",\"max_tokens\":8,\"n\":\"x\",\"messages\":[{\"role\":"
                           "\"user\",\"content\":\"hi\"}]}",
                           &r, err),
                     0);
    assert_int_equal(r.choices, 1);
    assert_int_equal(parse(SY_API_GENERATE,
                           "{\"token_ids\":[1,2],\"sampling_params\":{\"n\":3,\"max_tokens\":9}}",
                           &r, err),
                     0);
    assert_int_equal(r.choices, 3);
    assert_int_equal(r.max_tokens, 9);
}

static void test_missing_model(void **state)
{
    struct sy_request r;
    char err[256];
    assert_int_equal(parse(SY_API_COMPLETIONS, "{\"prompt\":\"x\"}", &r, err), SY_EINVAL);
    assert_non_null(strstr(err, "model"));
    assert_int_equal(parse(SY_API_COMPLETIONS, "{\"model\":\"\"}", &r, err), SY_EINVAL);
    assert_int_equal(parse(SY_API_COMPLETIONS, "{\"model\":5}", &r, err), SY_EINVAL);
    assert_int_equal(parse(SY_API_COMPLETIONS, "{\"model\":\"m\",\"max_tokens\":\"5\"}", &r, err),
                     SY_EINVAL);
    assert_int_equal(parse(SY_API_COMPLETIONS, "{\"model\":\"m\",\"max_tokens\":-1}", &r, err),
                     SY_EINVAL);
    assert_int_equal(parse(SY_API_COMPLETIONS, "{\"model\":\"m\",\"stream\":\"yes\"}", &r, err),
                     SY_EINVAL);
}

/* issue 20: a model cut at a NUL would pass the model check as its prefix; any invalid UTF-8
 * in the body is refused; valid multi-byte text is accepted. */
static void test_nul_model_and_utf8(void **state)
{
    (void)state;
    struct sy_request r;
    char err[256];
    assert_int_equal(parse(SY_API_COMPLETIONS, "{\"model\":\"m1\\u0000evil\"}", &r, err),
                     SY_EINVAL);
    assert_non_null(strstr(err, "NUL"));
    assert_int_equal(parse(SY_API_COMPLETIONS, "{\"model\":\"m\xff\"}", &r, err), SY_EPARSE);
    assert_non_null(strstr(err, "UTF-8"));
    assert_int_equal(
        parse(SY_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"\xc0\xaf\"}", &r, err), SY_EPARSE);
    assert_int_equal(
        parse(SY_API_COMPLETIONS, "{\"model\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}", &r, err), 0);
    assert_string_equal(r.model, "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

static void test_malformed(void **state)
{
    static const char *bad[] = {
        "",
        "   ",
        "[1,2]",
        "{",
        "{\"model\":\"m\"",
        "{\"model\":\"m\",}",
        "{\"model\" \"m\"}",
        "{\"model\":\"m\"} x",
        "{\"model\":\"m\\x\"}",
        "{\"model\":\"m\\u12\"}",
        "{\"model\":\"a\nb\"}",
        "{\"model\":\"m\",\"n\":01}",
        "{\"model\":\"m\",\"n\":1.}",
        "{\"model\":\"m\",\"n\":-}",
        "{\"model\":\"m\",\"n\":tru}",
        "{\"model\":\"m\",\"n\":[1,]}",
        "{\"model\":\"m\",\"n\":{\"a\"}}",
        "{'model':'m'}",
        "{\"model\":\"m\",\"n\":NaN}",
    };
    struct sy_request r;
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(SY_API_COMPLETIONS, bad[i], &r, err);
        if (rc != SY_EPARSE)
            fail_msg("accepted malformed input #%zu: %s", i, bad[i]);
        assert_non_null(strstr(err, "malformed JSON"));
    }
}

static void test_depth_limit(void **state)
{
    size_t n = 100000;
    char *b = malloc(n * 2 + 64);
    size_t k = 0;
    k += (size_t)sprintf(b, "{\"model\":\"m\",\"x\":");
    for (size_t i = 0; i < n; i++)
        b[k++] = '[';
    for (size_t i = 0; i < n; i++)
        b[k++] = ']';
    b[k++] = '}';
    b[k] = 0;
    struct sy_request r;
    char err[256];
    assert_int_equal(parse(SY_API_COMPLETIONS, b, &r, err), SY_EPARSE);
    assert_non_null(strstr(err, "too deep"));
    free(b);
}

static void test_unescape(void **state)
{
    char out[16];
    assert_int_equal(sy_json_unescape(sy_str_c("\"\\u00e9\\ud83d\\ude00\""), out, sizeof out), 6);
    assert_string_equal(out, "\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(sy_json_unescape(sy_str_c("\"0123456789abcdef\""), out, sizeof out), -1);
}

static void test_decode_string(void **state)
{
    char out[64];
    size_t n = sy_json_decode_string(SY_STR_LIT("a\\nb\\\"c\\\\d\\/e\\tf"), out, sizeof out, NULL);
    assert_int_equal(n, 11);
    assert_memory_equal(out, "a\nb\"c\\d/e\tf", 11);
    n = sy_json_decode_string(SY_STR_LIT("\\u00e9\\u20AC"), out, sizeof out, NULL);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "\xC3\xA9\xE2\x82\xAC", 5);
    n = sy_json_decode_string(SY_STR_LIT("\\ud83d\\ude00!"), out, sizeof out, NULL);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "\xF0\x9F\x98\x80!", 5);
    /* Lone surrogates become U+FFFD, as Go decodes them. */
    n = sy_json_decode_string(SY_STR_LIT("\\ud800x\\udc00"), out, sizeof out, NULL);
    assert_int_equal(n, 7);
    assert_memory_equal(out, "\xEF\xBF\xBDx\xEF\xBF\xBD", 7);
    /* Raw UTF-8 passes through. */
    n = sy_json_decode_string(SY_STR_LIT("h\xC3\xA9"), out, sizeof out, NULL);
    assert_int_equal(n, 3);
    /* Stops at cap without reading further (a multi-byte character never splits). */
    n = sy_json_decode_string(SY_STR_LIT("abcdef"), out, 4, NULL);
    assert_int_equal(n, 4);
    n = sy_json_decode_string(SY_STR_LIT("ab\\u20AC"), out, 4, NULL);
    assert_int_equal(n, 2);
    /* Malformed. */
    assert_true(sy_json_decode_string(SY_STR_LIT("a\\x"), out, sizeof out, NULL) == SIZE_MAX);
    assert_true(sy_json_decode_string(SY_STR_LIT("a\\"), out, sizeof out, NULL) == SIZE_MAX);
    assert_true(sy_json_decode_string(SY_STR_LIT("\\u12"), out, sizeof out, NULL) == SIZE_MAX);
    assert_true(sy_json_decode_string(SY_STR_LIT("\\u12G4"), out, sizeof out, NULL) == SIZE_MAX);
    assert_true(sy_json_decode_string(SY_STR_LIT("a\"b"), out, sizeof out, NULL) == SIZE_MAX);
    assert_true(sy_json_decode_string(SY_STR_LIT("a\nb"), out, sizeof out, NULL) == SIZE_MAX);
    assert_int_equal(sy_json_decode_string(SY_STR_LIT(""), out, sizeof out, NULL), 0);
}

static void test_kind(void **state)
{
    assert_int_equal(sy_api_kind_from_path("/v1/completions", 15), SY_API_COMPLETIONS);
    assert_int_equal(sy_api_kind_from_path("/v1/chat/completions", 20), SY_API_CHAT_COMPLETIONS);
    assert_int_equal(sy_api_kind_from_path("/v1/responses", 13), SY_API_RESPONSES);
    assert_int_equal(sy_api_kind_from_path("/v1/embeddings", 14), SY_API_EMBEDDINGS);
    assert_int_equal(sy_api_kind_from_path("/v1/other", 9), SY_API_OTHER);
}
/* The string scanner skips plain bytes 16 (SSE2) or 128, then 64 (AVX2) at a time: a byte that
 * needs attention must be found at every offset of every block, for every string length. */
static void test_string_scan_every_offset(void **state)
{
    static const char *const bad[] = {"\x01", "\x1f", "\n", "\t"}; /* raw control bytes */
    static const char *const ok[] = {"\\\"", "\\\\", "\\n", "\\u00e9", "\x7f", "\xc3\xa9", " "};
    char body[512], err[256];
    struct sy_request r;
    for (size_t len = 0; len <= 320; len++) {
        for (size_t pos = 0; pos <= len; pos++) {
            char a[400];
            memset(a, 'a', len);
            for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
                snprintf(body, sizeof body, "{\"model\":\"m\",\"prompt\":\"%.*s%s%.*s\"}", (int)pos,
                         a, bad[k], (int)(len - pos), a);
                if (parse(SY_API_COMPLETIONS, body, &r, err) == 0)
                    fail_msg("control byte 0x%02x at %zu of %zu accepted", bad[k][0], pos, len);
            }
            for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
                snprintf(body, sizeof body, "{\"model\":\"m\",\"prompt\":\"%.*s%s%.*s\"}", (int)pos,
                         a, ok[k], (int)(len - pos), a);
                if (parse(SY_API_COMPLETIONS, body, &r, err) != 0)
                    fail_msg("'%s' at %zu of %zu refused: %s", ok[k], pos, len, err);
                assert_int_equal(r.prompt.len, len + strlen(ok[k]));
            }
        }
        /* an unterminated string of every length */
        char a[400];
        memset(a, 'a', len);
        snprintf(body, sizeof body, "{\"model\":\"m\",\"prompt\":\"%.*s", (int)len, a);
        assert_int_not_equal(parse(SY_API_COMPLETIONS, body, &r, err), 0);
    }
}

/* A completions body whose prompt is len 'a's: returns the offset of the prompt's first byte.
 * The whole body is that offset + len + 2 bytes; body must hold len + 64. */
static size_t prompt_body(char *body, size_t cap, size_t len)
{
    int n = snprintf(body, cap, "{\"model\":\"m\",\"prompt\":\"");
    memset(body + n, 'a', len);
    memcpy(body + n + len, "\"}", 3);
    return (size_t)n;
}

/* Every byte value at every offset of a string spanning three 128-byte blocks: refused exactly
 * when it is a control byte (below 0x20), and '"' or '\\' are refused here too, because what
 * follows them ('a') is neither valid JSON after a string nor a valid escape. A lone byte 0x80
 * and up is refused too: the body must be valid UTF-8 (issue 20). */
static void test_string_scan_every_byte(void **state)
{
    (void)state;
    enum { LEN = 390 };
    char body[LEN + 64], err[256];
    struct sy_request r;
    size_t n = prompt_body(body, sizeof body, LEN);
    for (size_t pos = 0; pos < LEN; pos++) {
        for (int b = 0; b < 256; b++) {
            body[n + pos] = (char)b;
            bool want = b >= 0x20 && b < 0x80 && b != '"' && b != '\\';
            bool got =
                sy_request_parse(SY_API_COMPLETIONS, body, n + LEN + 2, &r, err, sizeof err) == 0;
            if (got != want)
                fail_msg("byte 0x%02x at %zu: %s", b, pos, got ? "accepted" : "refused");
        }
        body[n + pos] = 'a';
    }
}

/* Every byte value after a backslash, at offsets around the 64- and 128-byte block edges:
 * accepted exactly for the escapes RFC 8259 lists (\uXXXX here with the digits "aaaa"). */
static void test_string_scan_every_escape(void **state)
{
    (void)state;
    enum { LEN = 300 };
    char body[LEN + 64], err[256];
    struct sy_request r;
    size_t n = prompt_body(body, sizeof body, LEN);
    static const size_t at[] = {0, 1, 57, 58, 59, 62, 63, 64, 121, 122, 126, 127, 128, 250};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        body[n + at[k]] = '\\';
        for (int b = 0; b < 256; b++) {
            body[n + at[k] + 1] = (char)b;
            bool want = b && strchr("\"\\/bfnrtu", b);
            bool got =
                sy_request_parse(SY_API_COMPLETIONS, body, n + LEN + 2, &r, err, sizeof err) == 0;
            if (got != want)
                fail_msg("escape \\%c (0x%02x) at %zu: %s", b >= 0x20 && b < 0x7f ? b : '?', b,
                         at[k], got ? "accepted" : "refused");
        }
        body[n + at[k]] = body[n + at[k] + 1] = 'a';
    }
}

/* Random strings dense with escapes, built so that several share a 64-byte block and some run
 * across a block's end: the AVX2 scanner and the portable one agree on every verdict and every
 * error message (which carries the offset). */
static void test_string_scan_matches_portable(void **state)
{
    (void)state;
    static const char *const pieces[] = {"a",       "abcdefghijklmnopqrstuvwxyz",
                                         "\\n",     "\\\"",
                                         "\\u00e9", "\xc3\xa9",
                                         " ",       "\\/",
                                         "\\x",     "\\u12",
                                         "\x01",    "\""};
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    char body[2048], err_a[256], err_p[256];
    for (int iter = 0; iter < 20000; iter++) {
        int n = snprintf(body, sizeof body, "{\"model\":\"m\",\"prompt\":\"");
        size_t want = (size_t)(rng % 600);
        while ((size_t)n < want + 30) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            /* mostly valid pieces; the last four (bad escape, short \u, control byte, quote)
             * rarely, so most strings get far */
            size_t k = rng % 1000 < 985 ? rng % 8 : 8 + rng % 4;
            n += snprintf(body + n, sizeof body - (size_t)n, "%s", pieces[k]);
        }
        n += snprintf(body + n, sizeof body - (size_t)n, "\"}");
        struct sy_request ra, rp;
        err_a[0] = err_p[0] = '\0';
        sy_json_scan_portable(false);
        int a = sy_request_parse(SY_API_COMPLETIONS, body, (size_t)n, &ra, err_a, sizeof err_a);
        sy_json_scan_portable(true);
        int b = sy_request_parse(SY_API_COMPLETIONS, body, (size_t)n, &rp, err_p, sizeof err_p);
        sy_json_scan_portable(false);
        if (a != b || strcmp(err_a, err_p) != 0)
            fail_msg("body %d: AVX2 %d '%s', portable %d '%s'", iter, a, err_a, b, err_p);
        if (a == 0)
            assert_int_equal(ra.prompt.len, rp.prompt.len);
        rng += (uint64_t)n;
    }
}

/* The same tests again with the portable scanner (the AVX2 one is chosen where the CPU has it). */
static int portable_on(void **state)
{
    (void)state;
    assert_true(sy_json_scan_portable(true));
    return 0;
}

static int portable_off(void **state)
{
    (void)state;
    sy_json_scan_portable(false);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_completions),
        cmocka_unit_test(test_chat),
        cmocka_unit_test(test_missing_model),
        cmocka_unit_test(test_nul_model_and_utf8),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_decode_string),
        cmocka_unit_test(test_kind),
        cmocka_unit_test(test_string_scan_every_offset),
        cmocka_unit_test(test_string_scan_every_byte),
        cmocka_unit_test(test_string_scan_every_escape),
        cmocka_unit_test_setup_teardown(test_string_scan_every_offset, portable_on, portable_off),
        cmocka_unit_test_setup_teardown(test_string_scan_every_byte, portable_on, portable_off),
        cmocka_unit_test_setup_teardown(test_string_scan_every_escape, portable_on, portable_off),
        cmocka_unit_test_setup_teardown(test_malformed, portable_on, portable_off),
        cmocka_unit_test(test_string_scan_matches_portable),
        cmocka_unit_test(test_choices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
