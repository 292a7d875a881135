#!/usr/bin/env python3
"""Fault soak: the gateway under streaming load while its model servers misbehave (issue 20).

    python3 bench/fault_soak.py                  # 30 minutes (the reported run)
    python3 bench/fault_soak.py --minutes 5
    python3 bench/fault_soak.py --quick          # ~30 s smoke (tests/integration/test_soak.py)

What runs (real binaries, loopback only, Python standard library only):
  - R replicas, each its own `switchyard sim` process (so one can be killed or stopped alone),
    all appending "PORT X-REQUEST-ID" to one --request-log file for every completion request
    they receive. Standing faults: replica 1 answers a few percent of requests 500/503
    (--failure-rate, --failure-types internal_error,server_error), replica 2 cuts a few percent of
    its streams after the first token (--truncate-rate), replica 3 answers /metrics late
    (--metrics-delay).
  - one `switchyard gateway` in front of them (2 workers, prefix + queue scoring, 5 s head and
    stream-idle timeouts, 3 attempts).
  - a bounded-rate client pool: a dispatcher releases --rate requests per second to --clients
    keep-alive client threads (a tick finding every client busy is skipped and counted, so the
    offered load never piles up); the mix is chat and completions, streaming and not, prompts
    sharing per-user prefixes, 4..48 output tokens. Every request carries a unique x-request-id
    (the gateway forwards it upstream).
  - a fault schedule, every period (60 s; 10 s in quick mode): one replica is SIGKILLed and
    restarted on its port a little later, another is stalled (SIGSTOP, then SIGCONT after longer
    than the gateway's 5 s head timeout), and the gateway gets SIGHUP with a rewritten config
    (retry attempts and scorer weights alternate).
  - every sample period: the gateway's RSS and open descriptors from /proc.

Outcome of each request, from the client's side:
  completed            200 and a proper end (non-stream: a JSON body with choices; stream:
                       data: [DONE] and a clean chunked end)
  failed (by status)   a status other than 200, or a 200 stream ending with the gateway's
                       error event ("200+error:CODE") and a proper end
  lost                 no status at all (connection error or client timeout before a response
                       head), or a 200 that ended without [DONE] and without an error event, or
                       an unreadable body. Must be 0.
Duplicated upstream: x-request-ids that the replicas' logs show more than once. Must be 0.
At rest (load stopped, stalled replicas resumed, dead ones restarted): the gateway's
inference_objective_running_requests on /metrics and every endpoint's inflight counters on
/debug/endpoints. Must be 0.

Exit status 0 when every invariant holds, 1 otherwise. --json FILE writes the report as JSON.
"""
import argparse
import collections
import http.client
import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "Qwen/Qwen3-32B"


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_port(port, timeout, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def http_get(port, path, timeout=5.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Replica:
    """One `switchyard sim` process on a fixed port, killable, stoppable and restartable."""

    def __init__(self, index, port, binary, reqlog, extra, logdir):
        self.index, self.port, self.binary = index, port, binary
        self.args = [binary, "sim", "--port", str(port), "--replicas", "1", "--seed", str(index),
                     "--request-log", reqlog, "--log-level", "info"] + extra
        self.log = open(os.path.join(logdir, "sim%d.log" % index), "ab")
        self.proc = None
        self.stopped = False
        self.restarts = 0
        self.down = False  # killed on purpose, restart pending
        self.unexpected = []  # (seconds into the run, exit status) of exits nobody asked for

    def start(self):
        self.down = False
        for _ in range(100):  # the old socket may linger briefly after a SIGKILL
            self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            try:
                if wait_port(self.port, 5, self.proc):
                    return
            except RuntimeError:  # exited (the port still held): try again
                time.sleep(0.1)
                continue
            self.proc.kill()  # alive but not listening after 5 s
            self.proc.wait(10)
        raise RuntimeError("replica %d could not start on %d" % (self.index, self.port))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)
        self.stopped = False
        self.down = True

    def supervise(self, t):
        """Restarts a replica that exited without being killed by the schedule (as Kubernetes
        restarts a crashed pod) and records its exit status."""
        if self.proc is not None and not self.down and self.proc.poll() is not None:
            self.unexpected.append((round(t, 1), self.proc.returncode))
            self.stopped = False
            self.start()
            self.restarts += 1

    def stop(self):
        if self.alive() and not self.stopped:
            self.proc.send_signal(signal.SIGSTOP)
            self.stopped = True

    def cont(self):
        if self.alive() and self.stopped:
            self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def terminate(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if self.stopped:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


RANDOM_SCHEDULER = """scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
    - type: random-picker
  schedulingProfiles:
    - name: default
      plugins:
        - pluginRef: random-picker
"""


def gateway_config(listen, admin, replicas, gen, scheduler="prefix"):
    """The gateway's YAML; gen alternates what a reload changes (retries, scorer weights)."""
    eps = "".join("    - address: 127.0.0.1:%d\n" % r.port for r in replicas)
    text = """listen: 127.0.0.1:%d
admin: 127.0.0.1:%d
workers: 2
logLevel: warn
pool:
  engine: vllm
  scrapeInterval: 100ms
  metricsStalenessThreshold: 2s
  endpoints:
%stimeouts:
  connect: 500ms
  request: 5s
  streamIdle: 5s
  idle: 60s
  send: 30s
retry:
  maxAttempts: %d
scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
    - type: prefix-cache-scorer
    - type: queue-scorer
    - type: max-score-picker
  schedulingProfiles:
    - name: default
      plugins:
        - pluginRef: prefix-cache-scorer
          weight: %d
        - pluginRef: queue-scorer
          weight: 1
        - pluginRef: max-score-picker
""" % (listen, admin, eps, 3 if gen % 2 == 0 else 2, 2 if gen % 2 == 0 else 1)
    if scheduler == "random":  # no prefix index: separates its growth from the proxy's
        text = text.split("scheduler:")[0] + RANDOM_SCHEDULER
    return text


def proc_sample(pid):
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])  # KiB
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return rss, fds


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.completed = 0
        self.failed = collections.Counter()  # "503", "200+error:upstream_broken", ...
        self.lost = collections.Counter()  # reason -> count
        self.lost_examples = []
        self.by_kind = collections.Counter()
        self.skipped_ticks = 0
        self.rids = set()

    def add(self, rid, kind, outcome, detail):
        with self.lock:
            self.by_kind[kind] += 1
            if outcome == "completed":
                self.completed += 1
            elif outcome == "failed":
                self.failed[detail] += 1
            else:
                self.lost[detail] += 1
                if len(self.lost_examples) < 20:
                    self.lost_examples.append((rid, kind, detail))


