"""Integration tests for `switchyard epp`: the endpoint picker driven over ext_proc by a real gRPC
client (@grpc/grpc-js + @grpc/proto-loader, tests/node/epp_client.mjs) the way Envoy drives
llm-d's EPP, over h2c and TLS; stub model servers supply readiness, models and metrics.

What a test asserts is what Envoy would act on: the header mutation
(x-gateway-destination-endpoint, Content-Length), dynamic_metadata["envoy.lb"], the body
streamed back in <= 62,000-byte chunks, immediate_response status and OpenAI error JSON, gRPC
health answers, in-flight accounting seen on /metrics and /debug/endpoints.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, ROOT, check, free_ports, metrics, request, run, start_process,  # noqa
                     stop_process, test, wait_port, wait_until, write_file, process_log)
from stub_server import Stub  # noqa: E402

NODE_DIR = os.path.join(ROOT, "tests", "node")
CLIENT = os.path.join(NODE_DIR, "epp_client.mjs")

RR = """
scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
    - type: round-robin-picker
  schedulingProfiles:
    - name: default
      plugins:
        - pluginRef: round-robin-picker
"""

PREFIX = """
scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
    - type: prefix-cache-scorer
    - type: max-score-picker
  schedulingProfiles:
    - name: default
      plugins:
        - pluginRef: prefix-cache-scorer
        - pluginRef: max-score-picker
"""


def ensure_node():
    """tests/node's packages (npm ci from the lockfile when @grpc/grpc-js is missing)."""
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@grpc", "grpc-js")):
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                           capture_output=True, timeout=300)
        check(p.returncode == 0, "npm ci: %s" % (p.stdout + p.stderr).decode()[-2000:])


class Epp:
    def __init__(self, stubs, secure=False, scheduler=RR, extra="", cert=None):
        self.xp, self.health, self.admin = free_ports(3)
        eps = "".join("    - address: %s\n" % s.address for s in stubs)
        tls = "  secureServing: %s\n" % ("true" if secure else "false")
        if cert:
            tls += "  certFile: %s\n  keyFile: %s\n" % cert
        text = ("admin: 127.0.0.1:%d\n" % self.admin + "workers: 2\n"
                "extProc:\n  listen: 127.0.0.1:%d\n  healthListen: 127.0.0.1:%d\n" %
                (self.xp, self.health) + tls +
                "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  endpoints:\n" + eps +
                "limits:\n  maxBodyBytes: 2MiB\n" + extra + scheduler)
        self.path = write_file(text)
        self.secure = secure
        self.proc = start_process([BIN, "epp", "--config", self.path])
        for p in (self.xp, self.health, self.admin):
            wait_port(p, proc=self.proc)

    @classmethod
    def start(cls, *a, **kw):
        """Starts one, choosing new ports when a chosen one was taken meanwhile."""
        for attempt in range(3):
            try:
                return cls(*a, **kw)
            except RuntimeError as ex:
                if "Address already in use" not in str(ex) or attempt == 2:
                    raise

    def wait_ready(self, n, timeout=10):
        def ready():
            st, _, body = request(self.admin, "GET", "/debug/endpoints")
            return sum(1 for e in json.loads(body)["endpoints"] if e["ready"]) == n
        wait_until(ready, timeout, what="endpoints ready")

    def drive(self, scenario, port=None, ca=None, timeout=60, tls=None):
        path = write_file(json.dumps(scenario), suffix=".json")
        args = ["node", CLIENT, "127.0.0.1:%d" % (port or self.xp)]
        if self.secure if tls is None else tls:
            args.append("--tls")
        if ca:
            args += ["--ca", ca]
        args.append(path)
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=NODE_DIR)
        check(out.returncode == 0, "node client failed: %s\n%s" % (out.stderr[-2000:],
                                                                   process_log(self.proc)[-2000:]))
        return json.loads(out.stdout.strip().splitlines()[-1])

    def requests(self, reqs, concurrency=1, **kw):
        return self.drive({"requests": reqs, "concurrency": concurrency}, **kw)["results"]

    def health_of(self, services, port=None, **kw):
        """grpc.health.v1 answers: healthListen is always plaintext (kubelet's gRPC probes speak
        no TLS); the ext_proc port follows secureServing."""
        port = port or self.health
        kw.setdefault("tls", self.secure and port == self.xp)
        return self.drive({"health": services}, port=port, **kw)["health"]


