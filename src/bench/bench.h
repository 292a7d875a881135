/* bench.h - `switchyard bench` and `switchyard demo`: load generation against OpenAI-compatible
 * targets and side-by-side comparison.
 *
 * The module is five parts, one file each:
 *   workload.c  request bodies of the standard LLM workloads (shared prefix, multi-turn, agentic,
 *               prefix repetition, random), built up front from a seed
 *   arrival.c   when each request is sent: Poisson / constant at a rate, rate stages, or a fixed
 *               concurrency; a small seeded PRNG shared with the workloads
 *   stats.c     per-request records of one run and their summary (mean, p50, p90, p99, rates)
 *   sse.c       incremental parser of the streamed responses (content events, usage, errors)
 *   runner.c    one libuv loop that streams every request and measures TTFT, ITL, E2E
 *   turns.c     the order the run takes the items in; sessions that wait (the default)
 *   report.c    terminal table, JSON file, self-contained HTML report with inline SVG
 * bench_main.c parses flags; demo.c starts a simulated fleet and two gateways and compares them.
 *
 * Token lengths: every generated text is made of three-letter common English words followed by a
 * space ("the ", "and ", ...): 4 characters per word. One such word is one token for BPE
 * tokenizers (a short common word with its space) and exactly one token for the gateway's 4
 * characters-per-token estimate and the simulator's 4-byte tokenizer, so N requested tokens give
 * 4*N characters and ~N tokens everywhere.
 */
#ifndef SY_BENCH_BENCH_H
#define SY_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "api/sse_lines.h"
#include "core/buf.h"

/* ---- PRNG (arrival.c) ---------------------------------------------------------------------- */

struct sy_rng {
    uint64_t s; /* splitmix64 state */
};

void sy_rng_seed(struct sy_rng *r, uint64_t seed);
uint64_t sy_rng_next(struct sy_rng *r);
double sy_rng_uniform(struct sy_rng *r);             /* [0, 1) */
uint64_t sy_rng_below(struct sy_rng *r, uint64_t n); /* [0, n); n > 0 */
double sy_rng_exp(struct sy_rng *r, double rate);    /* exponential with mean 1/rate */

/* ---- workloads (workload.c) ---------------------------------------------------------------- */

enum sy_wl_kind {
    SY_WL_SHARED_PREFIX,     /* groups of prompts sharing a system prompt */
    SY_WL_MULTI_TURN,        /* chat sessions resending the growing history */
    SY_WL_AGENTIC,           /* tool loop resending a long tool preamble every iteration */
    SY_WL_PREFIX_REPETITION, /* vLLM prefix_repetition */
    SY_WL_RANDOM             /* independent random prompts */
};

#define SY_WL_MAX_TOKENS 1000000 /* bound on any one length parameter */
#define SY_WL_MAX_ITEMS  1000000 /* bound on the number of generated requests */

struct sy_wl_params {
    enum sy_wl_kind kind; /* which workload */
    uint64_t seed;        /* text and order */
    char model[256];      /* "model" of every request */
    bool ordered;         /* keep generation order instead of shuffling (shared-prefix, rep.) */
    bool ignore_eos;      /* add "ignore_eos": true (vLLM: always produce max_tokens) */
    /* shared-prefix (inference-perf names, SGLang generated-shared-prefix defaults) */
    unsigned num_groups;            /* distinct system prompts (64) */
    unsigned num_prompts_per_group; /* questions per system prompt (16) */
    unsigned system_prompt_len;     /* tokens (2048) */
    unsigned question_len;          /* tokens (128; also multi-turn and agentic user turns) */
    unsigned output_len;            /* max_tokens of every request (256) */
    /* multi-turn (production-stack multi-round-qa names) */
    unsigned num_users;            /* concurrent conversations (10) */
    unsigned num_rounds;           /* turns per conversation (5) */
    unsigned shared_system_prompt; /* tokens shared by every user (1000) */
    unsigned user_history_prompt;  /* tokens of per-user history before the first turn (2000) */
    unsigned answer_len;           /* tokens of each (synthetic) assistant answer (100) */
    /* agentic */
    unsigned num_agents;        /* independent agent sessions (8) */
    unsigned num_iterations;    /* tool-loop iterations per agent (8) */
    unsigned tool_preamble_len; /* tokens of the tool definitions, same for every agent (4000) */
    unsigned observation_len;   /* tokens of each tool result appended per iteration (200) */
    /* prefix-repetition (vLLM names) */
    unsigned prefix_len;   /* 256 */
    unsigned suffix_len;   /* 256 */
    unsigned num_prefixes; /* 10 */
    /* random */
    unsigned input_len; /* 1024 */
    double range_ratio; /* SGLang's --random-range-ratio: each prompt's input and output lengths are
                           drawn uniformly from [max(1, len x ratio), len]; 1 = fixed (default) */
    /* prefix-repetition and random: how many prompts (1000) */
    unsigned num_prompts;
};

