"""Integration test for the decode work left per endpoint (src/pool/decode.c) and its use by the
default scheduler's load term (cache-load-scorer, decodedWeight; docs/scheduler.md).

- Accounting: GET /debug/endpoints shows, per endpoint, `inflight_decode_tokens` (output tokens its
  in-flight requests are still expected to generate: max_tokens less the tokens the gateway has
  streamed, or the endpoint's mean output length without max_tokens) and `inflight_decoded` (the
  request-equivalents already generated). A stub holds its streams at a chosen event, so the test
  reads the figures at a known point, with no timing assumption. Every exit path (a completed
  stream, a non-streamed answer, a client abort, a backend broken mid-stream, a retry after a
  backend closed the connection) brings both back to 0.
- Event kinds: vLLM-shaped streams of /v1/responses (lifecycle events, deltas, usage
  output_tokens) and chat with n = 2 (role chunks, empty-delta final chunks, spaced JSON).
- Placement: endpoint X holds two requests at 19 of their 20 tokens, Y one fresh request. Counted
  whole (decodedWeight: 0) X is busier (2 against 1); by the work left X is nearly idle, so
  the default sends the next request to X. Both gateways see the same held streams.
"""
import http.client
import json
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, free_ports, process_log, request, run, start_process,  # noqa
                     stop_process, test, wait_port, wait_until, write_file)
from stub_server import Stub  # noqa: E402


def start_gateway(stubs, scheduler="", interval="50ms"):
    port, admin = free_ports(2)
    eps = "".join("    - address: %s\n" % s.address for s in stubs)
    text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 1\n" % (port, admin) +
            "pool:\n  engine: vllm\n  scrapeInterval: %s\n  endpoints:\n" % interval + eps +
            "timeouts:\n  connect: 500ms\n  request: 20s\n" + scheduler)
    p = start_process([BIN, "gateway", "--config", write_file(text)])
    wait_port(port, proc=p)
    wait_port(admin, proc=p)
    wait_until(lambda: all(e["ready"] for e in endpoints(admin)), 10, what="endpoints ready")
    return p, port, admin


def endpoints(admin):
    return json.loads(request(admin, "GET", "/debug/endpoints")[2])["endpoints"]


def figures(admin, stub):
    """(inflight_requests, inflight_decode_tokens, inflight_decoded) of stub's endpoint."""
    for e in endpoints(admin):
        if e["address"] == stub.address:
            return e["inflight_requests"], e["inflight_decode_tokens"], e["inflight_decoded"]
    raise AssertionError("no endpoint %s" % stub.address)


