#!/usr/bin/env python3
"""Flow control under overload on the simulator (bench/, not a test; issue 14).

One run, three gateways in turn in front of the same simulated fleet (switchyard sim):
  off        no inferenceObjectives, no gate: every request is forwarded at once
  legacy     objectives, no gate: llm-d's legacy admission sheds priority < 0 while saturated
  flow       featureGates: [flowControl], concurrency-detector at the replicas' max-num-seqs:
             requests wait in the gateway, strict priority, round-robin between flows
Three flows offered together at LOAD x the fleet's measured capacity (open loop, Poisson):
  interactive  priority 10, short prompts      (x-llm-d-inference-objective: interactive)
  standard     priority 0, long prompts
  batch        priority -1 (sheddable), long prompts
Reports per flow: TTFT p50/p99, E2E p50, completed req/s and refusals by reason; per mode the
gateway's peak RSS (VmHWM) and requests lost without a status (must be 0). The target line
compares the interactive TTFT p99 under overload with its value on the idle fleet.

    python3 bench/flow_control.py [--bin build/switchyard] [--replicas 2] [--seqs 8]
    (--bin defaults to $BUILD/switchyard, BUILD=build when unset)
                                  [--load 2.0] [--seconds 20] [--seed 1] [--long-words 1200]
                                  [--modes off,legacy,flow] [--probe] [--batched-tokens N]
                                  [--token-load]
    python3 bench/flow_control.py --levers [--lever-rows 0,7,9-11] [--time-scale 0.25]
                                  (one flow-mode row per lever: engine flags, reserved capacity,
                                  P/D; see LEVERS)
"""
import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

FLOWS = [  # name, objective, share of arrivals, prompt words, max_tokens
    ("interactive", "interactive", 0.2, 40, 32),
    ("standard", "standard", 0.4, 1200, 64),
    ("batch", "batch", 0.4, 1200, 64),
]
# --time-scale X: the simulator's time runs X times as fast as wall time (X < 1: slower), so the
# jitter of a busy machine (scheduling delays of the gateway, the simulator and this client) is
# X times smaller in simulated time. Durations are recorded in simulated time (wall x X) and
# rates in simulated req/s (wall / X); with X = 1 (default) nothing changes.
SCALE = 1.0
OBJECTIVES = ("inferenceObjectives:\n  - {name: interactive, priority: 10}\n"
              "  - {name: standard, priority: 0}\n  - {name: batch, priority: -1}\n")


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_port(port, timeout=15):
    t = time.time() + timeout
    while time.time() < t:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d not up" % port)


def hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1])
    return 0


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


