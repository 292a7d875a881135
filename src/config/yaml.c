/* yaml.c - libyaml's document loader turned into a compact, line-numbered, read-only tree.
 *
 * Loading is three passes over one input held in memory (a file is read whole first, at most
 * SY_YAML_MAX_BYTES), after a first look at its nesting depth (check_depth_first(): libyaml's
 * scanner is quadratic in flow nesting, so a deep document is refused before it is loaded):
 *
 *   1. yaml_parser_load() builds libyaml's document: an array of nodes where sequences and
 *      mappings hold 1-based node indices. An alias is just the index of its anchor's node, so
 *      libyaml never copies anything, and `&a [*a]` even yields a cycle.
 *   2. check_node() walks that graph depth-first from the root with memoised per-node results
 *      (state, height, expanded size), so every node is visited once however often it is
 *      aliased. It rejects: cycles (recursive aliases), paths deeper than SY_YAML_MAX_DEPTH,
 *      documents whose alias-expanded size exceeds SY_YAML_MAX_NODES ("billion laughs": ten
 *      levels of ten aliases are 10^10 nodes to a walker but ~100 nodes to libyaml), non-scalar
 *      mapping keys, duplicate keys (sorted per mapping, so O(n log n) even for huge mappings),
 *      and NUL bytes inside scalars (a C string would silently cut them).
 *   3. build_tree() lays the result out in three allocations:
 *
 *        struct tree { nnodes, ptrs, strs, file, nodes[0..n-1] }   nodes[0] is the root
 *        ptrs: every keys[] and items[] array, back to back
 *        strs: every scalar text, NUL-terminated, back to back
 *
 *      Node i of our tree is libyaml's node i+1; an alias becomes a pointer to the shared node,
 *      so the tree is a DAG with the same size as the document. libyaml puts the root first, which
 *      is what lets sy_yaml_free() find the tree header from the root (container_of).
 *
 * Memory stays O(input) whatever the aliases; a consumer walking the tree sees at most
 * SY_YAML_MAX_NODES nodes and SY_YAML_MAX_DEPTH levels, and the check pass itself recurses at
 * most SY_YAML_MAX_DEPTH + 1 frames. libyaml's parser and loader keep their own stacks on the heap.
 *
 * Alternatives rejected: copying aliased subtrees (simple ownership, but an alias bomb inside the
 * cap still costs a million allocations; sharing costs nothing); building the tree from the event
 * API (more code to get anchors right, and libyaml's loader already does it); reference counts
 * per node (the tree is immutable and freed as a whole).
 *
 * Threading: loading is reentrant; a loaded tree is immutable and safe to read from any thread.
 */
#include "config/yaml.h"
#include "core/alloc.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

struct tree {
    size_t nnodes;               /* entries in nodes[] */
    struct sy_yaml_node **ptrs;  /* every keys[]/items[] array; owned */
    char *strs;                  /* every scalar text; owned */
    char *file;                  /* name used in messages; owned, shared by all nodes */
    struct sy_yaml_node nodes[]; /* nodes[0] is the root */
};

enum { ST_NEW, ST_ACTIVE, ST_DONE }; /* check pass: node not seen / on the DFS path / checked */

struct loader {
    const char *name;    /* file name for messages */
    yaml_document_t doc; /* libyaml's document */
    size_t n;            /* nodes in doc */
    uint8_t *state;      /* ST_* per node */
    uint8_t *height;     /* levels below and including the node (<= SY_YAML_MAX_DEPTH) */
    uint32_t *size;      /* nodes a walker sees from here, aliases expanded */
    char *err;           /* caller's message buffer */
    size_t errcap;       /* its size */
};

/* ---- messages ---------------------------------------------------------------------------- */

