/* Unit tests for sy_json_scan_array (src/api/json_scan.c): elements reported in order with their
 * type and raw text, the early stop, the empty array, and the refusals (truncated, a bad
 * separator, trailing characters, not an array). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/json_scan.h"
#include "core/err.h"

struct seen {
    size_t n, stop_at;
    enum sy_json_type type[8];
    char text[8][16];
};

static bool on_element(void *ud, size_t index, enum sy_json_type type, struct sy_str v)
{
    struct seen *s = ud;
    assert_int_equal(index, s->n);
    s->type[s->n] = type;
    snprintf(s->text[s->n], sizeof s->text[0], "%.*s", (int)v.len, v.p);
    s->n++;
    return s->n != s->stop_at;
}

static int scan(const char *text, struct seen *s, char *err)
{
    return sy_json_scan_array(text, strlen(text), on_element, s, err, 64);
}

static void test_elements(void **state)
{
    (void)state;
    struct seen s = {0};
    char err[64];
    assert_int_equal(scan(" [1, \"a\" ,{\"k\":[2]}, [] ,true,null ] ", &s, err), 0);
    assert_int_equal(s.n, 6);
    assert_int_equal(s.type[0], SY_JSON_NUMBER);
    assert_string_equal(s.text[1], "\"a\"");
    assert_int_equal(s.type[2], SY_JSON_OBJECT);
    assert_string_equal(s.text[2], "{\"k\":[2]}");
    assert_int_equal(s.type[3], SY_JSON_ARRAY);
    assert_int_equal(s.type[4], SY_JSON_TRUE);
    assert_int_equal(s.type[5], SY_JSON_NULL);
    s = (struct seen){0};
    assert_int_equal(scan("[ ]", &s, err), 0);
    assert_int_equal(s.n, 0);
    s = (struct seen){.stop_at = 2};
    assert_int_equal(scan("[1,2,3", &s, err), 0); /* stopped before the missing ']' */
    assert_int_equal(s.n, 2);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"[1,2", "unterminated array"},
        {"[1 2]", "expected ',' or ']'"},
        {"[1,]", "bad number"},
        {"[1] x", "trailing characters after the JSON array"},
        {"{\"a\":1}", "expected a JSON array"},
        {"", "expected a JSON array"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct seen s = {0};
        char err[64] = "";
        assert_int_equal(scan(bad[i].text, &s, err), SY_EPARSE);
        if (strcmp(err, bad[i].why))
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i].text, err, bad[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elements),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
