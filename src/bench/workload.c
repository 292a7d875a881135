/* workload.c - request bodies of the standard LLM serving workloads.
 *
 * Every workload is generated up front from a seed into an array of complete JSON bodies (with
 * "stream": true and "stream_options": {"include_usage": true}), so sending costs no JSON work and
 * a seed reproduces the exact texts. Parameter names follow the tools people already use:
 *
 *   shared-prefix      inference-perf `shared_prefix` names, SGLang generated-shared-prefix
 *                      defaults: num_groups 64 x num_prompts_per_group 16, system_prompt_len 2048,
 *                      question_len 128, output_len 256. prompt = system + "\n\n" + question
 *                      (SGLang's layout); shuffled globally unless --ordered.
 *   multi-turn         production-stack multi-round-qa names: num_users 10, num_rounds 5,
 *                      shared_system_prompt 1000 (same for every user), user_history_prompt 2000
 *                      (per user), question_len, answer_len 100. Turn k sends system + k earlier
 *                      (question, answer) pairs + question k: the growing history is resent.
 *                      Answers are synthetic (fixed by the seed, not the server's output), so the
 *                      texts do not depend on the target. Turns are interleaved across users
 *                      (round 0 of every user, then round 1, ...).
 *   agentic            a tool loop: num_agents 8 x num_iterations 8; a tool preamble of
 *                      tool_preamble_len 4000 tokens (identical for every agent, as tool
 *                      definitions are) + the agent's task (question_len), then per earlier
 *                      iteration the assistant's call (output_len) and a tool result
 *                      (observation_len 200, sent as a user message); everything resent.
 *   prefix-repetition  vLLM `prefix_repetition`: num_prefixes 10 prefixes of prefix_len 256,
 *                      each followed by a fresh suffix of suffix_len 256; num_prompts 1000 split
 *                      evenly (num_prompts / num_prefixes each, an error if that is 0); output 128.
 *   random             num_prompts 1000 independent prompts of input_len 1024; output 128;
 *                      with random_range_ratio R < 1 each prompt's input and output lengths are
 *                      drawn from [len x R, len] (SGLang's --random-range-ratio).
 *
 * Token lengths (see bench.h): text is three-letter common words plus a space, 4 bytes per word,
 * so N tokens are 4*N bytes: one token per word for BPE tokenizers and exactly one per word for the
 * 4-chars-per-token estimate (llm-d's, the gateway's) and the simulator's 4-byte tokenizer. The
 * separators ("\n\n", chat roles and template) add a few tokens that prompt_tokens ignores.
 *
 * Memory: all bodies are held at once; the total is bounded (SY_WL_MAX_BYTES) with a clear error
 * instead of exhausting memory on an absurd command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"

#define SY_WL_MAX_BYTES (1ULL << 30) /* all bodies together */

/* 64 short common words, each one BPE token with its leading/trailing space. */
static const char vocab[64][4] = {
    "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her", "was",
    "one", "our", "out", "day", "get", "has", "him", "his", "how", "man", "new", "now", "old",
    "see", "two", "way", "who", "boy", "did", "its", "let", "put", "say", "she", "too", "use",
    "big", "box", "car", "cat", "cup", "dog", "end", "far", "few", "fun", "hot", "job", "key",
    "law", "low", "map", "red", "run", "sea", "sky", "sun", "top", "war", "yes", "sit"};

void sy_wl_text(struct sy_rng *rng, unsigned tokens, struct sy_buf *out)
{
    sy_buf_reserve(out, (size_t)tokens * 4);
    uint64_t bits = 0;
    unsigned left = 0;
    for (unsigned i = 0; i < tokens; i++) {
        if (left == 0) {
            bits = sy_rng_next(rng);
            left = 10; /* ten 6-bit words per draw */
        }
        const char *w = vocab[bits & 63];
        bits >>= 6;
        left--;
        char word[4] = {w[0], w[1], w[2], ' '};
        sy_buf_append(out, word, 4);
    }
}

