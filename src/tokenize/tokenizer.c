/* tokenizer.c - loading tokenizer.json and the encode pipeline.
 *
 * encode(text) follows transformers.js (the parity reference) step by step:
 *
 *   text --UTF-8 check (invalid bytes -> U+FFFD)
 *        --added-token split: longest match at each position (byte trie), lstrip/rstrip trim
 *          the neighbouring sections (JS whitespace)          --> added token id
 *        --normalizer (NFC or none) per remaining section
 *        --pre-tokenizer: each Split regex cuts every piece into matches and the gaps between
 *          them ("Isolated"); a ByteLevel with use_regex adds the GPT-2 pattern as a last split
 *        --BPE on each piece's bytes (bpe.c)                   --> ids
 *
 * Regexes are compiled with PCRE2 in UTF mode (JIT when available) after the rewrites the
 * reference applies ((?i:'s|...) -> explicit case classes, \# \& \~ unescaped), plus one of our
 * own: \s and \S become explicit classes holding exactly JavaScript's whitespace set, because
 * PCRE2's Unicode \s differs from JS on U+0085 and U+FEFF. PCRE2_UCP is not set, so \d and \w
 * stay ASCII as in JS; \p{L} and \p{N} are Unicode either way.
 *
 * The loaded tokenizer is immutable; encode allocates its match data per call, so concurrent
 * callers need no locks. Chat templates live in chat.c.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/err.h"
#include "tokenize/chat.h"
#include "tokenize/internal.h"
#include "tokenize/tokenizer.h"

#define SY_TOK_MAX_FILE   (256u << 20) /* largest tokenizer.json accepted */
#define SY_TOK_MAX_TEXT   (1u << 30)   /* longest text encode accepts (int32 positions) */
#define SY_TOK_MAX_SPLITS 8            /* Split pre-tokenizers in a Sequence */

/* JavaScript's \s: WhiteSpace + LineTerminator (ECMA-262), as a class body. */
#define SY_JS_SPACE_CLASS                                                                          \
    "\\t\\n\\x0B\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}"    \
    "\\x{3000}\\x{FEFF}"

/* The ByteLevel pre-tokenizer's own pattern (use_regex: true). */
#define SY_GPT2_PATTERN                                                                            \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

struct added {
    char *content; /* owned; the literal token text */
    size_t len;    /* content length */
    uint32_t id;   /* token id */
    bool lstrip;   /* trim whitespace before it */
    bool rstrip;   /* trim whitespace after it */
    bool special;  /* a special token (not used by encode; kept for completeness) */
};

struct trie {
    int32_t *child; /* owned; node * 256 + byte -> child node or 0; node 0 is the root */
    int32_t *match; /* owned; node -> index into added[] or -1 */
    size_t nodes;   /* used nodes */
    size_t cap;     /* allocated nodes */
};

struct sy_tokenizer {
    struct sy_bpe *bpe;                       /* owned */
    struct added *added;                      /* owned; added tokens */
    size_t nadded;                            /* entries */
    struct trie trie;                         /* added-token matcher */
    int lead1;                                /* the first byte of every added token, or -1 */
    bool nfc;                                 /* normalizer: NFC */
    pcre2_code *split[SY_TOK_MAX_SPLITS + 1]; /* owned; Split regexes in order */
    size_t nsplit;                            /* entries */
    bool add_prefix_space;                    /* ByteLevel add_prefix_space */
    size_t vocab_size;                        /* max id + 1 */
    struct sy_chat *chat;                     /* owned; chat template, NULL when absent */
};

/* ---- UTF-8 helpers shared by the module ---- */

size_t sy_tokenize__utf8_dec(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (len < n) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return n;
}

