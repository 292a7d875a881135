/* jinja_int.h - Jinja internals: the AST and arena (jinja_parse.c), and the interpreter's values,
 * state and shared helpers (jinja_value.c, jinja_builtins.c, jinja_eval.c). Not a public API:
 * every sy_jinja__* function may longjmp out through the render context on an error. */
#ifndef SY_TOKENIZE_JINJA_INT_H
#define SY_TOKENIZE_JINJA_INT_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A bump allocator: chunks freed all at once. */
struct sy_jarena {
    struct sy_jchunk *head; /* owned; newest chunk first */
    size_t total;           /* bytes handed out */
    size_t limit;           /* 0 = unlimited; exceeding it calls the overflow handler */
    jmp_buf *overflow;      /* longjmp target when limit is exceeded (value 2) */
};

void *sy_jarena_alloc(struct sy_jarena *a, size_t n); /* zeroed, 16-byte aligned */
char *sy_jarena_strndup(struct sy_jarena *a, const char *s, size_t n);
void sy_jarena_free(struct sy_jarena *a);

enum sy_jnode_kind {
    /* statements */
    JN_TEXT,     /* str */
    JN_OUTPUT,   /* a = expression */
    JN_IF,       /* a = test, body, alt (elif is a nested JN_IF in alt) */
    JN_FOR,      /* names = targets, a = iterable, b = filter (or NULL), body, alt = else */
    JN_SET,      /* names = targets (or a = JN_ATTR target), b = value */
    JN_SETBLOCK, /* names[0] = target, body */
    JN_MACRO,    /* str = name, names = params, kids = defaults (NULL = required), body */
    JN_BREAK,
    JN_CONTINUE,
    /* expressions */
    JE_LIT,    /* lit */
    JE_NAME,   /* str */
    JE_ATTR,   /* a . str */
    JE_INDEX,  /* a [ b ] */
    JE_SLICE,  /* a [ kids[0] : kids[1] : kids[2] ] (NULL entries = omitted) */
    JE_CALL,   /* a ( kids ) with names[i] = keyword or NULL */
    JE_FILTER, /* a | str ( kids, names ) */
    JE_TEST,   /* a is [not] str ( kids ), op = negate */
    JE_UNARY,  /* op ('-', '+', '!' for not) a */
    JE_BIN,    /* a op b */
    JE_AND,    /* a and b */
    JE_OR,     /* a or b */
    JE_COND,   /* b if a else c (c may be NULL) */
    JE_LIST,   /* kids */
    JE_TUPLE,  /* kids */
    JE_DICT,   /* kids = key, value, key, value ... */
};

/* Binary operators (JE_BIN op). */
enum sy_jop {
    JOP_ADD = 1,
    JOP_SUB,
    JOP_MUL,
    JOP_DIV,
    JOP_FLOORDIV,
    JOP_MOD,
    JOP_POW,
    JOP_CONCAT,
    JOP_EQ,
    JOP_NE,
    JOP_LT,
    JOP_GT,
    JOP_LE,
    JOP_GE,
    JOP_IN,
    JOP_NOTIN,
};

enum sy_jlit_kind { JL_NONE, JL_BOOL, JL_INT, JL_FLOAT, JL_STR };

struct sy_jnode {
    enum sy_jnode_kind kind;    /* what this is */
    int op;                     /* operator / negate flag */
    int line;                   /* 1-based source line */
    struct sy_jnode *a, *b, *c; /* operands (see kind) */
    const char *str;            /* name / text (arena) */
    size_t slen;                /* str length */
    struct sy_jnode **kids;     /* arguments / items */
    const char **names;         /* keyword names (JE_CALL/JE_FILTER) or targets (JN_FOR/JN_SET) */
    size_t nkids;               /* entries in kids (and names for calls) */
    size_t nnames;              /* entries in names (targets, params) */
    struct sy_jnode **body;     /* statement list */
    size_t nbody;               /* entries */
    struct sy_jnode **alt;      /* else / elif list */
    size_t nalt;                /* entries */
    enum sy_jlit_kind lk;       /* JE_LIT kind */
    int64_t li;                 /* JE_LIT int / bool */
    double lf;                  /* JE_LIT float */
};

struct sy_jinja {
    struct sy_jarena arena; /* owns every node */
    struct sy_jnode **body; /* top-level statements */
    size_t nbody;           /* entries */
};

/* ---- interpreter values and state (jinja_value.c, jinja_builtins.c, jinja_eval.c) ---- */

#include <cjson/cJSON.h>

#include "core/buf.h"

