"""Integration tests for the llm-d plugins added for conformance (issue 18), with the real
binaries: the router's basic sample config (router-v0.9_epp-config.yaml, with models-responder)
in front of `switchyard sim`, /v1/models answered by the gateway, and the new plugins steering
which backend serves (x-gateway-destination-endpoint), as a client sees it."""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, consecutive_ports, free_ports, post_json, request,  # noqa: E402
                     run, start_process, stop_process, test, wait_port, wait_until, write_file)
from stub_server import Stub  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "..", "shared", "fixtures", "llm-d-configs",
                       "router-v0.9_epp-config.yaml")
MODEL = "sim-model"


def start_sims(n):
    base = consecutive_ports(n)
    p = start_process([BIN, "sim", "--port", str(base), "--replicas", str(n), "--model", MODEL,
                       "--time-scale", "50"])
    for i in range(n):
        wait_port(base + i, proc=p)
    return p, ["127.0.0.1:%d" % (base + i) for i in range(n)]


def start_gateway(endpoints, scheduler):
    """endpoints: list of (address, labels dict or None). scheduler: YAML text at top level."""
    lp, ap = free_ports(2)
    eps = ""
    for addr, labels in endpoints:
        eps += "    - address: %s\n" % addr
        if labels:
            eps += "      labels: {%s}\n" % ", ".join("%s: %s" % kv for kv in labels.items())
    text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 2\n" % (lp, ap) +
            "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  endpoints:\n" + eps +
            "timeouts:\n  connect: 500ms\n  request: 5s\n  idle: 5s\n  drain: 5s\n" + scheduler)
    proc = start_process([BIN, "gateway", "--config", write_file(text)])
    wait_port(lp, proc=proc)
    wait_port(ap, proc=proc)
    return proc, lp, ap


def wait_ready(admin, n):
    def ready():
        st, _, body = request(admin, "GET", "/debug/endpoints")
        return st == 200 and sum(1 for e in json.loads(body)["endpoints"] if e["ready"]) == n
    wait_until(ready, 10, what="endpoints ready")


def complete(port, prompt, headers=None, model=MODEL):
    st, h, body = post_json(port, "/v1/completions",
                            {"model": model, "prompt": prompt, "max_tokens": 3}, headers=headers)
    check(st == 200, "status %d %r" % (st, body[:300]))
    return h["x-gateway-destination-endpoint"], h


@test
def test_router_basic_fixture_with_models_responder():
    sim, addrs = start_sims(2)
    gw, port, admin = start_gateway([(a, None) for a in addrs],
                                    "schedulerFile: %s\n" % os.path.abspath(FIXTURE))
    wait_ready(admin, 2)

    def models():
        st, h, body = request(port, "GET", "/v1/models")
        return st, h, body
    # the scraper fetches each endpoint's /v1/models; the gateway answers from those lists
    wait_until(lambda: models()[0] == 200, 10, what="/v1/models answered")
    st, h, body = models()
    check(h.get("content-type", "").startswith("application/json"), "content type %r" % h)
    j = json.loads(body)
    check(j["object"] == "list", "list object: %r" % j)
    check([m["id"] for m in j["data"]] == [MODEL], "one entry per unique model id: %r" % j)
    m = j["data"][0]
    # the model server's own public fields, and only those (no root/parent/max_model_len)
    check(m.get("object") == "model" and m.get("owned_by") == "vllm" and m.get("created", 0) > 0,
          "server's fields: %r" % m)
    check(set(m) <= {"id", "object", "created", "owned_by", "shutdown_date"}, "fields %r" % m)
    check("x-gateway-destination-endpoint" not in h, "answered by the gateway, not forwarded")
    st, _, body2 = request(port, "GET", "/v1/models/")
    check(st == 200 and json.loads(body2)["data"][0]["id"] == MODEL, "trailing slash matches")
    # inference goes through the fixture's profile (decode-filter, prefix-cache-scorer x2)
    seen = collections.Counter(complete(port, "hello %d " % i * 40)[0] for i in range(8))
    check(set(seen) <= set(addrs) and sum(seen.values()) == 8, "served by the sims: %r" % seen)
    # the same long prompt sticks (prefix-cache-scorer) to one simulator
    sticky = set(complete(port, "shared system prompt " * 60 + "q%d" % i)[0] for i in range(5))
    check(len(sticky) == 1, "prefix affinity: %r" % sticky)
    stop_process(gw)
    stop_process(sim)


