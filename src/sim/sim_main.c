/* sim_main.c - `switchyard sim`: flags and YAML config for simulated vLLM replicas.
 *
 * Every setting has one name used both as a flag (--max-num-seqs 64 or --max-num-seqs=64) and
 * as a YAML key (max-num-seqs: 64) in --config FILE; precedence is flags > file > profile
 * defaults. Values are collected as strings first (with where they came from, for messages),
 * then validated in one place, so a flag and a key can never disagree on syntax.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cmd/commands.h"
#include "config/yaml.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "tokenize/tokenizer.h"
#include "core/log.h"
#include "core/str.h"
#include "sim/calibrate.h"
#include "sim/profile_groups.h"
#include "sim/sim_server.h"

enum key {
    K_HOST,
    K_PORT,
    K_REPLICAS,
    K_PORTS,
    K_MODEL,
    K_PROFILE,
    K_MAX_NUM_SEQS,
    K_MAX_BATCHED,
    K_KV_BLOCKS,
    K_BLOCK_SIZE,
    K_MAX_MODEL_LEN,
    K_TIME_SCALE,
    K_SEED,
    K_FAILURE_RATE,
    K_FAILURE_TYPES,
    K_KV_EVENTS,
    K_KV_FORMAT,
    K_KV_REPLAY,
    K_TOKENIZER,
    K_ROLE,
    K_PREFILL_REPLICAS,
    K_DECODE_REPLICAS,
    K_KV_CONNECTOR,
    K_KV_BANDWIDTH,
    K_KV_LATENCY,
    K_KV_LEASE,
    K_LOG_LEVEL,
    K_DP_SIZE,
    K_DP_SUPERVISOR,
    K_TRUNCATE_RATE,
    K_METRICS_DELAY,
    K_REQUEST_LOG,
    K_SCHED_POLICY,
    K_LONG_PREFILL,
    K_STEP_MODEL,
    K_N_
};

static const struct {
    const char *name; /* flag without "--" and YAML key */
    const char *arg;  /* value placeholder for --help */
    const char *help; /* one line */
} keys[K_N_] = {
    [K_HOST] = {"host", "ADDR", "address to bind (default 127.0.0.1)"},
    [K_PORT] = {"port", "P", "replica i listens on P+i (default 8000)"},
    [K_REPLICAS] = {"replicas", "N", "number of replicas (default 1)"},
    [K_PORTS] = {"ports", "A,B,..", "explicit port per replica (overrides --port/--replicas)"},
    [K_MODEL] = {"model", "NAME", "served model name (default Qwen/Qwen3-32B)"},
    [K_PROFILE] = {"profile", "NAME[:N],..",
                   "engine profile (default qwen3-32b-tp2-h100; see below); NAME:N,NAME gives "
                   "replica groups their own profiles, in port order"},
    [K_MAX_NUM_SEQS] = {"max-num-seqs", "N", "running requests per step (profile: 1024)"},
    [K_MAX_BATCHED] = {"max-num-batched-tokens", "N",
                       "token budget per step, chunked prefill (profile: 8192)"},
    [K_KV_BLOCKS] = {"kv-blocks", "N", "KV cache blocks (profile: e.g. 17235)"},
    [K_BLOCK_SIZE] = {"block-size", "N",
                      "tokens per KV block, 1..256 (default 16; keeps the profile's token "
                      "capacity unless --kv-blocks is given)"},
    [K_MAX_MODEL_LEN] = {"max-model-len", "N", "prompt + output tokens per request (profile)"},
    [K_TIME_SCALE] = {"time-scale", "X",
                      "simulated time runs X times faster than wall time (default 1)"},
    [K_SEED] = {"seed", "N", "seed for output tokens, lengths and failures (default 0)"},
    [K_FAILURE_RATE] = {"failure-rate", "PCT", "percent of completion requests failed (0..100)"},
    [K_FAILURE_TYPES] = {"failure-types", "LIST",
                         "rate_limit(429),invalid_api_key(401),context_length(400),"
                         "server_error(503),invalid_request(400),model_not_found(404); "
                         "default all of these; internal_error(500) only when named"},
    [K_KV_EVENTS] = {"kv-events", "tcp://H:P",
                     "publish vLLM KV events (ZMQ PUB bound on P+i for replica i)"},
    [K_KV_FORMAT] = {"kv-events-format", "array|map",
                     "event encoding: positional arrays (vLLM <= 0.23) or tagged maps"},
    [K_KV_REPLAY] = {"kv-events-replay", "tcp://H:P", "replay ROUTER socket (bound on P+i)"},
    [K_TOKENIZER] = {"tokenizer", "DIR",
                     "directory with a Hugging Face tokenizer.json and tokenizer_config.json: "
                     "prompts are tokenized and chats rendered as the real model does (default: "
                     "the built-in tokenizer, 4-byte chunks)"},
    [K_ROLE] = {"role", "prefill|decode|both",
                "P/D role of every replica (llm-d.ai/role; default both = aggregated)"},
    [K_PREFILL_REPLICAS] = {"prefill-replicas", "N",
                            "mixed fleet: N prefill replicas on the first ports, then the decode "
                            "replicas (instead of --replicas/--role)"},
    [K_DECODE_REPLICAS] = {"decode-replicas", "M", "mixed fleet: M decode replicas after them"},
    [K_KV_CONNECTOR] = {"kv-connector", "nixlv2|sglang",
                        "P/D protocol: vLLM NixlConnector kv_transfer_params (default) or SGLang "
                        "bootstrap_room"},
    [K_KV_BANDWIDTH] = {"kv-transfer-bandwidth", "GB/s",
                        "KV pull bandwidth per TP rank (default 22.96, NIXLBench H100 READ)"},
    [K_KV_LATENCY] = {"kv-transfer-latency", "MS", "fixed cost of one KV pull (default 0.6 ms)"},
    [K_KV_LEASE] = {"kv-lease", "S",
                    "simulated seconds a prefill holds KV for its decode (default 480, "
                    "VLLM_NIXL_ABORT_REQUEST_TIMEOUT)"},
    [K_LOG_LEVEL] = {"log-level", "LEVEL", "debug|info|warn|error (default info)"},
    [K_DP_SIZE] = {"data-parallel-size", "N",
                   "wide-EP pods: every N consecutive replicas are the data-parallel ranks of one "
                   "pod, stepping in lockstep, with a supervisor port (docs/wide-ep.md)"},
    [K_DP_SUPERVISOR] = {"data-parallel-supervisor-port", "P",
                         "pod g's supervisor (/readyz) on P+g (default: the port after the "
                         "last replica)"},
    [K_TRUNCATE_RATE] = {"truncate-rate", "PCT",
                         "fault: percent of streaming completions cut after their first token "
                         "(connection closed, no end chunk)"},
    [K_METRICS_DELAY] = {"metrics-delay", "MS", "fault: answer GET /metrics MS milliseconds late"},
    [K_REQUEST_LOG] = {"request-log", "FILE",
                       "append \"PORT X-REQUEST-ID\" per completion request received (O_APPEND; "
                       "for counting requests sent twice)"},
    [K_SCHED_POLICY] = {"scheduling-policy", "fcfs|priority",
                        "waiting-queue order (vLLM): arrival, or the request's `priority` "
                        "(lower first; preempts the lowest priority); default fcfs"},
    [K_LONG_PREFILL] = {"long-prefill-token-threshold", "N",
                        "tokens one request may compute per step (vLLM; 0 = no cap, default)"},
    [K_STEP_MODEL] = {"step-model", "additive|overlap",
                      "step-time model: terms summed (default), or a mixed batch as one forward "
                      "pass (linear layers max(weight read, FLOPs); docs/simulator.md)"},
};

