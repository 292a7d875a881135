"""Integration tests for `switchyard gateway`: the real binary in front of stub model servers.

Each test asserts what a client sees: the status, the OpenAI error JSON, which endpoint served
(x-gateway-destination-endpoint), streaming timing, and process behaviour on signals.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, free_ports, metrics, post_json, recv_request_head,  # noqa: E402
                     request, run, start_process, stop_process, test, wait_port, wait_until,
                     write_file, process_log)
from stub_server import Stub  # noqa: E402

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


def gateway_config(stubs, extra="", scheduler=RR, admin_same=False, listen=None, admin=None,
                   addresses=None, idle="5s", request_timeout="3s"):
    lp, ap = free_ports(2)
    listen = listen or lp
    admin = admin or ap
    eps = "".join("    - address: %s\n" % a for a in (addresses or [s.address for s in stubs]))
    text = ("listen: 127.0.0.1:%d\n" % listen +
            ("admin: 127.0.0.1:%d\n" % (listen if admin_same else admin)) +
            "workers: 2\n"
            "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  endpoints:\n" + eps +
            "timeouts:\n  connect: 500ms\n  request: %s\n  idle: %s\n  drain: 5s\n" %
            (request_timeout, idle) + extra +
            scheduler)
    return text, listen, (listen if admin_same else admin)


class Gateway:
    def __init__(self, stubs, **kw):
        text, self.port, self.admin = gateway_config(stubs, **kw)
        self.path = write_file(text)
        self.proc = start_process([BIN, "gateway", "--config", self.path])
        wait_port(self.port, proc=self.proc)
        wait_port(self.admin, proc=self.proc)

    def wait_ready(self, n=None, timeout=10):
        def ready():
            st, _, body = request(self.admin, "GET", "/debug/endpoints")
            eps = json.loads(body)["endpoints"]
            r = sum(1 for e in eps if e["ready"])
            return r == (n if n is not None else len(eps))
        wait_until(ready, timeout, what="endpoints ready")

    def stop(self):
        return stop_process(self.proc)


def completion(port, model="m1", prompt="hello", stream=False, headers=None, **extra):
    body = {"model": model, "prompt": prompt, "max_tokens": 5, "stream": stream}
    body.update(extra)
    return post_json(port, "/v1/completions", body, headers=headers)


def err_of(body):
    e = json.loads(body)["error"]
    check(set(["message", "type", "code"]) <= set(e), "OpenAI error shape: %r" % e)
    return e


@test
def test_forwards_and_labels_the_endpoint():
    stubs = [Stub(), Stub()]
    gw = Gateway(stubs)
    gw.wait_ready()
    st, h, body = completion(gw.port, prompt="x" * 100)
    check(st == 200, "status %d %r" % (st, body))
    j = json.loads(body)
    dest = h["x-gateway-destination-endpoint"]
    check(dest == "127.0.0.1:%d" % j["served_by"], "destination header %s vs %s" % (dest, j))
    rid = h["x-request-id"]
    check(re.match(r"^[0-9a-f-]{36}$", rid), "generated request id %r" % rid)
    check(j["request_id"] == rid, "x-request-id passed upstream")
    # client-supplied request id is kept end to end; body reaches the server unchanged
    payload = {"model": "m1", "prompt": "p\u00e9 " * 50, "max_tokens": 3, "extra": [1, {"a": None}]}
    raw = json.dumps(payload).encode()
    st, h, body = request(gw.port, "POST", "/v1/completions", raw,
                          {"Content-Type": "application/json", "x-request-id": "my-id-1"})
    j = json.loads(body)
    import hashlib
    check(h["x-request-id"] == "my-id-1" and j["request_id"] == "my-id-1", "request id kept")
    check(j["body_sha256"] == hashlib.sha256(raw).hexdigest(), "body forwarded unchanged")
    for path in ("/v1/chat/completions", "/v1/responses", "/v1/embeddings"):
        st, h, body = post_json(gw.port, path, {"model": "m1", "messages": [], "input": "x"})
        check(st == 200 and "x-gateway-destination-endpoint" in h, "%s forwarded" % path)
    gw.stop()


@test
def test_large_body_passes_unchanged():
    stubs = [Stub()]
    gw = Gateway(stubs)
    gw.wait_ready()
    import hashlib
    raw = json.dumps({"model": "m1", "prompt": "y" * (3 << 20)}).encode()
    st, h, body = request(gw.port, "POST", "/v1/completions", raw,
                          {"Content-Type": "application/json"})
    j = json.loads(body)
    check(st == 200 and j["body_len"] == len(raw), "3 MiB body forwarded")
    check(j["body_sha256"] == hashlib.sha256(raw).hexdigest(), "3 MiB body unchanged")
    gw.stop()


@test
def test_early_answer_never_sends_another_requests_body():
    # A model server may answer before it has read the whole request body. The gateway then still
    # has the rest of the body to send, from the client's body buffer, which is the client
    # server's to free or reuse once the response has ended (here: the next large request's
    # body). The rest must never go out from that buffer: the upstream sees a prefix of the
    # first body, never the second client's bytes in it.
    n = 8 << 20  # more than the sockets buffer (the model server's receive buffer is small)
    metrics = ('vllm:num_requests_waiting{model_name="m1"} 0\n'
               'vllm:num_requests_running{model_name="m1"} 0\n'
               'vllm:kv_cache_usage_perc{model_name="m1"} 0\n').encode()
    got = []  # (bytes of the first POST's body received, whether all of it came)
    posts = [0]

    def serve(s):
        s.settimeout(10)
        buf = b""
        try:
            while True:
                req = recv_request_head(s, buf)
                if req is None:
                    return
                method, path, cl, buf = req
                if method == "GET":
                    out = (metrics if path == "/metrics"
                           else json.dumps({"data": [{"id": "m1"}]}).encode())
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(out) + out)
                    continue
                out = json.dumps({"choices": [{"text": "x"}]}).encode()
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(out) + out)
                posts[0] += 1
                first = posts[0] == 1
                if first:
                    time.sleep(1.0)  # answered; the body is read only now
                while len(buf) < cl:
                    d = s.recv(1 << 20)
                    if not d:
                        break
                    buf += d
                if first:
                    got.append((buf[:cl], len(buf) >= cl))
                if len(buf) < cl:
                    return
                buf = buf[cl:]
        except OSError:
            return
        finally:
            s.close()

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # inherited by accepted sockets
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    ls.settimeout(0.2)
    stop = threading.Event()

    def accept_loop():
        while not stop.is_set():
            try:
                s, _ = ls.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(s,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    address = "127.0.0.1:%d" % ls.getsockname()[1]
    lp, ap = free_ports(2)
    path = write_file("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 1\n" % (lp, ap) +
                      "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  endpoints:\n"
                      "    - address: %s\n" % address +
                      "timeouts:\n  connect: 500ms\n  request: 5s\n" + RR)
    proc = start_process([BIN, "gateway", "--config", path])
    wait_port(lp, proc=proc)
    wait_until(lambda: json.loads(request(ap, "GET", "/debug/endpoints")[2])["endpoints"][0]
               ["ready"], 10, what="endpoint ready")
    first, second = ({"model": "m1", "prompt": ch * n} for ch in "ab")
    st1 = post_json(lp, "/v1/completions", first, timeout=20)[0]
    st2 = post_json(lp, "/v1/completions", second, timeout=20)[0]
    check(st1 == 200 and st2 == 200, "both answered: %d %d" % (st1, st2))
    wait_until(lambda: got, 15, what="the model server read the first body")
    body, whole = got[0]
    sent = json.dumps(first).encode()
    check(sent.startswith(body),
          "the first body as sent, or cut short (%d of %d bytes, whole=%s, %d foreign 'b')" %
          (len(body), len(sent), whole, body.count(b"b")))
    check(proc.poll() is None, "gateway still running")
    stop_process(proc)
    stop.set()
    ls.close()


@test
def test_round_robin_cycles():
    stubs = [Stub(), Stub(), Stub()]
    gw = Gateway(stubs)
    gw.wait_ready()
    seen = []
    for _ in range(9):
        st, h, _ = completion(gw.port)
        check(st == 200)
        seen.append(h["x-gateway-destination-endpoint"])
    for i in range(3, 9):
        check(seen[i] == seen[i - 3], "round robin period 3: %r" % seen)
    check(len(set(seen[:3])) == 3, "all three endpoints used: %r" % seen)
    gw.stop()


@test
def test_sse_streams_incrementally():
    s = Stub()
    s.chunks = 5
    s.interval = 0.3
    gw = Gateway([s])
    gw.wait_ready()
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    body = json.dumps({"model": "m1", "prompt": "hi", "stream": True}).encode()
    t0 = time.time()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    check(r.status == 200, "status %d" % r.status)
    check(r.getheader("x-gateway-destination-endpoint") == s.address)
    check(r.getheader("content-type").startswith("text/event-stream"))
    times = []
    events = []
    buf = b""
    while True:
        line = r.fp.readline()  # chunked framing is handled by reading raw lines below
        if not line:
            break
        buf += line
        if line.startswith(b"data: "):
            events.append(line)
            times.append(time.time() - t0)
            if b"[DONE]" in line:
                break
    conn.close()
    check(len(events) >= 7, "5 tokens + usage + DONE, got %d" % len(events))
    check(times[-1] - times[0] > 1.0, "events spread over time: %r" % times)
    check(times[0] < 0.6, "first event arrives before the stream ends: %r" % times)
    gw.stop()


@test
def test_stream_usage_split_across_reads():
    """The usage event of a stream arriving in 9-byte pieces (one upstream read each) still
    reaches the client whole and is counted: lines that straddle reads are joined for the usage
    scan, whole lines are scanned in place."""
    s = Stub()
    s.split_usage = True
    gw = Gateway([s])
    gw.wait_ready()
    lv = '{model_name="m1",target_model_name="m1"}'
    for n, total in ((5, 5), (3, 8)):
        s.chunks = n
        st, h, body = completion(gw.port, stream=True)
        check(st == 200, "status %d" % st)
        check(b'"completion_tokens": %d' % n in body and body.rstrip().endswith(b"[DONE]"),
              "usage event and [DONE] reach the client whole: %r" % body[-300:])
        wait_until(lambda: metrics(gw.admin)[0].get(
            "inference_objective_output_tokens_sum" + lv, 0) >= total, 5,
            what="usage of %d streams recorded" % (2 if total > 5 else 1))
        m, text = metrics(gw.admin)
        check(m.get("inference_objective_output_tokens_sum" + lv) == total and
              m.get("inference_objective_input_tokens_sum" + lv) == 11 * (2 if total > 5 else 1),
              "tokens from the split usage line: %s" %
              [ln for ln in text.splitlines() if "_tokens_sum" in ln])
    gw.stop()
    s.stop()


@test
def test_client_errors():
    gw = Gateway([Stub(models=("m1", "m2"))])
    gw.wait_ready()
    st, h, body = request(gw.port, "POST", "/v1/completions", b"{not json",
                          {"Content-Type": "application/json"})
    check(st == 400 and err_of(body)["type"] == "invalid_request_error", "malformed JSON 400")
    st, h, body = post_json(gw.port, "/v1/completions", {"prompt": "no model"})
    check(st == 400 and "model" in err_of(body)["message"], "missing model 400")
    for bad in (0, -1, "2", 1.5):
        st, h, body = post_json(gw.port, "/v1/chat/completions",
                                {"model": "m1", "n": bad, "messages": [{"role": "user", "content": "x"}]})
        check(st == 400 and err_of(body)["type"] == "invalid_request_error" and
              "'n' must be a positive integer" in err_of(body)["message"], "n=%r 400: %r" % (bad, body))
    st, h, body = post_json(gw.port, "/v1/completions", {"model": "m1", "prompt": "x", "n": None})
    check(st == 200, "n null is the default: %r" % body)
    st, h, body = request(gw.port, "GET", "/v1/nothing-here")
    check(st == 404 and err_of(body), "unknown route 404")
    wait_until(lambda: request(gw.admin, "GET", "/v1/models")[2].count(b'"id"') == 2,
               what="models known")
    st, h, body = completion(gw.port, model="no-such-model")
    check(st == 404 and err_of(body)["code"] == "model_not_found", "unknown model 404: %r" % body)
    st, h, body = completion(gw.port, model="m2")
    check(st == 200, "second model served")
    gw.stop()


@test
def test_body_limit_413():
    gw = Gateway([Stub()], extra="limits:\n  maxBodyBytes: 1KiB\n")
    gw.wait_ready()
    st, h, body = completion(gw.port, prompt="z" * 2000)
    check(st == 413 and err_of(body), "413 over the limit: %d" % st)
    # the HTTP layer's refusals carry a string code like the gateway's other errors (was 413)
    e = err_of(body)
    check(e["code"] == "request_too_large" and e["type"] == "invalid_request_error" and
          "maxBodyBytes" in e["message"], "413's OpenAI error: %r" % e)
    # the limit is enforced before the body is read: a huge declared length is refused at once
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
    data = s.recv(4096)
    s.close()
    check(data.startswith(b"HTTP/1.1 413"), "413 without reading the body: %r" % data[:40])
    st, h, body = completion(gw.port, prompt="small")
    check(st == 200, "small request still fine")
    gw.stop()


@test
def test_no_ready_endpoint_503_and_ready_endpoint():
    s = Stub()
    s.mode = "close"
    gw = Gateway([s])
    time.sleep(0.5)
    st, h, body = completion(gw.port)
    check(st in (502, 503), "status %d" % st)
    check(err_of(body))
    st, _, _ = request(gw.admin, "GET", "/ready")
    check(st == 503, "/ready 503 with no ready endpoint")
    st, _, _ = request(gw.admin, "GET", "/health")
    check(st == 200, "/health alive")
    s.mode = "ok"
    gw.wait_ready()
    st, _, _ = request(gw.admin, "GET", "/ready")
    check(st == 200, "/ready 200 once an endpoint recovers")
    st, h, body = completion(gw.port)
    check(st == 200, "routes again after recovery")
    gw.stop()


@test
def test_dead_endpoint_gets_502_then_503():
    # an address with nothing listening: connect fails, retried, then 502/503
    dead = free_ports(1)[0]
    gw = Gateway([], addresses=["127.0.0.1:%d" % dead])
    time.sleep(0.3)
    st, h, body = completion(gw.port)
    check(st in (502, 503) and err_of(body), "dead pool gives 502/503, got %d" % st)
    gw.stop()


@test
def test_dropped_after_receipt_is_502_not_resent():
    # An endpoint that reads the whole request and then drops the connection may be generating
    # it: the request is not sent again elsewhere (issue 20), the client gets 502.
    good, bad = Stub(), Stub()
    gw = Gateway([good, bad])
    gw.wait_ready()
    # accepts, then drops every request without answering; its /metrics stays healthy, so it
    # stays a candidate ("close" also failed its scrapes: a scrape that came before the first
    # request took it out of the pool and nothing reached it, which a loaded machine made likely)
    bad.mode = "close_post"
    statuses = []
    for _ in range(60):  # until the broken endpoint has had a few (a random tie-break picks it)
        if bad.count() >= 3:
            break
        st, h, body = completion(gw.port)
        statuses.append(st)
        if st != 200:
            check(st == 502 and err_of(body)["code"] == "upstream_closed", "%d %r" % (st, body))
        else:
            check(h["x-gateway-destination-endpoint"] == good.address, "served by the good one")
    check(bad.count() >= 1 and statuses.count(502) == bad.count(),
          "each 502 is one request the broken endpoint received, none resent: %r, %d"
          % (statuses, bad.count()))
    check(len(good.requests) == statuses.count(200), "no request reached both endpoints")
    gw.stop()


@test
def test_endpoint_dies_mid_run():
    a, b = Stub(), Stub()
    gw = Gateway([a, b])
    gw.wait_ready()
    statuses = []
    for i in range(30):
        if i == 10:
            a.stop()
        st, h, _ = completion(gw.port)
        statuses.append(st)
    check(all(s == 200 for s in statuses), "no request lost when an endpoint dies: %r" % statuses)
    gw.stop()


@test
def test_upstream_timeout_504():
    s = Stub()
    gw = Gateway([s], extra="")
    gw.wait_ready()
    s.mode = "hang"
    s.hang_seconds = 6
    t0 = time.time()
    st, h, body = completion(gw.port)
    check(st == 504 and err_of(body), "504 on upstream timeout, got %d" % st)
    check(time.time() - t0 < 5.5, "timeout honoured")
    gw.stop()


@test
def test_broken_stream_ends_cleanly():
    s = Stub()
    gw = Gateway([s])
    gw.wait_ready()
    s.mode = "break"
    s.interval = 0.05
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
    conn.request("POST", "/v1/completions",
                 json.dumps({"model": "m1", "prompt": "x", "stream": True}).encode(),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    t0 = time.time()
    data = r.read()  # must terminate, not hang
    check(time.time() - t0 < 4, "stream ended promptly")
    check(b"tok0" in data and b"upstream_broken" in data, "error event ends the stream: %r" % data)
    gw.stop()


@test
def test_client_disconnect_cancels_upstream():
    s = Stub()
    s.chunks = 100
    s.interval = 0.05
    gw = Gateway([s])
    gw.wait_ready()
    c = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    body = json.dumps({"model": "m1", "prompt": "x", "stream": True}).encode()
    c.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    c.recv(1000)
    c.close()
    wait_until(lambda: s.aborted == 1, timeout=5, what="upstream sees the cancel")

    def idle():
        _, _, b = request(gw.admin, "GET", "/debug/endpoints")
        return json.loads(b)["endpoints"][0]["inflight_requests"] == 0
    wait_until(idle, timeout=5, what="in-flight released")
    gw.stop()


@test
def test_models_aggregated_and_metrics():
    a, b = Stub(models=("m1", "m2")), Stub(models=("m2", "m3"))
    gw = Gateway([a, b])
    gw.wait_ready()

    def models():
        st, _, body = request(gw.port, "GET", "/v1/models")
        return sorted(m["id"] for m in json.loads(body)["data"])
    wait_until(lambda: models() == ["m1", "m2", "m3"], what="aggregated, deduplicated models")
    for _ in range(4):
        completion(gw.port, model="m2")
    completion(gw.port, model="m2", stream=True)
    request(gw.port, "POST", "/v1/completions", b"{", {"Content-Type": "application/json"})
    # a request is recorded when the gateway finishes it, which may be just after the client has
    # its answer
    def recorded():
        t = request(gw.admin, "GET", "/metrics")[2]
        return b"inference_objective_request_error_total" in t and \
            b'inference_objective_request_total{model_name="m2",target_model_name="m2"} 5' in t
    wait_until(recorded, 5, what="the 5 completions and the 400 recorded")
    st, h, text = request(gw.admin, "GET", "/metrics")
    text = text.decode()
    check(st == 200)
    for name in ("inference_objective_request_total", "inference_objective_request_error_total",
                 "inference_objective_request_duration_seconds_bucket",
                 "inference_objective_request_ttft_seconds_bucket",
                 "inference_objective_input_tokens_bucket", "inference_objective_output_tokens_bucket",
                 "inference_pool_ready_pods", "inference_pool_average_queue_size",
                 "inference_pool_average_kv_cache_utilization",
                 "inference_extension_scheduler_e2e_duration_seconds"):
        check(name in text, "metric %s exported" % name)
    check('inference_objective_request_total{model_name="m2",target_model_name="m2"} 5' in text,
          "request count by model")
    check('inference_pool_ready_pods{name="switchyard"} 2' in text, "ready pods")
    promtool = shutil.which("promtool")
    check(promtool, "promtool installed (Debian prometheus)")
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True)
    # llm-d's router names (llm_d_epp_*, flow control) read "_d_" as a unit (days) to the linter;
    # the names are upstream's, so that one lint is accepted for them and nothing else
    problems = [ln for ln in (p.stdout + p.stderr).decode().splitlines() if ln.strip() and not (
        ln.startswith("llm_d_") and ln.endswith("should not contain abbreviated units"))]
    check(not problems, "promtool check metrics: %s" % "\n".join(problems))
    gw.stop()


@test
def test_queue_and_kv_reported_in_pool_gauges():
    a, b = Stub(), Stub()
    a.waiting, a.kv = 10, 0.5
    b.waiting, b.kv = 2, 0.1
    gw = Gateway([a, b])
    gw.wait_ready()

    def gauges():
        _, _, t = request(gw.admin, "GET", "/metrics")
        t = t.decode()
        return ('inference_pool_average_queue_size{name="switchyard"} 6' in t and
                'inference_pool_average_kv_cache_utilization{name="switchyard"} 0.3' in t)
    wait_until(gauges, what="pool averages from scraped metrics")
    gw.stop()


@test
def test_slow_metrics_never_polled_twice_at_once():
    # scrapes every 50 ms, /metrics answers after 300 ms: one poll per endpoint at a time,
    # so about one poll per 300 ms, never overlapping, and the endpoint stays ready
    a, b = Stub(), Stub()
    a.metrics_delay = b.metrics_delay = 0.3
    gw = Gateway([a, b])
    gw.wait_ready()
    before = a.metrics_polls
    time.sleep(1.5)
    polls = a.metrics_polls - before
    check(a.metrics_max_active == 1 and b.metrics_max_active == 1,
          "one /metrics poll in flight per endpoint (max %d, %d)" %
          (a.metrics_max_active, b.metrics_max_active))
    check(2 <= polls <= 7, "polls follow the slow endpoint, not the 50 ms tick: %d" % polls)
    st, _, _ = completion(gw.port)
    check(st == 200, "slow-metrics endpoints still serve: %d" % st)
    gw.stop()


def established(port):
    """Established TCP connections to 127.0.0.1:port (as seen by `ss`)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", "( dport = :%d )" % port],
                         capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if line.strip())


