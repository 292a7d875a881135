/* jinja_eval.c - the Jinja interpreter: values, scopes, statements, operators and builtins.
 *
 * Values are small tagged structs passed by value; strings, lists and dicts point into the
 * render's arena, so a render allocates nothing that outlives it and an error anywhere unwinds
 * with one longjmp to sy_jinja_render(), which frees the arena and any capture buffers:
 *
 *   struct jval { type | int / double / (ptr, len) / list* / dict* / builtin id / macro node }
 *   scope chain: frame(for body / macro call) -> ... -> globals (the caller's variables)
 *
 * Semantics follow Python Jinja2 as transformers runs it (the engine renders templates with
 * Jinja2, so that is what the ids must match): Python truthiness, str() of values (None, True,
 * 1.0, ['a']), str.strip()/split() without arguments on Unicode whitespace, tojson as
 * json.dumps(ensure_ascii=False). The places where @huggingface/jinja differs from Jinja2 are
 * listed in docs/tokenizer.md. Lists and dicts are mutable (namespace attributes, list.append)
 * and shared by reference, as in Python.
 *
 * Limits: output and arena bytes (SY_JINJA_MAX_OUTPUT), evaluation steps (SY_JINJA_MAX_STEPS)
 * and call depth (SY_JINJA_CALL_DEPTH) bound hostile templates.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/err.h"
#include "tokenize/internal.h"
#include "tokenize/jinja.h"
#include "tokenize/jinja_int.h"

#define SY_JINJA_CALL_DEPTH 64 /* nested macro calls and block captures */

enum jt { J_UNDEF, J_NONE, J_BOOL, J_INT, J_FLOAT, J_STR, J_LIST, J_DICT, J_FUNC, J_MACRO };

struct jlist;
struct jdict;

struct jval {
    enum jt t; /* type */
    union {
        int64_t i; /* J_BOOL, J_INT, J_FUNC (builtin id) */
        double f;  /* J_FLOAT */
        struct {
            const char *p; /* J_STR bytes (arena or borrowed, not NUL-terminated) */
            size_t n;      /* length */
        } s;
        struct jlist *l;          /* J_LIST */
        struct jdict *d;          /* J_DICT */
        const struct sy_jnode *m; /* J_MACRO */
    };
};

struct jlist {
    struct jval *v; /* arena */
    size_t n, cap;  /* used / allocated */
};

struct jdict {
    const char **kp; /* key bytes (arena) */
    size_t *kn;      /* key lengths */
    struct jval *v;  /* values */
    size_t n, cap;   /* used / allocated */
};

struct frame {
    struct frame *parent; /* enclosing scope (NULL for globals) */
    struct jdict vars;    /* this scope's variables */
};

enum builtin { B_RANGE = 1, B_NAMESPACE, B_RAISE, B_STRFTIME, B_DICT };

struct ctx {
    struct sy_jarena arena;                       /* everything a render allocates */
    jmp_buf jb;                                   /* error exit */
    char *err;                                    /* caller's buffer */
    size_t errcap;                                /* its capacity */
    int rc;                                       /* error code when jumping */
    struct sy_buf *out;                           /* current output (caller's or a capture) */
    struct sy_buf *caps[SY_JINJA_CALL_DEPTH + 1]; /* live capture buffers (freed on error) */
    int ncaps;                                    /* entries */
    uint64_t steps;                               /* evaluation steps so far */
    struct frame *globals;                        /* root scope */
};

static const struct jval UNDEF = {.t = J_UNDEF};
static const struct jval NONE = {.t = J_NONE};

__attribute__((noreturn, format(printf, 3, 4))) static void rfail(struct ctx *c, int line,
                                                                  const char *fmt, ...)
{
    if (c->err && c->errcap) {
        int k = line > 0 ? snprintf(c->err, c->errcap, "line %d: ", line) : 0;
        va_list ap;
        va_start(ap, fmt);
        if (k >= 0 && (size_t)k < c->errcap)
            vsnprintf(c->err + k, c->errcap - (size_t)k, fmt, ap);
        va_end(ap);
    }
    c->rc = SY_EPARSE;
    longjmp(c->jb, 1);
}

static void step(struct ctx *c, int line)
{
    if (++c->steps > SY_JINJA_MAX_STEPS) {
        c->rc = SY_ETOOBIG;
        if (c->err && c->errcap)
            snprintf(c->err, c->errcap, "line %d: template exceeds %u evaluation steps", line,
                     SY_JINJA_MAX_STEPS);
        longjmp(c->jb, 1);
    }
}

static void out_append(struct ctx *c, const char *p, size_t n)
{
    if (c->out->len + n > SY_JINJA_MAX_OUTPUT) {
        c->rc = SY_ETOOBIG;
        if (c->err && c->errcap)
            snprintf(c->err, c->errcap, "template output exceeds %u bytes", SY_JINJA_MAX_OUTPUT);
        longjmp(c->jb, 1);
    }
    sy_buf_append(c->out, p, n);
}

/* ---- constructors ---- */

static struct jval vbool(bool b)
{
    return (struct jval){.t = J_BOOL, .i = b};
}

static struct jval vint(int64_t i)
{
    return (struct jval){.t = J_INT, .i = i};
}

static struct jval vfloat(double f)
{
    return (struct jval){.t = J_FLOAT, .f = f};
}

static struct jval vstr(const char *p, size_t n)
{
    return (struct jval){.t = J_STR, .s = {p, n}};
}

static struct jval vstr_dup(struct ctx *c, const char *p, size_t n)
{
    return vstr(sy_jarena_strndup(&c->arena, p, n), n);
}

static struct jval vstr_buf(struct ctx *c, struct sy_buf *b)
{
    struct jval v = vstr_dup(c, b->data ? b->data : "", b->len);
    sy_buf_fini(b);
    return v;
}

static struct jval vlist(struct ctx *c, size_t cap)
{
    struct jlist *l = sy_jarena_alloc(&c->arena, sizeof(*l));
    l->cap = cap ? cap : 4;
    l->v = sy_jarena_alloc(&c->arena, l->cap * sizeof(*l->v));
    return (struct jval){.t = J_LIST, .l = l};
}

static void list_push(struct ctx *c, struct jlist *l, struct jval v)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap * 2;
        struct jval *nv = sy_jarena_alloc(&c->arena, ncap * sizeof(*nv));
        memcpy(nv, l->v, l->n * sizeof(*nv));
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = v;
}

static struct jval vdict(struct ctx *c)
{
    struct jdict *d = sy_jarena_alloc(&c->arena, sizeof(*d));
    return (struct jval){.t = J_DICT, .d = d};
}

static struct jval *dict_get(const struct jdict *d, const char *k, size_t kn)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->kn[i] == kn && memcmp(d->kp[i], k, kn) == 0)
            return &d->v[i];
    return NULL;
}

static void dict_set(struct ctx *c, struct jdict *d, const char *k, size_t kn, struct jval v)
{
    struct jval *slot = dict_get(d, k, kn);
    if (slot) {
        *slot = v;
        return;
    }
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 8;
        const char **kp = sy_jarena_alloc(&c->arena, ncap * sizeof(*kp));
        size_t *knn = sy_jarena_alloc(&c->arena, ncap * sizeof(*knn));
        struct jval *nv = sy_jarena_alloc(&c->arena, ncap * sizeof(*nv));
        if (d->n) {
            memcpy(kp, d->kp, d->n * sizeof(*kp));
            memcpy(knn, d->kn, d->n * sizeof(*knn));
            memcpy(nv, d->v, d->n * sizeof(*nv));
        }
        d->kp = kp;
        d->kn = knn;
        d->v = nv;
        d->cap = ncap;
    }
    d->kp[d->n] = k;
    d->kn[d->n] = kn;
    d->v[d->n++] = v;
}

static struct jval from_json(struct ctx *c, const cJSON *j, int depth)
{
    if (depth > 200)
        rfail(c, 0, "variables nested deeper than 200 levels");
    if (cJSON_IsNull(j))
        return NONE;
    if (cJSON_IsBool(j))
        return vbool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            return vint((int64_t)d);
        return vfloat(d);
    }
    if (cJSON_IsString(j))
        return vstr(j->valuestring, strlen(j->valuestring));
    if (cJSON_IsArray(j)) {
        struct jval l = vlist(c, (size_t)cJSON_GetArraySize(j));
        const cJSON *it;
        cJSON_ArrayForEach(it, j) list_push(c, l.l, from_json(c, it, depth + 1));
        return l;
    }
    if (cJSON_IsObject(j)) {
        struct jval d = vdict(c);
        const cJSON *it;
        cJSON_ArrayForEach(it, j)
        {
            dict_set(c, d.d, it->string, strlen(it->string), from_json(c, it, depth + 1));
        }
        return d;
    }
    return UNDEF;
}

/* ---- conversions ---- */

static bool truthy(struct jval v)
{
    switch (v.t) {
    case J_UNDEF:
    case J_NONE: return false;
    case J_BOOL:
    case J_INT: return v.i != 0;
    case J_FLOAT: return v.f != 0.0;
    case J_STR: return v.s.n > 0;
    case J_LIST: return v.l->n > 0;
    case J_DICT: return v.d->n > 0;
    default: return true;
    }
}

static const char *type_name(struct jval v)
{
    static const char *const names[] = {"undefined", "none", "bool", "int",      "float",
                                        "str",       "list", "dict", "function", "macro"};
    return names[v.t];
}

