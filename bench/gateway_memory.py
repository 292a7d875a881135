#!/usr/bin/env python3
"""Gateway memory per in-flight request, and per idle keep-alive connection (bench/, not a test).

Starts `switchyard gateway` (round-robin) in front of a loopback backend that answers /metrics
and /v1/models but holds every completion without answering, sends N chat requests with a body of
SIZE bytes on N connections, and reports the gateway's RSS growth per request held in flight.
With --idle the backend answers instead, and the figure is the RSS growth per client connection
left open and idle after its request.

    python3 bench/gateway_memory.py [--bin build/switchyard] [-n 1000] [--size 32600] [--idle]
    (--bin defaults to $BUILD/switchyard, BUILD=build when unset)
"""
import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


IDLE = False


async def backend(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            if n:
                await reader.readexactly(n)
            if head.startswith(b"GET /metrics"):
                body = b"vllm:num_requests_waiting 0\nvllm:num_requests_running 0\nvllm:kv_cache_usage_perc 0\n"
            elif head.startswith(b"GET /v1/models"):
                body = b'{"object":"list","data":[{"id":"m1"}]}'
            elif IDLE:
                body = b'{"id":"c","object":"chat.completion","choices":[]}'
            else:
                await reader.read()  # hold the request until the gateway goes away
                break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    writer.close()


async def main(a):
    bport, gport, aport = free_port(), free_port(), free_port()
    srv = await asyncio.start_server(backend, "127.0.0.1", bport, backlog=4096)
    cfg = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    cfg.write(f"listen: 127.0.0.1:{gport}\nadmin: 127.0.0.1:{aport}\nworkers: 1\nlogLevel: error\n"
              f"timeouts: {{request: 600s}}\npool:\n  endpoints:\n    - address: 127.0.0.1:{bport}\n"
              "scheduler:\n  plugins: [{type: round-robin-picker}]\n"
              "  schedulingProfiles: [{name: default, plugins: [{pluginRef: round-robin-picker}]}]\n")
    cfg.close()
    gw = subprocess.Popen([a.bin, "gateway", "--config", cfg.name], stderr=subprocess.DEVNULL)
    try:
        await asyncio.sleep(1.0)
        content = ("The quick brown fox jumps over the lazy dog. " * (a.size // 45 + 1))[:max(0, a.size - 120)]
        body = json.dumps({"model": "m1", "messages": [{"role": "user", "content": content}],
                           "max_tokens": 16}).encode()
        req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
        before = rss_kb(gw.pid)
        writers = []
        for i in range(a.n):
            r, w = await asyncio.open_connection("127.0.0.1", gport)
            w.write(req)
            writers.append(w)
            if a.idle:
                await r.readuntil(b"chat.completion")  # answered; the connection stays open
            elif i % 100 == 99:
                await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)
        after = rss_kb(gw.pid)
        what = "idle keep-alive connection after one request" if a.idle else "in-flight request"
        print(f"body {len(body)} B, {a.n} connections: gateway RSS {before} -> {after} kB, "
              f"{(after - before) / a.n:.1f} kB per {what}")
        for w in writers:
            w.close()
    finally:
        gw.kill()
        gw.wait()
        srv.close()
        os.unlink(cfg.name)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                 os.environ.get("BUILD", "build"), "switchyard"))
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--size", type=int, default=32600)
    p.add_argument("--idle", action="store_true", help="answer, then measure idle connections")
    a = p.parse_args()
    IDLE = a.idle
    if a.n > 4000:
        sys.exit("-n: at most 4000 (one file descriptor per request on each side)")
    asyncio.run(main(a))