void sy_tokenize__utf8_put(struct sy_buf *b, uint32_t cp)
{
    char t[4];
    size_t n;
    if (cp < 0x80) {
        t[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | cp >> 6);
        t[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | cp >> 12);
        t[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        t[0] = (char)(0xF0 | cp >> 18);
        t[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        t[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    sy_buf_append(b, t, n);
}

bool sy_tokenize__js_space(uint32_t cp)
{
    switch (cp) {
    case '\t':
    case '\n':
    case 0x0B:
    case '\f':
    case '\r':
    case ' ':
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF: return true;
    default: return cp >= 0x2000 && cp <= 0x200A;
    }
}

/* ---- loading ---- */

__attribute__((format(printf, 3, 4))) static void seterr(char *err, size_t errcap, const char *fmt,
                                                         ...)
{
    if (err && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
}

/* Reads a whole file (bounded). Returns NULL when missing (errno set) or too large. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size > SY_TOK_MAX_FILE) {
        fclose(f);
        errno = EFBIG;
        return NULL;
    }
    char *buf = sy_xmalloc((size_t)st.st_size + 1);
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void trie_init(struct trie *t)
{
    t->cap = 64;
    t->child = sy_xcalloc(t->cap * 256, sizeof(int32_t));
    t->match = sy_xmalloc(t->cap * sizeof(int32_t));
    t->match[0] = -1;
    t->nodes = 1;
}

static void trie_add(struct trie *t, const char *s, size_t len, int32_t idx)
{
    size_t node = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int32_t nx = t->child[node * 256 + c];
        if (!nx) {
            if (t->nodes == t->cap) {
                t->cap *= 2;
                t->child = sy_xrealloc(t->child, t->cap * 256 * sizeof(int32_t));
                memset(t->child + t->nodes * 256, 0, (t->cap - t->nodes) * 256 * sizeof(int32_t));
                t->match = sy_xrealloc(t->match, t->cap * sizeof(int32_t));
            }
            nx = (int32_t)t->nodes++;
            t->match[nx] = -1;
            t->child[node * 256 + c] = nx;
        }
        node = (size_t)nx;
    }
    if (t->match[node] < 0)
        t->match[node] = idx; /* the first of two identical contents wins */
}

/* Rewrites a tokenizer.json regex into the PCRE2 pattern matching what JavaScript matches. */
static char *js_regex(const char *src)
{
    static const char *const ci = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
    static const char *const ci_js = "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))";
    struct sy_buf b;
    sy_buf_init(&b);
    bool in_class = false;
    for (size_t i = 0; src[i];) {
        if (!in_class && strncmp(src + i, ci, strlen(ci)) == 0) {
            sy_buf_puts(&b, ci_js);
            i += strlen(ci);
            continue;
        }
        char c = src[i];
        if (c == '\\' && src[i + 1]) {
            char e = src[i + 1];
            if (e == '#' || e == '&' || e == '~') {
                sy_buf_append(&b, &e, 1);
            } else if (e == 's') {
                sy_buf_puts(&b, in_class ? SY_JS_SPACE_CLASS : "[" SY_JS_SPACE_CLASS "]");
            } else if (e == 'S' && !in_class) {
                sy_buf_puts(&b, "[^" SY_JS_SPACE_CLASS "]");
            } else {
                sy_buf_append(&b, src + i, 2);
            }
            i += 2;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            sy_buf_append(&b, src + i, 1);
            i++;
            /* a ']' right after '[' or '[^' is literal */
            if (src[i] == '^')
                sy_buf_append(&b, src + i++, 1);
            if (src[i] == ']')
                sy_buf_append(&b, src + i++, 1);
            continue;
        }
        if (c == ']' && in_class)
            in_class = false;
        sy_buf_append(&b, &c, 1);
        i++;
    }
    if (!b.data)
        sy_buf_puts(&b, "");
    return sy_buf_steal(&b, NULL);
}

static pcre2_code *compile_regex(const char *pattern, char *err, size_t errcap)
{
    char *pat = js_regex(pattern);
    int ec;
    PCRE2_SIZE eoff;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eoff, NULL);
    if (!re) {
        char msg[160], at[64];
        pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof(msg));
        snprintf(at, sizeof(at), " at offset %zu", (size_t)eoff);
        seterr(err, errcap, "tokenizer.json: pre_tokenizer regex: %s%s", msg, at);
    } else {
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    }
    free(pat);
    return re;
}

static bool json_flag(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static int load_pretok(struct sy_tokenizer *t, const cJSON *p, char *err, size_t errcap)
{
    if (!p || cJSON_IsNull(p))
        return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    if (!cJSON_IsString(type))
        goto bad;
    if (strcmp(type->valuestring, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        const cJSON *it;
        if (!cJSON_IsArray(list))
            goto bad;
        cJSON_ArrayForEach(it, list)
        {
            int rc = load_pretok(t, it, err, errcap);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (strcmp(type->valuestring, "Split") == 0) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(p, "behavior");
        if (!cJSON_IsString(re) || !cJSON_IsString(beh))
            goto bad;
        if (strcmp(beh->valuestring, "Isolated") != 0 || json_flag(p, "invert")) {
            seterr(err, errcap, "tokenizer.json: Split behavior %s%s is not supported",
                   beh->valuestring, json_flag(p, "invert") ? " (inverted)" : "");
            return SY_EUNSUPPORTED;
        }
        if (t->nsplit == SY_TOK_MAX_SPLITS) {
            seterr(err, errcap, "tokenizer.json: more than %d Split pre-tokenizers",
                   SY_TOK_MAX_SPLITS);
            return SY_EUNSUPPORTED;
        }
        t->split[t->nsplit] = compile_regex(re->valuestring, err, errcap);
        if (!t->split[t->nsplit])
            return SY_EPARSE;
        t->nsplit++;
        return 0;
    }
    if (strcmp(type->valuestring, "ByteLevel") == 0) {
        t->add_prefix_space = json_flag(p, "add_prefix_space");
        const cJSON *ur = cJSON_GetObjectItemCaseSensitive(p, "use_regex");
        if (!cJSON_IsFalse(ur)) { /* default true */
            t->split[t->nsplit] = compile_regex(SY_GPT2_PATTERN, err, errcap);
            if (!t->split[t->nsplit])
                return SY_EPARSE;
            t->nsplit++;
        }
        return 0;
    }
    seterr(err, errcap, "tokenizer.json: pre_tokenizer type %s is not supported",
           type->valuestring);
    return SY_EUNSUPPORTED;
bad:
    seterr(err, errcap, "tokenizer.json: malformed pre_tokenizer");
    return SY_EPARSE;
}

static int load_normalizer(struct sy_tokenizer *t, const cJSON *n, char *err, size_t errcap)
{
    if (!n || cJSON_IsNull(n))
        return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(n, "type");
    if (!cJSON_IsString(type)) {
        seterr(err, errcap, "tokenizer.json: malformed normalizer");
        return SY_EPARSE;
    }
    if (strcmp(type->valuestring, "NFC") == 0) {
        t->nfc = true;
        return 0;
    }
    if (strcmp(type->valuestring, "Sequence") == 0) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "normalizers"))
        {
            int rc = load_normalizer(t, it, err, errcap);
            if (rc)
                return rc;
        }
        return 0;
    }
    seterr(err, errcap, "tokenizer.json: normalizer %s is not supported", type->valuestring);
    return SY_EUNSUPPORTED;
}

static int load_model(struct sy_tokenizer *t, const cJSON *model, char *err, size_t errcap)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(model) || (type && !cJSON_IsString(type)) || !cJSON_IsObject(vocab) ||
        !cJSON_IsArray(merges)) {
        seterr(err, errcap, "tokenizer.json: model: expected a BPE model with vocab and merges");
        return SY_EPARSE;
    }
    if (type && strcmp(type->valuestring, "BPE") != 0) {
        seterr(err, errcap, "tokenizer.json: model type %s is not supported (BPE only)",
               type->valuestring);
        return SY_EUNSUPPORTED;
    }
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (cJSON_IsString(a) && a->valuestring[0]) {
            seterr(err, errcap, "tokenizer.json: model.%s is not supported", affixes[i]);
            return SY_EUNSUPPORTED;
        }
    }
    if (json_flag(model, "byte_fallback")) {
        seterr(err, errcap, "tokenizer.json: model.byte_fallback is not supported");
        return SY_EUNSUPPORTED;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab)
    {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > INT32_MAX) {
            seterr(err, errcap, "tokenizer.json: model.vocab: bad id for %s", it->string);
            return SY_EPARSE;
        }
        uint32_t id = (uint32_t)it->valuedouble;
        if (!sy_bpe__add_token(t->bpe, it->string, strlen(it->string), id)) {
            seterr(err, errcap, "tokenizer.json: model.vocab: empty or duplicate token %s",
                   it->string);
            return SY_EPARSE;
        }
        if (id + 1 > t->vocab_size)
            t->vocab_size = id + 1;
    }
    cJSON_ArrayForEach(it, merges)
    {
        const char *a, *b;
        size_t alen, blen;
        if (cJSON_IsString(it)) { /* "a b": JS split(' ', 2) */
            a = it->valuestring;
            const char *sp = strchr(a, ' ');
            if (!sp) {
                seterr(err, errcap, "tokenizer.json: model.merges: no space in \"%s\"", a);
                return SY_EPARSE;
            }
            alen = (size_t)(sp - a);
            b = sp + 1;
            const char *sp2 = strchr(b, ' ');
            blen = sp2 ? (size_t)(sp2 - b) : strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            a = cJSON_GetArrayItem(it, 0)->valuestring;
            b = cJSON_GetArrayItem(it, 1)->valuestring;
            alen = strlen(a);
            blen = strlen(b);
        } else {
            seterr(err, errcap,
                   "tokenizer.json: model.merges: entries must be \"a b\" or "
                   "[\"a\", \"b\"]");
            return SY_EPARSE;
        }
        (void)sy_bpe__add_merge(t->bpe, a, alen, b, blen); /* unusable merges never fire */
    }
    if (!sy_bpe__finish(t->bpe, json_flag(model, "ignore_merges"))) {
        seterr(err, errcap,
               "tokenizer.json: model.vocab lacks the 256 ByteLevel characters "
               "(not a byte-level BPE)");
        return SY_EUNSUPPORTED;
    }
    return 0;
}

