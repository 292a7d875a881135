/* jinja_builtins.c - Jinja filters, tests, global functions and methods of str/dict/list.
 *
 * Each is dispatched by name (a strcmp chain: templates call a few dozen builtins per render, so
 * a table would not pay for itself) and follows Python Jinja2 / Python str semantics; the places
 * where @huggingface/jinja differs are listed in docs/tokenizer.md. Unknown names are render
 * errors naming the filter, test or method.
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

static struct jval *arg(struct args *a, size_t i, const char *name);
static const char *ascii_case(struct ctx *c, struct jval s, int mode);
static struct jval attr_path(struct jval v, const char *path);

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

struct jval sy_jinja__call_method(struct ctx *c, int line, struct jval obj, const char *name,
                                  struct args *a)
{
    if (obj.t == J_STR) {
        struct jval *x = arg(a, 0, NULL);
        if (!strcmp(name, "strip") || !strcmp(name, "lstrip") || !strcmp(name, "rstrip")) {
            const struct jval *chars = x && x->t == J_STR ? x : NULL;
            return sy_jinja__strip(obj, chars, name[0] != 'r', name[0] != 'l');
        }
        if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
            bool start = name[0] == 's';
            if (!x)
                sy_jinja__rfail(c, line, "%s() needs an argument", name);
            struct jval *items = x->t == J_LIST ? x->l->v : x;
            size_t n = x->t == J_LIST ? x->l->n : 1;
            for (size_t i = 0; i < n; i++) {
                if (items[i].t != J_STR)
                    sy_jinja__rfail(c, line, "%s() arguments must be strings", name);
                size_t k = items[i].s.n;
                if (k <= obj.s.n &&
                    memcmp(start ? obj.s.p : obj.s.p + obj.s.n - k, items[i].s.p, k) == 0)
                    return sy_jinja__vbool(true);
            }
            return sy_jinja__vbool(false);
        }
        if (!strcmp(name, "split")) {
            struct jval *sep = arg(a, 0, "sep");
            struct jval *mx = arg(a, 1, "maxsplit");
            int64_t maxsplit = mx && mx->t == J_INT ? mx->i : -1;
            struct jval out = sy_jinja__vlist(c, 0);
            if (!sep || sep->t == J_NONE) {
                const unsigned char *p = (const unsigned char *)obj.s.p;
                size_t i = 0, n = obj.s.n;
                for (;;) {
                    while (i < n) { /* skip whitespace */
                        uint32_t cp;
                        size_t k = sy_tokenize__utf8_dec(p + i, n - i, &cp);
                        if (!sy_jinja__py_space(cp))
                            break;
                        i += k;
                    }
                    if (i >= n)
                        break;
                    if (maxsplit >= 0 && (int64_t)out.l->n >= maxsplit) {
                        struct jval rest =
                            sy_jinja__strip(sy_jinja__vstr(obj.s.p + i, n - i), NULL, false, true);
                        sy_jinja__list_push(c, out.l, rest);
                        break;
                    }
                    size_t s0 = i;
                    while (i < n) {
                        uint32_t cp;
                        size_t k = sy_tokenize__utf8_dec(p + i, n - i, &cp);
                        if (sy_jinja__py_space(cp))
                            break;
                        i += k;
                    }
                    sy_jinja__list_push(c, out.l, sy_jinja__vstr(obj.s.p + s0, i - s0));
                }
                return out;
            }
            if (sep->t != J_STR || sep->s.n == 0)
                sy_jinja__rfail(c, line, "split() separator must be a non-empty string");
            size_t i = 0;
            for (;;) {
                const char *hit =
                    (maxsplit < 0 || (int64_t)out.l->n < maxsplit)
                        ? sy_jinja__memmem_(obj.s.p + i, obj.s.n - i, sep->s.p, sep->s.n)
                        : NULL;
                if (!hit) {
                    sy_jinja__list_push(c, out.l, sy_jinja__vstr(obj.s.p + i, obj.s.n - i));
                    return out;
                }
                sy_jinja__list_push(c, out.l,
                                    sy_jinja__vstr(obj.s.p + i, (size_t)(hit - obj.s.p) - i));
                i = (size_t)(hit - obj.s.p) + sep->s.n;
            }
        }
        if (!strcmp(name, "replace")) {
            struct jval *old = arg(a, 0, NULL), *nw = arg(a, 1, NULL);
            if (!old || !nw || old->t != J_STR || nw->t != J_STR)
                sy_jinja__rfail(c, line, "replace() needs two string arguments");
            return sy_jinja__apply_filter(c, line, "replace", obj, a->v, a->kw, a->n);
        }
        if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "title") ||
            !strcmp(name, "capitalize"))
            return sy_jinja__apply_filter(c, line, name, obj, NULL, NULL, 0);
        if (!strcmp(name, "join")) {
            if (!x || x->t != J_LIST)
                sy_jinja__rfail(c, line, "join() needs a list");
            struct jval sep = obj;
            return sy_jinja__apply_filter(c, line, "join", *x, &sep, NULL, 1);
        }
        if (!strcmp(name, "format")) {
            sy_jinja__rfail(c, line, "str.format() is not supported");
        }
        if (!strcmp(name, "count") || !strcmp(name, "find")) {
            if (!x || x->t != J_STR)
                sy_jinja__rfail(c, line, "%s() needs a string", name);
            if (name[0] == 'f') {
                const char *h = sy_jinja__memmem_(obj.s.p, obj.s.n, x->s.p, x->s.n);
                return sy_jinja__vint(
                    h ? (int64_t)sy_jinja__cp_count(sy_jinja__vstr(obj.s.p, (size_t)(h - obj.s.p)))
                      : -1);
            }
            if (x->s.n == 0)
                return sy_jinja__vint((int64_t)sy_jinja__cp_count(obj) + 1);
            int64_t k = 0;
            for (size_t i = 0;;) {
                const char *h = sy_jinja__memmem_(obj.s.p + i, obj.s.n - i, x->s.p, x->s.n);
                if (!h)
                    return sy_jinja__vint(k);
                k++;
                i = (size_t)(h - obj.s.p) + x->s.n;
            }
        }
    } else if (obj.t == J_DICT) {
        if (!strcmp(name, "get")) {
            struct jval *k = arg(a, 0, NULL), *d = arg(a, 1, "default");
            struct jval v =
                k && k->t == J_STR ? sy_jinja__getattr_(obj, k->s.p, k->s.n) : SY_JV_UNDEF;
            return v.t != J_UNDEF ? v : d ? *d : SY_JV_NONE;
        }
        if (!strcmp(name, "items"))
            return sy_jinja__apply_filter(c, line, "items", obj, NULL, NULL, 0);
        if (!strcmp(name, "keys") || !strcmp(name, "values")) {
            struct jval out = sy_jinja__vlist(c, obj.d->n);
            for (size_t i = 0; i < obj.d->n; i++)
                sy_jinja__list_push(c, out.l,
                                    name[0] == 'k' ? sy_jinja__vstr(obj.d->kp[i], obj.d->kn[i])
                                                   : obj.d->v[i]);
            return out;
        }
        struct jval *fn =
            sy_jinja__dict_get(obj.d, name, strlen(name)); /* a macro stored in a dict */
        if (fn && fn->t == J_MACRO)
            return sy_jinja__call_macro(c, fn->m, a->v, a->kw, a->n, line);
    } else if (obj.t == J_LIST) {
        if (!strcmp(name, "append")) {
            struct jval *x = arg(a, 0, NULL);
            if (!x)
                sy_jinja__rfail(c, line, "append() needs an argument");
            sy_jinja__list_push(c, obj.l, *x);
            return SY_JV_NONE;
        }
        if (!strcmp(name, "pop")) {
            if (!obj.l->n)
                sy_jinja__rfail(c, line, "pop from an empty list");
            struct jval *x = arg(a, 0, NULL);
            int64_t i = x && x->t == J_INT ? x->i : -1;
            if (i < 0)
                i += (int64_t)obj.l->n;
            if (i < 0 || i >= (int64_t)obj.l->n)
                sy_jinja__rfail(c, line, "pop index out of range");
            struct jval v = obj.l->v[i];
            memmove(obj.l->v + i, obj.l->v + i + 1, (obj.l->n - (size_t)i - 1) * sizeof(v));
            obj.l->n--;
            return v;
        }
    }
    sy_jinja__rfail(c, line, "%s has no method %s()", sy_jinja__type_name(obj), name);
}

