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
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, ROOT, check, free_ports, post_json, request, run, start_process,  # noqa
                     test, wait_port, wait_until, write_file)
from stub_server import Stub  # noqa: E402
import helm_render  # noqa: E402

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


NODE_DIR = os.path.join(ROOT, "tests", "node")
VALIDATE = os.path.join(NODE_DIR, "k8s_validate.mjs")

# The chart's modes (values overrides of values.yaml), each rendered and validated whole.
MODES = {
    "gateway": {"serviceMonitor": {"enabled": True}},
    "gateway-dns": {"discovery": {"type": "dns", "dns": {"name": "vllm.llm.svc.cluster.local"}}},
    "gateway-slices": {"discovery": {"kubernetes": {"service": "vllm"}}},
    "epp": {"mode": "epp", "httpRoute": {"enabled": True}, "provider": {"name": "istio"},
            "serviceMonitor": {"enabled": True}},
    "epp-tls-secret": {"mode": "epp", "inferenceExtension": {"tls": {"secretName": "epp-tls"}}},
    "sim-gateway": {"sim": {"enabled": True, "args": ["--time-scale", "10"]},
                    "serviceMonitor": {"enabled": True}},
    "sim-epp": {"mode": "epp", "sim": {"enabled": True}, "httpRoute": {"enabled": True}},
}


def ensure_node():
    """tests/node's packages (npm ci from the lockfile when a validation package is missing)."""
    need = [("kubernetes-models",), ("@kubernetes", "client-node"), ("@kubernetes-models",
            "gateway-api"), ("yaml",), ("ajv",)]
    if not all(os.path.isdir(os.path.join(NODE_DIR, "node_modules", *n)) for n in need):
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                           capture_output=True, timeout=300)
        check(p.returncode == 0, "npm ci: %s" % (p.stdout + p.stderr).decode()[-2000:])


def node_json(args):
    out = subprocess.run(["node", VALIDATE] + args, capture_output=True, text=True, timeout=120,
                         cwd=NODE_DIR)
    check(out.returncode == 0, "k8s_validate.mjs: %s" % out.stderr[-2000:])
    return json.loads(out.stdout)


_RENDERED = {}


def render(mode):
    """[(template, object)] as `helm template sy deploy/helm/switchyard -n llm` renders the mode
    (helm_render.py), every object validated by k8s_validate.mjs (errors in o["errors"])."""
    if mode in _RENDERED:
        return _RENDERED[mode]
    ensure_node()
    if "values.yaml" not in _RENDERED:
        _RENDERED["values.yaml"] = node_json(["--values", os.path.join(CHART, "values.yaml")])
    values = _RENDERED["values.yaml"]
    r = helm_render.Renderer(CHART, helm_render.deep_merge(values, MODES[mode]), release="sy",
                             namespace="llm")
    docs = helm_render.split_documents(r.render_all())
    d = tempfile.mkdtemp(prefix="sy-helm-")
    paths = []
    for i, (tpl, text) in enumerate(docs):
        paths.append(os.path.join(d, "%02d-%s" % (i, tpl)))
        with open(paths[-1], "w") as f:
            f.write(text)
    res = node_json(paths)["objects"]
    check(len(res) == len(docs), "%s: %d documents, %d objects" % (mode, len(docs), len(res)))
    out = [(docs[i][0], o) for i, o in enumerate(res)]
    _RENDERED[mode] = out
    return out


def objs(rendered, kind):
    return [o["object"] for _, o in rendered if o.get("kind") == kind]


def one(rendered, kind, name=None):
    found = [o for o in objs(rendered, kind) if name is None or o["metadata"]["name"] == name]
    check(len(found) == 1, "one %s %s, found %d" % (kind, name or "", len(found)))
    return found[0]


def matches(selector, labels):
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