static int load_added(struct sy_tokenizer *t, const cJSON *list, char *err, size_t errcap)
{
    trie_init(&t->trie);
    t->lead1 = -1;
    if (!list || cJSON_IsNull(list))
        return 0;
    if (!cJSON_IsArray(list))
        goto bad;
    size_t n = (size_t)cJSON_GetArraySize(list);
    t->added = sy_xcalloc(n ? n : 1, sizeof(*t->added));
    const cJSON *it;
    cJSON_ArrayForEach(it, list)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > INT32_MAX ||
            !cJSON_IsString(content) || !content->valuestring[0])
            goto bad;
        struct added *a = &t->added[t->nadded];
        a->content = sy_xstrdup(content->valuestring);
        a->len = strlen(a->content);
        a->id = (uint32_t)id->valuedouble;
        a->lstrip = json_flag(it, "lstrip");
        a->rstrip = json_flag(it, "rstrip");
        a->special = json_flag(it, "special");
        trie_add(&t->trie, a->content, a->len, (int32_t)t->nadded);
        t->nadded++;
        unsigned char c0 = (unsigned char)a->content[0];
        t->lead1 = t->nadded == 1 || t->lead1 == c0 ? c0 : -1;
        if (a->id + 1 > t->vocab_size)
            t->vocab_size = a->id + 1;
    }
    return 0;
