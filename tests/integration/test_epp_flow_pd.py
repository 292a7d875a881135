"""Integration tests for what `switchyard epp` shares with the gateway since flow control (issue
14) and P/D (issue 13) landed: the same flow controller admits, queues and refuses Process
streams (ImmediateResponse 429/503 with x-llm-d-request-dropped-reason, queued streams dispatched
on the EPP's loop, a stream reset leaving the queue), the P/D decision travels as
x-prefiller-host-port for llm-d's routing sidecar, and extProc.emitEndpointScores adds
envoy.lb/x-gateway-destination-endpoint-scores. Driven by the real gRPC client (@grpc/grpc-js,
tests/node/epp_client.mjs) as Envoy drives an EPP.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, SLOW, check, free_ports, metrics, process_log, run, start_process,  # noqa
                     test, wait_port, wait_until, write_file)
from stub_server import Stub  # noqa: E402
from test_epp import CLIENT, NODE_DIR, RR, Epp, completion, dest, ensure_node  # noqa: E402


def flow_sched(det_params="{maxConcurrency: 1}", flow=""):
    return ("scheduler:\n  apiVersion: llm-d.ai/v1alpha1\n  kind: EndpointPickerConfig\n"
            "  featureGates: [flowControl]\n"
            "  plugins:\n    - type: round-robin-picker\n"
            "    - type: concurrency-detector\n      name: det\n      parameters: %s\n"
            "  schedulingProfiles:\n    - name: default\n"
            "      plugins:\n        - pluginRef: round-robin-picker\n"
            "  flowControl:\n    saturationDetector: {pluginRef: det}\n%s" % (det_params, flow))


PD_SCHED = """scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
  - type: prefill-filter
  - type: decode-filter
  - type: queue-scorer
  - type: max-score-picker
  - type: always-disagg-pd-decider
  - type: disagg-profile-handler
    parameters:
      deciders: {prefill: always-disagg-pd-decider}
  schedulingProfiles:
  - name: prefill
    plugins: [{pluginRef: prefill-filter}, {pluginRef: queue-scorer}, {pluginRef: max-score-picker}]
  - name: decode
    plugins: [{pluginRef: decode-filter}, {pluginRef: queue-scorer}, {pluginRef: max-score-picker}]
