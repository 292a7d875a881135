/* Unit tests for src/core/str.c and src/core/buf.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

static void test_hostport(void **state)
{
    char host[64];
    uint16_t port;
    assert_int_equal(sy_parse_hostport("127.0.0.1:8080", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(sy_parse_hostport("[::1]:9", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 9);
    assert_int_equal(sy_parse_hostport("localhost:0", host, sizeof host, &port), 0);
    assert_int_equal(sy_parse_hostport("nohost", host, sizeof host, &port), SY_EINVAL);
    assert_int_equal(sy_parse_hostport(":80", host, sizeof host, &port), SY_EINVAL);
    assert_int_equal(sy_parse_hostport("h:65536", host, sizeof host, &port), SY_EINVAL);
    assert_int_equal(sy_parse_hostport("h:-1", host, sizeof host, &port), SY_EINVAL);
    assert_int_equal(sy_parse_hostport("h:80x", host, sizeof host, &port), SY_EINVAL);
    assert_int_equal(sy_parse_hostport("::1:80", host, sizeof host, &port), SY_EINVAL);
    assert_int_equal(sy_parse_hostport("", host, sizeof host, &port), SY_EINVAL);
}

static void test_duration(void **state)
{
    uint64_t ns;
    assert_int_equal(sy_parse_duration_ns("50ms", &ns), 0);
    assert_int_equal(ns, 50000000ULL);
    assert_int_equal(sy_parse_duration_ns("2s", &ns), 0);
    assert_int_equal(ns, 2000000000ULL);
    assert_int_equal(sy_parse_duration_ns("1.5s", &ns), 0);
    assert_int_equal(ns, 1500000000ULL);
    assert_int_equal(sy_parse_duration_ns("100us", &ns), 0);
    assert_int_equal(ns, 100000ULL);
    assert_int_equal(sy_parse_duration_ns("250", &ns), 0);
    assert_int_equal(ns, 250000000ULL);
    assert_int_equal(sy_parse_duration_ns("1m", &ns), 0);
    assert_int_equal(ns, 60000000000ULL);
    assert_int_equal(sy_parse_duration_ns("5 parsecs", &ns), SY_EINVAL);
    assert_int_equal(sy_parse_duration_ns("-1s", &ns), SY_EINVAL);
    assert_int_equal(sy_parse_duration_ns("", &ns), SY_EINVAL);
}

static void test_size(void **state)
{
    uint64_t v;
    assert_int_equal(sy_parse_size("32MiB", &v), 0);
    assert_int_equal(v, 32ULL << 20);
    assert_int_equal(sy_parse_size("1KB", &v), 0);
    assert_int_equal(v, 1000);
    assert_int_equal(sy_parse_size("4096", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(sy_parse_size("12 apples", &v), SY_EINVAL);
}

static void test_buf(void **state)
{
    struct sy_buf b;
    sy_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        sy_buf_printf(&b, "%d,", i);
    assert_int_equal(strncmp(b.data, "0,1,2,", 6), 0);
    assert_int_equal(b.data[b.len], '\0');
    sy_buf_reset(&b);
    sy_buf_json_str(&b, "a\"b\\c\n\x01", 7);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    sy_buf_reset(&b);
    sy_buf_puts(&b, "hello world");
    sy_buf_consume(&b, 6);
    assert_string_equal(b.data, "world");
    /* exact reservation: no doubling, never shrinks, keeps the content and the terminator */
    struct sy_buf e;
    sy_buf_init(&e);
    sy_buf_reserve_exact(&e, 0);
    assert_non_null(e.data);
    assert_int_equal(e.data[0], '\0');
    sy_buf_puts(&e, "world");
    sy_buf_reserve_exact(&e, 33000);
    assert_int_equal(e.cap, 5 + 33000);
    assert_string_equal(e.data, "world");
    sy_buf_reserve_exact(&e, 10);
    assert_int_equal(e.cap, 5 + 33000);
    sy_buf_fini(&e);
    size_t n;
    char *p = sy_buf_steal(&b, &n);
    assert_int_equal(n, 5);
    assert_null(b.data);
    free(p);
    sy_buf_fini(&b);
}