struct setting {
    char *val;       /* owned value, NULL when unset */
    char where[300]; /* "--flag" or "FILE:LINE" for messages */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: switchyard sim [--config FILE] [options]\n\n"
               "Runs simulated vLLM-compatible model servers (one engine model per replica).\n\n"
               "options (also YAML keys of --config FILE; flags win over the file):\n");
    for (int k = 0; k < K_N_; k++) {
        char left[64];
        snprintf(left, sizeof left, "--%s %s", keys[k].name, keys[k].arg);
        fprintf(f, "  %-34s %s\n", left, keys[k].help);
    }
    fprintf(f, "  %-34s %s\n", "--kv-events-connect",
            "dial the --kv-events endpoint instead "
            "of binding it (central subscriber)");
    fprintf(f, "  %-34s %s\n", "--config FILE", "YAML file with the keys above");
    fprintf(f, "  %-34s %s\n", "--list-profiles", "print the built-in profiles and exit");
    fprintf(f, "  %-34s %s\n", "--calibrate [--profile NAME]",
            "print the profile's model against its published figures and exit "
            "(--json, --static-only, --step-model M, --kv-read-us X, --prefill-us X; "
            "docs/simulator.md)");
    fprintf(f, "  %-34s %s\n", "--help", "this text");
    fprintf(f, "\nprofiles:");
    for (size_t i = 0; sy_sim_profiles[i]; i++)
        fprintf(f, " %s", sy_sim_profiles[i]->name);
    fprintf(f,
            "\n\nEndpoints per replica: POST /v1/completions, /v1/chat/completions, /v1/messages,"
            " /tokenize,\n/v1/completions/render, /v1/chat/completions/render, "
            "/reset_prefix_cache; GET /v1/models, /health,\n/metrics. See "
            "docs/simulator.md.\n");
}

