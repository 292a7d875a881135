/* sse.c - incremental parser of an OpenAI streaming response (server-sent events).
 *
 * Bytes arrive in arbitrary pieces (one socket read each); api/sse_lines.c, the splitter the
 * gateway's proxy and EPP use, cuts them into events, and each event's data is handled as it
 * completes:
 *
 *   feed("data: {..}\n\nda") -> event 1 handled, "da" kept
 *   feed("ta: [DONE]\n\n")   -> event 2 handled
 *
 * Lines end with CRLF, LF or CR, as the SSE spec says (a CR-only stream used to be one endless
 * event here: CR was dropped, not read as a line end). Within an event, "data:" lines (one
 * optional space after the colon) are joined with '\n'; comment lines (":"), "event:", "id:" and
 * "retry:" lines are ignored; a data line starting with '{' or '[' while the event holds data
 * starts a new event (sse_lines.h). Each data payload is either "[DONE]" or a JSON object: a
 * first choice with non-empty "text" (completions) or "delta.content" /
 * "delta.reasoning_content" (chat) is a content event (the callback fires, so the caller can
 * timestamp it); a "usage" object gives the token counts; an "error" member or a payload that is
 * not a JSON object is a stream error (the first message is kept, parsing goes on). The
 * splitter's cap is SY_BENCH_SSE_CAP (16 MiB), not the gateway's 64 KiB: servers that send a long
 * output as one event (fake-streaming or buffering proxies) are measured like any other; an event
 * whose data passes 16 MiB (the splitter keeps only its tail) is an error and is not parsed; an
 * over-long comment or other field line is skipped.
 *
 * Invariant: the result does not depend on how the bytes were split (unit-tested over every
 * split point). Memory: the splitter's, at most 2 x SY_BENCH_SSE_CAP per stream in flight, only
 * while an event or line that long is open.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/alloc.h"

static void on_event(void *ud, const char *data, size_t len, bool truncated);

void sy_sse_init(struct sy_sse *s, void (*on_content)(void *ud), void *ud)
{
    memset(s, 0, sizeof *s);
    sy_sse_lines_init(&s->lines, on_event, s);
    sy_sse_lines_set_cap(&s->lines, SY_BENCH_SSE_CAP);
    s->on_content = on_content;
    s->ud = ud;
}

void sy_sse_fini(struct sy_sse *s)
{
    sy_sse_lines_fini(&s->lines);
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

/* One complete event's data (sy_sse_event_fn). */
static void on_event(void *ud, const char *data, size_t len, bool truncated)
{
    struct sy_sse *s = ud;
    if (truncated) {
        s->data_events++;
        sse_error(s, "an SSE event's data exceeded 16 MiB");
        return;
    }
    on_data(s, data, len);
}

void sy_sse_feed(struct sy_sse *s, const char *p, size_t n)
{
    s->bytes += n;
    sy_sse_lines_feed(&s->lines, p, n);
}

void sy_sse_finish(struct sy_sse *s)
{
    sy_sse_lines_feed(&s->lines, "\n", 1); /* a last line without its line end still counts */
    sy_sse_lines_finish(&s->lines);
}