bad:
    seterr(err, errcap,
           "tokenizer.json: added_tokens: each entry needs an id and a non-empty "
           "content");
    return SY_EPARSE;
}

struct sy_tokenizer *sy_tokenizer_load(const char *dir, char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!dir) {
        seterr(err, errcap, "no tokenizer directory");
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    size_t len = 0;
    char *text = read_file(path, &len);
    if (!text) {
        seterr(err, errcap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        seterr(err, errcap, "%s: not a JSON object", path);
        cJSON_Delete(root);
        return NULL;
    }
    struct sy_tokenizer *t = SY_NEW(struct sy_tokenizer);
    t->bpe = sy_bpe__new();
    int rc = load_model(t, cJSON_GetObjectItemCaseSensitive(root, "model"), err, errcap);
    if (!rc)
        rc = load_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), err, errcap);
    if (!rc)
        rc = load_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), err, errcap);
    if (!rc)
        rc = load_pretok(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), err, errcap);
    cJSON_Delete(root);
    if (rc)
        goto fail;
    snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
    text = read_file(path, &len);
    if (text) {
        t->chat = sy_chat_load(dir, text, len, err, errcap);
        free(text);
        if (!t->chat && err && err[0])
            goto fail;
    }
    return t;
fail:
    sy_tokenizer_free(t);
    return NULL;
}

