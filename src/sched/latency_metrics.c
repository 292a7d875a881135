/* latency_metrics.c - metrics of predicted-latency scheduling, with llm-d's names.
 *
 *   inference_objective_request_predicted_ttft_seconds       histogram
 * {model_name,target_model_name} inference_objective_request_predicted_tpot_seconds       histogram
 *   inference_objective_request_ttft_prediction_duration_seconds  histogram (one cycle, all
 *                                                                  candidates)
 *   inference_objective_request_tpot_prediction_duration_seconds  histogram (same figure: one call
 *                                                                  predicts both)
 *   inference_objective_request_tpot_seconds                 histogram (measured)
 *   inference_objective_request_slo_violation_total          counter {model_name,
 *                                                             target_model_name,type=ttft|tpot}
 *   switchyard_latency_model_*                               gauges/counters from the model's
 *                                                            stats (samples, retrains, failed fits,
 *                                                            last retrain, holdout MAPE/coverage,
 *                                                            the published model's quantile per
 *                                                            target: TPOT's is tpotQuantile),
 *                                                            plus SLO headers clamped
 *
 * The families live in the gateway's registry; the pointers are published once (atomic) by
 * sy_latency_metrics_attach, so plugins on any worker thread record without a handle.
 */
#include "sched/latency_metrics.h"

#include <stdatomic.h>

#include "core/buf.h"
#include "latency/latency.h"
#include "latency/slo.h"
#include "metrics/metrics.h"
#include "sched/plugins.h"

struct fams {
    struct sy_metric_family *pttft, *ptpot, *dttft, *dtpot, *tpot, *viol;
};

static struct fams fams_storage;
static _Atomic(struct fams *) fams; /* NULL until attached */

static void collect(void *ud, struct sy_buf *out)
{
    (void)ud;
    struct sy_latency_model *m = sy_sched_latency_model();
    sy_buf_printf(out,
                  "# HELP switchyard_latency_slo_header_clamped_total SLO headers above one hour, "
                  "clamped.\n# TYPE switchyard_latency_slo_header_clamped_total counter\n"
                  "switchyard_latency_slo_header_clamped_total %llu\n",
                  (unsigned long long)sy_slo_clamped_total());
    if (!m)
        return;
    struct sy_latency_stats st;
    sy_latency_stats(m, &st);
    sy_buf_printf(out,
                  "# HELP switchyard_latency_model_samples Training samples held.\n"
                  "# TYPE switchyard_latency_model_samples gauge\n"
                  "switchyard_latency_model_samples{target=\"ttft\"} %llu\n"
                  "switchyard_latency_model_samples{target=\"tpot\"} %llu\n"
                  "# HELP switchyard_latency_model_retrains_total Models published.\n"
                  "# TYPE switchyard_latency_model_retrains_total counter\n"
                  "switchyard_latency_model_retrains_total %llu\n"
                  "# HELP switchyard_latency_model_failed_total Fits discarded (non-finite).\n"
                  "# TYPE switchyard_latency_model_failed_total counter\n"
                  "switchyard_latency_model_failed_total %llu\n"
                  "# HELP switchyard_latency_model_last_retrain_timestamp_seconds Last model.\n"
                  "# TYPE switchyard_latency_model_last_retrain_timestamp_seconds gauge\n"
                  "switchyard_latency_model_last_retrain_timestamp_seconds %.3f\n"
                  "# HELP switchyard_latency_model_train_seconds CPU time of the last fit.\n"
                  "# TYPE switchyard_latency_model_train_seconds gauge\n"
                  "switchyard_latency_model_train_seconds %.6f\n"
                  "# HELP switchyard_latency_model_holdout_mape MAPE on the rolling holdout.\n"
                  "# TYPE switchyard_latency_model_holdout_mape gauge\n"
                  "switchyard_latency_model_holdout_mape{target=\"ttft\"} %.6f\n"
                  "switchyard_latency_model_holdout_mape{target=\"tpot\"} %.6f\n"
                  "# HELP switchyard_latency_model_holdout_coverage Holdout share <= prediction.\n"
                  "# TYPE switchyard_latency_model_holdout_coverage gauge\n"
                  "switchyard_latency_model_holdout_coverage{target=\"ttft\"} %.6f\n"
                  "switchyard_latency_model_holdout_coverage{target=\"tpot\"} %.6f\n"
                  "# HELP switchyard_latency_model_quantile Quantile the published model predicts "
                  "(-1 before the first).\n"
                  "# TYPE switchyard_latency_model_quantile gauge\n"
                  "switchyard_latency_model_quantile{target=\"ttft\"} %.4f\n"
                  "switchyard_latency_model_quantile{target=\"tpot\"} %.4f\n",
                  (unsigned long long)st.samples_ttft, (unsigned long long)st.samples_tpot,
                  (unsigned long long)st.retrains, (unsigned long long)st.failed,
                  st.last_retrain_unix, st.last_train_s, st.mape_ttft, st.mape_tpot,
                  st.coverage_ttft, st.coverage_tpot, st.quantile_ttft, st.quantile_tpot);
}

