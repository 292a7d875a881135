/* Unit tests for src/bench/workload.c: structure (groups, shared prefixes, growing histories),
 * lengths in tokens (4 bytes per word), determinism, parameters and limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/err.h"

/* Parses an item's body and checks the fields every request carries. Caller deletes. */
static cJSON *body(const struct sy_wl_item *it, const char *model, unsigned max_tokens)
{
    cJSON *j = cJSON_ParseWithLength(it->body, it->body_len);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, model);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "stream")));
    cJSON *so = cJSON_GetObjectItem(j, "stream_options");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(so, "include_usage")));
    assert_int_equal(cJSON_GetObjectItem(j, "max_tokens")->valueint, max_tokens);
    assert_int_equal(it->max_tokens, max_tokens);
    return j;
}

static const char *prompt(cJSON *j)
{
    cJSON *p = cJSON_GetObjectItem(j, "prompt");
    assert_true(cJSON_IsString(p));
    return p->valuestring;
}

/* Every 4-byte word is 3 lowercase letters and a space. */
static void assert_words(const char *s, size_t n)
{
    assert_int_equal(n % 4, 0);
    for (size_t i = 0; i < n; i += 4) {
        for (int k = 0; k < 3; k++)
            assert_true(s[i + k] >= 'a' && s[i + k] <= 'z');
        assert_int_equal(s[i + 3], ' ');
    }
}

static void test_text(void **state)
{
    struct sy_rng r;
    sy_rng_seed(&r, 1);
    struct sy_buf b;
    sy_buf_init(&b);
    sy_wl_text(&r, 25, &b);
    assert_int_equal(b.len, 100);
    assert_words(b.data, b.len);
    sy_wl_text(&r, 0, &b);
    assert_int_equal(b.len, 100);
    sy_buf_fini(&b);
}

