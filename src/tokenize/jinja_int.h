/* jinja_int.h - the Jinja AST and arena shared by jinja_parse.c and jinja_eval.c. */
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

#endif
