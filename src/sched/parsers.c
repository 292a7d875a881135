/* parsers.c - llm-d's request parsers: the plugin types `openai-parser`, `anthropic-parser`,
 * `vllmhttp-parser` and `passthrough-parser`, the EndpointPickerConfig keys that choose them
 * (`requestHandler.parsers`, router; `parser`, v0.8), and which parser reads a POST to a path.
 *
 *   parser              claims (path suffixes)                     Switchyard reads the body as
 *   openai-parser       /v1/completions /v1/chat/completions       sy_request_parse (OpenAI)
 *                       /v1/responses /v1/embeddings
 *   anthropic-parser    /v1/messages                               sy_request_parse (Messages)
 *   vllmhttp-parser     /inference/v1/generate, then openai's      generate: token_ids ...
 *   passthrough-parser  nothing: the fallback for any other POST   not read: no model, no prompt
 *
 * Claims are path suffixes, as in llm-d (so /openai/v1/chat/completions is chat too; the path is
 * forwarded as sent). A POST goes to the first listed parser that claims its path; a path nobody
 * claims goes to the
 * first parser that claims nothing (passthrough), and without one it is refused (404). The
 * defaults when the config names none: the router's list (openai, anthropic, vllmhttp,
 * passthrough; llm-d-router at ebab687) for `llm-d.ai/...` configs, v0.8's openai-parser alone for
 * the legacy `inference.networking.x-k8s.io/v1alpha1`.
 *
 * A passthrough request is scheduled with no model and no prompt (any endpoint; prefix scorers
 * score 0), as llm-d documents: "payload-related scheduling scorers are not supported".
 * `requestHandler.propagatePriority` (the router rewrites the body's priority) is accepted when
 * false and refused when true: Switchyard forwards the client's bytes unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/str.h"
#include "sched/internal.h"
#include "sched/params.h"
#include "sched/plugins.h"

static int parser_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                         void **state, char *err, size_t errcap)
{
    static const char *const none[] = {NULL};
    *state = NULL;
    return sy_param_check(params, env, none, err, errcap);
}

const struct sy_plugin_ops sy_plugin_openai_parser = {.type = "openai-parser",
                                                      .create = parser_create};
const struct sy_plugin_ops sy_plugin_anthropic_parser = {.type = "anthropic-parser",
                                                         .create = parser_create};
const struct sy_plugin_ops sy_plugin_vllmhttp_parser = {.type = "vllmhttp-parser",
                                                        .create = parser_create};
const struct sy_plugin_ops sy_plugin_passthrough_parser = {.type = "passthrough-parser",
                                                           .create = parser_create};

static enum sy_parser parser_of(const struct sy_plugin_ops *ops)
{
    if (ops == &sy_plugin_openai_parser)
        return SY_PARSER_OPENAI;
    if (ops == &sy_plugin_anthropic_parser)
        return SY_PARSER_ANTHROPIC;
    if (ops == &sy_plugin_vllmhttp_parser)
        return SY_PARSER_VLLMHTTP;
    if (ops == &sy_plugin_passthrough_parser)
        return SY_PARSER_PASSTHROUGH;
    return SY_PARSER_NONE;
}

const char *sy_parser_name(enum sy_parser p)
{
    switch (p) {
    case SY_PARSER_OPENAI: return "openai-parser";
    case SY_PARSER_ANTHROPIC: return "anthropic-parser";
    case SY_PARSER_VLLMHTTP: return "vllmhttp-parser";
    case SY_PARSER_PASSTHROUGH: return "passthrough-parser";
    default: return "none";
    }
}

static void add(struct sy_scheduler *s, enum sy_parser p)
{
    if (s->nparsers < SY_SCHED_MAX_PARSERS)
        s->parsers[s->nparsers++] = p;
}

/* One {pluginRef: NAME} entry at `where` (for messages). */
static int add_ref(struct sy_scheduler *s, const char *file, const struct sy_yaml_node *ref,
                   const char *where, char *err, size_t errcap)
{
    if (!ref || ref->type != SY_YAML_MAPPING)
        return sy_yaml_errf(err, errcap, ref, "%s: must be a mapping {pluginRef: NAME}", where);
    const char *name = NULL;
    for (size_t i = 0; i < ref->n; i++) {
        const char *k = sy_yaml_str(ref->keys[i]);
        if (k && !strcmp(k, "pluginRef"))
            name = sy_yaml_str(ref->items[i]);
        else
            return sy_yaml_errf(err, errcap, ref->keys[i], "%s.%s: unknown key (pluginRef)", where,
                                k ? k : "?");
    }
    if (!name || !*name)
        return sy_yaml_errf(err, errcap, ref, "%s.pluginRef: required (a parser plugin's name)",
                            where);
    for (size_t i = 0; i < s->nplugins; i++) {
        if (strcmp(s->plugins[i]->name, name) != 0)
            continue;
        enum sy_parser p = parser_of(s->plugins[i]->ops);
        if (p == SY_PARSER_NONE)
            return sy_yaml_errf(err, errcap, ref,
                                "%s.pluginRef: '%s' is a %s, not a parser (openai-parser, "
                                "anthropic-parser, vllmhttp-parser or passthrough-parser)",
                                where, name, s->plugins[i]->ops->type);
        for (size_t j = 0; j < s->nparsers; j++)
            if (s->parsers[j] == p)
                return sy_yaml_errf(err, errcap, ref, "%s.pluginRef: a second %s", where,
                                    sy_parser_name(p));
        add(s, p);
        return 0;
    }
    (void)file;
    return sy_yaml_errf(err, errcap, ref,
                        "%s.pluginRef: no plugin named '%s' (declare the parser under plugins)",
                        where, name);
}