def completion(prompt="hello", model="m1", **kw):
    r = {"path": "/v1/completions",
         "body": json.dumps({"model": model, "prompt": prompt, "max_tokens": 5}),
         "response": {"status": 200, "headers": {"content-type": "application/json"},
                      "chunks": ['{"id":"x","choices":[{"text":"hi"}],',
                                 '"usage":{"prompt_tokens":7,"completion_tokens":3}}']}}
    r.update(kw)
    return r


def dest(r):
    """The chosen endpoint: the first of x-gateway-destination-endpoint's list."""
    return (r["setHeaders"].get("x-gateway-destination-endpoint") or "").split(",")[0]


def stubs(n, **kw):
    return [Stub(**kw) for _ in range(n)]


@test
def test_routes_over_h2c_with_header_metadata_and_body_back():
    ensure_node()
    ss = stubs(2)
    e = Epp.start(ss)
    e.wait_ready(2)
    res = e.requests([completion("p%d" % i) for i in range(4)])
    addrs = {s.address for s in ss}
    seen = []
    for r in res:
        check(r.get("grpcCode") == 0, "stream ended OK: %r" % r)
        d = dest(r)
        check(d in addrs, "destination is a pool endpoint: %r" % r)
        fallbacks = r["setHeaders"]["x-gateway-destination-endpoint"].split(",")
        check(len(fallbacks) == 2 and set(fallbacks) == addrs,
              "the pick, then the other ready endpoint for retries: %r" % fallbacks)
        check(r["metadata"].get("envoy.lb", {}).get("x-gateway-destination-endpoint") == d,
              "dynamic_metadata envoy.lb carries the destination: %r" % r["metadata"])
        check(r["clearRouteCache"], "clear_route_cache set")
        check(r["setHeaders"].get("content-length") == str(len(completion("p0")["body"])) or
              int(r["setHeaders"]["content-length"]) > 0, "content-length set")
        check(r["bodyBackSha"] == r["bodySha"], "body streamed back unchanged")
        check(r["respChunks"] >= 1 and '"usage"' in r["respBackText"], "response echoed")
        seen.append(d)
    check(set(seen) == addrs, "round robin over both endpoints: %r" % seen)
    # the observers ran: requests counted with their usage, nothing left in flight
    m, _ = metrics(e.admin)
    total = sum(v for k, v in m.items() if k.startswith("inference_objective_request_total"))
    check(total >= 4, "requests counted on /metrics: %r" % total)
    st, _, body = request(e.admin, "GET", "/debug/endpoints")
    for ep in json.loads(body)["endpoints"]:
        check(ep.get("inflight_requests", 0) == 0 and ep.get("inflight_decode_tokens", 0) == 0,
              "in-flight released: %r" % ep)


@test
def test_large_body_many_chunks_streamed_back_in_62000_byte_pieces():
    ss = stubs(2)
    e = Epp.start(ss)
    e.wait_ready(2)
    res = e.requests([{"path": "/v1/completions", "bodyBytes": 400000, "chunk": 7000,
                       "response": {"status": 200, "chunks": ['{"ok":1}']}}])
    r = res[0]
    check(r.get("grpcCode") == 0, "ok: %r" % r)
    check(r["bodyBackLen"] == 400000 and r["bodyBackSha"] == r["bodySha"],
          "whole body back: %r" % {k: v for k, v in r.items() if k != "respBackText"})
    check(r["maxChunk"] <= 62000 and r["chunks"] == (400000 + 61999) // 62000,
          "62,000-byte chunks: %r" % r)
    check(r["setHeaders"]["content-length"] == "400000", "content-length")