SYSTEMS = ["You are a helpful assistant for user %d. Answer briefly and precisely. " % u * 6
           for u in range(12)]
WORDS = ("route cache token prefix stream decode replica queue latency batch score "
         "pool gateway model weight block").split()


def make_request(rng, rid):
    """(kind, path, body bytes, stream)"""
    chat = rng.random() < 0.6
    stream = rng.random() < 0.65
    user = rng.randrange(len(SYSTEMS))
    question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
    n = rng.randint(4, 48)
    if chat:
        body = {"model": MODEL, "max_tokens": n,
                "messages": [{"role": "system", "content": SYSTEMS[user]},
                             {"role": "user", "content": question}]}
        path = "/v1/chat/completions"
    else:
        body = {"model": MODEL, "max_tokens": n, "prompt": SYSTEMS[user] + question}
        path = "/v1/completions"
    if stream:
        body["stream"] = True
        if rng.random() < 0.5:
            body["stream_options"] = {"include_usage": True}
    kind = ("chat" if chat else "completions") + ("/stream" if stream else "")
    return kind, path, json.dumps(body).encode(), stream


def read_stream(resp):
    """Reads an SSE response to its end: ("completed"|"failed"|"lost", detail)."""
    done = False
    error = None
    try:
        while True:
            line = resp.readline()
            if not line:
                break
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                done = True
                continue
            try:
                ev = json.loads(data)
            except ValueError:
                return "lost", "200 with an unparsable event"
            if isinstance(ev, dict) and "error" in ev:
                error = (ev["error"] or {}).get("code") or "error"
    except http.client.IncompleteRead:
        return "lost", "200 stream cut without its chunked end"
    except (OSError, http.client.HTTPException) as e:
        return "lost", "200 stream read error: %s" % type(e).__name__
    if done and not error:
        return "completed", ""
    if error:
        return "failed", "200+error:%s" % error
    return "lost", "200 stream ended without [DONE] or an error event"