static void put_escaped(char *buf, size_t cap, const char *s, size_t len, size_t max)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (size_t i = 0; i < len && i < max && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, cap - o, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (len > max && o + 4 < cap) {
        while (o > 0 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80) /* no half UTF-8 char */
            o--;
        if (o > 0 && (unsigned char)buf[o - 1] >= 0xc0)
            o--;
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

const char *sy_yaml_describe(const struct sy_yaml_node *n, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    if (!n) {
        snprintf(buf, cap, "nothing");
    } else if (n->type == SY_YAML_SCALAR) {
        char tmp[64 * 4 + 8];
        put_escaped(tmp, sizeof tmp, n->scalar, strlen(n->scalar), 64);
        snprintf(buf, cap, "\"%s\"", tmp);
    } else {
        snprintf(buf, cap, "a %s", sy_yaml_type_name(n->type));
    }
    return buf;
}

int sy_yaml_errf(char *err, size_t errcap, const struct sy_yaml_node *n, const char *fmt, ...)
{
    if (!err || errcap == 0)
        return SY_ECONFIG;
    int o = 0;
    if (n)
        o = snprintf(err, errcap, "%s:%d: ", n->file ? n->file : "?", n->line);
    if (o < 0 || (size_t)o >= errcap)
        return SY_ECONFIG;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + o, errcap - (size_t)o, fmt, ap);
    va_end(ap);
    return SY_ECONFIG;
}

static int fail_at(struct loader *L, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "NAME:LINE: text" for errors found before the tree exists (line is 1-based). */
static int fail_at(struct loader *L, size_t line, const char *fmt, ...)
{
    if (!L->err || L->errcap == 0)
        return SY_EPARSE;
    int o = snprintf(L->err, L->errcap, "%s:%zu: ", L->name, line);
    if (o < 0 || (size_t)o >= L->errcap)
        return SY_EPARSE;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err + o, L->errcap - (size_t)o, fmt, ap);
    va_end(ap);
    return SY_EPARSE;
}

static size_t line_of_offset(const char *text, size_t len, size_t off)
{
    size_t line = 1;
    for (size_t i = 0; i < off && i < len; i++)
        line += text[i] == '\n';
    return line;
}

/* libyaml marks "unexpected end of input" one line past the last one; name the last line. */
static size_t clamp_line(const char *text, size_t len, size_t line)
{
    size_t last = line_of_offset(text, len, len);
    if (len > 0 && text[len - 1] == '\n')
        last--;
    return line > last && last > 0 ? last : line;
}

/* Turns a libyaml failure into "NAME:LINE: problem (context at line N)". */
static void parser_error(struct loader *L, const yaml_parser_t *p, const char *text, size_t len)
{
    const char *problem = p->problem ? p->problem : "invalid YAML";
    switch (p->error) {
    case YAML_MEMORY_ERROR: fail_at(L, 1, "out of memory while parsing"); break;
    case YAML_READER_ERROR:
        fail_at(L, line_of_offset(text, len, p->problem_offset), "%s", problem);
        break;
    default:
        if (p->context)
            fail_at(L, clamp_line(text, len, p->problem_mark.line + 1), "%s (%s at line %zu)",
                    problem, p->context, clamp_line(text, len, p->context_mark.line + 1));
        else
            fail_at(L, clamp_line(text, len, p->problem_mark.line + 1), "%s", problem);
        break;
    }
}

/* ---- pass 0: nesting depth --------------------------------------------------------------- */

/* libyaml's scanner spends time proportional to the open flow levels on every token (it
 * re-examines each level's pending simple key), so loading a 1 MiB line of '[' takes minutes.
 * This pass reads libyaml's event stream and stops at the first node nested deeper than
 * SY_YAML_MAX_DEPTH, before that cost can grow: at most O(input x SY_YAML_MAX_DEPTH). It refuses
 * only what check_node() would, with the same message and line when depth is the document's
 * first problem; a document that also has a problem check_node() would have named first (a
 * collection used as a key, a NUL in a string) is now refused for its depth instead. Aliases are
 * left to check_node(), which names them; syntax errors are left to the loading pass, which
 * reports them the same way whatever this pass saw. Returns fail_at()'s code, or 0. */
static int check_depth_first(struct loader *L, const char *text, size_t len)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return fail_at(L, 1, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int depth = 0, rc = 0;
    for (bool done = false; !done;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev))
            break;
        switch (ev.type) {
        case YAML_SCALAR_EVENT: /* a node one level below the open collections */
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth + 1 > SY_YAML_MAX_DEPTH) {
                rc = fail_at(L, ev.start_mark.line + 1, "nesting deeper than %d levels",
                             SY_YAML_MAX_DEPTH);
                done = true;
            } else if (ev.type != YAML_SCALAR_EVENT) {
                depth++;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        case YAML_DOCUMENT_END_EVENT: /* only the first document is read */
        case YAML_STREAM_END_EVENT: done = true; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

/* ---- pass 2: checks ---------------------------------------------------------------------- */

static size_t node_line(const yaml_node_t *n)
{
    return n->start_mark.line + 1;
}

struct keyref {
    const char *p; /* key text (libyaml's) */
    size_t len;    /* its length */
    size_t pos;    /* pair index in the mapping */
};

static int keyref_cmp(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, m);
    if (c != 0)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Finds the first key (in document order) that repeats an earlier one. Keys are scalars. */
static int check_duplicates(struct loader *L, yaml_node_t *m)
{
    yaml_node_pair_t *pairs = m->data.mapping.pairs.start;
    size_t n = (size_t)(m->data.mapping.pairs.top - pairs);
    if (n < 2)
        return 0;
    struct keyref *refs = sy_xmalloc(n * sizeof *refs);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, pairs[i].key);
        refs[i] = (struct keyref){(const char *)k->data.scalar.value, k->data.scalar.length, i};
    }
    qsort(refs, n, sizeof *refs, keyref_cmp);
    size_t first_dup = SIZE_MAX;
    for (size_t i = 1; i < n; i++) {
        /* sorted by (text, pos): the second entry of each run is that key's first repeat */
        bool same =
            refs[i].len == refs[i - 1].len && memcmp(refs[i].p, refs[i - 1].p, refs[i].len) == 0;
        bool run_start = i < 2 || !(refs[i - 1].len == refs[i - 2].len &&
                                    memcmp(refs[i - 1].p, refs[i - 2].p, refs[i - 1].len) == 0);
        if (same && run_start && refs[i].pos < first_dup)
            first_dup = refs[i].pos;
    }
    free(refs);
    if (first_dup == SIZE_MAX)
        return 0;
    yaml_node_t *k = yaml_document_get_node(&L->doc, pairs[first_dup].key);
    char key[64 * 4 + 8];
    put_escaped(key, sizeof key, (const char *)k->data.scalar.value, k->data.scalar.length, 64);
    return fail_at(L, node_line(k), "%s: duplicate key", key);
}