@test
def test_renderer_fails_loudly_on_unsupported_constructs():
    d = tempfile.mkdtemp(prefix="sy-tpl-")
    os.makedirs(os.path.join(d, "templates"))
    with open(os.path.join(d, "Chart.yaml"), "w") as f:
        f.write("apiVersion: v2\nname: t\nversion: 0.1.0\nappVersion: \"1\"\n")
    ok = {"a.yaml": '{{- if .Values.on }}x: {{ .Values.n | quote }}{{ else }}y{{ end }}\n'
                    '{{- range .Values.l }}\n- {{ . }}{{ end }}\n{{ toYaml .Values.m | nindent 2 }}'}
    bad = {"tpl": "{{ tpl .Values.s . }}", "lookup": '{{ lookup "v1" "Pod" "" "" }}',
           "range vars": "{{ range $i, $x := .Values.l }}{{ end }}", "unended": "{{ if .Values.on }}",
           "template": '{{ template "x" . }}', "printf verb": '{{ printf "%q" "a" }}'}
    for name, src in list(ok.items()) + [("bad.yaml", b) for b in bad.values()]:
        for fn in os.listdir(os.path.join(d, "templates")):
            os.unlink(os.path.join(d, "templates", fn))
        with open(os.path.join(d, "templates", "t.yaml"), "w") as f:
            f.write(src)
        vals = {"on": True, "n": 3, "l": [1, "b"], "m": {"k": "true", "j": [{"a": 1}]}, "s": "x"}
        try:
            out = helm_render.Renderer(d, vals).render_all()["t.yaml"]
            err = None
        except helm_render.RenderError as e:
            err = str(e)
        if name == "a.yaml":
            check(err is None and out == 'x: "3"\n- 1\n- b\n\n  j:\n  - a: 1\n  k: "true"',
                  "supported constructs: %r %r" % (err, out if err is None else ""))
        else:
            check(err, "unsupported construct rendered instead of failing: %r" % src)


@test
def test_rendered_manifests_validate_against_the_kubernetes_schemas():
    for mode in MODES:
        rendered = render(mode)
        kinds = sorted(set(o.get("kind") or "?" for _, o in rendered))
        for tpl, o in rendered:
            check(not o["errors"], "%s: %s %s/%s (%s): %s" % (mode, tpl, o.get("kind"),
                                                              o.get("name"), o.get("apiVersion"),
                                                              "; ".join(o["errors"])))
        want = {"ConfigMap", "Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"}
        if "dns" not in mode:
            want |= {"Role", "RoleBinding"}
        if mode.startswith("epp") or mode == "sim-epp":
            want |= {"InferencePool"}
        check(want <= set(kinds), "%s renders %s, lacks %s" % (mode, kinds, want - set(kinds)))
    check("HTTPRoute" in [o["kind"] for _, o in render("epp")], "epp: HTTPRoute")
    check("DestinationRule" in [o["kind"] for _, o in render("epp")], "epp: DestinationRule")
    check("ServiceMonitor" in [o["kind"] for _, o in render("gateway")], "ServiceMonitor")
    # the validator itself rejects what an API server would
    d = tempfile.mkdtemp(prefix="sy-k8s-bad-")
    bad = os.path.join(d, "bad.yaml")
    with open(bad, "w") as f:
        f.write("apiVersion: v1\nkind: Service\nmetadata: {name: Bad_Name, labels: {a: on}}\n"
                "spec: {ports: [{port: x}], bogus: 1}\n---\n"
                "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
                "metadata: {name: p}\nspec: {selector: {matchLabels: {a: b}}, targetPorts: [],"
                " endpointPickerRef: {name: e, portNumber: 9002, failureMode: Open}}\n")
    res = node_json([bad])["objects"]
    errs = ["\n".join(o["errors"]) for o in res]
    for want in ("bogus: unknown field", "invalid name", "label value must be a string",
                 "port must be integer"):
        check(want in errs[0], "Service finding %r in %r" % (want, errs[0]))
    for want in ("portNumber", "required property 'port'", "allowed values", "fewer than 1"):
        check(want in errs[1], "InferencePool finding %r in %r" % (want, errs[1]))


