/* Unit tests for src/http/headers.c: fields split across callbacks, a caller prefix, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/headers.h"

static void feed_name(struct sy_hdr_acc *a, const char *s)
{
    /* one byte per callback: the worst split llhttp can produce */
    for (const char *p = s; *p; p++)
        assert_true(sy_hdr_name_piece(a, p, 1, 1 << 20));
    sy_hdr_name_done(a);
}

static void feed_value(struct sy_hdr_acc *a, const char *s)
{
    size_t n = strlen(s);
    if (n > 2) {
        assert_true(sy_hdr_value_piece(a, s, 2, 1 << 20));
        assert_true(sy_hdr_value_piece(a, s + 2, n - 2, 1 << 20));
    } else if (n) {
        assert_true(sy_hdr_value_piece(a, s, n, 1 << 20));
    }
    sy_hdr_value_done(a);
}

static void test_split_fields_after_prefix(void **state)
{
    (void)state;
    struct sy_hdr_acc a;
    sy_hdr_init(&a);
    sy_buf_puts(&a.buf, "/v1/completions"); /* the server keeps the URL first */
    feed_name(&a, "Content-Type");
    feed_value(&a, "application/json");
    feed_name(&a, "X-Empty");
    feed_value(&a, "");
    feed_name(&a, "x-request-id");
    feed_value(&a, "abc-123");
    assert_int_equal(a.n, 3);
    assert_true(sy_str_eq_c(sy_hdr_name(&a, 0), "Content-Type"));
    assert_true(sy_str_eq_c(sy_hdr_value(&a, 0), "application/json"));
    assert_true(sy_str_eq_c(sy_hdr_name(&a, 1), "X-Empty"));
    assert_int_equal(sy_hdr_value(&a, 1).len, 0);
    assert_true(sy_str_eq_c(sy_hdr_name(&a, 2), "x-request-id"));
    assert_true(sy_str_eq_c(sy_hdr_value(&a, 2), "abc-123"));
    assert_memory_equal(a.buf.data, "/v1/completions", 15);
    assert_false(a.overflow);

    /* reset: a second message reuses the memory and starts clean */
    sy_hdr_reset(&a);
    feed_name(&a, "Host");
    feed_value(&a, "x");
    assert_int_equal(a.n, 1);
    assert_true(sy_str_eq_c(sy_hdr_name(&a, 0), "Host"));
    sy_hdr_fini(&a);
}

static void test_limits(void **state)
{
    (void)state;
    struct sy_hdr_acc a;
    sy_hdr_init(&a);
    char name[16];
    for (int i = 0; i < SY_HDR_MAX + 3; i++) {
        snprintf(name, sizeof name, "h%d", i);
        feed_name(&a, name);
        feed_value(&a, "v");
    }
    assert_int_equal(a.n, SY_HDR_MAX);
    assert_true(a.overflow);
    assert_true(sy_str_eq_c(sy_hdr_name(&a, SY_HDR_MAX - 1), "h63"));

    /* a piece that would pass max_bytes is refused and nothing is appended */
    sy_hdr_reset(&a);
    assert_true(sy_hdr_name_piece(&a, "abcd", 4, 8));
    assert_false(sy_hdr_name_piece(&a, "efghi", 5, 8));
    assert_int_equal(a.buf.len, 4);
    sy_hdr_name_done(&a);
    assert_false(sy_hdr_value_piece(&a, "123456789", 9, 8));
    sy_hdr_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_fields_after_prefix),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