struct sy_wl_item {
    bool chat;              /* POST /v1/chat/completions (else /v1/completions) */
    char *body;             /* complete JSON body with stream + include_usage; owned */
    size_t body_len;        /* bytes */
    unsigned group;         /* group, user, agent or prefix index */
    unsigned turn;          /* turn or iteration within the group (0 for single-shot) */
    unsigned prompt_tokens; /* expected prompt tokens (words generated) */
    unsigned shared_tokens; /* leading tokens shared with other items of the group */
    unsigned max_tokens;    /* requested output tokens */
};

struct sy_workload {
    enum sy_wl_kind kind;     /* as built */
    struct sy_wl_item *items; /* owned, n of them */
    size_t n;                 /* items */
};

void sy_wl_params_defaults(struct sy_wl_params *p);
/* "shared-prefix|multi-turn|agentic|prefix-repetition|random" (also with '_'). */
int sy_wl_kind_parse(const char *s, enum sy_wl_kind *out);
const char *sy_wl_kind_name(enum sy_wl_kind k);
/* Sets one workload parameter by its flag name without dashes ("num-groups" or "num_groups").
 * Returns 0, SY_ENOTFOUND for an unknown name, SY_EINVAL for a bad value. */
int sy_wl_param_set(struct sy_wl_params *p, const char *name, const char *value);
/* Appends `tokens` words of seeded text ("abc " x tokens, 4*tokens bytes) to out. */
void sy_wl_text(struct sy_rng *rng, unsigned tokens, struct sy_buf *out);
/* Builds the requests. On error returns SY_EINVAL with a message in err. out is caller-embedded;
 * free with sy_workload_fini. */
int sy_workload_build(const struct sy_wl_params *p, struct sy_workload *out, char *err,
                      size_t errcap);
void sy_workload_fini(struct sy_workload *w);
/* Writes the parameters that apply to p->kind as "name=value" pairs (for reports). */
void sy_wl_describe(const struct sy_wl_params *p, struct sy_buf *out);

/* ---- arrivals (arrival.c) ------------------------------------------------------------------ */

enum sy_arr_mode {
    SY_ARR_BURST,      /* everything at t=0 (rate = inf) */
    SY_ARR_POISSON,    /* exponential gaps at a rate */
    SY_ARR_CONSTANT,   /* evenly spaced at a rate */
    SY_ARR_STAGES,     /* Poisson (or constant) per stage, stage after stage */
    SY_ARR_CONCURRENCY /* closed loop: N requests always in flight */
};

#define SY_ARR_MAX_STAGES 64 /* stages accepted by --stages */

struct sy_stage {
    double rate;       /* requests per second, > 0 */
    double duration_s; /* seconds, > 0 */
};

struct sy_arrival {
    enum sy_arr_mode mode;                     /* how */
    double rate;                               /* POISSON / CONSTANT */
    bool constant;                             /* STAGES: evenly spaced instead of Poisson */
    struct sy_stage stages[SY_ARR_MAX_STAGES]; /* STAGES */
    size_t nstages;                            /* STAGES */
    unsigned concurrency;                      /* CONCURRENCY */
    struct sy_rng rng;                         /* gaps */
    double t;                                  /* last arrival time (s since start) */
    size_t stage;                              /* current stage */
};

/* "3:30s,10:30s" = rate:duration pairs (duration bare number = seconds). 0 or SY_EINVAL + err. */
int sy_stages_parse(const char *s, struct sy_stage *out, size_t cap, size_t *n, char *err,
                    size_t errcap);
