#!/usr/bin/env python3
"""Unit tests of bench/sweep_metrics.py (the per-replica view of bench/llmd_sweep.py): parsing
the simulator's /metrics page, stage windows from the bench's request log, the client's
per-token time per endpoint, and the ITL decomposition on hand-computed counters. Pure Python,
no processes."""
import os
import sys

from harness import ROOT, check, run, test

sys.path.insert(0, os.path.join(ROOT, "bench"))
import sweep_metrics as sm  # noqa: E402

PAGE = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen3-32B"} 97.0
vllm:kv_cache_usage_perc{engine="0",model_name="a}b"} 0.5
vllm:num_preemptions_total{engine="0",model_name="m"} 3.0
vllm:num_preemptions_total{engine="1",model_name="m"} 4.0
vllm:inter_token_latency_seconds_bucket{engine="0",model_name="m",le="0.01"} 2.0
vllm:inter_token_latency_seconds_sum{engine="0",model_name="m"} 0.125
switchyard_sim_busy_seconds_total 12.5
switchyard_sim_steps_total{engine="0"} NaN
switchyard_sim_decode_seqs_total{engine="0"} not-a-number
garbage line
"""


@test
def test_parse_metrics():
    m = sm.parse_metrics(PAGE)
    check(m["vllm:num_requests_running"] == 97.0, m)
    check(m["vllm:kv_cache_usage_perc"] == 0.5, m)  # a brace inside a label value
    check(m["vllm:num_preemptions_total"] == 7.0, m)  # summed over label sets
    check(m["vllm:inter_token_latency_seconds_sum"] == 0.125, m)
    check("vllm:inter_token_latency_seconds_bucket" not in m, m)  # not a series it reads
    check(m["switchyard_sim_busy_seconds_total"] == 12.5, m)  # no labels
    check("switchyard_sim_steps_total" not in m and "switchyard_sim_decode_seqs_total" not in m,
          m)


def rec(stage, start, end, ttft, out, ep, err=None):
    return {"stage": stage, "start_s": start, "end_s": end, "ttft_s": ttft,
            "output_tokens": out, "endpoint": ep, "error": err}


@test
def test_stage_windows():
    log = [rec(0, 1.0, 10.0, 0.1, 5, "a"), rec(0, 2.0, 30.0, 0.1, 5, "b"),
           rec(1, 20.0, 40.0, 0.1, 5, "a"), rec(3, 50.0, 60.0, 0.1, 5, "a"),
           {"stage": None, "start_s": 0.0, "end_s": 99.0}]
    w = sm.stage_windows(log, 4)
    # stage 0 overlaps stage 1: cut at stage 1's first send; stage 2 has no request
    check(w == [(1.0, 20.0), (20.0, 40.0), None, (50.0, 60.0)], w)


@test
def test_client_itl():
    log = [rec(0, 0.0, 10.0, 1.0, 10, "a"),    # 9 s over 9 gaps
           rec(0, 0.0, 21.0, 1.0, 11, "b"),    # 20 s over 10 gaps
           rec(0, 0.0, 5.0, 1.0, 3, "a"),      # 4 s over 2 gaps
           rec(0, 0.0, 5.0, 1.0, 3, "a", "stream"),  # failed: left out
           rec(0, 0.0, 5.0, 1.0, 1, "a"),      # one token: no gap
           rec(1, 0.0, 99.0, 1.0, 3, "a")]     # another stage
    c = sm.client_itl(log, 0)
    check(c["a"] == (13.0, 11, 2) and c["b"] == (20.0, 10, 1), c)
    check(c[None] == (33.0, 21, 3), c)


def page(**kw):
    names = {"steps": "switchyard_sim_decode_steps_total",
             "seqs": "switchyard_sim_decode_seqs_total",
             "ctx": "switchyard_sim_decode_context_tokens_total",
             "dstep": "switchyard_sim_decode_step_seconds_total",
             "tstep": "switchyard_sim_decode_token_step_seconds_total",
             "tdec": "switchyard_sim_decode_token_decode_seconds_total",
             "isum": "vllm:inter_token_latency_seconds_sum",
             "icnt": "vllm:inter_token_latency_seconds_count",
             "busy": "switchyard_sim_busy_seconds_total",
             "pre": "switchyard_sim_prefill_tokens_total",
             "gen": "vllm:generation_tokens_total",
             "preempt": "vllm:num_preemptions_total",
             "run": "vllm:num_requests_running", "wait": "vllm:num_requests_waiting",
             "kv": "vllm:kv_cache_usage_perc"}
    out = {n: 0.0 for n in sm.SERIES}
    for k, v in kw.items():
        out[names[k]] = float(v)
    return out


@test
def test_stage_summary_decomposition():
    # replica 0: batch 100, decode step 60 ms, prefill adds 10 ms per token, stalls 1 ms;
    # replica 1: batch 50, decode step 40 ms, prefill adds 5 ms, stalls 1 ms
    end = [page(steps=100, seqs=10000, ctx=7e7, dstep=6.0, tstep=700, tdec=600, isum=710,
                icnt=10000, busy=90, pre=3000, gen=10000, preempt=4, run=100, kv=0.9),
           page(steps=100, seqs=5000, ctx=3.5e7, dstep=4.0, tstep=225, tdec=200, isum=230,
                icnt=5000, busy=80, pre=1000, gen=5000, preempt=0, run=50, kv=0.5)]
    mid = [page(run=90, kv=0.7), page(run=40, kv=0.3)]
    start = [page(), page()]
    samples = [(0.0, start), (50.0, mid), (100.0, end), (150.0, [None, None])]
    # client: 15,000 gaps taking 970 s = 64.67 ms per token
    log = [rec(2, 0.0, 100.0, 1.0, 5001, "r0", None), rec(2, 0.0, 872.0, 1.0, 10001, "r1")]
    # the window starts after the first sample: counters from it, gauges from the two inside
    g = sm.stage_summary(samples, 2, (0.5, 100.0), log, 2, ["r0", "r1"])
    f = g["fleet"]
    c = f["components"]

    def near(x, y):
        return abs(x - y) < 1e-6

    check(near(c["balanced_ms"], 50.0), c)           # 10 s over 200 steps
    check(near(c["imbalance_ms"], 10 / 3), c)        # (10,000 x 60 + 5,000 x 40) / 15,000 - 50
    check(near(c["variation_ms"], 0.0), c)           # each replica's batch is steady
    check(near(c["prefill_ms"], 125 / 15), c)        # (925 - 800) s / 15,000
    check(near(c["stall_ms"], 1.0), c)               # 940 / 15,000 - 925 / 15,000
    check(near(c["client_ms"], 2.0), c)              # 970 / 15,000 - 940 / 15,000
    check(near(sum(c.values()), f["client_itl_ms"]), (c, f))
    check(near(f["batch_slope_ms"], 0.4), f)         # (60 - 40) ms / (100 - 50) sequences
    check(f["running_mean"] == 70.0 and f["running_min"] == 45.0 and f["running_max"] == 95.0, f)
    check(f["preemptions"] == 4 and near(f["prefill_token_share"], 4000 / 19000), f)
    check(near(f["decode_batch"], 75.0) and near(f["kv_usage_max"], 0.9), f)
    r0, r1 = g["replicas"]
    check(near(r0["decode_batch"], 100) and near(r0["decode_step_ms"], 60), r0)
    check(near(r0["token_step_ms"], 70) and near(r0["engine_itl_ms"], 71), r0)
    check(near(r0["busy_share"], 0.9) and near(r0["prefill_time_share"], 84 / 90), r0)
    check(near(r0["decode_context"], 7000) and r0["requests"] == 1, r0)
    check(near(r1["client_itl_ms"], 871 / 10000 * 1000), r1)
    # a window with one sample of a replica, or none at all, gives no counters
    check(sm.stage_summary(samples, 2, None, log, 2) is None, "no window")
    one = sm.stage_summary([(0.0, start)], 2, (0.0, 100.0), log, 2)
    check(one["fleet"]["replicas_sampled"] == 0 and one["fleet"]["components"] == {}, one)


@test
def test_stage_tails():
    log = [rec(0, 10.0, 20.0, 0.1, 5, "a"), rec(0, 11.0, 40.0, 0.1, 5, "a"),
           rec(0, 12.0, 30.0, 0.1, 5, "b"), rec(0, 13.0, 99.0, 0.1, 5, "b", "stream"),
           rec(2, 50.0, 60.0, 0.1, 5, "a")]
    t = sm.stage_tails(log, 3)
    # stage 0: a ends 30 s after the first send (10.0), b 20 s; 3 answered over 30 s, or over the
    # mean end, 25 s; the failed request counts nowhere
    check(t[0] == {"requests_min": 1, "requests_max": 2, "endpoints": 2, "last_min_s": 20.0,
                   "last_max_s": 30.0, "req_per_s": 0.1, "req_per_s_at_mean_end": 3 / 25.0}, t)
    check(t[1] is None and t[2]["req_per_s"] == 0.1 and t[2]["endpoints"] == 1, t)


@test
def test_scrape_outages():
    log = ["warn  endpoint a: metrics scrape timed out; routing on its last metrics (1052 ms old)"
           " while they are younger than metricsStalenessThreshold or it answers requests",
           "warn  endpoint a: metrics scrape timed out, its last metrics are older than "
           "metricsStalenessThreshold and it answered no request within it; marked not ready",
           "warn  endpoint b: metrics scrape failed (connection refused); marked not ready",
           "info  endpoint b: marked not ready by its health check"]
    check(sm.scrape_outages(log) == 2, sm.scrape_outages(log))


@test
def test_sampler_bounded():
    calls = []

    def fetch(i):
        calls.append(i)
        if i == 1:
            raise OSError("down")
        return "vllm:num_requests_running 3\n"
    s = sm.Sampler(fetch, 2, 0.01, 2.0, limit=0.3)
    s.start()
    s._thread.join(10)  # the limit ends it without stop()
    check(not s._thread.is_alive(), "sampler stops at its limit")
    check(s.samples and all(p[0] == {"vllm:num_requests_running": 3.0} and p[1] is None
                            for _, p in s.samples), s.samples[:2])
    check(s.failures == len(s.samples), (s.failures, len(s.samples)))
    s.stop()


@test
def test_sampler_rebase():
    """The samples move onto the bench's clock: a bench that started 0.5 wall s after the sampler
    at time scale 4 is 2 simulated s; a sample taken at the bench's start reads 0."""
    s = sm.Sampler(lambda i: "", 1, 1.0, 4.0, limit=1)
    s.t0 = 100.0  # as start() would set it (time.monotonic())
    s.samples = [(0.0, [None]), (2.0, [None]), (6.0, [None])]  # taken at 100, 100.5, 101.5
    check(s.rebase(100.5) == 2.0, "shift in simulated seconds")
    check([t for t, _ in s.samples] == [-2.0, 0.0, 4.0], s.samples)


if __name__ == "__main__":
    run()
