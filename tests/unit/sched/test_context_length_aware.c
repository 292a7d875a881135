/* Unit tests for src/sched/context_length_aware.c (scores in (0.3,1] in range, [0,0.3) outside). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sched/precise_prefix.h"
#include "unit/sched/sched_helpers.h"

#define CTX "llm-d.ai/context-length-range="

struct fixture {
    struct sy_pool *p;
    struct sy_sched_candidate c[5];
    struct sy_request r;
    struct sy_sched_cycle cy;
    char body[40100];
};

static void setup(struct fixture *f, uint32_t tokens)
{
    struct sy_endpoint *eps[] = {fx_ep("a:1", CTX "0-2048", 0, 0, 0),
                                 fx_ep("b:1", CTX "2048-8192", 0, 0, 0),
                                 fx_ep("c:1", NULL, 0, 0, 0), fx_ep("d:1", CTX "bogus", 0, 0, 0),
                                 fx_ep("e:1", CTX "1000-1000", 0, 0, 0)};
    f->p = fx_pool(eps, 5);
    fx_cands(f->p, f->c);
    fx_req(&f->r, "m", tokens);
    /* a completions prompt of exactly `tokens` estimate tokens (4 bytes each) */
    assert_true(tokens * 4 + 20 < sizeof f->body);
    int k = snprintf(f->body, sizeof f->body, "{\"prompt\":\"");
    memset(f->body + k, 'x', tokens * 4);
    snprintf(f->body + k + tokens * 4, 4, "\"}");
    f->r.body = f->body;
    f->r.body_len = strlen(f->body);
    f->r.prompt = (struct sy_str){f->body + k, tokens * 4};
    fx_cycle(&f->cy, &f->r, f->p, 1);
}

/* Divergence 6 (issue 18): on chat, llm-d's context length is the token producer's count; with
 * the estimate backend that is (role + content bytes) / 4 (estimate.go bytesPerToken = 4), not
 * the length of the messages JSON. 4 + 3996 bytes = 1000 tokens: inside "0-1000" (1.0 for a
 * score is 0.3 + 0.7 * 0.7 / 1.1 with no headroom), where the JSON text (1010 tokens) is not. */
static void test_chat_counts_role_and_content(void **state)
{
    struct fixture f;
    setup(&f, 1);
    struct sy_endpoint *eps[] = {fx_ep("a:1", CTX "0-1000", 0, 0, 0)};
    sy_sched_tokens_release(&f.cy); /* the estimate the plugin computed */
    sy_pool_unref(f.p);
    f.p = fx_pool(eps, 1);
    fx_cands(f.p, f.c);
    f.r.kind = SY_API_CHAT_COMPLETIONS;
    int k =
        snprintf(f.body, sizeof f.body, "{\"messages\": [ {\"role\": \"user\", \"content\": \"");
    memset(f.body + k, 'y', 3996);
    snprintf(f.body + k + 3996, 8, "\"} ]}");
    f.r.body = f.body;
    f.r.body_len = strlen(f.body);
    f.r.prompt = (struct sy_str){f.body + 13, f.r.body_len - 14};
    assert_true(f.r.prompt.p[0] == '[' && f.r.prompt.p[f.r.prompt.len - 1] == ']');
    f.r.prompt_tokens_est = (uint32_t)((f.r.prompt.len + 3) / 4); /* what request.c sets */
    assert_true(f.r.prompt_tokens_est > 1000);
    fx_cycle(&f.cy, &f.r, f.p, 1);
    f.cy.prompt_tokens = f.r.prompt_tokens_est; /* what sched.c starts the cycle with */
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(
        fx_plugin_new(&fp, "context-length-aware", "enableFiltering: true\n", err, sizeof err), 0);
    double s[1];
    fp.ops->score(fp.state, &f.cy, f.c, 1, s);
    assert_float_equal(s[0], 0.3 + 0.7 * (0.7 / 1.1), 1e-12);
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 1), 1);
    fp.ops->done(fp.state, &f.cy, NULL, false);
    fx_plugin_free(&fp);
    sy_sched_tokens_release(&f.cy); /* the estimate the plugin computed */
    sy_pool_unref(f.p);
}

static void test_scores(void **state)
{
    struct fixture f;
    setup(&f, 1000);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "context-length-aware", NULL, err, sizeof err), 0);
    double s[5];
    fp.ops->score(fp.state, &f.cy, f.c, 5, s);
    /* 0.3 + 0.7 * (0.7 / (1 + 2048/10000) + 0.3 * (2048-1000)/2048) */
    assert_float_equal(s[0], 0.8141674448041167, 1e-12);
    assert_float_equal(s[1], 0.146484375, 1e-12); /* 0.3 / (1 + 1048/1000) */
    assert_float_equal(s[2], 0.5, FX_EPS);
    assert_float_equal(s[3], 0.0, FX_EPS);
    assert_float_equal(s[4], 1.0, FX_EPS); /* degenerate range hit exactly */
    /* filtering is off by default: nothing removed */
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 5), 5);
    fx_plugin_free(&fp);
    sy_sched_tokens_release(&f.cy); /* the estimate the plugin computed */
    sy_pool_unref(f.p);
}

static void test_filtering(void **state)
{
    struct fixture f;
    setup(&f, 3000);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(
        fx_plugin_new(&fp, "context-length-aware", "enableFiltering: true\n", err, sizeof err), 0);
    size_t n = fp.ops->filter(fp.state, &f.cy, f.c, 5);
    assert_int_equal(n, 2); /* 2048-8192 and the unlabeled one, in pool order */
    assert_string_equal(f.c[0].ep->address, "b:1");
    assert_string_equal(f.c[1].ep->address, "c:1");
    fx_plugin_free(&fp);
    sy_sched_tokens_release(&f.cy); /* the estimate the plugin computed */
    sy_pool_unref(f.p);
}

static void test_custom_label_and_errors(void **state)
{
    struct fixture f;
    setup(&f, 10);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "context-length-aware", "label: other\n", err, sizeof err),
                     0);
    double s[5];
    fp.ops->score(fp.state, &f.cy, f.c, 5, s);
    for (int i = 0; i < 5; i++)
        assert_float_equal(s[i], 0.5, FX_EPS);
    fx_plugin_free(&fp);
    assert_int_not_equal(fx_plugin_new(&fp, "context-length-aware", "label: ''\n", err, sizeof err),
                         0);
    assert_int_not_equal(
        fx_plugin_new(&fp, "context-length-aware", "modelName: llama\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "modelName: unknown parameter"));
    sy_sched_tokens_release(&f.cy); /* the estimate the plugin computed */
    sy_pool_unref(f.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_filtering),
        cmocka_unit_test(test_custom_label_and_errors),
        cmocka_unit_test(test_chat_counts_role_and_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
