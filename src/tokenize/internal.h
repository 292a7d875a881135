/* internal.h - symbols shared inside the tokenize module (sy_tokenize__*), not a public API. */
#ifndef SY_TOKENIZE_INTERNAL_H
#define SY_TOKENIZE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Decodes one UTF-8 sequence at s[0..len) (len >= 1). Stores the code point in *cp and returns the
 * sequence length; an invalid or truncated sequence yields U+FFFD and a length of 1 (maximal
 * subpart handling is not needed: every invalid byte becomes one U+FFFD). */
size_t sy_tokenize__utf8_dec(const unsigned char *s, size_t len, uint32_t *cp);

/* Appends the UTF-8 encoding of cp to b. */
void sy_tokenize__utf8_put(struct sy_buf *b, uint32_t cp);

/* True when cp is whitespace as JavaScript's \s and String.prototype.trim() define it. */
bool sy_tokenize__js_space(uint32_t cp);

/* NFC-normalises s[0..len) (valid UTF-8). Returns false when s is already NFC (nothing written);
 * otherwise appends the normalised text to out and returns true. */
bool sy_tokenize__nfc(const char *s, size_t len, struct sy_buf *out);

/* ---- BPE model (bpe.c) ---- */

struct sy_bpe; /* vocab + merge ranks; immutable after building */

struct sy_bpe *sy_bpe__new(void);
void sy_bpe__free(struct sy_bpe *m);
/* Adds a vocab entry (token bytes, id). Returns false on a duplicate token. */
bool sy_bpe__add_token(struct sy_bpe *m, const char *tok, size_t len, uint32_t id);
/* Looks a token up; returns its id or -1. */
int64_t sy_bpe__lookup(const struct sy_bpe *m, const char *tok, size_t len);
/* Adds the merge (a, b) with the next rank. Returns false when a, b or a+b is not in the vocab. */
bool sy_bpe__add_merge(struct sy_bpe *m, const char *a, size_t alen, const char *b, size_t blen);
/* Finishes building: computes the byte -> initial symbol table (ByteLevel alphabet). Returns false
 * when a ByteLevel character is missing from the vocab. */
bool sy_bpe__finish(struct sy_bpe *m, bool ignore_merges);
/* Appends the ids of one pre-tokenized word (raw bytes before the ByteLevel mapping). */
void sy_bpe__word(const struct sy_bpe *m, const unsigned char *w, size_t len, struct sy_buf *ids);
/* True when the BMP character cp may start as its whole-character token instead of as bytes
 * (bpe.c, "Character pre-merge"); still subject to its neighbouring bytes in each word. */
bool sy_bpe__premerged(const struct sy_bpe *m, uint32_t cp);

/* Maps a raw byte to its ByteLevel character (GPT-2 bytes_to_unicode). */
uint32_t sy_tokenize__byte_char(unsigned char b);

#endif
