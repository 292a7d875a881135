/* jinja_eval.c - the Jinja interpreter: scopes, statements, expressions, operators and calls.
 *
 * The interpreter is split in three: values and conversions (jinja_value.c), builtins -- filters,
 * tests, globals and methods -- (jinja_builtins.c), and this file, which walks the AST.
 *
 * Values are small tagged structs passed by value; strings, lists and dicts point into the
 * render's arena, so a render allocates nothing that outlives it and an error anywhere unwinds
 * with one longjmp to sy_jinja_render(), which frees the arena and the heap buffers registered
 * with it. Rule: every buffer that holds text while the render may still fail (captures of
 * macro calls and {% set %} blocks, text built by operators and filters) comes from
 * sy_jinja__tmp_open() and leaves through sy_jinja__tmp_close(); nothing is freed by hand on
 * the way out:
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

/* ---- forward declarations ---- */

static struct jval lookup(struct frame *f, const char *name, size_t n);
static struct frame *new_frame(struct ctx *c, struct frame *parent);
static struct jval getitem(struct ctx *c, int line, struct jval obj, struct jval key);
static void eval_args(struct ctx *c, struct frame *f, const struct sy_jnode *n, struct args *a);
static struct jval eval_call(struct ctx *c, struct frame *f, const struct sy_jnode *n);
static struct jval eval(struct ctx *c, struct frame *f, const struct sy_jnode *n);
static void assign(struct ctx *c, struct frame *f, const struct sy_jnode *n, const char **names,
                   size_t nnames, struct jval v, int line);
static int exec_for(struct ctx *c, struct frame *f, const struct sy_jnode *n);
static int exec_stmt(struct ctx *c, struct frame *f, const struct sy_jnode *n);
static int exec_body(struct ctx *c, struct frame *f, struct sy_jnode *const *body, size_t n);

/* ---- scopes ---- */

static struct jval lookup(struct frame *f, const char *name, size_t n)
{
    for (; f; f = f->parent) {
        struct jval *v = sy_jinja__dict_get(&f->vars, name, n);
        if (v)
            return *v;
    }
    return SY_JV_UNDEF;
}

static struct frame *new_frame(struct ctx *c, struct frame *parent)
{
    struct frame *f = sy_jarena_alloc(&c->arena, sizeof(*f));
    f->parent = parent;
    return f;
}

/* ---- indexing ---- */

struct jval sy_jinja__getattr_(struct jval obj, const char *name, size_t n)
{
    if (obj.t == J_DICT) {
        struct jval *v = sy_jinja__dict_get(obj.d, name, n);
        return v ? *v : SY_JV_UNDEF;
    }
    return SY_JV_UNDEF;
}

static struct jval getitem(struct ctx *c, int line, struct jval obj, struct jval key)
{
    if (obj.t == J_DICT) {
        if (key.t != J_STR)
            return SY_JV_UNDEF;
        return sy_jinja__getattr_(obj, key.s.p, key.s.n);
    }
    if ((obj.t == J_LIST || obj.t == J_STR) && (key.t == J_INT || key.t == J_BOOL)) {
        int64_t len = obj.t == J_LIST ? (int64_t)obj.l->n : (int64_t)sy_jinja__cp_count(obj);
        int64_t i = key.i < 0 ? key.i + len : key.i;
        if (i < 0 || i >= len)
            return SY_JV_UNDEF;
        if (obj.t == J_LIST)
            return obj.l->v[i];
        size_t a = sy_jinja__cp_offset(obj, (size_t)i), b = sy_jinja__cp_offset(obj, (size_t)i + 1);
        return sy_jinja__vstr(obj.s.p + a, b - a);
    }
    if (obj.t == J_UNDEF)
        return SY_JV_UNDEF;
    (void)c;
    (void)line;
    return SY_JV_UNDEF;
}

/* Moves *k (a code point index of s) and *off (its byte offset, as sy_jinja__cp_offset gives it)
 * to index `to`, walking from where they are: a slice visits its indices in order, so one slice
 * walks each byte about once instead of counting from the start for every code point. */
