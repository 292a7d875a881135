"""Integration test: a model server whose /metrics times out is slow, not gone (src/pool/scraper.c,
"Readiness"). On a starved host every replica's /metrics can take longer than the poll timeout
while each still serves its requests; the gateway used to mark them all not ready at the first
timed-out poll and answer every request 503 no_ready_endpoints (issue 19's grid lost 57-294
requests a cell that way). Now:

- /metrics times out, the server still answers requests: it stays ready (routed on its last
  metrics) for as long as it answers requests, well past metricsStalenessThreshold.
- /metrics times out and nothing was answered within metricsStalenessThreshold: marked not ready
  (a 503 when it was the only one), ready again at the next good scrape.
- A real `switchyard sim` stopped (SIGSTOP, what a starved host looks like) past a poll timeout:
  a request sent then is served once it runs again, not refused.
- A refused connection still drops an endpoint at once (unchanged).
"""
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (check, consecutive_ports, free_ports, metrics, post_json,  # noqa: E402
                     process_log, request, run, start_gateway, start_sim, stop_process, test,
                     wait_until, write_file)
from stub_server import Stub  # noqa: E402


def gateway(addresses, staleness, model_check=True):
    listen, admin = free_ports(2)
    eps = "".join("    - address: %s\n" % a for a in addresses)
    # scrapeInterval 50ms: a poll times out after 1 s (20 intervals, at least 1 s)
    cfg = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 2\n"
           "timeouts: {connect: 500ms, request: 30s}\n"
           "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  metricsStalenessThreshold: %s\n"
           "  endpoints:\n%s"
           "scheduler:\n  plugins:\n    - type: round-robin-picker\n" % (listen, admin, staleness,
                                                                         eps))
    p = start_gateway(write_file(cfg), listen, admin)
    return p, listen, admin


def stop_clean(p):
    """Stops p and checks it exited cleanly (a sanitizer build reports errors in its log)."""
    rc = stop_process(p)
    log = process_log(p)
    check("Sanitizer" not in log and "runtime error" not in log, log[-2000:])
    check(rc == 0, "exit status %r" % rc)


def ready_map(admin):
    st, _, body = request(admin, "GET", "/debug/endpoints")
    check(st == 200, "/debug/endpoints %d" % st)
    return {e["address"]: e["ready"] for e in json.loads(body)["endpoints"]}


def poll_errors(admin):
    return sum(v for k, v in metrics(admin)[0].items() if "datalayer_poll_errors_total" in k)


def completion(port, model="m1", timeout=15.0):
    return post_json(port, "/v1/completions",
                     {"model": model, "prompt": "hello", "max_tokens": 3}, timeout=timeout)


@test
def test_slow_metrics_serving_endpoints_stay_ready():
    a, b = Stub(), Stub()
    gw, port, admin = gateway([a.address, b.address], "2s")
    try:
        wait_until(lambda: all(ready_map(admin).values()), 10, what="endpoints ready")
        a.metrics_delay = b.metrics_delay = 4.0  # every poll from now on times out (1 s)
        e0 = poll_errors(admin)
        statuses = []
        # Keep traffic flowing until the endpoints have had 8 timed-out polls between them, a
        # second apart at least (metrics about 4 s old, twice the staleness threshold). Bounded
        # in count and time.
        deadline = time.time() + 40
        while time.time() < deadline and len(statuses) < 2000:
            st, _, body = completion(port)
            statuses.append(st)
            if poll_errors(admin) - e0 >= 8 and len(statuses) >= 20:
                break
            time.sleep(0.05)
        errs = poll_errors(admin) - e0
        check(errs >= 8, "the polls timed out (%d poll errors)" % errs)
        bad = [s for s in statuses if s != 200]
        check(not bad, "every request served while /metrics timed out: %d of %d failed (%r)"
              % (len(bad), len(statuses), sorted(set(bad))))
        check(all(ready_map(admin).values()), "both still ready: %r" % ready_map(admin))
        check(a.count() > 0 and b.count() > 0, "both kept serving")
    finally:
        stop_clean(gw)
        a.stop()
        b.stop()


@test
def test_slow_metrics_idle_endpoint_leaves_and_returns():
    a = Stub()
    gw, port, admin = gateway([a.address], "1500ms")
    try:
        wait_until(lambda: all(ready_map(admin).values()), 10, what="endpoint ready")
        a.metrics_delay = 4.0  # polls time out, and no request is sent
        wait_until(lambda: not ready_map(admin)[a.address], 20,
                   what="not ready once its metrics are stale and it answered nothing")
        st, h, body = completion(port)
        check(st == 503, "503 with no ready endpoint: %d %r" % (st, body[:200]))
        check(json.loads(body)["error"]["code"] == "no_ready_endpoints", body[:200])
        a.metrics_delay = 0.0
        wait_until(lambda: ready_map(admin)[a.address], 20, what="ready after a good scrape")
        st, _, _ = completion(port)
        check(st == 200, "served again: %d" % st)
    finally:
        stop_clean(gw)
        a.stop()


@test
def test_refused_connection_still_drops_at_once():
    a, b = Stub(), Stub()
    gw, port, admin = gateway([a.address, b.address], "60s")
    try:
        wait_until(lambda: all(ready_map(admin).values()), 10, what="endpoints ready")
        a.mode = "close"  # connections dropped without an answer: not a slow server
        wait_until(lambda: not ready_map(admin)[a.address], 10,
                   what="dropped although its metrics are younger than 60 s")
        for _ in range(6):
            st, _, body = completion(port)
            check(st == 200, "served by the other endpoint: %d" % st)
            check(json.loads(body)["served_by"] == b.port, "only b serves")
    finally:
        stop_clean(gw)
        a.stop()
        b.stop()


@test
def test_stopped_simulator_is_waited_for_not_refused():
    base = consecutive_ports(1)
    sim = start_sim(base, 1, "m", time_scale=50)
    gw, port, admin = gateway(["127.0.0.1:%d" % base], "30s")
    try:
        addr = "127.0.0.1:%d" % base
        wait_until(lambda: ready_map(admin)[addr], 15, what="sim ready")
        st, _, _ = completion(port, model="m")
        check(st == 200, "served before the stop: %d" % st)
        e0 = poll_errors(admin)
        os.kill(sim.pid, signal.SIGSTOP)  # a starved host: the process does not run
        try:
            wait_until(lambda: poll_errors(admin) > e0, 15, what="a poll timed out")
            check(ready_map(admin)[addr], "still ready after a timed-out poll")
            out = {}

            def send():
                out["r"] = completion(port, model="m", timeout=30)

            t = threading.Thread(target=send)
            t.start()
            time.sleep(0.3)  # the request is on its way (queued in the stopped server's socket)
        finally:
            os.kill(sim.pid, signal.SIGCONT)
        t.join(40)
        check("r" in out, "the request finished")
        st, _, body = out["r"]
        check(st == 200, "served once the simulator ran again, not refused: %d %r"
              % (st, body[:200]))
    finally:
        stop_clean(gw)
        stop_clean(sim)


if __name__ == "__main__":
    run()