void sy_arrival_init_burst(struct sy_arrival *a);
void sy_arrival_init_rate(struct sy_arrival *a, double rate, bool poisson, uint64_t seed);
void sy_arrival_init_stages(struct sy_arrival *a, const struct sy_stage *st, size_t n, bool poisson,
                            uint64_t seed);
void sy_arrival_init_concurrency(struct sy_arrival *a, unsigned n);
/* Next send time in seconds since the run's start (non-decreasing), or -1 when the schedule is
 * over (after the last stage). BURST and CONCURRENCY always return 0. */
double sy_arrival_next(struct sy_arrival *a);
/* STAGES: when stage i starts in the schedule (sum of the durations before it; i >= nstages gives
 * the end); 0 for other modes. */
double sy_arrival_stage_start_s(const struct sy_arrival *a, size_t i);
/* Total scheduled seconds (sum of the stages), 0 when unbounded. */
double sy_arrival_span_s(const struct sy_arrival *a);
/* Human description ("poisson 10/s", "stages 3/s x 30s, ...", "concurrency 8"). */
void sy_arrival_describe(const struct sy_arrival *a, struct sy_buf *out);

/* ---- statistics (stats.c) ------------------------------------------------------------------ */

struct sy_summary {
    size_t n;                   /* samples */
    double mean, p50, p90, p99; /* seconds (or whatever the samples are) */
    double min, max;            /* extremes */
};

/* Percentile p in [0,100] of sorted v (linear interpolation between closest ranks, numpy's
 * default: rank = p/100*(n-1)). 0 for n == 0. */
double sy_stats_percentile(const double *sorted, size_t n, double p);
/* Sorts v in place and fills out (all zero for n == 0). */
void sy_stats_summarize(double *v, size_t n, struct sy_summary *out);

enum sy_bench_err {
    SY_BE_CONNECT,    /* connect failed */
    SY_BE_TIMEOUT,    /* no response in time */
    SY_BE_CLOSED,     /* connection closed before a response */
    SY_BE_IO,         /* connection broke mid-response or malformed HTTP */
    SY_BE_HTTP_429,   /* rate limited / queue full */
    SY_BE_HTTP_4XX,   /* other client errors */
    SY_BE_HTTP_5XX,   /* server / gateway errors */
    SY_BE_HTTP_OTHER, /* any other status than 200 (1xx, 2xx, 3xx) */
    SY_BE_STREAM,     /* error event inside the stream or malformed SSE JSON */
    SY_BE_EMPTY,      /* 200 but no token and no usage */
    SY_BE_COUNT_
};

struct sy_req_rec {
    double sched_s;         /* scheduled send time (the arrival), seconds since the run's start;
                             * < 0 in a closed loop (--concurrency), which has no schedule */
    double start_s;         /* send time, seconds since the run's start */
    double end_s;           /* completion (or failure) time */
    double ttft_s;          /* first content event - start; < 0 when none */
    unsigned out_tokens;    /* usage.completion_tokens (else content events) */
    unsigned prompt_tokens; /* usage.prompt_tokens (0 when absent) */
    unsigned cached_tokens; /* usage.prompt_tokens_details.cached_tokens */
    unsigned events;        /* content events received */
    int endpoint;           /* index into run->endpoints, -1 without the header */
    int err;                /* enum sy_bench_err, -1 when the request succeeded */
    bool usage;             /* a usage object arrived */
    int stage;              /* --stages: index of the stage it was scheduled in (else unused) */
    long item;              /* index of its workload item (-1: none); group and turn copied */
    unsigned group, turn;   /* the item's group / session / agent and turn (--json-requests) */
    double itl_sum_s;       /* sum of its inter-event gaps (events - 1 of them) */
    double itl_p99_s;       /* p99 of its own gaps (0 with none): the goodput SLO's ITL */
    size_t itl_first;       /* index of its first gap in run->itl (its gaps are contiguous there
                             * until sy_bench_run_compute sorts that array) */
    size_t itl_n;           /* how many (0: none recorded) */
};