void sy_wl_params_defaults(struct sy_wl_params *p)
{
    memset(p, 0, sizeof *p);
    p->kind = SY_WL_SHARED_PREFIX;
    p->seed = 1;
    snprintf(p->model, sizeof p->model, "%s", "Qwen/Qwen3-32B");
    p->num_groups = 64;
    p->num_prompts_per_group = 16;
    p->system_prompt_len = 2048;
    p->question_len = 128;
    p->output_len = 0; /* 0 = the workload's default (256, or 128 for vLLM's datasets) */
    p->num_users = 10;
    p->num_rounds = 5;
    p->shared_system_prompt = 1000;
    p->user_history_prompt = 2000;
    p->answer_len = 100;
    p->num_agents = 8;
    p->num_iterations = 8;
    p->tool_preamble_len = 4000;
    p->observation_len = 200;
    p->prefix_len = 256;
    p->suffix_len = 256;
    p->num_prefixes = 10;
    p->input_len = 1024;
    p->range_ratio = 1.0;
    p->num_prompts = 1000;
}

static const struct {
    const char *name;     /* user-facing name */
    enum sy_wl_kind kind; /* value */
} kinds[] = {
    {"shared-prefix", SY_WL_SHARED_PREFIX},
    {"multi-turn", SY_WL_MULTI_TURN},
    {"agentic", SY_WL_AGENTIC},
    {"prefix-repetition", SY_WL_PREFIX_REPETITION},
    {"random", SY_WL_RANDOM},
};

/* Compares a user-typed name with a canonical dashed one, '_' matching '-'. */
static bool name_eq(const char *typed, const char *canon)
{
    for (; *typed && *canon; typed++, canon++) {
        char c = *typed == '_' ? '-' : *typed;
        if (c != *canon)
            return false;
    }
    return *typed == '\0' && *canon == '\0';
}

int sy_wl_kind_parse(const char *s, enum sy_wl_kind *out)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (name_eq(s, kinds[i].name)) {
            *out = kinds[i].kind;
            return 0;
        }
    }
    return SY_EINVAL;
}

const char *sy_wl_kind_name(enum sy_wl_kind k)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].kind == k)
            return kinds[i].name;
    return "?";
}

#define PARAM(name, field, min)                                                                    \
    {                                                                                              \
        name, offsetof(struct sy_wl_params, field), min                                            \
    }
static const struct {
    const char *name; /* flag name without the leading dashes */
    size_t off;       /* unsigned field in struct sy_wl_params */
    unsigned min;     /* smallest accepted value */
} params[] = {
    PARAM("num-groups", num_groups, 1),
    PARAM("num-unique-system-prompts", num_groups, 1), /* inference-perf alias */
    PARAM("num-prompts-per-group", num_prompts_per_group, 1),
    PARAM("num-users-per-system-prompt", num_prompts_per_group, 1), /* inference-perf alias */
    PARAM("system-prompt-len", system_prompt_len, 0),
    PARAM("question-len", question_len, 1),
    PARAM("output-len", output_len, 1),
    PARAM("num-users", num_users, 1),
    PARAM("num-rounds", num_rounds, 1),
    PARAM("shared-system-prompt", shared_system_prompt, 0),
    PARAM("user-history-prompt", user_history_prompt, 0),
    PARAM("answer-len", answer_len, 1),
    PARAM("num-agents", num_agents, 1),
    PARAM("num-iterations", num_iterations, 1),
    PARAM("tool-preamble-len", tool_preamble_len, 0),
    PARAM("observation-len", observation_len, 1),
    PARAM("prefix-len", prefix_len, 0),
    PARAM("suffix-len", suffix_len, 1),
    PARAM("num-prefixes", num_prefixes, 1),
    PARAM("input-len", input_len, 1),
    PARAM("num-prompts", num_prompts, 1),
};

int sy_wl_param_set(struct sy_wl_params *p, const char *name, const char *value)
{
    if (name_eq(name, "random-range-ratio")) { /* the one fractional parameter */
        char *end;
        double r = value ? strtod(value, &end) : -1;
        if (!value || end == value || *end || !(r >= 0 && r <= 1))
            return SY_EINVAL;
        p->range_ratio = r;
        return 0;
    }
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        if (!name_eq(name, params[i].name))
            continue;
        uint64_t v;
        if (!value || sy_parse_u64(value, params[i].min, SY_WL_MAX_TOKENS, &v) != 0)
            return SY_EINVAL;
        *(unsigned *)((char *)p + params[i].off) = (unsigned)v;
        return 0;
    }
    return SY_ENOTFOUND;
}

static unsigned out_len(const struct sy_wl_params *p)
{
    if (p->output_len)
        return p->output_len;
    return (p->kind == SY_WL_PREFIX_REPETITION || p->kind == SY_WL_RANDOM) ? 128 : 256;
}