void sy_tokenizer_free(struct sy_tokenizer *t)
{
    if (!t)
        return;
    sy_bpe__free(t->bpe);
    for (size_t i = 0; i < t->nadded; i++)
        free(t->added[i].content);
    free(t->added);
    free(t->trie.child);
    free(t->trie.match);
    for (size_t i = 0; i < t->nsplit; i++)
        pcre2_code_free(t->split[i]);
    sy_chat_free(t->chat);
    free(t);
}

size_t sy_tokenizer_vocab_size(const struct sy_tokenizer *t)
{
    return t ? t->vocab_size : 0;
}

int64_t sy_tokenizer_token_id(const struct sy_tokenizer *t, const char *token)
{
    if (!t || !token)
        return -1;
    size_t len = strlen(token);
    for (size_t i = 0; i < t->nadded; i++)
        if (t->added[i].len == len && memcmp(t->added[i].content, token, len) == 0)
            return t->added[i].id;
    return sy_bpe__lookup(t->bpe, token, len);
}

/* ---- encoding ---- */

struct enc {
    const struct sy_tokenizer *t; /* borrowed */
    pcre2_match_data *md;         /* owned by encode() */
    struct sy_buf *ids;           /* output: uint32_t ids */
    struct sy_buf tmp;            /* scratch for add_prefix_space */
};

static void split_level(struct enc *e, size_t level, const char *s, size_t len)
{
    if (len == 0)
        return;
    if (level == e->t->nsplit) {
        if (e->t->add_prefix_space && s[0] != ' ') {
            sy_buf_reset(&e->tmp);
            sy_buf_append(&e->tmp, " ", 1);
            sy_buf_append(&e->tmp, s, len);
            sy_bpe__word(e->t->bpe, (const unsigned char *)e->tmp.data, e->tmp.len, e->ids);
            return;
        }
        sy_bpe__word(e->t->bpe, (const unsigned char *)s, len, e->ids);
        return;
    }
    pcre2_code *re = e->t->split[level];
    size_t prev = 0, off = 0;
    while (off <= len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, len, off, PCRE2_NO_UTF_CHECK, e->md, NULL);
        if (rc < 0)
            break; /* no match (or a match-limit error): the rest is one gap */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
        size_t ms = ov[0], me = ov[1];
        if (ms > prev)
            split_level(e, level + 1, s + prev, ms - prev);
        if (me > ms)
            split_level(e, level + 1, s + ms, me - ms);
        prev = me;
        if (me == ms) { /* empty match: step one code point, like JS matchAll with /u */
            if (me >= len)
                break;
            uint32_t cp;
            off = me + sy_tokenize__utf8_dec((const unsigned char *)s + me, len - me, &cp);
        } else {
            off = me;
        }
    }
    if (prev < len)
        split_level(e, level + 1, s + prev, len - prev);
}

