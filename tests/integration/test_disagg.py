#!/usr/bin/env python3
"""Integration tests for P/D disaggregation inside the gateway (issue 13): the real gateway in
front of Python stub prefill and decode servers that speak the exchange (vLLM NixlConnector's
kv_transfer_params, SGLang's bootstrap fields, llm-d's sidecar header).

Each test checks what both legs received, byte for byte where the protocol says "verbatim", what
the client got, and that every endpoint's in-flight count is back to zero afterwards.
"""
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, free_ports, metrics, pd_endpoints_yaml, post_json,  # noqa: E402
                     request, run, start_process, stop_process, test, wait_port, wait_until,
                     write_file)
from stub_server import _Handler, _Server  # noqa: E402

MODEL = "m1"


class _PDHandler(_Handler):
    """GET (/metrics, /v1/models) as the shared stub; POST speaks the P/D exchange."""

    def _wait_or_abort(self, seconds):
        """Sleeps up to seconds; returns True when the peer closed the connection first."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            r, _, _ = select.select([self.connection], [], [], 0.05)
            if r:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True
        return False

    def do_GET(self):
        if self.server.stub.mode == "dead":  # a killed server: nothing answers any more
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        _Handler.do_GET(self)

    def do_POST(self):
        st = self.server.stub
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        rec = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": body}
        with st.lock:
            st.requests.append(rec)
        mode = st.mode
        if mode in ("refuse", "dead"):  # ("close" would also fail the stub's /metrics)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == "hang":
            if self._wait_or_abort(st.hang_seconds):
                with st.lock:
                    st.aborted += 1
            self.close_connection = True
            return
        if mode == "slow":  # answers as "ok" after slow_seconds (holds its in-flight slot)
            time.sleep(st.slow_seconds)
        if mode == "status500":
            self._send(500, {"error": {"message": "engine exploded"}})
            return
        if mode == "status400":
            self._send(400, {"object": "error", "message": "prompt too long for this engine",
                             "type": "BadRequestError", "code": 400})
            return
        req = json.loads(body)
        rid = self.headers.get("x-request-id", "")
        if st.role == "prefill":
            choice = {"index": 0, "text": "H", "finish_reason": "length"}
            if mode == "badfinish":
                choice["finish_reason"] = "abort"
            ans = {"id": "cmpl-p", "object": "text_completion", "model": req.get("model"),
                   "choices": [choice],
                   "usage": {"prompt_tokens": 318, "completion_tokens": 1, "total_tokens": 319,
                             "prompt_tokens_details": {"cached_tokens": 32}}}
            if mode != "noparams" and st.connector == "nixlv2":
                ans["kv_transfer_params"] = st.params(rid)
            data = json.dumps(ans).encode()
            st.last_answer = data
            self._send(200, data)
            return
        # decode
        usage = {"prompt_tokens": 318, "completion_tokens": 3, "total_tokens": 321,
                 "prompt_tokens_details": {"cached_tokens": 318}}
        if not req.get("stream"):
            self._send(200, {"id": "cmpl-d", "object": "text_completion", "served_by": st.port,
                             "choices": [{"index": 0, "text": "hello", "finish_reason": "stop"}],
                             "usage": usage, "kv_transfer_params": None})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def event(line):  # one event; with CRLF or CR line ends, in two writes cut in a line end
            eol = st.eol
            if eol == b"\n":
                chunk(line + b"\n\n")
                return
            data = line + eol + eol
            cut = len(line) + (1 if eol == b"\r\n" else 0)  # after the CR, or after the CR+LF
            chunk(data[:cut])
            time.sleep(0.005)
            chunk(data[cut:])

        try:
            for i in range(3):
                ev = {"id": "d", "object": "text_completion", "served_by": st.port,
                      "choices": [{"index": 0, "text": "tok%d " % i, "finish_reason": None}]}
                event(b"data: " + json.dumps(ev).encode())
                time.sleep(0.02)
                if mode == "break":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
            ev = {"id": "d", "object": "text_completion", "choices": [], "usage": usage,
                  "kv_transfer_params": {"leak": True}}
            event(b"data: " + json.dumps(ev).encode())
            event(b"data: [DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            with st.lock:
                st.aborted += 1
            self.close_connection = True


class PDStub:
    def __init__(self, role, connector="nixlv2"):
        self.role = role
        self.connector = connector
        self.models = [MODEL]
        self.mode = "ok"
        self.eol = b"\n"  # the decode stream's SSE line end
        self.waiting = 0
        self.running = 0
        self.kv = 0.0
        self.metrics_status = 200
        self.metrics_delay = 0.0
        self.metrics_polls = self.metrics_active = self.metrics_max_active = 0
        self.hang_seconds = 8
        self.slow_seconds = 1.5
        self.requests = []
        self.aborted = 0
        self.last_answer = b""
        self.lock = threading.Lock()
        self.srv = _Server(("127.0.0.1", 0), _PDHandler)
        self.srv.stub = self
        self.port = self.srv.server_address[1]
        self.address = "127.0.0.1:%d" % self.port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def params(self, rid):
        # current vLLM shape: one block list per KV group, remote_request_id, tp_size
        return {"do_remote_prefill": True, "do_remote_decode": False,
                "remote_block_ids": [[1, 2, 4], [7]], "remote_engine_id": "eng-%d" % self.port,
                "remote_request_id": rid, "remote_host": "127.0.0.1", "remote_port": 5600,
                "tp_size": 1, "remote_num_tokens": 318}

    def posts(self):
        with self.lock:
            return list(self.requests)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()

    def kill(self):
        """Dies: the listener closes and kept-alive connections answer nothing."""
        self.mode = "dead"
        self.stop()


SCHED = """scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
  - type: prefill-filter
  - type: decode-filter
  - type: queue-scorer
  - type: max-score-picker
  - type: always-disagg-pd-decider
  - type: disagg-profile-handler
    parameters:
      deciders: {prefill: always-disagg-pd-decider}
  schedulingProfiles:
  - name: prefill
    plugins: [{pluginRef: prefill-filter}, {pluginRef: queue-scorer}, {pluginRef: max-score-picker}]
  - name: decode
    plugins: [{pluginRef: decode-filter}, {pluginRef: queue-scorer}, {pluginRef: max-score-picker}]