@test
def test_idle_timeouts_client_and_upstream():
    # timeouts.idle closes a silent client connection and an unused pooled upstream connection;
    # activity moves the deadline, so a connection used more often than that stays open
    stub = Stub()
    gw = Gateway([stub], idle="600ms")
    gw.wait_ready()
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
    c.request("POST", "/v1/completions", json.dumps({"model": "m1", "prompt": "x"}),
              {"Content-Type": "application/json"})
    c.getresponse().read()
    with_data = established(stub.port)  # the scraper's (one or two) + the data connection
    for _ in range(6):  # 1.2 s of requests 200 ms apart: never idle for 600 ms
        c.request("POST", "/v1/completions", json.dumps({"model": "m1", "prompt": "x"}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        check(r.status == 200, "request on the kept-alive connection: %d" % r.status)
        time.sleep(0.2)
    t0 = time.time()
    # now silent: the gateway closes it about 600 ms after the last response
    closed = False
    try:
        c.sock.settimeout(3)
        closed = c.sock.recv(1) == b""
    except OSError:
        closed = True
    waited = time.time() - t0
    check(closed and 0.2 <= waited <= 2.5, "idle client connection closed after %.2fs" % waited)
    # the upstream connection to the stub (data path) is closed as well; the scraper keeps its
    # own alive (/metrics every 50 ms, /v1/models every second)
    wait_until(lambda: established(stub.port) < with_data, timeout=3,
               what="idle upstream connection closed")
    gw.stop()


@test
def test_sigterm_drains_inflight_stream():
    s = Stub()
    s.chunks = 20
    s.interval = 0.15
    gw = Gateway([s])
    gw.wait_ready()
    result = {}

    def stream():
        st, h, body = completion(gw.port, stream=True)
        result["status"], result["body"] = st, body
    t = threading.Thread(target=stream)
    t.start()
    time.sleep(0.4)
    gw.proc.send_signal(signal.SIGTERM)
    # the listener closes once the loop has handled the signal (a loaded machine may take a
    # moment): while the stream is still in flight, a new connection must soon be refused
    refused = False
    while not refused and t.is_alive():
        try:
            socket.create_connection(("127.0.0.1", gw.port), timeout=1).close()
            time.sleep(0.05)
        except OSError:
            refused = True
    check(t.is_alive() or refused, "the stream was still in flight while new connections were tried")
    t.join(10)
    rc = gw.proc.wait(10)
    check(refused, "no new connections while draining")
    check(result.get("status") == 200 and b"[DONE]" in result.get("body", b""),
          "in-flight stream completed during drain")
    check(rc == 0, "exit 0 after drain, got %s" % rc)


@test
def test_sighup_reload_and_bad_reload():
    a, b = Stub(), Stub()
    gw = Gateway([a])
    gw.wait_ready()
    st, h, _ = completion(gw.port)
    check(h["x-gateway-destination-endpoint"] == a.address)
    # keep a connection open across the reload: it must keep working
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
    conn.request("GET", "/v1/models")
    conn.getresponse().read()
    text = open(gw.path).read().replace(a.address, b.address)
    with open(gw.path, "w") as f:
        f.write(text)
    gw.proc.send_signal(signal.SIGHUP)

    def moved():
        st, h, _ = completion(gw.port)
        return st == 200 and h["x-gateway-destination-endpoint"] == b.address
    wait_until(moved, what="reload takes effect")
    conn.request("GET", "/v1/models")
    check(conn.getresponse().status == 200, "connection survives the reload")
    with open(gw.path, "w") as f:
        f.write(text + "\nbogusKey: 1\n")
    gw.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    check(gw.proc.poll() is None, "still running after a bad reload")
    st, h, _ = completion(gw.port)
    check(st == 200 and h["x-gateway-destination-endpoint"] == b.address, "old config kept")
    check("bogusKey" in process_log(gw.proc), "bad reload logged with the key")
    gw.stop()


def metric_value(admin, name):
    m, _ = metrics(admin)
    check(name in m, "%s on /metrics" % name)
    return m[name]


def cpu_seconds(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


@test
def test_busy_poll_latency_mode():
    s = Stub()
    s.chunks = 3
    s.interval = 0.2
    gw = Gateway([s], extra="busyPoll: 10ms\n")
    gw.wait_ready()
    # requests and a stream work as without it; the workers poll after I/O
    for i in range(20):
        st, h, body = completion(gw.port)
        check(st == 200 and h["x-gateway-destination-endpoint"] == s.address, "request %d" % i)
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request("POST", "/v1/completions",
                 json.dumps({"model": "m1", "prompt": "hi", "stream": True}).encode(),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    t0, times = time.time(), []
    for line in r.fp:
        if line.startswith(b"data: "):
            times.append(time.time() - t0)
            if b"[DONE]" in line:
                break
    conn.close()
    check(len(times) >= 5 and times[-1] - times[0] > 0.3, "stream arrives over time: %r" % times)
    windows = metric_value(gw.admin, "switchyard_busy_poll_windows_total")
    check(windows > 0, "workers polled after I/O")
    metric_value(gw.admin, "switchyard_busy_poll_seconds_total")
    # idle, it sleeps: a worker that kept polling would burn a whole core
    time.sleep(0.1)
    c0 = cpu_seconds(gw.proc.pid)
    time.sleep(1.0)
    used = cpu_seconds(gw.proc.pid) - c0
    check(used < 0.3, "idle gateway used %.2f s of CPU in 1 s" % used)
    # a reload turns it off: no new windows once the ones already open have ended
    text = open(gw.path).read()
    with open(gw.path, "w") as f:
        f.write(text.replace("busyPoll: 10ms", "busyPoll: 0s"))
    gw.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "generation 2" in process_log(gw.proc), what="reload logged")
    completion(gw.port)
    time.sleep(0.1)  # longer than any window that had begun
    before = metric_value(gw.admin, "switchyard_busy_poll_windows_total")
    for _ in range(10):
        check(completion(gw.port)[0] == 200, "served with busyPoll off")
    check(metric_value(gw.admin, "switchyard_busy_poll_windows_total") == before,
          "no poll windows once turned off")
    # an out-of-range value is refused with its line; the running config stays
    with open(gw.path, "w") as f:
        f.write(text.replace("busyPoll: 10ms", "busyPoll: 1s"))
    gw.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "busyPoll: must be at most 10ms" in process_log(gw.proc),
               what="bad busyPoll refused")
    check(gw.proc.poll() is None and completion(gw.port)[0] == 200, "still serving")
    gw.stop()


@test
def test_listen_port_in_use():
    """A second gateway on a client port the first listens on exits 1 with "Address already in
    use" instead of joining its SO_REUSEPORT group (it did: the kernel then split the connections
    between the two gateways); the first keeps every connection."""
    stub = Stub()
    gw = Gateway([stub])
    gw.wait_ready()
    text, _, _ = gateway_config([stub], listen=gw.port)
    p = subprocess.run([BIN, "gateway", "--config", write_file(text)], capture_output=True,
                       timeout=20)
    msg = p.stderr.decode()
    check(p.returncode == 1 and "bind 127.0.0.1:%d: Address already in use" % gw.port in msg,
          "second gateway: exit %r, %r" % (p.returncode, msg))
    check(gw.proc.poll() is None and completion(gw.port)[0] == 200, "the first still serves")
    gw.stop()
    stub.stop()


@test
def test_check_flag():
    text, _, _ = gateway_config([Stub()])
    good = write_file(text)
    p = subprocess.run([BIN, "gateway", "--check", "--config", good], capture_output=True)
    check(p.returncode == 0, "valid config: %s" % p.stderr.decode())
    bad = write_file(text.replace("scrapeInterval", "scrapeIntervl"))
    p = subprocess.run([BIN, "gateway", "--check", "--config", bad], capture_output=True)
    msg = p.stderr.decode()
    check(p.returncode == 1, "invalid config exits 1")
    check(re.search(re.escape(bad) + r":\d+: .*scrapeIntervl", msg), "FILE:LINE: key: %r" % msg)
    bad2 = write_file(text.replace("round-robin-picker\n  schedulingProfiles",
                                   "no-such-plugin\n  schedulingProfiles"))
    p = subprocess.run([BIN, "gateway", "--check", "--config", bad2], capture_output=True)
    check(p.returncode == 1 and "no-such-plugin" in p.stderr.decode(), "bad scheduler plugin")
    # a hostile 1 MiB of flow nesting is refused at once (libyaml alone took minutes on it)
    deep = write_file("pool: " + "[" * ((1 << 20) - 6))
    p = subprocess.run([BIN, "gateway", "--check", "--config", deep], capture_output=True,
                       timeout=20)
    check(p.returncode == 1 and (deep + ":1: nesting deeper than 64 levels") in p.stderr.decode(),
          "deep nesting: %r" % p.stderr.decode())
    p = subprocess.run([BIN, "gateway", "--help"], capture_output=True)
    check(p.returncode == 0 and b"--config" in p.stdout, "--help")
    # --workers takes what the config's `workers` takes (1..1024; it was capped at 64)
    p = subprocess.run([BIN, "gateway", "--check", "-w", "100", "--config", good],
                       capture_output=True)
    check(p.returncode == 0, "-w 100: %r" % p.stderr)
    p = subprocess.run([BIN, "gateway", "--check", "-w", "1025", "--config", good],
                       capture_output=True)
    check(p.returncode == 2 and b"--workers: expected 1..1024, got '1025'" in p.stderr,
          "-w 1025: %r" % p.stderr)


@test
def test_log_level_flag_outranks_config():
    """`-l info` wins over the file's `logLevel: error`, at start and after a reload (the file's
    level used to replace the flag's as soon as it was loaded)."""
    s = Stub()
    text, port, admin = gateway_config([s], extra="logLevel: error\n")
    path = write_file(text)
    p = start_process([BIN, "gateway", "--config", path, "-l", "info"])
    try:
        wait_port(admin, proc=p)
        p.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in process_log(p), 10,
                   what="an info line after the reload")
    finally:
        stop_process(p)
        s.stop()
    q = start_process([BIN, "gateway", "--config", path])  # without the flag: the file's level
    try:
        wait_port(admin, proc=q)
        q.send_signal(signal.SIGHUP)
        wait_until(lambda: json.loads(request(admin, "GET", "/debug/endpoints")[2])["generation"]
                   == 2, 10, what="reloaded")
        check("configuration reloaded" not in process_log(q), "logLevel: error applies without -l")
        # logLevel removed from the file: a reload goes back to the default, info (it used to
        # keep error)
        with open(path, "w") as f:
            f.write(text.replace("logLevel: error\n", ""))
        q.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in process_log(q), 10,
                   what="an info line after the reload without logLevel")
    finally:
        stop_process(q)
    for flags, want in (([], "logLevel, "), (["-l", "warn"], "logLevel (pinned by --log-level), ")):
        out = subprocess.run([BIN, "gateway", "--check", "--config", path] + flags,
                             capture_output=True, text=True, timeout=20)
        check(out.returncode == 0 and want in out.stdout, "--check %r: %r" % (flags, out.stdout))


@test
def test_admin_on_listen_port():
    gw = Gateway([Stub()], admin_same=True)
    gw.wait_ready()
    st, _, body = request(gw.port, "GET", "/metrics")
    check(st == 200 and b"inference_pool_ready_pods" in body, "metrics on the shared port")
    st, h, _ = completion(gw.port)
    check(st == 200)
    gw.stop()


@test
def test_openai_node_sdk():
    node_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node")
    if not os.path.isdir(os.path.join(node_dir, "node_modules", "openai")):
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=node_dir,
                           capture_output=True, timeout=300)
        check(p.returncode == 0, "npm ci: %s" % (p.stdout + p.stderr).decode()[-2000:])
    gw = Gateway([Stub(), Stub()])
    gw.wait_ready()
    p = subprocess.run(["node", os.path.join(node_dir, "openai_sdk.mjs"),
                        "http://127.0.0.1:%d/v1" % gw.port], capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode()
    check(p.returncode == 0 and "OK" in out, "OpenAI SDK run: %s" % out)
    gw.stop()


if __name__ == "__main__":
    run()
