/* yaml.h - a small read-only YAML document tree with line numbers.
 *
 * libyaml parses the file; this module turns its document into a tree of scalars, sequences and
 * mappings where every node remembers its 1-based line, so every consumer (the gateway config, the
 * scheduler's EndpointPickerConfig, the simulator's config) can report errors as
 * `FILE:LINE: key: reason`. Anchors/aliases are resolved by libyaml. The tree owns all its memory;
 * sy_yaml_free releases it.
 */
#ifndef SY_CONFIG_YAML_H
#define SY_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>

enum sy_yaml_type {
    SY_YAML_SCALAR,   /* a string (plain or quoted) */
    SY_YAML_SEQUENCE, /* items[] */
    SY_YAML_MAPPING   /* keys[] -> items[] */
};

struct sy_yaml_node {
    enum sy_yaml_type type; /* what this node is */
    int line;               /* 1-based line where it starts */
    char *scalar;           /* SCALAR: the text (NUL-terminated); NULL otherwise */
    bool quoted;            /* SCALAR: written with quotes (so "null"/"1" stay strings) */
    size_t n;               /* SEQUENCE: item count; MAPPING: pair count */
    struct sy_yaml_node **items; /* SEQUENCE: items; MAPPING: values */
    struct sy_yaml_node **keys;  /* MAPPING: keys (scalars); NULL for sequences */
    char *file;             /* the file it came from (shared by the tree; root owns it) */
};

/* Parses a file. Returns the root node (an empty mapping for an empty file) or NULL with a
 * "FILE:LINE: reason" message in err. Caller frees with sy_yaml_free. */
struct sy_yaml_node *sy_yaml_load_file(const char *path, char *err, size_t errcap);
/* Parses text held in memory; name is used in messages in place of a file name. */
struct sy_yaml_node *sy_yaml_load_string(const char *text, size_t len, const char *name, char *err,
                                         size_t errcap);
void sy_yaml_free(struct sy_yaml_node *root);

/* Mapping lookup by key; NULL when absent or when m is not a mapping. Borrowed. */
const struct sy_yaml_node *sy_yaml_get(const struct sy_yaml_node *m, const char *key);
/* Scalar text or NULL when n is NULL or not a scalar. */
const char *sy_yaml_str(const struct sy_yaml_node *n);

#endif