"""


class Gateway:
    def __init__(self, prefills, decodes, disagg="", sched=SCHED, labels=None, wait=True,
                 workers=2, pool_extra=""):
        self.port, self.admin = free_ports(2)
        eps = pd_endpoints_yaml([s.address for s in prefills], [s.address for s in decodes],
                                labels)
        text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: %d\n"
                % (self.port, self.admin, workers)
                + "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  endpoints:\n" + eps
                + (("  disaggregation:\n" + disagg) if disagg else "") + pool_extra
                + "timeouts:\n  connect: 500ms\n  request: 4s\n  idle: 5s\n  drain: 2s\n" + sched)
        self.path = write_file(text)
        self.proc = start_process([BIN, "gateway", "--config", self.path])
        wait_port(self.port, proc=self.proc)
        wait_port(self.admin, proc=self.proc)
        n = len(prefills) + len(decodes) if wait else 0
        wait_until(lambda: n == 0 or sum(1 for e in self.endpoints() if e["ready"]) == n, 10,
                   what="endpoints ready")

    def endpoints(self):
        st, _, body = request(self.admin, "GET", "/debug/endpoints")
        return json.loads(body)["endpoints"]

    def wait_waiting(self, stub, n):
        """Waits until a scrape has brought stub's queue length n into the gateway."""
        wait_until(lambda: any(e["address"] == stub.address and e["waiting"] == n
                               for e in self.endpoints()), 10,
                   what="%s's waiting=%d scraped" % (stub.address, n))

    def inflight(self):
        return {e["address"]: e["inflight_requests"] for e in self.endpoints()}

    def wait_idle(self):
        # the decode work left (pool/decode.c) returns to zero with the requests, on both legs
        wait_until(lambda: all(e["inflight_requests"] == 0 and e["inflight_decode_tokens"] == 0
                               and e["inflight_decoded"] == 0 for e in self.endpoints()), 5,
                   what="in-flight counters back to zero")

    def stop(self):
        stop_process(self.proc)


def raw_post(port, path, body, headers=None, timeout=15):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn.request("POST", path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


CHAT = (b'{"model":"m1","messages":[{"role":"user","content":"Explain P/D \\u00e9 in one line"}],'
        b'"max_tokens":50,"max_completion_tokens":40,"min_tokens":2,"temperature":0}')


def setup(nprefill=1, ndecode=1, connector="nixlv2", **kw):
    ps = [PDStub("prefill", connector) for _ in range(nprefill)]
    ds = [PDStub("decode", connector) for _ in range(ndecode)]
    return ps, ds, Gateway(ps, ds, **kw)


def teardown(gw, *groups):
    gw.wait_idle()
    gw.stop()
    for g in groups:
        for s in g:
            s.stop()


@test
def test_nixlv2_happy_path_both_legs_exact():
    ps, ds, gw = setup()
    try:
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT,
                               {"x-request-id": "rid-happy-1"})
        check(st == 200, "status %d %r" % (st, body))
        (pr,), (dr,) = ps[0].posts(), ds[0].posts()
        # same request id on both legs
        check(pr["headers"]["x-request-id"] == "rid-happy-1", pr["headers"])
        check(dr["headers"]["x-request-id"] == "rid-happy-1", dr["headers"])
        # prefill leg: the client's body with the NixlConnector edits, nothing else changed
        pj, orig = json.loads(pr["body"]), json.loads(CHAT)
        want = dict(orig)
        want.update({"stream": False, "max_tokens": 1, "max_completion_tokens": 1,
                     "kv_transfer_params": {"do_remote_decode": True, "do_remote_prefill": False,
                                            "remote_engine_id": None, "remote_block_ids": None,
                                            "remote_host": None, "remote_port": None}})
        del want["min_tokens"]
        check(pj == want, "prefill body %r" % pj)
        check(b"\\u00e9" in pr["body"], "the original bytes are kept (escape not re-encoded)")
        # decode leg: the original bytes plus the prefill's kv_transfer_params, verbatim
        ans = json.loads(ps[0].last_answer)
        raw_params = json.dumps(ans["kv_transfer_params"]).encode()
        check(raw_params in ps[0].last_answer, "test premise: dumps is what the stub sent")
        check(dr["body"] == CHAT[:-1] + b',"kv_transfer_params":' + raw_params + b"}",
              "decode body %r" % dr["body"])
        # the client: decode's answer, cached tokens from the prefill, no kv_transfer_params
        j = json.loads(body)
        check(j["served_by"] == ds[0].port, j)
        check(j["usage"]["prompt_tokens_details"]["cached_tokens"] == 32, j["usage"])
        check("kv_transfer_params" not in j, j)
        check(h["x-gateway-destination-endpoint"] == ds[0].address, h)
        check(h["x-gateway-prefill-endpoint"] == ps[0].address, h)
        check("x-switchyard-pd-fallback" not in h, h)
        gw.wait_idle()
        m, _ = metrics(gw.admin)
        key = ('llm_d_inference_scheduler_disagg_decision_total{model_name="m1",'
               'decision_type="prefill-decode"}')
        check(m.get(key) == 1, "decision counter: %r" % {k: v for k, v in m.items()
                                                         if "decision" in k})
        check(m.get(key.replace("disagg_decision", "pd_decision")) == 1, "deprecated twin")
        check(m.get("switchyard_pd_prefill_duration_seconds_count") == 1, "prefill histogram")
        check(m.get("switchyard_pd_kv_handover_seconds_count") == 1, "hand-over histogram")
        check(m.get("switchyard_pd_decode_duration_seconds_count") == 1, "decode histogram")
    finally:
        teardown(gw, ps, ds)


