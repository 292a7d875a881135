/* Unit tests for src/sched/session_affinity_scorer.c: x-session-token = base64(host:port). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "sched/session_affinity.h"
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

/* Two endpoints, A (10.0.0.1:8000) and B (10.0.0.2:8000), their candidates, a
 * session-affinity-scorer and the request scored (set by req()), in one cycle. */
struct ab {
    struct sy_endpoint *eps[2];     /* A, B (the pool's references) */
    struct sy_pool *p;              /* the pool of A and B */
    struct sy_sched_candidate c[2]; /* their candidates */
    struct fx_plugin fp;            /* the scorer under test */
    struct sy_request r;            /* the request (req()) */
    struct sy_str hn[1], hv[1];     /* its one header */
    struct sy_sched_cycle cy;       /* its cycle */
};

/* Replaces f's scorer with one of params (YAML); fails the test when it is refused. */
static void ab_scorer(struct ab *f, const char *params)
{
    char err[256];
    fx_plugin_free(&f->fp);
    if (fx_plugin_new(&f->fp, "session-affinity-scorer", params, err, sizeof err))
        fail_msg("%s", err);
}

/* Sets up f with a scorer of params (ab_scorer). */
static void ab_setup(struct ab *f, const char *params)
{
    f->eps[0] = fx_ep("10.0.0.1:8000", NULL, 0, 0, 0);
    f->eps[1] = fx_ep("10.0.0.2:8000", NULL, 0, 0, 0);
    f->p = fx_pool(f->eps, 2);
    fx_cands(f->p, f->c);
    f->fp = (struct fx_plugin){0};
    ab_scorer(f, params);
    fx_req(&f->r, "m", 10);
    fx_cycle(&f->cy, &f->r, f->p, 1);
}

static void ab_teardown(struct ab *f)
{
    fx_plugin_free(&f->fp);
    sy_pool_unref(f->p);
}

/* The request scored next carries header name: value (none when name is NULL), id rid. */
static void req(struct ab *f, const char *name, const char *value, const char *rid)
{
    fx_req_header(&f->r, f->hn, f->hv, name, value, rid);
}

/* Scores the first n candidates (A, then B) into s. */
static void ab_score(struct ab *f, size_t n, double *s)
{
    f->fp.ops->score(f->fp.state, &f->cy, f->c, n, s);
}

/* The request was sent to candidate i (0: A, 1: B): PreRequest. */
static void ab_sent(struct ab *f, size_t i)
{
    f->fp.ops->pre_request(f->fp.state, &f->cy, &f->c[i]);
}

/* llm-d's session_affinity_test.go: "custom header selects endpointB", "custom header ignores
 * default header", and TestSessionAffinity_ResponseHeader "custom header carries the token". */
static void test_llmd_custom_header(void **state)
{
    struct ab f;
    ab_setup(&f, "encodedEndpointHeaderConfig:\n  header: X-Custom-Session\n");
    struct sy_buf tok;
    sy_buf_init(&tok);
    sy_sched_session_token(f.eps[1], &tok);
    double s[2];
    req(&f, "x-custom-session", tok.data, "r1");
    ab_score(&f, 2, s);
    assert_float_equal(s[0], 0.0, FX_EPS);
    assert_float_equal(s[1], 1.0, FX_EPS);
    /* the default header is ignored when a custom one is configured */
    req(&f, "x-session-token", tok.data, "r2");
    f.r.session_token = sy_str_c(tok.data);
    ab_score(&f, 2, s);
    assert_float_equal(s[1], 0.0, FX_EPS);
    /* the response carries the served endpoint in the custom header */
    struct sy_buf out;
    sy_buf_init(&out);
    f.fp.ops->response_header(f.fp.state, &f.cy, f.eps[1], &out);
    char want[128];
    snprintf(want, sizeof want, "x-custom-session: %s\r\n", tok.data);
    assert_string_equal(out.data, want);
    sy_buf_fini(&out);
    sy_buf_fini(&tok);
    ab_teardown(&f);
}