async def one(port, flow, words, max_tokens, rng, stats, deadline):
    """One streamed completion; records TTFT, E2E or the refusal reason."""
    name, objective = flow
    prompt = " ".join("w%d" % rng.randrange(50000) for _ in range(words))
    body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": max_tokens,
                       "stream": True}).encode()
    head = ("POST /v1/completions HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\nx-llm-d-inference-objective: %s\r\n"
            "x-llm-d-inference-fairness-id: %s\r\nConnection: close\r\n\r\n" %
            (len(body), objective, name)).encode()
    t0 = time.monotonic()
    st = stats[name]
    st["sent"] += 1
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        w.write(head + body)
        await w.drain()
        line = await asyncio.wait_for(r.readline(), max(1, deadline - time.monotonic()))
        status = int(line.split()[1])
        hdrs = {}
        while True:
            h = await r.readline()
            if h in (b"\r\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if status != 200:
            reason = hdrs.get("x-llm-d-request-dropped-reason", "status-%d" % status)
            st["refused"][reason] = st["refused"].get(reason, 0) + 1
            w.close()
            return
        ttft = None
        while True:
            chunk = await asyncio.wait_for(r.readline(), max(1, deadline - time.monotonic()))
            if not chunk:
                break
            if ttft is None and chunk.startswith(b"data: {"):
                ttft = (time.monotonic() - t0) * SCALE
            if chunk.startswith(b"data: [DONE]"):
                break
        w.close()
        if ttft is None:
            st["refused"]["no-tokens"] = st["refused"].get("no-tokens", 0) + 1
            return
        st["ttft"].append(ttft)
        st["e2e"].append((time.monotonic() - t0) * SCALE)
    except (asyncio.TimeoutError, OSError, ValueError, IndexError) as e:
        st["lost"] += 1
        st["errors"].append(type(e).__name__)


async def offer(port, rate, seconds, seed, flows=FLOWS):
    """Open-loop Poisson arrivals at rate req/s for seconds, split across flows by share."""
    rng = random.Random(seed)
    stats = {f[0]: {"sent": 0, "ttft": [], "e2e": [], "refused": {}, "lost": 0, "errors": []}
             for f in flows}
    tasks = []
    t_end = time.monotonic() + seconds
    deadline = t_end + 120 / SCALE  # every request gets an answer or counts as lost
    nxt = time.monotonic()
    while True:
        nxt += rng.expovariate(rate)
        if nxt >= t_end:
            break
        await asyncio.sleep(max(0, nxt - time.monotonic()))
        x = rng.random()
        acc = 0
        for f in flows:
            acc += f[2]
            if x <= acc:
                break
        tasks.append(asyncio.ensure_future(one(port, (f[0], f[1]), f[3], f[4], rng, stats,
                                               deadline)))
    t_sent = time.monotonic()
    await asyncio.gather(*tasks)
    return stats, seconds, time.monotonic() - t_sent


async def closed_loop(port, conc, seconds, seed):
    """Completed req/s with conc clients in a loop (standard flow only): the fleet's capacity."""
    rng = random.Random(seed)
    stats = {"standard": {"sent": 0, "ttft": [], "e2e": [], "refused": {}, "lost": 0,
                          "errors": []}}
    t_end = time.monotonic() + seconds

    async def client():
        while time.monotonic() < t_end:
            await one(port, ("standard", "standard"), FLOWS[1][3], FLOWS[1][4], rng, stats,
                      t_end + 60)
    await asyncio.gather(*[client() for _ in range(conc)])
    return len(stats["standard"]["e2e"]) / seconds  # wall req/s


def gateway(binary, sim_ports, mode, seqs, workdir, token_load=False, forward_priority=False,
            min_ceiling=0.5, tag="", reserve=0, usage="holdback", pd=0):
    """reserve=N: the last N replicas are labelled llm-d.ai/reserved-for: interactive and
    priority-reservation-filter keeps priorities < 10 off them (interactive prefers them).
    pd=N: the first N replicas are the prefill pool (sim --prefill-replicas N), the rest decode;
    prompts of >= 512 uncached tokens get a prefill leg (prefix-based-pd-decider), short ones are
    served decode-only."""
    lp, ap = free_ports(2)
    eps = "".join("    - address: 127.0.0.1:%d\n%s" % (
        p, "      labels: {llm-d.ai/reserved-for: interactive}\n"
        if i >= len(sim_ports) - reserve else
        "      labels: {llm-d.ai/role: %s}\n" % ("prefill" if i < pd else "decode")
        if pd else "") for i, p in enumerate(sim_ports))
    text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 2\nlogLevel: warn\n"
            "pool:\n  scrapeInterval: 50ms\n%s  endpoints:\n%s"
            "timeouts:\n  request: 300s\n" %
            (lp, ap, "  forwardPriority: true\n" if forward_priority else "", eps))
    if mode != "off":
        text += OBJECTIVES
    text += ("scheduler:\n  apiVersion: llm-d.ai/v1alpha1\n  kind: EndpointPickerConfig\n"
             "  plugins:\n  - type: queue-scorer\n  - type: kv-cache-utilization-scorer\n"
             "  - type: max-score-picker\n")
    if token_load:
        # the replicas' pending prefill work as the gateway counts it (prompt tokens of requests
        # forwarded and not yet answered with a first byte): spreads long prefills apart
        text += "  - {type: token-load-scorer, parameters: {queueThresholdTokens: 4096}}\n"
    if pd:
        text += ("  - type: prefill-filter\n  - type: decode-filter\n"
                 "  - {type: prefix-based-pd-decider, parameters: {nonCachedTokens: 512}}\n"
                 "  - type: disagg-profile-handler\n"
                 "    parameters: {deciders: {prefill: prefix-based-pd-decider}}\n")
    if reserve:
        text += ("  - type: priority-reservation-filter\n    name: reserve\n    parameters:\n"
                 "      minPriority: 10\n"
                 "      reserved: {matchLabels: {llm-d.ai/reserved-for: interactive}}\n")
    if pd:
        seqs = seqs * (len(sim_ports) - pd) // len(sim_ports)
    if mode == "flow":
        # the detector's capacity is the replicas' max-num-seqs (they never queue); holdback
        # keeps the top of it for the interactive band (ceilings 1.0 / 0.75 / 0.5 by rank)
        text += ("  - {type: concurrency-detector, name: cd, parameters: {maxConcurrency: %d}}\n"
                 "  - {type: round-robin-fairness-policy, name: rr}\n"
                 "  - %s\n"
                 "  featureGates: [flowControl]\n"
                 "  flowControl:\n    defaultRequestTTL: %ds\n"
                 "    defaultPriorityBand: {fairnessPolicyRef: rr}\n"
                 "    priorityBands: [{priority: 10}, {priority: 0}, {priority: -1}]\n"
                 "    usageLimitPolicyPluginRef: hold\n"
                 "    saturationDetector: {pluginRef: cd}\n" % (
                     seqs, "{type: static-usage-limit-policy, name: hold}" if usage == "static"
                     else "{type: priority-holdback-policy, name: hold, parameters: {minCeiling: "
                     "%g}}" % min_ceiling, int(60 / SCALE)))
    if pd:
        # the detector's filter role stays out of the profiles: every request decodes on the
        # decode pool, so the gate (maxConcurrency x all replicas) is sized to the decode pool's
        # slots by the caller; the prefill pool takes the legs as they come
        text += ("  schedulingProfiles:\n"
                 "  - name: prefill\n    plugins: [{pluginRef: prefill-filter}, "
                 "{pluginRef: queue-scorer}, {pluginRef: max-score-picker}]\n"
                 "  - name: decode\n    plugins: [{pluginRef: decode-filter}, "
                 "{pluginRef: queue-scorer}, {pluginRef: kv-cache-utilization-scorer}, "
                 "{pluginRef: max-score-picker}]\n")
    if reserve:
        # the reservation filters first (the concurrency filter's fail-open then only re-keeps
        # shared replicas) and its preference outweighs the load scorers (weights 1 each)
        text += ("  schedulingProfiles:\n  - name: default\n    plugins:\n"
                 "    - {pluginRef: reserve, weight: 10}\n" +
                 ("    - {pluginRef: cd}\n" if mode == "flow" else "") +
                 "    - {pluginRef: queue-scorer}\n    - {pluginRef: kv-cache-utilization-scorer}\n"
                 + ("    - {pluginRef: token-load-scorer}\n" if token_load else "") +
                 "    - {pluginRef: max-score-picker}\n")
    path = os.path.join(workdir, "gw-%s%s.yaml" % (mode, tag))
    with open(path, "w") as f:
        f.write(text)
    log = open(os.path.join(workdir, "gw-%s%s.log" % (mode, tag)), "w")
    p = subprocess.Popen([binary, "gateway", "--config", path], stdout=log, stderr=log)
    wait_port(lp)
    time.sleep(0.5)  # first scrapes: endpoints ready
    return p, lp, ap


