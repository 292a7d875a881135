/* features.c - the engineered feature vector of the latency model.
 *
 * The raw features are llm-d's (training_server.py, reference §7). A linear quantile model cannot
 * learn interactions, so a few are spelled out here from how a continuous-batching engine spends
 * time: uncached prefill work (effective input = (1 - prefix) * input), prefill work slowed by the
 * decodes it shares a batch with (effective input x running), and the queue wait, which grows with
 * the number waiting times the prefill work ahead of them. Magnitudes are scaled to O(1) so the
 * fit is well conditioned; qreg.c standardises again anyway.
 *
 *   x[0]  1                      x[8]  decode tokens in flight / 1e4
 *   x[1]  queued                 x[9]  prefix score
 *   x[2]  KV utilisation         x[10] effective input x running / 8
 *   x[3]  input / 1e3            x[11] waiting x prefill in flight / 1e3
 *   x[4]  effective input / 1e3  x[12] role == prefill
 *   x[5]  waiting                x[13] role == decode
 *   x[6]  running                x[14] tokens generated / 1e3 (TPOT)
 *   x[7]  prefill in flight/1e3  x[15] KV utilisation squared
 */
#include "latency/latency.h"

static double clamp01(double v)
{
    if (!(v >= 0.0)) /* also NaN */
        return 0.0;
    return v > 1.0 ? 1.0 : v;
}

void sy_latency__features(const struct sy_latency_features *f, double *x)
{
    double kv = clamp01(f->kv_util);
    double prefix = clamp01(f->prefix_score);
    double in = (double)f->input_tokens / 1e3;
    double eff = (1.0 - prefix) * in;
    double pf = (double)f->prefill_tokens_inflight / 1e3;

    x[0] = 1.0;
    x[1] = f->queued ? 1.0 : 0.0;
    x[2] = kv;
    x[3] = in;
    x[4] = eff;
    x[SY_LATENCY_FEAT_WAITING] = (double)f->waiting;
    x[6] = (double)f->running;
    x[7] = pf;
    x[8] = (double)f->decode_tokens_inflight / 1e4;
    x[9] = prefix;
    x[10] = eff * (double)f->running / 8.0;
    x[11] = (double)f->waiting * pf;
    x[12] = f->role == SY_LATENCY_ROLE_PREFILL ? 1.0 : 0.0;
    x[13] = f->role == SY_LATENCY_ROLE_DECODE ? 1.0 : 0.0;
    x[14] = (double)f->tokens_generated / 1e3;
    x[15] = kv * kv;
}
