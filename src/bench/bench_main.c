/* bench_main.c - `switchyard bench`: flags in, runs out.
 *
 * Parses the command line into workload parameters (workload.c), an arrival process (arrival.c)
 * and runner options, builds the workload once, runs it against every --target in turn (the same
 * requests in the same order, so targets are compared on identical work), then prints the table
 * and writes --json / --report. SIGINT stops the current run with partial results and skips the
 * remaining targets; what was measured is still printed and written (exit status 130).
 *
 * --time-scale X is for targets whose clock is scaled (`switchyard sim --time-scale X`: X simulated
 * seconds per wall second): every time on the command line (rates, stages, --duration, --timeout)
 * is simulated time and every result is converted to it (runner.c, stats.c), so a run against a
 * slowed-down simulator reads like one against the modelled GPUs.
 *
 * Flags take "--name value" or "--name=value"; workload parameters accept '-' or '_' (inference-
 * perf's num_groups or --num-groups).
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/bench.h"
#include "cmd/commands.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"

#define MAX_TARGETS 16 /* --target values */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: switchyard bench --target [NAME=]URL [--target ...] [options]\n"
        "\n"
        "Drives an LLM workload against OpenAI-compatible targets (a gateway, a model server)\n"
        "one after the other and compares them: TTFT, ITL, TPOT, E2E (mean p50 p90 p99),\n"
        "req/s, output tok/s, errors by kind, requests per endpoint\n"
        "(x-gateway-destination-endpoint) and the prefix-cache hit rate.\n"
        "\n"
        "targets and output:\n"
        "  --target [NAME=]URL       http://host:port[/prefix]; /v1/completions or\n"
        "                            /v1/chat/completions is appended (repeatable, up to %d)\n"
        "  --json FILE               write the results as JSON\n"
        "  --json-requests           with --json: also every request's record (workload item,\n"
        "                            group and turn, endpoint, send / end / TTFT, tokens, error)\n"
        "  --report FILE             write a self-contained HTML report\n"
        "  --title TEXT              heading of the report\n"
        "  --metrics-url URL         a replica's /metrics, read before and after each run for\n"
        "                            the prefix-cache hit rate (repeatable)\n"
        "  --reset-prefix-cache      POST /reset_prefix_cache to the metrics hosts before each\n"
        "                            run (vLLM and switchyard sim), so targets start cold\n"
        "  --no-progress             no progress line (default: shown when stderr is a tty)\n"
        "  --progress                the progress line even when stderr is not a tty\n"
        "\n"
        "workload:\n"
        "  --workload KIND           shared-prefix (default) | multi-turn | agentic |\n"
        "                            prefix-repetition | random\n"
        "  --model NAME              model of every request (default Qwen/Qwen3-32B)\n"
        "  --seed N                  texts, order and Poisson gaps (default 1)\n"
        "  --ordered                 keep generation order (default: shuffled, as SGLang)\n"
        "  --ignore-eos              send \"ignore_eos\": true, so every request generates its\n"
        "                            whole output length (vLLM; inference-perf's ignore_eos)\n"
        "  shared-prefix:     --num-groups 64 --num-prompts-per-group 16\n"
        "                     --system-prompt-len 2048 --question-len 128 --output-len 256\n"
        "  multi-turn:        --num-users 10 --num-rounds 5 --shared-system-prompt 1000\n"
        "                     --user-history-prompt 2000 --question-len 128 --answer-len 100\n"
        "  agentic:           --num-agents 8 --num-iterations 8 --tool-preamble-len 4000\n"
        "                     --question-len 128 --observation-len 200 --output-len 256\n"
        "  prefix-repetition: --num-prompts 1000 --num-prefixes 10 --prefix-len 256\n"
        "                     --suffix-len 256 --output-len 128\n"
        "  random:            --num-prompts 1000 --input-len 1024 --output-len 128\n"
        "                     --random-range-ratio 1 (< 1: lengths uniform in\n"
        "                     [len x ratio, len], as SGLang)\n"
        "  Lengths are tokens: each token is one 3-letter word + space (4 characters).\n"
        "\n"
        "load (one of; default --concurrency 16):\n"
        "  --rate R                  Poisson arrivals at R req/s ('inf' = all at once)\n"
        "  --arrival poisson|constant  spacing for --rate and --stages (default poisson)\n"
        "  --stages \"R:D,R:D\"        rate stages, e.g. \"3:30s,10:30s\" (inference-perf)\n"
        "  --stage-interval D        with --stages, as inference-perf: a stage starts only when\n"
        "                            every request of the earlier stages has finished, plus D\n"
        "                            (its load.interval; 0 allowed). Default: back to back\n"
        "  --concurrency N           keep N requests in flight\n"
        "  --max-concurrency N       with --rate/--stages: at most N requests in flight; later\n"
        "                            arrivals wait in the client in arrival order (latencies\n"
        "                            from the send; the wait is reported as schedule delay)\n"
        "  --num-requests N          requests per target (default: the workload once)\n"
        "  --duration D              stop sending after D (30s, 2m; bare number = seconds);\n"
        "                            with --duration or --stages the workload repeats\n"
        "  --no-session-wait         multi-turn / agentic: send the items in index order, so a\n"
        "                            session's next turn may leave while its last one streams.\n"
        "                            Default: a session's next turn is sent only once its\n"
        "                            previous request has ended (as a chat user or an agent\n"
        "                            waits); meanwhile later items go first, and at most one\n"
        "                            request per session is in flight (--session-wait: the\n"
        "                            default, accepted)\n"
        "  --warmup N                requests sent one by one before measuring (default 0)\n"
        "  --timeout D               per-request response timeout (default 300s)\n"
        "  --slo-ttft D              goodput SLO: TTFT at most D (e.g. 2s)\n"
        "  --slo-itl-p99 D           goodput SLO: the request's own ITL p99 at most D (100ms);\n"
        "                            goodput = requests within every SLO given, per second\n"
        "\n"
        "time scale (targets with a scaled clock, e.g. switchyard sim --time-scale X):\n"
        "  --time-scale X            the target runs X simulated seconds per wall-clock second\n"
        "                            (default 1). Rates, stages, --duration and --timeout are\n"
        "                            simulated time (R req/s is sent at R x X per wall second, D\n"
        "                            seconds last D / X); latencies are reported x X and rates\n"
        "                            / X, i.e. in the simulated GPUs' units\n",
        MAX_TARGETS);
}

