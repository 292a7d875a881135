"""Integration tests for issue 20's streaming scale work: the gateway's SSE forwarding writes the
events one upstream read brought as one chunk (fewer writes per event), and bench/stream_scale.sh
(the C stub model server and load generator against the gateway and nginx) runs end to end in its
smoke mode and prints the documented table. Shape only: no test here depends on a timing value.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, ROOT, check, run, test  # noqa: E402
from test_hardening import GW, RawStub  # noqa: E402  (helpers only; its tests do not run here)

EVENTS = [b'data: {"choices":[{"index":0,"text":"t%d"}]}\n\n' % i for i in range(5)]


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def burst_stream(c, body):
    """An SSE answer whose five token events leave in one send (one TCP segment on loopback),
    as a server that fell behind or batches its decode steps sends them."""
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    time.sleep(0.2)
    c.sendall(b"".join(chunk(e) for e in EVENTS))
    time.sleep(0.2)
    c.sendall(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    return True


def read_chunked_response(port, body):
    """Sends a streaming completion; returns (head, [chunk payloads]) as they were framed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    buf = b""
    deadline = time.time() + 10
    while not buf.endswith(b"0\r\n\r\n") and time.time() < deadline:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    s.close()
    head, rest = buf.split(b"\r\n\r\n", 1)
    chunks = []
    while rest:
        size_line, rest = rest.split(b"\r\n", 1)
        n = int(size_line, 16)
        if n == 0:
            break
        chunks.append(rest[:n])
        check(rest[n:n + 2] == b"\r\n", "chunk not followed by CRLF")
        rest = rest[n + 2:]
    return head.decode("latin-1"), chunks


@test
def test_events_of_one_read_are_forwarded_as_one_chunk():
    stub = RawStub(burst_stream)
    gw = GW([stub.address])
    gw.wait_ready()
    head, chunks = read_chunked_response(
        gw.port, b'{"model":"m1","prompt":"hi","stream":true,"max_tokens":5}')
    check(head.startswith("HTTP/1.1 200"), head)
    check("chunked" in head.lower(), head)
    data = b"".join(chunks)
    # every byte in order, nothing lost or duplicated
    check(data == b"".join(EVENTS) + b"data: [DONE]\n\n", repr(data))
    # the five events the server sent in one segment reach the client in one chunk (one write),
    # not five: the gateway gathers a read's pieces and sends them together
    burst = [c for c in chunks if b'"t0"' in c]
    check(len(burst) == 1 and burst[0] == b"".join(EVENTS),
          "the burst was split into %d chunks: %r" % (len(chunks), chunks))
    gw.stop()


ROW = re.compile(r"^  run 1 (direct|gateway|nginx)\s+(\d+)/s \(\s*\d+%\)\s+lat\s+(-?\d+)\s+(-?\d+)\s+"
                 r"gap\s+(-?\d+)\s+(-?\d+)\s+cpu\s+([\d.]+)")


@test
def test_stream_scale_smoke_prints_the_table():
    if not shutil.which("nginx"):
        print("skip: nginx is not installed (scripts/install-deps.sh installs it)")
        return
    subprocess.run(["make", "-s", "BUILD=" + BUILD, BUILD + "/stream_scale_bench"], cwd=ROOT,
                   check=True, timeout=300, stdout=subprocess.DEVNULL)
    env = dict(os.environ, SMOKE="1", NO_BUILD="1", PAUSE="0.2", BUILD=BUILD)
    p = subprocess.run(["bash", "bench/stream_scale.sh"], cwd=ROOT, env=env, timeout=120,
                       capture_output=True, text=True)
    out = p.stdout
    check(p.returncode == 0, "exit %d\n%s\n%s" % (p.returncode, out, p.stderr))
    check(out.startswith("Streaming scale: 100 active streams at 30 ms, 200 held"), out)
    rows = {m.group(1): m for m in (ROW.match(line) for line in out.splitlines()) if m}
    check(set(rows) == {"direct", "gateway", "nginx"}, "per-run rows missing:\n" + out)
    for who, m in rows.items():
        check(int(m.group(2)) > 0, "%s received no events:\n%s" % (who, out))
    for label in ("CPU us per forwarded event", "added delivery latency p50 (us)",
                  "added delivery latency p99 (us)", "RSS per held stream (bytes)"):
        line = [x for x in out.splitlines() if x.startswith(label)]
        check(len(line) == 1, "no summary line %r:\n%s" % (label, out))
        cells = [c.strip() for c in line[0].split("|")]
        check(len(cells) == 4 and all(re.match(r"^-?[\d.]+$", c) for c in cells[1:3]),
              "summary line %r has no numbers for both proxies: %r" % (label, line[0]))
    held = [x for x in out.splitlines() if x.startswith("streams held open")]
    check(held and [c.strip() for c in held[0].split("|")][1:3] == ["200", "200"],
          "not every held stream was open:\n" + out)
    check(re.search(r"^targets: cpu/event (met|MISSED), added p99 (met|MISSED), "
                    r"rss/stream (met|MISSED)$", out, re.M), "no targets line:\n" + out)
    check("incomplete runs" not in out, out)


if __name__ == "__main__":
    run()
