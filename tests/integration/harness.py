"""Shared helpers for Switchyard's integration tests (Python 3 standard library only).

Each test file registers functions with @test and ends with run(); run() prints one line
"N passed, N failed" that tests/run.sh sums. Processes started through start_process() are
killed when the file finishes, whatever happens. Every wait is bounded.
"""
import atexit
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from http.server import BaseHTTPRequestHandler

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", "build")
BIN = os.path.join(ROOT, BUILD, "switchyard")
# Upper bounds on waits scale with the binary's speed: a sanitizer build (make asan: BUILD=build-asan)
# runs several times slower, more so on a loaded CI box. SY_TEST_SLOW overrides the factor. Only the
# bounds grow: a wait still returns as soon as its condition holds, and no assertion reads a clock.
SLOW = float(os.environ.get("SY_TEST_SLOW") or (4 if "asan" in BUILD else 1))
_tests = []
_procs = []


def test(fn):
    _tests.append(fn)
    return fn


def free_port():
    """A loopback port that was free a moment ago (see free_ports)."""
    return free_ports(1)[0]


def free_ports(n):
    """n distinct loopback ports that were free a moment ago. Like consecutive_ports they come
    from below the kernel's ephemeral range: a port bind(0) chose was free, but any outgoing
    connection (a busy machine makes thousands) could take it before the server under test bound
    it."""
    return [consecutive_ports(1) for _ in range(n)]


_handed_out = set()  # ports consecutive_ports returned in this process


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def consecutive_ports(n, tries=200):
    """A base port P such that P..P+n-1 are all free. Chosen below the kernel's ephemeral range,
    where no outgoing connection nor bind(0) (free_ports) can take one before the caller binds
    it, and apart from every run this process was handed before (two calls could otherwise
    overlap: P, P+1 then P+1, P+2)."""
    import random
    high = _ephemeral_low() - n
    for _ in range(tries):
        base = random.randint(10000, high) if high > 10000 else random.randint(20000, 60000 - n)
        if any(base + i in _handed_out for i in range(n)):
            continue
        socks = []
        ok = True
        for i in range(n):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            except OSError:
                ok = False
                s.close()
                break
        for s in socks:
            s.close()
        if ok:
            _handed_out.update(range(base, base + n))
            return base
    raise RuntimeError("no run of free ports")


def start_process(args, env=None, stdout=None, stderr=None, **kw):
    """Starts a process that is killed at exit. Output goes to a temp log unless given."""
    if stdout is None:
        log = tempfile.NamedTemporaryFile(prefix="sy-", suffix=".log", delete=False)
        stdout = log
        stderr = subprocess.STDOUT
    p = subprocess.Popen(args, env=env, stdout=stdout, stderr=stderr, **kw)
    p.log_path = getattr(stdout, "name", None)
    _procs.append(p)
    return p


def process_log(p):
    path = getattr(p, "log_path", None)
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def stop_process(p, sig=signal.SIGTERM, timeout=10):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    return p.returncode


@atexit.register
def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except Exception:
                pass


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    """Waits until host:port accepts connections (timeout scaled by SLOW)."""
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s:\n%s" % (proc.returncode, process_log(proc)))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("port %d not ready after %.1fs" % (port, timeout * SLOW))


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    """Polls pred until it is true; raises after timeout seconds (scaled by SLOW)."""
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (%.0fs)" % (what, timeout * SLOW))


def request(port, method, path, body=None, headers=None, timeout=15.0, host="127.0.0.1"):
    """One HTTP request on a new connection. Returns (status, headers dict lower-cased, body bytes).
    timeout (the socket's, scaled by SLOW) bounds a hung server, it is not a latency check."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout * SLOW)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def post_json(port, path, obj, headers=None, timeout=15.0):
    return request(port, "POST", path, obj, headers, timeout)


def kv_batches(admin):
    """KV-event batches the gateway has applied so far (its /metrics on port admin)."""
    for line in request(admin, "GET", "/metrics")[2].decode().splitlines():
        if line.startswith("switchyard_kv_events_batches_total "):
            return float(line.split()[1])
    return 0.0


def wait_kv_flowing(admin, ports, model):
    """Batches a replica publishes before the gateway's SUB has joined are lost (ZMQ's slow
    joiner): probe each replica directly (a 1-token chat for model) until its events reach the
    gateway. Use instead of a fixed sleep after starting a gateway with kvEvents."""
    for port in ports:
        before = kv_batches(admin)

        def arrived():
            st, _, body = post_json(port, "/v1/chat/completions", {
                "model": model, "max_tokens": 1,
                "messages": [{"role": "user", "content": "probe %d" % time.time_ns()}]})
            check(st == 200, "probe %d: %s" % (st, body))
            time.sleep(0.1)
            return kv_batches(admin) > before
        wait_until(arrived, 15, what="KV events from %d reaching the gateway" % port)


def metrics(port):
    """GET /metrics: ({series with its labels, as written: value}, the text)."""
    st, _, body = request(port, "GET", "/metrics")
    check(st == 200, "metrics status %d" % st)
    out = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out, body.decode()


def recv_request_head(sock, buf=b""):
    """Reads one HTTP/1.1 request head from a raw socket (for stub servers that must control the
    socket themselves). buf holds bytes already read. Returns (method, path, content_length, rest),
    rest being the bytes read past the head, or None when the peer closes first."""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            return None
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, path = lines[0].split()[:2]
    n = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            n = int(v)
    return method, path, n, rest


# The scheduler section of a gateway that round-robins (no scoring): for tests about the proxy.
ROUND_ROBIN = """scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
    - type: round-robin-picker
  schedulingProfiles:
    - name: default
      plugins:
        - pluginRef: round-robin-picker
