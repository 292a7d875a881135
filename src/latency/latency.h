/* latency.h - the online latency model: p90 TTFT and TPOT per endpoint, learned in the gateway.
 *
 * llm-d's predicted-latency scheduling trains XGBoost in Python sidecars on what the gateway sees.
 * This module does the same in-process: the gateway feeds every finished request's load features
 * and measured TTFT/TPOT (sy_latency_observe), a background thread retrains a quantile model from
 * stratified sample buffers, and the scheduler asks for a prediction per candidate endpoint
 * (sy_latency_predict) without taking a lock. See model.c for the design.
 */
#ifndef SY_LATENCY_LATENCY_H
#define SY_LATENCY_LATENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sy_latency_role {
    SY_LATENCY_ROLE_NONE = 0, /* "" pod_type: aggregated endpoint */
    SY_LATENCY_ROLE_PREFILL,  /* prefill pod */
    SY_LATENCY_ROLE_DECODE    /* decode pod */
};

/* The features llm-d's training_server.py uses (reference §7), taken when the request is routed. */
struct sy_latency_features {
    bool queued;                      /* is_queued: the endpoint had waiting requests */
    double kv_util;                   /* kv_cache_percentage, 0..1 */
    uint32_t input_tokens;            /* input_token_length */
    uint32_t waiting;                 /* num_request_waiting */
    uint32_t running;                 /* num_request_running */
    uint64_t prefill_tokens_inflight; /* prefill tokens in flight on the endpoint */
    uint64_t decode_tokens_inflight;  /* decode tokens in flight on the endpoint */
    double prefix_score;              /* prefix_cache_score, 0..1 */
    enum sy_latency_role role;        /* pod_type */
    uint32_t tokens_generated;        /* TPOT only: num_tokens_generated (0 for TTFT) */
};

/* Engineered feature vector length (features.c). */
#define SY_LATENCY_NFEAT 16
/* Position of the waiting count in that vector (the TTFT queue guard's axis). */
#define SY_LATENCY_FEAT_WAITING 5

struct sy_latency_config {
    double quantile;      /* predicted quantile, 0.9 as llm-d's reg:quantileerror alpha */
    uint32_t min_samples; /* samples needed before the first model (llm-d ConfigMap: 100) */
    uint32_t bucket_cap;  /* samples kept per stratum (llm-d: 500) */
    uint32_t retrain_ms;  /* background retrain period (llm-d ConfigMap: 1 s) */
    uint32_t max_train;   /* samples used per fit (subsampled beyond) */
    bool log_target;      /* fit log(latency) instead of latency (quantiles commute with log) */
    bool per_endpoint;    /* learn a per-endpoint calibration factor on top of the shared fit */
    bool per_regime;      /* ... per endpoint and load regime (idle / busy / queued) */
    bool ttft_guard;      /* TTFT outside what the fit saw (model.c, "queue guard"): features
                             clamped to the fit's range, monotone in waiting, and beyond the
                             largest waiting seen + the endpoint's wait per queued request */
    bool load_curve;      /* TPOT of an endpoint with enough samples: its own monotone p90 curve
                             over its load (running + waiting), instead of the linear fit */
    double tpot_quantile; /* quantile predicted for TPOT (fit, calibration and load curve);
                             0: use cfg.quantile. Switchyard's own (docs/slo-scheduling.md, heavy
                             regime); sy_latency_set_tpot_quantile changes it at run time */
};

/* Fills c with the defaults above. */
void sy_latency_config_default(struct sy_latency_config *c);

struct sy_latency_model;

/* Creates a model (no thread yet); cfg is copied, NULL means defaults. Free with _free. */
struct sy_latency_model *sy_latency_model_new(const struct sy_latency_config *cfg);
/* Starts the background retraining thread. Returns 0 or SY_EIO. */
int sy_latency_model_start(struct sy_latency_model *m);
/* Stops the thread (if started) and frees everything. NULL is a no-op. */
void sy_latency_model_free(struct sy_latency_model *m);

/* Records one finished request. endpoint is borrowed (hashed, not kept). ttft_s/tpot_s < 0 or
 * non-finite mean "not measured" and that target is skipped. Thread-safe; O(1) under a short
 * mutex, never waits for training. */
void sy_latency_observe(struct sy_latency_model *m, const char *endpoint,
                        const struct sy_latency_features *f, double ttft_s, double tpot_s);

/* Predicts the configured quantile of TTFT and TPOT (seconds) for a request with features f on
 * endpoint. Lock-free (seqlock read of the newest snapshot). Either out pointer may be NULL.
 * Returns 0, or SY_EBUSY while the model has not enough samples yet ("not ready"). */
int sy_latency_predict(const struct sy_latency_model *m, const char *endpoint,
                       const struct sy_latency_features *f, double *ttft_s, double *tpot_s);

/* Sets the quantile the next fits predict for TPOT: q in (0, 1), or 0 for the configured one
 * (cfg.tpot_quantile, else cfg.quantile). Other values are ignored. Thread-safe; the model
 * published now keeps serving until the next retrain. */
void sy_latency_set_tpot_quantile(struct sy_latency_model *m, double q);
/* The quantile the TPOT fits use now. */
double sy_latency_tpot_quantile(const struct sy_latency_model *m);
/* The quantile sy_latency_set_tpot_quantile(m, 0) restores: cfg.tpot_quantile, else cfg.quantile.
 */
double sy_latency_tpot_quantile_configured(const struct sy_latency_model *m);

/* True once a TTFT model has been published. */
bool sy_latency_ready(const struct sy_latency_model *m);

/* Retrains synchronously on the caller's thread (tests, benchmarks). Returns 0, SY_EBUSY (not
 * enough samples) or SY_EINVAL (the fit failed or was non-finite; the old model stays). */
int sy_latency_retrain(struct sy_latency_model *m);

struct sy_latency_stats {
    uint64_t samples_ttft;    /* TTFT training samples held */
    uint64_t samples_tpot;    /* TPOT training samples held */
    uint64_t observed;        /* sy_latency_observe calls */
    uint64_t retrains;        /* models published */
    uint64_t failed;          /* fits discarded (non-finite or degenerate) */
    double last_retrain_unix; /* wall time of the last published model, 0 if none */
    double last_train_s;      /* CPU seconds the last fit took */
    double mape_ttft;         /* MAPE of the current model on the rolling holdout, -1 if none */
    double mape_tpot;         /* same for TPOT */
    double coverage_ttft;     /* share of holdout TTFTs <= prediction, -1 if none */
    double coverage_tpot;     /* same for TPOT */
    double quantile_ttft;     /* quantile the published TTFT model predicts, -1 if none */
    double quantile_tpot;     /* same for TPOT (tpotQuantile), -1 if none */
};

void sy_latency_stats(struct sy_latency_model *m, struct sy_latency_stats *out);

/* --- internals shared with tests and the benchmark --- */

/* Builds the engineered vector x[SY_LATENCY_NFEAT] from f (features.c). */
void sy_latency__features(const struct sy_latency_features *f, double *x);

/* Linear quantile regression by iteratively reweighted least squares (qreg.c): finds beta
 * minimising sum pinball_tau(y_i - x_i.beta) over n rows of X (row-major, d columns, column 0
 * the intercept). Writes beta[d]. Returns 0 or SY_EINVAL (singular/non-finite). */
int sy_latency__qreg_fit(const double *X, const double *y, size_t n, size_t d, double tau,
                         double *beta);

#endif
