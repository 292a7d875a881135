/* Unit tests for src/config/yaml.c: tree shape, line numbers, quoting, aliases, error messages
 * (exact text, including the line), duplicate keys and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/yaml.h"
#include "core/err.h"

static struct sy_yaml_node *load(const char *text, char *err, size_t errcap)
{
    return sy_yaml_load_string(text, strlen(text), "t.yaml", err, errcap);
}

/* Loading must fail with exactly msg. */
static void expect_error(const char *text, const char *msg)
{
    char err[512] = "";
    struct sy_yaml_node *root = load(text, err, sizeof err);
    if (root) {
        sy_yaml_free(root);
        fail_msg("loaded, expected error: %s\n--- input:\n%s", msg, text);
    }
    assert_string_equal(err, msg);
}

static void test_shape_and_lines(void **state)
{
    const char *text = "# comment\n"
                       "name: gw\n"
                       "list:\n"
                       "  - one\n"
                       "  - 'two'\n"
                       "  - {k: v}\n"
                       "quoted: \"null\"\n"
                       "plain: null\n"
                       "block: |\n"
                       "  text\n"
                       "empty:\n";
    char err[256] = "";
    struct sy_yaml_node *root = load(text, err, sizeof err);
    assert_non_null(root);
    assert_string_equal(err, "");
    assert_int_equal(root->type, SY_YAML_MAPPING);
    assert_int_equal(root->line, 2);
    assert_int_equal(root->n, 6);
    assert_string_equal(root->file, "t.yaml");
    assert_string_equal(root->keys[0]->scalar, "name");
    assert_string_equal(sy_yaml_str(sy_yaml_get(root, "name")), "gw");
    assert_int_equal(sy_yaml_get(root, "name")->line, 2);

    const struct sy_yaml_node *list = sy_yaml_get(root, "list");
    assert_non_null(list);
    assert_int_equal(list->type, SY_YAML_SEQUENCE);
    assert_int_equal(list->n, 3);
    assert_null(list->keys);
    assert_null(list->scalar);
    assert_int_equal(list->line, 4);
    assert_string_equal(list->items[0]->scalar, "one");
    assert_false(list->items[0]->quoted);
    assert_int_equal(list->items[0]->line, 4);
    assert_string_equal(list->items[1]->scalar, "two");
    assert_true(list->items[1]->quoted);
    assert_int_equal(list->items[1]->line, 5);
    assert_int_equal(list->items[2]->type, SY_YAML_MAPPING);
    assert_int_equal(list->items[2]->line, 6);
    assert_string_equal(sy_yaml_str(sy_yaml_get(list->items[2], "k")), "v");
    assert_ptr_equal(list->items[2]->file, root->file);

    const struct sy_yaml_node *q = sy_yaml_get(root, "quoted");
    assert_true(q->quoted);
    assert_false(sy_yaml_is_null(q));
    assert_true(sy_yaml_is_null(sy_yaml_get(root, "plain")));
    const struct sy_yaml_node *block = sy_yaml_get(root, "block");
    assert_string_equal(block->scalar, "text\n");
    assert_true(block->quoted); /* block scalars are never resolved to null/int */
    const struct sy_yaml_node *empty = sy_yaml_get(root, "empty");
    assert_non_null(empty);
    assert_string_equal(empty->scalar, "");
    assert_true(sy_yaml_is_null(empty));
    assert_int_equal(empty->line, 11);

    assert_null(sy_yaml_get(root, "missing"));
    assert_null(sy_yaml_get(list, "one")); /* not a mapping */
    assert_null(sy_yaml_get(NULL, "x"));
    assert_null(sy_yaml_str(list));
    assert_null(sy_yaml_str(NULL));
    sy_yaml_free(root);
}