"""


def start_sim(base, replicas, model, time_scale=50, extra=()):
    """`switchyard sim` with `replicas` replicas on base, base+1, ... serving `model`; waits until
    every replica accepts connections. extra: more command-line arguments."""
    p = start_process([BIN, "sim", "--port", str(base), "--replicas", str(replicas), "--model",
                       model, "--time-scale", str(time_scale)] + list(extra))
    for i in range(replicas):
        wait_port(base + i, proc=p)
    return p


def start_fast_slow_sim(model="m1", time_scale=4):
    """A two-replica `switchyard sim`: a fast qwen3-8b-h100 replica on base and a slow
    qwen3-32b-tp2-h100 one on base + 1. Returns (process, base, fast address, slow address)."""
    base = consecutive_ports(2)
    p = start_sim(base, 2, model, time_scale=time_scale,
                  extra=("--profile", "qwen3-8b-h100:1,qwen3-32b-tp2-h100"))
    return p, base, "127.0.0.1:%d" % base, "127.0.0.1:%d" % (base + 1)


def start_fast_slow_gateway(fast, slow, scheduler, workers=1, request_timeout="60s"):
    """A gateway over the two replicas of start_fast_slow_sim, the slow one listed first (pool
    order favours nobody), scraped every 50 ms, with scheduler (YAML text) appended. Returns
    (process, port, admin)."""
    port, admin = free_ports(2)
    text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: %d\n" % (port, admin, workers) +
            "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  endpoints:\n"
            "    - address: %s\n    - address: %s\n" % (slow, fast) +
            "timeouts:\n  connect: 500ms\n  request: %s\n" % request_timeout + scheduler)
    gw = start_gateway(write_file(text), port, admin)
    return gw, port, admin


def start_gateway(path, listen, admin, **kw):
    """`switchyard gateway --config path` (kw to start_process); waits for its listen and admin
    ports."""
    p = start_process([BIN, "gateway", "--config", path], **kw)
    wait_port(listen, proc=p)
    wait_port(admin, proc=p)
    return p


def endpoints(admin):
    """GET /debug/endpoints on the admin port: the list of endpoints."""
    st, _, body = request(admin, "GET", "/debug/endpoints")
    check(st == 200, "/debug/endpoints status %d" % st)
    return json.loads(body)["endpoints"]


def endpoints_ready(admin):
    """True when the gateway lists endpoints and every one is ready."""
    eps = endpoints(admin)
    return bool(eps) and all(e["ready"] for e in eps)


def wait_endpoints_ready(admin, timeout=10, what="endpoints ready"):
    wait_until(lambda: endpoints_ready(admin), timeout, what=what)


# ---- P/D fixtures (test_pd_bound, test_pd_e2e, test_disagg, test_flow_control) ----

def pd_text(tokens, salt):
    """About `tokens` tokens for the simulator's built-in tokenizer (4 bytes per token), distinct
    per salt (so every prompt is new to the prefix caches)."""
    unit = "%s %d lorem ipsum " % (salt, tokens)
    return (unit * (tokens * 4 // len(unit) + 1))[:tokens * 4]


def pd_endpoints_yaml(prefills, decodes, prefill_labels=""):
    """pool.endpoints entries (indented for `  endpoints:`) for prefill and decode addresses
    ("host:port"); prefill_labels: extra label text for the prefill entries ("k: v")."""
    extra = ", " + prefill_labels if prefill_labels else ""
    return "".join("    - { address: %s, labels: { llm-d.ai/role: %s%s } }\n"
                   % (a, role, extra if role == "prefill" else "")
                   for role, addrs in (("prefill", prefills), ("decode", decodes))
                   for a in addrs)


class PDFleet:
    """A simulator P/D fleet (`switchyard sim --prefill-replicas P --decode-replicas D`: prefill
    replicas on base.., decode after them) behind a gateway with pool.disaggregation and
    `schedulerFile: sched_file`. decode_ports: stand-in decode servers used instead of the
    simulator's; extra: more top-level gateway YAML. Waits until every endpoint is ready."""

    def __init__(self, sched_file, connector="nixlv2", prefill=1, decode=1, scale="20",
                 decode_ports=(), extra=""):
        n = prefill + decode
        self.base = consecutive_ports(n)
        self.sim = start_process([BIN, "sim", "--port", str(self.base), "--prefill-replicas",
                                  str(prefill), "--decode-replicas", str(decode),
                                  "--kv-connector", connector, "--time-scale", str(scale)])
        for i in range(n):
            wait_port(self.base + i, proc=self.sim)
        self.prefills = [self.base + i for i in range(prefill)]
        self.decodes = list(decode_ports) or [self.base + prefill + i for i in range(decode)]
        self.port, self.admin = free_ports(2)
        eps = pd_endpoints_yaml(["127.0.0.1:%d" % p for p in self.prefills],
                                ["127.0.0.1:%d" % p for p in self.decodes])
        cfg = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 2\n" % (self.port, self.admin)
               + "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n"
               + "  disaggregation: { connector: %s }\n" % connector
               + "  endpoints:\n" + eps
               + "timeouts:\n  connect: 1s\n  request: 60s\n" + extra
               + "schedulerFile: %s\n" % sched_file)
        self.n = len(self.prefills) + len(self.decodes)
        self.gw = start_gateway(write_file(cfg), self.port, self.admin)
        wait_until(lambda: len(self.endpoints()) == self.n and
                   all(e["ready"] for e in self.endpoints()), 10, what="endpoints ready")

    def endpoints(self):
        return endpoints(self.admin)

    def endpoint(self, port):
        for e in self.endpoints():
            if e["address"] == "127.0.0.1:%d" % port:
                return e
        raise AssertionError("no endpoint %d" % port)

    def inflight(self, port):
        """The gateway's in-flight request count on the replica at port."""
        return self.endpoint(port)["inflight_requests"]

    def tokens(self, port):
        """The gateway's in-flight token count on the replica at port."""
        return self.endpoint(port)["inflight_tokens"]

    def stop(self):
        stop_process(self.gw)
        stop_process(self.sim)


