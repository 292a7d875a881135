"""Integration tests for `switchyard sim`: the real binary on loopback, as a client sees it."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, SLOW, check, consecutive_ports, metrics, post_json,  # noqa: E402
                     process_log, request, run, start_process, stop_process, test, wait_port,
                     write_file)


def start_sim(*args, replicas=1):
    base = consecutive_ports(replicas)
    p = start_process([BIN, "sim", "--port", str(base), "--replicas", str(replicas)] + list(args))
    for i in range(replicas):
        wait_port(base + i, proc=p)
    return p, base


def series(m, name, **labels):
    want = ['%s="%s"' % (k, v) for k, v in labels.items()]
    for k, v in m.items():
        if k.startswith(name + "{") and all(w in k for w in want):
            return v
    raise AssertionError("no series %s%s" % (name, want))


def sse(port, path, body, timeout=30):
    """POSTs and returns the list of decoded `data:` payloads (the last one is "[DONE]")."""
    st, hdrs, data = post_json(port, path, body, timeout=timeout)
    check(st == 200, "status %d: %r" % (st, data[:300]))
    check(hdrs.get("content-type", "").startswith("text/event-stream"), "content-type")
    events = []
    for block in data.decode().split("\n\n"):
        if not block:
            continue
        check(block.startswith("data: "), "SSE framing: %r" % block[:80])
        payload = block[6:]
        events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


SIM = {}


def shared():
    if "p" not in SIM:
        SIM["p"], SIM["port"] = start_sim("--time-scale", "20", "--max-model-len", "2048")
    return SIM["port"]


@test
def test_models_and_health():
    port = shared()
    st, _, body = request(port, "GET", "/v1/models")
    check(st == 200)
    data = json.loads(body)
    check(data["object"] == "list" and data["data"][0]["id"] == "Qwen/Qwen3-32B", body)
    check(data["data"][0]["max_model_len"] == 2048)
    st, _, _ = request(port, "GET", "/health")
    check(st == 200)
    st, _, body = request(port, "GET", "/nope")
    check(st == 404)


@test
def test_completion_non_stream_usage():
    port = shared()
    st, _, body = post_json(port, "/v1/completions",
                            {"model": "Qwen/Qwen3-32B", "prompt": "x" * 40, "max_tokens": 7})
    check(st == 200, body)
    r = json.loads(body)
    check(r["object"] == "text_completion" and r["id"].startswith("cmpl-"))
    ch = r["choices"][0]
    check(ch["finish_reason"] == "length", ch)
    check(len(ch["text"].split()) == 7, ch["text"])  # one synthetic word per token
    u = r["usage"]
    check(u["prompt_tokens"] == 10 and u["completion_tokens"] == 7 and u["total_tokens"] == 17, u)
    check(u["prompt_tokens_details"]["cached_tokens"] == 0, u)


@test
def test_cached_tokens_on_repeated_prompt():
    port = shared()
    prompt = "The quick brown fox jumps over the lazy dog. " * 9  # 405 chars -> 102 tokens
    body = {"prompt": prompt, "max_tokens": 2}
    st, _, b1 = post_json(port, "/v1/completions", body)
    st2, _, b2 = post_json(port, "/v1/completions", body)
    check(st == 200 and st2 == 200)
    u1, u2 = json.loads(b1)["usage"], json.loads(b2)["usage"]
    check(u1["prompt_tokens"] == 102, u1)
    check(u1["prompt_tokens_details"]["cached_tokens"] == 0, u1)
    # the second request reuses every full 16-token block of the first (101 // 16 = 6 blocks)
    check(u2["prompt_tokens_details"]["cached_tokens"] == 96, u2)


@test
def test_chat_stream_with_usage():
    port = shared()
    ev = sse(port, "/v1/chat/completions", {
        "model": "Qwen/Qwen3-32B", "stream": True, "max_completion_tokens": 4,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": [{"type": "text", "text": "hello"}]}]})
    check(ev[-1] == "[DONE]", ev[-1])
    check(ev[0]["object"] == "chat.completion.chunk")
    check(ev[0]["choices"][0]["delta"].get("role") == "assistant", ev[0])
    content = [e for e in ev[1:-2]]
    check(len(content) == 4, "4 content chunks, got %d" % len(content))
    check(all(e["choices"][0]["finish_reason"] is None for e in content[:-1]))
    check(content[-1]["choices"][0]["finish_reason"] == "length", content[-1])
    usage = ev[-2]
    check(usage["choices"] == [] and usage["usage"]["completion_tokens"] == 4, usage)
    check(len({e["id"] for e in ev[:-1]}) == 1, "one id per stream")


@test
def test_completion_stream_without_usage():
    port = shared()
    ev = sse(port, "/v1/completions", {"prompt": "abc", "stream": True, "max_tokens": 3})
    check(ev[-1] == "[DONE]")
    check(len(ev) == 4, ev)  # 3 text chunks + [DONE]; no usage chunk
    check(all("usage" not in e for e in ev[:-1]))
    check(ev[2]["choices"][0]["finish_reason"] == "length")
    check(ev[0]["object"] == "text_completion" and isinstance(ev[0]["choices"][0]["text"], str))


@test
def test_errors_like_vllm():
    port = shared()
    st, _, body = request(port, "POST", "/v1/completions", b"{not json",
                          {"Content-Type": "application/json"})
    check(st == 400 and json.loads(body)["error"]["code"] == 400, body)
    st, _, body = post_json(port, "/v1/completions", {"model": "other", "prompt": "a"})
    err = json.loads(body)["error"]
    check(st == 404 and err["type"] == "NotFoundError" and "other" in err["message"], body)
    st, _, body = post_json(port, "/v1/completions", {"prompt": "a" * 8192})  # 2048 tokens
    err = json.loads(body)["error"]
    check(st == 400 and "maximum context length is 2048" in err["message"], body)
    st, _, body = post_json(port, "/v1/completions", {"prompt": "abcd", "max_tokens": 2048})
    check(st == 400 and "2049 tokens" in json.loads(body)["error"]["message"], body)
    st, _, body = post_json(port, "/v1/completions", {"prompt": "abcd", "max_tokens": 0})
    check(st == 400, body)
    st, _, body = post_json(port, "/v1/completions", {"prompt": {"x": 1}})
    check(st == 400, body)
    st, _, body = post_json(port, "/v1/chat/completions", {"messages": []})
    check(st == 400, body)
    st, _, body = post_json(port, "/v1/chat/completions", {"messages": [{"content": "x"}]})
    check(st == 400, body)
    st, _, body = post_json(port, "/v1/completions", {"prompt": [1, -2]})
    check(st == 400, body)
    st, _, body = request(port, "GET", "/v1/completions")
    check(st == 405, body)
    st, _, body = post_json(port, "/v1/completions", {"prompt": "a", "n": 2})
    check(st == 400 and "n = 1" in json.loads(body)["error"]["message"], body)
    st, _, body = post_json(port, "/v1/completions",
                            {"prompt": "a", "stream_options": {"include_usage": True}})
    check(st == 400 and "stream=True" in json.loads(body)["error"]["message"], body)
    # the server is still fine
    st, _, _ = post_json(port, "/v1/completions", {"prompt": [1, 2, 3], "max_tokens": 1})
    check(st == 200)


@test
def test_default_lengths():
    port = shared()
    # completions: OpenAI's default max_tokens 16 (vLLM applies it), finish "length"
    st, _, body = post_json(port, "/v1/completions", {"prompt": "abc"})
    r = json.loads(body)
    check(r["usage"]["completion_tokens"] == 16 and r["choices"][0]["finish_reason"] == "length")
    # chat: no limit given -> a drawn length (1..256) that ends like an EOS, finish "stop"
    st, _, body = post_json(port, "/v1/chat/completions", {"messages": [{"role": "user",
                                                                          "content": "q"}]})
    r = json.loads(body)
    n = r["usage"]["completion_tokens"]
    check(1 <= n <= 256 and r["choices"][0]["finish_reason"] == "stop", r)
    check(len(r["choices"][0]["message"]["content"].split()) == n)


@test
def test_tokenize():
    port = shared()
    st, _, body = post_json(port, "/tokenize", {"prompt": "abcdefghij"})
    r = json.loads(body)
    check(st == 200 and r["count"] == 3 and len(r["tokens"]) == 3, body)
    st, _, body2 = post_json(port, "/tokenize", {"prompt": "abcdefghXYZ"})
    r2 = json.loads(body2)
    check(r2["tokens"][:2] == r["tokens"][:2] and r2["tokens"][2] != r["tokens"][2])


@test
def test_metrics_vllm_names_and_promtool():
    p, port = start_sim("--time-scale", "50")
    for i in range(3):
        st, _, _ = post_json(port, "/v1/completions", {"prompt": "p%d " % i * 30, "max_tokens": 5})
        check(st == 200)
    m, text = metrics(port)
    lab = {"model_name": "Qwen/Qwen3-32B", "engine": "0"}
    check(series(m, "vllm:num_requests_running", **lab) == 0)
    check(series(m, "vllm:num_requests_waiting", **lab) == 0)
    check(series(m, "vllm:generation_tokens_total", **lab) == 15)
    check(series(m, "vllm:request_success_total", finished_reason="length") == 3)
    check(series(m, "vllm:time_to_first_token_seconds_count", **lab) == 3)
    check(series(m, "vllm:inter_token_latency_seconds_count", **lab) == 12)
    check(series(m, "vllm:e2e_request_latency_seconds_count", **lab) == 3)
    check(series(m, "vllm:request_queue_time_seconds_count", **lab) == 3)
    check(series(m, "vllm:cache_config_info", block_size="16", num_gpu_blocks="17235") == 1)
    check(series(m, "vllm:prefix_cache_queries_total", **lab) > 0)
    check("# TYPE vllm:time_to_first_token_seconds histogram" in text)
    check('le="+Inf"' in text)
    promtool = shutil.which("promtool")
    check(promtool, "promtool installed (Debian prometheus)")
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True)
    out = (r.stdout + r.stderr).decode().splitlines()
    # vLLM's own names contain ':' (promtool's naming lint flags that); nothing else may appear
    other = [line for line in out if line and "should not contain ':'" not in line]
    check(not other, "promtool: %s" % other)
    stop_process(p)


def timed_ttft(port, prompt_chars):
    t0 = time.time()
    st, _, body = post_json(port, "/v1/completions", {"prompt": "q" * prompt_chars, "max_tokens": 1})
    check(st == 200, body)
    return time.time() - t0


@test
def test_time_scale():
    # 8192 uncached tokens = one full prefill step = 8192 / 15,928 tok/s = 0.514 s simulated
    p1, port1 = start_sim()
    p10, port10 = start_sim("--time-scale", "10")
    t1 = timed_ttft(port1, 4 * 8192)
    t10 = timed_ttft(port10, 4 * 8192 - 1)  # different text: nothing cached anywhere
    # lower bounds are exact (simulated time cannot run early); upper bounds leave room for a
    # loaded CI machine
    check(0.51 <= t1 < 1.5, "scale 1: %.3fs" % t1)
    check(0.051 <= t10 < 0.45, "scale 10: %.3fs" % t10)
    check(t1 > 2.5 * t10, "scale 10 is faster: %.3f vs %.3f" % (t1, t10))
    m, _ = metrics(port10)
    ttft_sum = series(m, "vllm:time_to_first_token_seconds_sum")
    # simulated seconds (0.514 s), not wall seconds (~0.05 s); the upper bound leaves room for a
    # loaded machine, whose loop lateness the time scale multiplies into simulated time
    check(0.504 <= ttft_sum < 1.5, "metrics report simulated seconds: %f" % ttft_sum)
    stop_process(p1)
    stop_process(p10)


@test
def test_disconnect_aborts_request():
    p, port = start_sim("--time-scale", "1")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    body = json.dumps({"prompt": "z" * 4000, "max_tokens": 30000, "stream": True}).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    got = b""
    while got.count(b"data: ") < 3:
        chunk = s.recv(65536)
        check(chunk, "stream ended early")
        got += chunk
    m, _ = metrics(port)
    check(series(m, "vllm:num_requests_running") == 1)
    check(series(m, "vllm:kv_cache_usage_perc") > 0)
    s.close()

    def aborted():
        mm, _ = metrics(port)
        return (series(mm, "vllm:num_requests_running") == 0 and
                series(mm, "vllm:request_success_total", finished_reason="abort") == 1 and
                series(mm, "vllm:kv_cache_usage_perc") == 0)
    from harness import wait_until
    wait_until(aborted, timeout=5, what="the engine to abort the request and free its blocks")
    stop_process(p)


@test
def test_queueing_past_max_num_seqs():
    p, port = start_sim("--max-num-seqs", "1", "--time-scale", "1")
    import threading
    results = []

    def one(i):
        results.append(post_json(port, "/v1/completions", {"prompt": "w%d" % i, "max_tokens": 20}))
    ts = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    from harness import wait_until

    def queued():
        m, _ = metrics(port)
        return series(m, "vllm:num_requests_running") == 1 and \
            series(m, "vllm:num_requests_waiting") == 2
    wait_until(queued, timeout=5, what="1 running + 2 waiting")
    for t in ts:
        t.join(30)
    check(len(results) == 3 and all(r[0] == 200 for r in results))
    m, _ = metrics(port)
    check(series(m, "vllm:request_queue_time_seconds_sum") > 0.2)  # two waited ~20 steps or more
    stop_process(p)


@test
def test_replicas_ports_and_config_file():
    base = consecutive_ports(2)
    cfg = write_file("model: my/model\nports: [%d, %d]\ntime-scale: 100\nmax-num-seqs: 7\n"
                     "kv-blocks: 500\n" % (base, base + 1))
    p = start_process([BIN, "sim", "--config", cfg, "--model", "flag/model"])
    wait_port(base, proc=p)
    wait_port(base + 1, proc=p)
    for port in (base, base + 1):
        st, _, body = request(port, "GET", "/v1/models")
        check(json.loads(body)["data"][0]["id"] == "flag/model", body)  # flag wins over file
        m, _ = metrics(port)
        check(series(m, "vllm:cache_config_info", num_gpu_blocks="500") == 1)
    stop_process(p)
    bad = write_file("replicas: 2\nmax-num-seqs: lots\n")
    r = subprocess.run([BIN, "sim", "--config", bad], capture_output=True, timeout=10)
    err = r.stderr.decode()
    check(r.returncode != 0 and ":2: max-num-seqs" in err and "lots" in err, err)
    bad = write_file("no-such-key: 1\n")
    r = subprocess.run([BIN, "sim", "--config", bad], capture_output=True, timeout=10)
    check(r.returncode != 0 and "unknown setting" in r.stderr.decode(), r.stderr)
    r = subprocess.run([BIN, "sim", "--profile", "nope"], capture_output=True, timeout=10)
    check(r.returncode != 0 and "unknown profile" in r.stderr.decode(), r.stderr)
    r = subprocess.run([BIN, "sim", "--help"], capture_output=True, timeout=10)
    out = r.stdout.decode()
    for flag in ("--port", "--replicas", "--ports", "--model", "--profile", "--max-num-seqs",
                 "--max-num-batched-tokens", "--kv-blocks", "--block-size", "--time-scale",
                 "--seed", "--failure-rate", "--failure-types", "--kv-events",
                 "--kv-events-format", "--max-model-len", "--config", "--truncate-rate",
                 "--metrics-delay", "--request-log"):
        check(flag in out, "--help documents " + flag)


@test
def test_seed_determinism():
    def texts(seed):
        p, port = start_sim("--seed", str(seed), "--time-scale", "50")
        out = []
        for i in range(3):
            st, _, body = post_json(port, "/v1/chat/completions",
                                    {"messages": [{"role": "user", "content": "q%d" % i}]})
            check(st == 200, body)
            out.append(json.loads(body)["choices"][0]["message"]["content"])
        stop_process(p)
        return out
    a, b, c = texts(5), texts(5), texts(6)
    check(a == b, "same seed, same output")
    check(a != c, "another seed, other output")


@test
def test_failure_injection():
    p, port = start_sim("--failure-rate", "100", "--failure-types", "rate_limit")
    st, _, body = post_json(port, "/v1/completions", {"prompt": "a", "max_tokens": 1})
    check(st == 429 and json.loads(body)["error"]["code"] == 429, body)
    st, _, _ = request(port, "GET", "/health")
    check(st == 200)
    stop_process(p)
    r = subprocess.run([BIN, "sim", "--failure-types", "meteor"], capture_output=True, timeout=10)
    check(r.returncode != 0 and "meteor" in r.stderr.decode())
    p, port = start_sim("--failure-rate", "100", "--failure-types", "internal_error")
    st, _, body = post_json(port, "/v1/completions", {"prompt": "a", "max_tokens": 1})
    check(st == 500 and json.loads(body)["error"]["type"] == "InternalServerError", body)
    stop_process(p)


@test
def test_soak_fault_flags():
    """--truncate-rate cuts a stream after its first token with no chunked end, --metrics-delay
    answers /metrics late, --request-log appends one line per completion request received."""
    log = write_file("")
    p, port = start_sim("--truncate-rate", "100", "--metrics-delay", "400", "--request-log", log)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    body = json.dumps({"prompt": "hello", "max_tokens": 8, "stream": True}).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nx-request-id: rid-1\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    data = b""
    deadline = time.time() + 10
    while time.time() < deadline:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    check(data.startswith(b"HTTP/1.1 200"), data[:80])
    check(data.count(b"data: {") == 1, "one token event before the cut: %r" % data)
    check(b"[DONE]" not in data and not data.endswith(b"0\r\n\r\n"), "no proper end: %r" % data)
    # non-streaming requests are not cut
    st, _, out = post_json(port, "/v1/completions", {"prompt": "a", "max_tokens": 2},
                           headers={"x-request-id": "rid-2"})
    check(st == 200 and json.loads(out)["choices"], out)
    t = time.time()
    st, _, _ = request(port, "GET", "/metrics")
    check(st == 200 and time.time() - t >= 0.35, "metrics answered after the delay")
    # a scraper that leaves before the delayed answer does not disturb the replica
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    c.close()
    time.sleep(0.6)
    st, _, _ = request(port, "GET", "/health")
    check(st == 200)
    stop_process(p)
    with open(log) as f:
        lines = f.read().splitlines()
    check(lines == ["%d rid-1" % port, "%d rid-2" % port], lines)
    for bad in (["--truncate-rate", "101"], ["--metrics-delay", "-1"], ["--request-log", ""]):
        r = subprocess.run([BIN, "sim"] + bad, capture_output=True, timeout=10)
        check(r.returncode != 0 and bad[0][2:] in r.stderr.decode(), r.stderr)


# ---- KV events: a minimal ZMTP 3.0 SUB client and msgpack decoder (stdlib only) -------------

def zmtp_sub(port, prefix=b"kv@", timeout=5.0):
    """Connects a ZMTP 3.0 SUB socket (NULL mechanism) to 127.0.0.1:port and subscribes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([3, 0]) + b"NULL" + b"\x00" * 16 + \
        b"\x00" + b"\x00" * 31
    s.sendall(greeting)
    peer = _recv_exact(s, 64)
    check(peer[0] == 0xff and peer[9] == 0x7f and peer[10] == 3, "ZMTP greeting %r" % peer[:12])
    prop = b"\x0bSocket-Type" + (3).to_bytes(4, "big") + b"SUB"
    body = b"\x05READY" + prop
    s.sendall(bytes([0x04, len(body)]) + body)
    more, is_cmd, data = _recv_frame(s)
    check(is_cmd and data.startswith(b"\x05READY") and b"PUB" in data, "READY %r" % data)
    sub = b"\x01" + prefix
    s.sendall(bytes([0x00, len(sub)]) + sub)
    return s