/* Python repr() of a float. */
static void put_float(struct sy_buf *b, double f)
{
    if (isnan(f)) {
        sy_buf_puts(b, "nan");
        return;
    }
    if (isinf(f)) {
        sy_buf_puts(b, f < 0 ? "-inf" : "inf");
        return;
    }
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    /* Python switches to exponent notation at 1e16 and below 1e-4, like %g does */
    if (!strchr(tmp, '.') && !strchr(tmp, 'e') && !strchr(tmp, 'n') && !strchr(tmp, 'i'))
        strcat(tmp, ".0");
    char *e = strchr(tmp, 'e');
    if (e && (e[2] == '0') && e[3]) /* 1e+05 -> 1e+05 in C; Python prints 1e+16 style too */
        memmove(e + 2, e + 3, strlen(e + 3) + 1);
    sy_buf_puts(b, tmp);
}

static void put_repr(struct ctx *c, struct sy_buf *b, struct jval v, int depth);

static void put_str(struct ctx *c, struct sy_buf *b, struct jval v, int depth)
{
    switch (v.t) {
    case J_UNDEF: break;
    case J_NONE: sy_buf_puts(b, "None"); break;
    case J_BOOL: sy_buf_puts(b, v.i ? "True" : "False"); break;
    case J_INT: sy_buf_printf(b, "%lld", (long long)v.i); break;
    case J_FLOAT: put_float(b, v.f); break;
    case J_STR: sy_buf_append(b, v.s.p, v.s.n); break;
    case J_LIST:
    case J_DICT: put_repr(c, b, v, depth); break;
    case J_FUNC:
    case J_MACRO: sy_buf_puts(b, "<function>"); break;
    }
}

static void put_repr(struct ctx *c, struct sy_buf *b, struct jval v, int depth)
{
    if (depth > 100)
        rfail(c, 0, "value nested too deeply to print");
    if (v.t == J_STR) {
        bool sq = memchr(v.s.p, '\'', v.s.n) && !memchr(v.s.p, '"', v.s.n);
        char q = sq ? '"' : '\'';
        sy_buf_append(b, &q, 1);
        for (size_t i = 0; i < v.s.n; i++) {
            unsigned char ch = (unsigned char)v.s.p[i];
            if (ch == '\\' || ch == (unsigned char)q) {
                sy_buf_append(b, "\\", 1);
                sy_buf_append(b, &v.s.p[i], 1);
            } else if (ch == '\n') {
                sy_buf_puts(b, "\\n");
            } else if (ch == '\r') {
                sy_buf_puts(b, "\\r");
            } else if (ch == '\t') {
                sy_buf_puts(b, "\\t");
            } else if (ch < 0x20 || ch == 0x7f) {
                sy_buf_printf(b, "\\x%02x", ch);
            } else {
                sy_buf_append(b, &v.s.p[i], 1);
            }
        }
        sy_buf_append(b, &q, 1);
    } else if (v.t == J_LIST) {
        sy_buf_puts(b, "[");
        for (size_t i = 0; i < v.l->n; i++) {
            if (i)
                sy_buf_puts(b, ", ");
            put_repr(c, b, v.l->v[i], depth + 1);
        }
        sy_buf_puts(b, "]");
    } else if (v.t == J_DICT) {
        sy_buf_puts(b, "{");
        for (size_t i = 0; i < v.d->n; i++) {
            if (i)
                sy_buf_puts(b, ", ");
            put_repr(c, b, vstr(v.d->kp[i], v.d->kn[i]), depth + 1);
            sy_buf_puts(b, ": ");
            put_repr(c, b, v.d->v[i], depth + 1);
        }
        sy_buf_puts(b, "}");
    } else if (v.t == J_UNDEF) {
        sy_buf_puts(b, "Undefined");
    } else {
        put_str(c, b, v, depth);
    }
}

static struct jval to_str(struct ctx *c, struct jval v)
{
    if (v.t == J_STR)
        return v;
    struct sy_buf b;
    sy_buf_init(&b);
    put_str(c, &b, v, 0);
    return vstr_buf(c, &b);
}

/* json.dumps(v, ensure_ascii=False, indent=indent) */
static void put_json(struct ctx *c, struct sy_buf *b, struct jval v, int indent, int depth,
                     bool sort_keys)
{
    if (depth > 100)
        rfail(c, 0, "value nested too deeply for tojson");
    switch (v.t) {
    case J_UNDEF:
    case J_NONE: sy_buf_puts(b, "null"); return;
    case J_BOOL: sy_buf_puts(b, v.i ? "true" : "false"); return;
    case J_INT: sy_buf_printf(b, "%lld", (long long)v.i); return;
    case J_FLOAT:
        if (isnan(v.f) || isinf(v.f))
            sy_buf_puts(b, isnan(v.f) ? "NaN" : v.f < 0 ? "-Infinity" : "Infinity");
        else
            put_float(b, v.f);
        return;
    case J_STR:
        sy_buf_puts(b, "\"");
        for (size_t i = 0; i < v.s.n; i++) {
            unsigned char ch = (unsigned char)v.s.p[i];
            switch (ch) {
            case '"': sy_buf_puts(b, "\\\""); break;
            case '\\': sy_buf_puts(b, "\\\\"); break;
            case '\n': sy_buf_puts(b, "\\n"); break;
            case '\r': sy_buf_puts(b, "\\r"); break;
            case '\t': sy_buf_puts(b, "\\t"); break;
            case '\b': sy_buf_puts(b, "\\b"); break;
            case '\f': sy_buf_puts(b, "\\f"); break;
            default:
                if (ch < 0x20)
                    sy_buf_printf(b, "\\u%04x", ch);
                else
                    sy_buf_append(b, &v.s.p[i], 1);
            }
        }
        sy_buf_puts(b, "\"");
        return;
    case J_LIST:
    case J_DICT: {
        bool list = v.t == J_LIST;
        size_t n = list ? v.l->n : v.d->n;
        sy_buf_puts(b, list ? "[" : "{");
        size_t *order = NULL;
        if (!list && sort_keys && n > 1) {
            order = sy_jarena_alloc(&c->arena, n * sizeof(*order));
            for (size_t i = 0; i < n; i++)
                order[i] = i;
            for (size_t i = 1; i < n; i++) { /* insertion sort by key bytes */
                size_t k = order[i], j = i;
                while (j > 0) {
                    size_t o = order[j - 1];
                    size_t m = v.d->kn[o] < v.d->kn[k] ? v.d->kn[o] : v.d->kn[k];
                    int r = memcmp(v.d->kp[o], v.d->kp[k], m);
                    if (r < 0 || (r == 0 && v.d->kn[o] <= v.d->kn[k]))
                        break;
                    order[j] = o;
                    j--;
                }
                order[j] = k;
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (i)
                sy_buf_puts(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) {
                sy_buf_puts(b, "\n");
                for (int k = 0; k < indent * (depth + 1); k++)
                    sy_buf_puts(b, " ");
            }
            if (list) {
                put_json(c, b, v.l->v[i], indent, depth + 1, sort_keys);
            } else {
                size_t k = order ? order[i] : i;
                put_json(c, b, vstr(v.d->kp[k], v.d->kn[k]), indent, depth + 1, sort_keys);
                sy_buf_puts(b, ": ");
                put_json(c, b, v.d->v[k], indent, depth + 1, sort_keys);
            }
        }
        if (indent >= 0 && n) {
            sy_buf_puts(b, "\n");
            for (int k = 0; k < indent * depth; k++)
                sy_buf_puts(b, " ");
        }
        sy_buf_puts(b, list ? "]" : "}");
        return;
    }
    default: rfail(c, 0, "cannot convert a %s to JSON", type_name(v));
    }
}

/* ---- equality and ordering ---- */

static bool is_num(struct jval v)
{
    return v.t == J_INT || v.t == J_FLOAT || v.t == J_BOOL;
}

static double num(struct jval v)
{
    return v.t == J_FLOAT ? v.f : (double)v.i;
}

static bool eq(struct jval a, struct jval b, int depth)
{
    if (depth > 100)
        return false;
    if (is_num(a) && is_num(b)) {
        if (a.t != J_FLOAT && b.t != J_FLOAT)
            return a.i == b.i;
        return num(a) == num(b);
    }
    if (a.t != b.t)
        return false;
    switch (a.t) {
    case J_UNDEF:
    case J_NONE: return true;
    case J_STR: return a.s.n == b.s.n && memcmp(a.s.p, b.s.p, a.s.n) == 0;
    case J_LIST:
        if (a.l->n != b.l->n)
            return false;
        for (size_t i = 0; i < a.l->n; i++)
            if (!eq(a.l->v[i], b.l->v[i], depth + 1))
                return false;
        return true;
    case J_DICT:
        if (a.d->n != b.d->n)
            return false;
        for (size_t i = 0; i < a.d->n; i++) {
            struct jval *o = dict_get(b.d, a.d->kp[i], a.d->kn[i]);
            if (!o || !eq(a.d->v[i], *o, depth + 1))
                return false;
        }
        return true;
    case J_FUNC: return a.i == b.i;
    case J_MACRO: return a.m == b.m;
    default: return false;
    }
}

/* Returns <0, 0, >0; fails on incomparable types. */
static int cmp(struct ctx *c, int line, struct jval a, struct jval b)
{
    if (is_num(a) && is_num(b)) {
        if (a.t != J_FLOAT && b.t != J_FLOAT)
            return a.i < b.i ? -1 : a.i > b.i;
        double x = num(a), y = num(b);
        return x < y ? -1 : x > y;
    }
    if (a.t == J_STR && b.t == J_STR) {
        size_t m = a.s.n < b.s.n ? a.s.n : b.s.n;
        int r = memcmp(a.s.p, b.s.p, m);
        return r ? r : (a.s.n > b.s.n) - (a.s.n < b.s.n);
    }
    rfail(c, line, "cannot compare %s with %s", type_name(a), type_name(b));
}

/* ---- string helpers (code points) ---- */

static size_t cp_count(struct jval s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.s.n; i++)
        n += ((unsigned char)s.s.p[i] & 0xC0) != 0x80;
    return n;
}