/* The integer appenders agree with printf over edge values and a sweep. */
static void test_buf_ints(void **state)
{
    (void)state;
    static const unsigned long long u[] = {
        0, 1, 9, 10, 99, 100, 4294967295ULL, 18446744073709551615ULL};
    static const long long s[] = {0, -1, 1, -9223372036854775807LL - 1, 9223372036854775807LL};
    struct sy_buf b, want;
    sy_buf_init(&b);
    sy_buf_init(&want);
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        sy_buf_reset(&b);
        sy_buf_reset(&want);
        sy_buf_put_u64(&b, u[i]);
        sy_buf_printf(&want, "%llu", u[i]);
        assert_string_equal(b.data, want.data);
        sy_buf_reset(&b);
        sy_buf_reset(&want);
        sy_buf_put_hex(&b, u[i]);
        sy_buf_printf(&want, "%llx", u[i]);
        assert_string_equal(b.data, want.data);
    }
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        sy_buf_reset(&b);
        sy_buf_reset(&want);
        sy_buf_put_i64(&b, s[i]);
        sy_buf_printf(&want, "%lld", s[i]);
        assert_string_equal(b.data, want.data);
    }
    for (unsigned long long v = 1; v < (1ULL << 62); v = v * 3 + 1) {
        sy_buf_reset(&b);
        sy_buf_reset(&want);
        sy_buf_put_u64(&b, v);
        sy_buf_printf(&want, "%llu", v);
        assert_string_equal(b.data, want.data);
    }
    sy_buf_fini(&b);
    sy_buf_fini(&want);
}

/* RFC 3629 well-formedness: overlongs, surrogates, values above U+10FFFF and truncated
 * sequences are refused; the ASCII fast path agrees with the bytewise path at every offset. */
static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"", true},
        {"plain ascii text", true},
        {"caf\xc3\xa9", true},
        {"\xe2\x82\xac", true},
        {"\xf0\x9f\x98\x80", true},
        {"\xf4\x8f\xbf\xbf", true},
        {"\xef\xbb\xbf", true},
        {"\x80", false},
        {"\xc3", false},
        {"\xc0\xaf", false},
        {"\xc1\xbf", false},
        {"\xe0\x80\xaf", false},
        {"\xed\xa0\x80", false},
        {"\xf0\x8f\xbf\xbf", false},
        {"\xf4\x90\x80\x80", false},
        {"\xf5\x80\x80\x80", false},
        {"\xe2\x82", false},
        {"\xff", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(sy_utf8_valid(cases[i].s, strlen(cases[i].s)), cases[i].ok);
        /* the same bytes behind 0..15 ASCII bytes, so the 8-byte path meets them at every
         * alignment */
        char buf[64];
        for (size_t pad = 0; pad < 16; pad++) {
            memset(buf, 'a', pad);
            size_t n = strlen(cases[i].s);
            memcpy(buf + pad, cases[i].s, n);
            memset(buf + pad + n, 'b', 9);
            assert_int_equal(sy_utf8_valid(buf, pad + n + 9), cases[i].ok);
        }
    }
    /* the JSON writer replaces invalid bytes, so its output is always valid UTF-8 */
    struct sy_buf b;
    sy_buf_init(&b);
    sy_buf_json_str(&b,
                    "a\xff"
                    "b\xc3\xa9",
                    5);
    assert_string_equal(b.data, "\"a\\ufffdb\xc3\xa9\"");
    sy_buf_fini(&b);
}

static void test_strerror(void **state)
{
    assert_string_equal(sy_strerror(0), "success");
    assert_string_equal(sy_strerror(SY_ETIMEDOUT), "timed out");
    assert_string_equal(sy_strerror(12345), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostport), cmocka_unit_test(test_duration),
        cmocka_unit_test(test_size),     cmocka_unit_test(test_buf),
        cmocka_unit_test(test_strerror), cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_buf_ints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