void sy_latency_metrics_attach(struct sy_metrics *reg)
{
    static const char *const lbl[] = {"model_name", "target_model_name", NULL};
    static const char *const lblv[] = {"model_name", "target_model_name", "type", NULL};
    struct fams *f = &fams_storage;
    f->pttft = sy_metrics_family(reg, "inference_objective_request_predicted_ttft_seconds",
                                 "Predicted p90 TTFT of the chosen endpoint.", SY_METRIC_HISTOGRAM,
                                 lbl, sy_buckets_latency, sy_buckets_latency_n);
    f->ptpot = sy_metrics_family(reg, "inference_objective_request_predicted_tpot_seconds",
                                 "Predicted p90 TPOT of the chosen endpoint.", SY_METRIC_HISTOGRAM,
                                 lbl, sy_buckets_latency, sy_buckets_latency_n);
    f->dttft =
        sy_metrics_family(reg, "inference_objective_request_ttft_prediction_duration_seconds",
                          "Time to predict TTFT for every candidate of one request.",
                          SY_METRIC_HISTOGRAM, lbl, sy_buckets_fast, sy_buckets_fast_n);
    f->dtpot =
        sy_metrics_family(reg, "inference_objective_request_tpot_prediction_duration_seconds",
                          "Time to predict TPOT for every candidate of one request.",
                          SY_METRIC_HISTOGRAM, lbl, sy_buckets_fast, sy_buckets_fast_n);
    f->tpot = sy_metrics_family(reg, "inference_objective_request_tpot_seconds",
                                "Measured time per output token.", SY_METRIC_HISTOGRAM, lbl,
                                sy_buckets_latency, sy_buckets_latency_n);
    f->viol = sy_metrics_family(reg, "inference_objective_request_slo_violation_total",
                                "Requests whose measured TTFT or TPOT exceeded their SLO header.",
                                SY_METRIC_COUNTER, lblv, NULL, 0);
    sy_metrics_add_collector(reg, collect, NULL);
    atomic_store_explicit(&fams, f, memory_order_release);
}

void sy_latency_metrics_request(const char *model, double pred_ttft_s, double pred_tpot_s,
                                double ttft_s, double tpot_s, double slo_ttft_ms,
                                double slo_tpot_ms)
{
    struct fams *f = atomic_load_explicit(&fams, memory_order_acquire);
    if (!f)
        return;
    const char *lv[] = {model ? model : "", model ? model : ""};
    if (pred_ttft_s >= 0)
        sy_metric_observe(sy_metric_get(f->pttft, lv), pred_ttft_s);
    if (pred_tpot_s >= 0)
        sy_metric_observe(sy_metric_get(f->ptpot, lv), pred_tpot_s);
    if (tpot_s > 0)
        sy_metric_observe(sy_metric_get(f->tpot, lv), tpot_s);
    if (slo_ttft_ms > 0 && ttft_s > 0 && ttft_s * 1e3 > slo_ttft_ms) {
        const char *v[] = {lv[0], lv[1], "ttft"};
        sy_metric_inc(sy_metric_get(f->viol, v));
    }
    if (slo_tpot_ms > 0 && tpot_s > 0 && tpot_s * 1e3 > slo_tpot_ms) {
        const char *v[] = {lv[0], lv[1], "tpot"};
        sy_metric_inc(sy_metric_get(f->viol, v));
    }
}

void sy_latency_metrics_prediction(const char *model, double seconds)
{
    struct fams *f = atomic_load_explicit(&fams, memory_order_acquire);
    if (!f)
        return;
    const char *lv[] = {model ? model : "", model ? model : ""};
    sy_metric_observe(sy_metric_get(f->dttft, lv), seconds);
    sy_metric_observe(sy_metric_get(f->dtpot, lv), seconds);
}
