#!/usr/bin/env python3
"""Per-replica view of a staged benchmark: samples every replica's /metrics during the run and
splits the fleet's per-token time into where it comes from, per stage (bench/llmd_sweep.py).

Why: a stage's req/s behind inference-perf's barrier is set by its per-token time, and the fleet's
ITL can exceed one replica's at the same mean load for several reasons the client cannot tell
apart: some replicas run bigger batches than others (the prefix scorer's affinity), prefill
chunks share the decode steps, preempted sequences stall, the gateway adds time. The simulator
(`switchyard sim`) exports vLLM's series plus its own step accounting (switchyard_sim_*,
src/sim/sim_metrics.c), so the split is measured, not inferred.

Sampling. A Sampler thread GETs every replica's /metrics each `interval` wall seconds and keeps
(simulated seconds since the bench started, one parsed page per replica). Gauges (running,
waiting, KV usage) are averaged over the samples inside a window, which is a time-weighted mean
since samples are evenly spaced; counters are differenced between the last sample at or before
the window's start and the last sample at or before its end.

Windows. A stage's window runs from the first send of a request scheduled in it to the last
completion of those requests, cut at the next stage's first send (without the stage barrier
stages overlap; the window then ends where the next stage starts). Stage indices come from the
bench's request log (`--json-requests`, "stage"). The bench's clock starts after the sampler's
(process start and warm-up), and that wall offset is time_scale simulated seconds per wall
second, so Sampler.rebase moves the samples onto the bench's clock with the run's
"t0_monotonic_s" (both are CLOCK_MONOTONIC).

Decomposition of the fleet's ITL mean (milliseconds per token, token-weighted, per stage):

  balanced decode step   the decode-only step at the fleet's mean batch per step: sum over
                         replicas of decode-only step time / decode steps (the step model is
                         linear in batch and context, so this is the step of the mean batch)
  + replica imbalance    each replica's own mean decode step weighted by its decoding tokens,
                         minus the line above: what the spread of batch size across replicas
                         costs the average token (a token on a busier replica waits longer)
  + batch variation      token-weighted decode-only step minus each replica's step-mean: the
                         same effect over time inside a replica (batches that grow and shrink)
  + prefill chunks       the step time a decoding token waited beyond the decode-only step:
                         prefill chunks (first computation and recomputation after preemption)
                         scheduled in the same step
  + stalls               the engine's inter-token gap (vllm:inter_token_latency_seconds) beyond
                         the step time: tokens of a sequence that was preempted and waited
  + gateway and client   the client's per-token time (the bench's request log: (E2E - TTFT) /
                         (tokens - 1), token-weighted) beyond the engine's gap
  = client ITL mean

Stdlib only; tests/integration/test_sweep_metrics.py tests the parsing and the aggregation.
"""
import threading
import time

# the series read from each replica's page (label sets are summed per name)
SERIES = (
    "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
    "vllm:num_preemptions_total", "vllm:prefix_cache_queries_total",
    "vllm:prefix_cache_hits_total", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
    "vllm:inter_token_latency_seconds_sum", "vllm:inter_token_latency_seconds_count",
    "switchyard_sim_steps_total", "switchyard_sim_busy_seconds_total",
    "switchyard_sim_prefill_tokens_total", "switchyard_sim_decode_steps_total",
    "switchyard_sim_decode_seqs_total", "switchyard_sim_decode_context_tokens_total",
    "switchyard_sim_decode_step_seconds_total",
    "switchyard_sim_decode_token_step_seconds_total",
    "switchyard_sim_decode_token_decode_seconds_total",
)
GAUGES = ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc")

# decomposition rows, in order: (key, label)
COMPONENTS = (("balanced_ms", "balanced decode step"), ("imbalance_ms", "replica imbalance"),
              ("variation_ms", "batch variation"), ("prefill_ms", "prefill chunks"),
              ("stall_ms", "stalls (preemption)"), ("client_ms", "gateway and client"))


def parse_metrics(text, names=SERIES):
    """Prometheus text format -> {name: value} for the given names, summed over label sets.
    Comments, other series and unparsable lines are skipped."""
    want = set(names)
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        brace = line.find("{")
        if brace >= 0:
            name = line[:brace]
            close = line.rfind("}")
            if close < brace:
                continue
            rest = line[close + 1:].split()
        else:
            parts = line.split()
            if len(parts) < 2:
                continue
            name, rest = parts[0], parts[1:]
        if name not in want or not rest:
            continue
        try:
            v = float(rest[0])
        except ValueError:
            continue
        if v != v:
            continue
        out[name] = out.get(name, 0.0) + v
    return out


