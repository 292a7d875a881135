"""Integration tests for the Anthropic Messages API (POST /v1/messages) through the gateway.

The gateway parses Anthropic's request shape (system, messages, max_tokens), schedules on the
system prompt + messages, reads usage from Anthropic responses and streams, and answers errors in
Anthropic's shape ({"type":"error","error":{"type":...,"message":...}}). `switchyard sim` serves
/v1/messages itself; the official Anthropic Node SDK drives both (tests/node/anthropic_sdk.mjs).
"""
import http.client
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, ROUND_ROBIN, check, consecutive_ports, free_ports, metrics, post_json,  # noqa: E402
                     request, run, start_gateway, start_process, start_sim, stop_process, test,
                     wait_endpoints_ready, wait_port, wait_until, write_file)
from stub_server import Stub  # noqa: E402

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node")
RR = ROUND_ROBIN


class Fleet:
    """`switchyard sim` with n replicas (model m1) and a gateway in front of it."""

    def __init__(self, n=2, scheduler=""):
        base = consecutive_ports(n)
        self.sim_ports = list(range(base, base + n))
        self.sim = start_sim(base, n, "m1", time_scale=20)
        self.gw = Gateway(["127.0.0.1:%d" % p for p in self.sim_ports], scheduler)

    def stop(self):
        self.gw.stop()
        stop_process(self.sim)


class Gateway:
    def __init__(self, addresses, scheduler="", extra=""):
        self.port, self.admin = free_ports(2)
        eps = "".join("    - address: %s\n" % a for a in addresses)
        text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 2\n" % (self.port, self.admin) +
                "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  endpoints:\n" + eps +
                "timeouts:\n  connect: 500ms\n  request: 5s\n" + extra + scheduler)
        self.proc = start_gateway(write_file(text), self.port, self.admin)
        wait_endpoints_ready(self.admin)

    def stop(self):
        return stop_process(self.proc)


def anthropic_error(body):
    j = json.loads(body)
    check(j.get("type") == "error" and isinstance(j.get("error"), dict), "Anthropic shape: %r" % j)
    e = j["error"]
    check(isinstance(e.get("type"), str) and isinstance(e.get("message"), str), "error: %r" % e)
    return e


def messages(port, body, headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return request(port, "POST", "/v1/messages", data, h)


def ensure_node_modules():
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@anthropic-ai", "sdk")):
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                           capture_output=True, timeout=300)
        check(p.returncode == 0, "npm ci: %s" % (p.stdout + p.stderr).decode()[-2000:])


@test
def test_anthropic_node_sdk():
    """The official SDK: non-stream, stream, 404 not_found_error, and prefix affinity."""
    ensure_node_modules()
    f = Fleet(2)
    try:
        p = subprocess.run(["node", os.path.join(NODE_DIR, "anthropic_sdk.mjs"),
                            "http://127.0.0.1:%d" % f.gw.port], capture_output=True, timeout=90)
        out = (p.stdout + p.stderr).decode()
        check(p.returncode == 0 and "OK" in out, "Anthropic SDK run: %s" % out)
    finally:
        f.stop()


@test
def test_affinity_needs_the_prefix_scheduler():
    """The SDK's affinity check fails behind round-robin: it measures the scheduler."""
    ensure_node_modules()
    f = Fleet(2, scheduler=RR)
    try:
        p = subprocess.run(["node", os.path.join(NODE_DIR, "anthropic_sdk.mjs"),
                            "http://127.0.0.1:%d" % f.gw.port], capture_output=True, timeout=90)
        out = (p.stdout + p.stderr).decode()
        check(p.returncode == 1 and "served by one backend" in out,
              "round-robin spreads a system prompt: %s" % out)
    finally:
        f.stop()


