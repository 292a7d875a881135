/* libFuzzer target for src/tokenize/tokenizer.c, bpe.c and nfc.c: encoding arbitrary bytes.
 *
 * A small byte-level model is written to a temporary directory once: the 256 ByteLevel characters,
 * merges that build multi-byte tokens, added tokens with lstrip/rstrip, the NFC normalizer and
 * Qwen's pre-tokenizer regex. Every input is encoded twice (the second time through the word
 * cache) and checked: no crash or sanitizer report, identical ids, every id inside the vocabulary,
 * and ASCII-only input without added tokens decodes back to itself (bytes map 1:1 to ids < 256
 * before merges, so the merged ids' byte lengths must add up to the input length).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "tokenize/internal.h"
#include "tokenize/tokenizer.h"

static struct sy_tokenizer *tok;
static size_t token_len[1024]; /* raw byte length of each id */

static const char *const merges[] = {"a b", "ab c",  "Ġ t", "Ġt h", "Ġth e", "e r", "i n",
                                     "Ġ Ġ", "ĠĠ ĠĠ", "Ċ Ċ", "1 2",  "12 3",  NULL};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[] = "/tmp/sy_fuzz_tok_XXXXXX";
    if (!mkdtemp(dir))
        abort();
    cJSON *root = cJSON_CreateObject();
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    cJSON *ml = cJSON_AddArrayToObject(model, "merges");
    for (int b = 0; b < 256; b++) {
        struct sy_buf s;
        sy_buf_init(&s);
        sy_tokenize__utf8_put(&s, sy_tokenize__byte_char((unsigned char)b));
        cJSON_AddNumberToObject(vocab, s.data, b);
        token_len[b] = 1;
        sy_buf_fini(&s);
    }
    int next = 256;
    for (size_t i = 0; merges[i]; i++) {
        char a[32], b[32], ab[64];
        const char *sp = strchr(merges[i], ' ');
        snprintf(a, sizeof(a), "%.*s", (int)(sp - merges[i]), merges[i]);
        snprintf(b, sizeof(b), "%s", sp + 1);
        snprintf(ab, sizeof(ab), "%s%s", a, b);
        cJSON *ia = cJSON_GetObjectItemCaseSensitive(vocab, a);
        cJSON *ib = cJSON_GetObjectItemCaseSensitive(vocab, b);
        token_len[next] = token_len[(int)ia->valuedouble] + token_len[(int)ib->valuedouble];
        cJSON_AddNumberToObject(vocab, ab, next++);
        cJSON_AddItemToArray(ml, cJSON_CreateString(merges[i]));
    }
    cJSON *norm = cJSON_AddObjectToObject(root, "normalizer");
    cJSON_AddStringToObject(norm, "type", "NFC");
    cJSON *pre = cJSON_Parse(
        "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
        "{\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|"
        "\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|"
        "\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", "
        "\"add_prefix_space\": false, \"use_regex\": false}]}");
    if (!pre)
        abort();
    cJSON_AddItemToObject(root, "pre_tokenizer", pre);
    cJSON *added = cJSON_Parse("[{\"id\": 500, \"content\": \"<|im_start|>\"}, {\"id\": 501, "
                               "\"content\": \"<|im_end|>\", \"lstrip\": true, \"rstrip\": "
                               "true}, {\"id\": 502, \"content\": \"<|im\"}]");
    cJSON_AddItemToObject(root, "added_tokens", added);
    char path[64];
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    char *text = cJSON_PrintUnformatted(root);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
    free(text);
    cJSON_Delete(root);
    char err[256];
    tok = sy_tokenizer_load(dir, err, sizeof(err));
    if (!tok) {
        fprintf(stderr, "fuzz_tokenize: %s\n", err);
        abort();
    }
    unlink(path);
    rmdir(dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t *a, *b;
    size_t na, nb;
    if (sy_tokenizer_encode(tok, (const char *)data, size, &a, &na) != 0)
        abort();
    if (sy_tokenizer_encode(tok, (const char *)data, size, &b, &nb) != 0)
        abort();
    if (na != nb || (na && memcmp(a, b, na * sizeof(uint32_t)) != 0))
        abort();
    bool ascii = true;
    for (size_t i = 0; i < size; i++)
        ascii &= data[i] < 0x80;
    bool has_added = memmem(data, size, "<|im", 4) != NULL;
    size_t total = 0;
    for (size_t i = 0; i < na; i++) {
        if (a[i] >= sy_tokenizer_vocab_size(tok))
            abort();
        total += a[i] < 1024 ? token_len[a[i]] : 0;
    }
    if (ascii && !has_added && total != size)
        abort(); /* ids must cover the input bytes exactly */
    free(a);
    free(b);
    return 0;
}