/* llm-d's session_id_header_test.go: an unbound session and a request without a session abstain
 * (0 everywhere); once bound (PreRequest), the bound endpoint scores 1 ("ScoresBoundPod"); a
 * picker choosing another endpoint does not move the binding; an absent endpoint lets the
 * request that saw it absent rebind. Nothing is written back to the client. */
static void test_llmd_session_id(void **state)
{
    struct ab f;
    ab_setup(&f, "strategy: session_id\n");
    double s[2];
    req(&f, "x-session-id", "sess-1", "r1");
    ab_score(&f, 2, s); /* unbound: abstains */
    assert_float_equal(s[0] + s[1], 0.0, FX_EPS);
    ab_sent(&f, 1); /* first pick binds to B */
    ab_score(&f, 2, s);
    assert_float_equal(s[0], 0.0, FX_EPS);
    assert_float_equal(s[1], 1.0, FX_EPS);
    /* the picker chose A while B was a candidate: the binding stays on B */
    ab_sent(&f, 0);
    ab_score(&f, 2, s);
    assert_float_equal(s[1], 1.0, FX_EPS);
    /* no session: abstains */
    req(&f, NULL, NULL, "r2");
    ab_score(&f, 2, s);
    assert_float_equal(s[0] + s[1], 0.0, FX_EPS);
    /* B absent from this request's candidates: abstains, and this request rebinds to A */
    req(&f, "X-Session-Id", "  sess-1 ", "r3");
    ab_score(&f, 1, s);
    assert_float_equal(s[0], 0.0, FX_EPS);
    ab_sent(&f, 0);
    ab_score(&f, 2, s);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 0.0, FX_EPS);
    struct sy_buf out;
    sy_buf_init(&out);
    f.fp.ops->response_header(f.fp.state, &f.cy, f.eps[0], &out);
    assert_int_equal(out.len, 0);
    sy_buf_fini(&out);

    /* sources in priority order; TTL eviction (swept on the next use after the interval) */
    ab_scorer(&f, "strategy: session_id\nsessionIdConfig:\n  sources:\n"
                  "  - header: x-conv\n  evictionTtlSeconds: 1\n  evictionSweepSeconds: 1\n");
    req(&f, "x-conv", "c1", "r4");
    f.cy.now_ns = 1000000000ull;
    ab_sent(&f, 1);
    f.cy.now_ns += 1500000000ull; /* 1.5 s later, within the sweep interval of the last sweep */
    ab_score(&f, 2, s);
    assert_float_equal(s[1], 0.0, FX_EPS); /* expired and swept */
    req(&f, "x-session-id", "c1", "r5");   /* not a configured source */
    ab_sent(&f, 1);
    req(&f, "x-conv", "c1", "r6");
    ab_score(&f, 2, s);
    assert_float_equal(s[1], 0.0, FX_EPS);
    /* a binding refreshed by a newer cycle survives a sweep run by an older concurrent cycle
     * (cycle start times are not ordered across workers) */
    req(&f, "x-conv", "c2", "r7");
    f.cy.now_ns = 10000000000ull;
    ab_sent(&f, 1); /* binds at 10 s */
    f.cy.now_ns = 11500000000ull;
    ab_sent(&f, 1);               /* refreshed at 11.5 s */
    f.cy.now_ns = 11200000000ull; /* an older cycle sweeps */
    ab_score(&f, 2, s);
    assert_float_equal(s[1], 1.0, FX_EPS);
    ab_teardown(&f);
}

/* The binding table is bounded: a full table evicts the least recently used binding, so a
 * session used recently stays bound while a flood of one-off ids passes through. */
