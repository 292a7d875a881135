/* sse.c - incremental parser of an OpenAI streaming response (server-sent events).
 *
 * Bytes arrive in arbitrary pieces (one socket read each); the parser keeps the bytes of the
 * event in progress and handles every complete event (terminated by a blank line) at once:
 *
 *   feed("data: {..}\n\nda") -> event 1 handled, "da" kept
 *   feed("ta: [DONE]\n\n")   -> event 2 handled
 *
 * '\r' is dropped on input, so "\r\n\r\n" and "\n\n" separate events alike. Within an event,
 * "data:" lines (one optional space after the colon) are joined with '\n' as the SSE spec says;
 * comment lines (":"), "event:", "id:" and "retry:" lines are ignored. Each data payload is either
 * "[DONE]" or a JSON object: a first choice with non-empty "text" (completions) or
 * "delta.content" / "delta.reasoning_content" (chat) is a content event (the callback fires, so
 * the caller can timestamp it); a "usage" object gives the token counts; an "error" member or a
 * payload that is not a JSON object is a stream error (the first message is kept, parsing goes
 * on). An event over SY_SSE_MAX_EVENT bytes without a blank line is an error and is dropped.
 *
 * Invariant: the result does not depend on how the bytes were split (unit-tested over every
 * split point). Memory: one growable buffer, bounded by SY_SSE_MAX_EVENT.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/alloc.h"

void sy_sse_init(struct sy_sse *s, void (*on_content)(void *ud), void *ud)
{
    memset(s, 0, sizeof *s);
    sy_buf_init(&s->buf);
    s->on_content = on_content;
    s->ud = ud;
}

void sy_sse_fini(struct sy_sse *s)
{
    sy_buf_fini(&s->buf);
    free(s->err);
    s->err = NULL;
}

static void sse_error(struct sy_sse *s, const char *msg)
{
    if (!s->err)
        s->err = sy_xstrdup(msg);
}

static unsigned json_uint(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 4e9)
        return 0;
    return (unsigned)v->valuedouble;
}

static void on_data(struct sy_sse *s, const char *p, size_t n)
{
    s->data_events++;
    if (n == 6 && memcmp(p, "[DONE]", 6) == 0) {
        s->done = true;
        return;
    }
    cJSON *j = cJSON_ParseWithLength(p, n);
    if (!j || !cJSON_IsObject(j)) {
        sse_error(s, "malformed JSON in an SSE data event");
        cJSON_Delete(j);
        return;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (e && !cJSON_IsNull(e)) {
        const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
        char msg[300];
        snprintf(msg, sizeof msg, "error event: %s",
                 cJSON_IsString(m) ? m->valuestring : "(no message)");
        sse_error(s, msg);
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *c0 = cJSON_IsArray(ch) ? cJSON_GetArrayItem(ch, 0) : NULL;
    if (cJSON_IsObject(c0)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c0, "text");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(c0, "delta");
        if (!cJSON_IsString(t) && cJSON_IsObject(d)) {
            t = cJSON_GetObjectItemCaseSensitive(d, "content");
            if (!cJSON_IsString(t) || !t->valuestring[0])
                t = cJSON_GetObjectItemCaseSensitive(d, "reasoning_content");
        }
        if (cJSON_IsString(t) && t->valuestring[0]) {
            s->content_events++;
            if (s->on_content)
                s->on_content(s->ud);
        }
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(u)) {
        s->usage = true;
        s->completion_tokens = json_uint(u, "completion_tokens");
        s->prompt_tokens = json_uint(u, "prompt_tokens");
        const cJSON *det = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens_details");
        s->cached_tokens = cJSON_IsObject(det) ? json_uint(det, "cached_tokens") : 0;
    }
    cJSON_Delete(j);
}

/* One complete event (no trailing blank line, no '\r'). */
static void on_event(struct sy_sse *s, const char *p, size_t n)
{
    struct sy_buf data;
    sy_buf_init(&data);
    bool any = false;
    while (n > 0) {
        const char *eol = memchr(p, '\n', n);
        size_t l = eol ? (size_t)(eol - p) : n;
        if (l >= 5 && memcmp(p, "data:", 5) == 0) {
            const char *v = p + 5;
            size_t vl = l - 5;
            if (vl && *v == ' ')
                v++, vl--;
            if (any)
                sy_buf_append(&data, "\n", 1);
            sy_buf_append(&data, v, vl);
            any = true;
        }
        if (!eol)
            break;
        n -= l + 1;
        p = eol + 1;
    }
    if (any)
        on_data(s, data.data ? data.data : "", data.len);
    sy_buf_fini(&data);
}

void sy_sse_feed(struct sy_sse *s, const char *p, size_t n)
{
    s->bytes += n;
    for (size_t i = 0; i < n; i++) { /* drop CR so "\r\n\r\n" and "\n\n" look alike */
        const char *cr = memchr(p + i, '\r', n - i);
        size_t l = cr ? (size_t)(cr - (p + i)) : n - i;
        sy_buf_append(&s->buf, p + i, l);
        i += l;
    }
    size_t off = 0;
    while (s->buf.len - off >= 2) {
        char *b = s->buf.data + off;
        char *sep = memmem(b, s->buf.len - off, "\n\n", 2);
        if (!sep)
            break;
        on_event(s, b, (size_t)(sep - b));
        off = (size_t)(sep - s->buf.data) + 2;
    }
    sy_buf_consume(&s->buf, off);
    if (s->buf.len > SY_SSE_MAX_EVENT) {
        sse_error(s, "an SSE event exceeded 16 MiB");
        sy_buf_reset(&s->buf);
    }
}

void sy_sse_finish(struct sy_sse *s)
{
    if (s->buf.len > 0)
        on_event(s, s->buf.data, s->buf.len);
    sy_buf_reset(&s->buf);
}