struct jval sy_jinja__call_builtin(struct ctx *c, int line, int id, struct args *a)
{
    switch (id) {
    case B_RANGE: {
        int64_t p[3] = {0, 0, 1};
        size_t np = 0;
        for (size_t i = 0; i < a->n; i++) {
            if (a->v[i].t != J_INT || np == 3)
                sy_jinja__rfail(c, line, "range() takes up to 3 integers");
            p[np++] = a->v[i].i;
        }
        int64_t start = np >= 2 ? p[0] : 0, stop = np >= 2 ? p[1] : p[0], st = np == 3 ? p[2] : 1;
        if (st == 0 || np == 0)
            sy_jinja__rfail(c, line, "range() needs a non-zero step and a stop");
        struct jval out = sy_jinja__vlist(c, 0);
        for (int64_t i = start; st > 0 ? i < stop : i > stop; i += st) {
            sy_jinja__step(c, line);
            sy_jinja__list_push(c, out.l, sy_jinja__vint(i));
        }
        return out;
    }
    case B_NAMESPACE:
    case B_DICT: {
        struct jval d = sy_jinja__vdict(c);
        for (size_t i = 0; i < a->n; i++) {
            if (a->kw[i]) {
                sy_jinja__dict_set(c, d.d, a->kw[i], strlen(a->kw[i]), a->v[i]);
            } else if (a->v[i].t == J_DICT) {
                for (size_t k = 0; k < a->v[i].d->n; k++)
                    sy_jinja__dict_set(c, d.d, a->v[i].d->kp[k], a->v[i].d->kn[k], a->v[i].d->v[k]);
            } else {
                sy_jinja__rfail(c, line, "namespace()/dict() take keyword arguments or a dict");
            }
        }
        return d;
    }
    case B_RAISE: {
        struct jval msg = a->n ? sy_jinja__to_str(c, a->v[0]) : sy_jinja__vstr("", 0);
        if (c->err && c->errcap)
            snprintf(c->err, c->errcap, "%.*s", (int)(msg.s.n > 1000 ? 1000 : msg.s.n), msg.s.p);
        c->rc = SY_EPARSE;
        longjmp(c->jb, 1);
    }
    case B_STRFTIME: {
        struct jval *fmt = arg(a, 0, NULL);
        if (!fmt || fmt->t != J_STR)
            sy_jinja__rfail(c, line, "strftime_now() needs a format string");
        char f[256], outb[512];
        snprintf(f, sizeof(f), "%.*s", (int)(fmt->s.n > 255 ? 255 : fmt->s.n), fmt->s.p);
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        size_t n = strftime(outb, sizeof(outb), f, &tm);
        return sy_jinja__vstr_dup(c, outb, n);
    }
    default: sy_jinja__rfail(c, line, "not callable");
    }
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
            v = sy_jinja__getattr_(v, p, n);
        } else {
            return SY_JV_UNDEF;
        }
        p += n;
        if (*p == '.')
            p++;
    }
    return v;
}