static void list_profiles(void)
{
    for (size_t i = 0; sy_sim_profiles[i]; i++) {
        const struct sy_sim_profile *p = sy_sim_profiles[i];
        printf("%-22s model=%s kv-blocks=%u block-size=%u (%u tokens) max-num-seqs=%u "
               "max-num-batched-tokens=%u max-model-len=%u\n",
               p->name, p->model, p->num_gpu_blocks, p->block_size,
               p->num_gpu_blocks * p->block_size, p->max_num_seqs, p->max_num_batched_tokens,
               p->max_model_len);
    }
}

static int find_key(const char *name, size_t len)
{
    for (int k = 0; k < K_N_; k++)
        if (strlen(keys[k].name) == len && strncmp(keys[k].name, name, len) == 0)
            return k;
    return -1;
}

static void set(struct setting *s, const char *val, const char *where)
{
    free(s->val);
    s->val = sy_xstrdup(val);
    snprintf(s->where, sizeof s->where, "%s", where);
}

static int load_config(const char *path, struct setting *st, bool *kv_connect)
{
    char err[512];
    struct sy_yaml_node *root = sy_yaml_load_file(path, err, sizeof err);
    if (!root) {
        fprintf(stderr, "switchyard sim: %s\n", err);
        return -1;
    }
    int rc = 0;
    if (root->type != SY_YAML_MAPPING) {
        fprintf(stderr, "switchyard sim: %s:%d: the config must be a mapping of settings\n", path,
                root->line);
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < root->n; i++) {
        const char *name = sy_yaml_str(root->keys[i]);
        const struct sy_yaml_node *v = root->items[i];
        char where[300];
        snprintf(where, sizeof where, "%s:%d: %s", path, v->line, name ? name : "?");
        if (name && strcmp(name, "kv-events-connect") == 0) {
            bool b;
            if (!sy_yaml_str(v) || sy_parse_bool(sy_yaml_str(v), &b) != 0) {
                fprintf(stderr, "switchyard sim: %s: expected true or false\n", where);
                rc = -1;
                goto out;
            }
            *kv_connect = b;
            continue;
        }
        int k = name ? find_key(name, strlen(name)) : -1;
        if (k < 0) {
            fprintf(stderr, "switchyard sim: %s: unknown setting\n", where);
            rc = -1;
            goto out;
        }
        if (k == K_PORTS && v->type == SY_YAML_SEQUENCE) {
            struct sy_buf b;
            sy_buf_init(&b);
            for (size_t j = 0; j < v->n; j++) {
                const char *s = sy_yaml_str(v->items[j]);
                if (!s) {
                    fprintf(stderr, "switchyard sim: %s: ports must be numbers\n", where);
                    sy_buf_fini(&b);
                    rc = -1;
                    goto out;
                }
                sy_buf_printf(&b, "%s%s", j ? "," : "", s);
            }
            set(&st[k], b.data ? b.data : "", where);
            sy_buf_fini(&b);
            continue;
        }
        if (!sy_yaml_str(v)) {
            fprintf(stderr, "switchyard sim: %s: expected a single value\n", where);
            rc = -1;
            goto out;
        }
        set(&st[k], sy_yaml_str(v), where);
    }
out:
    sy_yaml_free(root);
    return rc;
}