@test
def test_streaming_decode_rewritten_as_it_streams():
    ps, ds, gw = setup()
    try:
        body = (b'{"model":"m1","prompt":"stream me","max_tokens":3,"stream":true,'
                b'"stream_options":{"include_usage":true}}')
        st, h, data = raw_post(gw.port, "/v1/completions", body)
        check(st == 200, "status %d" % st)
        check(h.get("content-type", "").startswith("text/event-stream"), h)
        pj = json.loads(ps[0].posts()[0]["body"])
        check(pj["stream"] is False and "stream_options" not in pj and pj["max_tokens"] == 1, pj)
        dj = json.loads(ds[0].posts()[0]["body"])
        check(dj["stream"] is True and dj["stream_options"] == {"include_usage": True}
              and dj["max_tokens"] == 3, dj)
        events = [ln[6:] for ln in data.decode().split("\n") if ln.startswith("data: ")]
        check(events[-1] == "[DONE]", events)
        usage = [json.loads(e) for e in events[:-1] if '"usage"' in e]
        check(len(usage) == 1, events)
        check(usage[0]["usage"]["prompt_tokens_details"]["cached_tokens"] == 32, usage)
        check("kv_transfer_params" not in data.decode(), "kv_transfer_params leaked")
        check(len(events) == 5, events)
    finally:
        teardown(gw, ps, ds)


@test
def test_streaming_decode_crlf_and_cr_line_ends():
    # llama.cpp and some proxies end SSE lines with CRLF; the spec also allows CR alone. The
    # decode stream's every event is written in two pieces cut inside its line ends.
    for eol in (b"\r\n", b"\r"):
        ps, ds, gw = setup()
        ds[0].eol = eol
        try:
            body = (b'{"model":"m1","prompt":"stream me","max_tokens":3,"stream":true,'
                    b'"stream_options":{"include_usage":true}}')
            st, h, data = raw_post(gw.port, "/v1/completions", body)
            check(st == 200, "status %d" % st)
            check(data.count(eol + eol) == 5, "line ends kept %r" % data)
            lines = data.decode().replace("\r\n", "\n").replace("\r", "\n").split("\n")
            events = [ln[6:] for ln in lines if ln.startswith("data: ")]
            check(len(events) == 5 and events[-1] == "[DONE]", events)
            toks = [json.loads(e)["choices"][0]["text"] for e in events[:3]]
            check(toks == ["tok0 ", "tok1 ", "tok2 "], toks)
            usage = json.loads(events[3])["usage"]
            check(usage["prompt_tokens_details"]["cached_tokens"] == 32, usage)  # rewritten
            check(usage["completion_tokens"] == 3 and usage["prompt_tokens"] == 318, usage)
            check("kv_transfer_params" not in data.decode(), "kv_transfer_params leaked")
        finally:
            teardown(gw, ps, ds)


@test
def test_prefill_refused_retried_on_another_prefill():
    ps, ds, gw = setup(nprefill=2)
    try:
        ps[0].mode = "refuse"
        ps[1].waiting = 3  # busier: ps[0] is picked first
        gw.wait_waiting(ps[1], 3)  # a fixed 0.3 s could end before the scrape under ASan
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 200, "status %d %r" % (st, body))
        check(len(ps[0].posts()) == 1 and len(ps[1].posts()) == 1, "one leg on each prefill: %d %d" % (len(ps[0].posts()), len(ps[1].posts())))
        check(h["x-gateway-prefill-endpoint"] == ps[1].address, h)
        check(ps[0].posts()[0]["body"] == ps[1].posts()[0]["body"], "same prefill body")
        gw.wait_idle()
        m, _ = metrics(gw.admin)
        check(m.get("switchyard_pd_prefill_retries_total") == 1, "retry counted")
        check(m.get('switchyard_pd_prefill_failures_total{reason="reset"}') == 1,
              {k: v for k, v in m.items() if "failures" in k})
    finally:
        teardown(gw, ps, ds)