@test
def test_rendered_objects_reference_each_other():
    """What a schema cannot see: selectors, names and ports that must agree across objects."""
    for mode in MODES:
        r = render(mode)
        m = "[%s] " % mode
        deps = objs(r, "Deployment")
        pods = {d["metadata"]["name"]: d["spec"]["template"] for d in deps}
        for d in deps:
            tpl = d["spec"]["template"]
            check(matches(d["spec"]["selector"]["matchLabels"], tpl["metadata"]["labels"]),
                  m + "%s: selector matches its own pods" % d["metadata"]["name"])
            sa = tpl["spec"].get("serviceAccountName")
            if sa:
                one(r, "ServiceAccount", sa)
            vols = {v["name"]: v for v in tpl["spec"].get("volumes", [])}
            for v in vols.values():
                if "configMap" in v:
                    one(r, "ConfigMap", v["configMap"]["name"])
            for c in tpl["spec"]["containers"]:
                names = {p.get("name") for p in c.get("ports", [])}
                nums = {p["containerPort"] for p in c.get("ports", [])}
                for vm in c.get("volumeMounts", []):
                    check(vm["name"] in vols, m + "volumeMount %s has a volume" % vm["name"])
                for probe in ("livenessProbe", "readinessProbe"):
                    pr = c.get(probe)
                    if not pr:
                        continue
                    port = (pr.get("httpGet") or pr.get("grpc"))["port"]
                    check(port in names or port in nums, m + "%s port %r exists" % (probe, port))
        for svc in objs(r, "Service"):
            sel = svc["spec"]["selector"]
            backs = [t for t in pods.values() if matches(sel, t["metadata"]["labels"])]
            check(len(backs) == 1, m + "Service %s selects one Deployment's pods (%d)"
                  % (svc["metadata"]["name"], len(backs)))
            cports = {p.get("name") for c in backs[0]["spec"]["containers"]
                      for p in c.get("ports", [])}
            for p in svc["spec"]["ports"]:
                check(p["targetPort"] in cports, m + "Service port %s targets a named container "
                      "port" % p["name"])
        main = [s for s in objs(r, "Service") if not s["metadata"]["name"].endswith("-sim")]
        check(len(main) == 1, m + "one Switchyard Service")
        main = main[0]
        for pdb in objs(r, "PodDisruptionBudget"):
            check(sum(matches(pdb["spec"]["selector"]["matchLabels"], t["metadata"]["labels"])
                      for t in pods.values()) == 1, m + "the PDB covers one Deployment's pods")
        for sm in objs(r, "ServiceMonitor"):
            sel = sm["spec"]["selector"]["matchLabels"]
            picked = [s["metadata"]["name"] for s in objs(r, "Service")
                      if matches(sel, s["metadata"].get("labels"))]
            check(picked == [main["metadata"]["name"]],
                  m + "the ServiceMonitor selects the Switchyard Service only: %r" % picked)
            sp = {p["name"] for p in main["spec"]["ports"]}
            check(all(e["port"] in sp for e in sm["spec"]["endpoints"]), m + "monitor port")
        for rb in objs(r, "RoleBinding"):
            role = one(r, "Role", rb["roleRef"]["name"])
            for sub in rb["subjects"]:
                one(r, "ServiceAccount", sub["name"])
                check(sub["namespace"] == "llm", m + "subject namespace")
            res = {x for rule in role["rules"] for x in rule["resources"]}
            want = "endpointslices" if "slices" in mode else "pods"
            check(want in res, m + "discovery may read %s: %r" % (want, res))
            if "slices" in mode:
                check(any(r["apiGroups"] == ["discovery.k8s.io"] and "endpointslices" in
                          r["resources"] for r in role["rules"]) and "pods" not in res,
                      m + "endpointslices in discovery.k8s.io, no pods: %r" % role["rules"])
        if "dns" not in mode:
            check(objs(r, "Role"), m + "RBAC for kubernetes discovery")
        for pool in objs(r, "InferencePool"):
            ref = pool["spec"]["endpointPickerRef"]
            check(ref["name"] == main["metadata"]["name"] and
                  ref["port"]["number"] in [p["port"] for p in main["spec"]["ports"]],
                  m + "endpointPickerRef names the EPP Service and its ext_proc port: %r" % ref)
            cm = one(r, "ConfigMap", main["metadata"]["name"])["data"]["switchyard.yaml"]
            check("inferencePool: %s" % pool["metadata"]["name"] in cm,
                  m + "the EPP watches this pool")
            if "sim" in mode:
                sim = pods[main["metadata"]["name"] + "-sim"]
                check(matches(pool["spec"]["selector"]["matchLabels"],
                              sim["metadata"]["labels"]), m + "the pool selects the sim pods")
                sport = sim["spec"]["containers"][0]["ports"][0]["containerPort"]
                check(sport in [p["number"] for p in pool["spec"]["targetPorts"]],
                      m + "the pool targets the sim port")
        for route in objs(r, "HTTPRoute"):
            for rule in route["spec"]["rules"]:
                for b in rule["backendRefs"]:
                    one(r, "InferencePool", b["name"])
        for dr in objs(r, "DestinationRule"):
            check(dr["spec"]["host"] == "%s.llm.svc.cluster.local" % main["metadata"]["name"],
                  m + "DestinationRule host")
        if mode == "sim-gateway":
            cm = one(r, "ConfigMap", main["metadata"]["name"])["data"]["switchyard.yaml"]
            simpods = pods[main["metadata"]["name"] + "-sim"]["metadata"]["labels"]
            sel = json.loads(re.search(r"selector: (\{.*\})", cm).group(1))
            check(matches(sel, simpods), m + "the gateway's discovery selects the sim pods")


