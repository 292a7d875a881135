"""Integration tests for TLS on the gateway's client and admin listeners (issue 20).

A self-signed pair is generated per test run with Debian's `openssl req`; the real gateway
serves it on loopback; clients are Python's ssl module and curl. Checked: requests and SSE
streams over TLS, TLS 1.2+ only, a wrong or missing pair refused with a clear error, and a
certificate renewed on SIGHUP served to new connections while an open connection carries on.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, free_ports, run, test, wait_until, process_log  # noqa: E402
from stub_server import Stub  # noqa: E402
from test_hardening import GW, config_text  # noqa: E402

TMP = tempfile.mkdtemp(prefix="sy-tls-")


def make_pair(name, cn):
    cert, key = os.path.join(TMP, name + ".crt"), os.path.join(TMP, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def tls_section(cert, key, admin=False):
    return "tls:\n  certFile: %s\n  keyFile: %s\n  admin: %s\n" % (cert, key,
                                                                   "true" if admin else "false")


def client_ctx(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    return ctx


def https(port, cafile, method, path, body=None, headers=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=client_ctx(cafile))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def peer_cn(port, cafile):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with client_ctx(cafile).wrap_socket(s, server_hostname="127.0.0.1") as t:
            subj = dict(x[0] for x in t.getpeercert()["subject"])
            return subj["commonName"]


@test
def test_tls_requests_streams_and_admin():
    cert, key = make_pair("a", "switchyard-a")
    s = Stub()
    s.chunks = 5
    s.interval = 0.01
    gw = GW([s.address], auth=tls_section(cert, key, admin=True))
    # admin over TLS too: readiness through it
    wait_until(lambda: all(e["ready"] for e in json.loads(
        https(gw.admin, cert, "GET", "/debug/endpoints")[2])["endpoints"]), 10, what="ready")
    st, h, body = https(gw.port, cert, "POST", "/v1/completions",
                        b'{"model":"m1","prompt":"hello"}', {"Content-Type": "application/json"})
    check(st == 200 and json.loads(body)["served_by"] == s.port, "request over TLS: %d" % st)
    # a streamed response over TLS ends properly
    st, h, body = https(gw.port, cert, "POST", "/v1/completions",
                        b'{"model":"m1","prompt":"x","stream":true}',
                        {"Content-Type": "application/json"})
    check(st == 200 and body.count(b"data: ") == 7 and b"[DONE]" in body, "SSE over TLS: %r" % body)
    # keep-alive: several requests on one TLS connection
    conn = http.client.HTTPSConnection("127.0.0.1", gw.port, timeout=10, context=client_ctx(cert))
    for i in range(5):
        conn.request("POST", "/v1/completions", body=b'{"model":"m1","prompt":"k"}',
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        check(r.status == 200 and r.read(), "keep-alive request %d" % i)
    conn.close()
    # a real TLS client: curl, verifying the chain and the name
    out = subprocess.run(["curl", "-sS", "--cacert", cert, "https://localhost:%d/v1/completions"
                          % gw.port, "-H", "Content-Type: application/json",
                          "-d", '{"model":"m1","prompt":"curl"}'],
                         capture_output=True, text=True, timeout=20)
    check(out.returncode == 0 and json.loads(out.stdout)["served_by"] == s.port,
          "curl over TLS: %r %r" % (out.stdout, out.stderr))
    out = subprocess.run(["curl", "-sS", "--cacert", cert, "https://127.0.0.1:%d/health"
                          % gw.admin], capture_output=True, text=True, timeout=20)
    check(out.returncode == 0 and '"ok"' in out.stdout, "admin /health over TLS: %r" % out.stdout)
    # plain HTTP to a TLS port gets no HTTP answer (the handshake fails, the connection closes)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as c:
        c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        c.settimeout(5)
        data = b""
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    break
                data += d
        except OSError:
            pass
        check(not data.startswith(b"HTTP/"), "plaintext on a TLS port: %r" % data[:40])
    # TLS 1.1 and below are refused (openssl s_client at security level 0 offers TLS 1.1, which
    # it negotiates with a server that allows it)
    out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % gw.port, "-tls1_1",
                          "-cipher", "DEFAULT@SECLEVEL=0"], input="", capture_output=True,
                         text=True, timeout=20)
    check(out.returncode != 0 and "Cipher    : 0000" in out.stdout and "BEGIN CERT" not in
          out.stdout, "TLS 1.1 refused: %r %r" % (out.stdout[-300:], out.stderr[-300:]))
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(cert)
        ctx.minimum_version = ctx.maximum_version = v
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as c:
            with ctx.wrap_socket(c, server_hostname="127.0.0.1") as t:
                check(t.version() in ("TLSv1.2", "TLSv1.3"), "negotiated %s" % t.version())
    gw.stop()


@test
def test_tls_certificate_reload_keeps_connections():
    cert, key = make_pair("r1", "switchyard-one")
    live_cert, live_key = os.path.join(TMP, "live.crt"), os.path.join(TMP, "live.key")
    shutil.copy(cert, live_cert)
    shutil.copy(key, live_key)
    s = Stub()
    gw = GW([s.address], auth=tls_section(live_cert, live_key))
    check(peer_cn(gw.port, cert) == "switchyard-one", "first certificate served")
    conn = http.client.HTTPSConnection("127.0.0.1", gw.port, timeout=10, context=client_ctx(cert))
    wait_until(lambda: all(e["ready"] for e in gw.endpoints()), 10, what="ready")
    conn.request("POST", "/v1/completions", body=b'{"model":"m1","prompt":"a"}',
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    check(r.status == 200 and r.read(), "first request on the open connection")
    # renew: a new pair written over the files, then SIGHUP
    cert2, key2 = make_pair("r2", "switchyard-two")
    shutil.copy(cert2, live_cert)
    shutil.copy(key2, live_key)
    gw.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "configuration reloaded" in process_log(gw.proc), 10, what="reload")
    wait_until(lambda: peer_cn(gw.port, cert2) == "switchyard-two", 5,
               what="new connections get the renewed certificate")
    conn.request("POST", "/v1/completions", body=b'{"model":"m1","prompt":"b"}',
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    check(r.status == 200 and r.read(), "the connection opened before the reload still works")
    conn.close()
    # a bad renewal (key not matching) is refused and the running certificate kept
    shutil.copy(key, live_key)
    gw.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in process_log(gw.proc), 10, what="refused reload")
    check("mismatch" in process_log(gw.proc), "mismatch reported")
    check(peer_cn(gw.port, cert2) == "switchyard-two", "running certificate kept")
    gw.stop()


def tls_stub(cert, key):
    """The ordinary stub model server behind TLS (its listening socket wrapped)."""
    s = Stub()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s.srv.socket = ctx.wrap_socket(s.srv.socket, server_side=True)
    return s


def pool_tls(ca=None, name=None, insecure=False):
    text = "  tls:\n"
    if ca:
        text += "    caFile: %s\n" % ca
    if name:
        text += "    serverName: %s\n" % name
    if insecure:
        text += "    insecureSkipVerify: true\n"
    return text if (ca or name or insecure) else "  tls: {}\n"


@test
def test_tls_to_upstream_verified():
    cert, key = make_pair("up", "model-server")
    other, _ = make_pair("up-other", "someone-else")
    s = tls_stub(cert, key)
    s.chunks = 3
    s.interval = 0.01
    # verified against the CA file, the name taken from the endpoint's address (127.0.0.1)
    gw = GW([s.address], pool_extra=pool_tls(ca=cert))
    gw.wait_ready()  # the scraper reads /metrics over TLS
    st, h, body = request_json(gw.port, {"model": "m1", "prompt": "x"})
    check(st == 200 and json.loads(body)["served_by"] == s.port, "HTTPS upstream: %d %r" % (st, body))
    st, h, body = request_json(gw.port, {"model": "m1", "prompt": "x", "stream": True})
    check(st == 200 and b"[DONE]" in body, "SSE from an HTTPS upstream: %r" % body[-80:])
    for _ in range(3):  # pooled TLS connections are reused
        st, _, _ = request_json(gw.port, {"model": "m1", "prompt": "y"})
        check(st == 200, "keep-alive over upstream TLS")
    gw.stop()
    # the certificate's name is checked: serverName localhost is in its SAN, wrong.example not
    gw = GW([s.address], pool_extra=pool_tls(ca=cert, name="localhost"))
    gw.wait_ready()
    check(request_json(gw.port, {"model": "m1", "prompt": "x"})[0] == 200, "serverName localhost")
    gw.stop()
    sent = s.count()
    for extra, why in ((pool_tls(ca=cert, name="wrong.example"), "hostname mismatch"),
                       (pool_tls(ca=other), "certificate verify failed")):
        gw = GW([s.address], pool_extra=extra)
        wait_until(lambda: why in process_log(gw.proc), 10, what="verification failure logged")
        st, _, body = request_json(gw.port, {"model": "m1", "prompt": "x"})
        check(st in (502, 503), "unverifiable upstream refused: %d" % st)
        check(s.count() == sent, "nothing sent to the unverified server: %d" % (s.count() - sent))
        gw.stop()
    # insecureSkipVerify: accepted without a check (logged at start)
    gw = GW([s.address], pool_extra=pool_tls(insecure=True))
    gw.wait_ready()
    check(request_json(gw.port, {"model": "m1", "prompt": "x"})[0] == 200, "insecureSkipVerify")
    check("insecureSkipVerify" in process_log(gw.proc), "the insecure mode is logged")
    gw.stop()


def request_json(port, obj):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/v1/completions", body=json.dumps(obj).encode(),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


@test
def test_openai_sdk_over_tls_with_an_api_key():
    node_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node")
    if not os.path.isdir(os.path.join(node_dir, "node_modules", "openai")):
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=node_dir,
                           capture_output=True, timeout=300)
        check(p.returncode == 0, "npm ci: %s" % (p.stdout + p.stderr).decode()[-2000:])
    cert, key = make_pair("sdk", "switchyard-sdk")
    auth = tls_section(cert, key) + 'auth:\n  apiKeys: ["sk-sdk-test-key-0001"]\n'
    gw = GW([Stub().address, Stub().address], auth=auth)
    gw.wait_ready()
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=cert, OPENAI_API_KEY="sk-sdk-test-key-0001")
    base = "https://localhost:%d/v1" % gw.port
    p = subprocess.run(["node", os.path.join(node_dir, "openai_sdk.mjs"), base],
                       capture_output=True, timeout=60, env=env)
    out = (p.stdout + p.stderr).decode()
    check(p.returncode == 0 and "OK" in out, "OpenAI SDK over TLS: %s" % out)
    env["OPENAI_API_KEY"] = "sk-wrong-key-0000"
    p = subprocess.run(["node", os.path.join(node_dir, "openai_sdk.mjs"), base],
                       capture_output=True, timeout=60, env=env)
    out = (p.stdout + p.stderr).decode()
    check(p.returncode != 0 and ("401" in out or "API key" in out), "wrong key refused: %s" % out)
    gw.stop()


@test
def test_tls_config_errors():
    cert, key = make_pair("e", "switchyard-e")
    other_cert, _ = make_pair("e2", "switchyard-e2")
    lp, ap = free_ports(2)
    # a missing file is refused with the key's FILE:LINE (it used to reach OpenSSL, which
    # reported it without a line)
    for tls, want in (("tls:\n  certFile: %s\n" % cert, "certFile and keyFile are both required"),
                      ("tls:\n  certFile: /nonexistent.crt\n  keyFile: %s\n" % key,
                       ": tls.certFile: cannot read /nonexistent.crt: No such file"),
                      ("tls:\n  certFile: %s\n  keyFile: /nonexistent.key\n" % cert,
                       ": tls.keyFile: cannot read /nonexistent.key: No such file"),
                      ("tls:\n  certFile: %s\n  keyFile: %s\n" % (other_cert, key),
                       "mismatch"),
                      ("", ": pool.tls.caFile: cannot read /nonexistent.pem: No such file")):
        path = os.path.join(TMP, "bad.yaml")
        with open(path, "w") as f:
            f.write(config_text(["127.0.0.1:1"], lp, ap, auth=tls,
                                pool_extra="" if tls else pool_tls(ca="/nonexistent.pem")))
        out = subprocess.run([BIN, "gateway", "--config", path, "--check"], capture_output=True,
                             text=True, timeout=20)
        check(out.returncode == 1 and want in out.stderr, "%r: %r" % (tls, out.stderr))
        if want.startswith(": "):
            check(re.match(re.escape(path) + r":\d+: ", out.stderr), "FILE:LINE: %r" % out.stderr)


if __name__ == "__main__":
    run()