/* Byte offset of code point index k (k <= count). */
static size_t cp_offset(struct jval s, size_t k)
{
    size_t i = 0;
    while (i < s.s.n && k) {
        i++;
        while (i < s.s.n && ((unsigned char)s.s.p[i] & 0xC0) == 0x80)
            i++;
        k--;
    }
    return i;
}

static bool py_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static bool in_chars(uint32_t cp, const struct jval *chars)
{
    if (!chars)
        return py_space(cp);
    for (size_t i = 0; i < chars->s.n;) {
        uint32_t x;
        i += sy_tokenize__utf8_dec((const unsigned char *)chars->s.p + i, chars->s.n - i, &x);
        if (x == cp)
            return true;
    }
    return false;
}

/* Python str.strip/lstrip/rstrip(chars) (chars NULL = whitespace). */
static struct jval strip(struct jval s, const struct jval *chars, bool left, bool right)
{
    const unsigned char *p = (const unsigned char *)s.s.p;
    size_t a = 0, b = s.s.n;
    while (left && a < b) {
        uint32_t cp;
        size_t k = sy_tokenize__utf8_dec(p + a, b - a, &cp);
        if (!in_chars(cp, chars))
            break;
        a += k;
    }
    while (right && b > a) {
        size_t k = b - 1;
        while (k > a && (p[k] & 0xC0) == 0x80)
            k--;
        uint32_t cp;
        sy_tokenize__utf8_dec(p + k, b - k, &cp);
        if (!in_chars(cp, chars))
            break;
        b = k;
    }
    return vstr(s.s.p + a, b - a);
}

static const char *memmem_(const char *h, size_t hn, const char *n, size_t nn)
{
    if (nn == 0)
        return h;
    if (nn > hn)
        return NULL;
    return memmem(h, hn, n, nn);
}

/* ---- forward declarations ---- */

static struct jval eval(struct ctx *c, struct frame *f, const struct sy_jnode *n);
static int exec_body(struct ctx *c, struct frame *f, struct sy_jnode *const *body, size_t n);
static struct jval call_macro(struct ctx *c, const struct sy_jnode *m, struct jval *args,
                              const char **kw, size_t nargs, int line);
static struct jval apply_filter(struct ctx *c, int line, const char *name, struct jval v,
                                struct jval *args, const char **kw, size_t nargs);
static bool apply_test(struct ctx *c, int line, const char *name, struct jval v, struct jval *args,
                       size_t nargs);

/* ---- scopes ---- */

static struct jval lookup(struct frame *f, const char *name, size_t n)
{
    for (; f; f = f->parent) {
        struct jval *v = dict_get(&f->vars, name, n);
        if (v)
            return *v;
    }
    return UNDEF;
}

static struct frame *new_frame(struct ctx *c, struct frame *parent)
{
    struct frame *f = sy_jarena_alloc(&c->arena, sizeof(*f));
    f->parent = parent;
    return f;
}

/* ---- indexing ---- */

static struct jval getattr_(struct jval obj, const char *name, size_t n)
{
    if (obj.t == J_DICT) {
        struct jval *v = dict_get(obj.d, name, n);
        return v ? *v : UNDEF;
    }
    return UNDEF;
}

static struct jval getitem(struct ctx *c, int line, struct jval obj, struct jval key)
{
    if (obj.t == J_DICT) {
        if (key.t != J_STR)
            return UNDEF;
        return getattr_(obj, key.s.p, key.s.n);
    }
    if ((obj.t == J_LIST || obj.t == J_STR) && (key.t == J_INT || key.t == J_BOOL)) {
        int64_t len = obj.t == J_LIST ? (int64_t)obj.l->n : (int64_t)cp_count(obj);
        int64_t i = key.i < 0 ? key.i + len : key.i;
        if (i < 0 || i >= len)
            return UNDEF;
        if (obj.t == J_LIST)
            return obj.l->v[i];
        size_t a = cp_offset(obj, (size_t)i), b = cp_offset(obj, (size_t)i + 1);
        return vstr(obj.s.p + a, b - a);
    }
    if (obj.t == J_UNDEF)
        return UNDEF;
    (void)c;
    (void)line;
    return UNDEF;
}

static struct jval slice(struct ctx *c, int line, struct jval obj, struct jval *parts)
{
    if (obj.t != J_LIST && obj.t != J_STR)
        rfail(c, line, "cannot slice a %s", type_name(obj));
    int64_t len = obj.t == J_LIST ? (int64_t)obj.l->n : (int64_t)cp_count(obj);
    int64_t stepv = 1;
    for (int k = 0; k < 3; k++)
        if (parts[k].t != J_UNDEF && parts[k].t != J_NONE && parts[k].t != J_INT)
            rfail(c, line, "slice indices must be integers");
    if (parts[2].t == J_INT)
        stepv = parts[2].i;
    if (stepv == 0)
        rfail(c, line, "slice step cannot be zero");
    int64_t start, stop;
    if (stepv > 0) {
        start = parts[0].t == J_INT ? parts[0].i : 0;
        stop = parts[1].t == J_INT ? parts[1].i : len;
        if (start < 0)
            start = start + len < 0 ? 0 : start + len;
        if (start > len)
            start = len;
        if (stop < 0)
            stop = stop + len < 0 ? 0 : stop + len;
        if (stop > len)
            stop = len;
    } else {
        start = parts[0].t == J_INT ? parts[0].i : len - 1;
        stop = parts[1].t == J_INT ? parts[1].i : -1 - len;
        if (start < 0)
            start = start + len < 0 ? -1 : start + len;
        if (start >= len)
            start = len - 1;
        if (stop < 0)
            stop = stop + len < 0 ? -1 : stop + len;
        if (stop >= len)
            stop = len - 1;
    }
    if (obj.t == J_LIST) {
        struct jval out = vlist(c, 0);
        for (int64_t i = start; stepv > 0 ? i < stop : i > stop; i += stepv)
            list_push(c, out.l, obj.l->v[i]);
        return out;
    }
    struct sy_buf b;
    sy_buf_init(&b);
    for (int64_t i = start; stepv > 0 ? i < stop : i > stop; i += stepv) {
        size_t a = cp_offset(obj, (size_t)i), e = cp_offset(obj, (size_t)i + 1);
        sy_buf_append(&b, obj.s.p + a, e - a);
    }
    return vstr_buf(c, &b);
}

/* ---- operators ---- */