/* One --stages stage of a run: the requests scheduled in it (inference-perf's per-stage report). */
struct sy_stage_sum {
    size_t requests;               /* sent in the stage (finished or failed) */
    size_t completed;              /* of which successful */
    size_t errors;                 /* of which failed */
    struct sy_summary ttft;        /* seconds, successful requests */
    struct sy_summary e2e;         /* seconds */
    double itl_mean_s;             /* all their gaps: sum(itl_sum_s) / sum(events - 1); NAN none */
    struct sy_summary itl;         /* percentiles of all their gaps (from run->itl via itl_first) */
    struct sy_summary ntpot;       /* per request e2e / output tokens (llm-d's NTPOT), seconds */
    struct sy_summary tpot;        /* per request (e2e - ttft) / (output tokens - 1), seconds */
    struct sy_summary sched_delay; /* send - scheduled time of every request (also failed) */
    uint64_t output_tokens;        /* sum over successful requests */
    double span_s;                 /* first send .. last completion of its successful requests */
    double req_per_s;              /* completed / span_s (0 when span_s is 0) */
    double output_tok_per_s;       /* output_tokens / span_s */
};

#define SY_BENCH_MAX_ENDPOINTS 256 /* distinct endpoint names tracked per run */

struct sy_bench_run {
    char *name;              /* owned; label of the target */
    char *target;            /* owned; URL */
    struct sy_req_rec *recs; /* owned; one per finished or failed request */
    size_t nrecs, recs_cap;  /* used, allocated */
    double *itl; /* owned; every inter-event gap of successful requests, each one's in order */
    size_t nitl, itl_cap;                    /* used, allocated */
    char *endpoints[SY_BENCH_MAX_ENDPOINTS]; /* owned names from x-gateway-destination-endpoint */
    size_t nendpoints;                       /* used */
    size_t errors[SY_BE_COUNT_];             /* failures by kind */
    char *first_error[SY_BE_COUNT_];         /* owned; first message of each kind */
    size_t cancelled;         /* in flight when interrupted (not errors, not in recs) */
    size_t unsent;            /* arrived but still waiting for a --max-concurrency slot when the
                                 run stopped (--duration or a signal): never sent, not in recs */
    unsigned max_concurrency; /* the client's in-flight cap (0 = none), set by the runner */
    bool session_wait;        /* sessions waited for their previous turn (set by the runner) */
    size_t session_held;      /* session_wait: requests passed over for their session's turn */
    double stage_interval_s;  /* stage barrier's interval (simulated s), < 0 without a barrier */
    double duration_s;        /* first send to last completion */
    double t0_monotonic_s;    /* CLOCK_MONOTONIC s at the main phase's start (the request log's 0);
                                 wall clock, never scaled by the time scale */
    bool interrupted;         /* stopped by SIGINT/SIGTERM */
    double cache_queries;     /* delta of vllm:prefix_cache_queries_total (-1 unknown) */
    double cache_hits;        /* delta of vllm:prefix_cache_hits_total (-1 unknown) */
    /* filled by sy_bench_run_compute */
    struct sy_summary ttft, itl_sum, tpot, e2e; /* seconds */
    struct sy_summary sched_delay; /* send - scheduled time over every request with a schedule
                                      (n == 0 in a closed loop): how long arrivals waited in the
                                      client (for a --max-concurrency slot, or a late timer) */
    size_t completed;              /* successful requests */
    size_t total_errors;           /* sum of errors[] */
    uint64_t output_tokens, prompt_tokens, cached_tokens; /* sums over successful requests */
    double req_per_s;                                     /* completed / duration */
    double output_tok_per_s;                              /* output_tokens / duration */
    double input_tok_per_s;                               /* prompt_tokens / duration */
    double cache_hit_rate; /* hits/queries from metrics, -1 unknown */
    double cached_ratio;   /* cached_tokens / prompt_tokens from usage, -1 unknown */
    double time_scale;     /* simulated s per wall s the times were converted with (1: wall) */
    /* goodput (DistServe): successful requests with TTFT <= slo_ttft_s and their own ITL p99 <=
     * slo_itl_p99_s; set the SLO before the run (0 = that bound unset; both 0 = no goodput) */
    double slo_ttft_s, slo_itl_p99_s;
    size_t good;          /* requests within the SLO */
    double goodput_per_s; /* good / duration; NAN without an SLO */
    /* --stages: the schedule (simulated seconds), set by the runner; per-stage results */
    struct sy_stage stages[SY_ARR_MAX_STAGES];
    size_t nstages;                                   /* 0 without --stages */
    struct sy_stage_sum stage_sum[SY_ARR_MAX_STAGES]; /* filled by sy_bench_run_compute */
};

