/* Unit tests for src/sched/session_affinity_filter.c, from llm-d's filter/sessionaffinity
 * session_affinity_test.go cases: the session's endpoint alone when it is a candidate, all
 * candidates otherwise (never empty), the custom header, session_id bindings, the response
 * header; and a scheduler that uses it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "unit/sched/sched_helpers.h"

static struct sy_str hn[1], hv[1];

static void req_with(struct sy_request *r, const char *name, const char *value, const char *rid)
{
    fx_req_header(r, hn, hv, name, value, rid);
}

/* Runs the filter over pod-a, pod-b (or only pod-a when only_a) and returns survivors "ab". */
static const char *run(struct fx_plugin *fp, struct sy_request *r, bool only_a, char *out)
{
    struct sy_endpoint *eps[] = {fx_ep("pod-a:1", NULL, 0, 0, 0), fx_ep("pod-b:1", NULL, 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 2);
    struct sy_sched_candidate c[2];
    fx_cands(p, c);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, r, p, 1);
    size_t n = fp->ops->filter(fp->state, &cy, c, only_a ? 1 : 2);
    for (size_t i = 0; i < n; i++)
        out[i] = c[i].ep->address[4];
    out[n] = '\0';
    sy_pool_unref(p);
    return out;
}

static void test_llmd_encoded(void **state)
{
    static const char tok_b[] = "cG9kLWI6MQ=="; /* base64("pod-b:1") */
    struct fx_plugin fp, custom;
    char err[256], o[4];
    struct sy_request r;
    assert_int_equal(fx_plugin_new(&fp, "session-affinity-filter", NULL, err, sizeof err), 0);
    assert_int_equal(fx_plugin_new(&custom, "session-affinity-filter",
                                   "encodedEndpointHeaderConfig: {header: x-custom-session}\n", err,
                                   sizeof err),
                     0);
    req_with(&r, "x-session-token", tok_b, "r");
    r.session_token = sy_str_c(tok_b);
    assert_string_equal(run(&fp, &r, false, o), "b");
    assert_string_equal(run(&custom, &r, false, o), "ab"); /* ignores the default header */
    req_with(&r, "x-custom-session", tok_b, "r");
    assert_string_equal(run(&custom, &r, false, o), "b");
    req_with(&r, NULL, NULL, "r");
    assert_string_equal(run(&fp, &r, false, o), "ab");
    req_with(&r, "x-session-token", "garbage-token", "r");
    assert_string_equal(run(&fp, &r, false, o), "ab");
    req_with(&r, "x-session-token", tok_b, "r"); /* pod-b not a candidate */
    assert_string_equal(run(&fp, &r, true, o), "a");
    struct sy_endpoint *b = fx_ep("pod-b:1", NULL, 0, 0, 0);
    struct sy_buf out;
    sy_buf_init(&out);
    custom.ops->response_header(custom.state, NULL, b, &out);
    assert_string_equal(out.data, "x-custom-session: cG9kLWI6MQ==\r\n");
    sy_buf_fini(&out);
    sy_endpoint_unref(b);
    fx_plugin_free(&fp);
    fx_plugin_free(&custom);
}

static void test_session_id_through_scheduler(void **state)
{
    static const char yaml[] = "plugins:\n"
                               "- type: session-affinity-filter\n"
                               "  parameters:\n"
                               "    strategy: session_id\n"
                               "- type: round-robin-picker\n";
    char err[512];
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    struct sy_endpoint *eps[] = {fx_ep("e0:1", NULL, 0, 0, 0), fx_ep("e1:1", NULL, 0, 0, 0),
                                 fx_ep("e2:1", NULL, 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 3);
    struct sy_request r;
    req_with(&r, "x-session-id", "conv-7", "r1");
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    struct sy_endpoint *first = res.ep;
    struct sy_buf hdr;
    sy_buf_init(&hdr);
    sy_sched_response_headers(s, &res, &hdr);
    assert_int_equal(hdr.len, 0); /* session_id writes nothing back */
    sy_buf_fini(&hdr);
    sy_sched_done(s, &res, true);
    /* round robin would move on; the binding pins every later turn */
    for (int k = 0; k < 6; k++) {
        assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
        assert_ptr_equal(res.ep, first);
        sy_sched_done(s, &res, true);
    }
    /* the bound endpoint excluded (failed): another serves, and the session moves there */
    struct sy_endpoint *ex[] = {first};
    assert_int_equal(sy_sched_pick(s, p, &r, ex, 1, &res), 0);
    struct sy_endpoint *moved = res.ep;
    assert_ptr_not_equal(moved, first);
    sy_sched_done(s, &res, true);
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_ptr_equal(res.ep, moved);
    sy_sched_done(s, &res, true);
    sy_sched_free(s);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_llmd_encoded),
                                       cmocka_unit_test(test_session_id_through_scheduler)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