static void encode_section(struct enc *e, const char *s, size_t len)
{
    if (len == 0)
        return;
    if (e->t->nfc) {
        struct sy_buf n;
        sy_buf_init(&n);
        bool changed = sy_tokenize__nfc(s, len, &n);
        if (changed)
            split_level(e, 0, n.data, n.len);
        sy_buf_fini(&n); /* may hold memory even when unchanged */
        if (changed)
            return;
    }
    split_level(e, 0, s, len);
}

/* Length of JS whitespace at the end (trimEnd) / start (trimStart) of s. */
static size_t js_trim_end(const char *s, size_t len)
{
    while (len > 0) {
        size_t k = len - 1;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        uint32_t cp;
        sy_tokenize__utf8_dec((const unsigned char *)s + k, len - k, &cp);
        if (!sy_tokenize__js_space(cp))
            break;
        len = k;
    }
    return len;
}

static size_t js_trim_start(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = sy_tokenize__utf8_dec((const unsigned char *)s + i, len - i, &cp);
        if (!sy_tokenize__js_space(cp))
            break;
        i += n;
    }
    return i;
}

/* Longest added token starting at s[i]: returns its index or -1. */
static int32_t match_added(const struct trie *tr, const char *s, size_t len, size_t i, size_t *mlen)
{
    size_t node = 0;
    int32_t best = -1;
    for (size_t j = i; j < len; j++) {
        int32_t nx = tr->child[node * 256 + (unsigned char)s[j]];
        if (!nx)
            break;
        node = (size_t)nx;
        if (tr->match[node] >= 0) {
            best = tr->match[node];
            *mlen = j + 1 - i;
        }
    }
    return best;
}

static int encode_valid(const struct sy_tokenizer *t, const char *s, size_t len, struct sy_buf *ids)
{
    struct enc e = {.t = t, .ids = ids};
    sy_buf_init(&e.tmp);
    if (t->nsplit) {
        e.md = pcre2_match_data_create(4, NULL);
        if (!e.md)
            return SY_ENOMEM;
    }
    size_t start = 0, i = 0;
    bool strip_next = false; /* the previous added token has rstrip */
    while (i < len) {
        if (!t->nadded)
            break;
        if (t->lead1 >= 0) { /* every added token starts with the same byte: jump to it */
            const char *q = memchr(s + i, t->lead1, len - i);
            if (!q)
                break;
            i = (size_t)(q - s);
        }
        size_t mlen = 0;
        int32_t a =
            t->trie.child[(unsigned char)s[i]] ? match_added(&t->trie, s, len, i, &mlen) : -1;
        if (a < 0) {
            i++;
            continue;
        }
        const struct added *ad = &t->added[a];
        const char *sec = s + start;
        size_t slen = i - start;
        if (strip_next) {
            size_t k = js_trim_start(sec, slen);
            sec += k;
            slen -= k;
        }
        if (ad->lstrip)
            slen = js_trim_end(sec, slen);
        encode_section(&e, sec, slen);
        sy_buf_append(ids, &ad->id, sizeof(uint32_t));
        strip_next = ad->rstrip;
        i += mlen;
        start = i;
    }
    const char *sec = s + start;
    size_t slen = len - start;
    if (strip_next) {
        size_t k = js_trim_start(sec, slen);
        sec += k;
        slen -= k;
    }
    encode_section(&e, sec, slen);
    if (e.md)
        pcre2_match_data_free(e.md);
    sy_buf_fini(&e.tmp);
    return 0;
}