static void test_empty_inputs(void **state)
{
    const char *inputs[] = {"", "# only a comment\n", "\n\n", "---\n", "---\n...\n"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        char err[128] = "x";
        struct sy_yaml_node *root = load(inputs[i], err, sizeof err);
        assert_non_null(root);
        assert_int_equal(root->type, SY_YAML_MAPPING);
        assert_int_equal(root->n, 0);
        assert_int_equal(root->line, 1);
        assert_string_equal(err, "");
        sy_yaml_free(root);
    }
    sy_yaml_free(NULL);
}

static void test_scalar_root_and_first_document_only(void **state)
{
    char err[256];
    struct sy_yaml_node *root = load("hello\n", err, sizeof err);
    assert_non_null(root);
    assert_int_equal(root->type, SY_YAML_SCALAR);
    assert_string_equal(root->scalar, "hello");
    sy_yaml_free(root);

    /* the second document is never parsed, so its syntax error is not reported */
    root = load("---\na: 1\n---\nb: ]]]\n", err, sizeof err);
    assert_non_null(root);
    assert_int_equal(root->n, 1);
    assert_int_equal(root->line, 2);
    assert_string_equal(sy_yaml_str(sy_yaml_get(root, "a")), "1");
    assert_null(sy_yaml_get(root, "b"));
    sy_yaml_free(root);
}

static void test_aliases_shared(void **state)
{
    const char *text = "base: &b\n"
                       "  x: 1\n"
                       "  y: [a, b]\n"
                       "use: *b\n"
                       "again: *b\n"
                       "s: &s word\n"
                       "t: *s\n";
    char err[256];
    struct sy_yaml_node *root = load(text, err, sizeof err);
    assert_non_null(root);
    const struct sy_yaml_node *base = sy_yaml_get(root, "base");
    const struct sy_yaml_node *use = sy_yaml_get(root, "use");
    assert_non_null(use);
    assert_ptr_equal(base, use); /* shared, not copied */
    assert_ptr_equal(base, sy_yaml_get(root, "again"));
    assert_int_equal(use->line, 1); /* an anchored node starts at its anchor */
    assert_string_equal(sy_yaml_str(sy_yaml_get(use, "x")), "1");
    assert_int_equal(sy_yaml_get(use, "y")->n, 2);
    assert_string_equal(sy_yaml_str(sy_yaml_get(root, "t")), "word");
    sy_yaml_free(root);
}

static void test_syntax_errors(void **state)
{
    expect_error("a: [1, 2\n",
                 "t.yaml:1: did not find expected ',' or ']' (while parsing a flow sequence at "
                 "line 1)");
    expect_error("ok: 1\nb: [1,\n  2\n",
                 "t.yaml:3: did not find expected ',' or ']' (while parsing a flow sequence at "
                 "line 2)");
    expect_error("a: b: c\n", "t.yaml:1: mapping values are not allowed in this context");
    expect_error("x: 1\ny: *nope\n", "t.yaml:2: found undefined alias");
    expect_error("a: 1\n\tb: 2\n", "t.yaml:2: found a tab character that violates indentation "
                                   "(while scanning a plain scalar at line 1)");
    expect_error("a: 1\n@b: 2\n", "t.yaml:2: found character that cannot start any token "
                                  "(while scanning for the next token at line 2)");
    expect_error("- a\nb: 1\n",
                 "t.yaml:2: did not find expected '-' indicator (while parsing a block collection "
                 "at line 1)");
    expect_error("a: \"abc\n", "t.yaml:1: found unexpected end of stream (while scanning a "
                               "quoted scalar at line 1)");
    expect_error("a: 1\nb: \xff\n", "t.yaml:2: invalid leading UTF-8 octet");
    expect_error("? [1]\n: 2\n", "t.yaml:1: mapping keys must be strings, not collections");
    expect_error("a: \"x\\0y\"\n", "t.yaml:1: NUL character in a string");
}