static void test_session_id_lru_bound(void **state)
{
    struct ab f;
    ab_setup(&f, "strategy: session_id\n");
    double s[2];
    char id[32], rid[32];
    f.cy.now_ns = 1000000000ull;
    req(&f, "x-session-id", "old", "r-old");
    ab_sent(&f, 1); /* the oldest binding */
    req(&f, "x-session-id", "kept", "r-kept");
    ab_sent(&f, 1);
    for (int i = 0; i < SY_SESSION_MAX_BINDINGS - 2; i++) { /* fills the table */
        snprintf(id, sizeof id, "s%d", i);
        snprintf(rid, sizeof rid, "r%d", i);
        req(&f, "x-session-id", id, rid);
        ab_sent(&f, 0);
    }
    const struct sy_session *ss = f.fp.state;
    assert_int_equal(ss->nbindings, SY_SESSION_MAX_BINDINGS);
    req(&f, "x-session-id", "kept", "r-kept2");
    ab_sent(&f, 1); /* "kept" is used again: now the newest */
    req(&f, "x-session-id", "new", "r-new");
    ab_sent(&f, 1); /* full: evicts "old", binds "new" */
    assert_int_equal(ss->nbindings, SY_SESSION_MAX_BINDINGS);
    ab_score(&f, 2, s);
    assert_float_equal(s[1], 1.0, FX_EPS); /* "new" is bound */
    /* a second newcomer: least recently used is now "s0" ("kept" was used after it); a table
     * that evicted in order of first binding would drop "kept" here */
    req(&f, "x-session-id", "new2", "r-new2");
    ab_sent(&f, 1);
    req(&f, "x-session-id", "kept", "r-kept3");
    ab_score(&f, 2, s);
    assert_float_equal(s[1], 1.0, FX_EPS); /* "kept" survived */
    req(&f, "x-session-id", "old", "r-old2");
    ab_score(&f, 2, s);
    assert_float_equal(s[0] + s[1], 0.0, FX_EPS); /* "old" was evicted */
    req(&f, "x-session-id", "s0", "r-s0");
    ab_score(&f, 2, s);
    assert_float_equal(s[0] + s[1], 0.0, FX_EPS); /* "s0" was evicted */
    req(&f, "x-session-id", "s1", "r-s1");
    ab_score(&f, 2, s);
    assert_float_equal(s[0], 1.0, FX_EPS); /* the next oldest is still there */
    ab_teardown(&f);
}

/* llm-d's "profile set but nil SchedulingResult writes no header": with profileName and a cycle
 * that is not a scheduler's (no profile results), nothing is written. */
static void test_profile_name_without_results(void **state)
{
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(
        fx_plugin_new(&fp, "session-affinity-scorer", "profileName: prefill\n", err, sizeof err),
        0);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    struct sy_buf out;
    sy_buf_init(&out);
    fp.ops->response_header(fp.state, &cy, eps[0], &out);
    assert_int_equal(out.len, 0);
    sy_buf_fini(&out);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
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
    fx_plugin_free(&fp);
    assert_int_not_equal(
        fx_plugin_new(&fp, "session-affinity-scorer", "strategy: sticky\n", err, sizeof err), 0);
    assert_string_equal(err, "t.yaml:1: plugins[0].parameters.strategy: strategy must be "
                             "\"encoded_endpoint_header\" or \"session_id\", got \"sticky\" "
                             "(plugin 'session-affinity-scorer')");
    assert_int_not_equal(fx_plugin_new(&fp, "session-affinity-scorer",
                                       "strategy: session_id\nsessionIdConfig:\n  sources:\n"
                                       "  - header: a\n    attribute: b\n",
                                       err, sizeof err),
                         0);
    assert_non_null(strstr(err, "exactly one of header or attribute must be set"));
    assert_int_not_equal(fx_plugin_new(&fp, "session-affinity-scorer",
                                       "strategy: session_id\nsessionIdConfig:\n"
                                       "  evictionTtlSeconds: -1\n",
                                       err, sizeof err),
                         0);
    assert_non_null(strstr(err, "must be > 0, got -1"));
    assert_int_not_equal(fx_plugin_new(&fp, "session-affinity-scorer",
                                       "strategy: session_id\nsessionIdConfig:\n  sources:\n"
                                       "  - attribute: agent-identity\n",
                                       err, sizeof err),
                         0);
    assert_non_null(strstr(err, "does not implement; use a header source"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "session-affinity-scorer", "maxAge: 5\n", err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_pins_endpoint),
        cmocka_unit_test(test_missing_or_bad_token),
        cmocka_unit_test(test_token_encoding),
        cmocka_unit_test(test_llmd_custom_header),
        cmocka_unit_test(test_llmd_session_id),
        cmocka_unit_test(test_session_id_lru_bound),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_profile_name_without_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
