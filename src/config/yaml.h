/* yaml.h - a small read-only YAML document tree with line numbers.
 *
 * libyaml parses the file; this module turns its document into a tree of scalars, sequences and
 * mappings where every node remembers its 1-based line, so every consumer (the gateway config, the
 * scheduler's EndpointPickerConfig, the simulator's config) can report errors as
 * `FILE:LINE: key: reason`. Anchors/aliases are resolved by libyaml. The tree owns all its memory;
 * sy_yaml_free releases it.
 *
 * An alias is the very node its anchor names (the same pointer), so the tree is a DAG: walkers must
 * not assume one parent per node. Recursive aliases are rejected, and the tree as seen by a walker
 * that follows every alias is bounded (SY_YAML_MAX_NODES, SY_YAML_MAX_DEPTH), so a "billion laughs"
 * document is an error, not a billion-node walk. Mapping keys are unique scalars.
 */
#ifndef SY_CONFIG_YAML_H
#define SY_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>

/* Limits against hostile input; exceeding one is a load error, never a crash. */
#define SY_YAML_MAX_BYTES (1u << 20) /* input size (1 MiB; configs are a few KB) */
#define SY_YAML_MAX_DEPTH 64         /* nesting levels, the root counting as 1 */
#define SY_YAML_MAX_NODES 1000000    /* nodes as seen by a walker, aliases expanded */

enum sy_yaml_type {
    SY_YAML_SCALAR,   /* a string (plain or quoted) */
    SY_YAML_SEQUENCE, /* items[] */
    SY_YAML_MAPPING   /* keys[] -> items[] */
};

struct sy_yaml_node {
    enum sy_yaml_type type;      /* what this node is */
    int line;                    /* 1-based line where it starts */
    char *scalar;                /* SCALAR: the text (NUL-terminated); NULL otherwise */
    bool quoted;                 /* SCALAR: written with quotes (so "null"/"1" stay strings) */
    size_t n;                    /* SEQUENCE: item count; MAPPING: pair count */
    struct sy_yaml_node **items; /* SEQUENCE: items; MAPPING: values */
    struct sy_yaml_node **keys;  /* MAPPING: keys (scalars); NULL for sequences */
    char *file;                  /* the file it came from (shared by the tree; root owns it) */
};

/* Parses a file. Returns the root node (an empty mapping for an empty file) or NULL with a
 * "FILE:LINE: reason" message in err. Caller frees with sy_yaml_free. */
struct sy_yaml_node *sy_yaml_load_file(const char *path, char *err, size_t errcap);
/* Parses text held in memory; name is used in messages in place of a file name. */
struct sy_yaml_node *sy_yaml_load_string(const char *text, size_t len, const char *name, char *err,
                                         size_t errcap);
/* Frees a tree returned by a loader; root must be that root (not an inner node). NULL is a no-op.
 */
void sy_yaml_free(struct sy_yaml_node *root);

/* Mapping lookup by key; NULL when absent or when m is not a mapping. Borrowed. */
const struct sy_yaml_node *sy_yaml_get(const struct sy_yaml_node *m, const char *key);
/* Scalar text or NULL when n is NULL or not a scalar. */
const char *sy_yaml_str(const struct sy_yaml_node *n);

/* True for an unquoted "", "~", "null", "Null" or "NULL" scalar (YAML's null; `key:` with no
 * value). Loaders treat such a value like an absent key. */
bool sy_yaml_is_null(const struct sy_yaml_node *n);
/* "scalar", "sequence" or "mapping", for messages. */
const char *sy_yaml_type_name(enum sy_yaml_type t);
/* Describes a value for messages: a scalar as a double-quoted, escaped string cut at 64 bytes
 * ("\"abc\""), otherwise "a sequence" / "a mapping"; "nothing" for NULL. Writes into buf (NUL-
 * terminated, truncated to cap) and returns buf. */
const char *sy_yaml_describe(const struct sy_yaml_node *n, char *buf, size_t cap);
/* Writes "FILE:LINE: " followed by the formatted text into err (truncating to errcap), taking
 * FILE and LINE from n. Returns SY_ECONFIG so callers can `return sy_yaml_errf(...)`. */
int sy_yaml_errf(char *err, size_t errcap, const struct sy_yaml_node *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
