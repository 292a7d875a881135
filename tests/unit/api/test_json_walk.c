/* Unit tests for sy_json_walk (src/api/json_scan.c): the order, depth, keys and indexes of the
 * values it reports, skipping what the caller does not descend into, and that it accepts and
 * refuses exactly what sy_json_scan_object does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/json_scan.h"
#include "core/buf.h"
#include "core/err.h"

struct log {
    struct sy_buf b; /* "enter/leave depth key-or-index type [value]" lines */
    int max_descend; /* descend into containers up to this depth */
};

static bool enter(void *ud, int depth, struct sy_str key, size_t index, enum sy_json_type t)
{
    struct log *l = ud;
    if (key.p)
        sy_buf_printf(&l->b, "> %d %.*s %d\n", depth, (int)key.len, key.p, (int)t);
    else
        sy_buf_printf(&l->b, "> %d [%zu] %d\n", depth, index, (int)t);
    return depth < l->max_descend;
}

static void leave(void *ud, int depth, struct sy_str key, size_t index, enum sy_json_type t,
                  struct sy_str v)
{
    struct log *l = ud;
    (void)key;
    (void)index;
    (void)t;
    sy_buf_printf(&l->b, "< %d %.*s\n", depth, (int)v.len, v.p);
}

static const struct sy_json_walk_ops ops = {.enter = enter, .leave = leave};

static void test_order_and_skipping(void **state)
{
    (void)state;
    const char *j = "{\"a\": [1, {\"b\": \"x\"}], \"c\": {\"d\": null}}";
    struct log l = {.max_descend = 1};
    sy_buf_init(&l.b);
    assert_int_equal(sy_json_walk(j, strlen(j), &ops, &l, NULL, NULL, 0), 0);
    /* depth 0 descended; its members reported, not entered further */
    assert_string_equal(l.b.data, "> 0 [0] 2\n"
                                  "> 1 a 3\n"
                                  "< 1 [1, {\"b\": \"x\"}]\n"
                                  "> 1 c 2\n"
                                  "< 1 {\"d\": null}\n"
                                  "< 0 {\"a\": [1, {\"b\": \"x\"}], \"c\": {\"d\": null}}\n");
    sy_buf_reset(&l.b);
    l.max_descend = 9;
    assert_int_equal(sy_json_walk(j, strlen(j), &ops, &l, NULL, NULL, 0), 0);
    assert_string_equal(l.b.data, "> 0 [0] 2\n"
                                  "> 1 a 3\n"
                                  "> 2 [0] 1\n"
                                  "< 2 1\n"
                                  "> 2 [1] 2\n"
                                  "> 3 b 0\n"
                                  "< 3 \"x\"\n"
                                  "< 2 {\"b\": \"x\"}\n"
                                  "< 1 [1, {\"b\": \"x\"}]\n"
                                  "> 1 c 2\n"
                                  "> 2 d 6\n"
                                  "< 2 null\n"
                                  "< 1 {\"d\": null}\n"
                                  "< 0 {\"a\": [1, {\"b\": \"x\"}], \"c\": {\"d\": null}}\n");
    sy_buf_fini(&l.b);
    /* no callbacks: a validator */
    static const struct sy_json_walk_ops none = {0};
    assert_int_equal(sy_json_walk(" [1,2] ", 7, &none, NULL, NULL, NULL, 0), 0);
}

static void test_same_verdicts_as_scan_object(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{}",
        "{\"a\":1}",
        "{\"a\":[1,2,{\"b\":\"\\u00e9\"}]}",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{\"a\":[1,]}",
        "{\"a\":\"\\x\"}",
        "{\"a\":01}",
        "{\"a\":tru}",
        "{\"a\":\"x}",
        "{\"a\":1} x",
        "{\"a\":[[[[1]]]]}",
        "{\"a\":\"\x01\"}",
        "{\"a\":-}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        const char *j = bodies[i];
        size_t off1 = 0, off2 = 0;
        char e1[64] = "", e2[64] = "";
        struct log l = {.max_descend = 99};
        sy_buf_init(&l.b);
        int r1 = sy_json_scan_object(j, strlen(j), NULL, NULL, &off1, e1, sizeof e1);
        int r2 = sy_json_walk(j, strlen(j), &ops, &l, &off2, e2, sizeof e2);
        sy_buf_fini(&l.b);
        if (r1 != r2 || (r1 && (off1 != off2 || strcmp(e1, e2) != 0)))
            fail_msg("%s: scan %d@%zu \"%s\", walk %d@%zu \"%s\"", j, r1, off1, e1, r2, off2, e2);
    }
    /* nesting limit */
    char deep[2 * SY_JSON_MAX_DEPTH + 8];
    size_t n = 0;
    for (int i = 0; i < SY_JSON_MAX_DEPTH + 2; i++)
        deep[n++] = '[';
    for (int i = 0; i < SY_JSON_MAX_DEPTH + 2; i++)
        deep[n++] = ']';
    char err[64];
    struct log l = {.max_descend = 1000};
    sy_buf_init(&l.b);
    assert_int_equal(sy_json_walk(deep, n, &ops, &l, NULL, err, sizeof err), SY_EPARSE);
    assert_string_equal(err, "nesting too deep");
    sy_buf_fini(&l.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_skipping),
        cmocka_unit_test(test_same_verdicts_as_scan_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