int sy_tokenizer_encode(const struct sy_tokenizer *t, const char *text, size_t len, uint32_t **ids,
                        size_t *n)
{
    if (!t || (!text && len) || !ids || !n)
        return SY_EINVAL;
    *ids = NULL;
    *n = 0;
    if (len > SY_TOK_MAX_TEXT)
        return SY_ETOOBIG;
    /* invalid UTF-8 -> U+FFFD (what a JS string decoded from those bytes holds) */
    struct sy_buf fixed;
    sy_buf_init(&fixed);
    bool fixing = false;
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        uint64_t w8;
        if (!fixing && i + 8 <= len && (memcpy(&w8, p + i, 8), (w8 & 0x8080808080808080ULL) == 0)) {
            i += 8; /* eight ASCII bytes */
            continue;
        }
        if (p[i] < 0x80) {
            if (fixing)
                sy_buf_append(&fixed, p + i, 1);
            i++;
            continue;
        }
        size_t k;
        bool bad;
        unsigned char c = p[i];
        if (c >= 0xE1 && c <= 0xEF && c != 0xED && i + 2 < len && (p[i + 1] & 0xC0) == 0x80 &&
            (p[i + 2] & 0xC0) == 0x80) { /* the common 3-byte case (CJK), no range checks */
            k = 3;
            bad = false;
        } else {
            uint32_t cp;
            k = sy_tokenize__utf8_dec(p + i, len - i, &cp);
            bad = cp == 0xFFFD && k == 1;
        }
        if (bad && !fixing) {
            fixing = true;
            sy_buf_reserve(&fixed, len + 16);
            sy_buf_append(&fixed, text, i);
        }
        if (bad)
            sy_tokenize__utf8_put(&fixed, 0xFFFD);
        else if (fixing)
            sy_buf_append(&fixed, p + i, k);
        i += k;
    }
    struct sy_buf out;
    sy_buf_init(&out);
    int rc =
        fixing ? encode_valid(t, fixed.data, fixed.len, &out) : encode_valid(t, text, len, &out);
    sy_buf_fini(&fixed);
    if (rc) {
        sy_buf_fini(&out);
        return rc;
    }
    *n = out.len / sizeof(uint32_t);
    *ids = (uint32_t *)(void *)sy_buf_steal(&out, NULL);
    if (*n == 0) {
        free(*ids);
        *ids = NULL;
    }
    return 0;
}

int sy_tokenizer_render_chat_tools(const struct sy_tokenizer *t, const char *messages_json,
                                   size_t len, const char *tools_json, size_t tools_len,
                                   bool add_generation_prompt, char **out, size_t *outlen,
                                   char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!t || !messages_json || !out || !outlen)
        return SY_EINVAL;
    if (!t->chat) {
        seterr(err, errcap, "the tokenizer directory has no chat template");
        return SY_ENOTFOUND;
    }
    return sy_chat_render(t->chat, messages_json, len, tools_json, tools_len, add_generation_prompt,
                          out, outlen, err, errcap);
}

int sy_tokenizer_render_request(const struct sy_tokenizer *t, const char *body_json, size_t len,
                                char **out, size_t *outlen, char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!t || !body_json || !out || !outlen)
        return SY_EINVAL;
    if (!t->chat) {
        seterr(err, errcap, "the tokenizer directory has no chat template");
        return SY_ENOTFOUND;
    }
    return sy_chat_render_request(t->chat, body_json, len, out, outlen, err, errcap);
}

int sy_tokenizer_render_chat(const struct sy_tokenizer *t, const char *messages_json, size_t len,
                             bool add_generation_prompt, char **out, size_t *outlen, char *err,
                             size_t errcap)
{
    return sy_tokenizer_render_chat_tools(t, messages_json, len, NULL, 0, add_generation_prompt,
                                          out, outlen, err, errcap);
}

int sy_tokenizer_apply_chat_template(const struct sy_tokenizer *t, const char *messages_json,
                                     size_t len, bool add_generation_prompt, char **out,
                                     size_t *outlen)
{
    return sy_tokenizer_render_chat(t, messages_json, len, add_generation_prompt, out, outlen, NULL,
                                    0);
}