@test
def test_prefix_affinity_keeps_a_shared_prefix_on_one_endpoint():
    ss = stubs(3)
    e = Epp.start(ss, scheduler=PREFIX)
    e.wait_ready(3)
    long = "You are a helpful assistant. " * 200
    res = e.requests([completion(long + "question %d" % i) for i in range(6)])
    dests = [dest(r) for r in res]
    check(len(set(dests[1:])) == 1 and dests[1] == dests[0],
          "shared prefix sticks to one endpoint: %r" % dests)
    lists = [r["setHeaders"]["x-gateway-destination-endpoint"].split(",") for r in res]
    check(all(len(set(l)) == 3 == len(l) for l in lists),
          "retry.maxAttempts (3) endpoints, distinct, the pick first: %r" % lists)


@test
def test_max_attempts_one_sends_a_single_endpoint():
    ss = stubs(3)
    e = Epp.start(ss, extra="retry:\n  maxAttempts: 1\n")
    e.wait_ready(3)
    r = e.requests([completion()])[0]
    check("," not in r["setHeaders"]["x-gateway-destination-endpoint"], "one: %r" % r)


@test
def test_errors_are_immediate_responses_with_openai_json():
    ss = stubs(1)
    e = Epp.start(ss)
    e.wait_ready(1)
    res = e.requests([
        {"path": "/v1/completions", "body": "{not json", "response": None},
        completion(model="no-such-model", response=None),
        {"path": "/v1/completions", "bodyBytes": 3 << 20, "chunk": 65536, "response": None},
    ])
    st = [r.get("immediate", {}).get("status") for r in res]
    check(st == [400, 404, 413], "statuses: %r" % st)
    for r in res:
        err = json.loads(r["immediate"]["body"])["error"]
        check({"message", "type", "code"} <= set(err), "OpenAI error shape: %r" % err)
        check(r["immediate"]["headers"].get("content-type") == "application/json", "json")
    # every endpoint down: 503 with the dropped-reason header
    ss[0].metrics_status = 500
    wait_until(lambda: json.loads(request(e.admin, "GET", "/ready")[2])["ready_endpoints"] == 0,
               10, what="endpoint not ready")
    r = e.requests([completion(response=None)])[0]
    check(r["immediate"]["status"] == 503, "503: %r" % r)
    check("x-llm-d-request-dropped-reason" in r["immediate"]["headers"], "dropped reason")


@test
def test_subset_hint_restricts_the_choice():
    ss = stubs(3)
    e = Epp.start(ss)
    e.wait_ready(3)
    only = ss[2].address
    res = e.requests([completion("s%d" % i, subset=[only]) for i in range(4)] +
                     [completion(subset=["10.9.9.9:1"], response=None)])
    for r in res[:4]:
        check(r["setHeaders"]["x-gateway-destination-endpoint"] == only,
              "subset (no fallback outside it): %r" % r)
    check(res[4]["immediate"]["status"] == 503, "empty subset -> 503: %r" % res[4])


@test
def test_bodyless_request_goes_to_a_random_ready_endpoint():
    ss = stubs(2)
    e = Epp.start(ss)
    e.wait_ready(2)
    res = e.requests([{"method": "GET", "path": "/v1/models",
                       "response": {"status": 200, "chunks": ["{}"]}} for _ in range(12)])
    ds = {r["setHeaders"].get("x-gateway-destination-endpoint") for r in res}  # one each
    check(ds <= {s.address for s in ss} and len(ds) == 2, "random over ready: %r" % ds)


@test
def test_envoy_reset_mid_request_releases_in_flight():
    ss = stubs(2)
    e = Epp.start(ss)
    e.wait_ready(2)
    res = e.requests([completion("r%d" % i, resetAfterRoute=True) for i in range(6)],
                     concurrency=3)
    check(all(r.get("grpcCode") == 1 for r in res), "cancelled: %r" % [r.get("grpcCode")
                                                                      for r in res])

    def released():
        st, _, body = request(e.admin, "GET", "/debug/endpoints")
        return all(ep.get("inflight_requests", 0) == 0 for ep in json.loads(body)["endpoints"])
    wait_until(released, 10, what="in-flight back to 0 after resets")
    # the EPP still serves
    r = e.requests([completion()])[0]
    check(r.get("grpcCode") == 0, "serves after resets: %r" % r)


