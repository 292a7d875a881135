"""Integration test for token-producer `backend: vllm` (llm-d's vLLM render backend): the gateway
fetches a request's token ids from the model server before scheduling, on the worker's loop.

Asserted as a client and Prometheus see it:
  1. against `switchyard sim` (render endpoints, and /tokenize with `api: tokenize`): requests
     succeed, the ids come from the server (switchyard_tokenizer_requests_total{result="ok"}),
     an identical request is a cache hit, and precise routing works on them: a chat request
     sharing a long prefix goes to the replica that served the first one;
  2. a tokenizer that answers too slowly (a stub that holds the request past `timeout`) and one
     that is not there (a closed port): every request still succeeds, scheduled on the estimate,
     and switchyard_tokenizer_fallback_total counts reason="timeout" / "unreachable".
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (check, free_ports, kv_batches, metrics, post_json, process_log,  # noqa: E402
                     recv_request_head, request, run, wait_kv_flowing, start_gateway, start_sim, test,
                     wait_endpoints_ready, wait_until, write_file)

MODEL = "m"


def start_kv_sim(base, kv):
    return start_sim(base, 2, MODEL, extra=["--block-size", "16",
                                            "--kv-events", "tcp://127.0.0.1:%d" % kv])


def gateway(base, kv, vllm_block):
    listen, admin = free_ports(2)
    text = """listen: 127.0.0.1:%d
admin: 127.0.0.1:%d
workers: 2
pool:
  engine: vllm
  scrapeInterval: 50ms
  endpoints:
    - address: 127.0.0.1:%d
      kvEvents: tcp://127.0.0.1:%d
    - address: 127.0.0.1:%d
      kvEvents: tcp://127.0.0.1:%d
timeouts:
  connect: 500ms
  request: 10s
scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
    - type: token-producer
      parameters:
        backend: vllm
        modelName: %s
        vllm:
%s
    - type: precise-prefix-cache-producer
      parameters:
        tokenProcessorConfig:
          blockSize: 16
    - type: prefix-cache-scorer
      parameters:
        prefixMatchInfoProducerName: precise-prefix-cache-producer
    - type: max-score-picker
  schedulingProfiles:
    - name: default
      plugins:
        - pluginRef: prefix-cache-scorer
        - pluginRef: max-score-picker
""" % (listen, admin, base, kv, base + 1, kv + 1, MODEL,
       "\n".join("          " + line for line in vllm_block.strip().splitlines()))
    p = start_gateway(write_file(text), listen, admin)
    wait_endpoints_ready(admin)
    return p, listen, admin


def chat(port, content):
    st, hdr, body = post_json(port, "/v1/chat/completions",
                              {"model": MODEL, "max_tokens": 1,
                               "messages": [{"role": "system", "content": "You are terse."},
                                            {"role": "user", "content": content}]})
    check(st == 200, "gateway %d: %s" % (st, body))
    return hdr["x-gateway-destination-endpoint"]


def counters(admin):
    m, _ = metrics(admin)

    def get(labels):
        return m.get("switchyard_tokenizer_%s" % labels, 0.0)
    return {
        "ok": get('requests_total{backend="vllm",result="ok"}'),
        "hit": get('requests_total{backend="vllm",result="cache_hit"}'),
        "fallback": get('requests_total{backend="vllm",result="fallback"}'),
        "timeout": get('fallback_total{backend="vllm",reason="timeout"}'),
        "unreachable": get('fallback_total{backend="vllm",reason="unreachable"}'),
    }


def long_text(tag, n):
    s = " ".join("%s-%d" % (tag, i) for i in range(n))
    return s[:n]


def sim_only():
    while True:
        base, kv = free_ports(2)
        if abs(base - kv) < 2:  # the replicas' HTTP ports (base, base+1) and publishers overlap
            continue
        try:
            for port in (base + 1, kv + 1):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                s.close()
            break
        except OSError:
            continue
    return base, kv, start_kv_sim(base, kv)


def check_sim_backend(api):
    base, kv, sim = sim_only()
    block = "url: http://127.0.0.1:%d\ntimeout: 2s" % base
    if api:
        block += "\napi: %s" % api
    gw, port, admin = gateway(base, kv, block)
    wait_kv_flowing(admin, (base, base + 1), MODEL)  # no fixed sleep to race the subscriptions
    prefix = long_text("shared", 1600)
    batches = kv_batches(admin)
    first = chat(port, prefix + " first question")
    c = counters(admin)
    check(c["ok"] >= 1 and c["fallback"] == 0, "ids from the server: %s" % c)
    # the replica that served the prefix publishes its blocks; once the gateway has applied them,
    # the next request that shares the prefix follows it (precise routing over the ids the server
    # rendered). Routing before they arrive could send it to the other replica, which would then
    # hold the prefix too (and polling with more requests would never come back: a race, not a bug)
    wait_until(lambda: kv_batches(admin) > batches, 10, what="the first request's KV events")
    check(chat(port, prefix + " second question") == first,
          "shared prefix routed to the replica holding it")
    for i in range(4):  # not a lucky tie-break: every request sharing the prefix follows it
        check(chat(port, prefix + " question %d" % i) == first, "prefix-sharing request %d" % i)
    again = chat(port, prefix + " first question")
    check(again == first, "same request, same replica")
    c = counters(admin)
    check(c["hit"] >= 1, "identical request served from the cache: %s" % c)
    check(c["fallback"] == 0, "no fallback: %s" % c)


@test
def test_vllm_render_against_sim():
    check_sim_backend(None)


@test
def test_vllm_tokenize_api_against_sim():
    check_sim_backend("tokenize")


class SlowStub:
    """Accepts connections and reads requests but never answers: it holds each request until it
    is closed (bounded: it stops by itself after 120 s)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.seen = 0
        self.stop = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def serve(self, c):
        try:
            c.settimeout(10)
            h = recv_request_head(c)
            if h:
                self.seen += 1
                end = time.time() + 120
                while time.time() < end and not self.stop:
                    time.sleep(0.05)
        except OSError:
            pass
        finally:
            c.close()

    def loop(self):
        deadline = time.time() + 120
        while not self.stop and time.time() < deadline:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def close(self):
        self.stop = True
        self.sock.close()


@test
def test_slow_tokenizer_falls_back():
    base, kv, sim = sim_only()
    stub = SlowStub()
    try:
        gw, port, admin = gateway(base, kv, "url: http://127.0.0.1:%d\ntimeout: 300ms" % stub.port)
        for i in range(3):
            # the stub never answers while the test runs, so a 200 here can only come from the
            # request scheduled on the estimate once the 300 ms timeout fired (no clock to race)
            chat(port, "slow tokenizer request %d " % i + long_text("s%d" % i, 300))
        c = counters(admin)
        check(stub.seen >= 1, "the stub was asked")
        check(c["timeout"] >= 3 and c["ok"] == 0, "timeouts counted: %s" % c)
        log = process_log(gw)
        check("estimate backend" in log and "timeout" in log, "fallback logged: %s" % log[-2000:])
    finally:
        stub.close()


@test
def test_dead_tokenizer_falls_back():
    base, kv, sim = sim_only()
    dead, = free_ports(1)  # nothing listens there
    gw, port, admin = gateway(base, kv, "url: http://127.0.0.1:%d\ntimeout: 1s" % dead)
    for i in range(3):
        chat(port, "dead tokenizer request %d" % i)
    c = counters(admin)
    check(c["unreachable"] >= 3 and c["ok"] == 0, "connection failures counted: %s" % c)
    check("unreachable" in process_log(gw), "fallback logged")


if __name__ == "__main__":
    run()