void sy_bench_run_init(struct sy_bench_run *r, const char *name, const char *target);
void sy_bench_run_fini(struct sy_bench_run *r);
/* Appends a record (copied). */
void sy_bench_run_add(struct sy_bench_run *r, const struct sy_req_rec *rec);
void sy_bench_run_add_itl(struct sy_bench_run *r, double gap_s);
/* Index of endpoint name p[0..n) (added when new; -1 when the table is full). */
int sy_bench_run_endpoint(struct sy_bench_run *r, const char *p, size_t n);
/* Counts an error of kind k; keeps msg (borrowed, copied) when it is the first of its kind. */
void sy_bench_run_error(struct sy_bench_run *r, enum sy_bench_err k, const char *msg);
/* Time scale (a target that runs x simulated seconds per wall-clock second, like `switchyard sim
 * --time-scale x`): converts what was measured on the wall clock (record times, TTFT, ITL gaps,
 * duration) to simulated seconds, t_sim = t_wall * x, so every latency computed afterwards is
 * multiplied by x and every rate divided by x. Multiplies r->time_scale by x. Call once, before
 * sy_bench_run_compute; x must be > 0 (x == 1 changes nothing). */
void sy_bench_run_to_simulated(struct sy_bench_run *r, double x);
/* The other direction, for schedules given in simulated time: wall seconds = sim_s / x (x > 0). */
double sy_bench_wall_s(double sim_s, double x);
/* Computes the summaries and rates from the records. */
void sy_bench_run_compute(struct sy_bench_run *r);
const char *sy_bench_err_name(enum sy_bench_err k);
/* Requests (successful or not) that carried endpoint index e. */
size_t sy_bench_run_endpoint_count(const struct sy_bench_run *r, int e);

/* ---- streamed responses (sse.c) ------------------------------------------------------------ */

/* Longest SSE line and event data the bench reads whole (the gateway's splitters keep 64 KiB). */
#define SY_BENCH_SSE_CAP ((size_t)16 << 20)

struct sy_sse {
    struct sy_sse_lines lines;    /* the stream cut into events (api/sse_lines.c) */
    void (*on_content)(void *ud); /* called at each content event (may be NULL) */
    void *ud;                     /* its argument */
    size_t bytes;                 /* bytes fed */
    unsigned data_events;         /* events with data lines (including [DONE]) */
    unsigned content_events;      /* events whose first choice carried text */
    bool done;                    /* data: [DONE] seen */
    bool usage;                   /* a usage object arrived (the last one wins) */
    unsigned completion_tokens;   /* usage.completion_tokens */
    unsigned prompt_tokens;       /* usage.prompt_tokens */
    unsigned cached_tokens;       /* usage.prompt_tokens_details.cached_tokens */
    char *err;                    /* owned: first stream error, NULL when none */
};

void sy_sse_init(struct sy_sse *s, void (*on_content)(void *ud), void *ud);
void sy_sse_fini(struct sy_sse *s);
/* Parses n more bytes (borrowed); complete events are handled before it returns. */
void sy_sse_feed(struct sy_sse *s, const char *p, size_t n);
/* End of the body: handles a last event that lacks its blank line (or its last line end). */
void sy_sse_finish(struct sy_sse *s);

/* ---- run order and sessions that wait (turns.c) -------------------------------------------- */

struct sy_turns {
    const struct sy_workload *w; /* borrowed */
    bool wait;                   /* sessions wait (a multi-turn or agentic workload) */
    size_t limit;                /* run positions 0 .. limit-1 (position k = item k mod n) */
    size_t next;                 /* first position not yet looked at */
    size_t *held;                /* owned: positions passed over (busy session), in run order */
    size_t nheld;                /* used (at most w->n, also allocated) */
    unsigned char *busy;         /* owned, per group: a request of the session in flight */
    size_t inflight;             /* positions taken and not done */
    size_t passed;               /* positions that were passed over (held) at least once */
};

/* wait applies only to multi-turn and agentic workloads (t->wait says whether it did). */
void sy_turns_init(struct sy_turns *t, const struct sy_workload *w, size_t limit, bool wait);
void sy_turns_fini(struct sy_turns *t);
/* The next position to send (its session becomes busy); false when none can leave now (every
 * remaining one's session is busy) or none is left. */