static void test_shared_prefix(void **state)
{
    struct sy_wl_params p;
    sy_wl_params_defaults(&p);
    p.num_groups = 3;
    p.num_prompts_per_group = 4;
    p.system_prompt_len = 10;
    p.question_len = 5;
    p.output_len = 7;
    p.ordered = true;
    struct sy_workload w;
    char err[200];
    assert_int_equal(sy_workload_build(&p, &w, err, sizeof err), 0);
    assert_int_equal(w.n, 12);
    char sys[3][41];
    for (size_t i = 0; i < w.n; i++) {
        const struct sy_wl_item *it = &w.items[i];
        assert_false(it->chat);
        assert_int_equal(it->group, i / 4);
        assert_int_equal(it->turn, i % 4);
        assert_int_equal(it->prompt_tokens, 15);
        assert_int_equal(it->shared_tokens, 10);
        cJSON *j = body(it, "Qwen/Qwen3-32B", 7);
        const char *pr = prompt(j);
        assert_int_equal(strlen(pr), 4 * 10 + 2 + 4 * 5); /* system "\n\n" question */
        assert_words(pr, 40);
        assert_memory_equal(pr + 40, "\n\n", 2);
        assert_words(pr + 42, 20);
        if (i % 4 == 0)
            memcpy(sys[i / 4], pr, 40), sys[i / 4][40] = '\0';
        else
            assert_memory_equal(pr, sys[i / 4], 40); /* same system prompt in the group */
        if (i % 4 != 0) {                            /* questions differ inside a group */
            cJSON *k = cJSON_ParseWithLength(w.items[i - 1].body, w.items[i - 1].body_len);
            assert_memory_not_equal(prompt(k) + 42, pr + 42, 20);
            cJSON_Delete(k);
        }
        cJSON_Delete(j);
    }
    assert_memory_not_equal(sys[0], sys[1], 40);
    assert_memory_not_equal(sys[1], sys[2], 40);

    /* shuffled (default): same requests, different order, 4 per group */
    p.ordered = false;
    struct sy_workload s;
    assert_int_equal(sy_workload_build(&p, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 12);
    unsigned per[3] = {0};
    bool moved = false;
    for (size_t i = 0; i < s.n; i++) {
        per[s.items[i].group]++;
        moved |= s.items[i].group != w.items[i].group || s.items[i].turn != w.items[i].turn;
        const struct sy_wl_item *o = &w.items[s.items[i].group * 4 + s.items[i].turn];
        assert_int_equal(o->body_len, s.items[i].body_len);
        assert_memory_equal(o->body, s.items[i].body, o->body_len); /* same texts */
    }
    assert_true(per[0] == 4 && per[1] == 4 && per[2] == 4);
    assert_true(moved);
    sy_workload_fini(&s);

    /* determinism: same seed same bodies; another seed other texts */
    struct sy_workload again, other;
    p.ordered = true;
    assert_int_equal(sy_workload_build(&p, &again, err, sizeof err), 0);
    p.seed = 2;
    assert_int_equal(sy_workload_build(&p, &other, err, sizeof err), 0);
    for (size_t i = 0; i < w.n; i++) {
        assert_int_equal(again.items[i].body_len, w.items[i].body_len);
        assert_memory_equal(again.items[i].body, w.items[i].body, w.items[i].body_len);
    }
    assert_memory_not_equal(other.items[0].body, w.items[0].body, w.items[0].body_len);
    sy_workload_fini(&again);
    sy_workload_fini(&other);
    sy_workload_fini(&w);
    assert_null(w.items);
}

static void test_sglang_defaults(void **state)
{
    struct sy_wl_params p;
    sy_wl_params_defaults(&p);
    assert_int_equal(p.kind, SY_WL_SHARED_PREFIX);
    assert_int_equal(p.num_groups, 64);
    assert_int_equal(p.num_prompts_per_group, 16);
    assert_int_equal(p.system_prompt_len, 2048);
    assert_int_equal(p.question_len, 128);
    struct sy_workload w;
    char err[200];
    assert_int_equal(sy_workload_build(&p, &w, err, sizeof err), 0);
    assert_int_equal(w.n, 1024);
    cJSON *j = body(&w.items[0], "Qwen/Qwen3-32B", 256); /* output_len default 256 */
    assert_int_equal(strlen(prompt(j)), 4 * 2048 + 2 + 4 * 128);
    assert_null(cJSON_GetObjectItem(j, "ignore_eos")); /* only when asked */
    cJSON_Delete(j);
    sy_workload_fini(&w);
}

static void test_multi_turn(void **state)
{
    struct sy_wl_params p;
    sy_wl_params_defaults(&p);
    p.kind = SY_WL_MULTI_TURN;
    p.num_users = 2;
    p.num_rounds = 3;
    p.shared_system_prompt = 8;
    p.user_history_prompt = 4;
    p.question_len = 3;
    p.answer_len = 2;
    snprintf(p.model, sizeof p.model, "m\"x");
    struct sy_workload w;
    char err[200];
    assert_int_equal(sy_workload_build(&p, &w, err, sizeof err), 0);
    assert_int_equal(w.n, 6);
    cJSON *prev[2] = {NULL, NULL};
    const char *sys0 = NULL;
    cJSON *keep[6];
    for (size_t i = 0; i < w.n; i++) {
        const struct sy_wl_item *it = &w.items[i];
        unsigned u = (unsigned)(i % 2), k = (unsigned)(i / 2); /* round-major */
        assert_true(it->chat);
        assert_int_equal(it->group, u);
        assert_int_equal(it->turn, k);
        assert_int_equal(it->prompt_tokens, 8 + 4 + 3 + k * (3 + 2));
        assert_int_equal(it->shared_tokens, it->prompt_tokens - 3);
        cJSON *j = body(it, "m\"x", 2);
        keep[i] = j;
        cJSON *msgs = cJSON_GetObjectItem(j, "messages");
        assert_int_equal(cJSON_GetArraySize(msgs), 2 + 2 * (int)k);
        cJSON *m0 = cJSON_GetArrayItem(msgs, 0);
        assert_string_equal(cJSON_GetObjectItem(m0, "role")->valuestring, "system");
        const char *sys = cJSON_GetObjectItem(m0, "content")->valuestring;
        assert_int_equal(strlen(sys), 32 + 2 + 16);
        if (!sys0)
            sys0 = sys;
        assert_memory_equal(sys, sys0, 32); /* shared system prompt */
        if (i == 1)
            assert_memory_not_equal(sys + 34, sys0 + 34, 16); /* own history */
        for (int m = 1; m < cJSON_GetArraySize(msgs); m++) {
            cJSON *mm = cJSON_GetArrayItem(msgs, m);
            const char *role = cJSON_GetObjectItem(mm, "role")->valuestring;
            size_t len = strlen(cJSON_GetObjectItem(mm, "content")->valuestring);
            assert_string_equal(role, m % 2 ? "user" : "assistant");
            assert_int_equal(len, m % 2 ? 12 : 8);
        }
        if (prev[u]) { /* the history is resent: every earlier message is a prefix */
            cJSON *pm = cJSON_GetObjectItem(prev[u], "messages");
            for (int m = 0; m < cJSON_GetArraySize(pm); m++) {
                const char *a =
                    cJSON_GetObjectItem(cJSON_GetArrayItem(pm, m), "content")->valuestring;
                const char *b =
                    cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, m), "content")->valuestring;
                assert_string_equal(a, b);
            }
        }
        prev[u] = j;
    }
    for (size_t i = 0; i < 6; i++)
        cJSON_Delete(keep[i]);
    sy_workload_fini(&w);
}