static int check_node(struct loader *L, int idx, int depth);

/* Checks child idx of a node and adds what a walker sees below it to *size / *height. */
static int check_child(struct loader *L, int idx, int depth, uint64_t *size, int *height)
{
    int rc = check_node(L, idx, depth);
    if (rc != 0)
        return rc;
    *size += L->size[idx - 1];
    if (L->height[idx - 1] > *height)
        *height = L->height[idx - 1];
    return 0;
}

static int check_node(struct loader *L, int idx, int depth)
{
    yaml_node_t *n = yaml_document_get_node(&L->doc, idx);
    if (!n)
        return fail_at(L, 1, "invalid node reference"); /* libyaml invariant; never seen */
    size_t i = (size_t)idx - 1;
    if (L->state[i] == ST_DONE) {
        if (depth - 1 + L->height[i] > SY_YAML_MAX_DEPTH)
            return fail_at(L, node_line(n), "nesting deeper than %d levels (through an alias)",
                           SY_YAML_MAX_DEPTH);
        return 0;
    }
    if (L->state[i] == ST_ACTIVE)
        return fail_at(L, node_line(n), "recursive alias (a node contains itself)");
    if (depth > SY_YAML_MAX_DEPTH)
        return fail_at(L, node_line(n), "nesting deeper than %d levels", SY_YAML_MAX_DEPTH);
    L->state[i] = ST_ACTIVE;

    uint64_t size = 1;
    int height = 0;
    int rc = 0;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        if (memchr(n->data.scalar.value, '\0', n->data.scalar.length))
            return fail_at(L, node_line(n), "NUL character in a string");
        break;
    case YAML_SEQUENCE_NODE:
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top && size <= SY_YAML_MAX_NODES; it++) {
            if ((rc = check_child(L, *it, depth + 1, &size, &height)) != 0)
                return rc;
        }
        break;
    case YAML_MAPPING_NODE:
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
             pr < n->data.mapping.pairs.top && size <= SY_YAML_MAX_NODES; pr++) {
            yaml_node_t *k = yaml_document_get_node(&L->doc, pr->key);
            if (!k || k->type != YAML_SCALAR_NODE)
                return fail_at(L, k ? node_line(k) : node_line(n),
                               "mapping keys must be strings, not collections");
            if ((rc = check_child(L, pr->key, depth + 1, &size, &height)) != 0 ||
                (rc = check_child(L, pr->value, depth + 1, &size, &height)) != 0)
                return rc;
        }
        if (size <= SY_YAML_MAX_NODES && (rc = check_duplicates(L, n)) != 0)
            return rc;
        break;
    default: return fail_at(L, node_line(n), "empty node");
    }
    if (size > SY_YAML_MAX_NODES)
        return fail_at(L, node_line(n), "document too large: over %d nodes with aliases expanded",
                       SY_YAML_MAX_NODES);
    L->size[i] = (uint32_t)size;
    L->height[i] = (uint8_t)(height + 1);
    L->state[i] = ST_DONE;
    return 0;
}