static int parse_secs(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v <= 0)
        return SY_EINVAL;
    if (*end == '\0')
        *out = v;
    else if (strcmp(end, "s") == 0)
        *out = v;
    else if (strcmp(end, "ms") == 0)
        *out = v / 1e3;
    else if (strcmp(end, "m") == 0)
        *out = v * 60;
    else if (strcmp(end, "h") == 0)
        *out = v * 3600;
    else
        return SY_EINVAL;
    return *out <= 86400.0 * 30 ? 0 : SY_EINVAL;
}

struct target_arg {
    char *name; /* owned */
    char *url;  /* owned */
};

/* "NAME=URL" or "URL" (named after its host:port). */
static int target_parse(const char *s, struct target_arg *t)
{
    const char *eq = strchr(s, '=');
    const char *scheme = strstr(s, "://");
    if (eq && (!scheme || eq < scheme) && eq > s) {
        t->name = sy_xstrndup(s, (size_t)(eq - s));
        t->url = sy_xstrdup(eq + 1);
    } else {
        t->url = sy_xstrdup(s);
        const char *a = scheme ? scheme + 3 : s;
        size_t l = strcspn(a, "/");
        t->name = sy_xstrndup(a, l);
    }
    return t->url[0] ? 0 : SY_EINVAL;
}

static volatile int g_stop; /* SIGINT/SIGTERM between runs (a run handles its own) */

static void on_stop_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Between runs libuv has restored the default dispositions: catch the signals ourselves so a
 * Ctrl-C there still ends with the partial results printed. */
