/* jinja_parse.c - Jinja lexer and parser: template text -> AST (jinja_int.h).
 *
 * Pipeline, mirroring @huggingface/jinja (the parity reference, itself modelled on Jinja2 with the
 * trim_blocks + lstrip_blocks options transformers passes):
 *
 *   preprocess  drop one trailing "\n"; lstrip_blocks removes spaces/tabs before "{%", "{#" at
 *               line starts; trim_blocks removes the "\n" right after "%}" and "#}"
 *   lex         text runs and tag tokens into one array; "{%-"/"{{-"/"{#-" trim the preceding
 *               text's trailing whitespace, "-%}"/"-}}"/"-#}" skip the following whitespace
 *   parse       recursive descent; precedence from loosest: inline if, or, and, not, comparisons
 *               and in, + - ~, * / // %, **, unary -, is-tests, |filters, postfix . [] ()
 *
 * Errors longjmp out to sy_jinja_compile(), which frees the arena: every node lives in the
 * template's arena, so there is nothing else to clean up. Nesting is bounded (SY_JINJA_DEPTH) so
 * hostile templates cannot exhaust the C stack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "tokenize/internal.h"
#include "tokenize/jinja.h"
#include "tokenize/jinja_int.h"

#define SY_JINJA_DEPTH 200 /* maximum expression / block nesting */

/* ---- arena ---- */

struct sy_jchunk {
    struct sy_jchunk *next;            /* older chunk */
    size_t used;                       /* bytes used in data */
    size_t cap;                        /* bytes in data */
    _Alignas(16) unsigned char data[]; /* payload */
};