static void cp_seek(struct jval s, size_t *k, size_t *off, size_t to)
{
    const unsigned char *p = (const unsigned char *)s.s.p;
    for (; *k < to && *off < s.s.n; (*k)++) { /* forward: past one lead byte, then continuations */
        (*off)++;
        while (*off < s.s.n && (p[*off] & 0xC0) == 0x80)
            (*off)++;
    }
    for (; *k > to; (*k)--) { /* back: to the previous lead byte, or the start */
        (*off)--;
        while (*off > 0 && (p[*off] & 0xC0) == 0x80)
            (*off)--;
    }
}

struct jval sy_jinja__slice(struct ctx *c, int line, struct jval obj, struct jval *parts)
{
    if (obj.t != J_LIST && obj.t != J_STR)
        sy_jinja__rfail(c, line, "cannot slice a %s", sy_jinja__type_name(obj));
    int64_t len = obj.t == J_LIST ? (int64_t)obj.l->n : (int64_t)sy_jinja__cp_count(obj);
    int64_t stepv = 1;
    for (int k = 0; k < 3; k++)
        if (parts[k].t != J_UNDEF && parts[k].t != J_NONE && parts[k].t != J_INT)
            sy_jinja__rfail(c, line, "slice indices must be integers");
    if (parts[2].t == J_INT)
        stepv = parts[2].i;
    if (stepv == 0)
        sy_jinja__rfail(c, line, "slice step cannot be zero");
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
        struct jval out = sy_jinja__vlist(c, 0);
        for (int64_t i = start; stepv > 0 ? i < stop : i > stop; i += stepv)
            sy_jinja__list_push(c, out.l, obj.l->v[i]);
        return out;
    }
    struct sy_buf *b = sy_jinja__tmp_open(c, line);
    size_t k = 0, off = 0; /* code point k starts at byte off */
    for (int64_t i = start; stepv > 0 ? i < stop : i > stop; i += stepv) {
        cp_seek(obj, &k, &off, (size_t)i);
        size_t a = off;
        cp_seek(obj, &k, &off, (size_t)i + 1);
        sy_buf_append(b, obj.s.p + a, off - a);
    }
    return sy_jinja__tmp_close(c, b);
}

/* ---- operators ---- */