struct jval sy_jinja__apply_filter(struct ctx *c, int line, const char *name, struct jval v,
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
        case J_STR: return sy_jinja__vint((int64_t)sy_jinja__cp_count(v));
        case J_LIST: return sy_jinja__vint((int64_t)v.l->n);
        case J_DICT: return sy_jinja__vint((int64_t)v.d->n);
        case J_UNDEF: return sy_jinja__vint(0);
        default:
            sy_jinja__rfail(c, line, "object of type %s has no length", sy_jinja__type_name(v));
        }
    }
    if (!strcmp(name, "trim")) {
        if (v.t == J_UNDEF)
            return sy_jinja__vstr("", 0);
        v = sy_jinja__to_str(c, v);
        return sy_jinja__strip(v, x && x->t == J_STR ? x : NULL, true, true);
    }
    if (!strcmp(name, "tojson")) {
        struct jval *ind = arg(&a, 0, "indent");
        struct jval *sk = arg(&a, 99, "sort_keys");
        struct sy_buf *b = sy_jinja__tmp_open(c, line);
        sy_jinja__put_json(c, b, v, ind && ind->t == J_INT ? (int)(ind->i > 32 ? 32 : ind->i) : -1,
                           0, sk && sy_jinja__truthy(*sk));
        return sy_jinja__tmp_close(c, b);
    }
    if (!strcmp(name, "string"))
        return sy_jinja__to_str(c, v);
    if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "title") ||
        !strcmp(name, "capitalize")) {
        v = sy_jinja__to_str(c, v);
        int mode = name[0] == 'u' ? 0 : name[0] == 'l' ? 1 : name[0] == 't' ? 2 : 3;
        if (mode == 3) { /* capitalize: first upper, rest lower */
            const char *low = ascii_case(c, v, 1);
            char *p = (char *)low;
            if (v.s.n && p[0] >= 'a' && p[0] <= 'z')
                p[0] = (char)(p[0] & ~0x20);
            return sy_jinja__vstr(p, v.s.n);
        }
        if (mode == 2) {
            const char *low = ascii_case(c, v, 1);
            return sy_jinja__vstr(ascii_case(c, sy_jinja__vstr(low, v.s.n), 2), v.s.n);
        }
        return sy_jinja__vstr(ascii_case(c, v, mode), v.s.n);
    }
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        struct jval *dflt = arg(&a, 0, "default_value");
        struct jval *boolean = arg(&a, 1, "boolean");
        bool use =
            v.t == J_UNDEF || (boolean && sy_jinja__truthy(*boolean) && !sy_jinja__truthy(v));
        return use ? (dflt ? *dflt : sy_jinja__vstr("", 0)) : v;
    }
    if (!strcmp(name, "items")) {
        if (v.t == J_UNDEF)
            return sy_jinja__vlist(c, 0);
        if (v.t != J_DICT)
            sy_jinja__rfail(c, line, "items needs a dict, not %s", sy_jinja__type_name(v));
        struct jval out = sy_jinja__vlist(c, v.d->n);
        for (size_t i = 0; i < v.d->n; i++) {
            struct jval pair = sy_jinja__vlist(c, 2);
            sy_jinja__list_push(c, pair.l, sy_jinja__vstr(v.d->kp[i], v.d->kn[i]));
            sy_jinja__list_push(c, pair.l, v.d->v[i]);
            sy_jinja__list_push(c, out.l, pair);
        }
        return out;
    }
    if (!strcmp(name, "list")) {
        if (v.t == J_LIST)
            return v;
        struct jval out = sy_jinja__vlist(c, 0);
        if (v.t == J_STR) {
            for (size_t i = 0; i < v.s.n;) {
                uint32_t cp;
                size_t k = sy_tokenize__utf8_dec((const unsigned char *)v.s.p + i, v.s.n - i, &cp);
                sy_jinja__list_push(c, out.l, sy_jinja__vstr(v.s.p + i, k));
                i += k;
            }
        } else if (v.t == J_DICT) {
            for (size_t i = 0; i < v.d->n; i++)
                sy_jinja__list_push(c, out.l, sy_jinja__vstr(v.d->kp[i], v.d->kn[i]));
        } else if (v.t != J_UNDEF) {
            sy_jinja__rfail(c, line, "cannot convert a %s to a list", sy_jinja__type_name(v));
        }
        return out;
    }
    if (!strcmp(name, "join")) {
        struct jval *sep = arg(&a, 0, "d");
        struct jval *attr = arg(&a, 1, "attribute");
        if (v.t == J_UNDEF)
            return sy_jinja__vstr("", 0);
        if (v.t != J_LIST)
            v = sy_jinja__apply_filter(c, line, "list", v, NULL, NULL, 0);
        struct sy_buf *b = sy_jinja__tmp_open(c, line);
        for (size_t i = 0; i < v.l->n; i++) {
            if (i && sep)
                sy_jinja__put_str(c, b, *sep, 0);
            struct jval item = v.l->v[i];
            if (attr && attr->t == J_STR)
                item = attr_path(item, sy_jarena_strndup(&c->arena, attr->s.p, attr->s.n));
            sy_jinja__put_str(c, b, item, 0);
        }
        return sy_jinja__tmp_close(c, b);
    }
    if (!strcmp(name, "first") || !strcmp(name, "last")) {
        if (v.t == J_STR)
            v = sy_jinja__apply_filter(c, line, "list", v, NULL, NULL, 0);
        if (v.t != J_LIST)
            sy_jinja__rfail(c, line, "%s needs a list", name);
        if (!v.l->n)
            return SY_JV_UNDEF;
        return name[0] == 'f' ? v.l->v[0] : v.l->v[v.l->n - 1];
    }
    if (!strcmp(name, "reverse")) {
        if (v.t == J_STR || v.t == J_LIST) {
            struct jval parts[3] = {SY_JV_UNDEF, SY_JV_UNDEF, sy_jinja__vint(-1)};
            return sy_jinja__slice(c, line, v, parts);
        }
        sy_jinja__rfail(c, line, "reverse needs a list or string");
    }
    if (!strcmp(name, "unique")) {
        if (v.t != J_LIST)
            sy_jinja__rfail(c, line, "unique needs a list");
        struct jval out = sy_jinja__vlist(c, 0);
        for (size_t i = 0; i < v.l->n; i++) {
            bool seen = false;
            for (size_t k = 0; k < out.l->n && !seen; k++)
                seen = sy_jinja__eq(out.l->v[k], v.l->v[i], 0);
            if (!seen)
                sy_jinja__list_push(c, out.l, v.l->v[i]);
        }
        return out;
    }
    if (!strcmp(name, "sort") || !strcmp(name, "dictsort")) {
        bool dsort = name[0] == 'd';
        if (dsort)
            v = sy_jinja__apply_filter(c, line, "items", v, NULL, NULL, 0);
        if (v.t != J_LIST)
            sy_jinja__rfail(c, line, "sort needs a list");
        struct jval *rev = arg(&a, 0, "reverse");
        struct jval *attr = arg(&a, 2, "attribute");
        struct jval out = sy_jinja__vlist(c, v.l->n);
        for (size_t i = 0; i < v.l->n; i++) { /* stable insertion sort */
            struct jval item = v.l->v[i];
            struct jval key =
                dsort ? item.l->v[0]
                : attr && attr->t == J_STR
                    ? attr_path(item, sy_jarena_strndup(&c->arena, attr->s.p, attr->s.n))
                    : item;
            size_t j = out.l->n;
            sy_jinja__list_push(c, out.l, item);
            while (j > 0) {
                struct jval prev = out.l->v[j - 1];
                struct jval pk =
                    dsort ? prev.l->v[0]
                    : attr && attr->t == J_STR
                        ? attr_path(prev, sy_jarena_strndup(&c->arena, attr->s.p, attr->s.n))
                        : prev;
                int r = sy_jinja__cmp(c, line, pk, key);
                if (rev && sy_jinja__truthy(*rev) ? r >= 0 : r <= 0)
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
            return sy_jinja__vlist(c, 0);
        if (v.t != J_LIST)
            sy_jinja__rfail(c, line, "%s needs a list", name);
        size_t ai = 0;
        const char *attr = NULL;
        if (by_attr) {
            if (!x || x->t != J_STR)
                sy_jinja__rfail(c, line, "%s needs an attribute name", name);
            attr = sy_jarena_strndup(&c->arena, x->s.p, x->s.n);
            ai = 1;
        }
        struct jval *tname = arg(&a, ai, NULL);
        if (tname && tname->t != J_STR)
            sy_jinja__rfail(c, line, "%s: the test name must be a string", name);
        const char *test = tname ? sy_jarena_strndup(&c->arena, tname->s.p, tname->s.n) : NULL;
        struct jval targs[8];
        size_t nt = 0;
        for (size_t k = ai + 1; arg(&a, k, NULL) && nt < 8; k++)
            targs[nt++] = *arg(&a, k, NULL);
        struct jval out = sy_jinja__vlist(c, 0);
        for (size_t i = 0; i < v.l->n; i++) {
            struct jval item = attr ? attr_path(v.l->v[i], attr) : v.l->v[i];
            bool r = test ? sy_jinja__apply_test(c, line, test, item, targs, nt)
                          : sy_jinja__truthy(item);
            if (r == keep)
                sy_jinja__list_push(c, out.l, v.l->v[i]);
        }
        return out;
    }
    if (!strcmp(name, "map")) {
        if (v.t == J_UNDEF)
            return sy_jinja__vlist(c, 0);
        if (v.t != J_LIST)
            sy_jinja__rfail(c, line, "map needs a list");
        struct jval *attr = arg(&a, 99, "attribute");
        struct jval *dflt = arg(&a, 99, "default");
        struct jval out = sy_jinja__vlist(c, v.l->n);
        if (attr) {
            if (attr->t != J_STR)
                sy_jinja__rfail(c, line, "map: attribute must be a string");
            const char *path = sy_jarena_strndup(&c->arena, attr->s.p, attr->s.n);
            for (size_t i = 0; i < v.l->n; i++) {
                struct jval r = attr_path(v.l->v[i], path);
                sy_jinja__list_push(c, out.l, r.t == J_UNDEF && dflt ? *dflt : r);
            }
            return out;
        }
        if (!x || x->t != J_STR)
            sy_jinja__rfail(c, line, "map needs a filter name or attribute=");
        const char *fname = sy_jarena_strndup(&c->arena, x->s.p, x->s.n);
        for (size_t i = 0; i < v.l->n; i++)
            sy_jinja__list_push(
                c, out.l,
                sy_jinja__apply_filter(c, line, fname, v.l->v[i], a.n > 1 ? &a.v[1] : NULL,
                                       a.n > 1 ? &a.kw[1] : NULL, a.n > 1 ? a.n - 1 : 0));
        return out;
    }
    if (!strcmp(name, "abs")) {
        if (v.t == J_INT)
            return sy_jinja__vint(v.i < 0 ? -v.i : v.i);
        if (v.t == J_FLOAT)
            return sy_jinja__vfloat(fabs(v.f));
        sy_jinja__rfail(c, line, "abs needs a number");
    }
    if (!strcmp(name, "int") || !strcmp(name, "float")) {
        bool isint = name[0] == 'i';
        double d = 0;
        if (sy_jinja__is_num(v)) {
            d = sy_jinja__num(v);
        } else if (v.t == J_STR) {
            char tmp[64];
            snprintf(tmp, sizeof(tmp), "%.*s", (int)(v.s.n > 63 ? 63 : v.s.n), v.s.p);
            char *end;
            d = strtod(tmp, &end);
            if (end == tmp)
                return x ? *x : isint ? sy_jinja__vint(0) : sy_jinja__vfloat(0);
        } else {
            return x ? *x : isint ? sy_jinja__vint(0) : sy_jinja__vfloat(0);
        }
        if (isint) {
            if (!(d > -9.2e18 && d < 9.2e18))
                return sy_jinja__vint(0);
            return sy_jinja__vint((int64_t)d);
        }
        return sy_jinja__vfloat(d);
    }
    if (!strcmp(name, "replace")) {
        struct jval *old = arg(&a, 0, "old"), *nw = arg(&a, 1, "new"), *cnt = arg(&a, 2, "count");
        v = sy_jinja__to_str(c, v);
        if (!old || !nw || old->t != J_STR || nw->t != J_STR)
            sy_jinja__rfail(c, line, "replace needs two strings");
        int64_t max = cnt && cnt->t == J_INT ? cnt->i : -1;
        if (old->s.n == 0)
            return v;
        struct sy_buf *b = sy_jinja__tmp_open(c, line);
        size_t i = 0;
        int64_t k = 0;
        for (;;) {
            const char *h = max < 0 || k < max
                                ? sy_jinja__memmem_(v.s.p + i, v.s.n - i, old->s.p, old->s.n)
                                : NULL;
            if (!h)
                break;
            sy_buf_append(b, v.s.p + i, (size_t)(h - v.s.p) - i);
            sy_buf_append(b, nw->s.p, nw->s.n);
            i = (size_t)(h - v.s.p) + old->s.n;
            k++;
        }
        sy_buf_append(b, v.s.p + i, v.s.n - i);
        return sy_jinja__tmp_close(c, b);
    }
    if (!strcmp(name, "safe") || !strcmp(name, "e") || !strcmp(name, "escape") ||
        !strcmp(name, "forceescape")) {
        if (name[0] == 's')
            return v;
        v = sy_jinja__to_str(c, v);
        struct sy_buf *b = sy_jinja__tmp_open(c, line);
        for (size_t i = 0; i < v.s.n; i++) {
            switch (v.s.p[i]) {
            case '&': sy_buf_puts(b, "&amp;"); break;
            case '<': sy_buf_puts(b, "&lt;"); break;
            case '>': sy_buf_puts(b, "&gt;"); break;
            case '"': sy_buf_puts(b, "&#34;"); break;
            case '\'': sy_buf_puts(b, "&#39;"); break;
            default: sy_buf_append(b, &v.s.p[i], 1);
            }
        }
        return sy_jinja__tmp_close(c, b);
    }
    if (!strcmp(name, "indent")) {
        struct jval *w = arg(&a, 0, "width"), *first = arg(&a, 1, "first");
        struct jval *blank = arg(&a, 2, "blank");
        v = sy_jinja__to_str(c, v);
        /* the pad is a view: the width string, or up to 256 spaces */
        char spaces[256];
        memset(spaces, ' ', sizeof spaces);
        const char *pad = spaces;
        size_t npad = 0;
        if (w && w->t == J_STR) {
            pad = w->s.n ? w->s.p : "";
            npad = w->s.n;
        } else {
            int64_t width = w && w->t == J_INT ? w->i : 4;
            npad = width <= 0 ? 0 : width > 256 ? 256 : (size_t)width;
        }
        struct sy_buf *b = sy_jinja__tmp_open(c, line);
        bool line_start = true;
        bool is_first = true;
        for (size_t i = 0; i < v.s.n; i++) {
            if (line_start) {
                bool empty = v.s.p[i] == '\n';
                if ((!is_first || (first && sy_jinja__truthy(*first))) &&
                    (!empty || (blank && sy_jinja__truthy(*blank))))
                    sy_buf_append(b, pad, npad);
                line_start = false;
                is_first = false;
            }
            sy_buf_append(b, &v.s.p[i], 1);
            if (v.s.p[i] == '\n')
                line_start = true;
        }
        return sy_jinja__tmp_close(c, b);
    }
    sy_jinja__rfail(c, line, "unknown filter '%s'", name);
}

bool sy_jinja__apply_test(struct ctx *c, int line, const char *name, struct jval v,
                          struct jval *args, size_t nargs)
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
            sy_jinja__rfail(c, line, "%s needs an integer", name);
        return (v.i % 2 != 0) == (name[0] == 'o');
    }
    if (!strcmp(name, "divisibleby")) {
        if (v.t != J_INT || !x || x->t != J_INT || x->i == 0)
            sy_jinja__rfail(c, line, "divisibleby needs non-zero integers");
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
                sy_jinja__rfail(c, line, "test %s needs an argument", name);
            return sy_jinja__truthy(sy_jinja__binop(c, line, cmps[i].op, v, *x));
        }
    }
    sy_jinja__rfail(c, line, "unknown test '%s'", name);
}
