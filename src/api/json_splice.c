/* json_splice.c - edits of a JSON object's top-level members as segments (see json_splice.h).
 *
 * One validating pass (sy_json_scan_object) lists the members; then the output is assembled:
 *
 *   {  [run of kept members, one view]  ,  "key": [new value view]  ,  [run]  ...  ,"k":v  }
 *
 * Consecutive kept members form one segment spanning from the first one's opening quote to the
 * last one's value end, separators included, so an edit-free stretch of a request costs one
 * segment whatever its size. Glue segments are recorded as offsets into the glue buffer and
 * turned into pointers once the buffer stops growing.
 *
 * Duplicate members: a client body could spell a key with escapes ("stre\u0061m"); the raw key
 * does not match, the member is kept, and the edit's member is added at the end. JSON decoders
 * used by the engines (Python's json, Go's encoding/json) keep the last duplicate, so the
 * gateway's value still wins.
 */
#include "api/json_splice.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

#define GLUE_TAG ((const char *)1) /* segs[i].p == GLUE_TAG + off: glue at offset off */

struct member {
    struct sy_str key;   /* raw key (between the quotes) */
    struct sy_str value; /* raw value */
};

struct collect {
    struct member *m;
    size_t n, cap;
};

static void on_member(void *ud, struct sy_str key, enum sy_json_type type, struct sy_str value)
{
    (void)type;
    struct collect *c = ud;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->m = sy_xrealloc(c->m, c->cap * sizeof *c->m);
    }
    c->m[c->n++] = (struct member){key, value};
}

void sy_json_splice_init(struct sy_json_splice *s)
{
    memset(s, 0, sizeof *s);
    sy_buf_init(&s->glue);
}

void sy_json_splice_fini(struct sy_json_splice *s)
{
    free(s->segs);
    sy_buf_fini(&s->glue);
    s->segs = NULL;
    s->nsegs = s->len = 0;
}

static void push(struct sy_json_splice *s, size_t *cap, const char *p, size_t len)
{
    if (!len)
        return;
    if (s->nsegs == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        s->segs = sy_xrealloc(s->segs, *cap * sizeof *s->segs);
    }
    s->segs[s->nsegs++] = (struct sy_str){p, len};
    s->len += len;
}

static void push_glue(struct sy_json_splice *s, size_t *cap, const char *text)
{
    size_t off = s->glue.len, len = strlen(text);
    sy_buf_append(&s->glue, text, len);
    push(s, cap, GLUE_TAG + off, len);
}

static bool key_eq(struct sy_str raw, const char *key)
{
    size_t kl = strlen(key);
    return raw.len == kl && memcmp(raw.p, key, kl) == 0;
}