struct jval sy_jinja__binop(struct ctx *c, int line, int op, struct jval a, struct jval b)
{
    switch (op) {
    case JOP_EQ: return sy_jinja__vbool(sy_jinja__eq(a, b, 0));
    case JOP_NE: return sy_jinja__vbool(!sy_jinja__eq(a, b, 0));
    case JOP_LT: return sy_jinja__vbool(sy_jinja__cmp(c, line, a, b) < 0);
    case JOP_GT: return sy_jinja__vbool(sy_jinja__cmp(c, line, a, b) > 0);
    case JOP_LE: return sy_jinja__vbool(sy_jinja__cmp(c, line, a, b) <= 0);
    case JOP_GE: return sy_jinja__vbool(sy_jinja__cmp(c, line, a, b) >= 0);
    case JOP_IN:
    case JOP_NOTIN: {
        bool r = false;
        if (b.t == J_STR) {
            if (a.t != J_STR)
                sy_jinja__rfail(c, line, "'in <string>' requires a string on the left, not %s",
                                sy_jinja__type_name(a));
            r = sy_jinja__memmem_(b.s.p, b.s.n, a.s.p, a.s.n) != NULL;
        } else if (b.t == J_LIST) {
            for (size_t i = 0; i < b.l->n && !r; i++)
                r = sy_jinja__eq(a, b.l->v[i], 0);
        } else if (b.t == J_DICT) {
            r = a.t == J_STR && sy_jinja__dict_get(b.d, a.s.p, a.s.n);
        } else if (b.t != J_UNDEF) {
            sy_jinja__rfail(c, line, "argument of type %s is not iterable", sy_jinja__type_name(b));
        }
        return sy_jinja__vbool(op == JOP_IN ? r : !r);
    }
    case JOP_CONCAT: {
        struct sy_buf *s = sy_jinja__tmp_open(c, line);
        sy_jinja__put_str(c, s, a, 0);
        sy_jinja__put_str(c, s, b, 0);
        return sy_jinja__tmp_close(c, s);
    }
    default: break;
    }
    if (op == JOP_ADD && a.t == J_STR && b.t == J_STR) {
        char *p = sy_jarena_alloc(&c->arena, a.s.n + b.s.n + 1);
        memcpy(p, a.s.p, a.s.n);
        memcpy(p + a.s.n, b.s.p, b.s.n);
        return sy_jinja__vstr(p, a.s.n + b.s.n);
    }
    if (op == JOP_ADD && a.t == J_LIST && b.t == J_LIST) {
        struct jval l = sy_jinja__vlist(c, a.l->n + b.l->n);
        for (size_t i = 0; i < a.l->n; i++)
            sy_jinja__list_push(c, l.l, a.l->v[i]);
        for (size_t i = 0; i < b.l->n; i++)
            sy_jinja__list_push(c, l.l, b.l->v[i]);
        return l;
    }
    if (op == JOP_MUL && ((a.t == J_STR && b.t == J_INT) || (a.t == J_INT && b.t == J_STR))) {
        struct jval s = a.t == J_STR ? a : b;
        int64_t k = a.t == J_INT ? a.i : b.i;
        if (k <= 0 || s.s.n == 0) /* '' * 10**10 is '' at once, not ten billion appends */
            return sy_jinja__vstr("", 0);
        if ((uint64_t)k > SY_JINJA_MAX_OUTPUT / s.s.n)
            sy_jinja__rfail(c, line, "string repetition too large");
        /* built in the arena (its limit unwinds without leaking anything), by doubling copies:
         * 'x' * 10**7 is 24 memcpys, not 10**7 appends */
        size_t total = (size_t)k * s.s.n, len = s.s.n;
        char *r = sy_jarena_alloc(&c->arena, total + 1);
        memcpy(r, s.s.p, s.s.n);
        while (len < total) {
            size_t n = len < total - len ? len : total - len;
            memcpy(r + len, r, n);
            len += n;
        }
        r[total] = '\0';
        return sy_jinja__vstr(r, total);
    }
    if (!sy_jinja__is_num(a) || !sy_jinja__is_num(b))
        sy_jinja__rfail(c, line, "unsupported operand types for arithmetic: %s and %s",
                        sy_jinja__type_name(a), sy_jinja__type_name(b));
    bool fl = a.t == J_FLOAT || b.t == J_FLOAT;
    switch (op) {
    case JOP_ADD:
        return fl ? sy_jinja__vfloat(sy_jinja__num(a) + sy_jinja__num(b))
                  : sy_jinja__vint((int64_t)((uint64_t)a.i + (uint64_t)b.i));
    case JOP_SUB:
        return fl ? sy_jinja__vfloat(sy_jinja__num(a) - sy_jinja__num(b))
                  : sy_jinja__vint((int64_t)((uint64_t)a.i - (uint64_t)b.i));
    case JOP_MUL:
        return fl ? sy_jinja__vfloat(sy_jinja__num(a) * sy_jinja__num(b))
                  : sy_jinja__vint((int64_t)((uint64_t)a.i * (uint64_t)b.i));
    case JOP_DIV:
        if (sy_jinja__num(b) == 0)
            sy_jinja__rfail(c, line, "division by zero");
        return sy_jinja__vfloat(sy_jinja__num(a) / sy_jinja__num(b));
    case JOP_FLOORDIV:
    case JOP_MOD:
        if (sy_jinja__num(b) == 0)
            sy_jinja__rfail(c, line, "division by zero");
        if (fl) {
            double q = floor(sy_jinja__num(a) / sy_jinja__num(b));
            return op == JOP_FLOORDIV ? sy_jinja__vfloat(q)
                                      : sy_jinja__vfloat(sy_jinja__num(a) - q * sy_jinja__num(b));
        } else {
            if (b.i == -1 && a.i == INT64_MIN)
                sy_jinja__rfail(c, line, "integer overflow");
            int64_t q = a.i / b.i, r = a.i % b.i;
            if (r != 0 && ((r < 0) != (b.i < 0))) {
                q--;
                r += b.i;
            }
            return op == JOP_FLOORDIV ? sy_jinja__vint(q) : sy_jinja__vint(r);
        }
    case JOP_POW: {
        if (!fl && b.i >= 0) {
            int64_t r = 1;
            for (int64_t i = 0; i < b.i && i < 64; i++)
                r = (int64_t)((uint64_t)r * (uint64_t)a.i);
            return sy_jinja__vint(r);
        }
        return sy_jinja__vfloat(pow(sy_jinja__num(a), sy_jinja__num(b)));
    }
    default: sy_jinja__rfail(c, line, "bad operator");
    }
}