static struct jval binop(struct ctx *c, int line, int op, struct jval a, struct jval b)
{
    switch (op) {
    case JOP_EQ: return vbool(eq(a, b, 0));
    case JOP_NE: return vbool(!eq(a, b, 0));
    case JOP_LT: return vbool(cmp(c, line, a, b) < 0);
    case JOP_GT: return vbool(cmp(c, line, a, b) > 0);
    case JOP_LE: return vbool(cmp(c, line, a, b) <= 0);
    case JOP_GE: return vbool(cmp(c, line, a, b) >= 0);
    case JOP_IN:
    case JOP_NOTIN: {
        bool r = false;
        if (b.t == J_STR) {
            if (a.t != J_STR)
                rfail(c, line, "'in <string>' requires a string on the left, not %s", type_name(a));
            r = memmem_(b.s.p, b.s.n, a.s.p, a.s.n) != NULL;
        } else if (b.t == J_LIST) {
            for (size_t i = 0; i < b.l->n && !r; i++)
                r = eq(a, b.l->v[i], 0);
        } else if (b.t == J_DICT) {
            r = a.t == J_STR && dict_get(b.d, a.s.p, a.s.n);
        } else if (b.t != J_UNDEF) {
            rfail(c, line, "argument of type %s is not iterable", type_name(b));
        }
        return vbool(op == JOP_IN ? r : !r);
    }
    case JOP_CONCAT: {
        struct sy_buf s;
        sy_buf_init(&s);
        put_str(c, &s, a, 0);
        put_str(c, &s, b, 0);
        return vstr_buf(c, &s);
    }
    default: break;
    }
    if (op == JOP_ADD && a.t == J_STR && b.t == J_STR) {
        char *p = sy_jarena_alloc(&c->arena, a.s.n + b.s.n + 1);
        memcpy(p, a.s.p, a.s.n);
        memcpy(p + a.s.n, b.s.p, b.s.n);
        return vstr(p, a.s.n + b.s.n);
    }
    if (op == JOP_ADD && a.t == J_LIST && b.t == J_LIST) {
        struct jval l = vlist(c, a.l->n + b.l->n);
        for (size_t i = 0; i < a.l->n; i++)
            list_push(c, l.l, a.l->v[i]);
        for (size_t i = 0; i < b.l->n; i++)
            list_push(c, l.l, b.l->v[i]);
        return l;
    }
    if (op == JOP_MUL && ((a.t == J_STR && b.t == J_INT) || (a.t == J_INT && b.t == J_STR))) {
        struct jval s = a.t == J_STR ? a : b;
        int64_t k = a.t == J_INT ? a.i : b.i;
        struct sy_buf r;
        sy_buf_init(&r);
        for (int64_t i = 0; i < k; i++) {
            if (r.len + s.s.n > SY_JINJA_MAX_OUTPUT) {
                sy_buf_fini(&r);
                rfail(c, line, "string repetition too large");
            }
            sy_buf_append(&r, s.s.p, s.s.n);
        }
        return vstr_buf(c, &r);
    }
    if (!is_num(a) || !is_num(b))
        rfail(c, line, "unsupported operand types for arithmetic: %s and %s", type_name(a),
              type_name(b));
    bool fl = a.t == J_FLOAT || b.t == J_FLOAT;
    switch (op) {
    case JOP_ADD:
        return fl ? vfloat(num(a) + num(b)) : vint((int64_t)((uint64_t)a.i + (uint64_t)b.i));
    case JOP_SUB:
        return fl ? vfloat(num(a) - num(b)) : vint((int64_t)((uint64_t)a.i - (uint64_t)b.i));
    case JOP_MUL:
        return fl ? vfloat(num(a) * num(b)) : vint((int64_t)((uint64_t)a.i * (uint64_t)b.i));
    case JOP_DIV:
        if (num(b) == 0)
            rfail(c, line, "division by zero");
        return vfloat(num(a) / num(b));
    case JOP_FLOORDIV:
    case JOP_MOD:
        if (num(b) == 0)
            rfail(c, line, "division by zero");
        if (fl) {
            double q = floor(num(a) / num(b));
            return op == JOP_FLOORDIV ? vfloat(q) : vfloat(num(a) - q * num(b));
        } else {
            if (b.i == -1 && a.i == INT64_MIN)
                rfail(c, line, "integer overflow");
            int64_t q = a.i / b.i, r = a.i % b.i;
            if (r != 0 && ((r < 0) != (b.i < 0))) {
                q--;
                r += b.i;
            }
            return op == JOP_FLOORDIV ? vint(q) : vint(r);
        }
    case JOP_POW: {
        if (!fl && b.i >= 0) {
            int64_t r = 1;
            for (int64_t i = 0; i < b.i && i < 64; i++)
                r = (int64_t)((uint64_t)r * (uint64_t)a.i);
            return vint(r);
        }
        return vfloat(pow(num(a), num(b)));
    }
    default: rfail(c, line, "bad operator");
    }
}

/* ---- calls ---- */

struct args {
    struct jval v[64];  /* evaluated arguments */
    const char *kw[64]; /* keyword names (NULL = positional) */
    size_t n;           /* entries */
};

static void eval_args(struct ctx *c, struct frame *f, const struct sy_jnode *n, struct args *a)
{
    a->n = n->nkids;
    for (size_t i = 0; i < n->nkids; i++) {
        a->v[i] = eval(c, f, n->kids[i]);
        a->kw[i] = n->names ? n->names[i] : NULL;
    }
}

/* Positional argument i, or keyword name, or NULL. */
static struct jval *arg(struct args *a, size_t i, const char *name)
{
    size_t pos = 0;
    for (size_t k = 0; k < a->n; k++) {
        if (a->kw[k]) {
            if (name && strcmp(a->kw[k], name) == 0)
                return &a->v[k];
        } else if (pos++ == i) {
            return &a->v[k];
        }
    }
    return NULL;
}

static struct jval call_method(struct ctx *c, int line, struct jval obj, const char *name,
                               struct args *a)
{
    if (obj.t == J_STR) {
        struct jval *x = arg(a, 0, NULL);
        if (!strcmp(name, "strip") || !strcmp(name, "lstrip") || !strcmp(name, "rstrip")) {
            const struct jval *chars = x && x->t == J_STR ? x : NULL;
            return strip(obj, chars, name[0] != 'r', name[0] != 'l');
        }
        if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
            bool start = name[0] == 's';
            if (!x)
                rfail(c, line, "%s() needs an argument", name);
            struct jval *items = x->t == J_LIST ? x->l->v : x;
            size_t n = x->t == J_LIST ? x->l->n : 1;
            for (size_t i = 0; i < n; i++) {
                if (items[i].t != J_STR)
                    rfail(c, line, "%s() arguments must be strings", name);
                size_t k = items[i].s.n;
                if (k <= obj.s.n &&
                    memcmp(start ? obj.s.p : obj.s.p + obj.s.n - k, items[i].s.p, k) == 0)
                    return vbool(true);
            }
            return vbool(false);
        }
        if (!strcmp(name, "split")) {
            struct jval *sep = arg(a, 0, "sep");
            struct jval *mx = arg(a, 1, "maxsplit");
            int64_t maxsplit = mx && mx->t == J_INT ? mx->i : -1;
            struct jval out = vlist(c, 0);
            if (!sep || sep->t == J_NONE) {
                const unsigned char *p = (const unsigned char *)obj.s.p;
                size_t i = 0, n = obj.s.n;
                for (;;) {
                    while (i < n) { /* skip whitespace */
                        uint32_t cp;
                        size_t k = sy_tokenize__utf8_dec(p + i, n - i, &cp);
                        if (!py_space(cp))
                            break;
                        i += k;
                    }
                    if (i >= n)
                        break;
                    if (maxsplit >= 0 && (int64_t)out.l->n >= maxsplit) {
                        struct jval rest = strip(vstr(obj.s.p + i, n - i), NULL, false, true);
                        list_push(c, out.l, rest);
                        break;
                    }
                    size_t s0 = i;
                    while (i < n) {
                        uint32_t cp;
                        size_t k = sy_tokenize__utf8_dec(p + i, n - i, &cp);
                        if (py_space(cp))
                            break;
                        i += k;
                    }
                    list_push(c, out.l, vstr(obj.s.p + s0, i - s0));
                }
                return out;
            }
            if (sep->t != J_STR || sep->s.n == 0)
                rfail(c, line, "split() separator must be a non-empty string");
            size_t i = 0;
            for (;;) {
                const char *hit = (maxsplit < 0 || (int64_t)out.l->n < maxsplit)
                                      ? memmem_(obj.s.p + i, obj.s.n - i, sep->s.p, sep->s.n)
                                      : NULL;
                if (!hit) {
                    list_push(c, out.l, vstr(obj.s.p + i, obj.s.n - i));
                    return out;
                }
                list_push(c, out.l, vstr(obj.s.p + i, (size_t)(hit - obj.s.p) - i));
                i = (size_t)(hit - obj.s.p) + sep->s.n;
            }
        }
        if (!strcmp(name, "replace")) {
            struct jval *old = arg(a, 0, NULL), *nw = arg(a, 1, NULL), *cnt = arg(a, 2, "count");
            if (!old || !nw || old->t != J_STR || nw->t != J_STR)
                rfail(c, line, "replace() needs two string arguments");
            return apply_filter(c, line, "replace", obj, a->v, a->kw, a->n);
            (void)cnt;
        }
        if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "title") ||
            !strcmp(name, "capitalize"))
            return apply_filter(c, line, name, obj, NULL, NULL, 0);
        if (!strcmp(name, "join")) {
            if (!x || x->t != J_LIST)
                rfail(c, line, "join() needs a list");
            struct jval sep = obj;
            return apply_filter(c, line, "join", *x, &sep, NULL, 1);
        }
        if (!strcmp(name, "format")) {
            rfail(c, line, "str.format() is not supported");
        }
        if (!strcmp(name, "count") || !strcmp(name, "find")) {
            if (!x || x->t != J_STR)
                rfail(c, line, "%s() needs a string", name);
            if (name[0] == 'f') {
                const char *h = memmem_(obj.s.p, obj.s.n, x->s.p, x->s.n);
                return vint(h ? (int64_t)cp_count(vstr(obj.s.p, (size_t)(h - obj.s.p))) : -1);
            }
            if (x->s.n == 0)
                return vint((int64_t)cp_count(obj) + 1);
            int64_t k = 0;
            for (size_t i = 0;;) {
                const char *h = memmem_(obj.s.p + i, obj.s.n - i, x->s.p, x->s.n);
                if (!h)
                    return vint(k);
                k++;
                i = (size_t)(h - obj.s.p) + x->s.n;
            }
        }
    } else if (obj.t == J_DICT) {
        if (!strcmp(name, "get")) {
            struct jval *k = arg(a, 0, NULL), *d = arg(a, 1, "default");
            struct jval v = k && k->t == J_STR ? getattr_(obj, k->s.p, k->s.n) : UNDEF;
            return v.t != J_UNDEF ? v : d ? *d : NONE;
        }
        if (!strcmp(name, "items"))
            return apply_filter(c, line, "items", obj, NULL, NULL, 0);
        if (!strcmp(name, "keys") || !strcmp(name, "values")) {
            struct jval out = vlist(c, obj.d->n);
            for (size_t i = 0; i < obj.d->n; i++)
                list_push(c, out.l,
                          name[0] == 'k' ? vstr(obj.d->kp[i], obj.d->kn[i]) : obj.d->v[i]);
            return out;
        }
        struct jval *fn = dict_get(obj.d, name, strlen(name)); /* a macro stored in a dict */
        if (fn && fn->t == J_MACRO)
            return call_macro(c, fn->m, a->v, a->kw, a->n, line);
    } else if (obj.t == J_LIST) {
        if (!strcmp(name, "append")) {
            struct jval *x = arg(a, 0, NULL);
            if (!x)
                rfail(c, line, "append() needs an argument");
            list_push(c, obj.l, *x);
            return NONE;
        }
        if (!strcmp(name, "pop")) {
            if (!obj.l->n)
                rfail(c, line, "pop from an empty list");
            struct jval *x = arg(a, 0, NULL);
            int64_t i = x && x->t == J_INT ? x->i : -1;
            if (i < 0)
                i += (int64_t)obj.l->n;
            if (i < 0 || i >= (int64_t)obj.l->n)
                rfail(c, line, "pop index out of range");
            struct jval v = obj.l->v[i];
            memmove(obj.l->v + i, obj.l->v + i + 1, (obj.l->n - (size_t)i - 1) * sizeof(v));
            obj.l->n--;
            return v;
        }
    }
    rfail(c, line, "%s has no method %s()", type_name(obj), name);
}