class Probe(threading.Thread):
    """Samples every replica's vllm:num_requests_waiting / _running every 20 ms during a run."""

    def __init__(self, sim_ports):
        super().__init__(daemon=True)
        self.ports, self.stop, self.samples = sim_ports, threading.Event(), []

    def run(self):
        while not self.stop.is_set():
            row = []
            for p in self.ports:
                try:
                    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % p,
                                                  timeout=1).read().decode()
                except OSError:
                    continue
                v = {}
                for line in text.splitlines():
                    for k in ("num_requests_waiting", "num_requests_running"):
                        if line.startswith("vllm:" + k + "{"):
                            v[k] = float(line.rsplit(" ", 1)[1])
                row.append((v.get("num_requests_waiting", 0), v.get("num_requests_running", 0)))
            self.samples.append(row)
            time.sleep(0.02)

    def summary(self):
        waits = [w for row in self.samples for w, _ in row]
        runs = [r for row in self.samples for _, r in row]
        if not waits:
            return "no samples"
        held = [w + r for row in self.samples for w, r in row]
        per = []
        for i in range(max(len(row) for row in self.samples)):
            col = [row[i] for row in self.samples if len(row) > i]
            per.append("%d/%.1f/%d" % (max(r for _, r in col), sum(r for _, r in col) / len(col),
                                       max(w for w, _ in col)))
        return ("replicas (%d samples each): waiting max %d, >0 in %.0f%% of samples; "
                "running max %d, mean %.1f; running+waiting max %d; per replica running "
                "max/mean/waiting max: %s" % (
                    len(self.samples), max(waits),
                    100.0 * sum(1 for w in waits if w > 0) / len(waits), max(runs),
                    sum(runs) / len(runs), max(held), " ".join(per)))