"""


class LabelledEpp(Epp):
    """An EPP whose endpoints carry labels: [(stub, {label: value})]."""

    def __init__(self, eps, scheduler, extra="", xp_extra=""):
        self.xp, self.health, self.admin = free_ports(3)
        text = ("admin: 127.0.0.1:%d\nworkers: 2\n" % self.admin +
                "extProc:\n  listen: 127.0.0.1:%d\n  healthListen: 127.0.0.1:%d\n"
                "  secureServing: false\n" % (self.xp, self.health) + xp_extra +
                "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  endpoints:\n" +
                "".join("    - address: %s\n      labels: %s\n" % (s.address, json.dumps(l))
                        for s, l in eps) + extra + scheduler)
        self.path = write_file(text)
        self.secure = False
        self.proc = start_process([BIN, "epp", "--config", self.path])
        for p in (self.xp, self.health, self.admin):
            wait_port(p, proc=self.proc)


def drive_bg(e, scenario):
    """Starts the gRPC client in the background; finish() returns its results."""
    path = write_file(json.dumps(scenario), suffix=".json")
    p = subprocess.Popen(["node", CLIENT, "127.0.0.1:%d" % e.xp, path], cwd=NODE_DIR,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(timeout=60):
        try:
            out, err = p.communicate(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError("node client still running after %ds: %s\n%s\nEPP log:\n%s" % (
                timeout * SLOW, out[-2000:], err[-2000:], process_log(e.proc)[-4000:]))
        check(p.returncode == 0, "node client failed: %s\n%s" % (err[-2000:],
                                                                 process_log(e.proc)[-2000:]))
        return json.loads(out.strip().splitlines()[-1])["results"]
    return finish


def queued(e):
    m, _ = metrics(e.admin)
    return sum(v for k, v in m.items()
               if k.startswith("inference_extension_flow_control_queue_size{"))


@test
def test_flow_control_queues_streams_and_dispatches_them_on_the_epp_loop():
    ensure_node()
    ss = [Stub()]
    e = Epp.start(ss, scheduler=flow_sched())
    e.wait_ready(1)
    # A holds the only slot (maxConcurrency 1) until its response ends; B and C wait in the
    # flow-control queue, then go one after the other as the slot frees
    reqs = [completion("a", delayResponseMs=1500),
            completion("b", startDelayMs=300, delayResponseMs=300),
            completion("c", startDelayMs=300, delayResponseMs=300)]
    finish = drive_bg(e, {"requests": reqs, "concurrency": 3})
    wait_until(lambda: queued(e) >= 2, 10, what="two streams queued behind the first")
    res = finish()
    for r in res:
        check(r.get("grpcCode") == 0 and dest(r) == ss[0].address and "immediate" not in r,
              "routed after waiting: %r" % r)
        check(r["bodyBackSha"] == r["bodySha"], "body streamed back after the wait")
    check(queued(e) == 0, "queue empty")
    _, text = metrics(e.admin)
    check('llm_d_epp_flow_control_requests_total{outcome="Dispatched",priority="0"} 3' in text,
          "the gateway's flow metrics count EPP requests:\n%s" %
          "\n".join(l for l in text.splitlines() if "flow_control_requests" in l))
    check("inference_extension_flow_control_request_queue_duration_seconds_bucket" in text,
          "queue duration histogram")


@test
def test_flow_control_ttl_is_an_immediate_429_with_the_dropped_reason():
    ss = [Stub()]
    e = Epp.start(ss, scheduler=flow_sched(flow="    defaultRequestTTL: 300ms\n"))
    e.wait_ready(1)
    res = e.requests([completion("a", delayResponseMs=2500),
                      completion("b", startDelayMs=300, response=None)], concurrency=2)
    check(res[0].get("grpcCode") == 0 and dest(res[0]) == ss[0].address, "A served: %r" % res[0])
    im = res[1].get("immediate")
    check(im and im["status"] == 429, "B refused with 429 after its TTL: %r" % res[1])
    check(im["headers"].get("x-llm-d-request-dropped-reason") == "rejected-ttl-expired",
          "dropped reason: %r" % im["headers"])
    err = json.loads(im["body"])["error"]
    check(err["type"] == "rate_limit_error" and {"message", "code"} <= set(err),
          "OpenAI error JSON: %r" % err)
    check("x-gateway-destination-endpoint" not in res[1]["setHeaders"], "never routed")


@test
def test_queued_verdict_reaches_a_silent_client():
    """A verdict decided off the stream's own read (here B's TTL refusal, posted by flow control
    to the worker's loop) is written at once, not when the client next sends something: A holds
    the only slot and answers only after B's result arrives, so the connection stays silent and a
    verdict left unflushed would never arrive (the client's bound fails the test)."""
    ss = [Stub()]
    e = Epp.start(ss, scheduler=flow_sched(flow="    defaultRequestTTL: 300ms\n"))
    e.wait_ready(1)
    finish = drive_bg(e, {"requests": [completion("a", respondAfter=1),
                                       completion("b", startDelayMs=300, response=None)],
                          "concurrency": 2})
    res = finish(timeout=20)
    im = res[1].get("immediate")
    check(im and im["status"] == 429 and
          im["headers"].get("x-llm-d-request-dropped-reason") == "rejected-ttl-expired",
          "B refused after its TTL: %r" % res[1])
    check(res[0].get("grpcCode") == 0 and dest(res[0]) == ss[0].address, "A served: %r" % res[0])


@test
def test_stream_reset_while_queued_leaves_the_queue():
    ss = [Stub()]
    e = Epp.start(ss, scheduler=flow_sched(flow="    defaultRequestTTL: 30s\n"))
    e.wait_ready(1)
    finish = drive_bg(e, {"requests": [completion("a", delayResponseMs=4000),
                                       completion("b", startDelayMs=300, resetAfterMs=900)],
                          "concurrency": 2})
    wait_until(lambda: queued(e) == 1, 10, what="B queued")
    # Envoy resets B's stream (its client left): B leaves the queue while A still holds the slot
    wait_until(lambda: queued(e) == 0, 10, what="B out of the queue")
    t_left = time.time()
    res = finish()
    check(res[1].get("reset") and "x-gateway-destination-endpoint" not in res[1]["setHeaders"],
          "B was reset before any routing: %r" % res[1])
    check(res[0].get("grpcCode") == 0, "A served: %r" % res[0])
    check(time.time() - t_left > 0.5, "B left the queue while A was still being served")
    _, text = metrics(e.admin)
    check('outcome="EvictedContextCancelled"' in text, "cancelled outcome counted")
    check('llm_d_epp_flow_control_requests_total{outcome="Dispatched",priority="0"} 1' in text,
          "only A was dispatched")
    # nothing is left held: the next request goes straight through
    r = e.requests([completion("c")])[0]
    check(r.get("grpcCode") == 0 and dest(r) == ss[0].address, "slot free again: %r" % r)


@test
def test_sheddable_request_refused_while_saturated_without_the_gate():
    """Legacy admission (no flowControl gate): priority < 0 is refused 429 rejected-saturated
    while the pool is saturated, as the gateway does."""
    ss = [Stub()]
    ss[0].waiting = 50  # far above the utilization detector's queue threshold (5)
    e = Epp.start(ss, scheduler=RR,
                  extra="inferenceObjectives:\n  - {name: batch, priority: -1}\n")
    e.wait_ready(1)
    time.sleep(0.3)  # a few scrapes: the saturation follows the queue depth
    res = e.requests([completion("s", headers={"x-gateway-inference-objective": "batch"},
                                 response=None),
                      completion("n")])
    im = res[0].get("immediate")
    check(im and im["status"] == 429 and
          im["headers"].get("x-llm-d-request-dropped-reason") == "rejected-saturated",
          "sheddable refused: %r" % res[0])
    check(res[1].get("grpcCode") == 0 and dest(res[1]) == ss[0].address,
          "a standard request still goes: %r" % res[1])


@test
def test_pd_pick_travels_as_x_prefiller_host_port():
    pre, dec = Stub(), Stub()
    e = LabelledEpp([(pre, {"llm-d.ai/role": "prefill"}), (dec, {"llm-d.ai/role": "decode"})],
                    PD_SCHED)
    e.wait_ready(2)
    res = e.requests([completion("pd one"),
                      completion("pd two", headers={"x-prefiller-host-port": "10.9.9.9:1"}),
                      {"path": "/v1/embeddings",
                       "body": json.dumps({"model": "m1", "input": "x"}),
                       "response": {"status": 200, "chunks": ['{"data":[]}']}}])
    for r in res[:2]:
        check(r.get("grpcCode") == 0 and dest(r) == dec.address, "decode endpoint: %r" % r)
        check(r["setHeaders"].get("x-prefiller-host-port") == pre.address,
              "the prefill pick for the sidecar (the client's value overwritten): %r" %
              r["setHeaders"])
        check("x-prefiller-host-port" not in r.get("removeHeaders", []), "not removed")
    r = res[2]
    check(r.get("grpcCode") == 0 and "x-prefiller-host-port" not in r["setHeaders"] and
          "x-prefiller-host-port" in r["removeHeaders"], "embeddings: decode only: %r" % r)
    m, _ = metrics(e.admin)
    pd = sum(v for k, v in m.items()
             if k.startswith("llm_d_inference_scheduler_disagg_decision_total{") and
             'decision_type="prefill-decode"' in k)
    # the scheduler's decision, counted at the pick as in the gateway: an embeddings request has
    # no prefill phase, so the handler decides (and counts) it decode-only
    check(pd == 2, "disagg decisions counted: %r" % pd)


@test
def test_pd_prefill_pick_keeps_prefix_affinity():
    # the sidecar runs the prefill leg, but the EPP's pick is recorded in the approximate prefix
    # index: the same long prompt goes to the same prefill endpoint again
    sched = PD_SCHED.replace("  - type: queue-scorer\n", "  - type: queue-scorer\n"
                             "  - type: prefix-cache-scorer\n").replace(
        "[{pluginRef: prefill-filter}, {pluginRef: queue-scorer}",
        "[{pluginRef: prefill-filter}, {pluginRef: prefix-cache-scorer}")
    p1, p2, dec = Stub(), Stub(), Stub()
    e = LabelledEpp([(p1, {"llm-d.ai/role": "prefill"}), (p2, {"llm-d.ai/role": "prefill"}),
                     (dec, {"llm-d.ai/role": "decode"})], sched)
    e.wait_ready(3)
    res = e.requests([completion("a long shared document " * 200) for _ in range(6)])
    picks = [r["setHeaders"].get("x-prefiller-host-port") for r in res]
    check(all(r.get("grpcCode") == 0 for r in res), "all routed: %r" % res)
    check(len(set(picks)) == 1 and picks[0] in (p1.address, p2.address), "picks %r" % picks)


@test
def test_pd_without_a_ready_prefill_endpoint_is_503_or_decode_only():
    dec = Stub()
    e = LabelledEpp([(dec, {"llm-d.ai/role": "decode"})], PD_SCHED)
    e.wait_ready(1)
    r = e.requests([completion("x", response=None)])[0]
    im = r.get("immediate")
    check(im and im["status"] == 503 and json.loads(im["body"])["error"]["code"] ==
          "no_prefill_endpoint", "no prefill endpoint, no fallback: 503: %r" % r)
    e2 = LabelledEpp([(dec, {"llm-d.ai/role": "decode"})], PD_SCHED,
                     extra="  disaggregation: {fallback: decode-only}\n")
    e2.wait_ready(1)
    r = e2.requests([completion("x")])[0]
    check(r.get("grpcCode") == 0 and dest(r) == dec.address and
          "x-prefiller-host-port" in r["removeHeaders"], "fallback decode-only: %r" % r)


@test
def test_no_pd_strips_a_client_prefiller_header():
    ss = [Stub()]
    e = Epp.start(ss)
    e.wait_ready(1)
    r = e.requests([completion(headers={"x-prefiller-host-port": "10.9.9.9:1"})])[0]
    check(r.get("grpcCode") == 0 and "x-prefiller-host-port" in r["removeHeaders"] and
          "x-prefiller-host-port" not in r["setHeaders"],
          "a client cannot steer the sidecar: %r" % r)


@test
def test_emit_endpoint_scores_metadata():
    ss = [Stub(), Stub()]
    ss[0].waiting = 5
    sched = RR.replace("round-robin-picker", "max-score-picker").replace(
        "    - type: max-score-picker\n", "    - type: queue-scorer\n    - type: max-score-picker\n"
    ).replace("        - pluginRef: max-score-picker\n",
              "        - pluginRef: queue-scorer\n        - pluginRef: max-score-picker\n")
    e = LabelledEpp([(s, {}) for s in ss], sched, xp_extra="  emitEndpointScores: true\n")
    e.wait_ready(2)
    time.sleep(0.2)
    r = e.requests([completion()])[0]
    scores = r["metadata"]["envoy.lb"].get("x-gateway-destination-endpoint-scores")
    check(isinstance(scores, dict) and set(scores) == {s.address for s in ss},
          "a score per candidate: %r" % r["metadata"])
    check(all(isinstance(v, (int, float)) for v in scores.values()), "numbers: %r" % scores)
    check(dest(r) == ss[1].address and scores[ss[1].address] > scores[ss[0].address],
          "the pick has the best score: %r" % scores)
    # off by default
    e2 = Epp.start(ss, scheduler=sched)
    e2.wait_ready(2)
    r = e2.requests([completion()])[0]
    check("x-gateway-destination-endpoint-scores" not in r["metadata"]["envoy.lb"],
          "not emitted by default: %r" % r["metadata"])


@test
def test_configured_request_parsers_apply_as_in_the_gateway():
    def sched(body):
        return ("scheduler:\n  apiVersion: llm-d.ai/v1alpha1\n  kind: EndpointPickerConfig\n" +
                "".join("  " + l + "\n" for l in body.strip("\n").split("\n")))
    ss = [Stub()]
    e = Epp.start(ss, scheduler=sched("plugins:\n- type: openai-parser\nrequestHandler:\n"
                                      "  parsers:\n  - pluginRef: openai-parser\n"))
    e.wait_ready(1)
    msg = json.dumps({"model": "m1", "max_tokens": 2,
                      "messages": [{"role": "user", "content": "x"}]})
    res = e.requests([{"path": "/v1/messages", "body": msg, "response": None},
                      completion()])
    im = res[0].get("immediate")
    check(im and im["status"] == 404 and
          "requestHandler.parsers" in json.loads(im["body"])["error"]["message"],
          "no configured parser reads /v1/messages: %r" % res[0])
    check(res[1].get("grpcCode") == 0 and dest(res[1]) == ss[0].address, "openai routed")
    e2 = Epp.start(ss, scheduler=sched("plugins:\n- type: passthrough-parser\n"
                                       "requestHandler:\n  parsers:\n"
                                       "  - pluginRef: passthrough-parser\n"))
    e2.wait_ready(1)
    r = e2.requests([{"path": "/v1/chat/completions", "body": "{not json",
                      "response": {"status": 200, "chunks": ["{}"]}}])[0]
    check(r.get("grpcCode") == 0 and dest(r) == ss[0].address and "immediate" not in r and
          r["bodyBackSha"] == r["bodySha"], "passthrough: scheduled unread: %r" % r)


@test
def test_eviction_of_a_routed_sheddable_stream_is_an_immediate_429():
    ss = [Stub()]
    e = Epp.start(ss, scheduler=flow_sched(flow="    enableEviction: true\n"),
                  extra="inferenceObjectives:\n  - {name: interactive, priority: 10}\n"
                        "  - {name: batch, priority: -1}\n")
    e.wait_ready(1)
    res = e.requests([
        completion("batch", headers={"x-gateway-inference-objective": "batch"},
                   delayResponseMs=3000),
        completion("inter", headers={"x-gateway-inference-objective": "interactive"},
                   startDelayMs=400)], concurrency=2)
    b, i = res
    check(dest(b) == ss[0].address, "batch was routed first: %r" % b)
    im = b.get("immediate")
    check(im and im["status"] == 429 and
          im["headers"].get("x-llm-d-request-dropped-reason") == "evicted",
          "the routed sheddable stream is evicted: %r" % b)
    check(i.get("grpcCode") == 0 and dest(i) == ss[0].address and "immediate" not in i,
          "the interactive one got the capacity: %r" % i)
    m, _ = metrics(e.admin)
    check(m.get("llm_d_epp_flow_control_evictions_total") == 1, "eviction counted")


if __name__ == "__main__":
    run()
