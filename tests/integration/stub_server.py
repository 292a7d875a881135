"""A scriptable stub model server for integration tests (Python 3 standard library only).

Each Stub serves an OpenAI-like API on 127.0.0.1:<port> in a background thread:
  POST /v1/completions, /v1/chat/completions, /v1/responses, /v1/embeddings
      non-stream: JSON with "served_by" (its port), the received x-request-id, sha256 of the body
      stream (body "stream": true): `chunks` SSE events `interval` seconds apart, then a usage
      event and [DONE]
  GET /metrics     vLLM-style metrics from the stub's attributes (waiting, running, kv), after
                   `metrics_delay` seconds; counted in metrics_polls / metrics_max_active
  GET /v1/models   {"data": [{"id": model} ...]}
With `split_usage` the usage event goes out 9 bytes per chunk, 10 ms apart (a line split across
the gateway's reads).
`raw_stream` (default None): a list of bytes that a stream sends as its body instead, one HTTP
chunk each, 10 ms apart (pause_at then counts chunks).
A request header `x-stub-delay: SECONDS` holds that request's response head (as a model server
still prefilling it). `gate` (a threading.Semaphore, default None): every streamed request takes
one permit before its response head, so a test decides exactly when each stream may proceed.
`pause_at` (default None): a stream started while it is N sends N events, then waits for the
`resume` event (threading.Event, set by default: clear it first) before the rest.
Failure modes (attribute `mode`): "ok", "close" (drop the connection without answering),
"close_post" (the same for POSTs only: /metrics stays healthy, so the endpoint stays ready),
"hang" (never answer), "break" (stream 2 events then drop the connection), "status500".
`vllm_events` (default False): streams are shaped like vLLM's, in json.dumps spacing. Chat: a
role-only chunk per choice (`n`), `chunks` rounds of one event per choice, a final empty-delta
chunk per choice with finish_reason, a usage-only chunk (completion_tokens = chunks x n).
/v1/responses: the lifecycle events (created, in_progress, output_item.added, content_part.added),
`chunks` response.output_text.delta events, the .done events and response.completed with usage
output_tokens = `responses_tokens_per_delta` x chunks. pause_at counts token events.
Every request is recorded in `requests` (path, headers, body); aborted streams are counted.
"""
import hashlib
import json
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, status, body, ctype="application/json", extra=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        st = self.server.stub
        if st.mode == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.path == "/metrics":
            with st.lock:
                st.metrics_polls += 1
                st.metrics_active += 1
                st.metrics_max_active = max(st.metrics_max_active, st.metrics_active)
            try:
                time.sleep(st.metrics_delay)
            finally:
                with st.lock:
                    st.metrics_active -= 1
            if st.metrics_status != 200:
                self._send(st.metrics_status, b"no", "text/plain")
                return
            text = (
                "# HELP vllm:num_requests_waiting Number of requests waiting.\n"
                "# TYPE vllm:num_requests_waiting gauge\n"
                'vllm:num_requests_waiting{model_name="%s"} %s\n'
                "# TYPE vllm:num_requests_running gauge\n"
                'vllm:num_requests_running{model_name="%s"} %s\n'
                "# TYPE vllm:kv_cache_usage_perc gauge\n"
                'vllm:kv_cache_usage_perc{model_name="%s"} %s\n'
                "# TYPE vllm:cache_config_info gauge\n"
                'vllm:cache_config_info{block_size="16",num_gpu_blocks="1000"} 1.0\n'
            ) % (st.models[0], st.waiting, st.models[0], st.running, st.models[0], st.kv)
            self._send(200, text.encode(), "text/plain; version=0.0.4")
        elif self.path == "/v1/models":
            self._send(200, {"object": "list",
                             "data": [{"id": m, "object": "model"} for m in st.models]})
        elif self.path == "/health":
            self._send(200, b"", "text/plain")
        else:
            self._send(404, {"error": "nope"})

    def do_POST(self):
        st = self.server.stub
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        rec = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": body, "t": time.time()}
        with st.lock:
            st.requests.append(rec)
        if st.mode in ("close", "close_post"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if st.mode == "hang":
            time.sleep(st.hang_seconds)
            self.close_connection = True
            return
        if st.mode == "status500":
            self._send(500, {"error": {"message": "boom"}})
            return
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            req = {}
        digest = hashlib.sha256(body).hexdigest()
        rid = self.headers.get("x-request-id", "")
        try:  # per-request wait before the response head (a request still in prefill)
            hold = float(self.headers.get("x-stub-delay") or 0)
        except ValueError:
            hold = 0
        if hold > 0:
            time.sleep(min(hold, 60))
        if req.get("stream") and st.gate is not None:
            st.gate.acquire(timeout=60)
        if not req.get("stream"):
            if st.delay:
                time.sleep(st.delay)
            self._send(200, {"id": "cmpl-1", "object": "text_completion", "model": req.get("model"),
                             "served_by": st.port, "request_id": rid, "body_sha256": digest,
                             "body_len": len(body),
                             "choices": [{"index": 0, "text": "hello", "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 11, "completion_tokens": 5,
                                       "total_tokens": 16,
                                       "prompt_tokens_details": {"cached_tokens": 3}}},
                       extra={"x-stub-port": str(st.port)})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-stub-port", str(st.port))
        self.end_headers()
        chunks = st.chunks if st.mode != "break" else 2
        pause_at = st.pause_at
        if st.vllm_events:
            self._vllm_stream(st, req, chunks, pause_at)
            return

        def chunk(data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            if st.raw_stream is not None:  # the test's bytes, as they are
                for i, data in enumerate(st.raw_stream):
                    if pause_at is not None and i == pause_at:
                        st.resume.wait(60)
                    chunk(data)
                    time.sleep(0.01)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
            for i in range(chunks):
                if pause_at is not None and i == pause_at:
                    st.resume.wait(60)
                ev = {"id": "c", "object": "chat.completion.chunk", "served_by": st.port,
                      "choices": [{"index": 0, "delta": {"content": "tok%d " % i},
                                   "text": "tok%d " % i}]}
                chunk(b"data: " + json.dumps(ev).encode() + b"\n\n")
                time.sleep(st.interval)
            if st.mode == "break":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            usage = {"id": "c", "choices": [], "usage": {"prompt_tokens": 11,
                                                        "completion_tokens": chunks,
                                                        "total_tokens": 11 + chunks}}
            ev = b"data: " + json.dumps(usage).encode() + b"\n\n"
            if st.split_usage:  # the usage line in pieces, each read by itself
                for a in range(0, len(ev), 9):
                    chunk(ev[a:a + 9])
                    time.sleep(0.01)
            else:
                chunk(ev)
            chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            with st.lock:
                st.aborted += 1
            self.close_connection = True


    def _vllm_stream(self, st, req, chunks, pause_at):
        def send(ev, name=None):
            head = b"event: %s\n" % name.encode() if name else b""
            data = head + b"data: " + json.dumps(ev).encode() + b"\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def tokens(make):
            sent = 0
            for i in range(chunks):
                for ev, name in make(i):
                    if pause_at is not None and sent == pause_at:
                        st.resume.wait(60)
                    send(ev, name)
                    sent += 1
                time.sleep(st.interval)

        try:
            if self.path.startswith("/v1/responses"):
                out = st.responses_tokens_per_delta * chunks
                for k, t in enumerate(("response.created", "response.in_progress")):
                    send({"response": {"id": "r", "object": "response", "output": [],
                                       "status": "in_progress"},
                          "sequence_number": k, "type": t}, t)
                send({"item": {"type": "message", "role": "assistant", "content": []},
                      "output_index": 0, "type": "response.output_item.added"},
                     "response.output_item.added")
                send({"part": {"type": "output_text", "text": ""},
                      "type": "response.content_part.added"}, "response.content_part.added")
                tokens(lambda i: [({"content_index": 0, "delta": "tok%d " % i, "item_id": "m",
                                    "type": "response.output_text.delta"},
                                   "response.output_text.delta")])
                for t in ("response.output_text.done", "response.content_part.done",
                          "response.output_item.done"):
                    send({"text": "...", "type": t}, t)
                send({"response": {"id": "r", "status": "completed",
                                   "usage": {"input_tokens": 11, "output_tokens": out,
                                             "total_tokens": 11 + out}},
                      "type": "response.completed"}, "response.completed")
            else:
                n = req.get("n") or 1
                for c in range(n):
                    send({"id": "c", "choices": [{"index": c, "delta": {"role": "assistant",
                                                                        "content": ""},
                                                  "logprobs": None, "finish_reason": None}]})
                tokens(lambda i: [({"id": "c", "served_by": st.port,
                                    "choices": [{"index": c, "delta": {"content": "tok%d " % i},
                                                 "logprobs": None, "finish_reason": None}]}, None)
                                  for c in range(n)])
                for c in range(n):
                    send({"id": "c", "choices": [{"index": c, "delta": {}, "logprobs": None,
                                                  "finish_reason": "length"}]})
                send({"id": "c", "choices": [], "usage": {
                    "prompt_tokens": 11, "completion_tokens": chunks * n,
                    "total_tokens": 11 + chunks * n}})
                done = b"data: [DONE]\n\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(done), done))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            with st.lock:
                st.aborted += 1
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # clients (the gateway) hang up on purpose in several tests


class Stub:
    def __init__(self, port=0, models=("m1",), host="127.0.0.1"):
        self.models = list(models)
        self.mode = "ok"
        self.waiting = 0
        self.running = 0
        self.kv = 0.0
        self.metrics_status = 200
        self.metrics_delay = 0.0     # seconds before /metrics answers
        self.metrics_polls = 0       # /metrics requests received
        self.metrics_active = 0      # /metrics requests being answered now
        self.metrics_max_active = 0  # most at once
        self.chunks = 5
        self.split_usage = False     # stream the usage event 9 bytes per chunk, 10 ms apart
        self.raw_stream = None       # list of bytes: a stream's body, one HTTP chunk each
        self.vllm_events = False     # streams shaped like vLLM's (see the module comment)
        self.responses_tokens_per_delta = 1
        self.interval = 0.05
        self.delay = 0.0
        self.hang_seconds = 30
        self.gate = None             # threading.Semaphore: streams wait for a permit
        self.pause_at = None         # streams wait for `resume` after this many events
        self.resume = threading.Event()
        self.resume.set()
        self.requests = []
        self.aborted = 0
        self.lock = threading.Lock()
        self.srv = _Server((host, port), _Handler)
        self.srv.stub = self
        self.port = self.srv.server_address[1]
        self.address = "%s:%d" % (host, self.port)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()

    def count(self, path_prefix="/v1/"):
        with self.lock:
            return sum(1 for r in self.requests if r["path"].startswith(path_prefix))