void sy_wl_describe(const struct sy_wl_params *p, struct sy_buf *o)
{
    sy_buf_printf(o, "%s:", sy_wl_kind_name(p->kind));
    switch (p->kind) {
    case SY_WL_SHARED_PREFIX:
        sy_buf_printf(o, " num_groups=%u num_prompts_per_group=%u system_prompt_len=%u",
                      p->num_groups, p->num_prompts_per_group, p->system_prompt_len);
        sy_buf_printf(o, " question_len=%u", p->question_len);
        break;
    case SY_WL_MULTI_TURN:
        sy_buf_printf(o, " num_users=%u num_rounds=%u shared_system_prompt=%u", p->num_users,
                      p->num_rounds, p->shared_system_prompt);
        sy_buf_printf(o, " user_history_prompt=%u question_len=%u answer_len=%u",
                      p->user_history_prompt, p->question_len, p->answer_len);
        break;
    case SY_WL_AGENTIC:
        sy_buf_printf(o, " num_agents=%u num_iterations=%u tool_preamble_len=%u", p->num_agents,
                      p->num_iterations, p->tool_preamble_len);
        sy_buf_printf(o, " question_len=%u observation_len=%u", p->question_len,
                      p->observation_len);
        break;
    case SY_WL_PREFIX_REPETITION:
        sy_buf_printf(o, " num_prompts=%u num_prefixes=%u prefix_len=%u suffix_len=%u",
                      p->num_prompts, p->num_prefixes, p->prefix_len, p->suffix_len);
        break;
    case SY_WL_RANDOM:
        sy_buf_printf(o, " num_prompts=%u input_len=%u", p->num_prompts, p->input_len);
        if (p->range_ratio < 1)
            sy_buf_printf(o, " range_ratio=%g", p->range_ratio);
        break;
    }
    if (p->kind != SY_WL_MULTI_TURN) /* multi-turn asks for answer_len tokens */
        sy_buf_printf(o, " output_len=%u", out_len(p));
    sy_buf_printf(o, " seed=%llu%s", (unsigned long long)p->seed,
                  p->ignore_eos ? " ignore_eos" : "");
}

/* ---- body building ----------------------------------------------------------------------- */

struct builder {
    const struct sy_wl_params *p; /* borrowed */
    struct sy_workload *w;        /* being filled */
    size_t cap;                   /* items allocated */
    uint64_t bytes;               /* body bytes so far */
    char *err;                    /* caller's buffer */
    size_t errcap;                /* its size */
};

static void body_tail(struct sy_buf *b, unsigned max_tokens, bool ignore_eos)
{
    if (ignore_eos)
        sy_buf_puts(b, ",\"ignore_eos\":true");
    sy_buf_printf(b,
                  ",\"max_tokens\":%u,\"stream\":true,"
                  "\"stream_options\":{\"include_usage\":true}}",
                  max_tokens);
}

static void body_head(const struct sy_wl_params *p, struct sy_buf *b)
{
    sy_buf_puts(b, "{\"model\":");
    sy_buf_json_str(b, p->model, strlen(p->model));
}

/* Takes ownership of body's memory. */
static int add_item(struct builder *B, struct sy_buf *body, bool chat, unsigned group,
                    unsigned turn, unsigned prompt_tokens, unsigned shared, unsigned max_tokens)
{
    if (B->w->n >= SY_WL_MAX_ITEMS) {
        snprintf(B->err, B->errcap, "workload: more than %d requests", SY_WL_MAX_ITEMS);
        sy_buf_fini(body);
        return SY_EINVAL;
    }
    B->bytes += body->len;
    if (B->bytes > SY_WL_MAX_BYTES) {
        snprintf(B->err, B->errcap,
                 "workload: request bodies would exceed %llu MiB; lower the lengths or counts",
                 (unsigned long long)(SY_WL_MAX_BYTES >> 20));
        sy_buf_fini(body);
        return SY_EINVAL;
    }
    if (B->w->n == B->cap) {
        B->cap = B->cap ? B->cap * 2 : 64;
        B->w->items = sy_xrealloc(B->w->items, B->cap * sizeof *B->w->items);
    }
    struct sy_wl_item *it = &B->w->items[B->w->n++];
    it->chat = chat;
    it->body = sy_buf_steal(body, &it->body_len);
    it->group = group;
    it->turn = turn;
    it->prompt_tokens = prompt_tokens;
    it->shared_tokens = shared;
    it->max_tokens = max_tokens;
    return 0;
}