class Sampler:
    """Reads every replica's /metrics each `interval` wall seconds until stopped (bounded by
    `limit` wall seconds). fetch(i) returns replica i's page text or raises OSError."""

    def __init__(self, fetch, replicas, interval, time_scale, limit):
        self.fetch, self.replicas = fetch, replicas
        self.interval, self.time_scale, self.limit = interval, time_scale, limit
        self.samples = []  # (simulated seconds since start, [dict or None per replica])
        self.failures = 0
        self._stop = threading.Event()
        self._thread = None
        self.t0 = None

    def start(self):
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set() and time.monotonic() - self.t0 < self.limit:
            t = (time.monotonic() - self.t0) * self.time_scale
            pages = []
            for i in range(self.replicas):
                try:
                    pages.append(parse_metrics(self.fetch(i)))
                except (OSError, ValueError):
                    self.failures += 1
                    pages.append(None)
            self.samples.append((t, pages))
            self._stop.wait(self.interval)

    def rebase(self, t0_monotonic):
        """Makes the samples' times relative to t0_monotonic (time.monotonic()'s clock, e.g. the
        bench's "t0_monotonic_s") instead of the sampler's start; returns the shift applied in
        simulated seconds. Samples taken before it get negative times."""
        shift = (t0_monotonic - self.t0) * self.time_scale
        self.samples = [(t - shift, pages) for t, pages in self.samples]
        return shift

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(10)


def scrape_outages(lines):
    """Gateway log lines where a metrics scrape took an endpoint out: a scrape that failed, or
    timed out with its last metrics older than metricsStalenessThreshold ("... marked not
    ready", src/pool/scraper.c). A timeout within the threshold only warns and is not counted."""
    return sum("metrics scrape" in ln and "marked not ready" in ln for ln in lines)


def stage_windows(request_log, nstages):
    """[(start, end) or None per stage] from the bench's request log (see the module comment)."""
    first, last = [None] * nstages, [None] * nstages
    for q in request_log:
        k = q.get("stage")
        if k is None or not 0 <= int(k) < nstages:
            continue
        k = int(k)
        s, e = q.get("start_s"), q.get("end_s")
        if s is not None and (first[k] is None or s < first[k]):
            first[k] = s
        if e is not None and (last[k] is None or e > last[k]):
            last[k] = e
    out = []
    for k in range(nstages):
        if first[k] is None or last[k] is None:
            out.append(None)
            continue
        end = last[k]
        nxt = [first[j] for j in range(k + 1, nstages) if first[j] is not None]
        if nxt and nxt[0] < end:
            end = nxt[0]
        out.append((first[k], end) if end > first[k] else None)
    return out


def client_itl(request_log, stage=None):
    """Token-weighted per-token time of successful requests, seconds: {endpoint: (seconds,
    gaps, requests)} and the same over all endpoints under None."""
    acc = {}
    for q in request_log:
        if stage is not None and q.get("stage") != stage:
            continue
        if q.get("error") is not None or q.get("ttft_s") is None:
            continue
        n = (q.get("output_tokens") or 0) - 1
        if n < 1:
            continue
        d = q["end_s"] - q["start_s"] - q["ttft_s"]
        for key in (q.get("endpoint"), None):
            s = acc.setdefault(key, [0.0, 0, 0])
            s[0] += d
            s[1] += n
            s[2] += 1
            if key is None:
                break
    return {k: (v[0], v[1], v[2]) for k, v in acc.items()}