@test
def test_in_flight_counted_while_the_response_streams():
    ss = stubs(1)
    e = Epp.start(ss)
    e.wait_ready(1)
    # the response starts 1.5 s after the decision: meanwhile one request is in flight
    import threading
    out = {}

    def drive():
        out["r"] = e.requests([completion(response={"status": 200, "chunks": ["{}"]},
                                          delayResponseMs=1500)])
    t = threading.Thread(target=drive)
    t.start()

    def inflight():
        st, _, body = request(e.admin, "GET", "/debug/endpoints")
        return json.loads(body)["endpoints"][0].get("inflight_requests", 0)
    saw = False
    deadline = time.time() + 20
    while time.time() < deadline and t.is_alive():
        if inflight() == 1:
            saw = True
        time.sleep(0.02)
    t.join(30)
    check(out.get("r") and out["r"][0].get("grpcCode") == 0, "finished: %r" % out)
    check(inflight() == 0, "released at the end")
    check(saw, "one request in flight between the decision and the response's end")


@test
def test_served_endpoint_metadata_moves_the_in_flight_count():
    """Envoy reports where the request really went (it retried to a fallback): the in-flight
    count follows it while the response streams."""
    import threading
    ss = stubs(2)
    e = Epp.start(ss)
    e.wait_ready(2)
    out = {}

    def counts():
        body = json.loads(request(e.admin, "GET", "/debug/endpoints")[2])
        return {ep["address"]: ep.get("inflight_requests", 0) for ep in body["endpoints"]}
    # the first request learns which endpoint round robin picks next; the second is then
    # reported as served by the other one
    first = dest(e.requests([completion("a")])[0])
    other = [s.address for s in ss if s.address != first][0]
    t = threading.Thread(target=lambda: out.update(r=e.requests([completion(
        "b", response={"status": 200, "chunks": ["{}"], "served": first},
        delayBodyMs=2000)])))
    t.start()
    saw = False
    deadline = time.time() + 20
    while time.time() < deadline and t.is_alive():
        c = counts()
        if c.get(first) == 1 and c.get(other) == 0:
            saw = True
            break
        time.sleep(0.02)
    t.join(30)
    check(dest(out["r"][0]) == other, "round robin picked the other endpoint: %r" % out)
    check(saw, "in flight on the served endpoint, not the picked one")
    check(all(v == 0 for v in counts().values()), "all released: %r" % counts())