void *sy_jarena_alloc(struct sy_jarena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    a->total += n;
    if (a->limit && a->total > a->limit && a->overflow)
        longjmp(*a->overflow, 2);
    struct sy_jchunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 32768 ? n : 32768;
        c = sy_xmalloc(sizeof(*c) + cap);
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *sy_jarena_strndup(struct sy_jarena *a, const char *s, size_t n)
{
    char *p = sy_jarena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void sy_jarena_free(struct sy_jarena *a)
{
    struct sy_jchunk *c = a->head;
    while (c) {
        struct sy_jchunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- lexer ---- */

enum tk {
    T_EOF,
    T_TEXT,
    T_OSTMT,
    T_CSTMT,
    T_OEXPR,
    T_CEXPR,
    T_NAME,
    T_STR,
    T_INT,
    T_FLOAT,
    T_LPAREN,
    T_RPAREN,
    T_LBRACK,
    T_RBRACK,
    T_LBRACE,
    T_RBRACE,
    T_COMMA,
    T_DOT,
    T_COLON,
    T_PIPE,
    T_EQ,
    T_NE,
    T_LE,
    T_GE,
    T_LT,
    T_GT,
    T_PLUS,
    T_MINUS,
    T_TILDE,
    T_POW,
    T_MUL,
    T_FLOORDIV,
    T_DIV,
    T_MOD,
    T_ASSIGN,
};

struct tok {
    enum tk t;     /* kind */
    const char *s; /* text (arena; unescaped for strings) */
    size_t n;      /* length */
    int line;      /* 1-based */
};

struct parser {
    struct sy_jarena *arena; /* the template's */
    jmp_buf jb;              /* error exit */
    char *err;               /* caller's buffer */
    size_t errcap;           /* its capacity */
    struct tok *toks;        /* owned (malloc) */
    size_t ntok, captok;     /* used / allocated */
    size_t pos;              /* parse cursor */
    int depth;               /* current nesting */
};

__attribute__((noreturn, format(printf, 3, 4))) static void fail(struct parser *p, int line,
                                                                 const char *fmt, ...)
{
    if (p->err && p->errcap) {
        int k = snprintf(p->err, p->errcap, "line %d: ", line);
        va_list ap;
        va_start(ap, fmt);
        if (k >= 0 && (size_t)k < p->errcap)
            vsnprintf(p->err + k, p->errcap - (size_t)k, fmt, ap);
        va_end(ap);
    }
    longjmp(p->jb, 1);
}

static void push_tok(struct parser *p, enum tk t, const char *s, size_t n, int line)
{
    if (p->ntok == p->captok) {
        p->captok = p->captok ? p->captok * 2 : 256;
        p->toks = sy_xrealloc(p->toks, p->captok * sizeof(*p->toks));
    }
    p->toks[p->ntok++] = (struct tok){t, s, n, line};
}

/* Preprocess as the reference does (see the file comment). */
static char *preprocess(const char *src, size_t len, size_t *outlen)
{
    if (len && src[len - 1] == '\n')
        len--;
    struct sy_buf b;
    sy_buf_init(&b);
    sy_buf_reserve(&b, len + 1);
    size_t i = 0;
    bool line_start = true;
    while (i < len) {
        if (line_start) {
            size_t j = i;
            while (j < len && (src[j] == ' ' || src[j] == '\t'))
                j++;
            if (j + 1 < len && src[j] == '{' &&
                (src[j + 1] == '%' || src[j + 1] == '#' || src[j + 1] == '-'))
                i = j; /* lstrip_blocks */
            line_start = false;
            continue;
        }
        char c = src[i];
        if ((c == '%' || c == '#' || c == '-') && i + 2 < len + 0 && src[i + 1] == '}' &&
            src[i + 2] == '\n') {
            sy_buf_append(&b, src + i, 2); /* trim_blocks: drop the newline */
            i += 3;
            line_start = true;
            continue;
        }
        sy_buf_append(&b, &c, 1);
        if (c == '\n')
            line_start = true;
        i++;
    }
    if (!b.data)
        sy_buf_puts(&b, "");
    return sy_buf_steal(&b, outlen);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Trailing JS whitespace length of s[0..n). */
static size_t rtrim_len(const char *s, size_t n)
{
    while (n > 0) {
        size_t k = n - 1;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        uint32_t cp;
        sy_tokenize__utf8_dec((const unsigned char *)s + k, n - k, &cp);
        if (!sy_tokenize__js_space(cp))
            break;
        n = k;
    }
    return n;
}

static size_t skip_space(const char *s, size_t len, size_t i)
{
    while (i < len) {
        uint32_t cp;
        size_t k = sy_tokenize__utf8_dec((const unsigned char *)s + i, len - i, &cp);
        if (!sy_tokenize__js_space(cp))
            break;
        i += k;
    }
    return i;
}

static void strip_prev_text(struct parser *p)
{
    if (p->ntok && p->toks[p->ntok - 1].t == T_TEXT) {
        struct tok *t = &p->toks[p->ntok - 1];
        t->n = rtrim_len(t->s, t->n);
        if (t->n == 0)
            p->ntok--;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void lex(struct parser *p, const char *s, size_t len)
{
    size_t i = 0;
    int line = 1;
    int braces = 0;
    bool in_tag = false;
    while (i < len) {
        if (!in_tag) {
            size_t j = i;
            while (j < len && !(s[j] == '{' && j + 1 < len &&
                                (s[j + 1] == '%' || s[j + 1] == '{' || s[j + 1] == '#'))) {
                if (s[j] == '\n')
                    line++;
                j++;
            }
            if (j > i)
                push_tok(p, T_TEXT, s + i, j - i, line);
            i = j;
            if (i >= len)
                break;
            if (s[i + 1] == '#') {
                size_t k = i + 2;
                bool strip_before = k < len && s[k] == '-';
                while (k + 1 < len && !(s[k] == '#' && s[k + 1] == '}')) {
                    if (s[k] == '\n')
                        line++;
                    k++;
                }
                if (k + 1 >= len)
                    fail(p, line, "missing end of comment tag");
                bool strip_after = k > i + 2 && s[k - 1] == '-';
                if (strip_before)
                    strip_prev_text(p);
                i = k + 2;
                if (strip_after)
                    i = skip_space(s, len, i);
                continue;
            }
            bool stmt = s[i + 1] == '%';
            i += 2;
            if (i < len && s[i] == '-') {
                strip_prev_text(p);
                i++;
            }
            push_tok(p, stmt ? T_OSTMT : T_OEXPR, s + i - 2, 2, line);
            in_tag = true;
            braces = 0;
            continue;
        }
        char c = s[i];
        if (is_space(c)) {
            if (c == '\n')
                line++;
            i++;
            continue;
        }
        if (c == '-' && i + 2 < len + 0 && (s[i + 1] == '%' || s[i + 1] == '}') &&
            s[i + 2] == '}' && !(s[i + 1] == '}' && braces > 0)) {
            push_tok(p, s[i + 1] == '%' ? T_CSTMT : T_CEXPR, s + i, 3, line);
            i = skip_space(s, len, i + 3);
            in_tag = false;
            continue;
        }
        if (i + 1 < len &&
            ((c == '%' && s[i + 1] == '}') || (c == '}' && s[i + 1] == '}' && braces == 0))) {
            push_tok(p, c == '%' ? T_CSTMT : T_CEXPR, s + i, 2, line);
            i += 2;
            in_tag = false;
            continue;
        }
        if (c == '\'' || c == '"') {
            struct sy_buf b;
            sy_buf_init(&b);
            size_t k = i + 1;
            while (k < len && s[k] != c) {
                if (s[k] == '\\') {
                    if (k + 1 >= len)
                        break;
                    char e = s[k + 1];
                    k += 2;
                    char out;
                    switch (e) {
                    case 'n': out = '\n'; break;
                    case 't': out = '\t'; break;
                    case 'r': out = '\r'; break;
                    case 'b': out = '\b'; break;
                    case 'f': out = '\f'; break;
                    case 'v': out = '\v'; break;
                    case '\'': out = '\''; break;
                    case '"': out = '"'; break;
                    case '\\': out = '\\'; break;
                    case 'x':
                    case 'u': {
                        size_t nd = e == 'x' ? 2 : 4;
                        uint32_t v = 0;
                        for (size_t d = 0; d < nd; d++) {
                            int h = k + d < len ? hexval(s[k + d]) : -1;
                            if (h < 0) {
                                sy_buf_fini(&b);
                                fail(p, line, "invalid \\%c escape in a string literal", e);
                            }
                            v = v * 16 + (uint32_t)h;
                        }
                        k += nd;
                        if (v >= 0xD800 && v <= 0xDFFF)
                            v = 0xFFFD;
                        sy_tokenize__utf8_put(&b, v);
                        continue;
                    }
                    default: sy_buf_fini(&b); fail(p, line, "unexpected escaped character '%c'", e);
                    }
                    sy_buf_append(&b, &out, 1);
                    continue;
                }
                if (s[k] == '\n')
                    line++;
                sy_buf_append(&b, s + k, 1);
                k++;
            }
            if (k >= len) {
                sy_buf_fini(&b);
                fail(p, line, "unterminated string literal");
            }
            char *str = sy_jarena_strndup(p->arena, b.data ? b.data : "", b.len);
            push_tok(p, T_STR, str, b.len, line);
            sy_buf_fini(&b);
            i = k + 1;
            continue;
        }
        if (c >= '0' && c <= '9') {
            size_t k = i;
            while (k < len && s[k] >= '0' && s[k] <= '9')
                k++;
            enum tk t = T_INT;
            bool after_dot = p->ntok && p->toks[p->ntok - 1].t == T_DOT;
            if (!after_dot && k + 1 < len && s[k] == '.' && s[k + 1] >= '0' && s[k + 1] <= '9') {
                k++;
                while (k < len && s[k] >= '0' && s[k] <= '9')
                    k++;
                t = T_FLOAT;
            }
            push_tok(p, t, s + i, k - i, line);
            i = k;
            continue;
        }
        if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            size_t k = i;
            while (k < len && (s[k] == '_' || (s[k] >= 'a' && s[k] <= 'z') ||
                               (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9')))
                k++;
            push_tok(p, T_NAME, s + i, k - i, line);
            i = k;
            continue;
        }
        static const struct {
            const char *s;
            enum tk t;
        } ops[] = {
            {"==", T_EQ},       {"!=", T_NE},    {"<=", T_LE},    {">=", T_GE},    {"**", T_POW},
            {"//", T_FLOORDIV}, {"(", T_LPAREN}, {")", T_RPAREN}, {"[", T_LBRACK}, {"]", T_RBRACK},
            {"{", T_LBRACE},    {"}", T_RBRACE}, {",", T_COMMA},  {".", T_DOT},    {":", T_COLON},
            {"|", T_PIPE},      {"<", T_LT},     {">", T_GT},     {"+", T_PLUS},   {"-", T_MINUS},
            {"~", T_TILDE},     {"*", T_MUL},    {"/", T_DIV},    {"%", T_MOD},    {"=", T_ASSIGN},
        };
        size_t o;
        for (o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
            size_t n = strlen(ops[o].s);
            if (i + n <= len && memcmp(s + i, ops[o].s, n) == 0)
                break;
        }
        if (o == sizeof(ops) / sizeof(ops[0]))
            fail(p, line, "unexpected character '%c'", c);
        if (ops[o].t == T_LBRACE)
            braces++;
        else if (ops[o].t == T_RBRACE)
            braces--;
        push_tok(p, ops[o].t, s + i, strlen(ops[o].s), line);
        i += strlen(ops[o].s);
    }
    if (in_tag)
        fail(p, line, "unexpected end of template inside a tag");
    push_tok(p, T_EOF, s + len, 0, line);
}

/* ---- parser ---- */

static struct tok *peek(struct parser *p)
{
    return &p->toks[p->pos];
}

static struct tok *peek2(struct parser *p)
{
    return p->pos + 1 < p->ntok ? &p->toks[p->pos + 1] : &p->toks[p->ntok - 1];
}

static bool is_name(const struct tok *t, const char *name)
{
    return t->t == T_NAME && t->n == strlen(name) && memcmp(t->s, name, t->n) == 0;
}

static struct tok *expect(struct parser *p, enum tk t, const char *what)
{
    struct tok *k = peek(p);
    if (k->t != t)
        fail(p, k->line, "expected %s", what);
    p->pos++;
    return k;
}

static void expect_name(struct parser *p, const char *name)
{
    if (!is_name(peek(p), name))
        fail(p, peek(p)->line, "expected '%s'", name);
    p->pos++;
}

static struct sy_jnode *node(struct parser *p, enum sy_jnode_kind k, int line)
{
    struct sy_jnode *n = sy_jarena_alloc(p->arena, sizeof(*n));
    n->kind = k;
    n->line = line;
    return n;
}

static struct sy_jnode *parse_expr(struct parser *p);
static struct sy_jnode *parse_or(struct parser *p);
static struct sy_jnode *parse_unary(struct parser *p);

static void enter(struct parser *p)
{
    if (++p->depth > SY_JINJA_DEPTH)
        fail(p, peek(p)->line, "expression or block nesting deeper than %d", SY_JINJA_DEPTH);
}

static const char *dupname(struct parser *p, const struct tok *t)
{
    return sy_jarena_strndup(p->arena, t->s, t->n);
}

/* Arguments "( ... )" after the opening paren has been consumed; fills kids/names. */
static void parse_args(struct parser *p, struct sy_jnode *n)
{
    struct sy_jnode *buf[64];
    const char *nbuf[64];
    size_t k = 0;
    while (peek(p)->t != T_RPAREN) {
        if (k == 64)
            fail(p, peek(p)->line, "more than 64 arguments");
        const char *kw = NULL;
        if (peek(p)->t == T_NAME && peek2(p)->t == T_ASSIGN) {
            kw = dupname(p, peek(p));
            p->pos += 2;
        }
        buf[k] = parse_expr(p);
        nbuf[k++] = kw;
        if (peek(p)->t == T_COMMA)
            p->pos++;
        else if (peek(p)->t != T_RPAREN)
            fail(p, peek(p)->line, "expected ',' or ')' in an argument list");
    }
    p->pos++;
    n->kids = sy_jarena_alloc(p->arena, (k + 1) * sizeof(*n->kids));
    n->names = sy_jarena_alloc(p->arena, (k + 1) * sizeof(*n->names));
    memcpy(n->kids, buf, k * sizeof(*buf));
    memcpy(n->names, nbuf, k * sizeof(*nbuf));
    n->nkids = k;
}

static struct sy_jnode *parse_primary(struct parser *p)
{
    struct tok *t = peek(p);
    struct sy_jnode *n;
    switch (t->t) {
    case T_STR: {
        p->pos++;
        n = node(p, JE_LIT, t->line);
        n->lk = JL_STR;
        /* adjacent string literals concatenate, as in Python */
        if (peek(p)->t == T_STR) {
            struct sy_buf b;
            sy_buf_init(&b);
            sy_buf_append(&b, t->s, t->n);
            while (peek(p)->t == T_STR) {
                sy_buf_append(&b, peek(p)->s, peek(p)->n);
                p->pos++;
            }
            n->str = sy_jarena_strndup(p->arena, b.data, b.len);
            n->slen = b.len;
            sy_buf_fini(&b);
        } else {
            n->str = t->s;
            n->slen = t->n;
        }
        return n;
    }
    case T_INT:
    case T_FLOAT: {
        p->pos++;
        char tmp[64];
        size_t m = t->n < sizeof(tmp) - 1 ? t->n : sizeof(tmp) - 1;
        memcpy(tmp, t->s, m);
        tmp[m] = '\0';
        n = node(p, JE_LIT, t->line);
        if (t->t == T_INT && m < 19) {
            n->lk = JL_INT;
            n->li = strtoll(tmp, NULL, 10);
        } else {
            n->lk = JL_FLOAT;
            n->lf = strtod(tmp, NULL);
        }
        return n;
    }
    case T_NAME: {
        p->pos++;
        n = node(p, JE_LIT, t->line);
        if (is_name(t, "true") || is_name(t, "True")) {
            n->lk = JL_BOOL;
            n->li = 1;
        } else if (is_name(t, "false") || is_name(t, "False")) {
            n->lk = JL_BOOL;
        } else if (is_name(t, "none") || is_name(t, "None")) {
            n->lk = JL_NONE;
        } else {
            n->kind = JE_NAME;
            n->str = dupname(p, t);
            n->slen = t->n;
        }
        return n;
    }
    case T_LPAREN: {
        p->pos++;
        enter(p);
        if (peek(p)->t == T_RPAREN) { /* () = empty tuple */
            p->pos++;
            p->depth--;
            return node(p, JE_TUPLE, t->line);
        }
        struct sy_jnode *first = parse_expr(p);
        if (peek(p)->t == T_COMMA) {
            struct sy_jnode *buf[64];
            size_t k = 0;
            buf[k++] = first;
            while (peek(p)->t == T_COMMA) {
                p->pos++;
                if (peek(p)->t == T_RPAREN)
                    break;
                if (k == 64)
                    fail(p, t->line, "tuple longer than 64 items");
                buf[k++] = parse_expr(p);
            }
            expect(p, T_RPAREN, "')'");
            n = node(p, JE_TUPLE, t->line);
            n->kids = sy_jarena_alloc(p->arena, (k + 1) * sizeof(*n->kids));
            memcpy(n->kids, buf, k * sizeof(*buf));
            n->nkids = k;
            p->depth--;
            return n;
        }
        expect(p, T_RPAREN, "')'");
        p->depth--;
        return first;
    }
    case T_LBRACK: {
        p->pos++;
        enter(p);
        struct sy_jnode *buf[256];
        size_t k = 0;
        while (peek(p)->t != T_RBRACK) {
            if (k == 256)
                fail(p, t->line, "list literal longer than 256 items");
            buf[k++] = parse_expr(p);
            if (peek(p)->t == T_COMMA)
                p->pos++;
            else if (peek(p)->t != T_RBRACK)
                fail(p, peek(p)->line, "expected ',' or ']' in a list literal");
        }
        p->pos++;
        n = node(p, JE_LIST, t->line);
        n->kids = sy_jarena_alloc(p->arena, (k + 1) * sizeof(*n->kids));
        memcpy(n->kids, buf, k * sizeof(*buf));
        n->nkids = k;
        p->depth--;
        return n;
    }
    case T_LBRACE: {
        p->pos++;
        enter(p);
        struct sy_jnode *buf[256];
        size_t k = 0;
        while (peek(p)->t != T_RBRACE) {
            if (k == 256)
                fail(p, t->line, "dict literal longer than 128 items");
            buf[k++] = parse_expr(p);
            expect(p, T_COLON, "':' in a dict literal");
            buf[k++] = parse_expr(p);
            if (peek(p)->t == T_COMMA)
                p->pos++;
            else if (peek(p)->t != T_RBRACE)
                fail(p, peek(p)->line, "expected ',' or '}' in a dict literal");
        }
        p->pos++;
        n = node(p, JE_DICT, t->line);
        n->kids = sy_jarena_alloc(p->arena, (k + 1) * sizeof(*n->kids));
        memcpy(n->kids, buf, k * sizeof(*buf));
        n->nkids = k;
        p->depth--;
        return n;
    }
    default: fail(p, t->line, "unexpected token '%.*s'", (int)(t->n > 20 ? 20 : t->n), t->s);
    }
}

static struct sy_jnode *parse_postfix(struct parser *p)
{
    struct sy_jnode *n = parse_primary(p);
    for (;;) {
        struct tok *t = peek(p);
        if (t->t == T_DOT) {
            p->pos++;
            struct tok *name = peek(p);
            if (name->t != T_NAME && name->t != T_INT)
                fail(p, name->line, "expected a name after '.'");
            p->pos++;
            struct sy_jnode *a = node(p, name->t == T_INT ? JE_INDEX : JE_ATTR, t->line);
            a->a = n;
            if (name->t == T_INT) {
                struct sy_jnode *lit = node(p, JE_LIT, t->line);
                lit->lk = JL_INT;
                lit->li = strtoll(dupname(p, name), NULL, 10);
                a->b = lit;
            } else {
                a->str = dupname(p, name);
                a->slen = name->n;
            }
            n = a;
        } else if (t->t == T_LBRACK) {
            p->pos++;
            enter(p);
            struct sy_jnode *parts[3] = {NULL, NULL, NULL};
            int k = 0;
            bool slice = false;
            for (;;) {
                if (peek(p)->t == T_COLON) {
                    slice = true;
                    if (++k > 2)
                        fail(p, t->line, "too many ':' in a slice");
                    p->pos++;
                    continue;
                }
                if (peek(p)->t == T_RBRACK)
                    break;
                if (parts[k])
                    fail(p, t->line, "expected ':' or ']'");
                parts[k] = parse_expr(p);
            }
            p->pos++;
            struct sy_jnode *x;
            if (slice) {
                x = node(p, JE_SLICE, t->line);
                x->kids = sy_jarena_alloc(p->arena, 3 * sizeof(*x->kids));
                memcpy(x->kids, parts, sizeof(parts));
                x->nkids = 3;
            } else {
                if (!parts[0])
                    fail(p, t->line, "empty subscript");
                x = node(p, JE_INDEX, t->line);
                x->b = parts[0];
            }
            x->a = n;
            n = x;
            p->depth--;
        } else if (t->t == T_LPAREN) {
            p->pos++;
            enter(p);
            struct sy_jnode *c = node(p, JE_CALL, t->line);
            c->a = n;
            parse_args(p, c);
            n = c;
            p->depth--;
        } else {
            return n;
        }
    }
}

static struct sy_jnode *parse_filter(struct parser *p)
{
    struct sy_jnode *n = parse_postfix(p);
    while (peek(p)->t == T_PIPE) {
        p->pos++;
        struct tok *name = expect(p, T_NAME, "a filter name");
        struct sy_jnode *f = node(p, JE_FILTER, name->line);
        f->a = n;
        f->str = dupname(p, name);
        f->slen = name->n;
        if (peek(p)->t == T_LPAREN) {
            p->pos++;
            parse_args(p, f);
        }
        n = f;
    }
    return n;
}

static struct sy_jnode *parse_test(struct parser *p)
{
    struct sy_jnode *n = parse_filter(p);
    while (is_name(peek(p), "is")) {
        p->pos++;
        struct sy_jnode *t = node(p, JE_TEST, peek(p)->line);
        if (is_name(peek(p), "not")) {
            t->op = 1;
            p->pos++;
        }
        struct tok *name = expect(p, T_NAME, "a test name");
        t->a = n;
        t->str = dupname(p, name);
        t->slen = name->n;
        if (peek(p)->t == T_LPAREN) {
            p->pos++;
            parse_args(p, t);
        } else if (peek(p)->t == T_STR || peek(p)->t == T_INT || peek(p)->t == T_FLOAT ||
                   (peek(p)->t == T_NAME && !is_name(peek(p), "and") && !is_name(peek(p), "or") &&
                    !is_name(peek(p), "else") && !is_name(peek(p), "if") &&
                    !is_name(peek(p), "is") && !is_name(peek(p), "in") &&
                    !is_name(peek(p), "not"))) {
            /* "x is divisibleby 3", "x is sameas y": one bare argument */
            t->kids = sy_jarena_alloc(p->arena, 2 * sizeof(*t->kids));
            t->names = sy_jarena_alloc(p->arena, 2 * sizeof(*t->names));
            t->kids[0] = parse_postfix(p);
            t->nkids = 1;
        }
        n = t;
    }
    return n;
}

static struct sy_jnode *parse_unary(struct parser *p)
{
    struct tok *t = peek(p);
    if (t->t == T_MINUS || t->t == T_PLUS) {
        p->pos++;
        enter(p);
        struct sy_jnode *n = node(p, JE_UNARY, t->line);
        n->op = t->t == T_MINUS ? '-' : '+';
        n->a = parse_unary(p);
        p->depth--;
        return n;
    }
    return parse_test(p);
}

static struct sy_jnode *bin(struct parser *p, int op, struct sy_jnode *a, struct sy_jnode *b,
                            int line)
{
    struct sy_jnode *n = node(p, JE_BIN, line);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static struct sy_jnode *parse_pow(struct parser *p)
{
    struct sy_jnode *n = parse_unary(p);
    while (peek(p)->t == T_POW) {
        int line = peek(p)->line;
        p->pos++;
        n = bin(p, JOP_POW, n, parse_unary(p), line);
    }
    return n;
}

static struct sy_jnode *parse_mul(struct parser *p)
{
    struct sy_jnode *n = parse_pow(p);
    for (;;) {
        enum tk t = peek(p)->t;
        int op = t == T_MUL        ? JOP_MUL
                 : t == T_DIV      ? JOP_DIV
                 : t == T_FLOORDIV ? JOP_FLOORDIV
                 : t == T_MOD      ? JOP_MOD
                                   : 0;
        if (!op)
            return n;
        int line = peek(p)->line;
        p->pos++;
        n = bin(p, op, n, parse_pow(p), line);
    }
}

static struct sy_jnode *parse_add(struct parser *p)
{
    struct sy_jnode *n = parse_mul(p);
    for (;;) {
        enum tk t = peek(p)->t;
        int op = t == T_PLUS ? JOP_ADD : t == T_MINUS ? JOP_SUB : t == T_TILDE ? JOP_CONCAT : 0;
        if (!op)
            return n;
        int line = peek(p)->line;
        p->pos++;
        n = bin(p, op, n, parse_mul(p), line);
    }
}

static struct sy_jnode *parse_compare(struct parser *p)
{
    struct sy_jnode *n = parse_add(p);
    for (;;) {
        struct tok *t = peek(p);
        int op = 0;
        switch (t->t) {
        case T_EQ: op = JOP_EQ; break;
        case T_NE: op = JOP_NE; break;
        case T_LT: op = JOP_LT; break;
        case T_GT: op = JOP_GT; break;
        case T_LE: op = JOP_LE; break;
        case T_GE: op = JOP_GE; break;
        default:
            if (is_name(t, "in"))
                op = JOP_IN;
            else if (is_name(t, "not") && is_name(peek2(p), "in"))
                op = JOP_NOTIN;
        }
        if (!op)
            return n;
        p->pos += op == JOP_NOTIN ? 2 : 1;
        n = bin(p, op, n, parse_add(p), t->line);
    }
}

static struct sy_jnode *parse_not(struct parser *p)
{
    if (is_name(peek(p), "not")) {
        int line = peek(p)->line;
        p->pos++;
        enter(p);
        struct sy_jnode *n = node(p, JE_UNARY, line);
        n->op = '!';
        n->a = parse_not(p);
        p->depth--;
        return n;
    }
    return parse_compare(p);
}

static struct sy_jnode *parse_and(struct parser *p)
{
    struct sy_jnode *n = parse_not(p);
    while (is_name(peek(p), "and")) {
        struct sy_jnode *x = node(p, JE_AND, peek(p)->line);
        p->pos++;
        x->a = n;
        x->b = parse_not(p);
        n = x;
    }
    return n;
}

static struct sy_jnode *parse_or(struct parser *p)
{
    struct sy_jnode *n = parse_and(p);
    while (is_name(peek(p), "or")) {
        struct sy_jnode *x = node(p, JE_OR, peek(p)->line);
        p->pos++;
        x->a = n;
        x->b = parse_and(p);
        n = x;
    }
    return n;
}

static struct sy_jnode *parse_expr(struct parser *p)
{
    enter(p);
    struct sy_jnode *n = parse_or(p);
    if (is_name(peek(p), "if")) {
        struct sy_jnode *c = node(p, JE_COND, peek(p)->line);
        p->pos++;
        c->b = n;
        c->a = parse_or(p);
        if (is_name(peek(p), "else")) {
            p->pos++;
            c->c = parse_expr(p);
        }
        n = c;
    }
    p->depth--;
    return n;
}

/* ---- statements ---- */

static struct sy_jnode **parse_body(struct parser *p, size_t *count, const char *const *stops);

/* True when the cursor is at "{% <one of stops>". */
static bool at_stop(struct parser *p, const char *const *stops)
{
    if (peek(p)->t != T_OSTMT)
        return false;
    for (size_t i = 0; stops && stops[i]; i++)
        if (is_name(peek2(p), stops[i]))
            return true;
    return false;
}

static void close_stmt(struct parser *p)
{
    expect(p, T_CSTMT, "'%}'");
}

/* Parses targets "a" or "a, b" (or "(a, b)") into names. */
static void parse_targets(struct parser *p, struct sy_jnode *n)
{
    const char *buf[16];
    size_t k = 0;
    bool paren = peek(p)->t == T_LPAREN;
    if (paren)
        p->pos++;
    for (;;) {
        struct tok *t = expect(p, T_NAME, "a variable name");
        if (k == 16)
            fail(p, t->line, "more than 16 targets");
        buf[k++] = dupname(p, t);
        if (peek(p)->t != T_COMMA)
            break;
        p->pos++;
    }
    if (paren)
        expect(p, T_RPAREN, "')'");
    n->names = sy_jarena_alloc(p->arena, (k + 1) * sizeof(*n->names));
    memcpy(n->names, buf, k * sizeof(*buf));
    n->nnames = k;
}

static struct sy_jnode *parse_if(struct parser *p, int line)
{
    static const char *const stops[] = {"elif", "else", "endif", NULL};
    struct sy_jnode *n = node(p, JN_IF, line);
    n->a = parse_expr(p);
    close_stmt(p);
    n->body = parse_body(p, &n->nbody, stops);
    struct tok *kw = peek2(p);
    p->pos += 2;
    if (is_name(kw, "elif")) {
        n->alt = sy_jarena_alloc(p->arena, sizeof(*n->alt));
        n->alt[0] = parse_if(p, kw->line); /* consumes the endif */
        n->nalt = 1;
        return n;
    }
    if (is_name(kw, "else")) {
        static const char *const end[] = {"endif", NULL};
        close_stmt(p);
        n->alt = parse_body(p, &n->nalt, end);
        p->pos += 2;
    }
    close_stmt(p);
    return n;
}

static struct sy_jnode *parse_for(struct parser *p, int line)
{
    static const char *const stops[] = {"else", "endfor", NULL};
    struct sy_jnode *n = node(p, JN_FOR, line);
    parse_targets(p, n);
    expect_name(p, "in");
    n->a = parse_or(p); /* "if" after the iterable is the loop filter */
    if (is_name(peek(p), "if")) {
        p->pos++;
        n->b = parse_expr(p);
    }
    if (is_name(peek(p), "recursive"))
        fail(p, line, "recursive loops are not supported");
    close_stmt(p);
    n->body = parse_body(p, &n->nbody, stops);
    bool has_else = is_name(peek2(p), "else");
    p->pos += 2;
    if (has_else) {
        static const char *const end[] = {"endfor", NULL};
        close_stmt(p);
        n->alt = parse_body(p, &n->nalt, end);
        p->pos += 2;
    }
    close_stmt(p);
    return n;
}

static struct sy_jnode *parse_set(struct parser *p, int line)
{
    struct sy_jnode *n = node(p, JN_SET, line);
    if (peek(p)->t == T_NAME && peek2(p)->t == T_DOT) { /* ns.attr = value */
        struct tok *obj = peek(p);
        p->pos += 2;
        struct tok *attr = expect(p, T_NAME, "an attribute name");
        struct sy_jnode *target = node(p, JE_ATTR, line);
        target->a = node(p, JE_NAME, line);
        target->a->str = dupname(p, obj);
        target->a->slen = obj->n;
        target->str = dupname(p, attr);
        target->slen = attr->n;
        n->a = target;
    } else {
        parse_targets(p, n);
    }
    if (peek(p)->t == T_CSTMT && !n->a && n->nnames == 1) { /* block set */
        static const char *const stops[] = {"endset", NULL};
        close_stmt(p);
        n->kind = JN_SETBLOCK;
        n->body = parse_body(p, &n->nbody, stops);
        p->pos += 2;
        close_stmt(p);
        return n;
    }
    expect(p, T_ASSIGN, "'='");
    struct sy_jnode *v = parse_expr(p);
    if (peek(p)->t == T_COMMA) { /* set a, b = x, y */
        struct sy_jnode *buf[16];
        size_t k = 0;
        buf[k++] = v;
        while (peek(p)->t == T_COMMA) {
            p->pos++;
            if (k == 16)
                fail(p, line, "tuple longer than 16 items");
            buf[k++] = parse_expr(p);
        }
        v = node(p, JE_TUPLE, line);
        v->kids = sy_jarena_alloc(p->arena, k * sizeof(*v->kids));
        memcpy(v->kids, buf, k * sizeof(*buf));
        v->nkids = k;
    }
    n->b = v;
    close_stmt(p);
    return n;
}

static struct sy_jnode *parse_macro(struct parser *p, int line)
{
    static const char *const stops[] = {"endmacro", NULL};
    struct sy_jnode *n = node(p, JN_MACRO, line);
    struct tok *name = expect(p, T_NAME, "a macro name");
    n->str = dupname(p, name);
    n->slen = name->n;
    expect(p, T_LPAREN, "'('");
    const char *params[32];
    struct sy_jnode *defs[32];
    size_t k = 0;
    while (peek(p)->t != T_RPAREN) {
        struct tok *t = expect(p, T_NAME, "a parameter name");
        if (k == 32)
            fail(p, t->line, "more than 32 macro parameters");
        params[k] = dupname(p, t);
        defs[k] = NULL;
        if (peek(p)->t == T_ASSIGN) {
            p->pos++;
            defs[k] = parse_expr(p);
        }
        k++;
        if (peek(p)->t == T_COMMA)
            p->pos++;
        else if (peek(p)->t != T_RPAREN)
            fail(p, peek(p)->line, "expected ',' or ')' in macro parameters");
    }
    p->pos++;
    n->names = sy_jarena_alloc(p->arena, (k + 1) * sizeof(*n->names));
    n->kids = sy_jarena_alloc(p->arena, (k + 1) * sizeof(*n->kids));
    memcpy(n->names, params, k * sizeof(*params));
    memcpy(n->kids, defs, k * sizeof(*defs));
    n->nnames = n->nkids = k;
    close_stmt(p);
    n->body = parse_body(p, &n->nbody, stops);
    p->pos += 2;
    if (peek(p)->t == T_NAME) /* {% endmacro name %} */
        p->pos++;
    close_stmt(p);
    return n;
}

static struct sy_jnode *parse_stmt(struct parser *p)
{
    struct tok *open = expect(p, T_OSTMT, "'{%'");
    struct tok *kw = expect(p, T_NAME, "a statement keyword");
    int line = open->line;
    if (is_name(kw, "if"))
        return parse_if(p, line);
    if (is_name(kw, "for"))
        return parse_for(p, line);
    if (is_name(kw, "set"))
        return parse_set(p, line);
    if (is_name(kw, "macro"))
        return parse_macro(p, line);
    if (is_name(kw, "break") || is_name(kw, "continue")) {
        struct sy_jnode *n = node(p, is_name(kw, "break") ? JN_BREAK : JN_CONTINUE, line);
        close_stmt(p);
        return n;
    }
    if (is_name(kw, "generation") || is_name(kw, "endgeneration")) {
        close_stmt(p);
        return NULL; /* assistant-mask markers render nothing */
    }
    fail(p, line, "unknown or misplaced statement '%.*s'", (int)(kw->n > 20 ? 20 : kw->n), kw->s);
}

/* Parses statements until EOF or "{% stop" (not consumed); returns an arena array. */
static struct sy_jnode **parse_body(struct parser *p, size_t *count, const char *const *stops)
{
    enter(p);
    /* an arena-backed growable array: a longjmp cannot leak it */
    struct sy_jnode **v = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        struct tok *t = peek(p);
        if (t->t == T_EOF) {
            if (stops)
                fail(p, t->line, "unexpected end of template: missing {%% %s %%}",
                     stops[0] && stops[1] ? stops[stops[2] ? 2 : 1] : stops[0]);
            break;
        }
        if (stops && at_stop(p, stops))
            break;
        struct sy_jnode *s = NULL;
        if (t->t == T_TEXT) {
            p->pos++;
            s = node(p, JN_TEXT, t->line);
            s->str = t->s;
            s->slen = t->n;
        } else if (t->t == T_OEXPR) {
            p->pos++;
            s = node(p, JN_OUTPUT, t->line);
            s->a = parse_expr(p);
            expect(p, T_CEXPR, "'}}'");
        } else if (t->t == T_OSTMT) {
            s = parse_stmt(p);
        } else {
            fail(p, t->line, "unexpected '%.*s' outside a tag", (int)t->n, t->s);
        }
        if (!s)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct sy_jnode **nv = sy_jarena_alloc(p->arena, ncap * sizeof(*nv));
            if (n)
                memcpy(nv, v, n * sizeof(*v));
            v = nv;
            cap = ncap;
        }
        v[n++] = s;
    }
    *count = n;
    p->depth--;
    return v;
}

struct sy_jinja *sy_jinja_compile(const char *src, size_t len, char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!src)
        return NULL;
    struct sy_jinja *t = SY_NEW(struct sy_jinja);
    struct parser *p = SY_NEW(struct parser);
    p->arena = &t->arena;
    p->err = err;
    p->errcap = errcap;
    size_t plen;
    char *pre = preprocess(src, len, &plen);
    char *text = sy_jarena_strndup(&t->arena, pre, plen);
    free(pre);
    if (setjmp(p->jb)) {
        free(p->toks);
        free(p);
        sy_jinja_free(t);
        return NULL;
    }
    lex(p, text, plen);
    t->body = parse_body(p, &t->nbody, NULL);
    free(p->toks);
    free(p);
    return t;
}

void sy_jinja_free(struct sy_jinja *t)
{
    if (!t)
        return;
    sy_jarena_free(&t->arena);
    free(t);
}