/* ---- calls ---- */

static void eval_args(struct ctx *c, struct frame *f, const struct sy_jnode *n, struct args *a)
{
    a->n = n->nkids;
    for (size_t i = 0; i < n->nkids; i++) {
        a->v[i] = eval(c, f, n->kids[i]);
        a->kw[i] = n->names ? n->names[i] : NULL;
    }
}

/* Positional argument i, or keyword name, or NULL. */

struct jval sy_jinja__call_macro(struct ctx *c, const struct sy_jnode *m, struct jval *args,
                                 const char **kw, size_t nargs, int line)
{
    if (c->ncaps >= SY_JINJA_CALL_DEPTH)
        sy_jinja__rfail(c, line, "macro calls nested deeper than %d", SY_JINJA_CALL_DEPTH);
    struct frame *f = new_frame(c, c->globals);
    size_t pos = 0;
    for (size_t i = 0; i < nargs; i++) {
        if (kw && kw[i]) {
            size_t k;
            for (k = 0; k < m->nnames; k++)
                if (!strcmp(m->names[k], kw[i]))
                    break;
            if (k == m->nnames)
                sy_jinja__rfail(c, line, "macro %s has no parameter %s", m->str, kw[i]);
            sy_jinja__dict_set(c, &f->vars, m->names[k], strlen(m->names[k]), args[i]);
        } else {
            if (pos >= m->nnames)
                sy_jinja__rfail(c, line, "too many arguments for macro %s", m->str);
            sy_jinja__dict_set(c, &f->vars, m->names[pos], strlen(m->names[pos]), args[i]);
            pos++;
        }
    }
    for (size_t k = 0; k < m->nnames; k++)
        if (!sy_jinja__dict_get(&f->vars, m->names[k], strlen(m->names[k])))
            sy_jinja__dict_set(c, &f->vars, m->names[k], strlen(m->names[k]),
                               m->kids[k] ? eval(c, f, m->kids[k]) : SY_JV_UNDEF);
    struct sy_buf *cap = sy_jinja__tmp_open(c, line);
    struct sy_buf *saved = c->out;
    c->out = cap;
    exec_body(c, f, m->body, m->nbody);
    c->out = saved;
    return sy_jinja__tmp_close(c, cap);
}

static struct jval eval_call(struct ctx *c, struct frame *f, const struct sy_jnode *n)
{
    struct args *a = sy_jarena_alloc(&c->arena, sizeof(*a));
    if (n->a->kind == JE_ATTR) {
        struct jval obj = eval(c, f, n->a->a);
        eval_args(c, f, n, a);
        if (obj.t == J_DICT) {
            struct jval *v = sy_jinja__dict_get(obj.d, n->a->str, n->a->slen);
            if (v && v->t == J_MACRO)
                return sy_jinja__call_macro(c, v->m, a->v, a->kw, a->n, n->line);
        }
        return sy_jinja__call_method(c, n->line, obj, n->a->str, a);
    }
    struct jval fn = eval(c, f, n->a);
    eval_args(c, f, n, a);
    if (fn.t == J_FUNC)
        return sy_jinja__call_builtin(c, n->line, (int)fn.i, a);
    if (fn.t == J_MACRO)
        return sy_jinja__call_macro(c, fn.m, a->v, a->kw, a->n, n->line);
    if (n->a->kind == JE_NAME)
        sy_jinja__rfail(c, n->line, "%s is not callable (%s)", n->a->str, sy_jinja__type_name(fn));
    sy_jinja__rfail(c, n->line, "a %s is not callable", sy_jinja__type_name(fn));
}