@test
def test_rendered_configs_pass_check_in_every_mode():
    """The ConfigMap each mode renders is a config `switchyard gateway|epp --check` accepts, and
    the sim container's arguments start a simulator."""
    env = dict(os.environ, KUBERNETES_SERVICE_HOST="10.0.0.1", KUBERNETES_SERVICE_PORT="443",
               POD_NAMESPACE="llm")
    d = tempfile.mkdtemp(prefix="sy-chart-")
    crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=epp",
                    "-keyout", key, "-out", crt], check=True, capture_output=True, timeout=30)
    for mode in MODES:
        r = render(mode)
        dep = one(r, "Deployment", "sy-switchyard")
        c = dep["spec"]["template"]["spec"]["containers"][0]
        sub = c["args"][0]
        check(sub == ("epp" if "epp" in mode else "gateway"), "%s: args %r" % (mode, c["args"]))
        cfgpath = c["args"][c["args"].index("--config") + 1]
        mount = [m for m in c["volumeMounts"] if cfgpath.startswith(m["mountPath"] + "/")]
        check(mount and mount[0]["name"] == "config", "%s: the config file is mounted" % mode)
        text = one(r, "ConfigMap", "sy-switchyard")["data"][os.path.basename(cfgpath)]
        if "tls" in mode:
            check("/etc/switchyard/tls/tls.crt" in text and
                  any(m["mountPath"] == "/etc/switchyard/tls" for m in c["volumeMounts"]),
                  "%s: the TLS Secret is mounted where the config reads it" % mode)
        text = text.replace("/etc/switchyard/tls", d)
        out = subprocess.run([BIN, sub, "--check", "--config", write_file(text)],
                             capture_output=True, text=True, timeout=30, env=env)
        check(out.returncode == 0, "%s: %s\n%s" % (mode, out.stderr, text))
        if "sim" in mode:
            sim = one(r, "Deployment", "sy-switchyard-sim")["spec"]["template"]["spec"]
            args = list(sim["containers"][0]["args"])
            port = free_ports(1)[0]
            args[args.index("--host") + 1] = "127.0.0.1"
            args[args.index("--port") + 1] = str(port)
            proc = start_process([BIN] + args)
            wait_port(port, proc=proc)
            st, _, _ = request(port, "GET", "/health")
            check(st == 200, "%s: the sim container's args start a simulator: %r" % (mode, args))
            proc.terminate()
            proc.wait(10)