static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Every request in flight holds a socket: lift the soft descriptor limit to the hard one so a
 * --rate inf or a high --concurrency is not cut short by EMFILE (counted as connect errors). */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int sy_bench_main(int argc, char **argv)
{
    struct sy_wl_params wp;
    sy_wl_params_defaults(&wp);
    struct sy_bench_opts o;
    memset(&o, 0, sizeof o);
    o.timeout_s = 300;
    o.progress = isatty(STDERR_FILENO);
    o.session_wait =
        true; /* users and agents wait for the answer; --no-session-wait: index order */
    struct target_arg targets[MAX_TARGETS];
    size_t ntargets = 0;
    const char *json = NULL, *report = NULL, *title = NULL, *stages = NULL, *arrival = "poisson";
    double rate = -1, time_scale = 1;
    unsigned concurrency = 0;
    bool rate_inf = false, have_duration = false, json_requests = false;
    int status = 2;
    struct sy_workload w = {0};
    struct sy_bench_run *runs[MAX_TARGETS];
    size_t nruns = 0;
    char err[512];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            status = 0;
            goto out;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "switchyard bench: unexpected argument '%s' (see --help)\n", a);
            goto out;
        }
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nl >= sizeof name) {
            fprintf(stderr, "switchyard bench: unknown flag '%s' (see --help)\n", a);
            goto out;
        }
        memcpy(name, a + 2, nl);
        name[nl] = '\0';
        for (char *c = name; *c; c++)
            if (*c == '_')
                *c = '-';
        bool boolean = strcmp(name, "ordered") == 0 || strcmp(name, "no-progress") == 0 ||
                       strcmp(name, "reset-prefix-cache") == 0 || strcmp(name, "progress") == 0 ||
                       strcmp(name, "ignore-eos") == 0 || strcmp(name, "json-requests") == 0 ||
                       strcmp(name, "session-wait") == 0 || strcmp(name, "no-session-wait") == 0;
        if (!boolean) {
            if (eq) {
                val = eq + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                fprintf(stderr,
                        "switchyard bench: %s needs a value, or is not a flag of switchyard "
                        "bench (see --help)\n",
                        a);
                goto out;
            }
        }
#define IS(s) (strcmp(name, s) == 0)
        uint64_t u;
        if (IS("ordered")) {
            wp.ordered = true;
        } else if (IS("ignore-eos")) {
            wp.ignore_eos = true;
        } else if (IS("no-progress")) {
            o.progress = false;
        } else if (IS("progress")) {
            o.progress = true;
        } else if (IS("session-wait")) {
            o.session_wait = true;
        } else if (IS("no-session-wait")) {
            o.session_wait = false;
        } else if (IS("reset-prefix-cache")) {
            o.reset_prefix_cache = true;
        } else if (IS("target")) {
            if (ntargets == MAX_TARGETS) {
                fprintf(stderr, "switchyard bench: more than %d targets\n", MAX_TARGETS);
                goto out;
            }
            if (target_parse(val, &targets[ntargets]) != 0) {
                free(targets[ntargets].name);
                free(targets[ntargets].url);
                fprintf(stderr, "switchyard bench: --target '%s': empty URL\n", val);
                goto out;
            }
            ntargets++;
        } else if (IS("json")) {
            json = val;
        } else if (IS("json-requests")) {
            json_requests = true;
        } else if (IS("report")) {
            report = val;
        } else if (IS("title")) {
            title = val;
        } else if (IS("metrics-url")) {
            if (o.nmetrics == SY_BENCH_MAX_METRICS) {
                fprintf(stderr, "switchyard bench: more than %d --metrics-url\n",
                        SY_BENCH_MAX_METRICS);
                goto out;
            }
            o.metrics_urls[o.nmetrics++] = val;
        } else if (IS("workload")) {
            if (sy_wl_kind_parse(val, &wp.kind) != 0) {
                fprintf(stderr,
                        "switchyard bench: --workload '%s': expected shared-prefix, multi-turn, "
                        "agentic, prefix-repetition or random\n",
                        val);
                goto out;
            }
        } else if (IS("model")) {
            if (!*val || strlen(val) >= sizeof wp.model) {
                fprintf(stderr, "switchyard bench: --model: empty or too long\n");
                goto out;
            }
            snprintf(wp.model, sizeof wp.model, "%s", val);
        } else if (IS("seed")) {
            if (sy_parse_u64(val, 0, UINT64_MAX, &wp.seed) != 0) {
                fprintf(stderr, "switchyard bench: --seed '%s': expected an integer\n", val);
                goto out;
            }
        } else if (IS("rate")) {
            if (strcmp(val, "inf") == 0) {
                rate_inf = true;
            } else if (sy_parse_double(val, &rate) != 0 || rate <= 0 || rate > 1e6) {
                fprintf(stderr, "switchyard bench: --rate '%s': expected a number > 0 or inf\n",
                        val);
                goto out;
            }
        } else if (IS("arrival")) {
            if (strcmp(val, "poisson") != 0 && strcmp(val, "constant") != 0) {
                fprintf(stderr, "switchyard bench: --arrival '%s': poisson or constant\n", val);
                goto out;
            }
            arrival = val;
        } else if (IS("stages")) {
            stages = val;
        } else if (IS("concurrency")) {
            if (sy_parse_u64(val, 1, 100000, &u) != 0) {
                fprintf(stderr, "switchyard bench: --concurrency '%s': expected 1..100000\n", val);
                goto out;
            }
            concurrency = (unsigned)u;
        } else if (IS("stage-interval")) {
            o.stage_interval_s = 0;
            if (strcmp(val, "0") != 0 && strcmp(val, "0s") != 0 &&
                parse_secs(val, &o.stage_interval_s) != 0) {
                fprintf(stderr,
                        "switchyard bench: --stage-interval '%s': expected e.g. 0, 1s or "
                        "30s\n",
                        val);
                goto out;
            }
            o.stage_barrier = true;
        } else if (IS("max-concurrency")) {
            if (sy_parse_u64(val, 1, 100000, &u) != 0) {
                fprintf(stderr, "switchyard bench: --max-concurrency '%s': expected 1..100000\n",
                        val);
                goto out;
            }
            o.max_concurrency = (unsigned)u;
        } else if (IS("num-requests")) {
            if (sy_parse_u64(val, 1, 100000000, &u) != 0) {
                fprintf(stderr, "switchyard bench: --num-requests '%s': expected 1..1e8\n", val);
                goto out;
            }
            o.num_requests = (size_t)u;
        } else if (IS("duration")) {
            if (parse_secs(val, &o.duration_s) != 0) {
                fprintf(stderr, "switchyard bench: --duration '%s': expected e.g. 30s or 2m\n",
                        val);
                goto out;
            }
            have_duration = true;
        } else if (IS("timeout")) {
            if (parse_secs(val, &o.timeout_s) != 0) {
                fprintf(stderr, "switchyard bench: --timeout '%s': expected e.g. 60s\n", val);
                goto out;
            }
        } else if (IS("slo-ttft") || IS("slo-itl-p99")) {
            double *slo = IS("slo-ttft") ? &o.slo_ttft_s : &o.slo_itl_p99_s;
            if (parse_secs(val, slo) != 0) {
                fprintf(stderr, "switchyard bench: --%s '%s': expected e.g. 2s or 100ms\n", name,
                        val);
                goto out;
            }
        } else if (IS("time-scale")) {
            if (sy_parse_double(val, &time_scale) != 0 || !(time_scale > 0) || time_scale > 1000) {
                fprintf(stderr,
                        "switchyard bench: --time-scale '%s': expected a number in (0, 1000]\n",
                        val);
                goto out;
            }
        } else if (IS("warmup")) {
            if (sy_parse_u64(val, 0, 100000, &u) != 0) {
                fprintf(stderr, "switchyard bench: --warmup '%s': expected 0..100000\n", val);
                goto out;
            }
            o.warmup = (unsigned)u;
        } else {
            int rc = sy_wl_param_set(&wp, name, val);
            if (rc == SY_ENOTFOUND) {
                fprintf(stderr, "switchyard bench: unknown flag '--%s' (see --help)\n", name);
                goto out;
            }
            if (rc != 0) {
                fprintf(stderr, "switchyard bench: --%s '%s': expected %s\n", name, val,
                        strcmp(name, "random-range-ratio") ? "an integer in range"
                                                           : "a number in [0, 1]");
                goto out;
            }
        }