/* ---- expressions ---- */

static struct jval eval(struct ctx *c, struct frame *f, const struct sy_jnode *n)
{
    sy_jinja__step(c, n->line);
    switch (n->kind) {
    case JE_LIT:
        switch (n->lk) {
        case JL_NONE: return SY_JV_NONE;
        case JL_BOOL: return sy_jinja__vbool(n->li != 0);
        case JL_INT: return sy_jinja__vint(n->li);
        case JL_FLOAT: return sy_jinja__vfloat(n->lf);
        case JL_STR: return sy_jinja__vstr(n->str, n->slen);
        }
        return SY_JV_UNDEF;
    case JE_NAME: return lookup(f, n->str, n->slen);
    case JE_ATTR: {
        struct jval obj = eval(c, f, n->a);
        return sy_jinja__getattr_(obj, n->str, n->slen);
    }
    case JE_INDEX: {
        struct jval obj = eval(c, f, n->a);
        return getitem(c, n->line, obj, eval(c, f, n->b));
    }
    case JE_SLICE: {
        struct jval obj = eval(c, f, n->a);
        struct jval parts[3];
        for (int k = 0; k < 3; k++)
            parts[k] = n->kids[k] ? eval(c, f, n->kids[k]) : SY_JV_UNDEF;
        return sy_jinja__slice(c, n->line, obj, parts);
    }
    case JE_CALL: return eval_call(c, f, n);
    case JE_FILTER: {
        struct jval v = eval(c, f, n->a);
        struct args *a = sy_jarena_alloc(&c->arena, sizeof(*a));
        eval_args(c, f, n, a);
        return sy_jinja__apply_filter(c, n->line, n->str, v, a->v, a->kw, a->n);
    }
    case JE_TEST: {
        struct jval v = eval(c, f, n->a);
        struct args *a = sy_jarena_alloc(&c->arena, sizeof(*a));
        eval_args(c, f, n, a);
        bool r = sy_jinja__apply_test(c, n->line, n->str, v, a->v, a->n);
        return sy_jinja__vbool(n->op ? !r : r);
    }
    case JE_UNARY: {
        struct jval v = eval(c, f, n->a);
        if (n->op == '!')
            return sy_jinja__vbool(!sy_jinja__truthy(v));
        if (v.t == J_INT || v.t == J_BOOL)
            return sy_jinja__vint(n->op == '-' ? (int64_t)(0 - (uint64_t)v.i) : v.i);
        if (v.t == J_FLOAT)
            return sy_jinja__vfloat(n->op == '-' ? -v.f : v.f);
        sy_jinja__rfail(c, n->line, "bad operand type for unary %c: %s", n->op,
                        sy_jinja__type_name(v));
    }
    case JE_BIN: {
        struct jval a = eval(c, f, n->a);
        struct jval b = eval(c, f, n->b);
        return sy_jinja__binop(c, n->line, n->op, a, b);
    }
    case JE_AND: {
        struct jval a = eval(c, f, n->a);
        return sy_jinja__truthy(a) ? eval(c, f, n->b) : a;
    }
    case JE_OR: {
        struct jval a = eval(c, f, n->a);
        return sy_jinja__truthy(a) ? a : eval(c, f, n->b);
    }
    case JE_COND:
        if (sy_jinja__truthy(eval(c, f, n->a)))
            return eval(c, f, n->b);
        return n->c ? eval(c, f, n->c) : SY_JV_UNDEF;
    case JE_LIST:
    case JE_TUPLE: {
        struct jval l = sy_jinja__vlist(c, n->nkids);
        for (size_t i = 0; i < n->nkids; i++)
            sy_jinja__list_push(c, l.l, eval(c, f, n->kids[i]));
        return l;
    }
    case JE_DICT: {
        struct jval d = sy_jinja__vdict(c);
        for (size_t i = 0; i + 1 < n->nkids; i += 2) {
            struct jval k = eval(c, f, n->kids[i]);
            if (k.t != J_STR)
                k = sy_jinja__to_str(c, k);
            sy_jinja__dict_set(c, d.d, k.s.p, k.s.n, eval(c, f, n->kids[i + 1]));
        }
        return d;
    }
    default: sy_jinja__rfail(c, n->line, "not an expression");
    }
}