@test
def test_models_responder_503_before_any_list():
    # an endpoint that never answers: no model list collected -> 503, so clients retry
    dead = "127.0.0.1:%d" % free_ports(1)[0]
    gw, port, admin = start_gateway([(dead, None)],
                                    "scheduler:\n  plugins:\n  - type: models-responder\n"
                                    "  - type: max-score-picker\n")
    st, _, body = request(port, "GET", "/v1/models")
    check(st == 503, "503 while nothing is collected: %d %r" % (st, body))
    e = json.loads(body)["error"]
    check("no model data collected yet" in e["message"], "error %r" % e)
    stop_process(gw)


@test
def test_header_label_affinity_steers_to_the_labelled_sim():
    sim, addrs = start_sims(3)
    zones = ["zone-a", "zone-b", "zone-c"]
    cfg = """
scheduler:
  plugins:
  - type: header-label-affinity-scorer
    name: zone-affinity
    parameters:
      headerName: X-Preferred-Zone
      labelKey: topology.kubernetes.io/zone
  - type: queue-scorer
  - type: max-score-picker
  schedulingProfiles:
  - name: default
    plugins:
    - pluginRef: zone-affinity
      weight: 5
    - pluginRef: queue-scorer
      weight: 1
"""
    gw, port, admin = start_gateway(
        [(a, {"topology.kubernetes.io/zone": z}) for a, z in zip(addrs, zones)], cfg)
    wait_ready(admin, 3)
    for want, zone in zip(addrs, zones):
        for i in range(4):
            ep, _ = complete(port, "p%d" % i, headers={"x-preferred-zone": zone})
            check(ep == want, "zone %s -> %s, served by %s" % (zone, want, ep))
    # an unknown zone is a soft miss: still served
    ep, _ = complete(port, "p", headers={"x-preferred-zone": "zone-z"})
    check(ep in addrs, "soft miss served by %s" % ep)
    stop_process(gw)
    stop_process(sim)


@test
def test_session_id_filter_pins_sessions_without_a_token():
    sim, addrs = start_sims(3)
    cfg = """
scheduler:
  plugins:
  - type: session-affinity-filter
    parameters:
      strategy: session_id
      sessionIdConfig:
        sources:
        - header: x-conversation
  - type: round-robin-picker
"""
    gw, port, admin = start_gateway([(a, None) for a in addrs], cfg)
    wait_ready(admin, 3)
    first = {}
    for turn in range(4):
        for s in ("s1", "s2", "s3"):
            ep, h = complete(port, "turn %d" % turn, headers={"x-conversation": s})
            check("x-session-token" not in h, "session_id writes nothing back: %r" % h)
            first.setdefault(s, ep)
            check(ep == first[s], "session %s stays on %s, got %s" % (s, first[s], ep))
    check(len(set(first.values())) == 3, "new sessions follow the picker: %r" % first)
    stop_process(gw)
    stop_process(sim)


@test
def test_custom_session_header_and_utilization_and_attribute():
    a, b, c = Stub(), Stub(), Stub()
    a.waiting, b.waiting, c.waiting = 30, 0, 5
    cfg = """
scheduler:
  plugins:
  - type: utilization-filter
    parameters:
      conditions:
      - metric: waiting-queue
        maxValue: 10
  - type: endpoint-attribute-scorer
    parameters:
      attributeKey: vllm:num_requests_waiting
      algorithm:
        type: linear_lower_is_better
  - type: session-affinity-scorer
    parameters:
      encodedEndpointHeaderConfig:
        header: X-My-Session
  - type: max-score-picker
  schedulingProfiles:
  - name: default
    plugins:
    - pluginRef: utilization-filter
    - pluginRef: endpoint-attribute-scorer
      weight: 1
    - pluginRef: session-affinity-scorer
      weight: 10
"""
    gw, port, admin = start_gateway([(s.address, None) for s in (a, b, c)], cfg)
    wait_ready(admin, 3)
    wait_until(lambda: complete(port, "x", model="m1")[0] == b.address, 10,
               what="the emptiest queue wins (attribute from /metrics)")
    ep, h = complete(port, "x", model="m1")
    token = h.get("x-my-session")
    check(token and "x-session-token" not in h, "token in the configured header: %r" % h)
    # pinned to c through the custom header, though b scores better on the attribute
    import base64
    tok_c = base64.b64encode(c.address.encode()).decode()
    for _ in range(3):
        ep, h = complete(port, "y", model="m1", headers={"x-my-session": tok_c})
        check(ep == c.address, "custom session header pins c, got %s" % ep)
    # a over the utilization cap is never chosen, even when pinned
    tok_a = base64.b64encode(a.address.encode()).decode()
    ep, _ = complete(port, "z", model="m1", headers={"x-my-session": tok_a})
    check(ep != a.address, "utilization-filter drops a")
    stop_process(gw)
    for s in (a, b, c):
        s.stop()


if __name__ == "__main__":
    run()
