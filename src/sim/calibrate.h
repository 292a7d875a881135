/* calibrate.h - `switchyard sim --calibrate`: the profile's step-time/KV model against every
 * published figure of /work/shared/reference/engine-calibration.md (and llm-d's fleet figures).
 *
 * Two kinds of rows:
 *   static  the model evaluated at the figure's shape (sy_sim_step_ns, block counts): peak
 *           prefill, decode step times by batch and context, KV capacity;
 *   load    the engine (src/sim/engine.c) run in simulated time under the figure's workload
 *           (llm-d's shared-prefix benchmark at the figure's per-replica rate), because a
 *           fleet's throughput and ITL at load emerge from batching, KV pressure and prefill
 *           interference and cannot be read off one step.
 * Every row carries its source, the source's kind (measured or derived), the model's value, the
 * error and the tolerance documented in docs/simulator.md; a row outside its tolerance is
 * flagged, never hidden.
 *
 * Threading: plain functions, no shared state.
 */
#ifndef SY_SIM_CALIBRATE_H
#define SY_SIM_CALIBRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/engine.h"

/* One workload for a load row: llm-d's shared-prefix benchmark (inference-perf shared_prefix)
 * as one replica of the fleet sees it. */
struct sy_sim_calib_load {
    uint32_t groups;        /* prefix groups whose requests reach this replica */
    uint32_t system_tokens; /* shared system prompt per group */
    uint32_t question;      /* unique question tokens per request */
    uint32_t output;        /* output tokens per request (ignore_eos) */
    double rate;            /* Poisson arrivals per simulated second at this replica */
    double duration_s;      /* arrivals stop here; the run ends here too */
    double window_s;        /* measured over [duration - window, duration] */
    uint64_t seed;          /* arrivals and group choice */
};

/* What a load run measured over its window (per replica). */
struct sy_sim_calib_result {
    double out_tok_s;   /* output tokens generated per second */
    double req_s;       /* requests finished per second */
    double tpot_ms;     /* mean over finished requests of (e2e - ttft) / (output - 1) */
    double ttft_s;      /* mean TTFT of requests finished in the window */
    double batch;       /* time-weighted mean number of running requests */
    double hit_rate;    /* prefix-cache hit rate (tokens) over the whole run */
    uint64_t finished;  /* requests finished in the window */
    uint64_t preempted; /* preemptions over the whole run */
};

/* Runs the engine for profile p under workload w in simulated time. Returns 0, or SY_EINVAL when
 * the workload is unusable (zero sizes, prompt longer than max_model_len, window > duration). */
int sy_sim_calib_run_load(const struct sy_sim_profile *p, const struct sy_sim_calib_load *w,
                          struct sy_sim_calib_result *out);

/* One row of the report. */
struct sy_sim_calib_row {
    const char *figure;  /* what is compared, with its shape */
    const char *unit;    /* "tok/s", "ms", "tokens", "req/s" */
    const char *kind;    /* "measured" or "derived" (engine-calibration.md's conventions) */
    const char *source;  /* where the figure comes from */
    double source_value; /* the figure */
    double model_value;  /* what the profile's model gives */
    double err_pct;      /* 100 x (model - source) / source */
    double tol_pct;      /* documented tolerance (absolute error percent) */
    bool flagged;        /* |err_pct| > tol_pct */
    bool load;           /* a load row (engine run), else static */
};

/* A load scenario as run for a report. */
struct sy_sim_calib_scenario {
    const char *name;                  /* e.g. "llm-d routing, 60 req/s fleet" */
    struct sy_sim_calib_load load;     /* the workload */
    struct sy_sim_calib_result result; /* what it measured */
};

#define SY_SIM_CALIB_MAX_ROWS      64 /* rows of one report */
#define SY_SIM_CALIB_MAX_SCENARIOS 8  /* load scenarios of one report */

/* One profile's report. */
struct sy_sim_calib_report {
    struct sy_sim_calib_row rows[SY_SIM_CALIB_MAX_ROWS];           /* static, then load */
    size_t nrows;                                                  /* 0: no figures */
    struct sy_sim_calib_scenario scen[SY_SIM_CALIB_MAX_SCENARIOS]; /* scenarios run */
    size_t nscen;                                                  /* their count */
    size_t nflagged;                                               /* rows out of tolerance */
};

/* Fills r for profile p: static rows, then load rows (running each scenario once) unless
 * static_only. nrows is 0 when the reference has no figures for the profile. Deterministic. */
void sy_sim_calib_report(const struct sy_sim_profile *p, bool static_only,
                         struct sy_sim_calib_report *r);

/* The decode KV-read cost per context token this module checks profiles against (us): the
 * per-GPU KV bytes of one token streamed at the achieved HBM bandwidth (profiles.c documents the
 * figures): kv_bytes_per_token / tp_size / (hbm_bytes_per_us x efficiency). */
double sy_sim_calib_kv_us_per_token(uint32_t kv_bytes_per_token, uint32_t tp_size,
                                    double hbm_bytes_per_us, double efficiency);

/* `switchyard sim --calibrate [--profile NAME] [--step-model M] [--kv-read-us X] [--prefill-us X]
 * [--json] [--static-only]`. --step-model evaluates the profile under that step model (without it
 * the text report adds both models side by side, and step times at mixed shapes).
 * --kv-read-us replaces the profile's decode KV-read cost per context token (a what-if, e.g. the
 * coefficient a profile used before); --prefill-us its additive prefill cost per token (0: the
 * bound of any mixed-step model, a prefill chunk that costs a decode step nothing). Prints the
 * table (or JSON) to out; returns 0 when it ran (flagged rows included), 2 on bad arguments. */
int sy_sim_calibrate_main(int argc, char **argv, FILE *out);

#endif
