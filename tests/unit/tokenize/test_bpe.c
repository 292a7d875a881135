/* Unit tests for src/tokenize/tokenizer.c, bpe.c and nfc.c on tiny hand-made tokenizer.json files.
 *
 * Every test writes a model directory with the 256 ByteLevel characters (ids 0..255, in byte
 * order) plus a handful of merges, so expected ids can be computed by hand: byte b has id b, and
 * merged tokens get ids from 256 in the order listed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "tokenize/internal.h"
#include "tokenize/tokenizer.h"

static char dir[64];

/* The ByteLevel character of byte b, UTF-8 encoded into out. */
static const char *bc(unsigned char b, char out[4])
{
    struct sy_buf s;
    sy_buf_init(&s);
    sy_tokenize__utf8_put(&s, sy_tokenize__byte_char(b));
    memcpy(out, s.data, s.len);
    out[s.len] = '\0';
    sy_buf_fini(&s);
    return out;
}

struct spec {
    const char *const *merges; /* "a b" strings (ASCII, ByteLevel == raw for printable) */
    bool array_merges;         /* write merges as ["a", "b"] */
    bool ignore_merges;        /* model.ignore_merges */
    const char *const *extra;  /* extra vocab tokens (ids follow the merges) */
    const char *pretok_regex;  /* Split regex or NULL (ByteLevel only, no split) */
    bool nfc;                  /* normalizer NFC */
    const char *added;         /* raw JSON for added_tokens or NULL */
};

/* Writes dir/tokenizer.json for s; ids: bytes 0..255, then merge results, then extras. */
static void write_model(const struct spec *s)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    if (s->ignore_merges)
        cJSON_AddTrueToObject(model, "ignore_merges");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    char tmp[4];
    for (int b = 0; b < 256; b++)
        cJSON_AddNumberToObject(vocab, bc((unsigned char)b, tmp), b);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    int next = 256;
    for (size_t i = 0; s->merges && s->merges[i]; i++) {
        const char *m = s->merges[i];
        const char *sp = strchr(m, ' ');
        char a[64], b[64], ab[128];
        snprintf(a, sizeof(a), "%.*s", (int)(sp - m), m);
        snprintf(b, sizeof(b), "%s", sp + 1);
        snprintf(ab, sizeof(ab), "%s%s", a, b);
        if (!cJSON_GetObjectItemCaseSensitive(vocab, ab))
            cJSON_AddNumberToObject(vocab, ab, next++);
        if (s->array_merges) {
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateString(a));
            cJSON_AddItemToArray(pair, cJSON_CreateString(b));
            cJSON_AddItemToArray(merges, pair);
        } else {
            cJSON_AddItemToArray(merges, cJSON_CreateString(m));
        }
    }
    for (size_t i = 0; s->extra && s->extra[i]; i++)
        cJSON_AddNumberToObject(vocab, s->extra[i], next++);
    if (s->nfc) {
        cJSON *n = cJSON_AddObjectToObject(root, "normalizer");
        cJSON_AddStringToObject(n, "type", "NFC");
    } else {
        cJSON_AddNullToObject(root, "normalizer");
    }
    cJSON *seq = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(seq, "type", "Sequence");
    cJSON *list = cJSON_AddArrayToObject(seq, "pretokenizers");
    if (s->pretok_regex) {
        cJSON *split = cJSON_CreateObject();
        cJSON_AddStringToObject(split, "type", "Split");
        cJSON *pat = cJSON_AddObjectToObject(split, "pattern");
        cJSON_AddStringToObject(pat, "Regex", s->pretok_regex);
        cJSON_AddStringToObject(split, "behavior", "Isolated");
        cJSON_AddFalseToObject(split, "invert");
        cJSON_AddItemToArray(list, split);
    }
    cJSON *bl = cJSON_CreateObject();
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddFalseToObject(bl, "add_prefix_space");
    cJSON_AddFalseToObject(bl, "use_regex");
    cJSON_AddItemToArray(list, bl);
    cJSON_AddItemToObject(root, "added_tokens",
                          s->added ? cJSON_Parse(s->added) : cJSON_CreateArray());
    char *text = cJSON_Print(root);
    char path[128];
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(text);
    cJSON_Delete(root);
}

