#!/usr/bin/env python3
"""Simulator efficiency: CPU time of `switchyard sim` serving a fleet at a fixed request rate.

Target (issue 4): 64 replicas serving 1,000 requests/s in total take well under one core.

Starts `switchyard sim --replicas 64`, drives an open-loop Poisson-free (evenly spaced) load of
RATE requests/s for DURATION seconds over keep-alive connections (round-robin over replicas,
non-streaming /v1/completions, ~60-token prompts with shared prefixes, 16 output tokens), and
reads the simulator's CPU time (utime + stime) from /proc/<pid>/stat at the start and end of the
load window; the whole-run total comes from os.wait4's rusage (getrusage of the child).

  BUILD=build python3 bench/sim_efficiency.py [--replicas 64] [--rate 1000] [--duration 10]

Prints one line per figure and the ratio CPU-seconds / wall-second (1.0 = one full core).
The load generator runs in this (separate) process and is not counted.
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
BIN = os.path.join(ROOT, BUILD, "switchyard")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15)


def consecutive_ports(n):
    import random
    for _ in range(200):
        base = random.randint(20000, 60000 - n)
        socks, ok = [], True
        for i in range(n):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            except OSError:
                ok = False
                break
        for s in socks:
            s.close()
        if ok:
            return base
    raise RuntimeError("no run of free ports")


class Pool:
    def __init__(self, port):
        self.port = port
        self.idle = []

    async def get(self):
        if self.idle:
            return self.idle.pop()
        return await asyncio.open_connection("127.0.0.1", self.port)

    def put(self, conn):
        self.idle.append(conn)


async def one(pool, body, stats):
    try:
        r, w = await pool.get()
        w.write(b"POST /v1/completions HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body)
        head = await r.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await r.readexactly(length)
        pool.put((r, w))
        stats["ok" if status == 200 else "err"] += 1
    except Exception:
        stats["err"] += 1


async def load(base, replicas, rate, duration, pid):
    pools = [Pool(base + i) for i in range(replicas)]
    stats = {"ok": 0, "err": 0}
    prefixes = ["System prompt %d: answer briefly and precisely. " % k for k in range(8)]
    total = int(rate * duration)
    tasks = []
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    cpu0 = cpu_seconds(pid)
    w0 = time.time()
    for i in range(total):
        at = t0 + i / rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        body = json.dumps({"prompt": prefixes[i % 8] + "question %d " % i * 3,
                           "max_tokens": 16}).encode()
        tasks.append(asyncio.create_task(one(pools[i % replicas], body, stats)))
    sent_wall = time.time() - w0
    await asyncio.gather(*tasks)
    wall = time.time() - w0
    cpu = cpu_seconds(pid) - cpu0
    for p in pools:
        for _, w in p.idle:
            w.close()
    return stats, sent_wall, wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--replicas", type=int, default=64)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--duration", type=float, default=10.0)
    args = ap.parse_args()
    base = consecutive_ports(args.replicas)
    p = subprocess.Popen([BIN, "sim", "--port", str(base), "--replicas", str(args.replicas),
                          "--log-level", "warn"])
    deadline = time.time() + 10
    for i in range(args.replicas):
        while True:
            try:
                socket.create_connection(("127.0.0.1", base + i), timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline or p.poll() is not None:
                    sys.exit("simulator did not start")
                time.sleep(0.02)
    idle0 = cpu_seconds(p.pid)
    time.sleep(1.0)
    idle = cpu_seconds(p.pid) - idle0
    stats, sent_wall, wall, cpu = asyncio.run(load(base, args.replicas, args.rate,
                                                   args.duration, p.pid))
    p.send_signal(signal.SIGTERM)
    _, status, ru = os.wait4(p.pid, 0)
    print("replicas                 %d" % args.replicas)
    print("offered rate             %.0f req/s for %.1f s (sending took %.2f s)"
          % (args.rate, args.duration, sent_wall))
    print("completed                %d ok, %d errors, achieved %.0f req/s"
          % (stats["ok"], stats["err"], stats["ok"] / wall))
    print("sim CPU idle             %.3f core (1 s, %d replicas, no traffic)" % (idle, args.replicas))
    print("sim CPU under load       %.2f s over %.2f s wall = %.3f of one core"
          % (cpu, wall, cpu / wall))
    print("sim CPU whole run        user %.2f s + sys %.2f s (getrusage of the child)"
          % (ru.ru_utime, ru.ru_stime))
    print("sim max RSS              %.1f MiB" % (ru.ru_maxrss / 1024.0))
    return 0 if stats["err"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