#undef IS
    }
    if (ntargets == 0) {
        fprintf(stderr, "switchyard bench: at least one --target is required (see --help)\n");
        goto out;
    }
    int modes = (rate > 0 || rate_inf) + (stages != NULL) + (concurrency > 0);
    if (modes > 1) {
        fprintf(stderr, "switchyard bench: choose one of --rate, --stages, --concurrency\n");
        goto out;
    }
    if (o.stage_barrier && !stages) {
        fprintf(stderr, "switchyard bench: --stage-interval needs --stages\n");
        goto out;
    }
    if (o.max_concurrency && modes == 0) {
        fprintf(stderr, "switchyard bench: --max-concurrency caps an open loop: give --rate or "
                        "--stages (--concurrency N is the closed loop)\n");
        goto out;
    }
    if (o.max_concurrency && concurrency > 0) {
        fprintf(stderr, "switchyard bench: --max-concurrency and --concurrency exclude each "
                        "other (--concurrency is already a closed loop of N)\n");
        goto out;
    }
    bool poisson = strcmp(arrival, "poisson") == 0;
    if (stages) {
        struct sy_stage st[SY_ARR_MAX_STAGES];
        size_t nst;
        if (sy_stages_parse(stages, st, SY_ARR_MAX_STAGES, &nst, err, sizeof err) != 0) {
            fprintf(stderr, "switchyard bench: %s\n", err);
            goto out;
        }
        sy_arrival_init_stages(&o.arrival, st, nst, poisson, wp.seed);
    } else if (rate_inf) {
        sy_arrival_init_burst(&o.arrival);
    } else if (rate > 0) {
        sy_arrival_init_rate(&o.arrival, rate, poisson, wp.seed);
    } else {
        sy_arrival_init_concurrency(&o.arrival, concurrency ? concurrency : 16);
    }
    status = 1;
    raise_nofile();
    if (sy_workload_build(&wp, &w, err, sizeof err) != 0) {
        fprintf(stderr, "switchyard bench: %s\n", err);
        goto out;
    }
    if (o.num_requests == 0 && (stages || have_duration))
        o.num_requests = 100000000; /* bounded by time instead: the workload repeats */

    struct sy_buf wdesc, ldesc;
    sy_buf_init(&wdesc);
    sy_buf_init(&ldesc);
    sy_wl_describe(&wp, &wdesc);
    sy_arrival_describe(&o.arrival, &ldesc);
    if (o.num_requests && o.num_requests != 100000000)
        sy_buf_printf(&ldesc, ", %zu requests", o.num_requests);
    else if (!stages && !have_duration)
        sy_buf_printf(&ldesc, ", %zu requests", w.n);
    if (have_duration)
        sy_buf_printf(&ldesc, ", duration %gs", o.duration_s);
    if (o.warmup)
        sy_buf_printf(&ldesc, ", warm-up %u", o.warmup);
    if (o.max_concurrency)
        sy_buf_printf(&ldesc, ", at most %u in flight", o.max_concurrency);
    if (o.session_wait && (wp.kind == SY_WL_MULTI_TURN || wp.kind == SY_WL_AGENTIC))
        sy_buf_printf(&ldesc, ", sessions wait for their previous turn");
    if (o.stage_barrier)
        sy_buf_printf(&ldesc, ", each stage after the previous ones finished + %gs",
                      o.stage_interval_s);
    o.time_scale = time_scale;
    if (time_scale != 1)
        sy_buf_printf(&ldesc, ", time scale %g (rates, durations and results in simulated time)",
                      time_scale);
    fprintf(stderr, "switchyard bench: %s\nswitchyard bench: load %s\n", wdesc.data, ldesc.data);

    install_handlers();
    o.stop = &g_stop;
    bool interrupted = g_stop != 0;
    for (size_t t = 0; t < ntargets && !interrupted; t++) {
        struct sy_bench_run *run = SY_NEW(struct sy_bench_run);
        sy_bench_run_init(run, targets[t].name, targets[t].url);
        fprintf(stderr, "switchyard bench: running %s (%s)\n", targets[t].name, targets[t].url);
        if (sy_bench_execute(&o, &w, targets[t].url, run, err, sizeof err) != 0) {
            fprintf(stderr, "switchyard bench: %s\n", err);
            sy_bench_run_fini(run);
            free(run);
            sy_buf_fini(&wdesc);
            sy_buf_fini(&ldesc);
            goto out;
        }
        install_handlers();
        runs[nruns++] = run;
        interrupted = run->interrupted || g_stop;
    }
    printf("\n");
    sy_bench_print_table(stdout, runs, nruns);
    fflush(stdout);
    struct sy_bench_meta meta = {.title = title ? title : "switchyard bench",
                                 .workload = wdesc.data,
                                 .load = ldesc.data,
                                 .time_scale = time_scale,
                                 .request_log = json_requests};
    status = interrupted ? 130 : 0;
    if (json && sy_bench_write_json(json, &meta, runs, nruns, err, sizeof err) != 0) {
        fprintf(stderr, "switchyard bench: %s\n", err);
        status = 1;
    }
    if (report && sy_bench_write_html(report, &meta, runs, nruns, err, sizeof err) != 0) {
        fprintf(stderr, "switchyard bench: %s\n", err);
        status = 1;
    }
    if (json && status != 1)
        fprintf(stderr, "switchyard bench: wrote %s\n", json);
    if (report && status != 1)
        fprintf(stderr, "switchyard bench: wrote %s\n", report);
    sy_buf_fini(&wdesc);
    sy_buf_fini(&ldesc);
out:
    for (size_t i = 0; i < nruns; i++) {
        sy_bench_run_fini(runs[i]);
        free(runs[i]);
    }
    for (size_t i = 0; i < ntargets; i++) {
        free(targets[i].name);
        free(targets[i].url);
    }
    sy_workload_fini(&w);
    return status;
}