def gateway_queue_time(admin_port, priority):
    """p50/p99 upper bucket bounds of the gateway's queue duration for one priority (admitted)."""
    try:
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin_port,
                                      timeout=2).read().decode()
    except OSError:
        return "-"
    buckets = {}
    for line in text.splitlines():
        if (line.startswith("inference_extension_flow_control_request_queue_duration_seconds_"
                            "bucket{") and 'priority="%d"' % priority in line and
                "Dispatched" in line):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            le = float("inf") if le == "+Inf" else float(le)
            buckets[le] = buckets.get(le, 0) + float(line.rsplit(" ", 1)[1])
    if not buckets:
        return "-"
    bs = sorted(buckets.items())
    total = bs[-1][1]
    out = []
    for q in (0.5, 0.99):
        out.append(next(("<=%gms" % (le * 1e3)) for le, c in bs if c >= q * total))
    return "gateway queue time (priority %d, %d dispatched): p50 %s, p99 %s" % (
        priority, total, out[0], out[1])


def report(mode, stats, seconds, hwm):
    print("\n== %s  (gateway peak RSS %.1f MiB)" % (mode, hwm / 1024.0))
    print("%-12s %6s %9s %9s %9s %8s %6s  %s" % ("flow", "sent", "TTFT p50", "TTFT p99",
                                                   "E2E p50", "done/s", "lost", "refused"))
    for name, st in stats.items():
        print("%-12s %6d %8.0fms %8.0fms %8.0fms %8.2f %6d  %s" % (
            name, st["sent"], pct(st["ttft"], 50) * 1e3, pct(st["ttft"], 99) * 1e3,
            pct(st["e2e"], 50) * 1e3, len(st["e2e"]) / seconds / SCALE, st["lost"],
            ", ".join("%s %d" % kv for kv in sorted(st["refused"].items())) or "-"))