class VllmGetHandler(BaseHTTPRequestHandler):
    """The GET side of a stand-in vLLM server for a ThreadingHTTPServer: /metrics (waiting,
    running, kv usage 0 for `model`), /v1/models, 404 otherwise. Subclasses set `model`, override
    queue_state() and write do_POST; _send answers with a body and Content-Length."""
    protocol_version = "HTTP/1.1"
    model = "m1"

    def log_message(self, *a):
        pass

    def handle(self):
        try:
            BaseHTTPRequestHandler.handle(self)
        except (BrokenPipeError, ConnectionResetError):
            # the gateway left first: its scraper gave up on a /metrics answer after 1 s (a
            # loaded host, ASan) and closed with the late answer unread (a reset), or it was
            # stopped. Unhandled, socketserver printed the traceback in runs that passed
            # (test_pd_bound.py under ASan and load: reset in readline, broken pipe in write)
            self.close_connection = True

    def _send(self, status, data, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def queue_state(self):
        """(waiting, running) the /metrics answer reports."""
        return 0, 0

    def do_GET(self):
        if self.path == "/metrics":
            waiting, running = self.queue_state()
            text = ("# TYPE vllm:num_requests_waiting gauge\n"
                    'vllm:num_requests_waiting{model_name="%s"} %d\n'
                    "# TYPE vllm:num_requests_running gauge\n"
                    'vllm:num_requests_running{model_name="%s"} %d\n'
                    "# TYPE vllm:kv_cache_usage_perc gauge\n"
                    'vllm:kv_cache_usage_perc{model_name="%s"} 0.0\n'
                    % (self.model, waiting, self.model, running, self.model))
            self._send(200, text.encode(), "text/plain")
        elif self.path == "/v1/models":
            self._send(200, json.dumps({"object": "list", "data": [{"id": self.model}]}).encode())
        else:
            self._send(404, b"{}")


def write_file(text, suffix=".yaml"):
    f = tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False)
    f.write(text)
    f.close()
    return f.name


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def run():
    only = sys.argv[1:]
    passed = failed = 0
    for fn in _tests:
        if fn.__module__ != "__main__":
            continue  # imported from another test file for its helpers
        if only and fn.__name__ not in only:
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("ok   %-50s %.2fs" % (fn.__name__, time.time() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL %-50s %.2fs" % (fn.__name__, time.time() - t0), flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    _cleanup()
    sys.exit(1 if failed else 0)