@test
def test_image_recipe_build_stage_and_copies():
    """The build stage installs what `make build/switchyard` needs (every pkg-config module's
    -dev package, llhttp's sources, the compiler), on the Debian release this machine runs, and
    the COPY set alone is enough for the Makefile to plan the build (make -n in a copy)."""
    docker = open(os.path.join(DEPLOY, "Dockerfile")).read()
    starts = [m.start() for m in re.finditer(r"^FROM ", docker, re.M)]
    check(len(starts) == 2, "two stages")
    build_stage, final = docker[starts[0]:starts[1]], docker[starts[1]:]
    codename = re.search(r"^VERSION_CODENAME=(\S+)", open("/etc/os-release").read(), re.M)
    for base in re.findall(r"^FROM (\S+)", docker, re.M):
        check(codename and base == "debian:%s-slim" % codename.group(1),
              "base %s is this machine's Debian (%s), so the package names checked here hold"
              % (base, codename.group(1) if codename else "?"))
    mk = open(os.path.join(ROOT, "Makefile")).read()
    mods = re.search(r"^PKGS := (.*)$", mk, re.M).group(1).split() + ["cmocka"]
    files = []
    for mod in mods:
        pc = subprocess.run(["pkg-config", "--variable=pcfiledir", mod], capture_output=True,
                            text=True).stdout.strip()
        files.append(os.path.realpath(os.path.join(pc, mod + ".pc")))
    files.append(re.search(r"^LLHTTP_DIR := (\S+)", mk, re.M).group(1) + "/llhttp.c")
    alias = {"pkgconf": "pkg-config", "make": "build-essential", "gcc-12": "build-essential",
             "gcc": "build-essential", "binutils": "build-essential"}
    for f in files + [shutil.which("pkg-config"), shutil.which("make"), shutil.which("gcc")]:
        out = subprocess.run(["dpkg", "-S", f], capture_output=True, text=True)
        pkg = out.stdout.split(":")[0].strip()
        pkg = alias.get(pkg, pkg)
        check(pkg and re.search(r"(?<![\w.-])%s(?![\w.-])" % re.escape(pkg), build_stage),
              "the build stage installs %s (for %s)" % (pkg, f))
    copies = re.findall(r"^COPY (?!--from)(\S+) ", build_stage, re.M)
    check(copies, "COPY lines")
    d = tempfile.mkdtemp(prefix="sy-img-")
    for src in copies:
        path = os.path.join(ROOT, src)
        check(os.path.exists(path), "COPY %s exists" % src)
        if os.path.isdir(path):
            shutil.copytree(path, os.path.join(d, src))
        else:
            shutil.copy(path, os.path.join(d, src))
    # the image's build runs a plain `make`: none of this run's make variables (under `make
    # asan`, BUILD=build-asan reaches here through MAKEFLAGS) may leak into the dry run
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "BUILD", "SAN",
                        "OPT", "WERROR", "CC")}
    out = subprocess.run(["make", "-n", "build/switchyard"], cwd=d, capture_output=True,
                         text=True, timeout=120, env=env)
    check(out.returncode == 0 and "build/switchyard" in out.stdout,
          "make -n build/switchyard in the COPY set: %s" % out.stderr[-1500:])
    ignore = open(os.path.join(ROOT, ".dockerignore")).read().split()
    check("build" in ignore and "tests/node/node_modules" in ignore, ".dockerignore: build dirs")
    check(re.search(r"^COPY --from=build /src/build/switchyard ", final, re.M),
          "the final stage copies the built binary")


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