static struct jval call_builtin(struct ctx *c, int line, int id, struct args *a)
{
    switch (id) {
    case B_RANGE: {
        int64_t p[3] = {0, 0, 1};
        size_t np = 0;
        for (size_t i = 0; i < a->n; i++) {
            if (a->v[i].t != J_INT || np == 3)
                rfail(c, line, "range() takes up to 3 integers");
            p[np++] = a->v[i].i;
        }
        int64_t start = np >= 2 ? p[0] : 0, stop = np >= 2 ? p[1] : p[0], st = np == 3 ? p[2] : 1;
        if (st == 0 || np == 0)
            rfail(c, line, "range() needs a non-zero step and a stop");
        struct jval out = vlist(c, 0);
        for (int64_t i = start; st > 0 ? i < stop : i > stop; i += st) {
            step(c, line);
            list_push(c, out.l, vint(i));
        }
        return out;
    }
    case B_NAMESPACE:
    case B_DICT: {
        struct jval d = vdict(c);
        for (size_t i = 0; i < a->n; i++) {
            if (a->kw[i]) {
                dict_set(c, d.d, a->kw[i], strlen(a->kw[i]), a->v[i]);
            } else if (a->v[i].t == J_DICT) {
                for (size_t k = 0; k < a->v[i].d->n; k++)
                    dict_set(c, d.d, a->v[i].d->kp[k], a->v[i].d->kn[k], a->v[i].d->v[k]);
            } else {
                rfail(c, line, "namespace()/dict() take keyword arguments or a dict");
            }
        }
        return d;
    }
    case B_RAISE: {
        struct jval msg = a->n ? to_str(c, a->v[0]) : vstr("", 0);
        if (c->err && c->errcap)
            snprintf(c->err, c->errcap, "%.*s", (int)(msg.s.n > 1000 ? 1000 : msg.s.n), msg.s.p);
        c->rc = SY_EPARSE;
        longjmp(c->jb, 1);
    }
    case B_STRFTIME: {
        struct jval *fmt = arg(a, 0, NULL);
        if (!fmt || fmt->t != J_STR)
            rfail(c, line, "strftime_now() needs a format string");
        char f[256], outb[512];
        snprintf(f, sizeof(f), "%.*s", (int)(fmt->s.n > 255 ? 255 : fmt->s.n), fmt->s.p);
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        size_t n = strftime(outb, sizeof(outb), f, &tm);
        return vstr_dup(c, outb, n);
    }
    default: rfail(c, line, "not callable");
    }
}

static struct jval call_macro(struct ctx *c, const struct sy_jnode *m, struct jval *args,
                              const char **kw, size_t nargs, int line)
{
    if (c->ncaps >= SY_JINJA_CALL_DEPTH)
        rfail(c, line, "macro calls nested deeper than %d", SY_JINJA_CALL_DEPTH);
    struct frame *f = new_frame(c, c->globals);
    size_t pos = 0;
    for (size_t i = 0; i < nargs; i++) {
        if (kw && kw[i]) {
            size_t k;
            for (k = 0; k < m->nnames; k++)
                if (!strcmp(m->names[k], kw[i]))
                    break;
            if (k == m->nnames)
                rfail(c, line, "macro %s has no parameter %s", m->str, kw[i]);
            dict_set(c, &f->vars, m->names[k], strlen(m->names[k]), args[i]);
        } else {
            if (pos >= m->nnames)
                rfail(c, line, "too many arguments for macro %s", m->str);
            dict_set(c, &f->vars, m->names[pos], strlen(m->names[pos]), args[i]);
            pos++;
        }
    }
    for (size_t k = 0; k < m->nnames; k++)
        if (!dict_get(&f->vars, m->names[k], strlen(m->names[k])))
            dict_set(c, &f->vars, m->names[k], strlen(m->names[k]),
                     m->kids[k] ? eval(c, f, m->kids[k]) : UNDEF);
    struct sy_buf *cap = sy_xmalloc(sizeof(*cap));
    sy_buf_init(cap);
    struct sy_buf *saved = c->out;
    c->caps[c->ncaps++] = cap;
    c->out = cap;
    exec_body(c, f, m->body, m->nbody);
    c->out = saved;
    c->ncaps--;
    struct jval r = vstr_buf(c, cap);
    free(cap);
    return r;
}

static struct jval eval_call(struct ctx *c, struct frame *f, const struct sy_jnode *n)
{
    struct args *a = sy_jarena_alloc(&c->arena, sizeof(*a));
    if (n->a->kind == JE_ATTR) {
        struct jval obj = eval(c, f, n->a->a);
        eval_args(c, f, n, a);
        if (obj.t == J_DICT) {
            struct jval *v = dict_get(obj.d, n->a->str, n->a->slen);
            if (v && v->t == J_MACRO)
                return call_macro(c, v->m, a->v, a->kw, a->n, n->line);
        }
        return call_method(c, n->line, obj, n->a->str, a);
    }
    struct jval fn = eval(c, f, n->a);
    eval_args(c, f, n, a);
    if (fn.t == J_FUNC)
        return call_builtin(c, n->line, (int)fn.i, a);
    if (fn.t == J_MACRO)
        return call_macro(c, fn.m, a->v, a->kw, a->n, n->line);
    if (n->a->kind == JE_NAME)
        rfail(c, n->line, "%s is not callable (%s)", n->a->str, type_name(fn));
    rfail(c, n->line, "a %s is not callable", type_name(fn));
}

/* ---- filters ---- */

static const char *ascii_case(struct ctx *c, struct jval s, int mode)
{
    /* mode 0 upper, 1 lower, 2 title, 3 capitalize (ASCII letters; others unchanged) */
    char *p = sy_jarena_strndup(&c->arena, s.s.p, s.s.n);
    bool word_start = true;
    for (size_t i = 0; i < s.s.n; i++) {
        char ch = p[i];
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        bool up = mode == 0 || ((mode == 2 && word_start) || (mode == 3 && i == 0));
        if (alpha)
            p[i] = up ? (char)(ch & ~0x20) : (char)(ch | 0x20);
        if (mode == 2)
            word_start = !alpha && !(ch >= '0' && ch <= '9') && !((unsigned char)ch >= 0x80);
    }
    return p;
}

static struct jval attr_path(struct jval v, const char *path)
{
    /* "a.b" attribute paths as selectattr/map accept; integer parts index lists */
    const char *p = path;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (v.t == J_DICT) {
            v = getattr_(v, p, n);
        } else {
            return UNDEF;
        }
        p += n;
        if (*p == '.')
            p++;
    }
    return v;
}