def chat_stream(gates, chunks, max_tokens=10):
    body = {"model": "m1", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return {"path": "/v1/chat/completions", "body": json.dumps(body),
            "response": {"status": 200, "headers": {"content-type": "text/event-stream"},
                         "chunks": chunks, "gates": gates}}


def tok(t):
    return 'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n' % t


ROLE = 'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'


@test
def test_streamed_tokens_move_the_decode_work_left():
    """The EPP counts a streamed response's token events as the proxy does (pool/decode.c), so
    cache-load-scorer's decodedWeight sees the request's progress: an event split across
    response_body messages counts once, when its end arrives; usage's completion_tokens at the
    end feeds the endpoint's mean output length; the end, and an aborted stream, release it all."""
    import threading
    ss = stubs(1)
    e = Epp.start(ss)
    e.wait_ready(1)
    tmp = tempfile.mkdtemp(prefix="sy-epp-gates-")

    def ep():
        return json.loads(request(e.admin, "GET", "/debug/endpoints")[2])["endpoints"][0]

    def at(left, what):
        wait_until(lambda: ep()["inflight_decode_tokens"] == left, 10,
                   what="%s: decode tokens left %d (now %r)" % (what, left, ep()))

    def gate(name, text="go"):
        write = os.path.join(tmp, name)
        with open(write + ".tmp", "w") as f:
            f.write(text)
        os.rename(write + ".tmp", write)

    try:
        # 1: role + two tokens | a third token and the start ("da") of a fourth | the rest of the
        # fourth | usage + [DONE]
        chunks = [ROLE + tok("a") + tok("b"), tok("c") + "da",
                  tok("d")[2:], 'data: {"choices":[],"usage":{"prompt_tokens":3,'
                  '"completion_tokens":4}}\n\ndata: [DONE]\n\n']
        gates = [None] + [os.path.join(tmp, "g%d" % i) for i in (1, 2, 3)]
        out = {}
        t = threading.Thread(target=lambda: out.update(r=e.requests([chat_stream(gates, chunks)])))
        t.start()
        at(8, "after two tokens")
        check(abs(ep()["inflight_decoded"] - 0.2) < 1e-3, "decoded share 2/10: %r" % ep())
        check(ep()["inflight_requests"] == 1, "one in flight: %r" % ep())
        gate("g1")
        at(7, "the split event is not counted before its end")
        gate("g2")
        at(6, "the split event counted once its newline arrived")
        check(abs(ep()["inflight_decoded"] - 0.4) < 1e-3, "decoded share 4/10: %r" % ep())
        gate("g3")
        t.join(30)
        check(out.get("r") and out["r"][0].get("grpcCode") == 0, "finished: %r" % out)
        wait_until(lambda: ep()["inflight_requests"] == 0, 10, what="released")
        check(ep()["inflight_decode_tokens"] == 0 and ep()["inflight_decoded"] == 0,
              "decode work released: %r" % ep())

        # 2: no max_tokens: the budget is the endpoint's mean, usage's 4 from the request above;
        # the stream is reset after one token
        gates = [None, os.path.join(tmp, "r1")]
        t = threading.Thread(target=lambda: out.update(r2=e.requests(
            [chat_stream(gates, [ROLE + tok("a"), tok("b")], max_tokens=None)])))
        t.start()
        at(3, "budget from the mean (4), one token generated")
        check(abs(ep()["inflight_decoded"] - 0.25) < 1e-3, "decoded share 1/4: %r" % ep())
        gate("r1", "reset")
        t.join(30)
        check(out.get("r2") and out["r2"][0].get("reset"), "reset: %r" % out.get("r2"))
        wait_until(lambda: ep()["inflight_requests"] == 0, 10, what="released after the reset")
        check(ep()["inflight_decode_tokens"] == 0 and ep()["inflight_decoded"] == 0,
              "decode work released after the reset: %r" % ep())
        check(ep()["inflight_tokens"] == 0, "tokens released: %r" % ep())

        # 3: splits inside the JSON of an event, CRLF line ends split between \r and \n, and a
        # line longer than the 64 KiB the EPP keeps across messages (dropped, not buffered)
        def crlf(t):
            return tok(t).replace("\n", "\r\n")
        b, c = tok("b"), crlf("c")
        chunks = [ROLE + tok("a"), b[:30], b[30:] + c[:-3], c[-3:] + crlf("e"),
                  tok("f") + "data: " + "x" * 70000, "\n\n" + tok("g"),
                  'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":6}}\r\n'
                  '\r\ndata: [DONE]\r\n\r\n']
        gates = [None] + [os.path.join(tmp, "s%d" % i) for i in range(1, len(chunks))]
        t = threading.Thread(target=lambda: out.update(r3=e.requests([chat_stream(gates, chunks)])))
        t.start()
        at(9, "one token")
        gate("s1")
        at(9, "an event split inside its JSON is not counted before its end")
        gate("s2")
        at(8, "the split event counted; the CRLF event cut before its \\n not yet")
        gate("s3")
        at(6, "CRLF events counted")
        gate("s4")
        at(5, "the token before an over-long line counted")
        gate("s5")
        at(4, "the token after the over-long line counted")
        check(ep()["inflight_requests"] == 1, "one in flight: %r" % ep())
        gate("s6")
        t.join(30)
        check(out.get("r3") and out["r3"][0].get("grpcCode") == 0, "finished: %r" % out.get("r3"))
        wait_until(lambda: ep()["inflight_requests"] == 0, 10, what="released after splits")
        check(ep()["inflight_decode_tokens"] == 0 and ep()["inflight_decoded"] == 0,
              "decode work released after splits: %r" % ep())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        stop_process(e.proc)


@test
def test_program_aware_fairness_charges_the_response_usage():
    """program-aware-fairness charges a completed request's usage (1 x prompt + 2 x completion)
    to its program, as the gateway does: the EPP hands the flow controller the usage it scanned
    from the response (before, it released the flow with nothing and the program stayed at 0).
    Without a usage object the prompt estimate stands in once a response came."""
    ss = stubs(1)
    sched = ("scheduler:\n  apiVersion: llm-d.ai/v1alpha1\n  kind: EndpointPickerConfig\n"
             "  featureGates: [flowControl]\n  plugins:\n    - type: round-robin-picker\n"
             "    - {type: concurrency-detector, name: det, parameters: {maxConcurrency: 10}}\n"
             "    - {type: program-aware-fairness, name: las}\n"
             "  flowControl:\n    saturationDetector: {pluginRef: det}\n"
             "    defaultPriorityBand: {fairnessPolicyRef: las}\n")
    e = Epp.start(ss, scheduler=sched)
    try:
        e.wait_ready(1)
        r = e.requests([completion(headers={"x-llm-d-inference-fairness-id": "p1"})])
        check(r[0].get("grpcCode") == 0, "answered: %r" % r)
        served = 'llm_d_epp_program_aware_attained_service_tokens{program_id="p1"}'

        def value():
            return metrics(e.admin)[0].get(served, 0)
        # usage 7 + 2 x 3 = 13 (halving every 60 s: a few ms of decay at most)
        wait_until(lambda: value() > 12.9, 10, what="program p1 charged 13 (now %r)" % value())
        check(value() <= 13, "charged %r, want 13" % value())
    finally:
        stop_process(e.proc)


@test
def test_health_services_and_drain():
    ss = stubs(1)
    e = Epp.start(ss)
    h = e.health_of(["", "liveness", "readiness", "envoy.service.ext_proc.v3.ExternalProcessor"])
    check(h["liveness"] == "SERVING", "liveness: %r" % h)
    e.wait_ready(1)
    for port in (e.health, e.xp):
        h = e.health_of(["", "readiness", "envoy.service.ext_proc.v3.ExternalProcessor",
                         "inference-extension"], port=port)
        check(all(v == "SERVING" for v in h.values()), "serving on %d: %r" % (port, h))
    ss[0].metrics_status = 500
    wait_until(lambda: json.loads(request(e.admin, "GET", "/ready")[2])["ready_endpoints"] == 0,
               10, what="endpoint not ready")
    h = e.health_of(["", "readiness", "liveness"])
    check(h["readiness"] == "NOT_SERVING" and h[""] == "NOT_SERVING", "not serving: %r" % h)
    check(h["liveness"] == "SERVING", "still alive: %r" % h)
    check(stop_process(e.proc) == 0, "drains and exits 0")


@test
def test_tls_with_alpn_h2_self_signed_and_given_certificate():
    ss = stubs(2)
    e = Epp.start(ss, secure=True)
    e.wait_ready(2)
    r = e.requests([completion()])[0]
    check(r.get("grpcCode") == 0 and r["setHeaders"].get("x-gateway-destination-endpoint"),
          "routes over TLS (self-signed): %r" % r)
    check(e.health_of([""], port=e.xp)[""] == "SERVING", "health over TLS on the ext_proc port")
    check(e.health_of([""])[""] == "SERVING", "plaintext health on healthListen")
    stop_process(e.proc)
    # a certificate the client verifies
    d = tempfile.mkdtemp(prefix="sy-epp-tls-")
    crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", crt],
                   check=True, capture_output=True, timeout=30)
    e2 = Epp.start(ss, secure=True, cert=(crt, key))
    e2.wait_ready(2)
    r = e2.requests([completion()], ca=crt)[0]
    check(r.get("grpcCode") == 0, "routes with a verified certificate: %r" % r)
    shutil.rmtree(d, ignore_errors=True)