class Client(threading.Thread):
    def __init__(self, idx, port, jobs, stats, seed, timeout):
        super().__init__(daemon=True)
        self.idx, self.port, self.jobs, self.stats = idx, port, jobs, stats
        self.rng = random.Random(seed * 1000 + idx)
        self.timeout = timeout
        self.conn = None

    def run(self):
        while True:
            rid = self.jobs.get()
            if rid is None:
                self.reset()  # the gateway sees the client leave
                return
            self.one(rid)

    def one(self, rid):
        kind, path, body, stream = make_request(self.rng, rid)
        with self.stats.lock:
            self.stats.sent += 1
            self.stats.rids.add(rid)
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.conn.request("POST", path, body, {"Content-Type": "application/json",
                                                   "x-request-id": rid})
            resp = self.conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            self.stats.add(rid, kind, "lost", "no status: %s" % type(e).__name__)
            self.reset()
            return
        if resp.status != 200:
            try:
                data = resp.read()
                err = json.loads(data).get("error", {})
                code = err.get("code") or err.get("type") or "?"
                detail = "%d %s" % (resp.status, code)
            except (OSError, ValueError, AttributeError, http.client.HTTPException):
                detail = "%d (body unreadable)" % resp.status
            self.stats.add(rid, kind, "failed", detail)
            if resp.will_close:
                self.reset()
            return
        if stream:
            outcome, detail = read_stream(resp)
        else:
            try:
                obj = json.loads(resp.read())
                ok = isinstance(obj.get("choices"), list) and obj["choices"]
                outcome, detail = ("completed", "") if ok else ("lost", "200 without choices")
            except (OSError, ValueError, http.client.HTTPException) as e:
                outcome, detail = "lost", "200 body unreadable: %s" % type(e).__name__
        self.stats.add(rid, kind, outcome, detail)
        if outcome != "completed" or resp.will_close:
            self.reset()

    def reset(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def on_sigterm(signum, frame):
    raise SystemExit(130)  # unwinds through main's cleanup: no process is left behind


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=None,
                    help="load duration (default 30; 0.5 with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke mode: 30 s, a 10 s fault period, 2 s samples")
    ap.add_argument("--rate", type=float, default=20.0, help="requests per second offered")
    ap.add_argument("--clients", type=int, default=24, help="client threads (keep-alive each)")
    ap.add_argument("--replicas", type=int, default=4, help="sim processes (at least 4)")
    ap.add_argument("--period", type=float, default=None,
                    help="fault period in seconds (kill + stall + reload; default 60, quick 10)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scheduler", choices=("prefix", "random"), default="prefix",
                    help="prefix + queue scoring (default) or random-picker (no prefix index)")
    ap.add_argument("--kv-blocks", type=int, default=0,
                    help="KV blocks per replica (the prefix index's bound follows it; default: "
                         "the profile's 17,235)")
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("--json", help="write the report here as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    a = ap.parse_args()
    if a.minutes is None:
        a.minutes = 0.5 if a.quick else 30.0
    period = a.period or (10.0 if a.quick else 60.0)
    sample_every = 2.0 if a.quick else 10.0
    duration = a.minutes * 60.0
    if a.replicas < 4 or a.rate <= 0 or a.clients < 1 or duration <= 0:
        ap.error("need --replicas >= 4, --rate > 0, --clients >= 1, --minutes > 0")
    binary = os.path.join(ROOT, a.build, "switchyard")
    work = tempfile.mkdtemp(prefix="sy-soak-")
    reqlog = os.path.join(work, "requests.log")
    open(reqlog, "w").close()

    ports = free_ports(a.replicas + 2)
    listen, admin = ports[-2], ports[-1]
    standing = {1: ["--failure-rate", "3", "--failure-types", "internal_error,server_error"],
                2: ["--truncate-rate", "3"],
                3: ["--metrics-delay", "1500"]}
    common = ["--kv-blocks", str(a.kv_blocks), "--max-model-len", str(a.kv_blocks * 16)] \
        if a.kv_blocks else []
    replicas = [Replica(i, ports[i], binary, reqlog, common + standing.get(i, []), work)
                for i in range(a.replicas)]
    gw = None
    stats = Stats()
    events = collections.Counter()
    samples = []
    report = {}
    try:
        for r in replicas:
            r.start()
        cfg = os.path.join(work, "gateway.yaml")
        with open(cfg, "w") as f:
            f.write(gateway_config(listen, admin, replicas, 0, a.scheduler))
        gwlog = open(os.path.join(work, "gateway.log"), "ab")
        gw = subprocess.Popen([binary, "gateway", "--config", cfg], stdout=gwlog,
                              stderr=subprocess.STDOUT, start_new_session=True)
        if not (wait_port(listen, 10, gw) and wait_port(admin, 10, gw)):
            raise RuntimeError("gateway did not start")
        deadline = time.time() + 15
        while time.time() < deadline:
            st, body = http_get(admin, "/debug/endpoints")
            eps = json.loads(body)["endpoints"]
            if st == 200 and len(eps) == a.replicas and all(e["ready"] for e in eps):
                break
            time.sleep(0.1)

        jobs = queue.Queue()
        clients = [Client(i, listen, jobs, stats, a.seed, 60.0) for i in range(a.clients)]
        for c in clients:
            c.start()
        rng = random.Random(a.seed)
        t0 = time.time()
        end = t0 + duration
        # fault schedule: (time, action, replica index)
        sched = []
        cycle = 0
        t = t0 + period * 0.2
        while t < end:
            k = cycle % a.replicas
            s = (cycle + 1 + rng.randrange(a.replicas - 1)) % a.replicas  # another replica
            sched.append((t, "kill", k))
            sched.append((t + min(6.0, period * 0.15), "restart", k))
            sched.append((t + period * 0.35, "stop", s))
            sched.append((t + period * 0.35 + 8.0, "cont", s))
            sched.append((t + period * 0.7, "reload", cycle + 1))
            cycle += 1
            t += period
        sched.sort(key=lambda e: e[0])
        interval = 1.0 / a.rate
        next_req = t0
        next_sample = t0
        n = 0
        gen = 0
        while time.time() < end:
            now = time.time()
            if gw.poll() is not None:
                raise RuntimeError("the gateway exited with %s" % gw.returncode)
            for r in replicas:
                r.supervise(now - t0)
            while sched and sched[0][0] <= now:
                _, action, arg = sched.pop(0)
                if action == "kill":
                    replicas[arg].kill()
                elif action == "restart":
                    replicas[arg].start()
                    replicas[arg].restarts += 1
                elif action == "stop":
                    if replicas[arg].alive():
                        replicas[arg].stop()
                    else:
                        continue
                elif action == "cont":
                    replicas[arg].cont()
                elif action == "reload":
                    gen = arg
                    with open(cfg + ".tmp", "w") as f:
                        f.write(gateway_config(listen, admin, replicas, gen, a.scheduler))
                    os.rename(cfg + ".tmp", cfg)
                    gw.send_signal(signal.SIGHUP)
                events[action] += 1
            if now >= next_sample:
                rss, fds = proc_sample(gw.pid)
                samples.append((round(now - t0, 1), rss, fds))
                next_sample += sample_every
            while next_req <= now:
                next_req += interval
                if jobs.qsize() >= a.clients:
                    stats.skipped_ticks += 1  # every client busy: do not pile up
                    continue
                n += 1
                jobs.put("soak-%d-%08d" % (a.seed, n))
            wake = min(next_req, next_sample, sched[0][0] if sched else end, end)
            time.sleep(max(0.0, min(0.05, wake - time.time())))
        load_end = time.time()
        # stop the load: clients finish what they hold (bounded by their 60 s timeout)
        while not jobs.empty():
            try:
                jobs.get_nowait()
            except queue.Empty:
                break
        for _ in clients:
            jobs.put(None)
        for c in clients:
            c.join(90)
        hung = sum(1 for c in clients if c.is_alive())
        # rest: every replica running, none stopped
        for r in replicas:
            r.cont()
            r.supervise(time.time() - t0)
            if not r.alive():
                r.start()
                r.restarts += 1
        rest_deadline = time.time() + 20
        running = inflight = None
        while time.time() < rest_deadline:
            st, body = http_get(admin, "/metrics")
            m = parse_metrics(body.decode())
            running = sum(v for k, v in m.items()
                          if k.startswith("inference_objective_running_requests"))
            st, body = http_get(admin, "/debug/endpoints")
            eps = json.loads(body)["endpoints"]
            inflight = sum(e["inflight_requests"] for e in eps)
            inflight_tokens = sum(e.get("inflight_tokens", 0) for e in eps)
            if running == 0 and inflight == 0 and inflight_tokens == 0:
                break
            time.sleep(0.5)
        rss, fds = proc_sample(gw.pid)
        samples.append((round(time.time() - t0, 1), rss, fds))
        gw_alive = gw.poll() is None

        # upstream duplicates from the replicas' request log
        seen = collections.Counter()
        with open(reqlog) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    seen[parts[1]] += 1
        dup = {rid: c for rid, c in seen.items() if c > 1 and rid in stats.rids}
        upstream = sum(c for rid, c in seen.items() if rid in stats.rids)
        lost = sum(stats.lost.values())
        rss_v = [s[1] for s in samples]
        fd_v = [s[2] for s in samples]
        report = {
            "minutes": round((load_end - t0) / 60.0, 2),
            "rate": a.rate, "clients": a.clients, "replicas": a.replicas, "period_s": period,
            "scheduler": a.scheduler, "kv_blocks": a.kv_blocks,
            "sent": stats.sent, "completed": stats.completed,
            "failed": sum(stats.failed.values()), "failed_by_status": dict(stats.failed),
            "lost": lost, "lost_by_reason": dict(stats.lost),
            "lost_examples": stats.lost_examples,
            "duplicated_upstream": len(dup), "duplicate_examples": list(dup.items())[:10],
            "received_upstream": upstream,
            "by_kind": dict(stats.by_kind), "skipped_ticks": stats.skipped_ticks,
            "client_threads_hung": hung,
            "faults": dict(events),
            "replica_restarts": sum(r.restarts for r in replicas),
            "replica_unexpected_exits": {r.index: r.unexpected for r in replicas if r.unexpected},
            "rss_kib": {"first": rss_v[0], "last": rss_v[-1], "max": max(rss_v)},
            "fds": {"first": fd_v[0], "last": fd_v[-1], "max": max(fd_v)},
            "samples": samples,
            "at_rest": {"running_requests": running, "endpoint_inflight_requests": inflight,
                        "endpoint_inflight_tokens": inflight_tokens},
            "gateway_alive": gw_alive,
            "work_dir": work,
        }
    finally:
        if gw is not None and gw.poll() is None:
            gw.terminate()
            try:
                gw.wait(40)
            except subprocess.TimeoutExpired:
                gw.kill()
                gw.wait(5)
        for r in replicas:
            r.terminate()
    if not report:
        return 1
    report["gateway_exit"] = gw.returncode
    ok = (report["lost"] == 0 and report["duplicated_upstream"] == 0 and
          report["at_rest"]["running_requests"] == 0 and
          report["at_rest"]["endpoint_inflight_requests"] == 0 and
          report["at_rest"]["endpoint_inflight_tokens"] == 0 and
          report["gateway_alive"] and report["gateway_exit"] == 0 and
          report["client_threads_hung"] == 0)
    report["ok"] = ok
    print_report(report)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    if not a.keep and ok:
        for name in os.listdir(work):
            os.unlink(os.path.join(work, name))
        os.rmdir(work)
    return 0 if ok else 1


def print_report(r):
    print("fault soak: %.1f min, %g req/s offered, %d clients, %d replicas, fault period %gs, "
          "scheduler %s%s" % (r["minutes"], r["rate"], r["clients"], r["replicas"], r["period_s"],
                              r["scheduler"],
                              ", %d KV blocks" % r["kv_blocks"] if r["kv_blocks"] else ""))
    print("faults              %s (replica restarts %d)"
          % (", ".join("%s %d" % kv for kv in sorted(r["faults"].items())),
             r["replica_restarts"]))
    if r["replica_unexpected_exits"]:
        print("unexpected exits    %s (replica: [(s, exit status)]; restarted)"
              % r["replica_unexpected_exits"])
    print("requests sent       %d  (%s)" % (r["sent"], ", ".join(
        "%s %d" % kv for kv in sorted(r["by_kind"].items()))))
    print("completed           %d" % r["completed"])
    print("failed with status  %d  %s" % (r["failed"], json.dumps(
        dict(sorted(r["failed_by_status"].items())))))
    print("lost (no status)    %d  %s" % (r["lost"], json.dumps(r["lost_by_reason"])))
    print("duplicated upstream %d  (received upstream %d)" % (r["duplicated_upstream"],
                                                              r["received_upstream"]))
    print("gateway RSS KiB     first %d  last %d  max %d" % (r["rss_kib"]["first"],
                                                            r["rss_kib"]["last"],
                                                            r["rss_kib"]["max"]))
    print("gateway fds         first %d  last %d  max %d" % (r["fds"]["first"], r["fds"]["last"],
                                                            r["fds"]["max"]))
    print("at rest             running_requests %g, endpoint inflight %d requests / %d tokens"
          % (r["at_rest"]["running_requests"], r["at_rest"]["endpoint_inflight_requests"],
             r["at_rest"]["endpoint_inflight_tokens"]))
    print("gateway             alive until the end: %s, exit %s" % (r["gateway_alive"],
                                                                  r["gateway_exit"]))
    if r["lost_examples"]:
        print("lost examples       %s" % r["lost_examples"][:5])
    if r["duplicate_examples"]:
        print("duplicate examples  %s" % r["duplicate_examples"][:5])
    print("RESULT              %s" % ("ok" if r["ok"] else "FAILED (work dir %s)" % r["work_dir"]))


if __name__ == "__main__":
    sys.exit(main())