static struct jval apply_filter(struct ctx *c, int line, const char *name, struct jval v,
                                struct jval *args, const char **kw, size_t nargs)
{
    struct args a = {.n = nargs};
    for (size_t i = 0; i < nargs && i < 64; i++) {
        a.v[i] = args[i];
        a.kw[i] = kw ? kw[i] : NULL;
    }
    struct jval *x = arg(&a, 0, NULL);
    if (!strcmp(name, "length") || !strcmp(name, "count")) {
        switch (v.t) {
        case J_STR: return vint((int64_t)cp_count(v));
        case J_LIST: return vint((int64_t)v.l->n);
        case J_DICT: return vint((int64_t)v.d->n);
        case J_UNDEF: return vint(0);
        default: rfail(c, line, "object of type %s has no length", type_name(v));
        }
    }
    if (!strcmp(name, "trim")) {
        if (v.t == J_UNDEF)
            return vstr("", 0);
        v = to_str(c, v);
        return strip(v, x && x->t == J_STR ? x : NULL, true, true);
    }
    if (!strcmp(name, "tojson")) {
        struct jval *ind = arg(&a, 0, "indent");
        struct jval *sk = arg(&a, 99, "sort_keys");
        struct sy_buf b;
        sy_buf_init(&b);
        put_json(c, &b, v, ind && ind->t == J_INT ? (int)(ind->i > 32 ? 32 : ind->i) : -1, 0,
                 sk && truthy(*sk));
        return vstr_buf(c, &b);
    }
    if (!strcmp(name, "string"))
        return to_str(c, v);
    if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "title") ||
        !strcmp(name, "capitalize")) {
        v = to_str(c, v);
        int mode = name[0] == 'u' ? 0 : name[0] == 'l' ? 1 : name[0] == 't' ? 2 : 3;
        if (mode == 3) { /* capitalize: first upper, rest lower */
            const char *low = ascii_case(c, v, 1);
            char *p = (char *)low;
            if (v.s.n && p[0] >= 'a' && p[0] <= 'z')
                p[0] = (char)(p[0] & ~0x20);
            return vstr(p, v.s.n);
        }
        if (mode == 2) {
            const char *low = ascii_case(c, v, 1);
            return vstr(ascii_case(c, vstr(low, v.s.n), 2), v.s.n);
        }
        return vstr(ascii_case(c, v, mode), v.s.n);
    }
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        struct jval *dflt = arg(&a, 0, "default_value");
        struct jval *boolean = arg(&a, 1, "boolean");
        bool use = v.t == J_UNDEF || (boolean && truthy(*boolean) && !truthy(v));
        return use ? (dflt ? *dflt : vstr("", 0)) : v;
    }
    if (!strcmp(name, "items")) {
        if (v.t == J_UNDEF)
            return vlist(c, 0);
        if (v.t != J_DICT)
            rfail(c, line, "items needs a dict, not %s", type_name(v));
        struct jval out = vlist(c, v.d->n);
        for (size_t i = 0; i < v.d->n; i++) {
            struct jval pair = vlist(c, 2);
            list_push(c, pair.l, vstr(v.d->kp[i], v.d->kn[i]));
            list_push(c, pair.l, v.d->v[i]);
            list_push(c, out.l, pair);
        }
        return out;
    }
    if (!strcmp(name, "list")) {
        if (v.t == J_LIST)
            return v;
        struct jval out = vlist(c, 0);
        if (v.t == J_STR) {
            for (size_t i = 0; i < v.s.n;) {
                uint32_t cp;
                size_t k = sy_tokenize__utf8_dec((const unsigned char *)v.s.p + i, v.s.n - i, &cp);
                list_push(c, out.l, vstr(v.s.p + i, k));
                i += k;
            }
        } else if (v.t == J_DICT) {
            for (size_t i = 0; i < v.d->n; i++)
                list_push(c, out.l, vstr(v.d->kp[i], v.d->kn[i]));
        } else if (v.t != J_UNDEF) {
            rfail(c, line, "cannot convert a %s to a list", type_name(v));
        }
        return out;
    }
    if (!strcmp(name, "join")) {
        struct jval *sep = arg(&a, 0, "d");
        struct jval *attr = arg(&a, 1, "attribute");
        if (v.t == J_UNDEF)
            return vstr("", 0);
        if (v.t != J_LIST)
            v = apply_filter(c, line, "list", v, NULL, NULL, 0);
        struct sy_buf b;
        sy_buf_init(&b);
        for (size_t i = 0; i < v.l->n; i++) {
            if (i && sep)
                put_str(c, &b, *sep, 0);
            struct jval item = v.l->v[i];
            if (attr && attr->t == J_STR)
                item = attr_path(item, sy_jarena_strndup(&c->arena, attr->s.p, attr->s.n));
            put_str(c, &b, item, 0);
        }
        return vstr_buf(c, &b);
    }
    if (!strcmp(name, "first") || !strcmp(name, "last")) {
        if (v.t == J_STR)
            v = apply_filter(c, line, "list", v, NULL, NULL, 0);
        if (v.t != J_LIST)
            rfail(c, line, "%s needs a list", name);
        if (!v.l->n)
            return UNDEF;
        return name[0] == 'f' ? v.l->v[0] : v.l->v[v.l->n - 1];
    }
    if (!strcmp(name, "reverse")) {
        if (v.t == J_STR || v.t == J_LIST) {
            struct jval parts[3] = {UNDEF, UNDEF, vint(-1)};
            return slice(c, line, v, parts);
        }
        rfail(c, line, "reverse needs a list or string");
    }
    if (!strcmp(name, "unique")) {
        if (v.t != J_LIST)
            rfail(c, line, "unique needs a list");
        struct jval out = vlist(c, 0);
        for (size_t i = 0; i < v.l->n; i++) {
            bool seen = false;
            for (size_t k = 0; k < out.l->n && !seen; k++)
                seen = eq(out.l->v[k], v.l->v[i], 0);
            if (!seen)
                list_push(c, out.l, v.l->v[i]);
        }
        return out;
    }
    if (!strcmp(name, "sort") || !strcmp(name, "dictsort")) {
        bool dsort = name[0] == 'd';
        if (dsort)
            v = apply_filter(c, line, "items", v, NULL, NULL, 0);
        if (v.t != J_LIST)
            rfail(c, line, "sort needs a list");
        struct jval *rev = arg(&a, 0, "reverse");
        struct jval *attr = arg(&a, 2, "attribute");
        struct jval out = vlist(c, v.l->n);
        for (size_t i = 0; i < v.l->n; i++) { /* stable insertion sort */
            struct jval item = v.l->v[i];
            struct jval key =
                dsort ? item.l->v[0]
                : attr && attr->t == J_STR
                    ? attr_path(item, sy_jarena_strndup(&c->arena, attr->s.p, attr->s.n))
                    : item;
            size_t j = out.l->n;
            list_push(c, out.l, item);
            while (j > 0) {
                struct jval prev = out.l->v[j - 1];
                struct jval pk =
                    dsort ? prev.l->v[0]
                    : attr && attr->t == J_STR
                        ? attr_path(prev, sy_jarena_strndup(&c->arena, attr->s.p, attr->s.n))
                        : prev;
                int r = cmp(c, line, pk, key);
                if (rev && truthy(*rev) ? r >= 0 : r <= 0)
                    break;
                out.l->v[j] = prev;
                j--;
            }
            out.l->v[j] = item;
        }
        return out;
    }
    if (!strcmp(name, "selectattr") || !strcmp(name, "rejectattr") || !strcmp(name, "select") ||
        !strcmp(name, "reject")) {
        bool by_attr = !strcmp(name, "selectattr") || !strcmp(name, "rejectattr");
        bool keep = name[0] == 's';
        if (v.t == J_UNDEF)
            return vlist(c, 0);
        if (v.t != J_LIST)
            rfail(c, line, "%s needs a list", name);
        size_t ai = 0;
        const char *attr = NULL;
        if (by_attr) {
            if (!x || x->t != J_STR)
                rfail(c, line, "%s needs an attribute name", name);
            attr = sy_jarena_strndup(&c->arena, x->s.p, x->s.n);
            ai = 1;
        }
        struct jval *tname = arg(&a, ai, NULL);
        if (tname && tname->t != J_STR)
            rfail(c, line, "%s: the test name must be a string", name);
        const char *test = tname ? sy_jarena_strndup(&c->arena, tname->s.p, tname->s.n) : NULL;
        struct jval targs[8];
        size_t nt = 0;
        for (size_t k = ai + 1; arg(&a, k, NULL) && nt < 8; k++)
            targs[nt++] = *arg(&a, k, NULL);
        struct jval out = vlist(c, 0);
        for (size_t i = 0; i < v.l->n; i++) {
            struct jval item = attr ? attr_path(v.l->v[i], attr) : v.l->v[i];
            bool r = test ? apply_test(c, line, test, item, targs, nt) : truthy(item);
            if (r == keep)
                list_push(c, out.l, v.l->v[i]);
        }
        return out;
    }
    if (!strcmp(name, "map")) {
        if (v.t == J_UNDEF)
            return vlist(c, 0);
        if (v.t != J_LIST)
            rfail(c, line, "map needs a list");
        struct jval *attr = arg(&a, 99, "attribute");
        struct jval *dflt = arg(&a, 99, "default");
        struct jval out = vlist(c, v.l->n);
        if (attr) {
            if (attr->t != J_STR)
                rfail(c, line, "map: attribute must be a string");
            const char *path = sy_jarena_strndup(&c->arena, attr->s.p, attr->s.n);
            for (size_t i = 0; i < v.l->n; i++) {
                struct jval r = attr_path(v.l->v[i], path);
                list_push(c, out.l, r.t == J_UNDEF && dflt ? *dflt : r);
            }
            return out;
        }
        if (!x || x->t != J_STR)
            rfail(c, line, "map needs a filter name or attribute=");
        const char *fname = sy_jarena_strndup(&c->arena, x->s.p, x->s.n);
        for (size_t i = 0; i < v.l->n; i++)
            list_push(c, out.l,
                      apply_filter(c, line, fname, v.l->v[i], a.n > 1 ? &a.v[1] : NULL,
                                   a.n > 1 ? &a.kw[1] : NULL, a.n > 1 ? a.n - 1 : 0));
        return out;
    }
    if (!strcmp(name, "abs")) {
        if (v.t == J_INT)
            return vint(v.i < 0 ? -v.i : v.i);
        if (v.t == J_FLOAT)
            return vfloat(fabs(v.f));
        rfail(c, line, "abs needs a number");
    }
    if (!strcmp(name, "int") || !strcmp(name, "float")) {
        bool isint = name[0] == 'i';
        double d = 0;
        if (is_num(v)) {
            d = num(v);
        } else if (v.t == J_STR) {
            char tmp[64];
            snprintf(tmp, sizeof(tmp), "%.*s", (int)(v.s.n > 63 ? 63 : v.s.n), v.s.p);
            char *end;
            d = strtod(tmp, &end);
            if (end == tmp)
                return x ? *x : isint ? vint(0) : vfloat(0);
        } else {
            return x ? *x : isint ? vint(0) : vfloat(0);
        }
        if (isint) {
            if (!(d > -9.2e18 && d < 9.2e18))
                return vint(0);
            return vint((int64_t)d);
        }
        return vfloat(d);
    }
    if (!strcmp(name, "replace")) {
        struct jval *old = arg(&a, 0, "old"), *nw = arg(&a, 1, "new"), *cnt = arg(&a, 2, "count");
        v = to_str(c, v);
        if (!old || !nw || old->t != J_STR || nw->t != J_STR)
            rfail(c, line, "replace needs two strings");
        int64_t max = cnt && cnt->t == J_INT ? cnt->i : -1;
        if (old->s.n == 0)
            return v;
        struct sy_buf b;
        sy_buf_init(&b);
        size_t i = 0;
        int64_t k = 0;
        for (;;) {
            const char *h =
                max < 0 || k < max ? memmem_(v.s.p + i, v.s.n - i, old->s.p, old->s.n) : NULL;
            if (!h)
                break;
            sy_buf_append(&b, v.s.p + i, (size_t)(h - v.s.p) - i);
            sy_buf_append(&b, nw->s.p, nw->s.n);
            i = (size_t)(h - v.s.p) + old->s.n;
            k++;
        }
        sy_buf_append(&b, v.s.p + i, v.s.n - i);
        return vstr_buf(c, &b);
    }
    if (!strcmp(name, "safe") || !strcmp(name, "e") || !strcmp(name, "escape") ||
        !strcmp(name, "forceescape")) {
        if (name[0] == 's')
            return v;
        v = to_str(c, v);
        struct sy_buf b;
        sy_buf_init(&b);
        for (size_t i = 0; i < v.s.n; i++) {
            switch (v.s.p[i]) {
            case '&': sy_buf_puts(&b, "&amp;"); break;
            case '<': sy_buf_puts(&b, "&lt;"); break;
            case '>': sy_buf_puts(&b, "&gt;"); break;
            case '"': sy_buf_puts(&b, "&#34;"); break;
            case '\'': sy_buf_puts(&b, "&#39;"); break;
            default: sy_buf_append(&b, &v.s.p[i], 1);
            }
        }
        return vstr_buf(c, &b);
    }
    if (!strcmp(name, "indent")) {
        struct jval *w = arg(&a, 0, "width"), *first = arg(&a, 1, "first");
        struct jval *blank = arg(&a, 2, "blank");
        v = to_str(c, v);
        struct sy_buf pad;
        sy_buf_init(&pad);
        if (w && w->t == J_STR)
            sy_buf_append(&pad, w->s.p, w->s.n);
        else
            for (int64_t k = 0; k < (w && w->t == J_INT ? w->i : 4) && k < 256; k++)
                sy_buf_append(&pad, " ", 1);
        struct sy_buf b;
        sy_buf_init(&b);
        bool line_start = true;
        bool is_first = true;
        for (size_t i = 0; i < v.s.n; i++) {
            if (line_start) {
                bool empty = v.s.p[i] == '\n';
                if ((!is_first || (first && truthy(*first))) &&
                    (!empty || (blank && truthy(*blank))))
                    sy_buf_append(&b, pad.data ? pad.data : "", pad.len);
                line_start = false;
                is_first = false;
            }
            sy_buf_append(&b, &v.s.p[i], 1);
            if (v.s.p[i] == '\n')
                line_start = true;
        }
        sy_buf_fini(&pad);
        return vstr_buf(c, &b);
    }
    rfail(c, line, "unknown filter '%s'", name);
}