static void test_duplicate_keys(void **state)
{
    expect_error("a: 1\nb: 2\na: 3\n", "t.yaml:3: a: duplicate key");
    /* quoting does not make a different key */
    expect_error("name: 1\n\"name\": 2\n", "t.yaml:2: name: duplicate key");
    expect_error("top:\n  k: 1\n  j: 2\n  k: 3\n", "t.yaml:4: k: duplicate key");
    expect_error("m: {x: 1, y: 2, x: 3}\n", "t.yaml:1: x: duplicate key");
    /* the first repeat in document order is reported, even when another key sorts first */
    expect_error("z: 1\nz: 2\na: 1\na: 2\n", "t.yaml:2: z: duplicate key");
    expect_error("b: 1\na: 1\nc: 1\na: 2\nb: 2\n", "t.yaml:4: a: duplicate key");
    /* prefixes are not duplicates */
    char err[128];
    struct sy_yaml_node *root = load("ab: 1\na: 2\nabc: 3\n\"\": 4\n", err, sizeof err);
    assert_non_null(root);
    assert_int_equal(root->n, 4);
    sy_yaml_free(root);
}

static void test_duplicate_keys_large_mapping(void **state)
{
    /* 20000 keys: must be detected without quadratic work, at the right line */
    size_t n = 20000, cap = n * 16 + 64, o = 0;
    char *text = malloc(cap);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(text + o, cap - o, "k%zu: %zu\n", i, i);
    o += (size_t)snprintf(text + o, cap - o, "k777: again\n");
    char err[128];
    struct sy_yaml_node *root = sy_yaml_load_string(text, o, "big.yaml", err, sizeof err);
    assert_null(root);
    assert_string_equal(err, "big.yaml:20001: k777: duplicate key");
    free(text);
}

static char *repeat(const char *open, const char *close, size_t n)
{
    size_t lo = strlen(open), lc = strlen(close);
    char *s = malloc(n * (lo + lc) + 1), *p = s;
    for (size_t i = 0; i < n; i++, p += lo)
        memcpy(p, open, lo);
    for (size_t i = 0; i < n; i++, p += lc)
        memcpy(p, close, lc);
    *p = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    char err[256];
    char *ok = repeat("[", "]", SY_YAML_MAX_DEPTH);
    struct sy_yaml_node *root = load(ok, err, sizeof err);
    assert_non_null(root);
    const struct sy_yaml_node *n = root;
    int depth = 1;
    while (n->n) {
        n = n->items[0];
        depth++;
    }
    assert_int_equal(depth, SY_YAML_MAX_DEPTH);
    sy_yaml_free(root);
    free(ok);

    char *deep = repeat("[", "]", SY_YAML_MAX_DEPTH + 1);
    expect_error(deep, "t.yaml:1: nesting deeper than 64 levels");
    free(deep);

    /* block style: the message names the line of the first node too deep */
    size_t cap = 80 * 80, o = 0;
    char *block = malloc(cap);
    for (int i = 0; i < SY_YAML_MAX_DEPTH; i++)
        o += (size_t)snprintf(block + o, cap - o, "%*sk%d:\n", i, "", i);
    snprintf(block + o, cap - o, "%*sleaf: x\n", SY_YAML_MAX_DEPTH, "");
    /* the root mapping (level 1) starts on line 1; the value of k(i) is the mapping at level
     * i + 2 starting on line i + 2, so the mapping on line 64 is level 64 and its key k63, on
     * line 64, is level 65: the first node too deep */
    expect_error(block, "t.yaml:64: nesting deeper than 64 levels");
    free(block);

    /* Inputs as large as the size limit allows: no recursion in libyaml or here may blow the
     * stack, and none may take long. libyaml's scanner works in time proportional to the open
     * flow levels per token, so loading these whole took minutes; the depth pass stops at level
     * 65. (No clock here: the old behaviour shows as a suite that does not finish.) */
    size_t levels = SY_YAML_MAX_BYTES / 2 - 1;
    char *huge = repeat("[", "]", levels);
    expect_error(huge, "t.yaml:1: nesting deeper than 64 levels");
    free(huge);
    char *open_only = malloc(SY_YAML_MAX_BYTES + 1);
    memset(open_only, '[', SY_YAML_MAX_BYTES);
    open_only[SY_YAML_MAX_BYTES] = '\0';
    expect_error(open_only, "t.yaml:1: nesting deeper than 64 levels");
    free(open_only);
    char *maps = repeat("{a: ", "}", SY_YAML_MAX_BYTES / 5 - 1);
    expect_error(maps, "t.yaml:1: nesting deeper than 64 levels");
    free(maps);
    /* a syntax error before the depth limit is still reported as libyaml sees it */
    expect_error(
        "[[[ [a, b] ]\n",
        "t.yaml:1: did not find expected ',' or ']' (while parsing a flow sequence at line 1)");
}

