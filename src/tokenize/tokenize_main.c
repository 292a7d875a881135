/* tokenize_main.c - `switchyard tokenize`: token ids of text or chat messages on stdin.
 *
 *   switchyard tokenize --tokenizer DIR            stdin = text          -> [ids]
 *   switchyard tokenize --tokenizer DIR --chat     stdin = messages JSON (an array, or a request
 *                                                  body with "messages" and optional "tools")
 *                                                  -> [ids] of the rendered prompt
 *                                                  (add_generation_prompt=true)
 *   --render       with --chat: print the rendered prompt as a JSON string instead of ids
 *   --jsonl        batch mode: every stdin line is one JSON value (a string, or with --chat a
 *                  messages array); one output line each, {"error": "..."} for a bad line
 *   --no-generation-prompt   render with add_generation_prompt=false
 *
 * Exit status: 0, 1 on a runtime error (unreadable tokenizer, bad input in single mode), 2 on
 * bad usage.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "core/buf.h"
#include "core/err.h"
#include "tokenize/tokenizer.h"

#define SY_TOKENIZE_MAX_INPUT (256u << 20) /* bytes read from stdin */

struct opts {
    const char *dir; /* --tokenizer */
    bool chat;       /* --chat */
    bool render;     /* --render */
    bool jsonl;      /* --jsonl */
    bool gen_prompt; /* add_generation_prompt */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: switchyard tokenize --tokenizer DIR [--chat [--render] "
               "[--no-generation-prompt]] [--jsonl]\n"
               "  reads text (or with --chat a JSON array of messages, or a request body with\n"
               "  messages and tools) on stdin and prints the\n"
               "  token ids as a JSON array; DIR holds tokenizer.json and tokenizer_config.json\n"
               "  --jsonl   one JSON string (or messages array) per line in, one result per line "
               "out\n");
}

/* Processes one input; appends the JSON result to out. Returns 0 or an error with msg set. */
static int run_one(const struct sy_tokenizer *tok, const struct opts *o, const char *in, size_t len,
                   struct sy_buf *out, char *msg, size_t msgcap)
{
    char *text = NULL;
    size_t tlen = len;
    const char *src = in;
    if (o->chat) {
        /* a request body {"messages", "tools", "chat_template_kwargs", ...} or a bare
         * messages array */
        size_t k = 0;
        while (k < len && (in[k] == ' ' || in[k] == '\t' || in[k] == '\n' || in[k] == '\r'))
            k++;
        int rc =
            k < len && in[k] == '{'
                ? sy_tokenizer_render_request(tok, in, len, &text, &tlen, msg, msgcap)
                : sy_tokenizer_render_chat(tok, in, len, o->gen_prompt, &text, &tlen, msg, msgcap);
        if (rc) {
            if (!msg[0])
                snprintf(msg, msgcap, "%s", sy_strerror(rc));
            return rc;
        }
        if (o->render) {
            sy_buf_json_str(out, text, tlen);
            free(text);
            return 0;
        }
        src = text;
    }
    uint32_t *ids = NULL;
    size_t n = 0;
    int rc = sy_tokenizer_encode(tok, src, tlen, &ids, &n);
    free(text);
    if (rc) {
        snprintf(msg, msgcap, "encode: %s", sy_strerror(rc));
        return rc;
    }
    sy_buf_append(out, "[", 1);
    for (size_t i = 0; i < n; i++)
        sy_buf_printf(out, i ? ",%u" : "%u", ids[i]);
    sy_buf_append(out, "]", 1);
    free(ids);
    return 0;
}

static int read_all(FILE *f, struct sy_buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b->len + n > SY_TOKENIZE_MAX_INPUT)
            return SY_ETOOBIG;
        sy_buf_append(b, chunk, n);
    }
    return ferror(f) ? SY_EIO : 0;
}

static int run_jsonl(const struct sy_tokenizer *tok, const struct opts *o, const char *data,
                     size_t len)
{
    struct sy_buf out;
    sy_buf_init(&out);
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - data) : len;
        const char *line = data + i;
        size_t llen = end - i;
        i = end + 1;
        if (llen == 0 || (llen == 1 && line[0] == '\r'))
            continue;
        char msg[512] = "";
        int rc;
        cJSON *v = cJSON_ParseWithLength(line, llen);
        if (!v) {
            snprintf(msg, sizeof(msg), "line is not JSON");
            rc = SY_EPARSE;
        } else if (o->chat) {
            char *printed = cJSON_PrintUnformatted(v);
            rc = run_one(tok, o, printed, strlen(printed), &out, msg, sizeof(msg));
            free(printed);
        } else if (!cJSON_IsString(v)) {
            snprintf(msg, sizeof(msg), "expected a JSON string");
            rc = SY_EPARSE;
        } else {
            rc = run_one(tok, o, v->valuestring, strlen(v->valuestring), &out, msg, sizeof(msg));
        }
        cJSON_Delete(v);
        if (rc) {
            sy_buf_puts(&out, "{\"error\":");
            sy_buf_json_str(&out, msg, strlen(msg));
            sy_buf_puts(&out, "}");
        }
        sy_buf_append(&out, "\n", 1);
        if (out.len > (1u << 20)) {
            fwrite(out.data, 1, out.len, stdout);
            sy_buf_reset(&out);
        }
    }
    if (out.len)
        fwrite(out.data, 1, out.len, stdout);
    sy_buf_fini(&out);
    return fflush(stdout) == 0 ? 0 : 1;
}

int sy_tokenize_main(int argc, char **argv)
{
    struct opts o = {.gen_prompt = true};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) {
            o.dir = argv[++i];
        } else if (!strcmp(argv[i], "--chat")) {
            o.chat = true;
        } else if (!strcmp(argv[i], "--render")) {
            o.render = true;
        } else if (!strcmp(argv[i], "--jsonl")) {
            o.jsonl = true;
        } else if (!strcmp(argv[i], "--no-generation-prompt")) {
            o.gen_prompt = false;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "tokenize: unknown or incomplete option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!o.dir || (o.render && !o.chat)) {
        usage(stderr);
        return 2;
    }
    char err[512];
    struct sy_tokenizer *tok = sy_tokenizer_load(o.dir, err, sizeof(err));
    if (!tok) {
        fprintf(stderr, "tokenize: %s\n", err);
        return 1;
    }
    struct sy_buf in;
    sy_buf_init(&in);
    int rc = read_all(stdin, &in);
    if (rc) {
        fprintf(stderr, "tokenize: reading stdin: %s\n", sy_strerror(rc));
        sy_buf_fini(&in);
        sy_tokenizer_free(tok);
        return 1;
    }
    int status = 0;
    if (o.jsonl) {
        status = run_jsonl(tok, &o, in.data ? in.data : "", in.len);
    } else {
        struct sy_buf out;
        sy_buf_init(&out);
        char msg[512] = "";
        rc = run_one(tok, &o, in.data ? in.data : "", in.len, &out, msg, sizeof(msg));
        if (rc) {
            fprintf(stderr, "tokenize: %s\n", msg);
            status = 1;
        } else {
            sy_buf_append(&out, "\n", 1);
            fwrite(out.data, 1, out.len, stdout);
        }
        sy_buf_fini(&out);
    }
    sy_buf_fini(&in);
    sy_tokenizer_free(tok);
    return status;
}