static void test_agentic(void **state)
{
    struct sy_wl_params p;
    sy_wl_params_defaults(&p);
    p.kind = SY_WL_AGENTIC;
    p.num_agents = 2;
    p.num_iterations = 3;
    p.tool_preamble_len = 20;
    p.question_len = 4;
    p.observation_len = 6;
    p.output_len = 3;
    struct sy_workload w;
    char err[200];
    assert_int_equal(sy_workload_build(&p, &w, err, sizeof err), 0);
    assert_int_equal(w.n, 6);
    char *pre = NULL;
    for (size_t i = 0; i < w.n; i++) {
        const struct sy_wl_item *it = &w.items[i];
        unsigned k = (unsigned)(i / 2);
        assert_int_equal(it->prompt_tokens, 20 + 4 + k * (6 + 3));
        cJSON *j = body(it, "Qwen/Qwen3-32B", 3);
        cJSON *msgs = cJSON_GetObjectItem(j, "messages");
        assert_int_equal(cJSON_GetArraySize(msgs), 2 + 2 * (int)k);
        const char *sys = cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "content")->valuestring;
        assert_int_equal(strlen(sys), 80);
        if (!pre)
            pre = strdup(sys);
        assert_string_equal(sys, pre); /* the same tool preamble for every agent, every time */
        for (int m = 2; m < cJSON_GetArraySize(msgs); m++) {
            size_t len =
                strlen(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, m), "content")->valuestring);
            assert_int_equal(len, m % 2 ? 24 : 12); /* observation 6, call 3 tokens */
        }
        cJSON_Delete(j);
    }
    free(pre);
    sy_workload_fini(&w);
}

static void test_prefix_repetition_and_random(void **state)
{
    struct sy_wl_params p;
    sy_wl_params_defaults(&p);
    p.kind = SY_WL_PREFIX_REPETITION;
    p.num_prompts = 10;
    p.num_prefixes = 3;
    p.prefix_len = 5;
    p.suffix_len = 2;
    p.ordered = true;
    struct sy_workload w;
    char err[200];
    assert_int_equal(sy_workload_build(&p, &w, err, sizeof err), 0);
    assert_int_equal(w.n, 9); /* 10 // 3 = 3 per prefix, as vLLM */
    for (size_t i = 0; i < w.n; i++) {
        cJSON *j = body(&w.items[i], "Qwen/Qwen3-32B", 128);
        assert_int_equal(strlen(prompt(j)), 28);
        assert_int_equal(w.items[i].shared_tokens, 5);
        cJSON *f = cJSON_ParseWithLength(w.items[i / 3 * 3].body, w.items[i / 3 * 3].body_len);
        assert_memory_equal(prompt(f), prompt(j), 20);
        if (i % 3)
            assert_memory_not_equal(prompt(f) + 20, prompt(j) + 20, 8);
        cJSON_Delete(f);
        cJSON_Delete(j);
    }
    sy_workload_fini(&w);
    p.num_prompts = 2;
    err[0] = '\0';
    assert_int_equal(sy_workload_build(&p, &w, err, sizeof err), SY_EINVAL);
    assert_non_null(strstr(err, "num_prompts (2) must be at least num_prefixes (3)"));
    assert_int_equal(w.n, 0);

    p.kind = SY_WL_RANDOM;
    p.num_prompts = 5;
    p.input_len = 7;
    p.output_len = 9;
    p.ignore_eos = true;
    assert_int_equal(sy_workload_build(&p, &w, err, sizeof err), 0);
    assert_int_equal(w.n, 5);
    for (size_t i = 0; i < w.n; i++) {
        cJSON *j = body(&w.items[i], "Qwen/Qwen3-32B", 9);
        assert_int_equal(strlen(prompt(j)), 28);
        assert_int_equal(w.items[i].shared_tokens, 0);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "ignore_eos")));
        cJSON_Delete(j);
    }
    assert_memory_not_equal(w.items[0].body, w.items[1].body, w.items[0].body_len);
    sy_workload_fini(&w);
}