@test
def test_prefill_dead():
    """A prefill server that died: the other prefill endpoint serves; with none left the client
    gets a clear 503 (no silent decode-only), or the marked fallback when configured."""
    ps, ds, gw = setup(nprefill=2)
    try:
        ps[0].kill()
        for _ in range(3):
            st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
            check(st == 200 and h["x-gateway-prefill-endpoint"] == ps[1].address, (st, h))
        ps[1].kill()
        wait_until(lambda: not any(e["ready"] for e in gw.endpoints()
                                   if e["address"] != ds[0].address), 5, what="prefills unready")
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 503 and json.loads(body)["error"]["code"] == "no_prefill_endpoint",
              (st, body))
        check(len(ds[0].posts()) == 3, "decode never started for the failed request")
        gw.wait_idle()
        gw.stop()
        gw = Gateway(ps, ds, disagg="    fallback: decode-only\n", wait=False)
        wait_until(lambda: any(e["ready"] for e in gw.endpoints()), 5, what="decode ready")
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 200 and h.get("x-switchyard-pd-fallback") == "no_prefill_endpoint", (st, h))
        m, _ = metrics(gw.admin)
        check(m.get('switchyard_pd_fallback_total{reason="no_prefill_endpoint"}') == 1, "counted")
    finally:
        teardown(gw, ds)


@test
def test_prefill_never_sent_twice_on_a_reused_connection():
    """Issue 20 defect 6 for the prefill leg: a reused keep-alive connection that fails after the
    prefill server read the whole request is a failed leg (counted, logged), not a silent resend
    of the same prefill to the same server on a fresh connection."""
    ps, ds = [PDStub("prefill")], [PDStub("decode")]
    gw = Gateway(ps, ds, workers=1)  # one worker: one upstream pool, so the connection is reused
    try:
        st, _, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 200 and len(ps[0].posts()) == 1, "first exchange: %d %r" % (st, body))
        ps[0].mode = "refuse"  # reads the whole request, then drops the connection unanswered
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 502 and json.loads(body)["error"]["code"] == "prefill_unavailable",
              "status %d %r" % (st, body))
        time.sleep(0.3)
        check(len(ps[0].posts()) == 2, "the second prefill reached the server %d times"
              % (len(ps[0].posts()) - 1))
        check(len(ds[0].posts()) == 1, "decode never started for the failed exchange")
        m, _ = metrics(gw.admin)
        check(m.get('switchyard_pd_prefill_failures_total{reason="reset"}') == 1,
              {k: v for k, v in m.items() if "failures" in k})
        gw.wait_idle()
        gw.stop()
        # with decode-only fallback the client is served, the prefill still sent once
        ps[0].mode = "ok"
        gw = Gateway(ps, ds, workers=1, disagg="    fallback: decode-only\n")
        st, _, _ = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 200 and len(ps[0].posts()) == 3, "warm-up exchange %d" % st)
        ps[0].mode = "refuse"
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 200 and h.get("x-switchyard-pd-fallback") == "prefill_unavailable",
              (st, h, body))
        time.sleep(0.3)
        check(len(ps[0].posts()) == 4, "prefill sent once more, not twice: %d"
              % (len(ps[0].posts()) - 3))
    finally:
        teardown(gw, ps, ds)


def tls_pd_stub(role, cert, key):
    s = PDStub(role)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s.srv.socket = ctx.wrap_socket(s.srv.socket, server_side=True)
    return s


@test
def test_pd_over_upstream_tls():
    """pool.tls applies to both legs: the prefill leg goes out over HTTPS, verified against the
    pool's CA, as the decode leg does."""
    from test_tls import make_pair
    cert, key = make_pair("pd-up", "model-server")
    ps, ds = [tls_pd_stub("prefill", cert, key)], [tls_pd_stub("decode", cert, key)]
    gw = Gateway(ps, ds, pool_extra="  tls:\n    caFile: %s\n" % cert)
    try:
        for i in range(3):  # pooled TLS connections are reused between exchanges
            st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
            check(st == 200, "P/D over TLS: %d %r" % (st, body))
            check(h["x-gateway-prefill-endpoint"] == ps[0].address, h)
            out = json.loads(body)
            check("kv_transfer_params" not in out and out["served_by"] == ds[0].port, out)
        check(len(ps[0].posts()) == 3 and len(ds[0].posts()) == 3, "3 prefill, 3 decode legs")
        params = json.loads(ds[0].posts()[0]["body"])["kv_transfer_params"]
        check(params["remote_engine_id"] == "eng-%d" % ps[0].port, params)
        m, _ = metrics(gw.admin)
        check(m.get('switchyard_pd_exchanges_total{connector="nixlv2",outcome="pd"}') == 3,
              {k: v for k, v in m.items() if "exchanges" in k})
    finally:
        teardown(gw, ps, ds)