#define SY_JINJA_CALL_DEPTH 64 /* nested macro calls and block captures */
#define SY_JINJA_TMP_SLOTS  8  /* temporary buffers live at once beside the captures */

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
    struct sy_jarena arena; /* everything a render allocates */
    jmp_buf jb;             /* error exit */
    char *err;              /* caller's buffer */
    size_t errcap;          /* its capacity */
    int rc;                 /* error code when jumping */
    struct sy_buf *out;     /* current output (caller's or a capture) */
    /* live heap buffers, captures and temporaries (sy_jinja__tmp_open), freed on error */
    struct sy_buf *caps[SY_JINJA_CALL_DEPTH + SY_JINJA_TMP_SLOTS];
    int ncaps;             /* entries */
    uint64_t steps;        /* evaluation steps so far */
    struct frame *globals; /* root scope */
};

struct args {
    struct jval v[64];  /* evaluated arguments */
    const char *kw[64]; /* keyword names (NULL = positional) */
    size_t n;           /* entries */
};

#define SY_JV_UNDEF ((struct jval){.t = J_UNDEF}) /* Jinja's Undefined */
#define SY_JV_NONE  ((struct jval){.t = J_NONE})  /* None */

/* jinja_value.c: errors and limits (longjmp out of the render), constructors, dicts, JSON input */
__attribute__((noreturn, format(printf, 3, 4))) void sy_jinja__rfail(struct ctx *c, int line,
                                                                     const char *fmt, ...);
void sy_jinja__step(struct ctx *c, int line);
void sy_jinja__out_append(struct ctx *c, const char *p, size_t n);
struct jval sy_jinja__vbool(bool b);
struct jval sy_jinja__vint(int64_t i);
struct jval sy_jinja__vfloat(double f);
struct jval sy_jinja__vstr(const char *p, size_t n);
struct jval sy_jinja__vstr_dup(struct ctx *c, const char *p, size_t n);
/* A heap buffer for text built while the render may still fail (a value that cannot be
 * converted, the arena's limit): registered in c->caps, so the error exit frees it. */
struct sy_buf *sy_jinja__tmp_open(struct ctx *c, int line);
/* Copies b (the newest registered buffer) into the arena as a string, then unregisters and frees
 * it. The copy may pass the arena's limit: b is still registered then, and freed by the exit. */
struct jval sy_jinja__tmp_close(struct ctx *c, struct sy_buf *b);
struct jval sy_jinja__vlist(struct ctx *c, size_t cap);
void sy_jinja__list_push(struct ctx *c, struct jlist *l, struct jval v);
struct jval sy_jinja__vdict(struct ctx *c);
struct jval *sy_jinja__dict_get(const struct jdict *d, const char *k, size_t kn);
void sy_jinja__dict_set(struct ctx *c, struct jdict *d, const char *k, size_t kn, struct jval v);
struct jval sy_jinja__from_json(struct ctx *c, const cJSON *j, int depth);
/* jinja_value.c: Python truthiness, str(), tojson, ==, ordering, code-point string helpers */
bool sy_jinja__truthy(struct jval v);
const char *sy_jinja__type_name(struct jval v);
void sy_jinja__put_str(struct ctx *c, struct sy_buf *b, struct jval v, int depth);
struct jval sy_jinja__to_str(struct ctx *c, struct jval v);
void sy_jinja__put_json(struct ctx *c, struct sy_buf *b, struct jval v, int indent, int depth,
                        bool sort_keys);
bool sy_jinja__is_num(struct jval v);
double sy_jinja__num(struct jval v);
bool sy_jinja__eq(struct jval a, struct jval b, int depth);
int sy_jinja__cmp(struct ctx *c, int line, struct jval a, struct jval b);
size_t sy_jinja__cp_count(struct jval s);
size_t sy_jinja__cp_offset(struct jval s, size_t k);
bool sy_jinja__py_space(uint32_t cp);
struct jval sy_jinja__strip(struct jval s, const struct jval *chars, bool left, bool right);
const char *sy_jinja__memmem_(const char *h, size_t hn, const char *n, size_t nn);
/* jinja_builtins.c: methods, global functions, filters, tests */
struct jval sy_jinja__call_method(struct ctx *c, int line, struct jval obj, const char *name,
                                  struct args *a);
struct jval sy_jinja__call_builtin(struct ctx *c, int line, int id, struct args *a);
struct jval sy_jinja__apply_filter(struct ctx *c, int line, const char *name, struct jval v,
                                   struct jval *args, const char **kw, size_t nargs);
bool sy_jinja__apply_test(struct ctx *c, int line, const char *name, struct jval v,
                          struct jval *args, size_t nargs);
/* jinja_eval.c: attribute access, slicing, operators, macro calls */
struct jval sy_jinja__getattr_(struct jval obj, const char *name, size_t n);
struct jval sy_jinja__slice(struct ctx *c, int line, struct jval obj, struct jval *parts);
struct jval sy_jinja__binop(struct ctx *c, int line, int op, struct jval a, struct jval b);
struct jval sy_jinja__call_macro(struct ctx *c, const struct sy_jnode *m, struct jval *args,
                                 const char **kw, size_t nargs, int line);

#endif