static void shuffle(struct sy_workload *w, struct sy_rng *rng)
{
    for (size_t i = w->n; i > 1; i--) {
        size_t j = (size_t)sy_rng_below(rng, i);
        struct sy_wl_item t = w->items[i - 1];
        w->items[i - 1] = w->items[j];
        w->items[j] = t;
    }
}

/* A completion body whose prompt is a + sep + c. */
/* add_completion with max_tokens out instead of the workload's output length. */
static int add_completion_out(struct builder *B, const struct sy_buf *a, const char *sep,
                              const struct sy_buf *c, unsigned group, unsigned turn,
                              unsigned prompt_tokens, unsigned shared, unsigned out)
{
    struct sy_buf body, prompt;
    sy_buf_init(&body);
    sy_buf_init(&prompt);
    sy_buf_append(&prompt, a->data, a->len);
    sy_buf_puts(&prompt, sep);
    sy_buf_append(&prompt, c->data, c->len);
    body_head(B->p, &body);
    sy_buf_puts(&body, ",\"prompt\":");
    sy_buf_json_str(&body, prompt.data ? prompt.data : "", prompt.len);
    body_tail(&body, out, B->p->ignore_eos);
    sy_buf_fini(&prompt);
    return add_item(B, &body, false, group, turn, prompt_tokens, shared, out);
}

static int add_completion(struct builder *B, const struct sy_buf *a, const char *sep,
                          const struct sy_buf *c, unsigned group, unsigned turn,
                          unsigned prompt_tokens, unsigned shared)
{
    return add_completion_out(B, a, sep, c, group, turn, prompt_tokens, shared, out_len(B->p));
}

/* A length drawn uniformly from [max(1, len x ratio), len] (SGLang's random dataset). */
static unsigned ranged_len(struct sy_rng *rng, unsigned len, double ratio)
{
    if (ratio >= 1 || len <= 1)
        return len;
    unsigned lo = (unsigned)((double)len * ratio);
    if (lo < 1)
        lo = 1;
    return lo + (unsigned)sy_rng_below(rng, (uint64_t)(len - lo) + 1);
}

static int build_shared_prefix(struct builder *B, struct sy_rng *rng)
{
    const struct sy_wl_params *p = B->p;
    if ((uint64_t)p->num_groups * p->num_prompts_per_group > SY_WL_MAX_ITEMS) {
        snprintf(B->err, B->errcap, "shared-prefix: num_groups x num_prompts_per_group > %d",
                 SY_WL_MAX_ITEMS);
        return SY_EINVAL;
    }
    struct sy_buf sys, q;
    sy_buf_init(&sys);
    sy_buf_init(&q);
    int rc = 0;
    for (unsigned g = 0; g < p->num_groups && rc == 0; g++) {
        sy_buf_reset(&sys);
        sy_wl_text(rng, p->system_prompt_len, &sys);
        for (unsigned k = 0; k < p->num_prompts_per_group && rc == 0; k++) {
            sy_buf_reset(&q);
            sy_wl_text(rng, p->question_len, &q);
            rc = add_completion(B, &sys, "\n\n", &q, g, k, p->system_prompt_len + p->question_len,
                                p->system_prompt_len);
        }
    }
    sy_buf_fini(&sys);
    sy_buf_fini(&q);
    if (rc == 0 && !p->ordered)
        shuffle(B->w, rng);
    return rc;
}

static void msg(struct sy_buf *b, bool first, const char *role, const struct sy_buf *content)
{
    sy_buf_printf(b, "%s{\"role\":\"%s\",\"content\":", first ? "" : ",", role);
    sy_buf_json_str(b, content->data ? content->data : "", content->len);
    sy_buf_puts(b, "}");
}

/* Conversation state shared by multi-turn and agentic: the system message, then alternating
 * texts starting with a user message. */
struct convo {
    struct sy_buf system; /* system message */
    struct sy_buf *turns; /* user, assistant, user, assistant, ... */
    size_t nturns;        /* texts */
    unsigned tokens;      /* tokens of system + turns */
};

