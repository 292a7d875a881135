/* Unit tests for src/sched/session_affinity_scorer.c: x-session-token = base64(host:port). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "unit/sched/sched_helpers.h"

static void score_with(const char *token, double *s)
{
    struct sy_endpoint *eps[] = {fx_ep("127.0.0.1:8001", NULL, 0, 0, 0),
                                 fx_ep("127.0.0.1:8002", NULL, 0, 0, 0),
                                 fx_ep("127.0.0.1:80020", NULL, 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 3);
    struct sy_sched_candidate c[3];
    fx_cands(p, c);
    struct sy_request r;
    fx_req(&r, "m", 10);
    r.session_token = sy_str_c(token);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "session-affinity-scorer", NULL, err, sizeof err), 0);
    fp.ops->score(fp.state, &cy, c, 3, s);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

static void test_token_pins_endpoint(void **state)
{
    double s[3];
    score_with("MTI3LjAuMC4xOjgwMDI=", s); /* base64("127.0.0.1:8002") */
    assert_float_equal(s[0], 0.0, FX_EPS);
    assert_float_equal(s[1], 1.0, FX_EPS);
    assert_float_equal(s[2], 0.0, FX_EPS); /* a longer address with the same prefix */
    score_with("MTI3LjAuMC4xOjgwMDI", s);  /* padding optional */
    assert_float_equal(s[1], 1.0, FX_EPS);
}

static void test_missing_or_bad_token(void **state)
{
    double s[3];
    score_with("", s);
    for (int i = 0; i < 3; i++)
        assert_float_equal(s[i], 0.0, FX_EPS);
    score_with("!!not base64!!", s);
    for (int i = 0; i < 3; i++)
        assert_float_equal(s[i], 0.0, FX_EPS);
    score_with("bm93aGVyZTox", s); /* base64("nowhere:1") */
    for (int i = 0; i < 3; i++)
        assert_float_equal(s[i], 0.0, FX_EPS);
}

static void test_token_encoding(void **state)
{
    struct sy_endpoint *e = fx_ep("127.0.0.1:8002", NULL, 0, 0, 0);
    struct sy_buf b;
    sy_buf_init(&b);
    sy_sched_session_token(e, &b);
    assert_string_equal(b.data, "MTI3LjAuMC4xOjgwMDI=");
    sy_buf_fini(&b);
    sy_endpoint_unref(e);
    e = fx_ep("h:1", NULL, 0, 0, 0);
    sy_buf_init(&b);
    sy_sched_session_token(e, &b);
    assert_string_equal(b.data, "aDox");
    sy_buf_fini(&b);
    sy_endpoint_unref(e);
}

static void test_params(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "session-affinity-scorer",
                                   "strategy: encoded_endpoint_header\n"
                                   "encodedEndpointHeaderConfig:\n  header: X-Session-Token\n"
                                   "evictionTtlSeconds: 60\n",
                                   err, sizeof err),
                     0);
    assert_int_not_equal(
        fx_plugin_new(&fp, "session-affinity-scorer", "strategy: session_id\n", err, sizeof err),
        0);
    assert_string_equal(err, "t.yaml:1: plugins[0].parameters.strategy: 'session_id' is not "
                             "supported by Switchyard yet (use encoded_endpoint_header) (plugin "
                             "'session-affinity-scorer')");
    assert_int_not_equal(fx_plugin_new(&fp, "session-affinity-scorer",
                                       "encodedEndpointHeaderConfig:\n  header: x-other\n", err,
                                       sizeof err),
                         0);
    assert_non_null(strstr(err, ":2: "));
    assert_int_not_equal(
        fx_plugin_new(&fp, "session-affinity-scorer", "maxAge: 5\n", err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_pins_endpoint),
        cmocka_unit_test(test_missing_or_bad_token),
        cmocka_unit_test(test_token_encoding),
        cmocka_unit_test(test_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