bool sy_turns_next(struct sy_turns *t, size_t *pos);
/* The request of position pos ended (success or error): its session is idle again. */
void sy_turns_done(struct sy_turns *t, size_t pos);
/* Positions not yet sent (held + never looked at). */
size_t sy_turns_left(const struct sy_turns *t);

/* ---- runner (runner.c) --------------------------------------------------------------------- */

#define SY_BENCH_MAX_METRICS 64 /* --metrics-url values */

struct sy_bench_opts {
    struct sy_arrival arrival; /* template; copied per target */
    size_t num_requests;       /* stop issuing after this many (0 = workload size) */
    double duration_s;         /* stop issuing after this long, simulated s (0 = unbounded) */
    unsigned warmup;           /* requests sent one by one before measuring */
    double timeout_s;          /* per-request response timeout (simulated seconds) */
    double time_scale;         /* the target's simulated seconds per wall second; 0 or 1 = wall
                                  clock. Arrivals, duration_s and timeout_s are simulated time
                                  (sent at wall = sim / x) and the run's results are converted
                                  to simulated time (sy_bench_run_to_simulated) */
    const char *metrics_urls[SY_BENCH_MAX_METRICS]; /* borrowed */
    size_t nmetrics;                                /* used */
    bool reset_prefix_cache;  /* POST /reset_prefix_cache to the metrics hosts before a run */
    bool progress;            /* progress line on stderr */
    const volatile int *stop; /* optional: nonzero = interrupted before the run started */
    double slo_ttft_s;        /* goodput SLO copied into each run (0 = unset) */
    double slo_itl_p99_s;     /* idem, per-request ITL p99 */
    bool stage_barrier;       /* --stages: inference-perf's stage barrier: a stage's arrivals
                                 start only once every request of the previous stages has
                                 finished, plus stage_interval_s (false: back to back) */
    double stage_interval_s;  /* simulated seconds (inference-perf's load.interval), >= 0 */
    unsigned max_concurrency; /* open loop (rate, stages, burst): at most this many requests in
                                 flight; later arrivals wait in the client in arrival order and
                                 are sent when a request finishes (0 = no cap). Latencies are
                                 measured from the actual send, the wait is the schedule delay */
    bool session_wait;        /* multi-turn / agentic: an item is not sent while a request of
                                 its session (item group) is in flight, as a user or agent waits
                                 for the answer; later items go first meanwhile (see runner.c) */
};

/* Runs workload w against url ("http://host:port[/prefix]") and fills run (initialised by the
 * caller). Returns 0, or SY_EINVAL/SY_ECONNECT with err for a bad URL or unresolvable host;
 * request failures are counted in run, never returned. Sets run->interrupted on SIGINT/SIGTERM
 * (in-flight requests are cancelled and counted in run->cancelled). */
int sy_bench_execute(const struct sy_bench_opts *o, const struct sy_workload *w, const char *url,
                     struct sy_bench_run *run, char *err, size_t errcap);
/* Sums every sample of metric `name` (any labels) in Prometheus text; false when absent. */
bool sy_bench_prom_sum(const char *text, size_t len, const char *name, double *out);

/* ---- report (report.c) --------------------------------------------------------------------- */

struct sy_bench_meta {
    const char *title;    /* report heading */
    const char *workload; /* description of the workload parameters */
    const char *load;     /* description of the arrival process */
    double time_scale;    /* simulated seconds per wall second of the runs (0 or 1: wall clock) */
    bool request_log;     /* --json-requests: every request's record in the JSON ("request_log") */
};

/* Side-by-side table; with several runs a ratio column "x/first" per later run. */
void sy_bench_print_table(FILE *f, struct sy_bench_run *const *runs, size_t n);
/* Writes {"meta": {...}, "runs": [...]} to path. 0 or SY_EIO with err. */
int sy_bench_write_json(const char *path, const struct sy_bench_meta *m,
                        struct sy_bench_run *const *runs, size_t n, char *err, size_t errcap);
/* Writes the self-contained HTML report (inline SVG, no external resources). */
int sy_bench_write_html(const char *path, const struct sy_bench_meta *m,
                        struct sy_bench_run *const *runs, size_t n, char *err, size_t errcap);
/* The HTML document into out (tests). */
void sy_bench_render_html(struct sy_buf *out, const struct sy_bench_meta *m,
                          struct sy_bench_run *const *runs, size_t n);

#endif