def _recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        check(chunk, "ZMTP peer closed")
        out += chunk
    return out


def _recv_frame(s):
    flags = _recv_exact(s, 1)[0]
    size = int.from_bytes(_recv_exact(s, 8 if flags & 0x02 else 1), "big")
    return bool(flags & 0x01), bool(flags & 0x04), _recv_exact(s, size)


def zmtp_recv(s):
    """One multipart message (list of frames), skipping commands."""
    frames = []
    while True:
        more, is_cmd, data = _recv_frame(s)
        if is_cmd:
            continue
        frames.append(data)
        if not more:
            return frames


def unpack(b, i=0):
    """Decodes one msgpack value at b[i:]; returns (value, next index)."""
    t = b[i]
    i += 1
    if t <= 0x7f:
        return t, i
    if t >= 0xe0:
        return t - 0x100, i
    if 0x80 <= t <= 0x8f or t in (0xde, 0xdf):
        n = t & 0x0f if t <= 0x8f else int.from_bytes(b[i:i + (2 if t == 0xde else 4)], "big")
        i += 0 if t <= 0x8f else (2 if t == 0xde else 4)
        d = {}
        for _ in range(n):
            k, i = unpack(b, i)
            v, i = unpack(b, i)
            d[k] = v
        return d, i
    if 0x90 <= t <= 0x9f or t in (0xdc, 0xdd):
        n = t & 0x0f if t <= 0x9f else int.from_bytes(b[i:i + (2 if t == 0xdc else 4)], "big")
        i += 0 if t <= 0x9f else (2 if t == 0xdc else 4)
        out = []
        for _ in range(n):
            v, i = unpack(b, i)
            out.append(v)
        return out, i
    if 0xa0 <= t <= 0xbf or t in (0xd9, 0xda, 0xdb):
        w = {0xd9: 1, 0xda: 2, 0xdb: 4}.get(t, 0)
        n = t & 0x1f if not w else int.from_bytes(b[i:i + w], "big")
        i += w
        return b[i:i + n].decode(), i + n
    if t == 0xc0:
        return None, i
    if t in (0xc2, 0xc3):
        return t == 0xc3, i
    if t in (0xcc, 0xcd, 0xce, 0xcf):
        w = {0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8}[t]
        return int.from_bytes(b[i:i + w], "big"), i + w
    if t in (0xd0, 0xd1, 0xd2, 0xd3):
        w = {0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8}[t]
        return int.from_bytes(b[i:i + w], "big", signed=True), i + w
    if t == 0xcb:
        import struct
        return struct.unpack(">d", b[i:i + 8])[0], i + 8
    if t == 0xca:
        import struct
        return struct.unpack(">f", b[i:i + 4])[0], i + 4
    if t in (0xc4, 0xc5, 0xc6):
        w = {0xc4: 1, 0xc5: 2, 0xc6: 4}[t]
        n = int.from_bytes(b[i:i + w], "big")
        return b[i + w:i + w + n], i + w + n
    raise AssertionError("unexpected msgpack byte 0x%02x" % t)