static bool apply_test(struct ctx *c, int line, const char *name, struct jval v, struct jval *args,
                       size_t nargs)
{
    struct jval *x = nargs ? &args[0] : NULL;
    if (!strcmp(name, "defined"))
        return v.t != J_UNDEF;
    if (!strcmp(name, "undefined"))
        return v.t == J_UNDEF;
    if (!strcmp(name, "none"))
        return v.t == J_NONE;
    if (!strcmp(name, "string"))
        return v.t == J_STR;
    if (!strcmp(name, "number"))
        return v.t == J_INT || v.t == J_FLOAT;
    if (!strcmp(name, "integer"))
        return v.t == J_INT;
    if (!strcmp(name, "float"))
        return v.t == J_FLOAT;
    if (!strcmp(name, "boolean"))
        return v.t == J_BOOL;
    if (!strcmp(name, "true"))
        return v.t == J_BOOL && v.i;
    if (!strcmp(name, "false"))
        return v.t == J_BOOL && !v.i;
    if (!strcmp(name, "mapping"))
        return v.t == J_DICT;
    if (!strcmp(name, "iterable"))
        return v.t == J_LIST || v.t == J_STR || v.t == J_DICT;
    if (!strcmp(name, "sequence"))
        return v.t == J_LIST || v.t == J_STR || v.t == J_DICT;
    if (!strcmp(name, "callable"))
        return v.t == J_FUNC || v.t == J_MACRO;
    if (!strcmp(name, "odd") || !strcmp(name, "even")) {
        if (v.t != J_INT)
            rfail(c, line, "%s needs an integer", name);
        return (v.i % 2 != 0) == (name[0] == 'o');
    }
    if (!strcmp(name, "divisibleby")) {
        if (v.t != J_INT || !x || x->t != J_INT || x->i == 0)
            rfail(c, line, "divisibleby needs non-zero integers");
        return v.i % x->i == 0;
    }
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        if (v.t != J_STR)
            return false;
        for (size_t i = 0; i < v.s.n; i++) {
            char ch = v.s.p[i];
            if (name[0] == 'l' ? (ch >= 'A' && ch <= 'Z') : (ch >= 'a' && ch <= 'z'))
                return false;
        }
        return true;
    }
    static const struct {
        const char *n;
        int op;
    } cmps[] = {{"eq", JOP_EQ}, {"equalto", JOP_EQ}, {"==", JOP_EQ},    {"ne", JOP_NE},
                {"!=", JOP_NE}, {"lt", JOP_LT},      {"<", JOP_LT},     {"gt", JOP_GT},
                {">", JOP_GT},  {"le", JOP_LE},      {"<=", JOP_LE},    {"ge", JOP_GE},
                {">=", JOP_GE}, {"in", JOP_IN},      {"sameas", JOP_EQ}};
    for (size_t i = 0; i < sizeof(cmps) / sizeof(cmps[0]); i++) {
        if (!strcmp(name, cmps[i].n)) {
            if (!x)
                rfail(c, line, "test %s needs an argument", name);
            return truthy(binop(c, line, cmps[i].op, v, *x));
        }
    }
    rfail(c, line, "unknown test '%s'", name);
}

/* ---- expressions ---- */

static struct jval eval(struct ctx *c, struct frame *f, const struct sy_jnode *n)
{
    step(c, n->line);
    switch (n->kind) {
    case JE_LIT:
        switch (n->lk) {
        case JL_NONE: return NONE;
        case JL_BOOL: return vbool(n->li != 0);
        case JL_INT: return vint(n->li);
        case JL_FLOAT: return vfloat(n->lf);
        case JL_STR: return vstr(n->str, n->slen);
        }
        return UNDEF;
    case JE_NAME: return lookup(f, n->str, n->slen);
    case JE_ATTR: {
        struct jval obj = eval(c, f, n->a);
        return getattr_(obj, n->str, n->slen);
    }
    case JE_INDEX: {
        struct jval obj = eval(c, f, n->a);
        return getitem(c, n->line, obj, eval(c, f, n->b));
    }
    case JE_SLICE: {
        struct jval obj = eval(c, f, n->a);
        struct jval parts[3];
        for (int k = 0; k < 3; k++)
            parts[k] = n->kids[k] ? eval(c, f, n->kids[k]) : UNDEF;
        return slice(c, n->line, obj, parts);
    }
    case JE_CALL: return eval_call(c, f, n);
    case JE_FILTER: {
        struct jval v = eval(c, f, n->a);
        struct args *a = sy_jarena_alloc(&c->arena, sizeof(*a));
        eval_args(c, f, n, a);
        return apply_filter(c, n->line, n->str, v, a->v, a->kw, a->n);
    }
    case JE_TEST: {
        struct jval v = eval(c, f, n->a);
        struct args *a = sy_jarena_alloc(&c->arena, sizeof(*a));
        eval_args(c, f, n, a);
        bool r = apply_test(c, n->line, n->str, v, a->v, a->n);
        return vbool(n->op ? !r : r);
    }
    case JE_UNARY: {
        struct jval v = eval(c, f, n->a);
        if (n->op == '!')
            return vbool(!truthy(v));
        if (v.t == J_INT || v.t == J_BOOL)
            return vint(n->op == '-' ? (int64_t)(0 - (uint64_t)v.i) : v.i);
        if (v.t == J_FLOAT)
            return vfloat(n->op == '-' ? -v.f : v.f);
        rfail(c, n->line, "bad operand type for unary %c: %s", n->op, type_name(v));
    }
    case JE_BIN: {
        struct jval a = eval(c, f, n->a);
        struct jval b = eval(c, f, n->b);
        return binop(c, n->line, n->op, a, b);
    }
    case JE_AND: {
        struct jval a = eval(c, f, n->a);
        return truthy(a) ? eval(c, f, n->b) : a;
    }
    case JE_OR: {
        struct jval a = eval(c, f, n->a);
        return truthy(a) ? a : eval(c, f, n->b);
    }
    case JE_COND:
        if (truthy(eval(c, f, n->a)))
            return eval(c, f, n->b);
        return n->c ? eval(c, f, n->c) : UNDEF;
    case JE_LIST:
    case JE_TUPLE: {
        struct jval l = vlist(c, n->nkids);
        for (size_t i = 0; i < n->nkids; i++)
            list_push(c, l.l, eval(c, f, n->kids[i]));
        return l;
    }
    case JE_DICT: {
        struct jval d = vdict(c);
        for (size_t i = 0; i + 1 < n->nkids; i += 2) {
            struct jval k = eval(c, f, n->kids[i]);
            if (k.t != J_STR)
                k = to_str(c, k);
            dict_set(c, d.d, k.s.p, k.s.n, eval(c, f, n->kids[i + 1]));
        }
        return d;
    }
    default: rfail(c, n->line, "not an expression");
    }
}

