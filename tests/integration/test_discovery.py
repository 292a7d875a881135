"""Integration tests for pool discovery (pool.discovery): the real gateway re-resolving a name
served by a real DNS server (Debian's dnsmasq on loopback), endpoints coming and going live.

Stub model servers listen on 127.0.0.2 / 127.0.0.3 with one port (A records carry no port);
dnsmasq answers from a hosts file that the test rewrites and re-reads on SIGHUP.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, free_ports, post_json, request, run, start_process,  # noqa
                     stop_process, test, wait_until, wait_port, write_file, process_log)
from stub_server import Stub  # noqa: E402

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def port_free_on(hosts):
    for _ in range(50):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            p = s.getsockname()[1]
        ok = True
        for h in hosts[1:]:
            with socket.socket() as s:
                try:
                    s.bind((h, p))
                except OSError:
                    ok = False
        if ok:
            return p
    raise RuntimeError("no common free port")


def udp_free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (dnsmasq binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        with socket.socket() as t:
            try:
                t.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    raise RuntimeError("no free DNS port")


class Dns:
    def __init__(self, records, extra=()):
        self.dir = tempfile.mkdtemp(prefix="sy-dns-")
        self.hosts = os.path.join(self.dir, "hosts")
        self.write(records)
        for attempt in range(3):
            try:
                self.start(extra)
                return
            except RuntimeError:
                if attempt == 2:
                    raise

    def start(self, extra):
        self.port = udp_free_port()
        self.proc = start_process([DNSMASQ, "--no-daemon", "--port=%d" % self.port,
                                   "--listen-address=127.0.0.1", "--bind-interfaces",
                                   "--no-resolv", "--no-hosts", "--addn-hosts=" + self.hosts,
                                   "--local-ttl=0", "--no-negcache", "--local=/test/", "--user=root",
                                   "--pid-file=" + os.path.join(self.dir, "pid")] + list(extra))
        wait_until(lambda: self.lookup_ok(), 10, what="dnsmasq answering")

    def write(self, records):
        with open(self.hosts + ".tmp", "w") as f:
            for ip, name in records:
                f.write("%s %s\n" % (ip, name))
        os.replace(self.hosts + ".tmp", self.hosts)

    def update(self, records):
        self.write(records)
        self.proc.send_signal(signal.SIGHUP)

    def lookup_ok(self):
        if self.proc.poll() is not None:
            raise RuntimeError("dnsmasq exited: %s" % process_log(self.proc))
        # a minimal DNS query for "x." type A; any answer means the server is up
        q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01x\x00\x00\x01\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                s.recvfrom(512)
                return True
            except OSError:
                return False


def gateway(dns_block):
    lp, ap = free_ports(2)
    text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 1\n" % (lp, ap) +
            "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  discovery:\n    dns:\n" +
            dns_block + "timeouts:\n  connect: 500ms\n  request: 3s\n")
    path = write_file(text)
    proc = start_process([BIN, "gateway", "--config", path])
    wait_port(lp, proc=proc)
    return proc, lp, ap


def endpoints(admin):
    st, _, body = request(admin, "GET", "/debug/endpoints")
    return {e["address"]: e["ready"] for e in json.loads(body)["endpoints"]}


@test
def test_dns_a_records_come_and_go_live():
    port = port_free_on(["127.0.0.2", "127.0.0.3"])
    s2 = Stub(port=port, host="127.0.0.2")
    s3 = Stub(port=port, host="127.0.0.3")
    dns = Dns([("127.0.0.2", "pool.test")])
    proc, lp, ap = gateway("      name: pool.test\n      port: %d\n      interval: 200ms\n"
                           "      server: 127.0.0.1:%d\n"
                           "      labels: {llm-d.ai/role: decode}\n" % (port, dns.port))
    a2, a3 = s2.address, s3.address
    wait_until(lambda: endpoints(ap) == {a2: True}, 15, what="first endpoint discovered")
    st, h, body = post_json(lp, "/v1/completions", {"model": "m1", "prompt": "x",
                                                     "max_tokens": 2})
    check(st == 200 and dict(h).get("x-gateway-destination-endpoint") == a2,
          "served by the discovered endpoint: %r %r" % (st, h))
    dns.update([("127.0.0.2", "pool.test"), ("127.0.0.3", "pool.test")])
    wait_until(lambda: endpoints(ap) == {a2: True, a3: True}, 15, what="second endpoint added")
    dns.update([("127.0.0.3", "pool.test")])
    wait_until(lambda: endpoints(ap) == {a3: True}, 15, what="first endpoint removed")
    for _ in range(3):
        st, h, _ = post_json(lp, "/v1/completions", {"model": "m1", "prompt": "y",
                                                      "max_tokens": 2})
        check(st == 200 and dict(h).get("x-gateway-destination-endpoint") == a3, "only a3")
    dns.update([])
    wait_until(lambda: endpoints(ap) == {}, 15, what="no endpoints")
    st, _, _ = post_json(lp, "/v1/completions", {"model": "m1", "prompt": "z", "max_tokens": 2})
    check(st in (404, 503), "no endpoints: %d" % st)
    # DNS server gone: the last set is kept
    dns.update([("127.0.0.3", "pool.test")])
    wait_until(lambda: endpoints(ap) == {a3: True}, 15, what="back")
    stop_process(dns.proc)
    time.sleep(1.0)
    check(endpoints(ap) == {a3: True}, "a failed lookup keeps the last set")
    check(stop_process(proc) == 0, "exits cleanly")


@test
def test_reload_keeps_discovered_endpoint_objects():
    """SIGHUP rebuilds the pool from the file; discovered endpoints keep their objects, so a
    request in flight stays counted on its endpoint across the reload."""
    import threading
    port = port_free_on(["127.0.0.2"])
    s2 = Stub(port=port, host="127.0.0.2")
    s2.delay = 2.0
    dns = Dns([("127.0.0.2", "pool.test")])
    proc, lp, ap = gateway("      name: pool.test\n      port: %d\n      interval: 200ms\n"
                           "      server: 127.0.0.1:%d\n" % (port, dns.port))
    wait_until(lambda: endpoints(ap) == {s2.address: True}, 15, what="discovered")
    t = threading.Thread(target=lambda: post_json(lp, "/v1/completions",
                                                  {"model": "m1", "prompt": "x"}))
    t.start()

    def inflight():
        body = json.loads(request(ap, "GET", "/debug/endpoints")[2])
        return body["generation"], [e["inflight_requests"] for e in body["endpoints"]]
    wait_until(lambda: inflight()[1] == [1], 10, what="request in flight")
    gen = inflight()[0]
    proc.send_signal(signal.SIGHUP)
    wait_until(lambda: inflight()[0] > gen, 10, what="reloaded")
    check(inflight()[1] == [1], "still counted after the reload: %r" % (inflight(),))
    t.join(20)
    wait_until(lambda: inflight()[1] == [0], 10, what="released")
    stop_process(proc)


@test
def test_dns_srv_records_give_ports():
    s1, s2 = Stub(), Stub()
    dns = Dns([("127.0.0.1", "node.pool.test")],
              extra=["--srv-host=_http._tcp.pool.test,node.pool.test,%d" % s1.port,
                     "--srv-host=_http._tcp.pool.test,node.pool.test,%d" % s2.port])
    proc, lp, ap = gateway("      name: _http._tcp.pool.test\n      srv: true\n"
                           "      interval: 200ms\n      server: 127.0.0.1:%d\n" % dns.port)
    wait_until(lambda: endpoints(ap) == {s1.address: True, s2.address: True}, 15,
               what="SRV targets discovered")
    stop_process(proc)


@test
def test_discovery_config_errors():
    text = ("listen: 127.0.0.1:1\npool:\n  discovery:\n    dns:\n      name: x.test\n")
    out = subprocess.run([BIN, "gateway", "--check", "--config", write_file(text)],
                         capture_output=True, text=True, timeout=20)
    check(out.returncode == 1 and "pool.discovery.dns.port: required unless srv is true"
          in out.stderr, "port required: %r" % out.stderr)
    text = ("listen: 127.0.0.1:1\npool:\n  discovery:\n    consul: {}\n")
    out = subprocess.run([BIN, "gateway", "--check", "--config", write_file(text)],
                         capture_output=True, text=True, timeout=20)
    check(out.returncode == 1 and ":4: pool.discovery.consul: unknown key" in out.stderr,
          "unknown: %r" % out.stderr)
    text = ("listen: 127.0.0.1:1\npool:\n  discovery:\n    dns:\n      name: x.test\n"
            "      port: 80\n      interval: 1ms\n")
    out = subprocess.run([BIN, "gateway", "--check", "--config", write_file(text)],
                         capture_output=True, text=True, timeout=20)
    check(out.returncode == 1 and ":7: pool.discovery.dns.interval" in out.stderr,
          "interval: %r" % out.stderr)


class ApiServer:
    """A local Kubernetes API server for the list/watch protocol: an InferencePool, a pod list
    with a resourceVersion, and chunked watch streams fed from a queue (events, bookmarks, a
    410 ERROR event). Requests need the bearer token. With slices (the labelSelector the client
    must send), it serves discovery.k8s.io/v1 EndpointSlices instead of Pods."""

    def __init__(self, ns, pool, selector, ports, token, tls=None, slices=None):
        import queue
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlparse
        self.pods = {}
        self.rv = 100
        self.events = queue.Queue()
        self.watches = []        # (resourceVersion asked, labelSelector)
        self.lists = 0
        self.unauthorized = 0
        self.selector, self.ports = selector, ports  # the InferencePool's spec (may change)
        api = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send_json(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.headers.get("Authorization") != "Bearer " + token:
                    api.unauthorized += 1
                    return self.send_json(401, {"kind": "Status", "code": 401})
                u = urlparse(self.path)
                q = parse_qs(u.query)
                if u.path == ("/apis/inference.networking.k8s.io/v1/namespaces/%s/"
                              "inferencepools/%s" % (ns, pool)):
                    return self.send_json(200, {
                        "apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
                        "metadata": {"name": pool, "namespace": ns},
                        "spec": {"selector": {"matchLabels": api.selector},
                                 "targetPorts": [{"number": p} for p in api.ports],
                                 "endpointPickerRef": {"name": "epp", "port": {"number": 9002}}}})
                coll = ("/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices" if slices
                        else "/api/v1/namespaces/%s/pods") % ns
                if u.path != coll:
                    return self.send_json(404, {"kind": "Status", "code": 404})
                want = slices or ",".join("%s=%s" % kv for kv in api.selector.items())
                if q.get("labelSelector", [""])[0] != want:
                    return self.send_json(400, {"kind": "Status", "code": 400})
                if "watch" not in q:
                    api.lists += 1
                    return self.send_json(200, {
                        "kind": "EndpointSliceList" if slices else "PodList",
                        "metadata": {"resourceVersion": str(api.rv)},
                        "items": list(api.pods.values())})
                api.watches.append(q.get("resourceVersion", [""])[0])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                deadline = time.time() + 20
                while time.time() < deadline:
                    try:
                        ev = api.events.get(timeout=0.2)
                    except Exception:
                        continue
                    if ev is None:  # end this watch (as timeoutSeconds does)
                        break
                    line = (json.dumps(ev) + "\n").encode()
                    # split each event over two chunks: the client must reassemble lines
                    half = len(line) // 2
                    for part in (line[:half], line[half:]):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                    if ev.get("type") == "ERROR":
                        break
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        class S(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass  # the gateway hangs up on open watches when it stops

        self.srv = S(("127.0.0.1", 0), H)
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def pod(self, name, ip, ready, labels):
        self.rv += 1
        return {"metadata": {"name": name, "resourceVersion": str(self.rv), "labels": labels},
                "status": {"phase": "Running", "podIP": ip,
                           "conditions": [{"type": "Ready",
                                           "status": "True" if ready else "False"}]}}

    def slice(self, name, service, labels, ports, endpoints, address_type="IPv4"):
        """An EndpointSlice as the EndpointSlice controller writes it: the Service's labels plus
        kubernetes.io/service-name and managed-by; endpoints are (ip, conditions) pairs."""
        self.rv += 1
        lab = dict(labels, **{"kubernetes.io/service-name": service,
                              "endpointslice.kubernetes.io/managed-by":
                                  "endpointslice-controller.k8s.io"})
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": name, "resourceVersion": str(self.rv), "labels": lab},
                "addressType": address_type,
                "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
                "endpoints": [dict({"addresses": [ip], "targetRef": {"kind": "Pod", "name": ip}},
                                   **({"conditions": c} if c is not None else {}))
                              for ip, c in endpoints]}

    def event(self, typ, obj):
        if typ == "DELETED":
            self.pods.pop(obj["metadata"]["name"], None)
        else:
            self.pods[obj["metadata"]["name"]] = obj
        self.events.put({"type": typ, "object": obj})


@test
def test_kubernetes_inferencepool_list_watch_bookmark_and_410():
    port = port_free_on(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    stubs = [Stub(port=port, host=h) for h in ("127.0.0.2", "127.0.0.3", "127.0.0.4")]
    a2, a3, a4 = (st.address for st in stubs)
    labels = {"app": "vllm", "llm-d.ai/role": "decode"}
    api = ApiServer("llm", "pool", {"app": "vllm"}, [port], "tok123")
    api.pods["a"] = api.pod("a", "127.0.0.2", True, labels)
    tok = write_file("tok123\n", suffix=".token")
    proc, lp, ap = gateway_k8s(
        "      inferencePool: pool\n      namespace: llm\n      apiServer: http://127.0.0.1:%d\n"
        "      tokenFile: %s\n" % (api.port, tok))
    wait_until(lambda: endpoints(ap) == {a2: True}, 15, what="listed pod a")
    wait_until(lambda: len(api.watches) >= 1, 10, what="a watch")
    check(api.watches[0] == "100" or api.watches[0] == str(api.rv), "watch from the list's RV")
    api.event("ADDED", api.pod("b", "127.0.0.3", False, labels))
    api.event("ADDED", api.pod("c", "127.0.0.4", True, labels))
    wait_until(lambda: endpoints(ap) == {a2: True, a4: True}, 15, what="c added, b not ready")
    api.event("MODIFIED", api.pod("b", "127.0.0.3", True, labels))
    wait_until(lambda: set(endpoints(ap)) == {a2, a3, a4}, 15, what="b became ready")
    api.rv += 10
    api.events.put({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion":
                                                                str(api.rv)}}})
    api.event("DELETED", api.pod("a", "127.0.0.2", True, labels))
    wait_until(lambda: set(endpoints(ap)) == {a3, a4}, 15, what="a deleted")
    # the watch ends: the gateway resumes from the last resourceVersion it saw
    n = len(api.watches)
    rv_now = str(api.rv)
    api.events.put(None)
    wait_until(lambda: len(api.watches) > n, 10, what="resumed watch")
    check(api.watches[n] == rv_now, "resumed from %s, asked %s" % (rv_now, api.watches[n]))
    # 410 Gone: relist (pod c went away while the watch was broken)
    lists = api.lists
    api.pods.pop("c")
    api.events.put({"type": "ERROR", "object": {"kind": "Status", "code": 410,
                                                 "reason": "Expired"}})
    wait_until(lambda: api.lists > lists, 10, what="relist after 410")
    wait_until(lambda: endpoints(ap) == {a3: True}, 15, what="relisted state")
    # the discovered endpoint serves and carries the pod's labels
    st, h, body = post_json(lp, "/v1/completions", {"model": "m1", "prompt": "x",
                                                     "max_tokens": 2})
    check(st == 200 and dict(h).get("x-gateway-destination-endpoint") == a3,
          "served by b: %r %r %r %r" % (st, h, body, request(ap, "GET", "/debug/endpoints")[2]))
    check(api.unauthorized == 0, "the token was sent on every request")
    check(stop_process(proc) == 0, "stops cleanly with a watch open")


@test
def test_kubernetes_inferencepool_change_relists_when_the_watch_ends():
    port, port2 = free_ports(2)
    api = ApiServer("llm", "pool", {"app": "vllm"}, [port], "tok")
    api.pods["a"] = api.pod("a", "127.0.0.2", True, {"app": "vllm"})
    tok = write_file("tok\n", suffix=".token")
    proc, lp, ap = gateway_k8s(
        "      inferencePool: pool\n      namespace: llm\n      apiServer: http://127.0.0.1:%d\n"
        "      tokenFile: %s\n" % (api.port, tok))
    a1 = "127.0.0.2:%d" % port
    wait_until(lambda: set(endpoints(ap)) == {a1}, 15, what="listed pod a")
    wait_until(lambda: len(api.watches) >= 1, 10, what="a watch")
    # an unchanged pool: the ended watch resumes without a relist
    lists = api.lists
    n = len(api.watches)
    api.events.put(None)
    wait_until(lambda: len(api.watches) > n, 10, what="resumed watch")
    check(api.lists == lists, "no relist for an unchanged pool")
    # the pool's selector and target port change: the next watch end relists under the new spec
    api.selector, api.ports = {"app": "v2"}, [port2]
    api.pods = {"d": api.pod("d", "127.0.0.5", True, {"app": "v2"})}
    api.events.put(None)
    wait_until(lambda: api.lists > lists, 10, what="relist after the pool changed")
    wait_until(lambda: set(endpoints(ap)) == {"127.0.0.5:%d" % port2}, 15,
               what="the new selector's pods on the new port")
    check(stop_process(proc) == 0, "stops cleanly")


def endpoint_labels(admin):
    st, _, body = request(admin, "GET", "/debug/endpoints")
    return {e["address"]: e.get("labels", {}) for e in json.loads(body)["endpoints"]}


@test
def test_kubernetes_endpointslices_list_watch_bookmark_and_410():
    """pool.discovery.kubernetes.service: the EndpointSlices of a Service instead of Pods: ready
    conditions (absent = ready, terminating = gone), ports by name, an endpoint in two slices
    once, labels from the slice (the Service's) plus the configured ones; list, watch with events
    split across chunks, bookmark, resume, 410 relist."""
    port = port_free_on(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    stubs = [Stub(port=port, host=h) for h in ("127.0.0.2", "127.0.0.3", "127.0.0.4")]
    a2, a3, a4 = (st.address for st in stubs)
    api = ApiServer("llm", "pool", {}, [], "tok",
                    slices="kubernetes.io/service-name=vllm")
    ports = [("metrics", 9), ("http", port)]  # only the named port is an endpoint
    role = {"llm-d.ai/role": "decode"}
    api.pods["vllm-abc"] = api.slice("vllm-abc", "vllm", role, ports,
                                     [("127.0.0.2", {"ready": True}),
                                      ("127.0.0.3", {"ready": False})])
    tok = write_file("tok\n", suffix=".token")
    proc, lp, ap = gateway_k8s(
        "      service: vllm\n      portNames: [http]\n      labels: {tier: gold}\n"
        "      namespace: llm\n      apiServer: http://127.0.0.1:%d\n      tokenFile: %s\n"
        % (api.port, tok))
    wait_until(lambda: endpoints(ap) == {a2: True}, 15, what="listed slice: 127.0.0.2 ready")
    lab = endpoint_labels(ap)[a2]
    check(lab.get("llm-d.ai/role") == "decode" and lab.get("tier") == "gold" and
          lab.get("kubernetes.io/service-name") == "vllm", "labels from the slice: %r" % lab)
    ep = json.loads(request(ap, "GET", "/debug/endpoints")[2])["endpoints"][0]
    check("rank" not in ep, "a discovered endpoint is no multi-port entry's rank: %r" % ep)
    wait_until(lambda: len(api.watches) >= 1, 10, what="a watch")
    # .3 becomes ready (conditions absent: unknown means ready); a second slice repeats .3
    api.event("MODIFIED", api.slice("vllm-abc", "vllm", role, ports,
                                    [("127.0.0.2", {"ready": True}), ("127.0.0.3", None)]))
    api.event("ADDED", api.slice("vllm-def", "vllm", role, ports,
                                 [("127.0.0.3", {"ready": True}), ("127.0.0.4", {"ready": True})]))
    wait_until(lambda: set(endpoints(ap)) == {a2, a3, a4}, 15, what="three endpoints, .3 once")
    check(len(endpoints(ap)) == 3, "an address in two slices counts once")
    # a terminating endpoint leaves; a bookmark moves the resume point
    api.event("MODIFIED", api.slice("vllm-abc", "vllm", role, ports,
                                    [("127.0.0.2", {"ready": False, "terminating": True})]))
    api.rv += 10
    api.events.put({"type": "BOOKMARK", "object": {"kind": "EndpointSlice", "metadata": {
        "resourceVersion": str(api.rv)}}})
    wait_until(lambda: set(endpoints(ap)) == {a3, a4}, 15, what="terminating .2 removed")
    n = len(api.watches)
    rv_now = str(api.rv)
    api.events.put(None)
    wait_until(lambda: len(api.watches) > n, 10, what="resumed watch")
    check(api.watches[n] == rv_now, "resumed from %s, asked %s" % (rv_now, api.watches[n]))
    # DELETED slice, then 410: relist
    api.event("DELETED", api.pods["vllm-def"])
    wait_until(lambda: set(endpoints(ap)) == set(), 15, what="slice def deleted")
    lists = api.lists
    api.pods["vllm-xyz"] = api.slice("vllm-xyz", "vllm", role, ports,
                                     [("127.0.0.4", {"ready": True})])
    api.events.put({"type": "ERROR", "object": {"kind": "Status", "code": 410,
                                                 "reason": "Expired"}})
    wait_until(lambda: api.lists > lists, 10, what="relist after 410")
    wait_until(lambda: endpoints(ap) == {a4: True}, 15, what="relisted state")
    st, h, body = post_json(lp, "/v1/completions", {"model": "m1", "prompt": "x",
                                                     "max_tokens": 2})
    check(st == 200 and dict(h).get("x-gateway-destination-endpoint") == a4,
          "served by the slice endpoint: %r %r" % (st, body))
    check(api.unauthorized == 0, "the token was sent on every request")
    check(stop_process(proc) == 0, "stops cleanly with a watch open")


@test
def test_kubernetes_endpointslices_of_several_services_roles_from_each():
    """service: [a, b] lists slices with a set-based selector; each Service's role label reaches
    its endpoints (one Service per role). Without portNames, targetPorts filter by number;
    FQDN slices are skipped."""
    port = port_free_on(["127.0.0.2", "127.0.0.3"])
    s2, s3 = Stub(port=port, host="127.0.0.2"), Stub(port=port, host="127.0.0.3")
    api = ApiServer("llm", "pool", {}, [], "tok",
                    slices="kubernetes.io/service-name in (vllm-prefill,vllm-decode)")
    api.pods["p"] = api.slice("p", "vllm-prefill", {"llm-d.ai/role": "prefill"},
                              [("http", port), ("other", port + 1)], [("127.0.0.2", {})])
    api.pods["d"] = api.slice("d", "vllm-decode", {"llm-d.ai/role": "decode"},
                              [("x", port)], [("127.0.0.3", {"ready": True})])
    api.pods["f"] = api.slice("f", "vllm-decode", {"llm-d.ai/role": "decode"},
                              [("x", port)], [("vllm.example", {"ready": True})],
                              address_type="FQDN")
    tok = write_file("tok\n", suffix=".token")
    proc, lp, ap = gateway_k8s(
        "      service: [vllm-prefill, vllm-decode]\n      targetPorts: [%d]\n"
        "      namespace: llm\n      apiServer: http://127.0.0.1:%d\n      tokenFile: %s\n"
        % (port, api.port, tok))
    wait_until(lambda: endpoints(ap) == {s2.address: True, s3.address: True}, 15,
               what="both services' endpoints")
    lab = endpoint_labels(ap)
    check(lab[s2.address]["llm-d.ai/role"] == "prefill" and
          lab[s3.address]["llm-d.ai/role"] == "decode", "roles from each Service: %r" % lab)
    check(stop_process(proc) == 0, "stops cleanly")


def gateway_k8s(block):
    lp, ap = free_ports(2)
    text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 1\n" % (lp, ap) +
            "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  discovery:\n    kubernetes:\n" +
            block + "timeouts:\n  connect: 500ms\n  request: 3s\n")
    proc = start_process([BIN, "gateway", "--config", write_file(text)])
    wait_port(lp, proc=proc)
    return proc, lp, ap


@test
def test_kubernetes_over_tls_verifies_the_api_server_by_ip():
    """In a cluster the API server is an IP (KUBERNETES_SERVICE_HOST): its certificate's IP SAN
    is checked against caFile; a client without that CA refuses the server."""
    d = tempfile.mkdtemp(prefix="sy-k8s-tls-")
    crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=kube-apiserver",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", crt],
                   check=True, capture_output=True, timeout=30)
    s = Stub()
    api = ApiServer("llm", "pool", {"app": "vllm"}, [s.port], "tok", tls=(crt, key))
    api.pods["a"] = api.pod("a", "127.0.0.1", True, {"app": "vllm"})
    tok = write_file("tok\n", suffix=".token")
    block = ("      selector: {app: vllm}\n      targetPorts: [%d]\n      namespace: llm\n"
             "      apiServer: https://127.0.0.1:%d\n      tokenFile: %s\n" % (s.port, api.port, tok))
    proc, lp, ap = gateway_k8s(block + "      caFile: %s\n" % crt)
    wait_until(lambda: endpoints(ap) == {s.address: True}, 15, what="pod found over TLS")
    stop_process(proc)
    other = os.path.join(d, "other.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=x",
                    "-keyout", os.path.join(d, "other.key"), "-out", other],
                   check=True, capture_output=True, timeout=30)
    proc, lp, ap = gateway_k8s(block + "      caFile: %s\n" % other)
    wait_until(lambda: "TLS to 127.0.0.1" in process_log(proc), 15, what="verification error")
    check(endpoints(ap) == {}, "no endpoints from an unverified server")
    stop_process(proc)


@test
def test_kubernetes_config_errors():
    base = "listen: 127.0.0.1:1\npool:\n  discovery:\n    kubernetes:\n"
    for block, want in [
        ("      namespace: x\n      apiServer: http://127.0.0.1:1\n",
         "set either inferencePool or selector"),
        ("      selector: {app: v}\n      namespace: x\n      apiServer: http://127.0.0.1:1\n",
         "targetPorts: required with selector"),
        ("      inferencePool: p\n      namespace: x\n      apiServer: ftp://x\n",
         ":7: pool.discovery.kubernetes.apiServer: expected an https://"),
        ("      inferencePool: p\n      namespace: x\n      apiServer: http://h:1\n"
         "      targetPorts: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n",
         "targetPorts: expected a list of 1 to 8 ports"),
        ("      service: vllm\n      inferencePool: p\n      namespace: x\n"
         "      apiServer: http://h:1\n", "service: watches a Service's EndpointSlices; not with"),
        ("      selector: {app: v}\n      targetPorts: [1]\n      portNames: [http]\n"
         "      namespace: x\n      apiServer: http://h:1\n", "portNames: only with service"),
        ("      service: []\n      namespace: x\n      apiServer: http://h:1\n",
         "service: expected a Service name or a list of 1 to 16"),
        ("      service: vllm\n      labels: [a]\n      namespace: x\n"
         "      apiServer: http://h:1\n", ":6: pool.discovery.kubernetes.labels: expected a "
                                            "mapping"),
    ]:
        out = subprocess.run([BIN, "gateway", "--check", "--config", write_file(base + block)],
                             capture_output=True, text=True, timeout=20)
        check(out.returncode == 1 and want in out.stderr, "%r: %r" % (want, out.stderr))


if __name__ == "__main__":
    run()