/* ---- pass 3: the tree -------------------------------------------------------------------- */

static struct tree *tree_alloc(size_t nnodes, const char *name)
{
    struct tree *t = sy_xcalloc(1, sizeof *t + nnodes * sizeof(struct sy_yaml_node));
    t->nnodes = nnodes;
    t->file = sy_xstrdup(name);
    return t;
}

/* The root of an empty file (or of a "---" document with no content): an empty mapping on line 1.
 */
static struct sy_yaml_node *empty_mapping(const char *name)
{
    struct tree *t = tree_alloc(1, name);
    t->nodes[0] = (struct sy_yaml_node){.type = SY_YAML_MAPPING, .line = 1, .file = t->file};
    return &t->nodes[0];
}

static struct sy_yaml_node *build_tree(struct loader *L)
{
    size_t nptrs = 0, nbytes = 0;
    for (yaml_node_t *n = L->doc.nodes.start; n < L->doc.nodes.top; n++) {
        if (n->type == YAML_SCALAR_NODE)
            nbytes += n->data.scalar.length + 1;
        else if (n->type == YAML_SEQUENCE_NODE)
            nptrs += (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        else if (n->type == YAML_MAPPING_NODE)
            nptrs += 2 * (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    }
    struct tree *t = tree_alloc(L->n, L->name);
    t->ptrs = sy_xcalloc(nptrs ? nptrs : 1, sizeof *t->ptrs);
    t->strs = sy_xmalloc(nbytes ? nbytes : 1);
    size_t po = 0, so = 0;
    for (size_t i = 0; i < L->n; i++) {
        yaml_node_t *n = L->doc.nodes.start + i;
        struct sy_yaml_node *out = &t->nodes[i];
        out->line = (int)node_line(n);
        out->file = t->file;
        switch (n->type) {
        case YAML_SEQUENCE_NODE: {
            yaml_node_item_t *it = n->data.sequence.items.start;
            out->type = SY_YAML_SEQUENCE;
            out->n = (size_t)(n->data.sequence.items.top - it);
            out->items = out->n ? t->ptrs + po : NULL;
            for (size_t k = 0; k < out->n; k++)
                t->ptrs[po++] = &t->nodes[it[k] - 1];
            break;
        }
        case YAML_MAPPING_NODE: {
            yaml_node_pair_t *pr = n->data.mapping.pairs.start;
            out->type = SY_YAML_MAPPING;
            out->n = (size_t)(n->data.mapping.pairs.top - pr);
            out->keys = out->n ? t->ptrs + po : NULL;
            out->items = out->n ? t->ptrs + po + out->n : NULL;
            for (size_t k = 0; k < out->n; k++) {
                out->keys[k] = &t->nodes[pr[k].key - 1];
                out->items[k] = &t->nodes[pr[k].value - 1];
            }
            po += 2 * out->n;
            break;
        }
        default: /* scalars (pass 2 rejected anything else reachable) */
            out->type = SY_YAML_SCALAR;
            out->scalar = t->strs + so;
            if (n->type == YAML_SCALAR_NODE) {
                memcpy(out->scalar, n->data.scalar.value, n->data.scalar.length);
                so += n->data.scalar.length;
                out->quoted = n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
                              n->data.scalar.style != YAML_ANY_SCALAR_STYLE;
            }
            t->strs[so++] = '\0';
            break;
        }
    }
    return &t->nodes[0];
}

/* ---- entry points ------------------------------------------------------------------------ */

struct sy_yaml_node *sy_yaml_load_string(const char *text, size_t len, const char *name, char *err,
                                         size_t errcap)
{
    struct loader L = {.name = name ? name : "<string>", .err = err, .errcap = errcap};
    struct sy_yaml_node *root = NULL;
    yaml_parser_t parser;
    if (err && errcap)
        err[0] = '\0';
    if (!text) {
        text = "";
        len = 0;
    }
    if (len > SY_YAML_MAX_BYTES) {
        if (err && errcap)
            snprintf(err, errcap, "%s: too large (%zu bytes; the limit is %u)", L.name, len,
                     (unsigned)SY_YAML_MAX_BYTES);
        return NULL;
    }
    if (check_depth_first(&L, text, len) != 0)
        return NULL;
    if (!yaml_parser_initialize(&parser)) {
        fail_at(&L, 1, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &L.doc)) { /* only the first document is read */
        parser_error(&L, &parser, text, len);
        goto out_parser;
    }
    L.n = (size_t)(L.doc.nodes.top - L.doc.nodes.start);
    if (L.n == 0) { /* empty stream */
        root = empty_mapping(L.name);
        goto out_doc;
    }
    yaml_node_t *top = L.doc.nodes.start; /* libyaml: node 1 is the root */
    if (L.n == 1 && top->type == YAML_SCALAR_NODE && top->data.scalar.length == 0 &&
        top->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) { /* "---" with no content */
        root = empty_mapping(L.name);
        goto out_doc;
    }
    L.state = sy_xcalloc(L.n, 1);
    L.height = sy_xcalloc(L.n, 1);
    L.size = sy_xcalloc(L.n, sizeof *L.size);
    if (check_node(&L, 1, 1) == 0) /* libyaml: node 1 is the root */
        root = build_tree(&L);
    free(L.state);
    free(L.height);
    free(L.size);
out_doc:
    yaml_document_delete(&L.doc);
out_parser:
    yaml_parser_delete(&parser);
    return root;
}

/* Reads a regular file whole, refusing anything over SY_YAML_MAX_BYTES (and devices or FIFOs,
 * which could block or never end). Returns a malloc'ed buffer or NULL with a message. */
static char *read_file(const char *path, size_t *len, char *err, size_t errcap)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "%s: cannot read: not a regular file", path);
        goto fail;
    }
    size_t cap = SY_YAML_MAX_BYTES + 1, n = 0; /* one extra byte detects "too large" */
    buf = sy_xmalloc(cap);
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            snprintf(err, errcap, "%s: too large (over %u bytes)", path,
                     (unsigned)SY_YAML_MAX_BYTES);
            goto fail;
        }
    }
    close(fd);
    *len = n;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