/* ---- statements ---- */

enum { X_OK, X_BREAK, X_CONTINUE };

static void assign(struct ctx *c, struct frame *f, const struct sy_jnode *n, const char **names,
                   size_t nnames, struct jval v, int line)
{
    if (nnames == 1) {
        dict_set(c, &f->vars, names[0], strlen(names[0]), v);
        return;
    }
    if (v.t != J_LIST || v.l->n != nnames)
        rfail(c, line, "cannot unpack %s into %zu names", type_name(v), nnames);
    for (size_t i = 0; i < nnames; i++)
        dict_set(c, &f->vars, names[i], strlen(names[i]), v.l->v[i]);
    (void)n;
}

static int exec_for(struct ctx *c, struct frame *f, const struct sy_jnode *n)
{
    struct jval it = eval(c, f, n->a);
    if (it.t == J_DICT) { /* iterating a dict yields its keys */
        struct jval keys = vlist(c, it.d->n);
        for (size_t i = 0; i < it.d->n; i++)
            list_push(c, keys.l, vstr(it.d->kp[i], it.d->kn[i]));
        it = keys;
    } else if (it.t == J_STR) {
        it = apply_filter(c, n->line, "list", it, NULL, NULL, 0);
    } else if (it.t == J_UNDEF || it.t == J_NONE) {
        if (it.t == J_NONE)
            rfail(c, n->line, "'NoneType' object is not iterable");
        it = vlist(c, 0);
    } else if (it.t != J_LIST) {
        rfail(c, n->line, "a %s is not iterable", type_name(it));
    }
    struct frame *lf = new_frame(c, f);
    /* the loop filter runs before loop.* is computed, as in Jinja2 */
    struct jlist *items = it.l;
    if (n->b) {
        struct jval kept = vlist(c, 0);
        for (size_t i = 0; i < it.l->n; i++) {
            assign(c, lf, n, n->names, n->nnames, it.l->v[i], n->line);
            if (truthy(eval(c, lf, n->b)))
                list_push(c, kept.l, it.l->v[i]);
        }
        items = kept.l;
    }
    size_t len = items->n;
    if (len == 0) {
        if (n->nalt)
            return exec_body(c, f, n->alt, n->nalt);
        return X_OK;
    }
    /* one loop object per loop, updated in place: no allocation per iteration */
    struct jval loop = vdict(c);
    for (size_t i = 0; i < len; i++) {
        step(c, n->line);
        dict_set(c, loop.d, "index", 5, vint((int64_t)i + 1));
        dict_set(c, loop.d, "index0", 6, vint((int64_t)i));
        dict_set(c, loop.d, "revindex", 8, vint((int64_t)(len - i)));
        dict_set(c, loop.d, "revindex0", 9, vint((int64_t)(len - i - 1)));
        dict_set(c, loop.d, "first", 5, vbool(i == 0));
        dict_set(c, loop.d, "last", 4, vbool(i == len - 1));
        dict_set(c, loop.d, "length", 6, vint((int64_t)len));
        dict_set(c, loop.d, "previtem", 8, i > 0 ? items->v[i - 1] : UNDEF);
        dict_set(c, loop.d, "nextitem", 8, i + 1 < len ? items->v[i + 1] : UNDEF);
        dict_set(c, &lf->vars, "loop", 4, loop);
        assign(c, lf, n, n->names, n->nnames, items->v[i], n->line);
        int r = exec_body(c, lf, n->body, n->nbody);
        if (r == X_BREAK)
            break;
    }
    return X_OK;
}

static int exec_stmt(struct ctx *c, struct frame *f, const struct sy_jnode *n)
{
    step(c, n->line);
    switch (n->kind) {
    case JN_TEXT: out_append(c, n->str, n->slen); return X_OK;
    case JN_OUTPUT: {
        struct jval v = eval(c, f, n->a);
        if (v.t == J_STR) {
            out_append(c, v.s.p, v.s.n);
        } else {
            struct sy_buf b;
            sy_buf_init(&b);
            put_str(c, &b, v, 0);
            struct jval s = vstr_buf(c, &b);
            out_append(c, s.s.p, s.s.n);
        }
        return X_OK;
    }
    case JN_IF:
        if (truthy(eval(c, f, n->a)))
            return exec_body(c, f, n->body, n->nbody);
        return exec_body(c, f, n->alt, n->nalt);
    case JN_FOR: return exec_for(c, f, n);
    case JN_SET: {
        struct jval v = eval(c, f, n->b);
        if (n->a) { /* ns.attr = v */
            struct jval obj = lookup(f, n->a->a->str, n->a->a->slen);
            if (obj.t != J_DICT)
                rfail(c, n->line, "cannot set attribute %s on %s", n->a->str, type_name(obj));
            dict_set(c, obj.d, n->a->str, n->a->slen, v);
        } else {
            assign(c, f, n, n->names, n->nnames, v, n->line);
        }
        return X_OK;
    }
    case JN_SETBLOCK: {
        if (c->ncaps >= SY_JINJA_CALL_DEPTH)
            rfail(c, n->line, "block captures nested too deeply");
        struct sy_buf *cap = sy_xmalloc(sizeof(*cap));
        sy_buf_init(cap);
        struct sy_buf *saved = c->out;
        c->caps[c->ncaps++] = cap;
        c->out = cap;
        exec_body(c, f, n->body, n->nbody);
        c->out = saved;
        c->ncaps--;
        struct jval v = vstr_buf(c, cap);
        free(cap);
        dict_set(c, &f->vars, n->names[0], strlen(n->names[0]), v);
        return X_OK;
    }
    case JN_MACRO: {
        struct jval m = {.t = J_MACRO, .m = n};
        dict_set(c, &f->vars, n->str, n->slen, m);
        return X_OK;
    }
    case JN_BREAK: return X_BREAK;
    case JN_CONTINUE: return X_CONTINUE;
    default: rfail(c, n->line, "not a statement");
    }
}

static int exec_body(struct ctx *c, struct frame *f, struct sy_jnode *const *body, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int r = exec_stmt(c, f, body[i]);
        if (r != X_OK)
            return r;
    }
    return X_OK;
}

int sy_jinja_render(const struct sy_jinja *t, const cJSON *vars, struct sy_buf *out, char *err,
                    size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!t || !out)
        return SY_EINVAL;
    struct ctx *c = sy_xcalloc(1, sizeof(*c));
    c->err = err;
    c->errcap = errcap;
    c->out = out;
    c->arena.limit = SY_JINJA_MAX_OUTPUT * 4u;
    c->arena.overflow = &c->jb;
    int rc = setjmp(c->jb);
    if (rc) {
        if (rc == 2) { /* arena limit */
            c->rc = SY_ETOOBIG;
            if (err && errcap)
                snprintf(err, errcap, "template rendering exceeds %u bytes of memory",
                         SY_JINJA_MAX_OUTPUT * 4u);
        }
        rc = c->rc ? c->rc : SY_EPARSE;
        for (int i = 0; i < c->ncaps; i++) {
            sy_buf_fini(c->caps[i]);
            free(c->caps[i]);
        }
        sy_jarena_free(&c->arena);
        free(c);
        return rc;
    }
    c->globals = new_frame(c, NULL);
    struct frame *g = c->globals;
    static const struct {
        const char *n;
        int id;
    } fns[] = {{"range", B_RANGE},
               {"namespace", B_NAMESPACE},
               {"raise_exception", B_RAISE},
               {"strftime_now", B_STRFTIME},
               {"dict", B_DICT}};
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
        dict_set(c, &g->vars, fns[i].n, strlen(fns[i].n),
                 (struct jval){.t = J_FUNC, .i = fns[i].id});
    if (vars && cJSON_IsObject(vars)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, vars)
        {
            dict_set(c, &g->vars, it->string, strlen(it->string), from_json(c, it, 0));
        }
    }
    /* top-level statements run in the global frame, so macros see each other (and themselves) */
    exec_body(c, g, t->body, t->nbody);
    sy_jarena_free(&c->arena);
    free(c);
    return 0;
}