static void test_params(void **state)
{
    struct sy_wl_params p;
    sy_wl_params_defaults(&p);
    assert_int_equal(sy_wl_param_set(&p, "num_groups", "150"), 0);
    assert_int_equal(p.num_groups, 150);
    assert_int_equal(sy_wl_param_set(&p, "num-prompts-per-group", "5"), 0);
    assert_int_equal(p.num_prompts_per_group, 5);
    assert_int_equal(sy_wl_param_set(&p, "num_unique_system_prompts", "7"), 0); /* alias */
    assert_int_equal(p.num_groups, 7);
    assert_int_equal(sy_wl_param_set(&p, "system-prompt-len", "6000"), 0);
    assert_int_equal(sy_wl_param_set(&p, "system-prompt-len", "0"), 0); /* allowed */
    assert_int_equal(sy_wl_param_set(&p, "num-groups", "0"), SY_EINVAL);
    assert_int_equal(sy_wl_param_set(&p, "num-groups", "abc"), SY_EINVAL);
    assert_int_equal(sy_wl_param_set(&p, "num-groups", "-3"), SY_EINVAL);
    assert_int_equal(sy_wl_param_set(&p, "num-groups", "99999999999"), SY_EINVAL);
    assert_int_equal(sy_wl_param_set(&p, "num-groups", NULL), SY_EINVAL);
    assert_int_equal(p.num_groups, 7); /* unchanged by the failures */
    assert_int_equal(sy_wl_param_set(&p, "no-such-param", "1"), SY_ENOTFOUND);
    assert_int_equal(sy_wl_param_set(&p, "num-groupsx", "1"), SY_ENOTFOUND);
    enum sy_wl_kind k;
    assert_int_equal(sy_wl_kind_parse("prefix_repetition", &k), 0);
    assert_int_equal(k, SY_WL_PREFIX_REPETITION);
    assert_int_equal(sy_wl_kind_parse("multi-turn", &k), 0);
    assert_int_equal(k, SY_WL_MULTI_TURN);
    assert_int_equal(sy_wl_kind_parse("shared", &k), SY_EINVAL);
    assert_int_equal(sy_wl_kind_parse("", &k), SY_EINVAL);
    assert_string_equal(sy_wl_kind_name(SY_WL_AGENTIC), "agentic");
    struct sy_buf b;
    sy_buf_init(&b);
    sy_wl_params_defaults(&p);
    sy_wl_describe(&p, &b);
    assert_string_equal(b.data, "shared-prefix: num_groups=64 num_prompts_per_group=16 "
                                "system_prompt_len=2048 question_len=128 output_len=256 seed=1");
    sy_buf_fini(&b);
}

static void test_limits(void **state)
{
    struct sy_wl_params p;
    sy_wl_params_defaults(&p);
    struct sy_workload w;
    char err[200];
    p.num_groups = 1000000;
    p.num_prompts_per_group = 2;
    p.system_prompt_len = 1;
    p.question_len = 1;
    assert_int_equal(sy_workload_build(&p, &w, err, sizeof err), SY_EINVAL);
    assert_non_null(strstr(err, "num_groups x num_prompts_per_group"));
    sy_wl_params_defaults(&p);
    p.kind = SY_WL_MULTI_TURN;
    p.num_users = 1;
    p.shared_system_prompt = 0;
    p.user_history_prompt = 0;
    p.num_rounds = 510; /* last turn 1000 + 509 x 2000 tokens > 1M; all bodies < 1 GiB */
    p.question_len = 1000;
    p.answer_len = 1000;
    assert_int_equal(sy_workload_build(&p, &w, err, sizeof err), SY_EINVAL);
    assert_non_null(strstr(err, "the last turn would be"));
    /* bodies over the memory bound are refused before allocating them all */
    sy_wl_params_defaults(&p);
    p.kind = SY_WL_RANDOM;
    p.num_prompts = 1000;
    p.input_len = 1000000; /* 4 MB each -> 4 GB */
    assert_int_equal(sy_workload_build(&p, &w, err, sizeof err), SY_EINVAL);
    assert_non_null(strstr(err, "MiB"));
    assert_int_equal(w.n, 0);
}

/* --random-range-ratio: lengths uniform in [len x ratio, len], both ends reached, input and
 * output drawn independently; 1 keeps them fixed; values outside [0, 1] are refused. */
