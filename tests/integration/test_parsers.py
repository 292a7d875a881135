"""Integration tests for the router's request parsers (EndpointPickerConfig requestHandler.parsers).

Defaults (llm-d router): openai, anthropic, vllmhttp (/inference/v1/generate) and passthrough (any
other POST, forwarded unread). A configured list narrows what the gateway reads; the legacy v0.8
apiVersion defaults to openai-parser alone. `gateway --check` validates the keys.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, free_ports, post_json, request, run, start_process,  # noqa: E402
                     stop_process, test, wait_port, wait_until, write_file)
from stub_server import Stub  # noqa: E402


def config(stub, scheduler=""):
    port, admin = free_ports(2)
    return port, admin, ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 1\n" % (port, admin) +
                         "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  endpoints:\n"
                         "    - address: %s\n" % stub.address +
                         "timeouts:\n  connect: 500ms\n  request: 5s\n" + scheduler)


class Gw:
    def __init__(self, stub, scheduler=""):
        self.port, self.admin, text = config(stub, scheduler)
        self.proc = start_process([BIN, "gateway", "--config", write_file(text)])
        wait_port(self.port, proc=self.proc)
        wait_port(self.admin, proc=self.proc)
        wait_until(lambda: json.loads(request(self.admin, "GET", "/debug/endpoints")[2])
                   ["endpoints"][0]["ready"], 10, what="ready")

    def stop(self):
        stop_process(self.proc)


def sched(body, api="llm-d.ai/v1alpha1"):
    return ("scheduler:\n  apiVersion: %s\n  kind: EndpointPickerConfig\n" % api +
            "".join("  " + l + "\n" for l in body.strip("\n").split("\n")))


@test
def test_default_parsers_route_generate_and_passthrough():
    s = Stub()
    gw = Gw(s)
    try:
        raw = b"--boundary\r\nnot json at all\r\n--boundary--"
        st, h, body = request(gw.port, "POST", "/v1/audio/transcriptions", raw,
                              {"Content-Type": "multipart/form-data; boundary=boundary"})
        check(st == 200 and h.get("x-gateway-destination-endpoint") == s.address,
              "passthrough forwarded: %d %r" % (st, body))
        check(s.requests[-1]["path"] == "/v1/audio/transcriptions" and
              s.requests[-1]["body"] == raw, "body forwarded unread")
        st, h, body = post_json(gw.port, "/inference/v1/generate",
                                {"token_ids": [1, 2, 3], "sampling_params": {"max_tokens": 4}})
        check(st == 200 and s.requests[-1]["path"] == "/inference/v1/generate",
              "generate routed by vllmhttp-parser: %d %r" % (st, body))
        st, h, body = post_json(gw.port, "/inference/v1/generate", {"token_ids": []})
        check(st == 400 and "token_ids" in json.loads(body)["error"]["message"],
              "generate without token ids: %d %r" % (st, body))
        st, h, body = post_json(gw.port, "/inference/v1/generate",
                                {"model": "nope", "token_ids": [1]})
        check(st == 404, "generate for an unknown model: %d" % st)
        st, _, body = request(gw.port, "GET", "/v1/nothing-here")
        check(st == 404, "GET routes are not passed through")
    finally:
        gw.stop()
        s.stop()


@test
def test_configured_parsers_narrow_the_routes():
    s = Stub()
    gw = Gw(s, sched("plugins:\n- type: openai-parser\nrequestHandler:\n  parsers:\n"
                     "  - pluginRef: openai-parser\n"))
    try:
        st, _, body = post_json(gw.port, "/v1/completions", {"model": "m1", "prompt": "x"})
        check(st == 200, "openai path: %d" % st)
        n = len(s.requests)
        for path, obj in (("/v1/messages", {"model": "m1", "max_tokens": 2,
                                            "messages": [{"role": "user", "content": "x"}]}),
                          ("/inference/v1/generate", {"token_ids": [1]})):
            st, _, body = post_json(gw.port, path, obj)
            e = json.loads(body)["error"]
            check(st == 404 and "requestHandler.parsers" in e["message"],
                  "%s refused: %d %r" % (path, st, body))
        st, _, body = request(gw.port, "POST", "/v1/other", b"x")
        check(st == 404, "no passthrough configured: %d" % st)
        check(len(s.requests) == n, "nothing forwarded")
    finally:
        gw.stop()
        s.stop()
    s = Stub()
    gw = Gw(s, sched("plugins:\n- type: passthrough-parser\nrequestHandler:\n  parsers:\n"
                     "  - pluginRef: passthrough-parser\n"))
    try:
        # passthrough reads nothing: not even a malformed body or an unknown model is refused
        st, h, body = request(gw.port, "POST", "/v1/chat/completions", b"{not json",
                              {"Content-Type": "application/json"})
        check(st == 200 and s.requests[-1]["body"] == b"{not json", "forwarded unread: %d" % st)
    finally:
        gw.stop()
        s.stop()
    s = Stub()
    gw = Gw(s, sched("plugins:\n- type: queue-scorer\n",
                     api="inference.networking.x-k8s.io/v1alpha1"))
    try:
        st, _, _ = post_json(gw.port, "/v1/messages", {"model": "m1", "max_tokens": 2,
                                                       "messages": [{"role": "user",
                                                                     "content": "x"}]})
        check(st == 404, "v0.8 default parser is openai alone: %d" % st)
    finally:
        gw.stop()
        s.stop()


@test
def test_check_validates_parsers():
    s = Stub()
    try:
        _, _, good = config(s, sched("plugins:\n- name: oa\n  type: openai-parser\n"
                                     "- name: an\n  type: anthropic-parser\n"
                                     "requestHandler:\n  parsers:\n  - pluginRef: oa\n"
                                     "  - pluginRef: an\n"))
        p = subprocess.run([BIN, "gateway", "--check", "--config", write_file(good)],
                           capture_output=True, timeout=20)
        check(p.returncode == 0, "valid parsers: %r" % p.stderr)
        _, _, bad = config(s, sched("plugins:\n- type: queue-scorer\nrequestHandler:\n"
                                    "  parsers:\n  - pluginRef: queue-scorer\n"))
        path = write_file(bad)
        p = subprocess.run([BIN, "gateway", "--check", "--config", path], capture_output=True,
                           timeout=20)
        err = p.stderr.decode()
        check(p.returncode != 0 and "requestHandler.parsers[0].pluginRef" in err and
              "not a parser" in err and (path + ":") in err, "bad parser ref: %s" % err)
    finally:
        s.stop()


if __name__ == "__main__":
    run()