static int add_chat(struct builder *B, const struct convo *c, size_t nmsg, unsigned group,
                    unsigned turn, unsigned prompt_tokens, unsigned shared, unsigned max_tokens)
{
    struct sy_buf body;
    sy_buf_init(&body);
    body_head(B->p, &body);
    sy_buf_puts(&body, ",\"messages\":[");
    msg(&body, true, "system", &c->system);
    for (size_t i = 0; i < nmsg; i++)
        msg(&body, false, i % 2 == 0 ? "user" : "assistant", &c->turns[i]);
    sy_buf_puts(&body, "]");
    body_tail(&body, max_tokens, B->p->ignore_eos);
    return add_item(B, &body, true, group, turn, prompt_tokens, shared, max_tokens);
}

/* Multi-turn and agentic share one generator: n sessions of r steps; the system message is
 * common (common_len) + per-session (own_len); step k adds (user ulen_k .. ) pairs. */
static int build_sessions(struct builder *B, struct sy_rng *rng, unsigned nsess, unsigned nsteps,
                          unsigned common_len, unsigned own_len, unsigned first_user_len,
                          unsigned user_len, unsigned assistant_len, unsigned max_tokens)
{
    if ((uint64_t)nsess * nsteps > SY_WL_MAX_ITEMS) {
        snprintf(B->err, B->errcap, "%s: sessions x steps > %d", sy_wl_kind_name(B->p->kind),
                 SY_WL_MAX_ITEMS);
        return SY_EINVAL;
    }
    uint64_t longest = (uint64_t)common_len + own_len + first_user_len +
                       (uint64_t)(nsteps - 1) * (user_len + assistant_len);
    if (longest > SY_WL_MAX_TOKENS) {
        snprintf(B->err, B->errcap, "%s: the last turn would be %llu tokens (limit %d)",
                 sy_wl_kind_name(B->p->kind), (unsigned long long)longest, SY_WL_MAX_TOKENS);
        return SY_EINVAL;
    }
    struct sy_buf common;
    sy_buf_init(&common);
    sy_wl_text(rng, common_len, &common);
    struct convo *cs = sy_xcalloc(nsess, sizeof *cs);
    for (unsigned s = 0; s < nsess; s++) {
        struct convo *c = &cs[s];
        sy_buf_init(&c->system);
        sy_buf_append(&c->system, common.data ? common.data : "", common.len);
        if (own_len) {
            sy_buf_puts(&c->system, "\n\n");
            sy_wl_text(rng, own_len, &c->system);
        }
        c->nturns = (size_t)nsteps * 2 - 1;
        c->turns = sy_xcalloc(c->nturns, sizeof *c->turns);
        for (size_t i = 0; i < c->nturns; i++) {
            sy_buf_init(&c->turns[i]);
            unsigned len = i == 0 ? first_user_len : i % 2 ? assistant_len : user_len;
            sy_wl_text(rng, len, &c->turns[i]);
        }
    }
    int rc = 0;
    for (unsigned k = 0; k < nsteps && rc == 0; k++) {
        for (unsigned s = 0; s < nsess && rc == 0; s++) {
            unsigned prompt =
                common_len + own_len + first_user_len + k * (user_len + assistant_len);
            unsigned newest = k == 0 ? first_user_len : user_len;
            rc = add_chat(B, &cs[s], (size_t)k * 2 + 1, s, k, prompt, prompt - newest, max_tokens);
        }
    }
    for (unsigned s = 0; s < nsess; s++) {
        sy_buf_fini(&cs[s].system);
        for (size_t i = 0; i < cs[s].nturns; i++)
            sy_buf_fini(&cs[s].turns[i]);
        free(cs[s].turns);
    }
    free(cs);
    sy_buf_fini(&common);
    return rc;
}

static int build_prefix_repetition(struct builder *B, struct sy_rng *rng)
{
    const struct sy_wl_params *p = B->p;
    unsigned per = p->num_prompts / p->num_prefixes;
    if (per == 0) {
        snprintf(B->err, B->errcap,
                 "prefix-repetition: num_prompts (%u) must be at least num_prefixes (%u)",
                 p->num_prompts, p->num_prefixes);
        return SY_EINVAL;
    }
    struct sy_buf pre, suf;
    sy_buf_init(&pre);
    sy_buf_init(&suf);
    int rc = 0;
    for (unsigned g = 0; g < p->num_prefixes && rc == 0; g++) {
        sy_buf_reset(&pre);
        sy_wl_text(rng, p->prefix_len, &pre);
        for (unsigned k = 0; k < per && rc == 0; k++) {
            sy_buf_reset(&suf);
            sy_wl_text(rng, p->suffix_len, &suf);
            rc = add_completion(B, &pre, "", &suf, g, k, p->prefix_len + p->suffix_len,
                                p->prefix_len);
        }
    }
    sy_buf_fini(&pre);
    sy_buf_fini(&suf);
    if (rc == 0 && !p->ordered)
        shuffle(B->w, rng);
    return rc;
}

