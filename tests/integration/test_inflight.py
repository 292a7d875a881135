"""Integration test for in-flight token accounting (llm-d's inflight-load-producer semantics).

The gateway counts a request's uncached prompt tokens on its endpoint from the pick until the
first response byte, and the request itself until the response ends (GET /debug/endpoints shows
both counters). With `addEstimatedOutputTokens: true` the tokens (prompt + estimated output) are
held to the end.
"""
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, free_ports, request, run, start_process, stop_process,  # noqa
                     test, wait_port, wait_until, write_file)
from stub_server import Stub  # noqa: E402


def start_gateway(stub, scheduler=""):
    port, admin = free_ports(2)
    text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 1\n" % (port, admin) +
            "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  endpoints:\n"
            "    - address: %s\n" % stub.address +
            "timeouts:\n  connect: 500ms\n  request: 10s\n" + scheduler)
    p = start_process([BIN, "gateway", "--config", write_file(text)])
    wait_port(port, proc=p)
    wait_port(admin, proc=p)
    return p, port, admin


def counters(admin):
    st, _, body = request(admin, "GET", "/debug/endpoints")
    e = json.loads(body)["endpoints"][0]
    return e["inflight_requests"], e["inflight_tokens"]


def stream_in_thread(port, prompt, max_tokens=None):
    out = {}

    def go():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        body = {"model": "m1", "prompt": prompt, "stream": True}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        conn.request("POST", "/v1/completions", json.dumps(body).encode(),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        out["status"] = r.status
        out["body"] = r.read()
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, out


@test
def test_prompt_tokens_released_at_first_byte():
    s = Stub()
    gw, port, admin = start_gateway(s)
    try:
        wait_until(lambda: json.loads(request(admin, "GET", "/debug/endpoints")[2])
                   ["endpoints"][0]["ready"], 10, what="ready")
        # Before any response byte the prompt is counted as llm-d's uncachedInputTokens does:
        # (TotalBlocks - MatchBlocks) x BlockSizeTokens + the tail beyond the indexed blocks. The
        # built-in default has the router's semantics: 384 characters = 96 estimated tokens, in
        # blocks of 64 tokens with the partial last block hashed = 2 blocks, none cached -> 128
        # (max_tokens is not counted).
        s.mode = "hang"
        s.hang_seconds = 1.5
        t, out = stream_in_thread(port, "x" * 384, max_tokens=50)
        wait_until(lambda: counters(admin)[0] == 1, 5, what="request in flight")
        check(counters(admin) == (1, 128), "before the first byte: %r" % (counters(admin),))
        t.join(15)
        wait_until(lambda: counters(admin) == (0, 0), 5, what="released after the failure")
        # After the first chunk the tokens are gone while the request still streams.
        s.mode = "ok"
        s.chunks = 3
        s.interval = 1.0
        t, out = stream_in_thread(port, "y" * 384, max_tokens=50)
        wait_until(lambda: counters(admin)[0] == 1, 5, what="stream in flight")
        wait_until(lambda: counters(admin) == (1, 0), 3, what="tokens released at the first chunk")
        t.join(15)
        check(out.get("status") == 200 and b"tok2" in out.get("body", b""), "stream completed")
        wait_until(lambda: counters(admin) == (0, 0), 5, what="request released at the end")
    finally:
        stop_process(gw)
        s.stop()


@test
def test_estimated_output_held_to_the_end():
    s = Stub()
    sched = ("scheduler:\n  apiVersion: llm-d.ai/v1alpha1\n  kind: EndpointPickerConfig\n"
             "  plugins:\n  - type: inflight-load-producer\n"
             "    parameters: {addEstimatedOutputTokens: true, maxEstimatedOutputTokens: 30}\n"
             "  - type: token-load-scorer\n  - type: max-score-picker\n")
    gw, port, admin = start_gateway(s, sched)
    try:
        wait_until(lambda: json.loads(request(admin, "GET", "/debug/endpoints")[2])
                   ["endpoints"][0]["ready"], 10, what="ready")
        s.chunks = 3
        s.interval = 0.6
        t, out = stream_in_thread(port, "x" * 400, max_tokens=50)
        wait_until(lambda: counters(admin)[0] == 1, 5, what="stream in flight")
        time.sleep(0.3)  # the first chunk has been forwarded by now
        # 100 prompt tokens + min(round(100 x 1.5), max_tokens 50, cap 30) = 130, not released early
        check(counters(admin) == (1, 130), "held with the output estimate: %r" % (counters(admin),))
        t.join(15)
        wait_until(lambda: counters(admin) == (0, 0), 5, what="released at the end")
    finally:
        stop_process(gw)
        s.stop()


if __name__ == "__main__":
    run()
