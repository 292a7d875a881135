#!/usr/bin/env python3
"""End-to-end P/D: the real gateway in front of a real simulator mixed fleet (issue 13).

test_disagg.py checks the gateway's exchange against Python stubs and test_sim_pd.py the
simulator's side of it driven by hand; here the two meet. The gateway loads llm-d's own P/D
sample configs (../shared/fixtures/llm-d-configs/*pd*) through `schedulerFile`, and the
simulator's counters prove what happened on the GPUs it models: the decode replica pulled the KV
the prefill replica computed (pulls counted, no fallback to a local prefill), a repeated prompt
was served decode-only, and nothing stays held, running or in flight afterwards.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ROOT, PDFleet, check, metrics, pd_text as text, post_json, run,  # noqa: E402
                     test, wait_until)

MODEL = "Qwen/Qwen3-32B"
FIXTURES = os.path.join(ROOT, "..", "shared", "fixtures", "llm-d-configs")
V08 = os.path.join(FIXTURES, "inference-scheduler-v0.8_pd-epp-config.yaml")
V09 = os.path.join(FIXTURES, "router-v0.9_pd-epp-config.yaml")


def series(m, name, **labels):
    want = ['%s="%s"' % (k, v) for k, v in labels.items()]
    total, found = 0.0, False
    for k, v in m.items():
        if (k == name and not want) or (k.startswith(name + "{") and all(w in k for w in want)):
            total += v
            found = True
    check(found, "no series %s%s" % (name, want))
    return total


def post(s, path, body):
    st, h, data = post_json(s.port, path, body, timeout=60)
    check(st == 200, "%s: %d %r" % (path, st, data[:300]))
    return h, data


def events(data):
    out = []
    for block in data.decode().split("\n\n"):
        if block.startswith("data: ") and block != "data: [DONE]":
            out.append(json.loads(block[6:]))
    check(data.rstrip().endswith(b"data: [DONE]"), "stream ends with [DONE]: %r" % data[-80:])
    return out


def usage_of(data, stream):
    if stream:
        ev = events(data)
        check(ev and ev[-1].get("usage"), "a final usage chunk: %r" % ev[-1:])
        return ev[-1]["usage"]
    return json.loads(data)["usage"]


def cached(usage):
    return (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)


def prefill_hits(s):
    """Prompt tokens the prefill replicas found in their own prefix cache so far."""
    return sum(series(metrics(p)[0], "vllm:prefix_cache_hits_total") for p in s.prefills)


def pd_exchange(s, path, body, stream, connector):
    """One request the decider must send through P/D; checks what the client sees."""
    hits0 = prefill_hits(s)
    h, data = post(s, path, body)
    check(h.get("x-gateway-prefill-endpoint") == "127.0.0.1:%d" % s.prefills[0], h)
    check(h.get("x-gateway-destination-endpoint") in ["127.0.0.1:%d" % d for d in s.decodes], h)
    check("x-switchyard-pd-fallback" not in h, h)
    check(b"kv_transfer_params" not in data, "kv_transfer_params reached the client: %r" % data)
    if stream:
        check(h["content-type"].startswith("text/event-stream"), h)
    u = usage_of(data, stream)
    if connector == "nixlv2":
        # The decode replica pulled the whole prompt and counts it cached; the client is told
        # what the prefill found in its own cache (llm-d's sidecar does the same).
        check(cached(u) == prefill_hits(s) - hits0,
              "cached_tokens %r, prefill hits %d" % (u, prefill_hits(s) - hits0))
        check(cached(u) < u["prompt_tokens"], u)
    return u


def scenario(connector, sched_file):
    s = PDFleet(sched_file, connector=connector)  # P on base, D on base+1, time scale 20
    try:
        dec = s.decodes[0]
        pulls0 = series(metrics(dec)[0], "switchyard_sim_kv_pulls_total")
        a, b = text(1500, "alpha"), text(1200, "beta")
        # non-streaming completion, then a streaming chat: both P/D (nothing cached anywhere)
        pd_exchange(s, "/v1/completions", {"model": MODEL, "prompt": a, "max_tokens": 8},
                    False, connector)
        u = pd_exchange(s, "/v1/chat/completions",
                        {"model": MODEL, "messages": [{"role": "user", "content": b}],
                         "max_tokens": 6, "stream": True,
                         "stream_options": {"include_usage": True}}, True, connector)
        check(u["completion_tokens"] == 6, u)
        # a prompt sharing a's first 1500 tokens plus 300 new ones: still P/D (the new tokens
        # exceed nonCachedTokens: 16), and the prefill replica reuses its cached prefix, which
        # the client sees as cached_tokens
        u = pd_exchange(s, "/v1/completions",
                        {"model": MODEL, "prompt": a + text(300, "gamma"), "max_tokens": 4,
                         "stream": True, "stream_options": {"include_usage": True}}, True,
                        connector)
        if connector == "nixlv2":
            check(cached(u) >= 1400, "the prefill's prefix hit reaches the client: %r" % u)
        md = metrics(dec)[0]
        check(series(md, "switchyard_sim_kv_pulls_total") - pulls0 == 3,
              "three KV pulls on the decode replica")
        # a repeat of a: its prefix is on the decode endpoint (recorded there after the P/D
        # decision), so the prefix-based decider serves it decode-only
        h, data = post(s, "/v1/completions", {"model": MODEL, "prompt": a, "max_tokens": 8})
        check("x-gateway-prefill-endpoint" not in h, h)
        check(h["x-gateway-destination-endpoint"] == "127.0.0.1:%d" % dec, h)
        u = json.loads(data)["usage"]
        check(cached(u) >= u["prompt_tokens"] - 16, "decode-only hit the pulled KV: %r" % u)
        # an Anthropic Messages request: vLLM's /v1/messages drops kv_transfer_params, so the
        # gateway has no exchange to run for it: decode-only, and counted as decode-only (not a
        # prefill-decode decision that was silently served decode-only). The v0.8 (GIE
        # apiVersion) config has no Messages parser: there it is a 404 before scheduling.
        messages = sched_file == V09
        if messages:
            h, data = post(s, "/v1/messages", {"model": MODEL, "max_tokens": 4, "messages": [
                {"role": "user", "content": text(1000, "delta")}]})
            check("x-gateway-prefill-endpoint" not in h, h)
            check(json.loads(data)["usage"]["output_tokens"] == 4, data)
        md = metrics(dec)[0]
        check(series(md, "switchyard_sim_kv_pulls_total") - pulls0 == 3, "no pull for them")
        check(series(md, "switchyard_sim_pd_fallbacks_total") == 0, "no local-prefill fallback")
        check(series(md, "vllm:nixl_num_failed_transfers_total") == 0)
        # the gateway's decision metric (and its deprecated twin) counts both decision types
        wait_until(lambda: all(e["inflight_requests"] == 0 for e in s.endpoints()), 5,
                   what="gateway in-flight back to zero")
        mg = metrics(s.admin)[0]
        for name in ("llm_d_inference_scheduler_disagg_decision_total",
                     "llm_d_inference_scheduler_pd_decision_total"):
            check(series(mg, name, model_name=MODEL, decision_type="prefill-decode") == 3, name)
            check(series(mg, name, model_name=MODEL, decision_type="decode-only") ==
                  1 + messages,
                  "%s: %r" % (name, [(k, v) for k, v in mg.items() if k.startswith(name)]))
        check(series(mg, "switchyard_pd_exchanges_total", connector=connector, outcome="pd") == 3)
        check(not any(k.startswith("switchyard_pd_fallback_total") and v for k, v in mg.items()),
              "no gateway fallback")
        # nothing held, parked or running on any replica afterwards
        for p in s.prefills + s.decodes:
            wait_until(lambda: series(metrics(p)[0], "switchyard_sim_kv_held_requests") == 0 and
                       series(metrics(p)[0], "vllm:num_requests_running") == 0 and
                       series(metrics(p)[0], "switchyard_sim_pd_parked_requests") == 0, 10,
                       what="replica %d idle" % p)
    finally:
        s.stop()


@test
def test_nixlv2_router_v09_fixture():
    scenario("nixlv2", V09)


@test
def test_nixlv2_inference_scheduler_v08_fixture():
    scenario("nixlv2", V08)


@test
def test_sglang_router_v09_fixture():
    scenario("sglang", V09)


@test
def test_sglang_inference_scheduler_v08_fixture():
    scenario("sglang", V08)


if __name__ == "__main__":
    run()
