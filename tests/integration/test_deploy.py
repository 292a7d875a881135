"""Checks of deploy/ that this machine can run (no container engine, no helm, no cluster here):

- the image recipe's runtime packages provide every shared library the binary links (readelf
  NEEDED -> dpkg -S), so the final stage starts;
- the Switchyard configs the Helm chart renders (files/*.yaml with the same substitutions the
  templates make) pass `switchyard gateway|epp --check` for each mode;
- every .Values path the templates read exists in values.yaml, and template actions balance;
- the Grafana dashboard is valid JSON, the chart's copy equals deploy/grafana's, and every metric
  it queries is exported by a running gateway.
What is not validated here: rendering with helm itself, the rendered objects against the
Kubernetes schemas, and a docker build (docs/kubernetes.md says so).
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, ROOT, check, free_ports, post_json, request, run, start_process,  # noqa
                     test, wait_port, wait_until, write_file)
from stub_server import Stub  # noqa: E402

DEPLOY = os.path.join(ROOT, "deploy")
CHART = os.path.join(DEPLOY, "helm", "switchyard")
BASE_LIBS = ("libc.so", "libm.so", "libresolv.so", "libpthread.so", "ld-linux", "libdl.so",
             "libasan", "libubsan", "liblsan", "libtsan")  # base image / sanitizer builds


@test
def test_image_runtime_packages_cover_the_binary():
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                        subprocess.run(["readelf", "-d", BIN], capture_output=True, text=True,
                                       check=True).stdout)
    ldd = subprocess.run(["ldd", BIN], capture_output=True, text=True, check=True).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    docker = open(os.path.join(DEPLOY, "Dockerfile")).read()
    final = docker[docker.rindex("FROM "):]
    check(len(needed) >= 5, "NEEDED libraries: %r" % needed)
    for lib in needed:
        if lib.startswith(BASE_LIBS):
            continue
        path = paths.get(lib)
        check(path, "ldd resolves %s" % lib)
        real = os.path.realpath(path)
        out = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True)
        if out.returncode != 0:
            out = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        pkg = out.stdout.split(":")[0].strip()
        check(pkg and re.search(r"\b%s\b" % re.escape(pkg), final),
              "the runtime stage installs %s (for %s)" % (pkg, lib))
    check("USER 65532" in final and "ENTRYPOINT" in final, "non-root, one entry point")


def render_config(mode, values):
    """The substitutions templates/_helpers.tpl makes (switchyard.config, switchyard.discovery)."""
    files = os.path.join(CHART, "files")
    rd = lambda n: open(os.path.join(files, n)).read()  # noqa: E731
    if values["discovery"] == "dns":
        disc = (rd("discovery-dns.yaml").replace("__DNSNAME__", values["dnsName"])
                .replace("__DNSPORT__", str(values["ports"][0])).replace("__INTERVAL__", "5s"))
    elif mode == "epp":
        disc = rd("discovery-pool.yaml").replace("__POOL__", values["pool"])
    else:
        disc = (rd("discovery-selector.yaml")
                .replace("__SELECTOR__", json.dumps(values["matchLabels"], separators=(",", ":")))
                .replace("__PORTS__", json.dumps(values["ports"], separators=(",", ":"))))
    tls = rd("tls.yaml") if values.get("tlsSecret") else ""
    text = rd("epp.yaml" if mode == "epp" else "gateway.yaml")
    for k, v in (("__PORT__", "8080"), ("__ADMIN__", "9090"), ("__WORKERS__", "0"),
                 ("__ENGINE__", "vllm"), ("__XP__", "9002"), ("__HEALTH__", "9003"),
                 ("__SECURE__", "true"), ("__TLS__", tls), ("__DISCOVERY__", disc)):
        text = text.replace(k, v)
    return text


@test
def test_chart_configs_pass_check_in_every_mode():
    env = dict(os.environ, KUBERNETES_SERVICE_HOST="10.0.0.1", KUBERNETES_SERVICE_PORT="443",
               POD_NAMESPACE="llm")
    d = tempfile.mkdtemp(prefix="sy-chart-")
    crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=epp",
                    "-keyout", key, "-out", crt], check=True, capture_output=True, timeout=30)
    base = {"matchLabels": {"llm-d.ai/inference-serving": "true"}, "ports": [8000],
            "pool": "switchyard", "dnsName": "vllm.llm.svc.cluster.local"}
    cases = [("gateway", dict(base, discovery="kubernetes")),
             ("gateway", dict(base, discovery="dns")),
             ("epp", dict(base, discovery="kubernetes")),
             ("epp", dict(base, discovery="kubernetes", tlsSecret="x"))]
    for mode, values in cases:
        text = render_config(mode, values).replace("/etc/switchyard/tls", d)
        out = subprocess.run([BIN, mode, "--check", "--config", write_file(text)],
                             capture_output=True, text=True, timeout=30, env=env)
        check(out.returncode == 0, "%s %r: %s\n%s" % (mode, values, out.stderr, text))


def values_paths(path):
    """Key paths of a block-style YAML mapping (the chart's values.yaml style)."""
    paths, stack = set(), []
    for line in open(path):
        if not line.strip() or line.lstrip().startswith("#") or line.lstrip().startswith("-"):
            continue
        m = re.match(r"^( *)([A-Za-z0-9_.-]+):", line)
        if not m:
            continue
        ind = len(m.group(1))
        while stack and stack[-1][0] >= ind:
            stack.pop()
        stack.append((ind, m.group(2)))
        paths.add(".".join(k for _, k in stack))
    return paths


@test
def test_templates_read_only_defined_values_and_balance():
    have = values_paths(os.path.join(CHART, "values.yaml"))
    tdir = os.path.join(CHART, "templates")
    for name in sorted(os.listdir(tdir)):
        text = open(os.path.join(tdir, name)).read()
        for ref in re.findall(r"\.Values\.([A-Za-z0-9_.]+)", text):
            check(ref in have, "%s reads .Values.%s, which values.yaml lacks" % (name, ref))
        check(text.count("{{") == text.count("}}"), "%s: unbalanced {{ }}" % name)
        opens = len(re.findall(r"\{\{-?\s*(if|with|range|define)\b", text))
        ends = len(re.findall(r"\{\{-?\s*end\b", text))
        check(opens == ends, "%s: %d blocks opened, %d ended" % (name, opens, ends))
        for f in re.findall(r'\.Files\.Get "([^"]+)"', text):
            check(os.path.isfile(os.path.join(CHART, f)), "%s: %s exists" % (name, f))


@test
def test_dashboard_queries_metrics_switchyard_exports():
    a = open(os.path.join(DEPLOY, "grafana", "switchyard-dashboard.json")).read()
    b = open(os.path.join(CHART, "files", "dashboard.json")).read()
    check(a == b, "the chart ships deploy/grafana's dashboard")
    dash = json.loads(a)
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    names = set()
    for e in exprs:
        for n in re.findall(r"\b((?:inference|llm_d|switchyard)_[a-z0-9_]+)", e):
            names.add(re.sub(r"_(bucket|sum|count)$", "", n))
    check(len(names) >= 10, "metric names: %r" % names)
    s = Stub()
    lp, ap = free_ports(2)
    proc = start_process([BIN, "gateway", "--config", write_file(
        "listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 1\npool:\n  scrapeInterval: 50ms\n"
        "  endpoints:\n    - address: %s\n" % (lp, ap, s.address))])
    wait_port(lp, proc=proc)
    wait_until(lambda: json.loads(request(ap, "GET", "/ready")[2])["ready_endpoints"] == 1, 10,
               what="ready")
    st, _, _ = post_json(lp, "/v1/completions", {"model": "m1", "prompt": "x", "max_tokens": 2})
    check(st == 200, "one request")
    st, _, _ = post_json(lp, "/v1/completions", {"model": "nope", "prompt": "x"})
    check(st == 404, "one error")
    text = request(ap, "GET", "/metrics")[2].decode()
    for n in sorted(names):
        check(re.search(r"^%s(_bucket|_sum|_count)?[{ ]" % n, text, re.M),
              "the gateway exports %s" % n)


if __name__ == "__main__":
    run()