@test
def test_malformed_bodies_get_anthropic_errors():
    s = Stub()
    gw = Gateway([s.address])
    try:
        ok_msgs = [{"role": "user", "content": "hi"}]
        cases = [
            (b"{not json", "malformed JSON"),
            (b"[1,2]", "expected a JSON object"),
            ({"max_tokens": 5, "messages": ok_msgs}, "model"),
            ({"model": "m1", "messages": ok_msgs}, "max_tokens: Field required"),
            ({"model": "m1", "max_tokens": 0, "messages": ok_msgs}, "max_tokens"),
            ({"model": "m1", "max_tokens": "5", "messages": ok_msgs}, "max_tokens"),
            ({"model": "m1", "max_tokens": 5}, "messages: Field required"),
            ({"model": "m1", "max_tokens": 5, "messages": {}}, "messages"),
            ({"model": "m1", "max_tokens": 5, "messages": []}, "at least one"),
            ({"model": "m1", "max_tokens": 5, "messages": ["hi"]}, "messages.0"),
            ({"model": "m1", "max_tokens": 5, "messages": [{"content": "x"}]},
             "messages.0.role: Field required"),
            ({"model": "m1", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
             "'user' or 'assistant'"),
            ({"model": "m1", "max_tokens": 5, "messages": [{"role": "user"}]},
             "messages.0.content: Field required"),
            ({"model": "m1", "max_tokens": 5, "messages": [{"role": "user", "content": 7}]},
             "messages.0.content"),
            ({"model": "m1", "max_tokens": 5, "messages": [{"role": "user", "content": []}]},
             "must not be empty"),
            ({"model": "m1", "max_tokens": 5,
              "messages": [{"role": "user", "content": [{"text": "no type"}]}]},
             "messages.0.content.0.type"),
            ({"model": "m1", "max_tokens": 5, "system": 3, "messages": ok_msgs}, "system"),
            ({"model": "m1", "max_tokens": 5, "system": [{"type": "image"}], "messages": ok_msgs},
             "system.0.type"),
            ({"model": "m1", "max_tokens": 5, "system": [{"type": "text"}], "messages": ok_msgs},
             "system.0.text"),
            ({"model": "m1", "max_tokens": 5, "stream": "yes", "messages": ok_msgs}, "stream"),
        ]
        for body, want in cases:
            st, h, data = messages(gw.port, body)
            check(st == 400, "400 for %r, got %d %r" % (body, st, data))
            e = anthropic_error(data)
            check(e["type"] == "invalid_request_error", "type for %r: %r" % (body, e))
            check(want in e["message"], "message for %r: %r" % (body, e["message"]))
            check(h.get("x-request-id"), "x-request-id on errors")
        check(len(s.requests) == 0 or all(r["path"] != "/v1/messages" for r in s.requests),
              "nothing malformed was forwarded")
        st, _, data = messages(gw.port, {"model": "nope", "max_tokens": 5, "messages": ok_msgs})
        check(st == 404 and anthropic_error(data)["type"] == "not_found_error", "404: %r" % data)
        # OpenAI routes keep OpenAI's shape
        st, _, data = post_json(gw.port, "/v1/chat/completions", {"model": "nope", "messages": []})
        check(st == 404 and "error" in json.loads(data) and "type" not in json.loads(data),
              "OpenAI error shape on chat: %r" % data)
        # a valid body is forwarded byte for byte
        body = {"model": "m1", "max_tokens": 5, "system": "s", "messages": ok_msgs}
        st, _, data = messages(gw.port, body)
        check(st == 200, "valid request forwarded: %d %r" % (st, data))
        check(s.requests[-1]["path"] == "/v1/messages" and
              s.requests[-1]["body"] == json.dumps(body).encode(), "body unchanged")
    finally:
        gw.stop()
        s.stop()


@test
def test_body_too_large_is_an_anthropic_error_on_messages():
    s = Stub()
    gw = Gateway([s.address], extra="limits:\n  maxBodyBytes: 4096\n")
    try:
        big = {"model": "m1", "max_tokens": 5, "messages": [{"role": "user", "content": "x" * 8000}]}
        st, _, data = messages(gw.port, big)
        e = anthropic_error(data)
        check(st == 413 and e["type"] == "request_too_large" and "maxBodyBytes" in e["message"],
              "413 in Anthropic's shape: %d %r" % (st, data))
        st, _, data = post_json(gw.port, "/v1/chat/completions",
                                {"model": "m1", "messages": [{"role": "user", "content": "x" * 8000}]})
        check(st == 413 and json.loads(data)["error"]["type"] == "invalid_request_error",
              "413 keeps the OpenAI shape elsewhere: %d %r" % (st, data))
    finally:
        gw.stop()
        s.stop()


@test
def test_broken_stream_ends_with_anthropic_error_event():
    s = Stub()
    gw = Gateway([s.address])
    try:
        s.mode = "break"
        s.interval = 0.05
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
        conn.request("POST", "/v1/messages",
                     json.dumps({"model": "m1", "max_tokens": 5, "stream": True,
                                 "messages": [{"role": "user", "content": "x"}]}).encode(),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        t0 = time.time()
        data = r.read()
        check(time.time() - t0 < 4, "stream ended promptly")
        check(b"event: error\ndata: " in data, "event: error ends the stream: %r" % data)
        ev = data.split(b"event: error\ndata: ", 1)[1].split(b"\n", 1)[0]
        e = anthropic_error(ev)
        check(e["type"] == "api_error", "api_error: %r" % e)
        check(b"upstream_broken" not in data, "no OpenAI-style error event: %r" % data)
    finally:
        gw.stop()
        s.stop()


@test
def test_usage_from_messages_reaches_metrics():
    f = Fleet(1)
    try:
        body = {"model": "m1", "max_tokens": 7, "system": "sys " * 50,
                "messages": [{"role": "user", "content": "hello"}]}
        st, _, data = messages(f.gw.port, body)
        check(st == 200, "non-stream %d %r" % (st, data))
        j = json.loads(data)
        n_in = j["usage"]["input_tokens"]
        body["stream"] = True
        body["max_tokens"] = 9
        st, _, data = messages(f.gw.port, body)
        check(st == 200 and b"event: message_stop" in data, "stream %d" % st)
        lv = '{model_name="m1",target_model_name="m1"}'
        # the request is recorded when the gateway finishes it, which may be just after the
        # client has read the last event
        wait_until(lambda: metrics(f.gw.admin)[0].get(
            "inference_objective_output_tokens_sum" + lv, 0) >= 16, 5,
            what="both requests recorded")
        m, text = metrics(f.gw.admin)
        check(m.get("inference_objective_output_tokens_sum" + lv) == 16,
              "output tokens 7 + 9 from usage and message_delta: %s" %
              [l for l in text.splitlines() if "output_tokens_sum" in l])
        check(m.get("inference_objective_input_tokens_sum" + lv) == 2 * n_in,
              "input tokens from usage and message_start: %s" %
              [l for l in text.splitlines() if "input_tokens_sum" in l])
        check(m.get("inference_objective_prompt_cached_tokens_count" + lv) == 2,
              "cache_read_input_tokens observed: %s" %
              [l for l in text.splitlines() if "cached_tokens_count" in l])
        check(m.get("inference_objective_prompt_cached_tokens_sum" + lv, 0) > 0,
              "the repeated prompt was served from the prefix cache")
    finally:
        f.stop()


@test
def test_sim_serves_messages():
    base = consecutive_ports(1)
    sim = start_process([BIN, "sim", "--port", str(base), "--model", "m1", "--time-scale", "20"])
    try:
        wait_port(base, proc=sim)
        ok = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
        st, _, data = messages(base, {"model": "m1", "max_tokens": 3, "system": "s", "messages": ok})
        j = json.loads(data)
        check(st == 200 and j["type"] == "message" and j["usage"]["output_tokens"] == 3 and
              j["stop_reason"] == "max_tokens" and j["id"].startswith("msg_"), "message: %r" % j)
        st, _, data = messages(base, {"model": "m2", "max_tokens": 3, "messages": ok})
        check(st == 404 and anthropic_error(data)["type"] == "not_found_error", "404 %r" % data)
        st, _, data = messages(base, {"model": "m1", "messages": ok})
        check(st == 400 and anthropic_error(data)["type"] == "invalid_request_error", "%r" % data)
        st, _, data = messages(base, {"model": "m1", "max_tokens": 10 ** 6, "messages": ok})
        check(st == 400 and "maximum context length" in anthropic_error(data)["message"],
              "context length: %r" % data)
        st, _, data = messages(base, {"model": "m1", "max_tokens": 2, "stream": True,
                                      "messages": ok})
        events = [l.split(b": ", 1)[1] for l in data.split(b"\n") if l.startswith(b"event: ")]
        check(events == [b"message_start", b"content_block_start", b"ping",
                         b"content_block_delta", b"content_block_delta", b"content_block_stop",
                         b"message_delta", b"message_stop"], "events: %r" % events)
    finally:
        stop_process(sim)


@test
def test_precise_routing_of_messages():
    """Precise routing (KV events from the simulator, token-producer backend simulator): a Messages
    request is tokenized as the engine renders it (system first), so it goes to the replica whose
    cache holds its system prompt, even when that replica cached it from a chat completion."""
    from test_precise import (MODEL, gateway, kv_batches, settle, start_kv_sim, text,  # noqa
                              wait_kv_flowing)
    base = consecutive_ports(2)
    kv = consecutive_ports(2)
    replay = consecutive_ports(2)
    sim = start_kv_sim(base, kv, replay)
    gw, gport, ready = gateway(base, kv, replay)
    admin = ready.admin
    b = "127.0.0.1:%d" % (base + 1)
    try:
        # both replicas' events reach the gateway before the warm-up (no fixed sleep to race)
        wait_kv_flowing(admin, [base, base + 1])
        system = text("agent-rules", 1600)  # 400 simulator tokens, 25 blocks
        before = kv_batches(admin)
        st, _, body = post_json(base + 1, "/v1/chat/completions", {
            "model": MODEL, "max_tokens": 1,
            "messages": [{"role": "system", "content": system},
                         {"role": "user", "content": "warm up"}]})
        check(st == 200, "chat on B: %d %r" % (st, body))
        settle(admin, before)  # the warm-up's KV events applied (test_precise.settle)
        for i in range(4):
            st, h, body = messages(gport, {
                "model": MODEL, "max_tokens": 1, "system": [{"type": "text", "text": system}],
                "messages": [{"role": "user", "content": "turn %d" % i}]},
                headers={"x-switchyard-debug": "scores"})
            check(st == 200, "messages %d: %d %r" % (i, st, body))
            check(h["x-gateway-destination-endpoint"] == b,
                  "turn %d routed to %s, expected %s (%s)" %
                  (i, h["x-gateway-destination-endpoint"], b,
                   h.get("x-gateway-destination-endpoint-scores")))
            check(json.loads(body)["usage"]["cache_read_input_tokens"] >= 384,
                  "served from B's prefix cache: %r" % body)
    finally:
        stop_process(gw)
        stop_process(sim)


if __name__ == "__main__":
    run()