static void test_random_range_ratio(void **state)
{
    (void)state;
    struct sy_wl_params p;
    sy_wl_params_defaults(&p);
    assert_true(p.range_ratio == 1.0);
    assert_int_equal(sy_wl_param_set(&p, "random-range-ratio", "1.5"), SY_EINVAL);
    assert_int_equal(sy_wl_param_set(&p, "random-range-ratio", "-0.1"), SY_EINVAL);
    assert_int_equal(sy_wl_param_set(&p, "random-range-ratio", "x"), SY_EINVAL);
    assert_int_equal(sy_wl_param_set(&p, "random-range-ratio", "0.25"), 0);
    assert_true(p.range_ratio == 0.25);
    p.kind = SY_WL_RANDOM;
    p.num_prompts = 400;
    p.input_len = 8;
    p.output_len = 12;
    struct sy_workload w;
    char err[200];
    assert_int_equal(sy_workload_build(&p, &w, err, sizeof err), 0);
    assert_int_equal(w.n, 400);
    unsigned seen_in[9] = {0}, seen_out[13] = {0}, differ = 0;
    for (size_t i = 0; i < w.n; i++) {
        unsigned in = w.items[i].prompt_tokens, out = w.items[i].max_tokens;
        assert_in_range(in, 2, 8);   /* 8 x 0.25 = 2 */
        assert_in_range(out, 3, 12); /* 12 x 0.25 = 3 */
        seen_in[in]++;
        seen_out[out]++;
        differ += in * 12 != out * 8;
        cJSON *j = body(&w.items[i], "Qwen/Qwen3-32B", out);
        assert_int_equal(strlen(prompt(j)), 4 * in); /* "xyz " per token */
        cJSON_Delete(j);
    }
    for (unsigned k = 2; k <= 8; k++)
        assert_true(seen_in[k] > 0);
    for (unsigned k = 3; k <= 12; k++)
        assert_true(seen_out[k] > 0);
    assert_true(differ > 0);
    sy_workload_fini(&w);
    p.range_ratio = 1.0;
    assert_int_equal(sy_workload_build(&p, &w, err, sizeof err), 0);
    for (size_t i = 0; i < w.n; i++)
        assert_int_equal(w.items[i].prompt_tokens, 8);
    sy_workload_fini(&w);
}

/* The seed (bench --seed; bench/default_vs_rr.py --seeds gives each run its own) changes every
 * workload: every item's text differs between seeds 1 and 2 at the same position, and the
 * shuffled workloads (shared-prefix, prefix-repetition) also send their groups in another order.
 * Multi-turn and agentic keep their (session, turn) order, round by round: the sessions are
 * alike, so new texts in the same positions are a new draw of the same sessions. The same seed
 * gives the same bodies. */
static void test_seed_every_workload(void **state)
{
    (void)state;
    for (int kind = SY_WL_SHARED_PREFIX; kind <= SY_WL_RANDOM; kind++) {
        struct sy_wl_params p;
        sy_wl_params_defaults(&p);
        p.kind = (enum sy_wl_kind)kind;
        p.num_groups = 4;
        p.num_prompts_per_group = 4;
        p.system_prompt_len = 16;
        p.question_len = 4;
        p.output_len = 8;
        p.num_users = p.num_agents = 4;
        p.num_rounds = p.num_iterations = 3;
        p.shared_system_prompt = p.tool_preamble_len = 16;
        p.user_history_prompt = 4;
        p.answer_len = p.observation_len = 4;
        p.num_prompts = 16;
        p.num_prefixes = 4;
        p.prefix_len = 16;
        p.suffix_len = 8;
        p.input_len = 16;
        struct sy_workload w1, again, w2;
        char err[200];
        assert_int_equal(sy_workload_build(&p, &w1, err, sizeof err), 0);
        assert_int_equal(sy_workload_build(&p, &again, err, sizeof err), 0);
        p.seed = 2;
        assert_int_equal(sy_workload_build(&p, &w2, err, sizeof err), 0);
        assert_true(w1.n >= 12);
        assert_int_equal(w2.n, w1.n);
        assert_int_equal(again.n, w1.n);
        bool reordered = false;
        for (size_t i = 0; i < w1.n; i++) {
            assert_int_equal(again.items[i].body_len, w1.items[i].body_len);
            assert_memory_equal(again.items[i].body, w1.items[i].body, w1.items[i].body_len);
            bool same = w2.items[i].body_len == w1.items[i].body_len &&
                        memcmp(w2.items[i].body, w1.items[i].body, w1.items[i].body_len) == 0;
            assert_false(same); /* another text at every position */
            reordered |=
                w2.items[i].group != w1.items[i].group || w2.items[i].turn != w1.items[i].turn;
        }
        bool shuffled = kind == SY_WL_SHARED_PREFIX || kind == SY_WL_PREFIX_REPETITION;
        assert_int_equal(reordered, shuffled);
        sy_workload_fini(&w1);
        sy_workload_fini(&again);
        sy_workload_fini(&w2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_shared_prefix),
        cmocka_unit_test(test_sglang_defaults),
        cmocka_unit_test(test_multi_turn),
        cmocka_unit_test(test_agentic),
        cmocka_unit_test(test_prefix_repetition_and_random),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_random_range_ratio),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_seed_every_workload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