static int bad(const struct setting *s, const char *why)
{
    fprintf(stderr, "switchyard sim: %s: %s: %s\n", s->where, s->val, why);
    return -1;
}

static int u32_setting(const struct setting *s, uint64_t min, uint64_t max, uint32_t *out)
{
    uint64_t v;
    if (sy_parse_u64(s->val, min, max, &v) != 0) {
        char why[96];
        snprintf(why, sizeof why, "expected an integer in %llu..%llu", (unsigned long long)min,
                 (unsigned long long)max);
        return bad(s, why);
    }
    *out = (uint32_t)v;
    return 0;
}

/* Validates every setting into opts. */
static int build_opts(struct setting *st, bool kv_connect, struct sy_sim_opts *o, bool *connect)
{
    *connect = kv_connect;
    if (st[K_LOG_LEVEL].val) {
        enum sy_log_level lvl;
        if (sy_log_parse_level(st[K_LOG_LEVEL].val, &lvl) != 0)
            return bad(&st[K_LOG_LEVEL], "expected debug, info, warn or error");
        sy_log_set_level(lvl);
    }
    const char *pname = st[K_PROFILE].val ? st[K_PROFILE].val : "qwen3-32b-tp2-h100";
    bool grouped = sy_sim__profile_is_grouped(pname); /* --profile A:N,B (profile_groups.c) */
    const struct sy_sim_profile *prof =
        grouped ? sy_sim__profile_first(pname) : sy_sim_profile_find(pname);
    if (!prof) {
        struct setting tmp = {.val = (char *)pname};
        snprintf(tmp.where, sizeof tmp.where, "%s", st[K_PROFILE].where);
        return bad(&tmp, "unknown profile (see --list-profiles)");
    }
    o->prof = *prof;
    o->host = st[K_HOST].val ? st[K_HOST].val : "127.0.0.1";
    o->model = st[K_MODEL].val ? st[K_MODEL].val : "Qwen/Qwen3-32B";
    if (!*o->model)
        return bad(&st[K_MODEL], "the model name must not be empty");
    uint32_t v;
    if (st[K_BLOCK_SIZE].val) {
        if (u32_setting(&st[K_BLOCK_SIZE], 1, SY_SIM_MAX_BLOCK_SIZE, &v) != 0)
            return -1;
        uint64_t tokens = (uint64_t)o->prof.num_gpu_blocks * o->prof.block_size;
        o->prof.block_size = v;
        o->prof.num_gpu_blocks = (uint32_t)(tokens / v); /* vLLM keeps the memory, not blocks */
    }
    if (st[K_KV_BLOCKS].val) {
        if (u32_setting(&st[K_KV_BLOCKS], 1, 100000000, &v) != 0)
            return -1;
        o->prof.num_gpu_blocks = v;
    }
    if (st[K_MAX_NUM_SEQS].val) {
        if (u32_setting(&st[K_MAX_NUM_SEQS], 1, 1000000, &v) != 0)
            return -1;
        o->prof.max_num_seqs = v;
    }
    if (st[K_MAX_BATCHED].val) {
        if (u32_setting(&st[K_MAX_BATCHED], 1, 100000000, &v) != 0)
            return -1;
        o->prof.max_num_batched_tokens = v;
    }
    if (st[K_MAX_MODEL_LEN].val) {
        if (u32_setting(&st[K_MAX_MODEL_LEN], 2, 100000000, &v) != 0)
            return -1;
        o->prof.max_model_len = v;
    }
    if (st[K_SCHED_POLICY].val &&
        sy_sim_policy_parse(st[K_SCHED_POLICY].val, &o->sched.policy) != 0)
        return bad(&st[K_SCHED_POLICY], "expected fcfs or priority");
    if (st[K_LONG_PREFILL].val) {
        if (u32_setting(&st[K_LONG_PREFILL], 0, 100000000, &v) != 0)
            return -1;
        o->sched.long_prefill_threshold = v;
    }
    if (st[K_STEP_MODEL].val) {
        if (sy_sim_step_model_parse(st[K_STEP_MODEL].val, &o->prof.step_model) != 0)
            return bad(&st[K_STEP_MODEL], "expected additive or overlap");
        if (!sy_sim_step_model_supported(&o->prof, o->prof.step_model))
            return bad(&st[K_STEP_MODEL], "the profile has no constants for this step model "
                                          "(overlap: qwen3-32b-tp2-h100, qwen3-8b-h100)");
    }
    o->time_scale = 1.0;
    if (st[K_TIME_SCALE].val && (sy_parse_double(st[K_TIME_SCALE].val, &o->time_scale) != 0 ||
                                 !(o->time_scale > 0) || o->time_scale > 1e6))
        return bad(&st[K_TIME_SCALE], "expected a number > 0 (and <= 1e6)");
    if (st[K_SEED].val && sy_parse_u64(st[K_SEED].val, 0, UINT64_MAX, &o->seed) != 0)
        return bad(&st[K_SEED], "expected a non-negative integer");
    if (st[K_FAILURE_RATE].val && (sy_parse_double(st[K_FAILURE_RATE].val, &o->failure_rate) != 0 ||
                                   o->failure_rate < 0 || o->failure_rate > 100))
        return bad(&st[K_FAILURE_RATE], "expected a percentage 0..100");
    if (st[K_FAILURE_TYPES].val) {
        char err[256];
        if (sy_sim_parse_failure_types(st[K_FAILURE_TYPES].val, &o->failure_types, err,
                                       sizeof err) != 0)
            return bad(&st[K_FAILURE_TYPES], err);
    }
    if (st[K_TRUNCATE_RATE].val &&
        (sy_parse_double(st[K_TRUNCATE_RATE].val, &o->truncate_rate) != 0 || o->truncate_rate < 0 ||
         o->truncate_rate > 100))
        return bad(&st[K_TRUNCATE_RATE], "expected a percentage 0..100");
    if (st[K_METRICS_DELAY].val && u32_setting(&st[K_METRICS_DELAY], 0, 600000, &v) != 0)
        return -1;
    if (st[K_METRICS_DELAY].val)
        o->metrics_delay_ms = v;
    o->request_log = st[K_REQUEST_LOG].val;
    if (o->request_log && !*o->request_log)
        return bad(&st[K_REQUEST_LOG], "expected a file name");
    o->kv_events = st[K_KV_EVENTS].val;
    o->kv_replay = st[K_KV_REPLAY].val;
    if (o->kv_replay && !o->kv_events)
        return bad(&st[K_KV_REPLAY], "needs --kv-events too");
    if (st[K_KV_FORMAT].val) {
        if (strcmp(st[K_KV_FORMAT].val, "map") == 0)
            o->kv_map_format = true;
        else if (strcmp(st[K_KV_FORMAT].val, "array") != 0)
            return bad(&st[K_KV_FORMAT], "expected array or map");
    }
    if (st[K_TOKENIZER].val) {
        char terr[512];
        struct sy_tokenizer *tok = sy_tokenizer_load(st[K_TOKENIZER].val, terr, sizeof terr);
        if (!tok)
            return bad(&st[K_TOKENIZER], terr);
        o->tokenizer = tok; /* lives for the process */
    }
    enum sy_sim_role role = SY_SIM_ROLE_BOTH;
    if (st[K_ROLE].val) {
        if (strcmp(st[K_ROLE].val, "prefill") == 0)
            role = SY_SIM_ROLE_PREFILL;
        else if (strcmp(st[K_ROLE].val, "decode") == 0)
            role = SY_SIM_ROLE_DECODE;
        else if (strcmp(st[K_ROLE].val, "both") != 0)
            return bad(&st[K_ROLE], "expected prefill, decode or both");
    }
    if (st[K_KV_CONNECTOR].val) {
        if (strcmp(st[K_KV_CONNECTOR].val, "sglang") == 0)
            o->connector = SY_SIM_CONN_SGLANG;
        else if (strcmp(st[K_KV_CONNECTOR].val, "nixlv2") != 0)
            return bad(&st[K_KV_CONNECTOR], "expected nixlv2 or sglang");
    }
    double d;
    if (st[K_KV_BANDWIDTH].val) {
        if (sy_parse_double(st[K_KV_BANDWIDTH].val, &d) != 0 || !(d > 0) || d > 1e6)
            return bad(&st[K_KV_BANDWIDTH], "expected GB/s > 0");
        o->prof.kv_xfer_gbps = d;
    }
    if (st[K_KV_LATENCY].val) {
        if (sy_parse_double(st[K_KV_LATENCY].val, &d) != 0 || !(d >= 0) || d > 1e6)
            return bad(&st[K_KV_LATENCY], "expected milliseconds >= 0");
        o->prof.kv_xfer_base_us = d * 1000.0;
    }
    if (st[K_KV_LEASE].val) {
        if (sy_parse_double(st[K_KV_LEASE].val, &d) != 0 || !(d > 0) || d > 1e9)
            return bad(&st[K_KV_LEASE], "expected seconds > 0");
        o->prof.kv_lease_s = d;
    }
    uint32_t npre = 0, ndec = 0;
    bool mixed = st[K_PREFILL_REPLICAS].val || st[K_DECODE_REPLICAS].val;
    if (mixed) {
        if (st[K_PREFILL_REPLICAS].val &&
            u32_setting(&st[K_PREFILL_REPLICAS], 0, SY_SIM_MAX_REPLICAS, &npre) != 0)
            return -1;
        if (st[K_DECODE_REPLICAS].val &&
            u32_setting(&st[K_DECODE_REPLICAS], 0, SY_SIM_MAX_REPLICAS, &ndec) != 0)
            return -1;
        const struct setting *at =
            st[K_PREFILL_REPLICAS].val ? &st[K_PREFILL_REPLICAS] : &st[K_DECODE_REPLICAS];
        if (npre + ndec == 0 || npre + ndec > SY_SIM_MAX_REPLICAS)
            return bad(at, "a mixed fleet needs 1..1024 replicas in all");
        if (st[K_REPLICAS].val)
            return bad(&st[K_REPLICAS], "give either --replicas or --prefill-replicas/"
                                        "--decode-replicas");
        if (st[K_ROLE].val)
            return bad(&st[K_ROLE], "--role applies to --replicas; a mixed fleet sets the roles");
    }
    /* ports */
    if (st[K_PORTS].val) {
        o->replicas = 0;
        const char *p = st[K_PORTS].val;
        while (*p) {
            char num[16];
            size_t len = strcspn(p, ",");
            uint64_t port;
            if (len == 0 || len >= sizeof num || o->replicas == SY_SIM_MAX_REPLICAS)
                return bad(&st[K_PORTS], "expected a comma-separated list of ports");
            memcpy(num, p, len);
            num[len] = '\0';
            if (sy_parse_u64(num, 0, 65535, &port) != 0)
                return bad(&st[K_PORTS], "expected a comma-separated list of ports");
            o->ports[o->replicas++] = (uint16_t)port;
            p += len;
            if (*p == ',')
                p++;
        }
        if (o->replicas == 0)
            return bad(&st[K_PORTS], "expected at least one port");
        if (mixed && o->replicas != npre + ndec)
            return bad(&st[K_PORTS], "a mixed fleet needs one port per prefill and decode "
                                     "replica");
    } else {
        uint32_t base = 8000, n = mixed ? npre + ndec : 1;
        if (st[K_PORT].val && u32_setting(&st[K_PORT], 0, 65535, &base) != 0)
            return -1;
        if (st[K_REPLICAS].val && u32_setting(&st[K_REPLICAS], 1, SY_SIM_MAX_REPLICAS, &n) != 0)
            return -1;
        if (base != 0 && base + n - 1 > 65535)
            return bad(&st[K_REPLICAS], "ports would run past 65535");
        o->replicas = n;
        for (uint32_t i = 0; i < n; i++)
            o->ports[i] = base == 0 ? 0 : (uint16_t)(base + i);
    }
    if (st[K_DP_SIZE].val && u32_setting(&st[K_DP_SIZE], 1, 64, &o->dp_size) != 0)
        return -1;
    if (o->dp_size > 1 && o->replicas % o->dp_size != 0)
        return bad(&st[K_DP_SIZE], "must divide the replica count");
    if (st[K_DP_SUPERVISOR].val) {
        uint32_t sp;
        if (u32_setting(&st[K_DP_SUPERVISOR], 0, 65535, &sp) != 0)
            return -1;
        o->dp_supervisor_port = (uint16_t)sp;
    } else if (o->dp_size > 1 && o->ports[o->replicas - 1] != 0 &&
               o->ports[o->replicas - 1] < 65535) {
        o->dp_supervisor_port = (uint16_t)(o->ports[o->replicas - 1] + 1);
    }
    for (uint32_t i = 0; i < o->replicas; i++)
        o->roles[i] = (uint8_t)(!mixed     ? role
                                : i < npre ? SY_SIM_ROLE_PREFILL
                                           : SY_SIM_ROLE_DECODE);
    if (grouped) {
        struct sy_sim_overrides ov = {.block_size = st[K_BLOCK_SIZE].val,
                                      .kv_blocks = st[K_KV_BLOCKS].val,
                                      .max_num_seqs = st[K_MAX_NUM_SEQS].val,
                                      .max_batched = st[K_MAX_BATCHED].val,
                                      .max_model_len = st[K_MAX_MODEL_LEN].val,
                                      .kv_bandwidth = st[K_KV_BANDWIDTH].val,
                                      .kv_latency = st[K_KV_LATENCY].val,
                                      .kv_lease = st[K_KV_LEASE].val};
        char gerr[256];
        struct sy_sim_profile *gp;
        if (sy_sim__profile_groups(pname, o->replicas, prof, &o->prof, &ov, &gp, gerr,
                                   sizeof gerr) != 0)
            return bad(&st[K_PROFILE], gerr);
        for (uint32_t i = 0; i < o->replicas; i++) {
            gp[i].step_model = o->prof.step_model;
            if (!sy_sim_step_model_supported(&gp[i], gp[i].step_model)) {
                snprintf(gerr, sizeof gerr, "profile %s has no constants for step model %s",
                         gp[i].name, sy_sim_step_model_name(gp[i].step_model));
                free(gp);
                return bad(&st[K_STEP_MODEL], gerr);
            }
        }
        o->replica_prof = gp; /* lives for the process */
    }
    return 0;
}