/* ---- statements ---- */

enum { X_OK, X_BREAK, X_CONTINUE };

static void assign(struct ctx *c, struct frame *f, const struct sy_jnode *n, const char **names,
                   size_t nnames, struct jval v, int line)
{
    if (nnames == 1) {
        sy_jinja__dict_set(c, &f->vars, names[0], strlen(names[0]), v);
        return;
    }
    if (v.t != J_LIST || v.l->n != nnames)
        sy_jinja__rfail(c, line, "cannot unpack %s into %zu names", sy_jinja__type_name(v), nnames);
    for (size_t i = 0; i < nnames; i++)
        sy_jinja__dict_set(c, &f->vars, names[i], strlen(names[i]), v.l->v[i]);
    (void)n;
}

static int exec_for(struct ctx *c, struct frame *f, const struct sy_jnode *n)
{
    struct jval it = eval(c, f, n->a);
    if (it.t == J_DICT) { /* iterating a dict yields its keys */
        struct jval keys = sy_jinja__vlist(c, it.d->n);
        for (size_t i = 0; i < it.d->n; i++)
            sy_jinja__list_push(c, keys.l, sy_jinja__vstr(it.d->kp[i], it.d->kn[i]));
        it = keys;
    } else if (it.t == J_STR) {
        it = sy_jinja__apply_filter(c, n->line, "list", it, NULL, NULL, 0);
    } else if (it.t == J_UNDEF || it.t == J_NONE) {
        if (it.t == J_NONE)
            sy_jinja__rfail(c, n->line, "'NoneType' object is not iterable");
        it = sy_jinja__vlist(c, 0);
    } else if (it.t != J_LIST) {
        sy_jinja__rfail(c, n->line, "a %s is not iterable", sy_jinja__type_name(it));
    }
    struct frame *lf = new_frame(c, f);
    /* the loop filter runs before loop.* is computed, as in Jinja2 */
    struct jlist *items = it.l;
    if (n->b) {
        struct jval kept = sy_jinja__vlist(c, 0);
        for (size_t i = 0; i < it.l->n; i++) {
            assign(c, lf, n, n->names, n->nnames, it.l->v[i], n->line);
            if (sy_jinja__truthy(eval(c, lf, n->b)))
                sy_jinja__list_push(c, kept.l, it.l->v[i]);
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
    struct jval loop = sy_jinja__vdict(c);
    for (size_t i = 0; i < len; i++) {
        sy_jinja__step(c, n->line);
        sy_jinja__dict_set(c, loop.d, "index", 5, sy_jinja__vint((int64_t)i + 1));
        sy_jinja__dict_set(c, loop.d, "index0", 6, sy_jinja__vint((int64_t)i));
        sy_jinja__dict_set(c, loop.d, "revindex", 8, sy_jinja__vint((int64_t)(len - i)));
        sy_jinja__dict_set(c, loop.d, "revindex0", 9, sy_jinja__vint((int64_t)(len - i - 1)));
        sy_jinja__dict_set(c, loop.d, "first", 5, sy_jinja__vbool(i == 0));
        sy_jinja__dict_set(c, loop.d, "last", 4, sy_jinja__vbool(i == len - 1));
        sy_jinja__dict_set(c, loop.d, "length", 6, sy_jinja__vint((int64_t)len));
        sy_jinja__dict_set(c, loop.d, "previtem", 8, i > 0 ? items->v[i - 1] : SY_JV_UNDEF);
        sy_jinja__dict_set(c, loop.d, "nextitem", 8, i + 1 < len ? items->v[i + 1] : SY_JV_UNDEF);
        sy_jinja__dict_set(c, &lf->vars, "loop", 4, loop);
        assign(c, lf, n, n->names, n->nnames, items->v[i], n->line);
        int r = exec_body(c, lf, n->body, n->nbody);
        if (r == X_BREAK)
            break;
    }
    return X_OK;
}

static int exec_stmt(struct ctx *c, struct frame *f, const struct sy_jnode *n)
{
    sy_jinja__step(c, n->line);
    switch (n->kind) {
    case JN_TEXT: sy_jinja__out_append(c, n->str, n->slen); return X_OK;
    case JN_OUTPUT: {
        struct jval v = eval(c, f, n->a);
        if (v.t == J_STR) {
            sy_jinja__out_append(c, v.s.p, v.s.n);
        } else {
            struct sy_buf *b = sy_jinja__tmp_open(c, n->line);
            sy_jinja__put_str(c, b, v, 0);
            struct jval s = sy_jinja__tmp_close(c, b);
            sy_jinja__out_append(c, s.s.p, s.s.n);
        }
        return X_OK;
    }
    case JN_IF:
        if (sy_jinja__truthy(eval(c, f, n->a)))
            return exec_body(c, f, n->body, n->nbody);
        return exec_body(c, f, n->alt, n->nalt);
    case JN_FOR: return exec_for(c, f, n);
    case JN_SET: {
        struct jval v = eval(c, f, n->b);
        if (n->a) { /* ns.attr = v */
            struct jval obj = lookup(f, n->a->a->str, n->a->a->slen);
            if (obj.t != J_DICT)
                sy_jinja__rfail(c, n->line, "cannot set attribute %s on %s", n->a->str,
                                sy_jinja__type_name(obj));
            sy_jinja__dict_set(c, obj.d, n->a->str, n->a->slen, v);
        } else {
            assign(c, f, n, n->names, n->nnames, v, n->line);
        }
        return X_OK;
    }
    case JN_SETBLOCK: {
        if (c->ncaps >= SY_JINJA_CALL_DEPTH)
            sy_jinja__rfail(c, n->line, "block captures nested too deeply");
        struct sy_buf *cap = sy_jinja__tmp_open(c, n->line);
        struct sy_buf *saved = c->out;
        c->out = cap;
        exec_body(c, f, n->body, n->nbody);
        c->out = saved;
        struct jval v = sy_jinja__tmp_close(c, cap);
        sy_jinja__dict_set(c, &f->vars, n->names[0], strlen(n->names[0]), v);
        return X_OK;
    }
    case JN_MACRO: {
        struct jval m = {.t = J_MACRO, .m = n};
        sy_jinja__dict_set(c, &f->vars, n->str, n->slen, m);
        return X_OK;
    }
    case JN_BREAK: return X_BREAK;
    case JN_CONTINUE: return X_CONTINUE;
    default: sy_jinja__rfail(c, n->line, "not a statement");
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
        sy_jinja__dict_set(c, &g->vars, fns[i].n, strlen(fns[i].n),
                           (struct jval){.t = J_FUNC, .i = fns[i].id});
    if (vars && cJSON_IsObject(vars)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, vars)
        {
            sy_jinja__dict_set(c, &g->vars, it->string, strlen(it->string),
                               sy_jinja__from_json(c, it, 0));
        }
    }
    /* top-level statements run in the global frame, so macros see each other (and themselves) */
    exec_body(c, g, t->body, t->nbody);
    sy_jarena_free(&c->arena);
    free(c);
    return 0;
}