static void write_raw(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/sy_tok_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
    unlink(path);
    rmdir(dir);
    return 0;
}

static struct sy_tokenizer *load_ok(void)
{
    char err[256];
    struct sy_tokenizer *t = sy_tokenizer_load(dir, err, sizeof(err));
    if (!t)
        fail_msg("load failed: %s", err);
    return t;
}

/* Encodes s and compares with the expected ids (terminated by -1). */
static void expect_ids(const struct sy_tokenizer *t, const char *s, size_t len, const int *want)
{
    uint32_t *ids;
    size_t n;
    assert_int_equal(sy_tokenizer_encode(t, s, len, &ids, &n), 0);
    size_t k = 0;
    while (want[k] >= 0)
        k++;
    if (n != k) {
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "%u ", ids[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(n, k);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], want[i]);
    free(ids);
}

#define IDS(...) ((const int[]){__VA_ARGS__, -1})
#define S(lit)   lit, sizeof(lit) - 1

static void test_merges_by_rank(void **state)
{
    /* ids: he=256 ll=257 hell=258 hello=259 bc=260 ab=261 */
    static const char *const merges[] = {"h e", "l l", "he ll", "hell o", "b c", "a b", NULL};
    write_model(&(struct spec){.merges = merges});
    struct sy_tokenizer *t = load_ok();
    expect_ids(t, S("hello"), IDS(259));
    expect_ids(t, S("hell"), IDS(258));
    expect_ids(t, S("help"), IDS(256, 'l', 'p'));
    /* "b c" outranks "a b": abc -> a + bc, never ab + c */
    expect_ids(t, S("abc"), IDS('a', 260));
    expect_ids(t, S("ab"), IDS(261));
    expect_ids(t, S(""), IDS(-1));
    assert_int_equal(sy_tokenizer_vocab_size(t), 262);
    assert_int_equal(sy_tokenizer_token_id(t, "hello"), 259);
    assert_int_equal(sy_tokenizer_token_id(t, "nope"), -1);
    sy_tokenizer_free(t);
}

static void test_array_merges_and_ties(void **state)
{
    /* aa=256 aaaa=257: equal ranks merge leftmost first */
    static const char *const merges[] = {"a a", "aa aa", NULL};
    write_model(&(struct spec){.merges = merges, .array_merges = true});
    struct sy_tokenizer *t = load_ok();
    expect_ids(t, S("aaa"), IDS(256, 'a'));
    expect_ids(t, S("aaaaa"), IDS(257, 'a'));
    /* the stack scan (<= 32 bytes), the scratch scan (<= 64 symbols) and the heap agree */
    char buf[80];
    memset(buf, 'a', sizeof(buf));
    expect_ids(t, buf, 32, IDS(257, 257, 257, 257, 257, 257, 257, 257));
    expect_ids(t, buf, 35, IDS(257, 257, 257, 257, 257, 257, 257, 257, 256, 'a'));
    expect_ids(t, buf, 37, IDS(257, 257, 257, 257, 257, 257, 257, 257, 257, 'a'));
    expect_ids(t, buf, 64,
               IDS(257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257));
    expect_ids(t, buf, 67,
               IDS(257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257,
                   256, 'a'));
    expect_ids(t, buf, 69,
               IDS(257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257, 257,
                   257, 'a'));
    sy_tokenizer_free(t);
}