struct run_ctx {
    struct sy_sim_server *srv; /* running server */
    uv_signal_t sigint;        /* SIGINT handle */
    uv_signal_t sigterm;       /* SIGTERM handle */
};

static void on_signal(uv_signal_t *h, int signum)
{
    struct run_ctx *rc = h->data;
    sy_info("sim: signal %d, shutting down", signum);
    if (rc->srv) {
        sy_sim_server_close(rc->srv);
        rc->srv = NULL;
    }
    uv_signal_stop(&rc->sigint);
    uv_signal_stop(&rc->sigterm);
    uv_close((uv_handle_t *)&rc->sigint, NULL);
    uv_close((uv_handle_t *)&rc->sigterm, NULL);
}

int sy_sim_main(int argc, char **argv)
{
    struct setting st[K_N_];
    memset(st, 0, sizeof st);
    bool kv_connect = false;
    int status = 2;
    /* --help / --list-profiles / --config first, so flags can override the file */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--list-profiles") == 0) {
            list_profiles();
            return 0;
        }
        if (strcmp(argv[i], "--calibrate") == 0)
            return sy_sim_calibrate_main(argc, argv, stdout);
    }
    for (int i = 1; i < argc; i++) {
        const char *cfg = NULL;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "switchyard sim: --config needs a file\n");
                return 2;
            }
            cfg = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            cfg = argv[i] + 9;
        }
        if (cfg && load_config(cfg, st, &kv_connect) != 0)
            goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if (strcmp(a, "--kv-events-connect") == 0) {
            kv_connect = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "switchyard sim: unexpected argument '%s' (see --help)\n", a);
            goto out;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int k = find_key(name, len);
        if (k < 0) {
            fprintf(stderr, "switchyard sim: unknown option '%s' (see --help)\n", a);
            goto out;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "switchyard sim: --%s needs a value\n", keys[k].name);
                goto out;
            }
            val = argv[++i];
        }
        char where[80];
        snprintf(where, sizeof where, "--%s", keys[k].name);
        set(&st[k], val, where);
    }

    static struct sy_sim_opts opts; /* large (port table): not on the stack */
    memset(&opts, 0, sizeof opts);
    bool connect = false;
    if (build_opts(st, kv_connect, &opts, &connect) != 0)
        goto out;
    opts.kv_connect = connect;

    uv_loop_t *loop = uv_default_loop();
    char err[512];
    struct run_ctx rc = {0};
    rc.srv = sy_sim_server_start(loop, &opts, err, sizeof err);
    if (!rc.srv) {
        fprintf(stderr, "switchyard sim: %s\n", err);
        uv_run(loop, UV_RUN_NOWAIT);
        status = 1;
        goto out;
    }
    for (uint32_t g = 0; opts.dp_size > 1 && g < opts.replicas / opts.dp_size; g++)
        sy_info("sim: data-parallel pod %u: ranks on replicas %u..%u, supervisor on http://%s:%u",
                g, g * opts.dp_size, (g + 1) * opts.dp_size - 1, opts.host,
                sy_sim_server_supervisor_port(rc.srv, g));
    for (uint32_t i = 0; i < opts.replicas; i++) {
        const struct sy_sim_profile *p = sy_sim_engine_profile(sy_sim_server_engine(rc.srv, i));
        sy_info("sim: replica %u serving %s on http://%s:%u (role %s, profile %s, %u KV blocks "
                "of %u, max-num-seqs %u, budget %u, scheduling %s, long-prefill cap %u, "
                "step model %s, time-scale %g)",
                i, opts.model, opts.host, sy_sim_server_port(rc.srv, i),
                sy_sim_role_name((enum sy_sim_role)opts.roles[i]), p->name, p->num_gpu_blocks,
                p->block_size, p->max_num_seqs, p->max_num_batched_tokens,
                sy_sim_policy_name(opts.sched.policy), opts.sched.long_prefill_threshold,
                sy_sim_step_model_name(p->step_model), opts.time_scale);
    }
    uv_signal_init(loop, &rc.sigint);
    uv_signal_init(loop, &rc.sigterm);
    rc.sigint.data = rc.sigterm.data = &rc;
    uv_signal_start(&rc.sigint, on_signal, SIGINT);
    uv_signal_start(&rc.sigterm, on_signal, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    uv_run(loop, UV_RUN_DEFAULT);
    status = 0;
out:
    for (int k = 0; k < K_N_; k++)
        free(st[k].val);
    return status;
}