def stage_tails(request_log, nstages):
    """Per stage (None without answered requests): the spread over endpoints of its answered
    requests and of their last completion (seconds after the stage's first send), its req/s
    (answered over first send .. last completion, as the bench's) and the req/s had every
    endpoint ended at the mean of their last completions."""
    out = []
    for k in range(nstages):
        qs = [q for q in request_log if q.get("stage") == k and q.get("error") is None
              and q.get("end_s") is not None]
        if not qs:
            out.append(None)
            continue
        t0 = min(q["start_s"] for q in qs)
        by = {}
        for q in qs:
            by.setdefault(q.get("endpoint"), []).append(q["end_s"] - t0)
        lasts = [max(v) for v in by.values()]
        n = [len(v) for v in by.values()]
        span, mean = max(lasts), sum(lasts) / len(lasts)
        out.append({"requests_min": min(n), "requests_max": max(n), "endpoints": len(by),
                    "last_min_s": min(lasts), "last_max_s": span,
                    "req_per_s": len(qs) / span if span > 0 else None,
                    "req_per_s_at_mean_end": len(qs) / mean if mean > 0 else None})
    return out


def _div(a, b):
    return a / b if b else None


def replica_window(samples, i, t0, t1):
    """Replica i over [t0, t1]: gauge means and counter deltas, or None without two samples."""
    inside = [p[i] for t, p in samples if t0 <= t <= t1 and p[i] is not None]
    before = [(t, p[i]) for t, p in samples if t <= t0 and p[i] is not None]
    upto = [(t, p[i]) for t, p in samples if t <= t1 and p[i] is not None]
    if not upto:
        return None
    a = before[-1] if before else next(((t, p[i]) for t, p in samples if p[i] is not None))
    b = upto[-1]
    if b[0] <= a[0]:
        return None
    out = {"span_s": b[0] - a[0], "samples": len(inside)}
    for g in GAUGES:
        vals = [p[g] for p in inside if g in p]
        out[g + ":mean"] = sum(vals) / len(vals) if vals else None
        out[g + ":max"] = max(vals) if vals else None
    for name in SERIES:
        if name in GAUGES:
            continue
        if name in a[1] and name in b[1]:
            out[name] = max(0.0, b[1][name] - a[1][name])
        else:
            out[name] = None
    return out


