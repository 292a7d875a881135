/* jinja_value.c - Jinja runtime values: constructors, dicts, JSON input, Python str()/repr(),
 * tojson, equality and ordering, and code-point string helpers.
 *
 * Values (struct jval, jinja_int.h) are small tagged structs passed by value; strings, lists and
 * dicts live in the render's arena, so nothing here frees anything. Errors longjmp out through
 * sy_jinja__rfail() (see jinja_eval.c). Dicts are insertion-ordered arrays with linear lookup:
 * template dicts (messages, tool schemas, loop) hold a handful of keys, where a scan beats hashing.
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

/* ---- forward declarations ---- */

static void put_float(struct sy_buf *b, double f);
static void put_repr(struct ctx *c, struct sy_buf *b, struct jval v, int depth);
static bool in_chars(uint32_t cp, const struct jval *chars);

__attribute__((noreturn, format(printf, 3, 4))) void sy_jinja__rfail(struct ctx *c, int line,
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

void sy_jinja__step(struct ctx *c, int line)
{
    if (++c->steps > SY_JINJA_MAX_STEPS) {
        c->rc = SY_ETOOBIG;
        if (c->err && c->errcap)
            snprintf(c->err, c->errcap, "line %d: template exceeds %u evaluation steps", line,
                     SY_JINJA_MAX_STEPS);
        longjmp(c->jb, 1);
    }
}

void sy_jinja__out_append(struct ctx *c, const char *p, size_t n)
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

struct jval sy_jinja__vbool(bool b)
{
    return (struct jval){.t = J_BOOL, .i = b};
}

struct jval sy_jinja__vint(int64_t i)
{
    return (struct jval){.t = J_INT, .i = i};
}

struct jval sy_jinja__vfloat(double f)
{
    return (struct jval){.t = J_FLOAT, .f = f};
}

struct jval sy_jinja__vstr(const char *p, size_t n)
{
    return (struct jval){.t = J_STR, .s = {p, n}};
}

struct jval sy_jinja__vstr_dup(struct ctx *c, const char *p, size_t n)
{
    return sy_jinja__vstr(sy_jarena_strndup(&c->arena, p, n), n);
}

struct sy_buf *sy_jinja__tmp_open(struct ctx *c, int line)
{
    if (c->ncaps >= SY_JINJA_CALL_DEPTH + SY_JINJA_TMP_SLOTS)
        sy_jinja__rfail(c, line, "expression nested too deeply");
    struct sy_buf *b = sy_xmalloc(sizeof(*b));
    sy_buf_init(b);
    c->caps[c->ncaps++] = b;
    return b;
}

struct jval sy_jinja__tmp_close(struct ctx *c, struct sy_buf *b)
{
    struct jval v = sy_jinja__vstr_dup(c, b->data ? b->data : "", b->len);
    if (c->ncaps > 0 && c->caps[c->ncaps - 1] == b)
        c->ncaps--;
    sy_buf_fini(b);
    free(b);
    return v;
}

struct jval sy_jinja__vlist(struct ctx *c, size_t cap)
{
    struct jlist *l = sy_jarena_alloc(&c->arena, sizeof(*l));
    l->cap = cap ? cap : 4;
    l->v = sy_jarena_alloc(&c->arena, l->cap * sizeof(*l->v));
    return (struct jval){.t = J_LIST, .l = l};
}

void sy_jinja__list_push(struct ctx *c, struct jlist *l, struct jval v)
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

struct jval sy_jinja__vdict(struct ctx *c)
{
    struct jdict *d = sy_jarena_alloc(&c->arena, sizeof(*d));
    return (struct jval){.t = J_DICT, .d = d};
}

struct jval *sy_jinja__dict_get(const struct jdict *d, const char *k, size_t kn)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->kn[i] == kn && memcmp(d->kp[i], k, kn) == 0)
            return &d->v[i];
    return NULL;
}

void sy_jinja__dict_set(struct ctx *c, struct jdict *d, const char *k, size_t kn, struct jval v)
{
    struct jval *slot = sy_jinja__dict_get(d, k, kn);
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

struct jval sy_jinja__from_json(struct ctx *c, const cJSON *j, int depth)
{
    if (depth > 200)
        sy_jinja__rfail(c, 0, "variables nested deeper than 200 levels");
    if (cJSON_IsNull(j))
        return SY_JV_NONE;
    if (cJSON_IsBool(j))
        return sy_jinja__vbool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            return sy_jinja__vint((int64_t)d);
        return sy_jinja__vfloat(d);
    }
    if (cJSON_IsString(j))
        return sy_jinja__vstr(j->valuestring, strlen(j->valuestring));
    if (cJSON_IsArray(j)) {
        struct jval l = sy_jinja__vlist(c, (size_t)cJSON_GetArraySize(j));
        const cJSON *it;
        cJSON_ArrayForEach(it, j)
            sy_jinja__list_push(c, l.l, sy_jinja__from_json(c, it, depth + 1));
        return l;
    }
    if (cJSON_IsObject(j)) {
        struct jval d = sy_jinja__vdict(c);
        const cJSON *it;
        cJSON_ArrayForEach(it, j)
        {
            sy_jinja__dict_set(c, d.d, it->string, strlen(it->string),
                               sy_jinja__from_json(c, it, depth + 1));
        }
        return d;
    }
    return SY_JV_UNDEF;
}

/* ---- conversions ---- */

bool sy_jinja__truthy(struct jval v)
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