# The levers on the interactive tail (flow mode), one row each, same offered rate (2x the default
# fleet's capacity): name, sim flags, gateway options.
LEVERS = [
    ("flow (fcfs engine)", [], {}),
    ("+ priority: forwardPriority + sim --scheduling-policy priority",
     ["--scheduling-policy", "priority"], {"forward_priority": True}),
    ("+ chunk cap: --long-prefill-token-threshold 256 (fcfs)",
     ["--long-prefill-token-threshold", "256"], {}),
    ("+ priority + chunk cap 256", ["--scheduling-policy", "priority",
                                    "--long-prefill-token-threshold", "256"],
     {"forward_priority": True}),
    ("+ priority + --max-num-batched-tokens 512", ["--scheduling-policy", "priority",
                                                   "--max-num-batched-tokens", "512"],
     {"forward_priority": True}),
    ("+ priority + chunk cap 256 + minCeiling 0.25 (fewer long in flight)",
     ["--scheduling-policy", "priority", "--long-prefill-token-threshold", "256"],
     {"forward_priority": True, "min_ceiling": 0.25}),
    ("+ priority + holdback minCeiling 0.25 (fcfs chunks)",
     ["--scheduling-policy", "priority"], {"forward_priority": True, "min_ceiling": 0.25}),
    ("+ priority + chunk cap 128", ["--scheduling-policy", "priority",
                                    "--long-prefill-token-threshold", "128"],
     {"forward_priority": True}),
    ("+ priority + chunk cap 64", ["--scheduling-policy", "priority",
                                   "--long-prefill-token-threshold", "64"],
     {"forward_priority": True}),
    # capacity reserved for the interactive objective: the last replica is labelled
    # llm-d.ai/reserved-for: interactive; priority-reservation-filter keeps priorities < 10 off
    # it, interactive prefers it and overflows to the shared replica when it is at its limit; the
    # gate measures the lower bands' saturation over the shared replica. "no holdback": the
    # reserved replica is the interactive headroom, so the lower bands may fill the shared one
    # (static-usage-limit-policy 1.0); with the holdback their ceilings apply to the shared one
    ("+ reserved replica for interactive (1 of 2), fcfs engine, no holdback", [],
     {"reserve": 1, "usage": "static"}),
    ("+ reserved replica + priority + chunk cap 128, no holdback",
     ["--scheduling-policy", "priority", "--long-prefill-token-threshold", "128"],
     {"forward_priority": True, "reserve": 1, "usage": "static"}),
    ("+ reserved replica + priority + chunk cap 128, holdback minCeiling 0.5",
     ["--scheduling-policy", "priority", "--long-prefill-token-threshold", "128"],
     {"forward_priority": True, "reserve": 1}),
    # P/D on the same two replicas: 1 prefill + 1 decode; long prompts prefilled on the prefill
    # replica, short ones decode-only; the gate's capacity = the decode replica's 8 slots
    ("+ P/D: 1 prefill + 1 decode replica, long prompts disaggregated",
     ["--prefill-replicas", "1", "--decode-replicas", "1"], {"pd": 1}),
]