def _sum(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return sum(vals) if vals else None


def replica_summary(w):
    """Derived per-replica figures of one window (replica_window's output)."""
    g = w.get
    prefill, gen = g("switchyard_sim_prefill_tokens_total"), g("vllm:generation_tokens_total")
    busy = g("switchyard_sim_busy_seconds_total")
    dsteps, dseqs = g("switchyard_sim_decode_steps_total"), g("switchyard_sim_decode_seqs_total")
    dstep = g("switchyard_sim_decode_step_seconds_total")
    return {
        "running_mean": g("vllm:num_requests_running:mean"),
        "running_max": g("vllm:num_requests_running:max"),
        "waiting_mean": g("vllm:num_requests_waiting:mean"),
        "kv_usage_mean": g("vllm:kv_cache_usage_perc:mean"),
        "kv_usage_max": g("vllm:kv_cache_usage_perc:max"),
        "preemptions": g("vllm:num_preemptions_total"),
        "prefill_tokens": prefill, "generation_tokens": gen,
        "prefill_token_share": _div(prefill, (prefill or 0) + (gen or 0))
        if prefill is not None and gen is not None else None,
        "busy_share": _div(busy, w["span_s"]) if busy is not None else None,
        "prefill_time_share": _div(busy - dstep, busy)
        if busy is not None and dstep is not None else None,
        "decode_batch": _div(dseqs, dsteps) if dseqs is not None else None,
        "decode_context": _div(g("switchyard_sim_decode_context_tokens_total"), dseqs)
        if dseqs else None,
        "decode_step_ms": _ms(_div(dstep, dsteps)) if dstep is not None else None,
        "token_step_ms": _ms(_div(g("switchyard_sim_decode_token_step_seconds_total"), dseqs))
        if dseqs else None,
        "engine_itl_ms": _ms(_div(g("vllm:inter_token_latency_seconds_sum"),
                                  g("vllm:inter_token_latency_seconds_count")))
        if g("vllm:inter_token_latency_seconds_count") else None,
    }


def _ms(v):
    return v * 1000 if v is not None else None


def stage_summary(samples, replicas, window, request_log, stage, names=None):
    """One stage: per replica figures and the fleet's, with the ITL decomposition (module
    comment). names[i] is replica i's endpoint name in the request log."""
    if window is None:
        return None
    t0, t1 = window
    wins = [replica_window(samples, i, t0, t1) for i in range(replicas)]
    cl = client_itl(request_log, stage)
    per = []
    for i, w in enumerate(wins):
        s = replica_summary(w) if w else {}
        c = cl.get(names[i]) if names else None
        s["client_itl_ms"] = _ms(c[0] / c[1]) if c else None
        s["requests"] = c[2] if c else 0
        per.append(s)
    ok = [w for w in wins if w]
    fleet = {"window_s": [t0, t1], "replicas_sampled": len(ok),
             "samples": min((w["samples"] for w in ok), default=0)}
    run = [p["running_mean"] for p in per if p.get("running_mean") is not None]
    if run:
        fleet["running_mean"] = sum(run) / len(run)
        fleet["running_min"], fleet["running_max"] = min(run), max(run)
    for key in ("waiting_mean", "kv_usage_mean", "busy_share", "prefill_time_share"):
        vals = [p[key] for p in per if p.get(key) is not None]
        fleet[key] = sum(vals) / len(vals) if vals else None
    kvmax = [p["kv_usage_max"] for p in per if p.get("kv_usage_max") is not None]
    fleet["kv_usage_max"] = max(kvmax) if kvmax else None
    fleet["preemptions"] = _sum(ok, "vllm:num_preemptions_total")
    pre, gen = _sum(ok, "switchyard_sim_prefill_tokens_total"), _sum(
        ok, "vllm:generation_tokens_total")
    fleet["prefill_token_share"] = (_div(pre, pre + gen) if pre is not None and gen is not None
                                    else None)
    dsteps, dseqs = _sum(ok, "switchyard_sim_decode_steps_total"), _sum(
        ok, "switchyard_sim_decode_seqs_total")
    fleet["decode_batch"] = _div(dseqs, dsteps) if dseqs is not None else None
    comp = {}
    if dsteps and dseqs:
        dstep = _sum(ok, "switchyard_sim_decode_step_seconds_total")
        tok_dec = _sum(ok, "switchyard_sim_decode_token_decode_seconds_total")
        tok_step = _sum(ok, "switchyard_sim_decode_token_step_seconds_total")
        balanced = dstep / dsteps
        # each replica's step-mean decode step, weighted by its decoding tokens
        wsum = sum(w["switchyard_sim_decode_seqs_total"] *
                   w["switchyard_sim_decode_step_seconds_total"] /
                   w["switchyard_sim_decode_steps_total"]
                   for w in ok if w.get("switchyard_sim_decode_steps_total"))
        per_rep = wsum / dseqs
        comp = {"balanced_ms": balanced * 1000, "imbalance_ms": (per_rep - balanced) * 1000,
                "variation_ms": (tok_dec / dseqs - per_rep) * 1000,
                "prefill_ms": (tok_step - tok_dec) / dseqs * 1000}
        isum = _sum(ok, "vllm:inter_token_latency_seconds_sum")
        icnt = _sum(ok, "vllm:inter_token_latency_seconds_count")
        engine = _div(isum, icnt)
        if engine is not None:
            comp["stall_ms"] = (engine - tok_step / dseqs) * 1000
            fleet["engine_itl_ms"] = engine * 1000
        c = cl.get(None)
        if c and engine is not None:
            comp["client_ms"] = (c[0] / c[1] - engine) * 1000
        # a linear fit of each replica's decode step over its batch: the step model's batch slope
        pts = [(w["switchyard_sim_decode_seqs_total"] / w["switchyard_sim_decode_steps_total"],
                w["switchyard_sim_decode_step_seconds_total"] /
                w["switchyard_sim_decode_steps_total"])
               for w in ok if w.get("switchyard_sim_decode_steps_total")]
        fleet["batch_slope_ms"] = _slope(pts)
    c = cl.get(None)
    fleet["client_itl_ms"] = _ms(c[0] / c[1]) if c else None
    fleet["components"] = comp
    return {"fleet": fleet, "replicas": per}


def _slope(pts):
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    vx = sum((x - mx) ** 2 for x, _ in pts)
    if vx < 1e-9:
        return None
    return sum((x - mx) * (y - my) for x, y in pts) / vx * 1000


def summarize(samples, replicas, request_log, nstages, names=None):
    """Every stage's stage_summary (None where a stage has no window)."""
    wins = stage_windows(request_log, nstages)
    return [stage_summary(samples, replicas, wins[k], request_log, k, names)
            for k in range(nstages)]