static void test_depth_through_alias(void **state)
{
    /* a 40-deep anchored subtree used 30 levels down: each part is fine, together too deep */
    size_t cap = 4096, o = 0;
    char *text = malloc(cap);
    char *inner = repeat("[", "]", 40);
    char *outer_open = repeat("[", "", 30);
    char *outer_close = repeat("", "]", 30);
    o += (size_t)snprintf(text + o, cap - o, "a: &deep %s\n", inner);
    o += (size_t)snprintf(text + o, cap - o, "b: %s*deep%s\n", outer_open, outer_close);
    expect_error(text, "t.yaml:1: nesting deeper than 64 levels (through an alias)");
    free(text);
    free(inner);
    free(outer_open);
    free(outer_close);
}

static void test_recursive_alias(void **state)
{
    expect_error("&a [*a]\n", "t.yaml:1: recursive alias (a node contains itself)");
    expect_error("x: 1\nloop: &l\n  self: *l\n", "t.yaml:2: recursive alias (a node contains "
                                                 "itself)");
}

/* "Billion laughs": level k aliases level k-1 ten times, so level 9 expands to 10^9 nodes. */
static char *laughs(int levels)
{
    size_t cap = 4096, o = 0;
    char *s = malloc(cap);
    o +=
        (size_t)snprintf(s + o, cap - o, "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int k = 1; k < levels; k++) {
        o += (size_t)snprintf(s + o, cap - o, "l%d: &l%d [", k, k);
        for (int j = 0; j < 10; j++)
            o += (size_t)snprintf(s + o, cap - o, "%s*l%d", j ? ", " : "", k - 1);
        o += (size_t)snprintf(s + o, cap - o, "]\n");
    }
    return s;
}

static void test_alias_bomb(void **state)
{
    char err[256];
    /* levels l0..l4: sizes 10, 101, 1011, 10111, 101111 (each 1 + 10 x previous); 5 keys;
     * total 1 + 5 + 112344 nodes: allowed, and shared, so cheap */
    char *ok = laughs(5);
    struct sy_yaml_node *root = load(ok, err, sizeof err);
    assert_non_null(root);
    const struct sy_yaml_node *l4 = sy_yaml_get(root, "l4");
    assert_int_equal(l4->n, 10);
    assert_ptr_equal(l4->items[0], l4->items[9]);
    assert_ptr_equal(l4->items[0], sy_yaml_get(root, "l3"));
    sy_yaml_free(root);
    free(ok);

    /* l5 alone is 1 + 10 x 101111 = 1011111 > 10^6: rejected at that node (line 6), long
     * before anything walks the 10^10 nodes of l9 */
    char *bomb = laughs(10);
    expect_error(bomb, "t.yaml:6: document too large: over 1000000 nodes with aliases expanded");
    free(bomb);
}

static void test_size_limit(void **state)
{
    size_t n = SY_YAML_MAX_BYTES + 1;
    char *big = malloc(n);
    memset(big, '#', n);
    char err[256];
    assert_null(sy_yaml_load_string(big, n, "big.yaml", err, sizeof err));
    assert_string_equal(err, "big.yaml: too large (1048577 bytes; the limit is 1048576)");
    free(big);
}