def start_sim(a, sim_ports, extra):
    sim = subprocess.Popen([a.bin, "sim", "--ports", ",".join(map(str, sim_ports)),
                            "--model", "m", "--profile", "qwen3-8b-h100", "--max-num-seqs",
                            str(a.seqs), "--seed", str(a.seed), "--log-level", "warn",
                            "--time-scale", repr(SCALE)] +
                           (["--max-num-batched-tokens", str(a.batched_tokens)]
                            if a.batched_tokens else []) + extra,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for p in sim_ports:
        wait_port(p)
    return sim


def idle_p99(a, sim_ports, work, tag, **gw):
    g, port, _ = gateway(a.bin, sim_ports, "off", a.seqs, work, tag=tag,
                         forward_priority=gw.get("forward_priority", False),
                         pd=gw.get("pd", 0))
    one_flow = [FLOWS[0][:2] + (1.0,) + FLOWS[0][3:]]
    asyncio.run(offer(port, 2.0, 2, a.seed + 7, flows=one_flow))  # warm-up, not counted
    idle, _, _ = asyncio.run(offer(port, 2.0 * SCALE, 10 / SCALE, a.seed, flows=one_flow))
    g.terminate()
    g.wait(30)
    return pct(idle["interactive"]["ttft"], 99)


def levers(a):
    """Each lever on its own fleet (the simulator restarted with its flags), flow mode, the same
    offered rate; one table row per lever."""
    work = tempfile.mkdtemp(prefix="sy-flow-levers-")
    sim_ports = free_ports(a.replicas)
    sim = start_sim(a, sim_ports, [])
    try:
        base_idle = idle_p99(a, sim_ports, work, "-base")
        g, port, _ = gateway(a.bin, sim_ports, "off", a.seqs, work, tag="-cap")
        cap = asyncio.run(closed_loop(port, a.replicas * a.seqs, 10, a.seed))
        g.terminate()
        g.wait(30)
    finally:
        sim.terminate()
        sim.wait(30)
    rate = a.load * cap
    print("fleet: %d replicas x max-num-seqs %d (qwen3-8b-h100); capacity %.1f req/s (default "
          "engine, standard flow); offered %.1f req/s (%.1fx) for %.0fs to every row; idle "
          "interactive TTFT p99 %.0fms (default engine)" %
          (a.replicas, a.seqs, cap / SCALE, rate / SCALE, a.load, a.seconds * SCALE,
           base_idle * 1e3))
    rows = []
    only = range(len(LEVERS))
    if a.lever_rows:  # "0,7,9-11"
        only = []
        for part in a.lever_rows.split(","):
            lo, _, hi = part.partition("-")
            only += range(int(lo), int(hi or lo) + 1)
    for i in only:
        name, extra, gw = LEVERS[i]
        sim = start_sim(a, sim_ports, extra)
        try:
            own_idle = idle_p99(a, sim_ports, work, "-idle%d" % i, **gw)
            g, port, admin = gateway(a.bin, sim_ports, "flow", a.seqs, work, tag="-%d" % i, **gw)
            probe = Probe(sim_ports)
            probe.start()
            stats, secs, _ = asyncio.run(offer(port, rate, a.seconds, a.seed))
            probe.stop.set()
            probe.join()
            qt = gateway_queue_time(admin, 10)
            hwm = hwm_kb(g.pid)
            g.terminate()
            g.wait(30)
        finally:
            sim.terminate()
            sim.wait(30)
        it, std, bt = stats["interactive"], stats["standard"], stats["batch"]
        lost = sum(s["lost"] for s in stats.values())
        rows.append((i, name, own_idle, it, std, bt, secs, lost, hwm))
        print("\n[%d] %s\n    %s\n    %s" % (i, name, probe.summary(), qt))
        report("lever %d" % i, stats, secs, hwm)
    print("\ninteractive TTFT p99 under %.1fx overload / the same fleet's idle p99 (target <= "
          "1.5x):" % a.load)
    print("%-3s %-70s %8s %8s %8s %8s %7s %9s %10s %10s %5s %7s" % (
        "#", "configuration (flow mode)", "idle p99", "int p50", "int p90", "int p99", "ratio",
        "std p99", "batch p50", "batch done", "lost", "RSS MiB"))
    for i, name, own_idle, it, std, bt, secs, lost, hwm in rows:
        print("%-3d %-70s %6.0fms %6.0fms %6.0fms %6.0fms %6.2fx %7.0fms %8.0fms %5d/%-4d %5d "
              "%7.1f" % (
                  i, name[:70], own_idle * 1e3, pct(it["ttft"], 50) * 1e3,
                  pct(it["ttft"], 90) * 1e3, pct(it["ttft"], 99) * 1e3,
                  pct(it["ttft"], 99) / own_idle, pct(std["ttft"], 99) * 1e3,
                  pct(bt["ttft"], 50) * 1e3, len(bt["e2e"]), bt["sent"], lost, hwm / 1024.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                  os.environ.get("BUILD", "build"), "switchyard"))
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--seqs", type=int, default=8, help="max-num-seqs per replica")
    ap.add_argument("--load", type=float, default=2.0, help="offered load / capacity")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--long-words", type=int, default=1200,
                    help="prompt words of the standard and batch flows")
    ap.add_argument("--batched-tokens", type=int, default=0,
                    help="the replicas' --max-num-batched-tokens (default: the profile's 8192)")
    ap.add_argument("--token-load", action="store_true",
                    help="add token-load-scorer (pending prefill tokens) to every gateway")
    ap.add_argument("--modes", default="off,legacy,flow", help="gateways to run, in order")
    ap.add_argument("--probe", action="store_true",
                    help="also report the replicas' waiting queues and the gateway's queue time")
    ap.add_argument("--levers", action="store_true",
                    help="instead of the modes: the interactive-tail levers, one fleet each, "
                         "flow mode, one table")
    ap.add_argument("--lever-rows", default="", help="with --levers: only these rows (0,2,9-11)")
    ap.add_argument("--time-scale", type=float, default=1.0,
                    help="the simulator's --time-scale (< 1 slows the fleet down so a busy "
                         "machine's jitter matters less); times and rates are reported in "
                         "simulated units, --seconds is simulated seconds")
    a = ap.parse_args()
    global SCALE
    SCALE = a.time_scale
    a.seconds /= SCALE  # offered for this many wall seconds
    for i in (1, 2):
        FLOWS[i] = FLOWS[i][:3] + (a.long_words,) + FLOWS[i][4:]
    if a.levers:
        return levers(a)
    work = tempfile.mkdtemp(prefix="sy-flow-bench-")
    sim_ports = free_ports(a.replicas)
    sim = subprocess.Popen([a.bin, "sim", "--ports", ",".join(map(str, sim_ports)),
                            "--model", "m", "--profile", "qwen3-8b-h100", "--max-num-seqs",
                            str(a.seqs), "--seed", str(a.seed), "--log-level", "warn",
                            "--time-scale", repr(SCALE)] +
                           (["--max-num-batched-tokens", str(a.batched_tokens)]
                            if a.batched_tokens else []),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for p in sim_ports:
            wait_port(p)
        # idle reference and capacity, through a plain gateway
        gw, port, _ = gateway(a.bin, sim_ports, "off", a.seqs, work)
        idle, _, _ = asyncio.run(offer(port, 2.0 * SCALE, 10 / SCALE, a.seed, flows=[FLOWS[0][:2] + (1.0,) +
                                                                     FLOWS[0][3:]]))
        idle_p99 = pct(idle["interactive"]["ttft"], 99)
        cap = asyncio.run(closed_loop(port, a.replicas * a.seqs, 10, a.seed))
        gw.terminate()
        gw.wait(30)
        rate = a.load * cap
        print("fleet: %d replicas x max-num-seqs %d; capacity %.1f req/s (standard flow); offered "
              "%.1f req/s (%.1fx) for %.0fs; idle interactive TTFT p99 %.0fms" %
              (a.replicas, a.seqs, cap / SCALE, rate / SCALE, a.load, a.seconds * SCALE,
               idle_p99 * 1e3))
        results = {}
        for mode in a.modes.split(","):
            gw, port, admin = gateway(a.bin, sim_ports, mode, a.seqs, work,
                                      token_load=a.token_load)
            probe = Probe(sim_ports)
            probe.start()
            stats, secs, _ = asyncio.run(offer(port, rate, a.seconds, a.seed))
            probe.stop.set()
            probe.join()
            hwm = hwm_kb(gw.pid)
            if a.probe:
                print("\n[%s] %s" % (mode, probe.summary()))
                if mode == "flow":
                    print("[%s] %s" % (mode, gateway_queue_time(admin, 10)))
            gw.terminate()
            gw.wait(30)
            report(mode, stats, secs, hwm)
            results[mode] = (stats, hwm)
            time.sleep(3)  # the fleet drains between modes
        print("\ninteractive TTFT p99 / idle p99 (target <= 1.5):")
        for mode, (stats, hwm) in results.items():
            p99 = pct(stats["interactive"]["ttft"], 99)
            lost = sum(s["lost"] for s in stats.values())
            print("  %-7s %6.2fx   lost without a status: %d   peak RSS %.1f MiB" %
                  (mode, p99 / idle_p99 if idle_p99 else float("nan"), lost, hwm / 1024.0))
    finally:
        sim.terminate()
        sim.wait(30)


if __name__ == "__main__":
    sys.exit(main())
