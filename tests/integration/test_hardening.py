"""Integration tests for issue 20: hostile clients and broken backends against the real gateway.

Each test drives the real binary on loopback and asserts the documented contract: slow or
stalled clients get deadlines, pipelined requests never pile up responses, a broken backend is
reported with the right status and never sent a generation twice, bad bytes get 400 with valid
JSON, reload applies limits, drain keeps /health answering, descriptor exhaustion does not
freeze the gateway, and API keys guard the routes. Every loop is bounded in count and time.
"""
import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, ROUND_ROBIN, check, endpoints, free_ports, process_log,  # noqa: E402
                     recv_request_head, request, run, start_gateway, stop_process, test,
                     wait_until, write_file)
from stub_server import Stub  # noqa: E402

RR = "\n" + ROUND_ROBIN


def config_text(addresses, listen, admin, workers=2, timeouts=None, limits=None, retry=None,
                auth="", pool_extra=""):
    t = {"connect": "500ms", "request": "3s", "idle": "5s", "drain": "5s"}
    t.update(timeouts or {})
    text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: %d\n" % (listen, admin, workers) +
            "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n" + pool_extra + "  endpoints:\n" +
            "".join("    - address: %s\n" % a for a in addresses) +
            "timeouts:\n" + "".join("  %s: %s\n" % kv for kv in t.items()))
    if limits:
        text += "limits:\n" + "".join("  %s: %s\n" % kv for kv in limits.items())
    if retry:
        text += "retry:\n  maxAttempts: %d\n" % retry
    return text + auth + RR


class GW:
    def __init__(self, addresses, preexec_fn=None, **kw):
        self.port, self.admin = free_ports(2)
        self.kw = kw
        self.addresses = addresses
        self.path = write_file(config_text(addresses, self.port, self.admin, **kw))
        self.proc = start_gateway(self.path, self.port, self.admin, preexec_fn=preexec_fn)

    def rewrite(self, **kw):
        args = dict(self.kw)
        args.update(kw)
        with open(self.path, "w") as f:
            f.write(config_text(self.addresses, self.port, self.admin, **args))

    def endpoints(self):
        return endpoints(self.admin)

    def wait_ready(self, timeout=10):
        wait_until(lambda: all(e["ready"] for e in self.endpoints()), timeout,
                   what="endpoints ready")

    def inflight(self):
        return sum(e["inflight_requests"] for e in self.endpoints())

    def stop(self):
        return stop_process(self.proc)


METRICS = ('vllm:num_requests_waiting{model_name="m1"} 0\n'
           'vllm:num_requests_running{model_name="m1"} 0\n'
           'vllm:kv_cache_usage_perc{model_name="m1"} 0.1\n').encode()
MODELS = b'{"object":"list","data":[{"id":"m1","object":"model"}]}'


class RawStub:
    """A model server whose POST answers are scripted on the raw socket: on_post(sock, head_text,
    body) writes whatever it wants and returns True to keep the connection. GET /metrics and
    /v1/models get ordinary keep-alive answers, so the gateway sees a ready endpoint."""

    def __init__(self, on_post):
        self.on_post = on_post
        self.posts = []  # (x-request-id, time)
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        c.settimeout(30)
        try:
            while True:
                got = recv_request_head(c, buf)
                if got is None:
                    return
                method, path, n, rest = got
                while len(rest) < n:
                    d = c.recv(65536)
                    if not d:
                        return
                    rest += d
                body, buf = rest[:n], rest[n:]
                if method == "GET":
                    data = METRICS if path == "/metrics" else MODELS
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
                    continue
                rid = ""
                try:
                    rid = json.loads(body).get("rid", "")
                except ValueError:
                    pass
                with self.lock:
                    self.posts.append(rid)
                if not self.on_post(c, body):
                    return
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def count(self, rid=None):
        with self.lock:
            return len([r for r in self.posts if rid is None or r == rid])


def ok_json(c, body):
    data = b'{"id":"x","choices":[{"text":"hi"}]}'
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
              % (len(data), data))
    return True


def raw_post(port, body, extra_headers=b"", path=b"/v1/completions"):
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n%s\r\n%s" % (path, len(body), extra_headers, body))