const char *sy_jinja__type_name(struct jval v)
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

void sy_jinja__put_str(struct ctx *c, struct sy_buf *b, struct jval v, int depth)
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
        sy_jinja__rfail(c, 0, "value nested too deeply to print");
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
            put_repr(c, b, sy_jinja__vstr(v.d->kp[i], v.d->kn[i]), depth + 1);
            sy_buf_puts(b, ": ");
            put_repr(c, b, v.d->v[i], depth + 1);
        }
        sy_buf_puts(b, "}");
    } else if (v.t == J_UNDEF) {
        sy_buf_puts(b, "Undefined");
    } else {
        sy_jinja__put_str(c, b, v, depth);
    }
}

struct jval sy_jinja__to_str(struct ctx *c, struct jval v)
{
    if (v.t == J_STR)
        return v;
    struct sy_buf *b = sy_jinja__tmp_open(c, 0);
    sy_jinja__put_str(c, b, v, 0);
    return sy_jinja__tmp_close(c, b);
}

/* json.dumps(v, ensure_ascii=False, indent=indent) */
void sy_jinja__put_json(struct ctx *c, struct sy_buf *b, struct jval v, int indent, int depth,
                        bool sort_keys)
{
    if (depth > 100)
        sy_jinja__rfail(c, 0, "value nested too deeply for tojson");
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
                sy_jinja__put_json(c, b, v.l->v[i], indent, depth + 1, sort_keys);
            } else {
                size_t k = order ? order[i] : i;
                sy_jinja__put_json(c, b, sy_jinja__vstr(v.d->kp[k], v.d->kn[k]), indent, depth + 1,
                                   sort_keys);
                sy_buf_puts(b, ": ");
                sy_jinja__put_json(c, b, v.d->v[k], indent, depth + 1, sort_keys);
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
    default: sy_jinja__rfail(c, 0, "cannot convert a %s to JSON", sy_jinja__type_name(v));
    }
}

/* ---- equality and ordering ---- */

bool sy_jinja__is_num(struct jval v)
{
    return v.t == J_INT || v.t == J_FLOAT || v.t == J_BOOL;
}

double sy_jinja__num(struct jval v)
{
    return v.t == J_FLOAT ? v.f : (double)v.i;
}

bool sy_jinja__eq(struct jval a, struct jval b, int depth)
{
    if (depth > 100)
        return false;
    if (sy_jinja__is_num(a) && sy_jinja__is_num(b)) {
        if (a.t != J_FLOAT && b.t != J_FLOAT)
            return a.i == b.i;
        return sy_jinja__num(a) == sy_jinja__num(b);
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
            if (!sy_jinja__eq(a.l->v[i], b.l->v[i], depth + 1))
                return false;
        return true;
    case J_DICT:
        if (a.d->n != b.d->n)
            return false;
        for (size_t i = 0; i < a.d->n; i++) {
            struct jval *o = sy_jinja__dict_get(b.d, a.d->kp[i], a.d->kn[i]);
            if (!o || !sy_jinja__eq(a.d->v[i], *o, depth + 1))
                return false;
        }
        return true;
    case J_FUNC: return a.i == b.i;
    case J_MACRO: return a.m == b.m;
    default: return false;
    }
}

/* Returns <0, 0, >0; fails on incomparable types. */
int sy_jinja__cmp(struct ctx *c, int line, struct jval a, struct jval b)
{
    if (sy_jinja__is_num(a) && sy_jinja__is_num(b)) {
        if (a.t != J_FLOAT && b.t != J_FLOAT)
            return a.i < b.i ? -1 : a.i > b.i;
        double x = sy_jinja__num(a), y = sy_jinja__num(b);
        return x < y ? -1 : x > y;
    }
    if (a.t == J_STR && b.t == J_STR) {
        size_t m = a.s.n < b.s.n ? a.s.n : b.s.n;
        int r = memcmp(a.s.p, b.s.p, m);
        return r ? r : (a.s.n > b.s.n) - (a.s.n < b.s.n);
    }
    sy_jinja__rfail(c, line, "cannot compare %s with %s", sy_jinja__type_name(a),
                    sy_jinja__type_name(b));
}

/* ---- string helpers (code points) ---- */

size_t sy_jinja__cp_count(struct jval s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.s.n; i++)
        n += ((unsigned char)s.s.p[i] & 0xC0) != 0x80;
    return n;
}

/* Byte offset of code point index k (k <= count). */
size_t sy_jinja__cp_offset(struct jval s, size_t k)
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

bool sy_jinja__py_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static bool in_chars(uint32_t cp, const struct jval *chars)
{
    if (!chars)
        return sy_jinja__py_space(cp);
    for (size_t i = 0; i < chars->s.n;) {
        uint32_t x;
        i += sy_tokenize__utf8_dec((const unsigned char *)chars->s.p + i, chars->s.n - i, &x);
        if (x == cp)
            return true;
    }
    return false;
}

/* Python str.sy_jinja__strip/lstrip/rstrip(chars) (chars NULL = whitespace). */
struct jval sy_jinja__strip(struct jval s, const struct jval *chars, bool left, bool right)
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
    return sy_jinja__vstr(s.s.p + a, b - a);
}

const char *sy_jinja__memmem_(const char *h, size_t hn, const char *n, size_t nn)
{
    if (nn == 0)
        return h;
    if (nn > hn)
        return NULL;
    return memmem(h, hn, n, nn);
}