@test
def test_prefill_500_everywhere_is_502_without_fallback():
    ps, ds, gw = setup(nprefill=2)
    try:
        for p in ps:
            p.mode = "status500"
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 502, "status %d %r" % (st, body))
        check(json.loads(body)["error"]["code"] == "prefill_unavailable", body)
        check(len(ps[0].posts()) + len(ps[1].posts()) == 2, "bounded: 2 prefill attempts")
        check(len(ds[0].posts()) == 0, "decode never started")
    finally:
        teardown(gw, ps, ds)


@test
def test_prefill_500_with_decode_only_fallback_is_marked_and_counted():
    ps, ds, gw = setup(disagg="    fallback: decode-only\n    prefillMaxAttempts: 1\n")
    try:
        ps[0].mode = "status500"
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 200, "status %d %r" % (st, body))
        check(h.get("x-switchyard-pd-fallback") == "prefill_unavailable", h)
        check("x-gateway-prefill-endpoint" not in h, h)
        check(ds[0].posts()[0]["body"] == CHAT, "decode-only gets the original body")
        j = json.loads(body)
        check(j["usage"]["prompt_tokens_details"]["cached_tokens"] == 318, "not rewritten")
        check("kv_transfer_params" not in j, j)
        gw.wait_idle()
        m, _ = metrics(gw.admin)
        check(m.get('switchyard_pd_fallback_total{reason="prefill_unavailable"}') == 1,
              {k: v for k, v in m.items() if "fallback" in k})
        check("P/D fallback to decode-only" in open(gw.proc.log_path).read(), "logged")
    finally:
        teardown(gw, ps, ds)


@test
def test_prefill_hang_times_out_504():
    ps, ds, gw = setup(disagg="    prefillTimeout: 700ms\n    prefillMaxAttempts: 1\n")
    try:
        ps[0].mode = "hang"
        t0 = time.time()
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 504, "status %d %r" % (st, body))
        check(json.loads(body)["error"]["code"] == "prefill_timeout", body)
        check(time.time() - t0 < 4, "bounded by prefillTimeout")
        check(len(ds[0].posts()) == 0, "decode never started")
        wait_until(lambda: ps[0].aborted == 1, 5, what="the hanging prefill leg closed")
    finally:
        teardown(gw, ps, ds)


# the prefill profile holds a concurrency-detector with one slot per prefill endpoint
SCHED_CD = SCHED.replace(
    "  - type: prefill-filter\n",
    "  - type: prefill-filter\n  - {type: concurrency-detector, name: cd, "
    "parameters: {maxConcurrency: 1}}\n").replace(
    "plugins: [{pluginRef: prefill-filter}, {pluginRef: queue-scorer}",
    "plugins: [{pluginRef: prefill-filter}, {pluginRef: cd}, {pluginRef: queue-scorer}")


def post_bg(gw, out, key):
    t = threading.Thread(target=lambda: out.__setitem__(
        key, raw_post(gw.port, "/v1/chat/completions", CHAT)))
    t.start()
    return t


@test
def test_prefill_timeout_retried_on_another_prefill():
    """A prefill leg that times out (prefillTimeout) is retried on another prefill endpoint; the
    client gets the P/D answer from there, the timeout counted as a failure and a retry."""
    ps, ds, gw = setup(nprefill=2, disagg="    prefillTimeout: 700ms\n")
    try:
        ps[0].mode = "hang"
        ps[1].waiting = 3  # busier: ps[0] is picked first
        gw.wait_waiting(ps[1], 3)
        t0 = time.time()
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 200, "status %d %r" % (st, body))
        check(time.time() - t0 < 4, "one prefillTimeout, then the retry")
        check(h["x-gateway-prefill-endpoint"] == ps[1].address, h)
        check("x-switchyard-pd-fallback" not in h, h)
        check(len(ps[0].posts()) == 1 and len(ps[1].posts()) == 1 and len(ds[0].posts()) == 1,
              "one leg on each prefill, one decode")
        wait_until(lambda: ps[0].aborted == 1, 5, what="the timed-out leg closed")
        gw.wait_idle()
        m, _ = metrics(gw.admin)
        check(m.get('switchyard_pd_prefill_failures_total{reason="timeout"}') == 1,
              {k: v for k, v in m.items() if "failures" in k})
        check(m.get("switchyard_pd_prefill_retries_total") == 1, "retry counted")
    finally:
        teardown(gw, ps, ds)