def stream(port, prompt, max_tokens=None, keep=None):
    """Sends a streamed completion in a thread; returns (thread, out). keep: a list that gets the
    connection (to abort it)."""
    out = {}

    def go():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        if keep is not None:
            keep.append(conn)
        body = {"model": "m1", "prompt": prompt, "stream": True}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        try:
            conn.request("POST", "/v1/completions", json.dumps(body).encode(),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            out["status"] = r.status
            out["port"] = r.getheader("x-stub-port")
            out["body"] = r.read()
        except Exception as e:  # noqa: BLE001 (the abort closes the connection under it)
            out["error"] = repr(e)
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, out


def stream_to(port, path, body):
    """Sends a streamed request to path in a thread; returns (thread, out)."""
    out = {}

    def go():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", path, json.dumps(dict(body, model="m1", stream=True)).encode(),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            out["status"] = r.status
            out["body"] = r.read()
        except Exception as e:  # noqa: BLE001
            out["error"] = repr(e)
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, out


def complete(port, prompt, max_tokens):
    st, hdrs, body = request(port, "POST", "/v1/completions",
                             {"model": "m1", "prompt": prompt, "max_tokens": max_tokens})
    check(st == 200, "non-streamed answer: %s %r" % (st, body[:200]))
    return json.loads(body)["served_by"]


def at_rest(admin, stubs):
    for s in stubs:
        wait_until(lambda s=s: figures(admin, s) == (0, 0, 0), 10,
                   what="%s back to 0" % s.address)


@test
def test_accounting_and_every_exit():
    s = Stub()
    s.chunks = 10
    gw, port, admin = start_gateway([s])
    try:
        # max_tokens 10, held after 6 tokens: 4 left, 0.6 of a request generated
        s.pause_at = 6
        s.resume.clear()
        t, out = stream(port, "a" * 200, max_tokens=10)
        wait_until(lambda: figures(admin, s) == (1, 4, 0.6), 10, what="6 of 10 tokens counted")
        s.resume.set()
        t.join(30)
        check(out.get("status") == 200 and b"tok9" in out.get("body", b""), "stream completed")
        at_rest(admin, [s])

        # no max_tokens: the mean output length of completed requests (the stream above had 10,
        # from usage) is the budget: held after 3 of its tokens, 7 left
        s.pause_at = 3
        s.resume.clear()
        t, out = stream(port, "b" * 200)
        wait_until(lambda: figures(admin, s) == (1, 7, 0.3), 10, what="the mean as the budget")
        s.resume.set()
        t.join(30)
        at_rest(admin, [s])

        # non-streamed: the whole budget until the answer, nothing after it
        s.delay = 1.0
        threading.Thread(target=complete, args=(port, "c" * 200, 50), daemon=True).start()
        wait_until(lambda: figures(admin, s) == (1, 50, 0), 10, what="non-streamed in flight")
        at_rest(admin, [s])
        s.delay = 0.0

        # the client leaves mid-stream
        s.pause_at = 4
        s.resume.clear()
        keep = []
        t, out = stream(port, "d" * 200, max_tokens=10, keep=keep)
        wait_until(lambda: figures(admin, s) == (1, 6, 0.4), 10, what="held for the abort")
        keep[0].sock.shutdown(socket.SHUT_RDWR)
        keep[0].close()
        s.resume.set()  # the gateway finds the client gone at its next write
        t.join(30)
        at_rest(admin, [s])

        # the backend breaks mid-stream (2 events, then the connection drops)
        s.pause_at = None
        s.mode = "break"
        t, out = stream(port, "e" * 200, max_tokens=10)
        t.join(30)
        at_rest(admin, [s])
        s.mode = "ok"
    finally:
        s.resume.set()
        stop_process(gw)
        s.stop()
    check("BUG" not in process_log(gw), "no underflow reported")


@test
def test_retry_releases_the_failed_attempt():
    a, b = Stub(), Stub()
    # scraped once, then a stops: it reads as ready until a connection to it fails, and a
    # refused connection is retried on b
    gw, port, admin = start_gateway([a, b], interval="30s\n  metricsStalenessThreshold: 60s")
    a.stop()
    try:
        # sequential requests tie on load, so each goes to a with probability ~1/2: 40 tries
        # miss a with probability 2^-40 (8 missed once in CI under ASan)
        for i in range(40):
            t, out = stream(port, ("r%d " % i) * 50, max_tokens=5)
            t.join(30)
            check(out.get("status") == 200 and out.get("port") == str(b.port),
                  "request %d answered by b: %r" % (i, out))
            if "%s failed" % a.address in process_log(gw):
                break
        check("%s failed" % a.address in process_log(gw), "an attempt went to a and was retried")
        at_rest(admin, [a, b])
    finally:
        stop_process(gw)
        b.stop()
    check("BUG" not in process_log(gw), "no underflow reported")


@test
def test_event_kinds_and_choices():
    """vLLM-shaped streams (json.dumps spacing): on /v1/responses only the output_text.delta
    events are tokens and usage.output_tokens is the output length; on chat with n = 2 the budget
    is 2 x max_tokens, the role-only and empty-delta final chunks are no tokens, and the mean
    output length is fed per choice."""
    s = Stub()
    s.vllm_events = True
    s.chunks = 8
    s.interval = 0.01
    s.responses_tokens_per_delta = 2  # usage says 16 for 8 delta events
    gw, port, admin = start_gateway([s])
    try:
        def held(body, path, at, want, what):
            s.pause_at = at
            s.resume.clear()
            t, out = stream_to(port, path, body)
            wait_until(lambda: figures(admin, s) == want, 10, what="%s: %r" % (what, want))
            s.resume.set()
            t.join(30)
            check(out.get("status") == 200, (what, out))
            at_rest(admin, [s])

        # 4 lifecycle events then 4 of 8 deltas: 4 of 10 tokens (not 8)
        held({"input": "hi", "max_output_tokens": 10}, "/v1/responses", 4, (1, 6, 0.4),
             "responses: deltas only")
        # the mean is usage.output_tokens (16), not the 8 events
        held({"input": "hi again"}, "/v1/responses", 4, (1, 12, 0.25), "responses: usage read")
        # n = 2, max_tokens 10: budget 20; two role chunks, then 6 token events
        held({"messages": [{"role": "user", "content": "x"}], "n": 2, "max_tokens": 10},
             "/v1/chat/completions", 6, (1, 14, 0.3), "chat n=2")
        # that answer's usage (16 over 2 choices) fed the mean as 8 per choice: 16 + (8 - 16) / 8
        # = 15; the role chunk and the empty-delta final chunk are no tokens: 3 of 15
        held({"messages": [{"role": "user", "content": "y"}]}, "/v1/chat/completions", 3,
             (1, 12, 0.2), "chat: the mean per choice")
    finally:
        s.resume.set()
        stop_process(gw)
        s.stop()
    check("BUG" not in process_log(gw), "no underflow reported")


@test
def test_proxy_reads_the_stream_as_the_sse_spec():
    """The proxy counts token events as the SSE spec cuts the stream (api/sse_lines.c, shared with
    the EPP): CR-only line ends, an event split inside its JSON and between CR and LF, one event
    over two data lines, data without the space, comments; a line over 64 KiB is no token (a
    warning, only its last 16 KiB kept, for usage) and the events after it count. Without usage the count is the output
    length that feeds the endpoint's mean, which the next request's budget shows."""
    s = Stub()
    s.raw_stream = [
        b'data: {"choices":[{"text":"a"}]}\r\rdata: {"choices":[{"text":"a2"}]}\r\r',
        b'data: {"choices":[{"te', b'xt":"b"}]}\r', b'\n\r\n',
        b'data: {"choices":[{"index":0,\ndata: "text":"c"}]}\n\n',
        b': keep-alive\n\ndata:{"choices":[{"text":"d"}]}\n\n',
        b"data: " + b"x" * 70000, b"\n\n",
        b'data: {"choices":[{"text":"e"}]}\n\n',
        b"data: [DONE]\n\n",
    ]
    gw, port, admin = start_gateway([s])
    try:
        s.pause_at = 8  # before "e": a, a2, b, c, d counted, the long line dropped
        s.resume.clear()
        t, out = stream(port, "x", max_tokens=100)
        wait_until(lambda: figures(admin, s)[:2] == (1, 95), 10, what="5 of 100 tokens counted")
        s.resume.set()
        t.join(30)
        check(out.get("status") == 200 and out.get("body", b"").count(b"x" * 1000) > 0,
              "the long line reached the client: %r" % out.get("body", b"")[:200])
        at_rest(admin, [s])
        # no usage: the 6 counted events are the output length, the next budget without max_tokens
        s.pause_at = 0
        s.resume.clear()
        t, out = stream(port, "y")
        wait_until(lambda: figures(admin, s)[:2] == (1, 6), 10, what="the mean is the 6 events")
        s.resume.set()
        t.join(30)
        at_rest(admin, [s])
    finally:
        s.resume.set()
        stop_process(gw)
        s.stop()
    check("SSE: an event with data over 65536 bytes was read from its last 16384 bytes"
          in process_log(gw), "the truncated event is logged")
    check("BUG" not in process_log(gw), "no underflow reported")


def recorded_output(raw, path=None, want=None):
    """Streams raw through a fresh gateway, then returns the output length the gateway recorded
    for the endpoint (the next request's budget without max_tokens), the gateway's log and its
    metrics."""
    s = Stub()
    gw, port, admin = start_gateway([s])
    try:
        s.raw_stream = raw
        if path:
            t, out = stream_to(port, path, {"input": "hi"})
        else:
            t, out = stream(port, "x")
        t.join(30)
        check(out.get("status") == 200, "streamed: %r" % out)
        at_rest(admin, [s])
        s.raw_stream = [b'data: {"choices":[{"text":"a"}]}\n\n']
        s.pause_at = 0
        s.resume.clear()
        t, _ = stream(port, "y")
        wait_until(lambda: figures(admin, s)[0] == 1, 10, what="the next request held")
        if want is not None:
            wait_until(lambda: figures(admin, s)[1] == want, 10, what="recorded output %d" % want)
        got = figures(admin, s)[1]
        s.resume.set()
        t.join(30)
        metrics = request(admin, "GET", "/metrics")[2]
    finally:
        s.resume.set()
        stop_process(gw)
        s.stop()
    return got, process_log(gw), metrics


@test
def test_usage_of_a_response_completed_over_64k():
    """A Responses stream whose response.completed (the whole response, usage at its end) is
    70 KB, in 16 KiB reads: the usage (50) is read from the event's last 16 KiB."""
    delta = (b'event: response.output_text.delta\n'
             b'data: {"type":"response.output_text.delta","delta":"a"}\n\n')
    done = ('event: response.completed\ndata: {"type":"response.completed","response":'
            '{"output":[{"content":[{"text":"%s"}]}],"usage":{"input_tokens":5,'
            '"output_tokens":50,"total_tokens":55}}}\n\n' % ("x" * 70000)).encode()
    raw = [delta] * 3 + [done[i:i + 16384] for i in range(0, len(done), 16384)]
    got, log, metrics = recorded_output(raw, "/v1/responses", want=50)
    check(got == 50, "usage 50 recorded, got %r" % got)
    check(b"switchyard_sse_events_truncated_total 1\n" in metrics, "the truncated event counted")
    check(log.count("SSE: an event with data over") == 1, "one warning")


@test
def test_single_line_end_and_long_comment():
    """Events separated by one LF (a vLLM stand-in) count one token each; a 70 KB comment line
    inside an event is skipped and leaves that event's usage (40) whole."""
    d = b'data: {"choices":[{"text":"a"}]}'
    got, _, _ = recorded_output([d + b"\n"] * 7 + [b"data: [DONE]\n"], want=7)
    check(got == 7, "7 single-LF events counted, got %r" % got)
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":40}}\n'
    got, log, metrics = recorded_output([d + b"\n\n"] * 3 + [usage + b": " + b"p" * 70000 + b"\n\n"],
                               want=40)
    check(got == 40, "usage 40 read past the long comment, got %r" % got)
    check("SSE:" not in log, "a long comment truncates nothing")
    check(b"switchyard_sse_events_truncated_total 0\n" in metrics, "nothing truncated")


def placement(scheduler):
    """The next request's endpoint when X holds two requests near their end and Y a fresh one:
    (chosen stub is X)."""
    x_y = [Stub(), Stub()]
    for s in x_y:
        s.chunks = 20
        s.pause_at = 19
        s.resume.clear()
    gw, port, admin = start_gateway(x_y, scheduler)
    threads = []
    try:
        history = "tool preamble and history " * 160  # ~1,040 tokens: a hit outweighs a request
        threads.append(stream(port, history + "turn 1", max_tokens=20)[0])
        wait_until(lambda: sum(figures(admin, s)[1] for s in x_y) == 1, 10,
                   what="the first request at 19 of 20 tokens")
        x = x_y[0] if figures(admin, x_y[0])[0] == 1 else x_y[1]
        y = x_y[1] if x is x_y[0] else x_y[0]
        threads.append(stream(port, history + "turn 2", max_tokens=20)[0])  # follows its history
        wait_until(lambda: figures(admin, x)[:2] == (2, 2), 10, what="two requests near their end")
        check(figures(admin, y)[0] == 0, "the second request followed its history to x")
        y.pause_at = 1  # a fresh request on y: 1 of 20 tokens
        threads.append(stream(port, "another user", max_tokens=20)[0])
        wait_until(lambda: figures(admin, y)[:2] == (1, 19), 10, what="a fresh request on y")
        served = complete(port, "a new question", 20)
        return served == x.port
    finally:
        for s in x_y:
            s.resume.set()
        for t in threads:
            t.join(30)
        stop_process(gw)
        for s in x_y:
            s.stop()


@test
def test_placement_follows_the_work_left():
    check(placement(""), "the default sends the request to the endpoint whose requests end soon")
    count = ("scheduler:\n  plugins:\n    - type: cache-load-scorer\n"
             "      parameters: {decodedWeight: 0}\n    - type: max-score-picker\n"
             "  schedulingProfiles:\n    - name: default\n"
             "      plugins: [{pluginRef: cache-load-scorer}, {pluginRef: max-score-picker}]\n")
    check(not placement(count), "counted whole, the same endpoint looks busier")


if __name__ == "__main__":
    run()