def grpc_frame(payload, flag=0):
    return bytes([flag]) + len(payload).to_bytes(4, "big") + payload


def h2_call(port, path, data):
    """One HTTP/2 request with raw gRPC DATA bytes (tests/node/h2_raw.mjs); grpc-status."""
    out = subprocess.run(["node", os.path.join(NODE_DIR, "h2_raw.mjs"), "127.0.0.1:%d" % port,
                          path] + [d.hex() for d in data], capture_output=True, text=True,
                         timeout=30, cwd=NODE_DIR)
    check(out.returncode == 0, "h2_raw: %s" % out.stderr[-1000:])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["status"], r["message"]


@test
def test_malformed_grpc_frames_get_grpc_errors_and_the_server_lives():
    ss = stubs(1)
    e = Epp.start(ss)
    e.wait_ready(1)
    P = "/envoy.service.ext_proc.v3.ExternalProcessor/Process"
    cases = [
        ([grpc_frame(b"\x12\x05\x0a\x03abc", flag=1)], 12),       # compressed
        ([grpc_frame(b"\x12\xff\xff\xff\xff\x0f")], 3),           # length past the end
        ([grpc_frame(b"\x0b\x00")], 3),                           # wire type 3 (group)
        ([grpc_frame(b"")], 3),                                   # no phase set
        ([b"\x00\x00\x00\x10"], 13),                              # truncated frame header
        ([b"\x00\x7f\xff\xff\xff"], 8),                           # message larger than the limit
    ]
    for frames, want in cases:
        st, raw = h2_call(e.xp, P, frames)
        check(st == want, "frames %r: want grpc-status %d, got %r (%r)" % (frames, want, st, raw))
    st, _ = h2_call(e.xp, "/no.Such/Method", [grpc_frame(b"")])
    check(st == 12, "unknown method -> UNIMPLEMENTED: %r" % st)
    # garbage instead of HTTP/2: the connection closes, the server lives
    s = socket.create_connection(("127.0.0.1", e.xp), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
    try:
        s.recv(1024)
    except OSError:
        pass
    s.close()
    r = e.requests([completion()])[0]
    check(r.get("grpcCode") == 0, "still serving: %r" % r)
    check(e.proc.poll() is None, "process alive")


@test
def test_check_validates_ext_proc_section():
    bad = write_file("extProc:\n  listen: nowhere\npool:\n  endpoints:\n"
                     "    - address: 127.0.0.1:1\n")
    out = subprocess.run([BIN, "epp", "--check", "--config", bad], capture_output=True,
                         text=True, timeout=20)
    check(out.returncode == 1 and ":2: extProc.listen: expected host:port" in out.stderr,
          "bad listen: %r" % out.stderr)
    bad = write_file("extProc:\n  certFile: /x.crt\npool:\n  endpoints:\n"
                     "    - address: 127.0.0.1:1\n")
    out = subprocess.run([BIN, "epp", "--check", "--config", bad], capture_output=True,
                         text=True, timeout=20)
    check(out.returncode == 1 and "needs keyFile" in out.stderr, "pair: %r" % out.stderr)
    good = write_file("extProc:\n  secureServing: false\npool:\n  endpoints:\n"
                      "    - address: 127.0.0.1:1\n")
    out = subprocess.run([BIN, "epp", "--check", "--config", good], capture_output=True,
                         text=True, timeout=20)
    check(out.returncode == 0 and "configuration OK" in out.stdout, "good: %r" % (out,))
    # the gateway refuses an EPP-only config
    out = subprocess.run([BIN, "gateway", "--config", good], capture_output=True, text=True,
                         timeout=20)
    check(out.returncode == 1 and "listen: missing required key" in out.stderr,
          "gateway: %r" % out.stderr)
    out = subprocess.run([BIN, "gateway", "--check", "--config", good], capture_output=True,
                         text=True, timeout=20)
    check(out.returncode == 1 and "listen: missing required key" in out.stderr,
          "gateway --check: %r" % out.stderr)


if __name__ == "__main__":
    run()