@test
def test_prefill_timeout_without_another_prefill_is_504():
    """A prefill leg that timed out with no other prefill endpoint to retry on: the client gets
    504 prefill_timeout (not 502), both when the only prefill endpoint is the one that timed out
    and when the other one is at its concurrency limit (the retried leg finds no slot: the
    send_leg path, which keeps the timeout's answer)."""
    ps, ds, gw = setup(nprefill=1, disagg="    prefillTimeout: 700ms\n")
    try:
        ps[0].mode = "hang"
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        e = json.loads(body)["error"]
        check(st == 504 and e["code"] == "prefill_timeout", (st, body))
        check(len(ps[0].posts()) == 1 and len(ds[0].posts()) == 0, "no retry, no decode")
        wait_until(lambda: ps[0].aborted == 1, 5, what="the timed-out leg closed")
    finally:
        teardown(gw, ps, ds)
    ps, ds, gw = setup(nprefill=2, sched=SCHED_CD, disagg="    prefillTimeout: 1500ms\n")
    try:
        for p in ps:
            p.mode = "hang"
        ps[1].waiting = 3  # r1 takes ps[0]; r2 finds it full and takes ps[1]
        gw.wait_waiting(ps[1], 3)
        out = {}
        t1 = post_bg(gw, out, "r1")
        wait_until(lambda: len(ps[0].posts()) == 1, 5, what="r1's leg on ps[0]")
        t2 = post_bg(gw, out, "r2")
        wait_until(lambda: len(ps[1].posts()) == 1, 5, what="r2's leg on ps[1]")
        t1.join(10)
        t2.join(10)
        st, h, body = out["r1"]
        e = json.loads(body)["error"]
        # r1's leg timed out; its retry found ps[1] at its limit (r2's leg)
        check(st == 504 and e["code"] == "prefill_timeout" and "concurrency limit" in e["message"]
              and not h.get("x-llm-d-request-dropped-reason"), (st, h, body))
        st, h, body = out["r2"]
        check(st == 504 and json.loads(body)["error"]["code"] == "prefill_timeout", (st, body))
        check(len(ps[0].posts()) == 2 and len(ps[1].posts()) == 1, "r2 retried on ps[0]")
        check(len(ds[0].posts()) == 0, "decode never started")
        wait_until(lambda: ps[0].aborted == 2 and ps[1].aborted == 1, 5, what="legs closed")
    finally:
        teardown(gw, ps, ds)


@test
def test_first_leg_without_prefill_room_falls_back_when_configured():
    """The only prefill endpoint is at its concurrency limit when a request arrives: with
    fallback: decode-only it is served decode-only (marked and counted prefill_saturated, the
    original body to decode) instead of 429; without a fallback it is 429 rejected-saturated."""
    for fallback in (True, False):
        ps, ds, gw = setup(sched=SCHED_CD,
                           disagg="    fallback: decode-only\n" if fallback else "")
        try:
            ps[0].mode = "slow"
            out = {}
            t1 = post_bg(gw, out, "r1")
            wait_until(lambda: len(ps[0].posts()) == 1, 5, what="r1's prefill leg")
            st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
            if fallback:
                check(st == 200 and h.get("x-switchyard-pd-fallback") == "prefill_saturated",
                      (st, h, body))
                check("x-gateway-prefill-endpoint" not in h, h)
                check(ds[0].posts()[0]["body"] == CHAT, "decode-only gets the original body")
            else:
                e = json.loads(body)["error"]
                check(st == 429 and e["code"] == "rejected-saturated" and
                      h.get("x-llm-d-request-dropped-reason") == "rejected-saturated",
                      (st, h, body))
                check(len(ds[0].posts()) == 0, "nothing sent to decode")
            check(len(ps[0].posts()) == 1, "no second leg on the full prefill endpoint")
            t1.join(10)
            st, h, body = out["r1"]
            check(st == 200 and h["x-gateway-prefill-endpoint"] == ps[0].address, (st, h))
            gw.wait_idle()
            m, _ = metrics(gw.admin)
            n = m.get('switchyard_pd_fallback_total{reason="prefill_saturated"}', 0)
            check(n == (1 if fallback else 0), {k: v for k, v in m.items() if "fallback" in k})
        finally:
            teardown(gw, ps, ds)


@test
def test_prefill_400_goes_back_as_is():
    ps, ds, gw = setup()
    try:
        ps[0].mode = "status400"
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 400, "status %d" % st)
        check(json.loads(body) == {"object": "error", "message": "prompt too long for this engine",
                                   "type": "BadRequestError", "code": 400}, body)
        check(h.get("content-type") == "application/json", h)
        check(len(ds[0].posts()) == 0 and len(ps[0].posts()) == 1, "no retry, no decode")
    finally:
        teardown(gw, ps, ds)


@test
def test_prefill_answer_without_params_is_502_or_fallback():
    ps, ds, gw = setup()
    try:
        ps[0].mode = "noparams"
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 502, "status %d" % st)
        check(json.loads(body)["error"]["code"] == "prefill_invalid_answer", body)
        ps[0].mode = "badfinish"
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 502 and b"abort" in body, "status %d %r" % (st, body))
        check(len(ds[0].posts()) == 0, "decode never started")
    finally:
        teardown(gw, ps, ds)
    ps, ds, gw = setup(disagg="    fallback: decode-only\n")
    try:
        ps[0].mode = "noparams"
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 200 and h.get("x-switchyard-pd-fallback") == "prefill_invalid_answer", h)
        check(ds[0].posts()[0]["body"] == CHAT, "decode-only gets the original body")
    finally:
        teardown(gw, ps, ds)


