/* Unit tests for src/api/json_splice.c: member edits as segments (runs of kept members stay one
 * view into the input), removal, in-place replacement, appends, if_present, and the readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/json_splice.h"
#include "core/err.h"

static char *flat(const struct sy_json_splice *s)
{
    static char out[4096];
    struct sy_buf b;
    sy_buf_init(&b);
    sy_json_splice_flatten(s, &b);
    assert_int_equal(b.len, s->len);
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
    sy_buf_fini(&b);
    return out;
}

#define V(s) ((struct sy_str){(s), sizeof(s) - 1})

static void test_prefill_edits(void **state)
{
    const char *body = "{\"model\":\"m\", \"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                       "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                       "\"max_tokens\":50,\"min_tokens\":3,\"temperature\":0}";
    struct sy_json_edit e[] = {
        {"kv_transfer_params", V("{\"do_remote_decode\":true}"), false},
        {"stream", V("false"), false},
        {"stream_options", {NULL, 0}, false},
        {"max_tokens", V("1"), false},
        {"max_completion_tokens", V("1"), true},
        {"min_tokens", {NULL, 0}, false},
    };
    struct sy_json_splice s;
    sy_json_splice_init(&s);
    char err[128];
    assert_int_equal(sy_json_splice(&s, body, strlen(body), e, 6, err, sizeof err), 0);
    assert_string_equal(flat(&s),
                        "{\"model\":\"m\", \"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                        "\"stream\":false,\"max_tokens\":1,\"temperature\":0,"
                        "\"kv_transfer_params\":{\"do_remote_decode\":true}}");
    /* the untouched prefix (model, messages) is one view into the body */
    int views = 0;
    for (size_t i = 0; i < s.nsegs; i++)
        if (s.segs[i].p >= body && s.segs[i].p < body + strlen(body)) {
            views++;
            if (s.segs[i].p == body + 1)
                assert_int_equal(s.segs[i].len, strlen("\"model\":\"m\", \"messages\":[{\"role\":"
                                                       "\"user\",\"content\":\"hi\"}]"));
        }
    assert_true(views >= 1);
    sy_json_splice_fini(&s);
}

static void test_append_only_is_four_segments(void **state)
{
    const char *body = "{\"prompt\":\"a long prompt\",\"stream\":true}";
    struct sy_json_edit e[] = {{"kv_transfer_params", V("{\"x\":1}"), false}};
    struct sy_json_splice s;
    sy_json_splice_init(&s);
    char err[128];
    assert_int_equal(sy_json_splice(&s, body, strlen(body), e, 1, err, sizeof err), 0);
    assert_string_equal(flat(&s),
                        "{\"prompt\":\"a long prompt\",\"stream\":true,\"kv_transfer_params\":"
                        "{\"x\":1}}");
    /* "{", the whole member run, ",\"kv_transfer_params\":", the value, "}" */
    assert_int_equal(s.nsegs, 5);
    assert_ptr_equal(s.segs[1].p, body + 1);
    /* empty object, replacement of an existing member, removal of the only member */
    assert_int_equal(sy_json_splice(&s, " { } ", 5, e, 1, err, sizeof err), 0);
    assert_string_equal(flat(&s), "{\"kv_transfer_params\":{\"x\":1}}");
    const char *b2 = "{\"kv_transfer_params\" : null,\"a\":1}";
    assert_int_equal(sy_json_splice(&s, b2, strlen(b2), e, 1, err, sizeof err), 0);
    assert_string_equal(flat(&s), "{\"kv_transfer_params\" : {\"x\":1},\"a\":1}");
    struct sy_json_edit rm[] = {{"a", {NULL, 0}, false}, {"zz", V("2"), true}};
    assert_int_equal(sy_json_splice(&s, "{\"a\":1}", 7, rm, 2, err, sizeof err), 0);
    assert_string_equal(flat(&s), "{}");
    assert_int_equal(
        sy_json_splice(&s, "{\"b\":[1,{\"c\":2}],\"a\":1}", 23, rm, 2, err, sizeof err), 0);
    assert_string_equal(flat(&s), "{\"b\":[1,{\"c\":2}]}");
    /* malformed input */
    assert_int_equal(sy_json_splice(&s, "{\"a\":", 5, rm, 2, err, sizeof err), SY_EPARSE);
    assert_int_equal(sy_json_splice(&s, "[1]", 3, rm, 2, err, sizeof err), SY_EPARSE);
    sy_json_splice_fini(&s);
}

static void test_readers(void **state)
{
    const char *r = "{\"choices\":[ {\"finish_reason\":\"length\",\"x\":[1,\"]\"]} , {}],"
                    "\"usage\":{\"prompt_tokens\":318,\"prompt_tokens_details\":null},"
                    "\"kv_transfer_params\":{\"remote_block_ids\":[[1,2]]}}";
    enum sy_json_type t;
    struct sy_str v, el;
    assert_true(sy_json_member(r, strlen(r), "choices", &t, &v));
    assert_int_equal(t, SY_JSON_ARRAY);
    assert_true(sy_json_array_first(v, &el));
    assert_int_equal(el.len, strlen("{\"finish_reason\":\"length\",\"x\":[1,\"]\"]}"));
    assert_true(sy_json_member(el.p, el.len, "finish_reason", &t, &v));
    assert_int_equal(v.len, 8);
    assert_true(sy_json_member(r, strlen(r), "usage", &t, &v));
    assert_int_equal(sy_json_member_int(v.p, v.len, "prompt_tokens"), 318);
    assert_int_equal(sy_json_member_int(v.p, v.len, "prompt_tokens_details"), -1);
    assert_false(sy_json_member(r, strlen(r), "nope", &t, &v));
    assert_false(sy_json_array_first((struct sy_str){"[ ]", 3}, &el));
    assert_false(sy_json_member("{bad", 4, "a", &t, &v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefill_edits),
        cmocka_unit_test(test_append_only_is_four_segments),
        cmocka_unit_test(test_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
