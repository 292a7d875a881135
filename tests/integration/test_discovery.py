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
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dns:
    def __init__(self, records, extra=()):
        self.dir = tempfile.mkdtemp(prefix="sy-dns-")
        self.hosts = os.path.join(self.dir, "hosts")
        self.write(records)
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


if __name__ == "__main__":
    run()