struct sy_yaml_node *sy_yaml_load_file(const char *path, char *err, size_t errcap)
{
    char dummy[1];
    if (!err || errcap == 0) {
        err = dummy;
        errcap = sizeof dummy;
    }
    size_t len;
    char *text = read_file(path, &len, err, errcap);
    if (!text)
        return NULL;
    struct sy_yaml_node *root = sy_yaml_load_string(text, len, path, err, errcap);
    free(text);
    return root;
}

void sy_yaml_free(struct sy_yaml_node *root)
{
    if (!root)
        return;
    struct tree *t = (struct tree *)((char *)root - offsetof(struct tree, nodes));
    free(t->ptrs);
    free(t->strs);
    free(t->file);
    free(t);
}

/* ---- accessors --------------------------------------------------------------------------- */

const struct sy_yaml_node *sy_yaml_get(const struct sy_yaml_node *m, const char *key)
{
    if (!m || m->type != SY_YAML_MAPPING || !key)
        return NULL;
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->keys[i]->scalar, key) == 0)
            return m->items[i];
    }
    return NULL;
}

const char *sy_yaml_str(const struct sy_yaml_node *n)
{
    return n && n->type == SY_YAML_SCALAR ? n->scalar : NULL;
}

bool sy_yaml_is_null(const struct sy_yaml_node *n)
{
    if (!n || n->type != SY_YAML_SCALAR || n->quoted)
        return false;
    const char *s = n->scalar;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

const char *sy_yaml_type_name(enum sy_yaml_type t)
{
    switch (t) {
    case SY_YAML_SCALAR: return "scalar";
    case SY_YAML_SEQUENCE: return "sequence";
    case SY_YAML_MAPPING: return "mapping";
    }
    return "node";
}