static void test_long_word_hand_computed(void **state)
{
    /* ranks ab=0 ba=1 aba=2 bab=3 abab=4: all "ab" pairs merge first, leftmost, so "abab..."
     * becomes "ab" tokens and the later merges never fire -- in both merge paths */
    static const char *const merges[] = {"a b", "b a", "ab a", "ba b", "aba b", NULL};
    write_model(&(struct spec){.merges = merges});
    struct sy_tokenizer *t = load_ok();
    char longw[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(longw, "abab");
    uint32_t *a;
    size_t na;
    assert_int_equal(sy_tokenizer_encode(t, longw, strlen(longw), &a, &na), 0);
    assert_int_equal(na, 80);
    for (size_t i = 0; i < na; i++)
        assert_int_equal(a[i], 256);
    free(a);
    expect_ids(t, S("bab"), IDS('b', 256));
    expect_ids(t, S("aba"), IDS(258)); /* ab + a -> aba (rank 2) */
    sy_tokenizer_free(t);
}

/* Naive string BPE (the textbook loop) as an oracle for both merge paths. */
static size_t naive_bpe(char merges[][2][16], size_t nm, const char *word, char out[][64])
{
    size_t n = strlen(word);
    for (size_t i = 0; i < n; i++) {
        out[i][0] = word[i];
        out[i][1] = '\0';
    }
    for (;;) {
        size_t best = nm, at = 0;
        for (size_t i = 0; i + 1 < n; i++)
            for (size_t r = 0; r < best; r++)
                if (!strcmp(out[i], merges[r][0]) && !strcmp(out[i + 1], merges[r][1])) {
                    best = r;
                    at = i;
                    break;
                }
        if (best == nm)
            return n;
        size_t la = strlen(out[at]), lb = strlen(out[at + 1]);
        memmove(out[at] + la, out[at + 1], lb + 1);
        memmove(out + at + 1, out + at + 2, (n - at - 2) * sizeof(out[0]));
        n--;
    }
}

static void test_random_merges_match_naive_oracle(void **state)
{
    uint64_t rng = 12345;
#define NEXT() (rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17, rng)
    for (int round = 0; round < 20; round++) {
        /* random merges over {a, b, c}, built like training does: from existing tokens */
        char toks[64][32] = {"a", "b", "c"};
        size_t ntok = 3;
        static char merges[40][2][16];
        static char strs[41][40];
        const char *list[41];
        size_t nm = 0;
        while (nm < 40) {
            const char *x = toks[NEXT() % ntok], *y = toks[NEXT() % ntok];
            if (strlen(x) + strlen(y) >= 15)
                continue;
            char xy[32];
            snprintf(xy, sizeof(xy), "%s%s", x, y);
            bool dup = false;
            for (size_t i = 0; i < ntok; i++)
                dup |= !strcmp(toks[i], xy);
            if (dup)
                continue;
            snprintf(toks[ntok++], sizeof(toks[0]), "%s", xy);
            snprintf(merges[nm][0], 16, "%s", x);
            snprintf(merges[nm][1], 16, "%s", y);
            snprintf(strs[nm], sizeof(strs[0]), "%s %s", x, y);
            list[nm] = strs[nm];
            nm++;
        }
        list[nm] = NULL;
        write_model(&(struct spec){.merges = list});
        struct sy_tokenizer *t = load_ok();
        for (int w = 0; w < 30; w++) {
            char word[130];
            size_t len = 1 + NEXT() % 120;
            for (size_t i = 0; i < len; i++)
                word[i] = (char)('a' + NEXT() % 3);
            word[len] = '\0';
            static char want[130][64];
            size_t nw = naive_bpe(merges, nm, word, want);
            uint32_t *ids;
            size_t n;
            assert_int_equal(sy_tokenizer_encode(t, word, len, &ids, &n), 0);
            assert_int_equal(n, nw);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(ids[i], sy_tokenizer_token_id(t, want[i]));
            free(ids);
        }
        sy_tokenizer_free(t);
    }
#undef NEXT
}

static void test_ignore_merges(void **state)
{
    static const char *const merges[] = {"a b", NULL};
    static const char *const extra[] = {"abc", NULL};
    write_model(&(struct spec){.merges = merges, .extra = extra, .ignore_merges = true});
    struct sy_tokenizer *t = load_ok();
    expect_ids(t, S("abc"), IDS(257)); /* whole word in the vocab wins */
    expect_ids(t, S("abd"), IDS(256, 'd'));
    sy_tokenizer_free(t);
    write_model(&(struct spec){.merges = merges, .extra = extra});
    t = load_ok();
    expect_ids(t, S("abc"), IDS(256, 'c')); /* without it, merges decide */
    sy_tokenizer_free(t);
}

static void test_split_regex_and_bytelevel(void **state)
{
    static const char *const merges[] = {"Ġ a", NULL}; /* " a" = 256 */
    write_model(&(struct spec){.merges = merges, .pretok_regex = " ?[a-z]+|\\s+|[^\\sa-z]+"});
    struct sy_tokenizer *t = load_ok();
    /* " a" merges inside a word; "b a" is split into "b", " a" */
    expect_ids(t, S("b a"), IDS('b', 256));
    /* U+0085 (NEL) is not JavaScript whitespace: it stays with the non-space run */
    expect_ids(t, S("x\xc2\x85 a"), IDS('x', 0xC2, 0x85, 256));
    /* U+00A0 is: it forms its own whitespace piece */
    expect_ids(t, S("a\xc2\xa0"), IDS('a', 0xC2, 0xA0));
    /* bytes outside printable ASCII use their ByteLevel characters' ids (= the byte) */
    expect_ids(t, S("\n\t"), IDS('\n', '\t'));
    sy_tokenizer_free(t);
}

static void test_added_tokens(void **state)
{
    static const char *const merges[] = {"a b", NULL};
    write_model(&(struct spec){
        .merges = merges,
        .added = "[{\"id\": 300, \"content\": \"<x>\"}, {\"id\": 301, \"content\": \"<xy>\"},"
                 " {\"id\": 302, \"content\": \"<s>\", \"lstrip\": true, \"rstrip\": true}]"});
    struct sy_tokenizer *t = load_ok();
    expect_ids(t, S("ab<x>ab"), IDS(256, 300, 256));
    expect_ids(t, S("<xy>"), IDS(301)); /* longest match */
    expect_ids(t, S("<x"), IDS('<', 'x'));
    expect_ids(t, S("<x><x>"), IDS(300, 300));
    expect_ids(t, S("a  <s>\t b"), IDS('a', 302, 'b')); /* lstrip/rstrip trim neighbours */
    assert_int_equal(sy_tokenizer_token_id(t, "<xy>"), 301);
    assert_int_equal(sy_tokenizer_vocab_size(t), 303);
    sy_tokenizer_free(t);
}

static void test_nfc_normalizer(void **state)
{
    write_model(&(struct spec){.nfc = true});
    struct sy_tokenizer *t = load_ok();
    /* e + U+0301 composes to U+00E9 (bytes C3 A9) */
    expect_ids(t, S("e\xcc\x81"), IDS(0xC3, 0xA9));
    sy_tokenizer_free(t);
    write_model(&(struct spec){0});
    t = load_ok();
    expect_ids(t, S("e\xcc\x81"), IDS('e', 0xCC, 0x81));
    sy_tokenizer_free(t);
}

static void test_invalid_utf8_becomes_replacement(void **state)
{
    write_model(&(struct spec){0});
    struct sy_tokenizer *t = load_ok();
    expect_ids(t, S("a\xff"), IDS('a', 0xEF, 0xBF, 0xBD));
    expect_ids(t, S("\xe4\xbd"), IDS(0xEF, 0xBF, 0xBD, 0xEF, 0xBF, 0xBD));
    expect_ids(t, S("\xef\xbf\xbd"), IDS(0xEF, 0xBF, 0xBD)); /* a real U+FFFD is kept */
    uint32_t *ids;
    size_t n;
    assert_int_equal(sy_tokenizer_encode(t, NULL, 3, &ids, &n), SY_EINVAL);
    assert_int_equal(sy_tokenizer_encode(NULL, "a", 1, &ids, &n), SY_EINVAL);
    sy_tokenizer_free(t);
}

static void expect_load_error(const char *needle)
{
    char err[256];
    struct sy_tokenizer *t = sy_tokenizer_load(dir, err, sizeof(err));
    assert_null(t);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void test_malformed_files(void **state)
{
    char err[256];
    assert_null(sy_tokenizer_load("/nonexistent/dir", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/dir/tokenizer.json"));
    write_raw("tokenizer.json", "{not json");
    expect_load_error("not a JSON object");
    write_raw("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}, "
                                "\"merges\": []}}");
    expect_load_error("WordPiece");
    write_raw("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
                                "\"merges\": []}}");
    expect_load_error("ByteLevel");
    write_raw("tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [7]}}");
    expect_load_error("merges");
    write_raw("tokenizer.json", "{\"model\": {\"vocab\": {\"a\": -3}, \"merges\": []}}");
    expect_load_error("bad id");
    write_model(&(struct spec){.pretok_regex = "(unclosed"});
    expect_load_error("regex");
    write_model(&(struct spec){.added = "[{\"id\": 5}]"});
    expect_load_error("added_tokens");
    write_model(&(struct spec){0});
    write_raw("tokenizer_config.json", "{\"chat_template\": \"{% if %}\"}");
    expect_load_error("chat_template");
    write_raw("tokenizer_config.json", "[1]");
    expect_load_error("tokenizer_config.json");
}

static void test_chat_template(void **state)
{
    write_model(&(struct spec){0});
    write_raw("tokenizer_config.json",
              "{\"bos_token\": {\"content\": \"<B>\"}, \"eos_token\": \"<E>\", \"chat_template\":"
              " \"{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}"
              "{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}\"}");
    struct sy_tokenizer *t = load_ok();
    char *out;
    size_t len;
    const char *msgs = "[{\"role\":\"user\",\"content\":\"hi\"},"
                       "{\"role\":\"assistant\",\"content\":null},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                       "{\"type\":\"text\"},{\"type\":\"text\",\"text\":\"b\"}]}]";
    assert_int_equal(sy_tokenizer_apply_chat_template(t, msgs, strlen(msgs), true, &out, &len), 0);
    assert_string_equal(out, "<B>[user]hi[assistant][user]a\nb[assistant]");
    assert_int_equal(len, strlen(out));
    free(out);
    assert_int_equal(sy_tokenizer_apply_chat_template(t, msgs, strlen(msgs), false, &out, &len), 0);
    assert_string_equal(out, "<B>[user]hi[assistant][user]a\nb");
    free(out);
    /* a request body: add_generation_prompt from the body, chat_template_kwargs override */
    const char *req = "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}], "
                      "\"add_generation_prompt\": false, \"model\": \"m\", "
                      "\"chat_template_kwargs\": {\"bos_token\": \"<K>\"}}";
    assert_int_equal(sy_tokenizer_render_request(t, req, strlen(req), &out, &len, NULL, 0), 0);
    assert_string_equal(out, "<K>[user]q");
    free(out);
    char err[128];
    assert_int_equal(
        sy_tokenizer_render_request(t, "{\"tools\": 1}", 12, &out, &len, err, sizeof(err)),
        SY_EPARSE);
    assert_non_null(strstr(err, "messages"));
    assert_int_equal(
        sy_tokenizer_render_chat_tools(t, "[]", 2, "{}", 2, true, &out, &len, err, sizeof(err)),
        SY_EPARSE);
    assert_non_null(strstr(err, "tools"));
    assert_int_equal(sy_tokenizer_render_chat(t, "{}", 2, true, &out, &len, err, sizeof(err)),
                     SY_EPARSE);
    assert_non_null(strstr(err, "array"));
    assert_int_equal(sy_tokenizer_render_chat(t, "[{\"content\":\"x\"}]", 17, true, &out, &len, err,
                                              sizeof(err)),
                     SY_EPARSE);
    assert_non_null(strstr(err, "role"));
    sy_tokenizer_free(t);
    /* no tokenizer_config.json: encode works, templates are SY_ENOTFOUND */
    char path[128];
    snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
    unlink(path);
    t = load_ok();
    assert_int_equal(sy_tokenizer_apply_chat_template(t, "[]", 2, true, &out, &len), SY_ENOTFOUND);
    sy_tokenizer_free(t);
}

/* ---- concurrency ---- */

struct worker {
    struct sy_tokenizer *toks[2]; /* shared, alternated */
    const char **texts;           /* inputs */
    uint32_t *want[2][8];         /* single-threaded ids per tokenizer and text */
    size_t nwant[2][8];           /* their lengths */
    size_t ntexts;                /* entries */
    int bad;                      /* mismatches seen */
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int r = 0; r < 300; r++) {
        for (size_t i = 0; i < w->ntexts; i++) {
            int k = (r + (int)i) % 2;
            uint32_t *ids;
            size_t n;
            if (sy_tokenizer_encode(w->toks[k], w->texts[i], strlen(w->texts[i]), &ids, &n) ||
                n != w->nwant[k][i] || (n && memcmp(ids, w->want[k][i], n * sizeof(*ids))))
                __atomic_add_fetch(&w->bad, 1, __ATOMIC_RELAXED);
            free(ids);
        }
    }
    return NULL;
}

static void test_concurrent_encoders(void **state)
{
    /* two models whose merges disagree share the threads' word caches: every thread must keep
     * getting each model's own single-threaded answer */
    static const char *const m1[] = {"a b", "ab c", "Ġ a", NULL};
    static const char *const m2[] = {"b c", "a bc", "c a", NULL};
    struct worker w = {0};
    write_model(&(struct spec){.merges = m1, .pretok_regex = " ?[a-z]+|\\s+|[^\\sa-z]+"});
    w.toks[0] = load_ok();
    write_model(&(struct spec){.merges = m2, .pretok_regex = " ?[a-z]+|\\s+|[^\\sa-z]+"});
    w.toks[1] = load_ok();
    static const char *texts[] = {"abc abc cab", "a b c abcabcabc", "cabcab, abca!",
                                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcabc"};
    w.texts = texts;
    w.ntexts = 4;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < w.ntexts; i++)
            assert_int_equal(sy_tokenizer_encode(w.toks[k], texts[i], strlen(texts[i]),
                                                 &w.want[k][i], &w.nwant[k][i]),
                             0);
    /* the two models really differ on these inputs */
    assert_true(w.nwant[0][0] != w.nwant[1][0] ||
                memcmp(w.want[0][0], w.want[1][0], w.nwant[0][0] * sizeof(uint32_t)) != 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, work, &w), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(w.bad, 0);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < w.ntexts; i++)
            free(w.want[k][i]);
        sy_tokenizer_free(w.toks[k]);
    }
}

/* ---- NFC directly ---- */

static void expect_nfc(const char *in, const char *want)
{
    struct sy_buf b;
    sy_buf_init(&b);
    bool changed = sy_tokenize__nfc(in, strlen(in), &b);
    if (!want) {
        assert_false(changed);
    } else {
        assert_true(changed);
        assert_string_equal(b.data, want);
    }
    sy_buf_fini(&b);
}

static void test_nfc(void **state)
{
    expect_nfc("plain ascii", NULL);
    expect_nfc("caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80", NULL); /* already NFC */
    expect_nfc("e\xcc\x81", "\xc3\xa9");                                       /* e + acute */
    expect_nfc("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81");        /* jamo -> 각 */
    expect_nfc("\xea\xb0\x80\xe1\x86\xa8", "\xea\xb0\x81");                    /* LV + T */
    expect_nfc("a\xcc\xa3\xcc\x82", "\xe1\xba\xad");        /* a + dot below + circumflex -> ậ */
    expect_nfc("a\xcc\x82\xcc\xa3", "\xe1\xba\xad");        /* reordered by combining class first */
    expect_nfc("A\xcc\x80\xcc\x96", "\xc3\x80\xcc\x96");    /* À + grave below stays */
    expect_nfc("\xe2\x84\xab", "\xc3\x85");                 /* ANGSTROM SIGN -> Å (singleton) */
    expect_nfc("\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc"); /* excluded composite stays split */
    expect_nfc("\xcc\x81x", NULL); /* a lone combining mark at the start is NFC already */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merges_by_rank, setup, teardown),
        cmocka_unit_test_setup_teardown(test_array_merges_and_ties, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_word_hand_computed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_merges_match_naive_oracle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignore_merges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_regex_and_bytelevel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_added_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nfc_normalizer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8_becomes_replacement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_template, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_encoders, setup, teardown),
        cmocka_unit_test(test_nfc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
