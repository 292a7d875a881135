/* json_scan.h - a validating, allocation-free JSON scanner for request bodies.
 *
 * sy_json_scan_object checks that text is exactly one well-formed JSON object (RFC 8259: strings
 * with valid escapes and no raw control characters, numbers in JSON grammar, nesting at most
 * SY_JSON_MAX_DEPTH) and reports each top-level member through a callback, with views of the raw
 * key and the raw value text. Nothing is copied, so a 200 KB prompt costs one linear pass.
 */
#ifndef SY_API_JSON_SCAN_H
#define SY_API_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

#define SY_JSON_MAX_DEPTH 256 /* nesting limit; deeper input is rejected */

enum sy_json_type {
    SY_JSON_STRING, /* value view includes the quotes */
    SY_JSON_NUMBER,
    SY_JSON_OBJECT,
    SY_JSON_ARRAY,
    SY_JSON_TRUE,
    SY_JSON_FALSE,
    SY_JSON_NULL
};

/* key: raw key text between the quotes (escapes not decoded); value: raw value text. */
typedef void sy_json_member_fn(void *ud, struct sy_str key, enum sy_json_type type,
                               struct sy_str value);

/* Returns 0, or SY_EPARSE with *err_off set to the byte offset of the problem and a short reason
 * in err. */
int sy_json_scan_object(const char *text, size_t len, sy_json_member_fn *cb, void *ud,
                        size_t *err_off, char *err, size_t errcap);

/* One element of an array walked by sy_json_scan_array: its index, type and raw text. Return
 * false to stop the walk early. */
typedef bool sy_json_element_fn(void *ud, size_t index, enum sy_json_type type,
                                struct sy_str value);

/* Checks that text is exactly one well-formed JSON array and reports each element in order.
 * Returns 0 (also when the callback stopped the walk), or SY_EPARSE with a short reason in err. */
int sy_json_scan_array(const char *text, size_t len, sy_json_element_fn *cb, void *ud, char *err,
                       size_t errcap);

/* A one-pass walk over a JSON value that reports only what the caller asks for. enter() is called
 * when a value starts (depth 0 = the root; its members or elements are depth 1, and so on; key is
 * the member name, raw, for object members, else empty; index the element index in arrays):
 * returning true for an object or array reports its members or elements too, false skips it with
 * the fast scanner. leave() is called when a value has ended, with its raw text. Either may be
 * NULL. */
struct sy_json_walk_ops {
    bool (*enter)(void *ud, int depth, struct sy_str key, size_t index, enum sy_json_type type);
    void (*leave)(void *ud, int depth, struct sy_str key, size_t index, enum sy_json_type type,
                  struct sy_str value);
};

/* Walks text (exactly one JSON value, validated as sy_json_scan_object validates) with ops.
 * Returns 0, or SY_EPARSE with *err_off (may be NULL) at the problem and a short reason in err. */
int sy_json_walk(const char *text, size_t len, const struct sy_json_walk_ops *ops, void *ud,
                 size_t *err_off, char *err, size_t errcap);

/* Selects the portable string scanner (SSE2, then bytewise) instead of the AVX2 one the CPU was
 * found to support; false goes back to the best available. Returns whether the portable one is
 * now in use. For tests, which check both; not thread-safe against concurrent scans. */
bool sy_json_scan_portable(bool on);

/* Decodes the body of a JSON string (the text between the quotes, escapes in place) into out, up
 * to cap bytes. Returns the decoded length (<= cap; decoding stops when out is full, the rest is
 * not examined, and *truncated is set when truncated is not NULL), or SIZE_MAX when s is not a
 * well-formed JSON string body. \uXXXX (and surrogate pairs) become UTF-8; a lone surrogate
 * becomes U+FFFD, as Go's decoder does. Not NUL-terminated. */
size_t sy_json_decode_string(struct sy_str s, char *out, size_t cap, bool *truncated);

/* Decodes a raw JSON string value (with or without its quotes) into out (NUL-terminated, UTF-8)
 * with sy_json_decode_string. Returns the decoded length, or -1 if it does not fit or is
 * malformed. */
long sy_json_unescape(struct sy_str raw, char *out, size_t cap);

#endif