static void test_files(void **state)
{
    char path[] = "/tmp/sy_test_yaml_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "a: 1\nb:\n  c: [x, y]\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char err[512];
    struct sy_yaml_node *root = sy_yaml_load_file(path, err, sizeof err);
    assert_non_null(root);
    assert_string_equal(root->file, path);
    const struct sy_yaml_node *c = sy_yaml_get(sy_yaml_get(root, "b"), "c");
    assert_int_equal(c->line, 3);
    assert_string_equal(c->file, path);
    sy_yaml_free(root);

    /* a syntax error names the file */
    FILE *f = fopen(path, "w");
    fputs("ok: 1\nbad: [\n", f);
    fclose(f);
    assert_null(sy_yaml_load_file(path, err, sizeof err));
    char want[512];
    snprintf(want, sizeof want,
             "%s:2: did not find expected node content (while parsing a flow node at line 2)",
             path);
    assert_string_equal(err, want);
    unlink(path);

    assert_null(sy_yaml_load_file(path, err, sizeof err));
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory", path);
    assert_string_equal(err, want);

    assert_null(sy_yaml_load_file("/tmp", err, sizeof err));
    assert_string_equal(err, "/tmp: cannot read: not a regular file");
    assert_null(sy_yaml_load_file("/dev/null", err, sizeof err));
    assert_string_equal(err, "/dev/null: cannot read: not a regular file");
    /* a NULL or zero-sized buffer is allowed */
    assert_null(sy_yaml_load_file("/tmp", NULL, 0));
}

static void test_messages(void **state)
{
    char err[256], d[64];
    struct sy_yaml_node *root = load("a: \"tab\\there \\\"q\\\"\"\nb: [1]\n", err, sizeof err);
    assert_non_null(root);
    assert_string_equal(sy_yaml_describe(sy_yaml_get(root, "a"), d, sizeof d),
                        "\"tab\\x09here \\\"q\\\"\"");
    assert_string_equal(sy_yaml_describe(sy_yaml_get(root, "b"), d, sizeof d), "a sequence");
    assert_string_equal(sy_yaml_describe(root, d, sizeof d), "a mapping");
    assert_string_equal(sy_yaml_describe(NULL, d, sizeof d), "nothing");
    assert_int_equal(sy_yaml_errf(err, sizeof err, sy_yaml_get(root, "b"), "k: bad %d", 7),
                     SY_ECONFIG);
    assert_string_equal(err, "t.yaml:2: k: bad 7");
    /* truncation is safe */
    char small[8];
    sy_yaml_errf(small, sizeof small, root, "a long message");
    assert_string_equal(small, "t.yaml:");
    sy_yaml_free(root);

    /* long values are cut at 64 bytes */
    char text[200];
    snprintf(text, sizeof text, "v: %0100d\n", 0);
    root = load(text, err, sizeof err);
    char want[80];
    snprintf(want, sizeof want, "\"%064d...\"", 0);
    char dd[128];
    assert_string_equal(sy_yaml_describe(sy_yaml_get(root, "v"), dd, sizeof dd), want);
    sy_yaml_free(root);

    /* the cut never splits a UTF-8 character: 63 ASCII bytes then "é" (2 bytes) straddling 64 */
    snprintf(text, sizeof text, "v: %063d\xc3\xa9tail\n", 0);
    root = load(text, err, sizeof err);
    assert_non_null(root);
    snprintf(want, sizeof want, "\"%063d...\"", 0);
    assert_string_equal(sy_yaml_describe(sy_yaml_get(root, "v"), dd, sizeof dd), want);
    sy_yaml_free(root);
    assert_string_equal(sy_yaml_type_name(SY_YAML_MAPPING), "mapping");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_and_lines),
        cmocka_unit_test(test_empty_inputs),
        cmocka_unit_test(test_scalar_root_and_first_document_only),
        cmocka_unit_test(test_aliases_shared),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_duplicate_keys_large_mapping),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_depth_through_alias),
        cmocka_unit_test(test_recursive_alias),
        cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