int sy_sched__load_parsers(struct sy_scheduler *s, const char *file,
                           const struct sy_yaml_node *parser, const struct sy_yaml_node *handler,
                           bool legacy, char *err, size_t errcap)
{
    s->nparsers = 0;
    if (parser && handler)
        return sy_yaml_errf(
            err, errcap, parser,
            "parser: give either parser (v0.8) or requestHandler.parsers, not both");
    if (parser && !sy_yaml_is_null(parser))
        return add_ref(s, file, parser, "parser", err, errcap);
    if (handler && !sy_yaml_is_null(handler)) {
        if (handler->type != SY_YAML_MAPPING)
            return sy_yaml_errf(err, errcap, handler,
                                "requestHandler: must be a mapping {parsers: [...]}");
        const struct sy_yaml_node *list = NULL;
        for (size_t i = 0; i < handler->n; i++) {
            const char *k = sy_yaml_str(handler->keys[i]);
            const struct sy_yaml_node *v = handler->items[i];
            if (k && !strcmp(k, "parsers")) {
                list = v;
            } else if (k && !strcmp(k, "propagatePriority")) {
                const char *b = sy_yaml_str(v);
                if (!b || (strcmp(b, "false") && strcmp(b, "true")))
                    return sy_yaml_errf(err, errcap, v,
                                        "requestHandler.propagatePriority: must be a boolean");
                if (!strcmp(b, "true"))
                    return sy_yaml_errf(err, errcap, v,
                                        "requestHandler.propagatePriority: true is not supported "
                                        "(Switchyard forwards the client's body unchanged)");
            } else {
                return sy_yaml_errf(err, errcap, handler->keys[i],
                                    "requestHandler.%s: unknown key (parsers, propagatePriority)",
                                    k ? k : "?");
            }
        }
        if (list && !sy_yaml_is_null(list)) {
            if (list->type != SY_YAML_SEQUENCE)
                return sy_yaml_errf(err, errcap, list,
                                    "requestHandler.parsers: must be a list of {pluginRef: NAME}");
            for (size_t i = 0; i < list->n; i++) {
                char where[64];
                snprintf(where, sizeof where, "requestHandler.parsers[%zu]", i);
                int rc = add_ref(s, file, list->items[i], where, err, errcap);
                if (rc)
                    return rc;
            }
            if (s->nparsers)
                return 0;
        }
    }
    /* defaults */
    add(s, SY_PARSER_OPENAI);
    if (!legacy) {
        add(s, SY_PARSER_ANTHROPIC);
        add(s, SY_PARSER_VLLMHTTP);
        add(s, SY_PARSER_PASSTHROUGH);
    }
    return 0;
}

static bool ends_with(struct sy_str p, const char *suffix)
{
    size_t n = strlen(suffix);
    return p.len >= n && memcmp(p.p + p.len - n, suffix, n) == 0;
}

/* The API kind parser p claims for path, or SY_API_OTHER when it does not claim it. */
static enum sy_api_kind claim(enum sy_parser p, struct sy_str path)
{
    static const struct {
        const char *suffix;
        enum sy_api_kind kind;
    } openai[] = {{"/v1/completions", SY_API_COMPLETIONS},
                  {"/v1/chat/completions", SY_API_CHAT_COMPLETIONS},
                  {"/v1/responses", SY_API_RESPONSES},
                  {"/v1/embeddings", SY_API_EMBEDDINGS}};
    switch (p) {
    case SY_PARSER_ANTHROPIC:
        return ends_with(path, "/v1/messages") ? SY_API_MESSAGES : SY_API_OTHER;
    case SY_PARSER_VLLMHTTP: /* /inference/v1/generate, every other path as openai-parser */
    case SY_PARSER_OPENAI:
        if (p == SY_PARSER_VLLMHTTP && ends_with(path, "/inference/v1/generate"))
            return SY_API_GENERATE;
        for (size_t i = 0; i < sizeof openai / sizeof openai[0]; i++)
            if (ends_with(path, openai[i].suffix))
                return openai[i].kind;
        return SY_API_OTHER;
    default: return SY_API_OTHER;
    }
}

enum sy_parser sy_sched_parser_for(const struct sy_scheduler *s, const char *path, size_t len,
                                   enum sy_api_kind *kind)
{
    struct sy_str p = {path, len};
    *kind = SY_API_OTHER;
    for (size_t i = 0; s && i < s->nparsers; i++) {
        enum sy_api_kind k = claim(s->parsers[i], p);
        if (k != SY_API_OTHER) {
            *kind = k;
            return s->parsers[i];
        }
    }
    for (size_t i = 0; s && i < s->nparsers; i++)
        if (s->parsers[i] == SY_PARSER_PASSTHROUGH)
            return SY_PARSER_PASSTHROUGH;
    return SY_PARSER_NONE;
}