def read_until_close(s, limit_s):
    """Reads until EOF or limit_s; returns (data, closed)."""
    data = b""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        s.settimeout(max(0.05, deadline - time.time()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            return data, True
        if not d:
            return data, True
        data += d
    return data, False


def post(port, obj, headers=None, timeout=15):
    return request(port, "POST", "/v1/completions", json.dumps(obj).encode(),
                   dict({"Content-Type": "application/json"}, **(headers or {})), timeout)


# ---- control headers and bad bytes ----

@test
def test_client_control_headers_are_stripped():
    s = Stub()
    gw = GW([s.address])
    gw.wait_ready()
    hdrs = {"x-gateway-destination-endpoint": "10.9.9.9:80",
            "x-gateway-destination-endpoint-subset": "10.9.9.9:80",
            "x-prefiller-host-port": "10.9.9.9:8000",
            "x-encoder-hosts-ports": "10.9.9.9:8001",
            "x-data-parallel-host-port": "10.9.9.9:8002",
            "X-Data-Parallel-Endpoint": "10.9.9.9:8003",
            "x-data-parallel-rank": "3",
            "x-kv-cache-source-host-port": "10.9.9.9:8004"}
    st, h, body = post(gw.port, {"model": "m1", "prompt": "x"}, hdrs)
    check(st == 200, "status %d %r" % (st, body))
    check(h["x-gateway-destination-endpoint"] == s.address, "served by the pool's endpoint")
    got = s.requests[-1]["headers"]
    leaked = [k for k in hdrs if k.lower() in got]
    check(not leaked, "control headers forwarded upstream: %r" % leaked)
    gw.stop()


@test
def test_nul_and_invalid_utf8_are_400_with_valid_json():
    s = Stub()
    gw = GW([s.address])
    gw.wait_ready()
    n0 = len(s.requests)
    cases = [b'{"model":"m1\\u0000evil","prompt":"x"}',  # cut at NUL would route as m1
             b'{"model":"m\xff1","prompt":"x"}',
             b'{"model":"m1","prompt":"bad \xc3\x28 byte"}',
             b'{"model":"m1","prompt":"overlong \xc0\xaf"}',
             b'{"model":"m1","prompt":"surrogate \xed\xa0\x80"}']
    for raw in cases:
        st, h, body = request(gw.port, "POST", "/v1/completions", raw,
                              {"Content-Type": "application/json"})
        check(st == 400, "status %d for %r: %r" % (st, raw, body))
        e = json.loads(body.decode("utf-8"))["error"]  # strict: must be valid UTF-8 JSON
        check(e["type"] == "invalid_request_error", "error shape %r" % e)
    check(len(s.requests) == n0, "nothing invalid reached the model server")
    # an error that echoes client bytes (the route) still has a valid JSON body
    c = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    c.sendall(b"GET /nope\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data, _ = read_until_close(c, 5)
    c.close()
    check(data.startswith(b"HTTP/1.1 404"), "404 for an unknown route: %r" % data[:40])
    body = data.split(b"\r\n\r\n", 1)[1]
    json.loads(body.decode("utf-8"))
    # every exposition line is valid UTF-8 (promtool rejects anything else)
    st, _, text = request(gw.admin, "GET", "/metrics")
    text.decode("utf-8")
    # a valid model still works
    st, _, body = post(gw.port, {"model": "m1", "prompt": "caf\u00e9"})
    check(st == 200, "valid request after the bad ones: %d" % st)
    gw.stop()


# ---- backends that break ----

@test
def test_content_length_stream_broken_is_closed_not_appended():
    def handler(c, body):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 1000\r\n"
                  b"\r\ndata: {\"x\":1}\n\n")
        time.sleep(0.2)
        return False  # drop the connection 984 bytes short
    rs = RawStub(handler)
    gw = GW([rs.address])
    gw.wait_ready()
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    s.sendall(raw_post(gw.port, b'{"model":"m1","prompt":"x","stream":true}'))
    data, closed = read_until_close(s, 6)
    s.close()
    check(data.startswith(b"HTTP/1.1 200"), "head forwarded: %r" % data[:60])
    check(b"content-length: 1000" in data.lower(), "framed by Content-Length: %r" % data[:300])
    check(closed, "the connection is closed, so the client never waits for the missing bytes")
    check(b"upstream_broken" not in data, "no event appended past the Content-Length: %r" % data)
    gw.stop()


@test
def test_response_head_deadline():
    """timeouts.request bounds the whole head: trickled bytes and 1xx do not extend it; a head
    timeout is 504 and is not retried on another endpoint."""
    stop = threading.Event()

    def trickle(c, body):
        for b in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n":
            if stop.wait(0.3):
                return False
            c.sendall(bytes([b]))
        return False

    def continues(c, body):
        for _ in range(80):
            if stop.wait(0.1):
                return False
            c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        return False

    def half_head(c, body):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Ty")
        stop.wait(8)
        return False

    for name, fn, nstubs in (("trickled head", trickle, 1), ("100 Continue flood", continues, 1),
                             ("half a head", half_head, 2)):
        stubs = [RawStub(fn) for _ in range(nstubs)]
        gw = GW([x.address for x in stubs], timeouts={"request": "1s"}, retry=3)
        gw.wait_ready()
        t0 = time.time()
        st, h, body = post(gw.port, {"model": "m1", "prompt": "x", "rid": name}, timeout=12)
        dt = time.time() - t0
        check(st == 504, "%s: status %d %r" % (name, st, body))
        check(json.loads(body)["error"]["code"] == "upstream_timeout", "%s: %r" % (name, body))
        check(dt < 4.5, "%s: answered after %.1fs (deadline 1s)" % (name, dt))
        sent = sum(x.count(name) for x in stubs)
        check(sent == 1, "%s: sent upstream %d times (a head timeout is not retried)" % (name, sent))
        gw.stop()
    stop.set()


@test
def test_stream_idle_limit_after_head():
    def stall(c, body):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        ev = b'data: {"x":1}\n\n'
        c.sendall(b"%x\r\n%s\r\n" % (len(ev), ev))
        time.sleep(8)
        return False
    rs = RawStub(stall)
    gw = GW([rs.address], timeouts={"request": "5s", "streamIdle": "1s"})
    gw.wait_ready()
    t0 = time.time()
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request("POST", "/v1/completions", body=b'{"model":"m1","prompt":"x","stream":true}',
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()  # a proper chunked end, else IncompleteRead
    dt = time.time() - t0
    check(b'"upstream_broken"' in data, "the stream ends with an error event: %r" % data)
    check(dt < 4, "ended %.1fs after the start (streamIdle 1s)" % dt)
    conn.close()
    log = process_log(gw.proc)
    check("silent past the stream idle limit" in log and "I/O error" not in log,
          "the log names the stream idle limit: %s" % log[-600:])
    gw.stop()


@test
def test_post_never_sent_twice_on_a_reused_connection():
    state = {"n": 0}

    def handler(c, body):
        state["n"] += 1
        if state["n"] == 1:
            return ok_json(c, body)  # the first request leaves a pooled keep-alive connection
        return False  # the backend read the whole request, then the connection dropped
    rs = RawStub(handler)
    gw = GW([rs.address], workers=1, retry=1)
    gw.wait_ready()
    st, _, _ = post(gw.port, {"model": "m1", "prompt": "x", "rid": "first"})
    check(st == 200, "first request %d" % st)
    st, _, body = post(gw.port, {"model": "m1", "prompt": "x", "rid": "dup"})
    check(st == 502, "a request the backend received and dropped is 502: %d %r" % (st, body))
    time.sleep(0.3)
    check(rs.count("dup") == 1, "the POST reached the backend %d times" % rs.count("dup"))
    # with more attempts allowed it still is not resent: the backend had the whole request
    gw.stop()
    state["n"] = 0
    gw = GW([rs.address], workers=1, retry=3)
    gw.wait_ready()
    post(gw.port, {"model": "m1", "prompt": "x", "rid": "first2"})
    st, _, body = post(gw.port, {"model": "m1", "prompt": "x", "rid": "dup2"})
    time.sleep(0.3)
    check(st == 502 and rs.count("dup2") == 1,
          "maxAttempts 3: %d, sent %d times" % (st, rs.count("dup2")))
    gw.stop()


# ---- hostile clients ----

@test
def test_slowloris_head_and_body_get_408():
    s = Stub()
    gw = GW([s.address], timeouts={"header": "1s", "body": "1s"})
    gw.wait_ready()
    results = {}

    def slow(name, first, trickle):
        c = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        t0 = time.time()
        c.sendall(first)
        for b in trickle:
            if time.time() - t0 > 6:
                break
            try:
                c.sendall(bytes([b]))
            except OSError:
                break
            time.sleep(0.2)
        data, closed = read_until_close(c, 2)
        results[name] = (data, closed, time.time() - t0)
        c.close()

    head = (b"POST /v1/completions HTTP/1.1\r\n",
            b"Host: x\r\nX-Padding: " + b"a" * 100 + b"\r\nContent-Length: 2\r\n\r\n{}")
    body = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n",
            b'{"model":"m1","prompt":"' + b"b" * 200)
    ts = [threading.Thread(target=slow, args=("head",) + head),
          threading.Thread(target=slow, args=("body",) + body)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(15)
    for name in ("head", "body"):
        data, closed, dt = results[name]
        check(data.startswith(b"HTTP/1.1 408"), "%s: 408 expected, got %r" % (name, data[:80]))
        check(closed, "%s: closed after the 408" % name)
        e = json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]
        check(e["code"] == "request_timeout", "%s: 408's code: %r" % (name, e))
        check(dt < 5, "%s: took %.1fs (deadline 1s)" % (name, dt))
    gw.stop()


@test
def test_half_closed_client_is_served():
    s = Stub()
    gw = GW([s.address])
    gw.wait_ready()
    c = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    c.sendall(raw_post(gw.port, b'{"model":"m1","prompt":"x"}'))
    c.shutdown(socket.SHUT_WR)
    data, closed = read_until_close(c, 5)
    c.close()
    check(data.startswith(b"HTTP/1.1 200"), "half-closed client answered: %r" % data[:80])
    check(b"served_by" in data and closed, "whole response, then close")
    gw.stop()


@test
def test_stalled_reader_is_released_by_send_timeout():
    stop = threading.Event()

    def firehose(c, body):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        ev = b"data: " + b"z" * 65536 + b"\n\n"
        chunk = b"%x\r\n%s\r\n" % (len(ev), ev)
        c.settimeout(1)
        t0 = time.time()
        while not stop.is_set() and time.time() - t0 < 20:
            try:
                c.sendall(chunk)
            except socket.timeout:
                continue
            except OSError:
                return False
        return False
    rs = RawStub(firehose)
    gw = GW([rs.address], timeouts={"send": "1s"})
    gw.wait_ready()
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.connect(("127.0.0.1", gw.port))
    c.sendall(raw_post(gw.port, b'{"model":"m1","prompt":"x","stream":true}'))
    c.settimeout(5)
    check(c.recv(64).startswith(b"HTTP/1.1 200"), "stream began")
    wait_until(lambda: gw.inflight() == 1, 5, what="request in flight")
    # the client now reads nothing while staying connected
    try:
        wait_until(lambda: gw.inflight() == 0, 10, interval=0.2,
                   what="in-flight count released by timeouts.send")
    finally:
        stop.set()
        c.close()
    gw.stop()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@test
def test_pipelined_requests_without_reading_stay_bounded():
    s = Stub()
    gw = GW([s.address], workers=1)
    gw.wait_ready()
    st, _, text = request(gw.admin, "GET", "/metrics")
    size = len(text)
    n = min(20000, (160 << 20) // max(size, 1))  # ~160 MB of answers if all were queued
    before = rss_kb(gw.proc.pid)
    c = socket.create_connection(("127.0.0.1", gw.admin), timeout=5)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reqs = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * n
    c.settimeout(0.5)
    sent = 0
    t0 = time.time()
    while sent < len(reqs) and time.time() - t0 < 8:
        try:
            sent += c.send(reqs[sent:sent + 65536])
        except socket.timeout:
            pass
    time.sleep(1.0)
    grown = rss_kb(gw.proc.pid) - before
    c.close()
    check(grown < 40 * 1024, "RSS grew by %d KB for %d pipelined requests of a %d-byte answer"
          % (grown, n, size))
    # the listener still answers
    st, _, _ = request(gw.admin, "GET", "/health")
    check(st == 200, "admin still serves")
    gw.stop()


# ---- reload, drain, descriptors ----

def wait_reloaded(gw, n):
    wait_until(lambda: process_log(gw.proc).count("configuration reloaded") >= n, 10,
               what="reload %d" % n)


@test
def test_reload_applies_body_limit_and_idle_timeout():
    s = Stub()
    gw = GW([s.address], limits={"maxBodyBytes": "1KiB"}, timeouts={"idle": "60s"})
    gw.wait_ready()
    big = {"model": "m1", "prompt": "p" * 2000}
    st, _, _ = post(gw.port, big)
    check(st == 413, "2 KB body over a 1 KiB limit: %d" % st)
    gw.rewrite(limits={"maxBodyBytes": "1MiB"}, timeouts={"idle": "1s"})
    gw.proc.send_signal(signal.SIGHUP)
    wait_reloaded(gw, 1)
    ok = False
    for _ in range(50):  # workers apply the limits on their loops right after the reload
        st, _, _ = post(gw.port, big)
        if st == 200:
            ok = True
            break
        time.sleep(0.1)
    check(ok, "maxBodyBytes applied by SIGHUP")
    c = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    c.sendall(raw_post(gw.port, b'{"model":"m1","prompt":"x"}'))
    data, closed = read_until_close(c, 3.5)
    c.close()
    check(data.startswith(b"HTTP/1.1 200") and closed,
          "idle keep-alive closed after the reloaded 1s idle timeout: closed=%s" % closed)
    gw.stop()
    out = subprocess.run([BIN, "gateway", "--config", gw.path, "--check"], capture_output=True,
                         text=True, timeout=20)
    check(out.returncode == 0 and "timeouts.idle" in out.stdout and "restart" in out.stdout,
          "--check lists what reloads: %r" % out.stdout)


@test
def test_drain_keeps_health_closes_idle_and_ends_cut_streams():
    s = Stub()
    s.chunks = 100
    s.interval = 0.1  # a 10 s stream, longer than the drain timeout
    gw = GW([s.address], timeouts={"drain": "1s"})
    gw.wait_ready()
    idle = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
    idle.request("POST", "/v1/completions", body=b'{"model":"m1","prompt":"x"}',
                 headers={"Content-Type": "application/json"})
    check(idle.getresponse().read() != b"", "keep-alive request served")
    stream = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    stream.request("POST", "/v1/completions", body=b'{"model":"m1","prompt":"x","stream":true}',
                   headers={"Content-Type": "application/json"})
    r = stream.getresponse()
    check(r.status == 200, "stream began")
    check(r.read(10) != b"", "the stream is flowing")
    # a busy keep-alive client: its request in flight at SIGTERM is answered with
    # Connection: close, then the connection closes (no more requests served on it)
    busy = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    s.delay = 0.6
    busy.sendall(raw_post(gw.port, b'{"model":"m1","prompt":"slow"}'))
    time.sleep(0.2)
    gw.proc.send_signal(signal.SIGTERM)
    busy_data, busy_closed = read_until_close(busy, 3)
    busy.close()
    check(busy_data.startswith(b"HTTP/1.1 200") and b"connection: close" in busy_data.lower(),
          "in-flight request answered with Connection: close: %r" % busy_data[:300])
    check(busy_closed, "the busy connection closes after its response")
    st, _, body = request(gw.admin, "GET", "/health", timeout=3)
    check(st == 503 and b"draining" in body, "/health answers 503 while draining: %d" % st)
    sock = idle.sock
    sock.settimeout(3)
    check(sock.recv(1) == b"", "idle keep-alive connection closed at drain")
    rest = r.read()  # chunked to its proper end, else IncompleteRead
    check(b'"upstream_broken"' in rest or b'"shutting_down"' in rest,
          "a stream cut at the drain deadline ends with an error event: %r" % rest[-200:])
    check(b"[DONE]" not in rest, "the stream was cut, not finished")
    check(gw.proc.wait(10) == 0, "exit 0 after drain")


def limit_fds(n):
    def fn():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return fn


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def out_of_descriptors(limits, expect_emfile=False):
    s = Stub()
    gw = GW([s.address], workers=2, preexec_fn=limit_fds(160), limits=limits)
    gw.wait_ready()
    keep = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
    keep.request("POST", "/v1/completions", body=b'{"model":"m1","prompt":"x"}',
                 headers={"Content-Type": "application/json"})
    check(keep.getresponse().read() != b"", "a connection served before the flood")
    flood = []
    for _ in range(300):
        try:
            flood.append(socket.create_connection(("127.0.0.1", gw.port), timeout=2))
        except OSError:
            break
    time.sleep(0.5)
    c0 = cpu_seconds(gw.proc.pid)
    time.sleep(1.0)
    busy = cpu_seconds(gw.proc.pid) - c0
    # the connection it has is still served
    keep.request("POST", "/v1/completions", body=b'{"model":"m1","prompt":"x"}',
                 headers={"Content-Type": "application/json"})
    r = keep.getresponse()
    check(r.status == 200 and r.read() != b"", "an existing connection is served while out of fds")
    if expect_emfile:
        check("accepting paused" in process_log(gw.proc), "EMFILE reached and accepting paused")
    for f in flood:
        f.close()
    check(busy < 0.5, "workers spin while out of descriptors: %.2f CPU s in 1 s" % busy)
    # descriptors free again: new connections are served
    ok = False
    for _ in range(50):
        try:
            st, _, _ = post(gw.port, {"model": "m1", "prompt": "x"}, timeout=3)
            if st == 200:
                ok = True
                break
        except OSError:
            pass
        time.sleep(0.1)
    check(ok, "new connections served once descriptors free up")
    check(stop_process(gw.proc, timeout=10) == 0, "SIGTERM still stops it")


@test
def test_out_of_descriptors_default_cap():
    # the default per-worker cap is a share of the descriptor limit: accepting pauses before EMFILE
    out_of_descriptors(None)


@test
def test_out_of_descriptors_emfile_pauses_accepting():
    # a cap above the limit: accept hits EMFILE, pauses, and resumes when descriptors free up
    out_of_descriptors({"maxConnectionsPerWorker": 1000}, expect_emfile=True)


@test
def test_connection_cap_per_worker():
    s = Stub()
    gw = GW([s.address], workers=1, limits={"maxConnectionsPerWorker": 4})
    gw.wait_ready()
    conns = [socket.create_connection(("127.0.0.1", gw.port), timeout=2) for _ in range(8)]
    time.sleep(0.3)
    # the 4 accepted connections are served; the others wait in the backlog
    served = 0
    for c in conns[:4]:
        c.sendall(raw_post(gw.port, b'{"model":"m1","prompt":"x"}'))
    for c in conns[:4]:
        c.settimeout(3)
        try:
            served += c.recv(12).startswith(b"HTTP/1.1 200")
        except socket.timeout:
            pass
    check(served == 4, "first 4 served: %d" % served)
    c = conns[7]
    c.sendall(raw_post(gw.port, b'{"model":"m1","prompt":"x"}'))
    c.settimeout(0.5)
    try:
        early = c.recv(12)
    except socket.timeout:
        early = b""
    check(early == b"", "the fifth connection waits while 4 are open: %r" % early)
    for x in conns[:4]:
        x.close()
    c.settimeout(5)
    check(c.recv(12).startswith(b"HTTP/1.1 200"), "served once a slot frees up")
    for x in conns:
        x.close()
    gw.stop()


# ---- API keys ----

AUTH = """auth:
  apiKeys: ["sk-test-0123456789"]
  apiKeysFile: %s
  protectAdmin: true
"""


@test
def test_api_keys():
    s = Stub()
    keyfile = write_file("# rotated keys\nsk-file-key-aaaa\n\n", suffix=".keys")
    gw = GW([s.address], auth=AUTH % keyfile)
    wait_until(lambda: request(gw.admin, "GET", "/debug/endpoints",
                               headers={"Authorization": "Bearer sk-test-0123456789"})[0] == 200,
               5, what="admin up")
    body = {"model": "m1", "prompt": "x"}
    st, h, b = post(gw.port, body)
    check(st == 401, "no key: %d" % st)
    e = json.loads(b)["error"]
    check(e["code"] == "invalid_api_key" and e["type"] == "invalid_request_error", "%r" % e)
    check(h.get("www-authenticate", "").lower().startswith("bearer"), "WWW-Authenticate")
    st, _, _ = post(gw.port, body, {"Authorization": "Bearer sk-test-0123456780"})
    check(st == 401, "wrong key: %d" % st)
    st, _, _ = post(gw.port, body, {"Authorization": "Bearer sk-test-012345678"})
    check(st == 401, "a key's prefix: %d" % st)
    n0 = len(s.requests)
    for k in ("sk-test-0123456789", "sk-file-key-aaaa"):
        wait_until(lambda: all(e["ready"] for e in json.loads(request(
            gw.admin, "GET", "/debug/endpoints",
            headers={"Authorization": "Bearer " + k})[2])["endpoints"]), 10, what="ready")
        st, _, _ = post(gw.port, body, {"Authorization": "Bearer " + k})
        check(st == 200, "key %s: %d" % (k, st))
    check(len(s.requests) == n0 + 2, "only authorized requests reached the model server")
    # x-api-key is the Anthropic clients' header: accepted on /v1/messages only
    st, _, _ = post(gw.port, body, {"x-api-key": "sk-test-0123456789"})
    check(st == 401, "x-api-key on /v1/completions: %d" % st)
    st, _, _ = request(gw.port, "POST", "/v1/messages", b'{"model":"m1","messages":[]}',
                       {"Content-Type": "application/json", "x-api-key": "sk-test-0123456789"})
    check(st != 401, "x-api-key accepted on /v1/messages: %d" % st)
    st, _, _ = request(gw.port, "POST", "/v1/messages", b'{"model":"m1","messages":[]}',
                       {"Content-Type": "application/json", "x-api-key": "nope-nope-nope"})
    check(st == 401, "a wrong x-api-key on /v1/messages: %d" % st)
    # admin: /metrics and /debug protected, probes open
    check(request(gw.admin, "GET", "/metrics")[0] == 401, "/metrics protected")
    check(request(gw.admin, "GET", "/debug/decisions")[0] == 401, "/debug protected")
    check(request(gw.admin, "GET", "/health")[0] == 200, "/health open")
    # /v1/models is a client route on the admin listener too
    st, _, b = request(gw.admin, "GET", "/v1/models")
    check(st == 401 and json.loads(b)["error"]["code"] == "invalid_api_key",
          "/v1/models on the admin listener without a key: %d %r" % (st, b))
    st, _, b = request(gw.admin, "GET", "/v1/models",
                       headers={"Authorization": "Bearer sk-file-key-aaaa"})
    check(st == 200 and b"m1" in b, "/v1/models on the admin listener with a key: %d" % st)
    check(request(gw.admin, "GET", "/metrics",
                  headers={"Authorization": "Bearer sk-file-key-aaaa"})[0] == 200,
          "/metrics with a key")
    # SIGHUP re-reads the key file: a rotated key takes over
    with open(keyfile, "w") as f:
        f.write("sk-file-key-bbbb\n")
    gw.proc.send_signal(signal.SIGHUP)
    wait_reloaded(gw, 1)
    st, _, _ = post(gw.port, body, {"Authorization": "Bearer sk-file-key-aaaa"})
    check(st == 401, "the rotated-out key: %d" % st)
    st, _, _ = post(gw.port, body, {"Authorization": "Bearer sk-file-key-bbbb"})
    check(st == 200, "the new key: %d" % st)
    gw.stop()


@test
def test_api_keys_on_a_listener_shared_with_admin():
    """With `admin` equal to `listen` (the default when it is left out) only the admin routes
    take the admin rule: every other path is a client route and needs a key (they used to pass
    without one unless they began with /v1/). On the Messages route the 401 is Anthropic's."""
    s = Stub()
    port = free_ports(1)[0]
    path = write_file(config_text([s.address], port, port,
                                  auth='auth:\n  apiKeys: ["sk-test-0123456789"]\n'))
    gw = start_gateway(path, port, port)
    try:
        key = {"Authorization": "Bearer sk-test-0123456789"}
        wait_until(lambda: all(e["ready"] for e in endpoints(port)), 10, what="ready")
        n0 = len(s.requests)
        for route, body in (("/inference/v1/generate", b'{"model":"m1","token_ids":[1,2]}'),
                            ("/openai/v1/chat/completions",
                             b'{"model":"m1","messages":[{"role":"user","content":"x"}]}'),
                            ("/tokenize", b'{"model":"m1","prompt":"x"}')):
            st, h, b = request(port, "POST", route, body, {"Content-Type": "application/json"})
            check(st == 401 and json.loads(b)["error"]["code"] == "invalid_api_key",
                  "%s without a key: %d %r" % (route, st, b))
            check(h.get("www-authenticate", "").lower().startswith("bearer"), "WWW-Authenticate")
        check(len(s.requests) == n0, "nothing unauthorized reached the model server: %r"
              % s.requests[n0:])
        msg = b'{"model":"m1","max_tokens":2,"messages":[{"role":"user","content":"x"}]}'
        for route in ("/v1/messages", "/anthropic/v1/messages"):
            st, _, b = request(port, "POST", route, msg, {"Content-Type": "application/json"})
            e = json.loads(b)
            check(st == 401 and e["type"] == "error" and
                  e["error"]["type"] == "authentication_error", "%s: %d %r" % (route, st, b))
            st, _, _ = request(port, "POST", route, msg, {"Content-Type": "application/json",
                                                          "x-api-key": "sk-test-0123456789"})
            check(st != 401, "x-api-key accepted on %s: %d" % (route, st))
        st, _, _ = request(port, "POST", "/tokenize", b'{"model":"m1","prompt":"x"}',
                           dict(key, **{"Content-Type": "application/json"}))
        check(st == 200, "a passed-through POST with a key: %d" % st)
        for route in ("/health", "/ready", "/metrics", "/debug/endpoints"):
            check(request(port, "GET", route)[0] == 200, "%s stays open" % route)
        check(request(port, "GET", "/v1/models")[0] == 401, "/v1/models is a client route")
    finally:
        stop_process(gw)
        s.stop()


@test
def test_api_keys_admin_paths_are_never_proxied():
    """On a listener shared with the admin routes only GET and HEAD take the admin rule: POST
    /health or POST /debug/v1/chat/completions used to skip the key and reach the model server
    (a suffix route). With keys they are 401; without keys 405 - an admin path is never
    proxied. The separate admin listener answers them 405 too."""
    s = Stub()
    chat = b'{"model":"m1","messages":[{"role":"user","content":"x"}]}'
    routes = ("/health", "/ready", "/metrics", "/debug/v1/chat/completions",
              "/debug/../v1/chat/completions", "/debug/%2e%2e/v1/chat/completions")
    for auth in ('auth:\n  apiKeys: ["sk-test-0123456789"]\n  protectAdmin: true\n', ""):
        port = free_ports(1)[0]
        gw = start_gateway(write_file(config_text([s.address], port, port, auth=auth)), port, port)
        try:
            wait_until(lambda: request(port, "GET", "/health")[0] == 200, 10, what="up")
            n0 = len(s.requests)
            for route in routes:
                for method in ("POST", "PUT", "DELETE"):
                    st, h, b = request(port, method, route, chat,
                                       {"Content-Type": "application/json"})
                    if auth:
                        check(st == 401, "%s %s without a key: %d %r" % (method, route, st, b))
                    else:
                        e = json.loads(b)["error"]
                        check(st == 405 and h.get("allow") == "GET, HEAD" and
                              e["code"] == "method_not_allowed",
                              "%s %s: %d %r %r" % (method, route, st, h, b))
            if auth:
                st, h, b = request(port, "POST", "/health", chat,
                                   {"Content-Type": "application/json",
                                    "Authorization": "Bearer sk-test-0123456789"})
                check(st == 405 and h.get("allow") == "GET, HEAD", "with a key: %d %r" % (st, b))
            check(len(s.requests) == n0, "nothing reached the model server: %r" % s.requests[n0:])
            check(request(port, "GET", "/health")[0] == 200, "GET /health still open")
        finally:
            stop_process(gw)
    gw = GW([s.address])
    try:
        wait_until(lambda: request(gw.admin, "GET", "/health")[0] == 200, 10, what="admin up")
        st, h, _ = request(gw.admin, "POST", "/health", chat, {"Content-Type": "application/json"})
        check(st == 405 and h.get("allow") == "GET, HEAD", "separate admin POST /health: %d" % st)
    finally:
        gw.stop()
        s.stop()


@test
def test_api_keys_turned_on_and_off_by_reload():
    s = Stub()
    gw = GW([s.address])
    gw.wait_ready()
    body = {"model": "m1", "prompt": "x"}
    check(post(gw.port, body)[0] == 200, "open without keys")
    gw.rewrite(auth='auth:\n  apiKeys: ["sk-reload-key-01"]\n')
    gw.proc.send_signal(signal.SIGHUP)
    wait_reloaded(gw, 1)
    check(post(gw.port, body)[0] == 401, "keys on after a reload")
    check(post(gw.port, body, {"Authorization": "Bearer sk-reload-key-01"})[0] == 200, "key ok")
    gw.rewrite(auth="")
    gw.proc.send_signal(signal.SIGHUP)
    wait_reloaded(gw, 2)
    check(post(gw.port, body)[0] == 200, "open again after a reload without keys")
    gw.stop()


@test
def test_api_keys_file_emptied_keeps_the_old_keys_on_reload():
    """An emptied (or unreadable) key file used to leave 0 keys, which turned auth off at the
    next SIGHUP. Now the reload is refused and the running keys stay in force."""
    s = Stub()
    keyfile = write_file("sk-file-key-aaaa\n", suffix=".keys")
    gw = GW([s.address], auth="auth:\n  apiKeysFile: %s\n" % keyfile)
    try:
        body = {"model": "m1", "prompt": "x"}
        key = {"Authorization": "Bearer sk-file-key-aaaa"}
        wait_until(lambda: post(gw.port, body, key)[0] == 200, 10, what="served with the key")
        for content in ("", "# rotated out\n\n"):
            with open(keyfile, "w") as f:
                f.write(content)
            n = process_log(gw.proc).count("reload refused")
            gw.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: process_log(gw.proc).count("reload refused") > n, 10,
                       what="reload refused")
            check("holds no key" in process_log(gw.proc), "the reason is logged")
            check(post(gw.port, body)[0] == 401, "still 401 without a key (%r)" % content)
            check(post(gw.port, body, key)[0] == 200, "the old key still works")
        check(gw.proc.poll() is None, "the gateway keeps running")
    finally:
        gw.stop()
        s.stop()


@test
def test_auth_config_errors():
    lp, ap = free_ports(2)
    for auth, want in (("auth:\n  apiKeys: [short]\n", "8 to 512"),
                       ("auth:\n  protectAdmin: true\n", "holds no key"),
                       ("auth:\n  apiKeysFile: %s\n" % write_file("# none\n"), "holds no key"),
                       ("auth:\n  apiKeysFile: /tmp\n", "cannot read /tmp"),
                       ("auth:\n  apiKeysFile: /nonexistent/keys\n", "cannot read"),
                       ("auth:\n  apiKey: [x]\n", "unknown")):
        path = write_file(config_text(["127.0.0.1:1"], lp, ap, auth=auth))
        out = subprocess.run([BIN, "gateway", "--config", path, "--check"], capture_output=True,
                             text=True, timeout=20)
        check(out.returncode == 1 and want in out.stderr and ":" in out.stderr,
              "%r: %r" % (auth, out.stderr))


if __name__ == "__main__":
    run()