@test
def test_decode_fails_before_first_byte_retries_with_fresh_prefill():
    ps, ds, gw = setup(ndecode=2)
    try:
        ds[0].mode = "refuse"
        ds[1].waiting = 3  # busier: ds[0] is picked first
        gw.wait_waiting(ds[1], 3)  # a fixed 0.3 s could end before the scrape under ASan
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT, {"x-request-id": "rid-2"})
        check(st == 200, "status %d %r" % (st, body))
        check(h["x-gateway-destination-endpoint"] == ds[1].address, h)
        check(len(ps[0].posts()) == 2, "a fresh prefill leg for the second decode endpoint: %d %d %d" % (len(ps[0].posts()), len(ds[0].posts()), len(ds[1].posts())))
        check(len(ds[0].posts()) == 1 and len(ds[1].posts()) == 1, "one leg on each decode")
        check(all(r["headers"]["x-request-id"] == "rid-2" for r in ps[0].posts() + ds[1].posts()),
              "one request id")
        check(json.loads(body)["usage"]["prompt_tokens_details"]["cached_tokens"] == 32, body)
    finally:
        teardown(gw, ps, ds)


@test
def test_decode_breaks_after_first_byte_ends_the_stream():
    ps, ds, gw = setup()
    try:
        ds[0].mode = "break"
        body = b'{"model":"m1","prompt":"x","max_tokens":3,"stream":true}'
        st, h, data = raw_post(gw.port, "/v1/completions", body)
        check(st == 200, "status %d" % st)
        text = data.decode()
        check("tok0" in text and "upstream_broken" in text, text)
        check(len(ps[0].posts()) == 1 and len(ds[0].posts()) == 1, "no retry after bytes")
    finally:
        teardown(gw, ps, ds)


@test
def test_client_gone_mid_prefill_cancels_it():
    ps, ds, gw = setup()
    try:
        ps[0].mode = "hang"
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(CHAT)
                  + CHAT)
        wait_until(lambda: len(ps[0].posts()) == 1, 5, what="the prefill leg")
        inf = gw.inflight()
        check(inf[ps[0].address] == 1 and inf[ds[0].address] == 1,
              "both legs counted while prefill runs: %r" % inf)
        s.close()
        wait_until(lambda: ps[0].aborted == 1, 5, what="the prefill leg cancelled")
        gw.wait_idle()
        time.sleep(0.2)
        check(len(ds[0].posts()) == 0, "decode never started")
    finally:
        teardown(gw, ps, ds)


@test
def test_inflight_exact_after_failures():
    """After every failure path, a hanging exchange counts exactly 1 on each leg's endpoint (a
    double release would have left a counter below zero, read back as 0)."""
    ps, ds, gw = setup(disagg="    fallback: decode-only\n    prefillTimeout: 500ms\n")
    try:
        for mode in ("refuse", "status500", "status400", "noparams", "hang"):
            ps[0].mode = mode
            raw_post(gw.port, "/v1/chat/completions", CHAT)
        ds[0].mode = "refuse"
        ps[0].mode = "ok"
        raw_post(gw.port, "/v1/chat/completions", CHAT)
        gw.wait_idle()
        ds[0].mode = "ok"
        ps[0].mode = "hang"
        ps[0].hang_seconds = 3
        before = len(ps[0].posts())
        done = []
        t = threading.Thread(target=lambda: done.append(
            raw_post(gw.port, "/v1/chat/completions", CHAT)))
        t.start()
        wait_until(lambda: len(ps[0].posts()) == before + 1, 5, what="the hanging leg")
        inf = gw.inflight()
        check(inf[ps[0].address] == 1 and inf[ds[0].address] == 1, inf)
        t.join(10)
        check(done and done[0][0] == 200, "fallback after the timeout")
    finally:
        teardown(gw, ps, ds)


@test
def test_sglang_same_body_to_both_at_once():
    ps, ds, gw = setup(connector="sglang", disagg="    connector: sglang\n",
                       labels='switchyard.io/bootstrap-port: "9911"')
    try:
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT, {"x-request-id": "sg-1"})
        check(st == 200, "status %d %r" % (st, body))
        wait_until(lambda: len(ps[0].posts()) == 1, 5, what="prefill leg")
        pb, db = ps[0].posts()[0]["body"], ds[0].posts()[0]["body"]
        check(pb == db, "the same body to both")
        j = json.loads(db)
        check(j["bootstrap_host"] == "127.0.0.1" and j["bootstrap_port"] == 9911, j)
        check(isinstance(j["bootstrap_room"], int) and 0 <= j["bootstrap_room"] < 2 ** 63, j)
        rest = dict(j)
        for k in ("bootstrap_host", "bootstrap_port", "bootstrap_room"):
            del rest[k]
        check(rest == json.loads(CHAT), "otherwise the client's body")
        check(db.startswith(CHAT[:-1]), "the original bytes, then the bootstrap fields")
        check(json.loads(body)["served_by"] == ds[0].port, "the client gets decode's answer")
        check(h["x-gateway-prefill-endpoint"] == ps[0].address, h)
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        wait_until(lambda: len(ps[0].posts()) == 2, 5, what="second prefill leg")
        r2 = json.loads(ds[0].posts()[1]["body"])["bootstrap_room"]
        check(r2 != j["bootstrap_room"], "a new room per request")
    finally:
        teardown(gw, ps, ds)