FIELDS = ["block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id", "medium",
          "lora_name"]


def normalise(ev):
    """Either encoding -> dict (llm-d's vllm_adapter does the same)."""
    if isinstance(ev, dict):
        return ev
    if ev[0] == "BlockRemoved":
        return {"type": ev[0], "block_hashes": ev[1], "medium": ev[2] if len(ev) > 2 else None}
    d = {"type": ev[0]}
    for k, v in zip(FIELDS, ev[1:]):
        d[k] = v
    return d


def kv_events_roundtrip(fmt):
    base = consecutive_ports(2)
    kvp = consecutive_ports(2)
    p = start_process([BIN, "sim", "--port", str(base), "--replicas", "2", "--time-scale", "20",
                       "--kv-events", "tcp://127.0.0.1:%d" % kvp, "--kv-events-format", fmt])
    wait_port(base + 1, proc=p)
    wait_port(kvp + 1, proc=p)
    s = zmtp_sub(kvp + 1)  # replica 1 publishes on PORT+1
    # PUB drops what it sends before the SUBSCRIBE is processed and nothing observable says when
    # that is: wait a bounded while, longer for a slow (sanitizer) build
    time.sleep(0.2 * SLOW)
    prompt = "shared system prompt for the kv events test " * 5  # 220 chars -> 55 tokens
    st, _, body = post_json(base + 1, "/v1/completions", {"prompt": prompt, "max_tokens": 2})
    check(st == 200, body)
    st, _, tok = post_json(base + 1, "/tokenize", {"prompt": prompt})
    tokens = json.loads(tok)["tokens"]
    check(len(tokens) == 55, len(tokens))
    frames = zmtp_recv(s)
    check(len(frames) == 3, "three frames, got %d" % len(frames))
    check(frames[0] == ("kv@127.0.0.1:%d@Qwen/Qwen3-32B" % (base + 1)).encode(), frames[0])
    check(frames[1] == (0).to_bytes(8, "big"), "seq starts at 0: %r" % frames[1])
    batch, end = unpack(frames[2])
    check(end == len(frames[2]) and isinstance(batch, list) and len(batch) == 3, batch)
    check(isinstance(batch[0], float) and abs(batch[0] - time.time()) < 60, batch[0])
    check(batch[2] == 1, "dp_rank = replica index")
    ev = batch[1][0]
    check(isinstance(ev, dict) == (fmt == "map"), "encoding %s: %r" % (fmt, type(ev)))
    if fmt == "array":
        check(len(ev) == 8, ev)
    else:
        check(set(ev) == {"type"} | set(FIELDS), ev.keys())
    ev = normalise(ev)
    check(ev["type"] == "BlockStored", ev)
    check(len(ev["block_hashes"]) == 3 and ev["parent_block_hash"] is None, ev)  # 55 // 16
    check(ev["token_ids"] == tokens[:48], "token_ids are the prompt's first 3 blocks")
    check(ev["block_size"] == 16 and ev["medium"] == "GPU" and ev["lora_id"] is None, ev)
    # the same prompt again: everything cached, no new BlockStored for the prompt blocks; the
    # next event batch (seq 1) may only carry blocks beyond the first three
    st, _, _ = post_json(base + 1, "/v1/completions", {"prompt": prompt, "max_tokens": 1})
    check(st == 200)
    # reset -> AllBlocksCleared
    st, _, _ = request(base + 1, "POST", "/reset_prefix_cache")
    check(st == 200, "reset %d" % st)
    seen_clear = False
    last_seq = 0
    s.settimeout(5)
    while not seen_clear:
        frames = zmtp_recv(s)
        seq = int.from_bytes(frames[1], "big")
        check(seq == last_seq + 1, "contiguous seqs: %d after %d" % (seq, last_seq))
        last_seq = seq
        for e in unpack(frames[2])[0][1]:
            e = normalise(e)
            if e["type"] == "BlockStored":
                check(ev["block_hashes"][0] not in e["block_hashes"], "prompt blocks re-stored")
            seen_clear = seen_clear or e["type"] == "AllBlocksCleared"
    s.close()
    stop_process(p)


@test
def test_kv_events_array_format():
    kv_events_roundtrip("array")


@test
def test_kv_events_map_format():
    kv_events_roundtrip("map")


if __name__ == "__main__":
    run()