int sy_json_splice(struct sy_json_splice *s, const char *text, size_t len,
                   const struct sy_json_edit *edits, size_t nedits, char *err, size_t errcap)
{
    free(s->segs);
    s->segs = NULL;
    s->nsegs = s->len = 0;
    sy_buf_reset(&s->glue);
    struct collect c = {0};
    size_t eoff = 0;
    if (sy_json_scan_object(text, len, on_member, &c, &eoff, err, errcap) != 0) {
        free(c.m);
        return SY_EPARSE;
    }
    size_t cap = 0;
    bool *seen = sy_xcalloc(nedits ? nedits : 1, sizeof *seen);
    bool any = false;           /* a member has been written (a comma precedes the next) */
    const char *run = NULL;     /* start of the current run of kept members */
    const char *run_end = NULL; /* its end */
    push_glue(s, &cap, "{");
    for (size_t i = 0; i < c.n; i++) {
        const struct member *m = &c.m[i];
        const struct sy_json_edit *e = NULL;
        for (size_t j = 0; j < nedits && !e; j++)
            if (key_eq(m->key, edits[j].key)) {
                e = &edits[j];
                seen[j] = true;
            }
        const char *mstart = m->key.p - 1; /* the opening quote */
        const char *mend = m->value.p + m->value.len;
        if (!e) {
            if (!run) {
                if (any)
                    push_glue(s, &cap, ",");
                run = mstart;
            }
            run_end = mend;
            any = true;
            continue;
        }
        if (run) {
            push(s, &cap, run, (size_t)(run_end - run));
            run = NULL;
        }
        if (!e->value.p)
            continue; /* removed */
        if (any)
            push_glue(s, &cap, ",");
        push(s, &cap, mstart, (size_t)(m->value.p - mstart)); /* "key": as written */
        push(s, &cap, e->value.p, e->value.len);
        any = true;
    }
    if (run)
        push(s, &cap, run, (size_t)(run_end - run));
    for (size_t j = 0; j < nedits; j++) {
        const struct sy_json_edit *e = &edits[j];
        if (seen[j] || !e->value.p || e->if_present)
            continue;
        size_t off = s->glue.len;
        sy_buf_printf(&s->glue, "%s\"%s\":", any ? "," : "", e->key);
        push(s, &cap, GLUE_TAG + off, s->glue.len - off);
        push(s, &cap, e->value.p, e->value.len);
        any = true;
    }
    push_glue(s, &cap, "}");
    /* The glue buffer is final: resolve glue offsets to pointers. */
    for (size_t i = 0; i < s->nsegs; i++) {
        uintptr_t p = (uintptr_t)s->segs[i].p, g = (uintptr_t)GLUE_TAG;
        if (p >= g && p < g + s->glue.len)
            s->segs[i].p = s->glue.data + (p - g);
    }
    free(seen);
    free(c.m);
    return 0;
}

void sy_json_splice_flatten(const struct sy_json_splice *s, struct sy_buf *out)
{
    sy_buf_reserve(out, s->len);
    for (size_t i = 0; i < s->nsegs; i++)
        sy_buf_append(out, s->segs[i].p, s->segs[i].len);
}

struct find {
    const char *key;
    bool found;
    enum sy_json_type type;
    struct sy_str value;
};

static void on_find(void *ud, struct sy_str key, enum sy_json_type type, struct sy_str value)
{
    struct find *f = ud;
    if (key_eq(key, f->key)) { /* the last duplicate wins, as decoders do */
        f->found = true;
        f->type = type;
        f->value = value;
    }
}

bool sy_json_member(const char *text, size_t len, const char *key, enum sy_json_type *type,
                    struct sy_str *value)
{
    struct find f = {.key = key};
    size_t off;
    char err[64];
    if (sy_json_scan_object(text, len, on_find, &f, &off, err, sizeof err) != 0 || !f.found)
        return false;
    if (type)
        *type = f.type;
    if (value)
        *value = f.value;
    return true;
}

bool sy_json_array_first(struct sy_str arr, struct sy_str *elem)
{
    size_t i = 0, n = arr.len;
    const char *p = arr.p;
    if (!n || p[0] != '[')
        return false;
    for (i = 1; i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'); i++)
        ;
    if (i >= n || p[i] == ']')
        return false;
    size_t start = i;
    int depth = 0;
    bool str = false;
    for (; i < n; i++) {
        char ch = p[i];
        if (str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                str = false;
            continue;
        }
        if (ch == '"')
            str = true;
        else if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']') {
            if (depth == 0)
                break; /* the array's own ']' */
            depth--;
        } else if (ch == ',' && depth == 0)
            break;
    }
    size_t end = i;
    while (end > start &&
           (p[end - 1] == ' ' || p[end - 1] == '\t' || p[end - 1] == '\n' || p[end - 1] == '\r'))
        end--;
    *elem = (struct sy_str){p + start, end - start};
    return end > start;
}

long long sy_json_member_int(const char *text, size_t len, const char *key)
{
    enum sy_json_type t;
    struct sy_str v;
    if (!sy_json_member(text, len, key, &t, &v) || t != SY_JSON_NUMBER || v.len > 18)
        return -1;
    long long x = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        x = x * 10 + (v.p[i] - '0');
    }
    return x;
}
