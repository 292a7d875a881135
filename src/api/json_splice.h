/* json_splice.h - member-level edits of one JSON object without re-serialising it, and small
 * readers for JSON answers (a top-level member, an array's first element).
 *
 * sy_json_splice describes the edited object as a short list of segments: runs of the original
 * members (views into the input, never copied), the new values (views into the caller's memory)
 * and a little glue text (commas, keys, braces) it owns. A 220 KB prompt therefore stays where
 * it is; a sender can write the segments as they are (writev) or flatten them with one copy.
 */
#ifndef SY_API_JSON_SPLICE_H
#define SY_API_JSON_SPLICE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/json_scan.h"
#include "core/buf.h"
#include "core/str.h"

/* One edit. A member whose raw key equals key is replaced in place by value (or removed when
 * value.p is NULL); when the object has no such member, `"key":value` is appended at the end,
 * unless if_present. */
struct sy_json_edit {
    const char *key;     /* member name, plain (no characters that need escaping) */
    struct sy_str value; /* raw JSON text of the new value (borrowed); {NULL,0} = remove */
    bool if_present;     /* only replace an existing member, never add one */
};

struct sy_json_splice {
    struct sy_str *segs; /* the edited object, in order; owned array, views borrowed/owned */
    size_t nsegs;        /* segment count */
    size_t len;          /* total bytes */
    struct sy_buf glue;  /* owned text the glue segments point into */
};

void sy_json_splice_init(struct sy_json_splice *s);
void sy_json_splice_fini(struct sy_json_splice *s);
/* Builds s (reset first) from the JSON object text[0..len) with edits applied. text and the
 * edits' values must outlive s. Returns 0, or SY_EPARSE with a reason in err when text is not
 * one well-formed JSON object. */
int sy_json_splice(struct sy_json_splice *s, const char *text, size_t len,
                   const struct sy_json_edit *edits, size_t nedits, char *err, size_t errcap);
/* Appends the edited object to out (one copy). */
void sy_json_splice_flatten(const struct sy_json_splice *s, struct sy_buf *out);

/* Finds the top-level member key (raw key, exact) of the object text; false when absent or
 * text is not a well-formed object. */
bool sy_json_member(const char *text, size_t len, const char *key, enum sy_json_type *type,
                    struct sy_str *value);
/* The first element of a well-formed JSON array value (view into arr); false when empty. */
bool sy_json_array_first(struct sy_str arr, struct sy_str *elem);
/* A member's integer value (JSON number without fraction), or -1. */
long long sy_json_member_int(const char *text, size_t len, const char *key);

#endif