@test
def test_sidecar_header_only():
    ps, ds, gw = setup(connector="sidecar", disagg="    connector: sidecar\n")
    try:
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT,
                               {"x-prefiller-host-port": "10.9.9.9:1"})
        check(st == 200, "status %d" % st)
        check(len(ps[0].posts()) == 0, "no prefill leg from the gateway")
        d = ds[0].posts()[0]
        check(d["headers"]["x-prefiller-host-port"] == ps[0].address, d["headers"])
        check(d["body"] == CHAT, "the client's body as is")
    finally:
        teardown(gw, ps, ds)


@test
def test_sidecar_prefill_pick_keeps_prefix_affinity():
    # the sidecar runs the prefill leg, but the gateway's pick must still be recorded in the
    # approximate prefix index: the same long prompt goes to the same prefill endpoint again
    sched = SCHED.replace("  - type: queue-scorer\n", "  - type: queue-scorer\n"
                          "  - type: prefix-cache-scorer\n").replace(
        "[{pluginRef: prefill-filter}, {pluginRef: queue-scorer}",
        "[{pluginRef: prefill-filter}, {pluginRef: prefix-cache-scorer}")
    ps, ds, gw = setup(nprefill=2, connector="sidecar", disagg="    connector: sidecar\n",
                       sched=sched)
    try:
        body = json.dumps({"model": "m1", "max_tokens": 5, "messages": [
            {"role": "user", "content": "a long shared document " * 200}]}).encode()
        picks = []
        for _ in range(6):
            st, h, _ = raw_post(gw.port, "/v1/chat/completions", body)
            check(st == 200, "status %d" % st)
            picks.append(ds[0].posts()[-1]["headers"]["x-prefiller-host-port"])
        check(len(set(picks)) == 1, "prefill picks %r" % picks)
    finally:
        teardown(gw, ps, ds)


@test
def test_check_validates_disaggregation():
    port = free_ports(1)[0]
    text = ("listen: 127.0.0.1:%d\npool:\n  endpoints:\n  - address: 127.0.0.1:9\n"
            "  disaggregation:\n    connector: mooncake\n" % port)
    path = write_file(text)
    p = subprocess.run([BIN, "gateway", "--check", "--config", path], capture_output=True,
                       text=True, timeout=20)
    check(p.returncode != 0, "refused")
    want = "%s:6: pool.disaggregation.connector: expected nixlv2, sglang or sidecar" % path
    check(want in p.stderr, p.stderr)
    path = write_file(text.replace("connector: mooncake", "prefillMaxAttemps: 2"))
    p = subprocess.run([BIN, "gateway", "--check", "--config", path], capture_output=True,
                       text=True, timeout=20)
    check(p.returncode != 0 and "%s:6: pool.disaggregation.prefillMaxAttemps: unknown key" % path
          in p.stderr, p.stderr)


@test
def test_check_warns_session_profile_name_unknown():
    # a session-affinity profileName that names no scheduling profile disables the instance
    # (nothing binds, no header): --check still accepts the config but says so, naming both
    port = free_ports(1)[0]
    sched = SCHED.replace("  - type: max-score-picker\n", "  - type: max-score-picker\n"
                          "  - name: sa-p\n    type: session-affinity-scorer\n"
                          "    parameters: {profileName: PROFILE}\n").replace(
        "[{pluginRef: prefill-filter}, {pluginRef: queue-scorer}",
        "[{pluginRef: prefill-filter}, {pluginRef: sa-p}, {pluginRef: queue-scorer}")
    base = ("listen: 127.0.0.1:%d\npool:\n  endpoints:\n  - address: 127.0.0.1:9\n"
            "    labels: {llm-d.ai/role: prefill}\n  - address: 127.0.0.1:10\n"
            "    labels: {llm-d.ai/role: decode}\n  disaggregation: {connector: nixlv2}\n"
            % port) + sched
    for profile, warned in (("prefil", True), ("prefill", False)):
        p = subprocess.run([BIN, "gateway", "--check", "--config",
                            write_file(base.replace("PROFILE", profile))],
                           capture_output=True, text=True, timeout=20)
        check(p.returncode == 0, p.stderr)
        got = "plugin 'sa-p' (session-affinity-scorer): profileName 'prefil' is not a " \
              "scheduling profile" in p.stderr
        check(got == warned, "%s: %s" % (profile, p.stderr))


@test
def test_header_profile_unknown_profile_is_429():
    sched = SCHED.replace("  - type: always-disagg-pd-decider\n", "").replace(
        "  - type: disagg-profile-handler\n    parameters:\n"
        "      deciders: {prefill: always-disagg-pd-decider}\n",
        "  - type: header-profile-handler\n")
    ps, ds, gw = setup(sched=sched)
    try:
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT, {"EPP-Profile": "encode"})
        check(st == 429, "status %d %r" % (st, body))
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT, {"EPP-Profile": "prefill"})
        check(st == 200 and h["x-gateway-destination-endpoint"] == ps[0].address, h)
        check(json.loads(ps[0].posts()[0]["body"]) == json.loads(CHAT), "a plain request")
        st, h, body = raw_post(gw.port, "/v1/chat/completions", CHAT)
        check(st == 200 and h["x-gateway-destination-endpoint"] == ds[0].address, h)
    finally:
        teardown(gw, ps, ds)


if __name__ == "__main__":
    run()