static int build_random(struct builder *B, struct sy_rng *rng)
{
    struct sy_buf empty, text;
    sy_buf_init(&empty);
    sy_buf_init(&text);
    int rc = 0;
    for (unsigned i = 0; i < B->p->num_prompts && rc == 0; i++) {
        unsigned in = ranged_len(rng, B->p->input_len, B->p->range_ratio);
        unsigned out = ranged_len(rng, out_len(B->p), B->p->range_ratio);
        sy_buf_reset(&text);
        sy_wl_text(rng, in, &text);
        rc = add_completion_out(B, &empty, "", &text, i, 0, in, 0, out);
    }
    sy_buf_fini(&empty);
    sy_buf_fini(&text);
    return rc;
}

/* Prompt bytes the parameters ask for (4 per token), computed before generating anything. */
static double estimate_bytes(const struct sy_wl_params *p)
{
    double s = 0;
    switch (p->kind) {
    case SY_WL_SHARED_PREFIX:
        s = (double)p->num_groups * p->num_prompts_per_group *
            ((double)p->system_prompt_len + p->question_len);
        break;
    case SY_WL_MULTI_TURN:
    case SY_WL_AGENTIC: {
        bool mt = p->kind == SY_WL_MULTI_TURN;
        double n = mt ? p->num_users : p->num_agents, r = mt ? p->num_rounds : p->num_iterations;
        double base =
            mt ? (double)p->shared_system_prompt + p->user_history_prompt + p->question_len
               : (double)p->tool_preamble_len + p->question_len;
        double step =
            mt ? (double)p->question_len + p->answer_len : (double)p->observation_len + out_len(p);
        s = n * (r * base + step * r * (r - 1) / 2);
        break;
    }
    case SY_WL_PREFIX_REPETITION:
        s = (double)p->num_prompts * ((double)p->prefix_len + p->suffix_len);
        break;
    case SY_WL_RANDOM: s = (double)p->num_prompts * p->input_len; break;
    }
    return s * 4;
}

int sy_workload_build(const struct sy_wl_params *p, struct sy_workload *out, char *err,
                      size_t errcap)
{
    memset(out, 0, sizeof *out);
    out->kind = p->kind;
    struct builder B = {.p = p, .w = out, .err = err, .errcap = errcap};
    double est = estimate_bytes(p);
    if (est > (double)SY_WL_MAX_BYTES) {
        snprintf(err, errcap,
                 "%s: the prompts would take %.0f MiB (limit %llu MiB); lower the lengths or "
                 "counts",
                 sy_wl_kind_name(p->kind), est / 1048576,
                 (unsigned long long)(SY_WL_MAX_BYTES >> 20));
        return SY_EINVAL;
    }
    struct sy_rng rng;
    sy_rng_seed(&rng, p->seed ^ 0x5357594152444231ULL); /* "SWYARDB1": texts differ from gaps */
    int rc = SY_EINVAL;
    switch (p->kind) {
    case SY_WL_SHARED_PREFIX: rc = build_shared_prefix(&B, &rng); break;
    case SY_WL_MULTI_TURN:
        rc = build_sessions(&B, &rng, p->num_users, p->num_rounds, p->shared_system_prompt,
                            p->user_history_prompt, p->question_len, p->question_len, p->answer_len,
                            p->answer_len);
        break;
    case SY_WL_AGENTIC:
        rc = build_sessions(&B, &rng, p->num_agents, p->num_iterations, p->tool_preamble_len, 0,
                            p->question_len, p->observation_len, out_len(p), out_len(p));
        break;
    case SY_WL_PREFIX_REPETITION: rc = build_prefix_repetition(&B, &rng); break;
    case SY_WL_RANDOM: rc = build_random(&B, &rng); break;
    }
    if (rc == 0 && out->n == 0) {
        snprintf(err, errcap, "%s: the parameters give no request", sy_wl_kind_name(p->kind));
        rc = SY_EINVAL;
    }
    if (rc != 0)
        sy_workload_fini(out);
    return rc;
}

void sy_workload_fini(struct sy_workload *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->items[i].body);
    free(w->items);
    w->items = NULL;
    w->n = 0;
}
