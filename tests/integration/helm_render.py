"""A renderer for exactly the Go-template / Helm constructs deploy/helm/switchyard uses (this
machine has no helm): enough to produce what `helm template` would, so test_deploy.py can
validate the rendered objects. Python stdlib only; values.yaml is read through tests/node's `yaml`
package (the caller passes it as JSON).

Supported, as text/template and Helm define them:
- actions {{ }} with {{- / -}} whitespace trimming, comments {{/* */}};
- if / else if / else, with (else), range over lists and maps (. is the element), define,
  include, end; variables `$x := pipeline` and `$x`; `.` and field chains (.Values.a.b, .Chart,
  .Release, .Files.Get, $x.y); string, number, bool literals; parenthesised pipelines; `|` pipes;
- functions: and or not eq ne default required ternary empty contains trunc trimSuffix printf
  quote squote upper lower toString toJson toYaml indent nindent replace first sha256sum trim.
Anything else raises RenderError naming the construct and the template: an unsupported
construct fails loudly instead of rendering something helm would not.
"""
import hashlib
import json
import os
import re


class RenderError(Exception):
    pass


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


def _tokens(src, name):
    """[('text', s) | ('act', s)] with trim markers applied to neighbouring text."""
    out, pos = [], 0
    for m in _ACTION.finditer(src):
        text = src[pos:m.start()]
        if m.group(1):
            text = text.rstrip(" \t\r\n")
        out.append(["text", text])
        body = m.group(2).strip()
        out.append(["act", body, bool(m.group(3))])
        pos = m.end()
    out.append(["text", src[pos:]])
    for i, t in enumerate(out):  # right trim: strip the text after a "-}}"
        if t[0] == "act" and t[2] and i + 1 < len(out):
            out[i + 1][1] = out[i + 1][1].lstrip(" \t\r\n")
    return [(t[0], t[1]) for t in out]


_TOK = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)'
                  r'|(?P<lp>\()|(?P<rp>\))|(?P<pipe>\|)|(?P<assign>:=|=)'
                  r'|(?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)'
                  r'|(?P<field>(?:\.[A-Za-z0-9_]+)+|\.)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))')


def _lex(expr, name):
    pos, out = 0, []
    expr = expr.rstrip()
    while pos < len(expr):
        m = _TOK.match(expr, pos)
        if not m or m.end() == pos:
            raise RenderError("%s: cannot parse %r at %r" % (name, expr, expr[pos:]))
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
    return out


def _parse_pipeline(toks, i, name):
    """Returns (pipeline, i): a pipeline is a list of commands, a command a list of args."""
    cmds, cur = [], []
    while i < len(toks):
        kind, v = toks[i]
        if kind == "rp":
            break
        if kind == "pipe":
            if not cur:
                raise RenderError("%s: empty command before |" % name)
            cmds.append(cur)
            cur = []
            i += 1
            continue
        if kind == "lp":
            sub, i = _parse_pipeline(toks, i + 1, name)
            if i >= len(toks) or toks[i][0] != "rp":
                raise RenderError("%s: unbalanced (" % name)
            cur.append(("pipe", sub))
            i += 1
            continue
        if kind == "assign":
            raise RenderError("%s: unexpected %s" % (name, v))
        cur.append((kind, v))
        i += 1
    if cur:
        cmds.append(cur)
    if not cmds:
        raise RenderError("%s: empty pipeline" % name)
    return cmds, i


def _parse_expr(expr, name):
    toks = _lex(expr, name)
    var = None
    if len(toks) >= 2 and toks[0][0] == "var" and toks[1][0] == "assign":
        var, toks = toks[0][1], toks[2:]
    pipe, i = _parse_pipeline(toks, 0, name)
    if i != len(toks):
        raise RenderError("%s: trailing %r in %r" % (name, toks[i:], expr))
    return var, pipe


_BLOCKS = ("if", "with", "range", "define")


def _parse(tokens, name):
    """Tree: list of nodes ('text', s) | ('out', var, pipe) | (block, ...)."""
    root = []
    stack = [("root", root, None)]
    for kind, v in tokens:
        body = stack[-1][1]
        if kind == "text":
            if v:
                body.append(("text", v))
            continue
        if v.startswith("/*"):
            if not v.endswith("*/"):
                raise RenderError("%s: unterminated comment" % name)
            continue
        word = v.split(None, 1)[0] if v else ""
        rest = v[len(word):].strip()
        if word in _BLOCKS:
            if word == "define":
                m = re.match(r'^"([^"]+)"$', rest)
                if not m:
                    raise RenderError("%s: define needs a quoted name: %r" % (name, v))
                node = {"kind": "define", "name": m.group(1), "body": []}
            else:
                node = {"kind": word, "branches": [(_parse_expr(rest, name), [])], "else": None}
            body.append(node)
            stack.append((word, node["body"] if word == "define" else node["branches"][0][1],
                          node))
        elif word == "else":
            top = stack[-1]
            node = top[2]
            if top[0] not in ("if", "with", "range") or node["else"] is not None:
                raise RenderError("%s: else outside if/with/range" % name)
            if rest.startswith("if "):
                if top[0] != "if":
                    raise RenderError("%s: else if inside %s" % (name, top[0]))
                node["branches"].append((_parse_expr(rest[3:], name), []))
                stack[-1] = (top[0], node["branches"][-1][1], node)
            elif rest:
                raise RenderError("%s: unsupported else form %r" % (name, v))
            else:
                node["else"] = []
                stack[-1] = (top[0], node["else"], node)
        elif word == "end":
            if len(stack) == 1:
                raise RenderError("%s: end without a block" % name)
            stack.pop()
        elif word in ("template", "block", "break", "continue", "tpl"):
            raise RenderError("%s: unsupported construct %r" % (name, word))
        else:
            var, pipe = _parse_expr(v, name)
            body.append(("out", var, pipe))
    if len(stack) != 1:
        raise RenderError("%s: %d block(s) not ended" % (name, len(stack) - 1))
    return root


def _truthy(v):
    """text/template's truth: false, 0, nil and empty strings, lists and maps are false."""
    if v is None or v is False:
        return False
    if v is True:
        return True
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (str, list, dict)):
        return len(v) > 0
    return True


def _go_str(v):
    if v is None:
        return "<no value>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        raise RenderError("printing a %s needs toYaml/toJson" % type(v).__name__)
    return str(v)


_PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./ -]*$")
_YAML_SPECIAL = re.compile(r"^(?:true|false|yes|no|on|off|y|n|null|~|-?\d[\d_]*(?:\.\d*)?"
                           r"(?:[eE][-+]?\d+)?|\.inf|\.nan)$", re.I)


def _yaml_scalar(v):
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return _go_str(v)
    s = str(v)
    if s and _PLAIN.match(s) and not _YAML_SPECIAL.match(s) and not s.endswith(" "):
        return s
    return json.dumps(s)


def to_yaml(v, ind=0):
    """sigs.k8s.io/yaml's block style: sorted keys, two-space indent, lists under their key."""
    pad = " " * ind
    if isinstance(v, dict):
        if not v:
            return "{}"
        lines = []
        for k in sorted(v):
            x = v[k]
            key = _yaml_scalar(k)
            if isinstance(x, dict) and x:
                lines.append("%s%s:\n%s" % (pad, key, to_yaml(x, ind + 2)))
            elif isinstance(x, list) and x:
                lines.append("%s%s:\n%s" % (pad, key, to_yaml(x, ind)))
            else:
                lines.append("%s%s: %s" % (pad, key, to_yaml(x, 0)))
        return "\n".join(lines)
    if isinstance(v, list):
        if not v:
            return "[]"
        lines = []
        for x in v:
            if isinstance(x, (dict, list)) and x:
                inner = to_yaml(x, ind + 2)
                lines.append("%s- %s" % (pad, inner[ind + 2:]))
            else:
                lines.append("%s- %s" % (pad, to_yaml(x, 0)))
        return "\n".join(lines)
    return _yaml_scalar(v)


def _indent(n, s):
    pad = " " * n
    return pad + s.replace("\n", "\n" + pad)


class Renderer:
    def __init__(self, chart_dir, values, release="sy", namespace="llm"):
        self.dir = chart_dir
        self.chart = self._chart_meta()
        self.values = values
        self.release = {"Name": release, "Namespace": namespace, "Service": "Helm"}
        self.defines = {}
        self.trees = {}
        tdir = os.path.join(chart_dir, "templates")
        for fn in sorted(os.listdir(tdir)):
            src = open(os.path.join(tdir, fn)).read()
            tree = _parse(_tokens(src, fn), fn)
            self._collect_defines(tree, fn)
            self.trees[fn] = tree

    def _chart_meta(self):
        meta = {}
        for line in open(os.path.join(self.dir, "Chart.yaml")):
            m = re.match(r'^([A-Za-z]+):\s*"?([^"\n]*)"?\s*$', line)
            if m and m.group(2) and not m.group(2).startswith(">"):
                meta[m.group(1)[0].upper() + m.group(1)[1:]] = m.group(2)
        for k in ("Name", "Version", "AppVersion"):
            if k not in meta:
                raise RenderError("Chart.yaml lacks %s" % k)
        return meta

    def _collect_defines(self, tree, fn):
        for n in tree:
            if isinstance(n, dict) and n["kind"] == "define":
                if n["name"] in self.defines:
                    raise RenderError("%s: %s defined twice" % (fn, n["name"]))
                self.defines[n["name"]] = (n["body"], fn)

    def top(self):
        return {"Values": self.values, "Chart": self.chart, "Release": self.release,
                "Files": _Files(self.dir), "Capabilities": None, "Template": None}

    def render_all(self):
        """{template file: rendered text} for every template not starting with '_'."""
        out = {}
        for fn, tree in self.trees.items():
            if fn.startswith("_"):
                continue
            out[fn] = self._run(tree, self.top(), {"$": self.top()}, fn)
        return out

    # ---- evaluation ----
    def _run(self, tree, dot, vars_, fn):
        parts = []
        for n in tree:
            if isinstance(n, tuple):
                if n[0] == "text":
                    parts.append(n[1])
                else:
                    v = self._pipe(n[2], dot, vars_, fn)
                    if n[1]:
                        vars_[n[1]] = v
                    else:
                        parts.append(_go_str(v))
                continue
            k = n["kind"]
            if k == "define":
                continue
            done = False
            for (var, pipe), body in n["branches"]:
                v = self._pipe(pipe, dot, vars_, fn)
                if var:
                    vars_[var] = v
                if k == "range":
                    if not _truthy(v):
                        break
                    items = v if isinstance(v, list) else [v[x] for x in sorted(v)] \
                        if isinstance(v, dict) else None
                    if items is None:
                        raise RenderError("%s: range over %s" % (fn, type(v).__name__))
                    for x in items:
                        parts.append(self._run(body, x, vars_, fn))
                    done = True
                    break
                if _truthy(v):
                    parts.append(self._run(body, v if k == "with" else dot, vars_, fn))
                    done = True
                    break
            if not done and n["else"] is not None:
                parts.append(self._run(n["else"], dot, vars_, fn))
        return "".join(parts)

    def _pipe(self, pipe, dot, vars_, fn):
        val, have = None, False
        for cmd in pipe:
            args = list(cmd)
            head = args[0]
            if head[0] == "ident" and head[1] not in ("true", "false", "nil"):
                argv = [self._arg(a, dot, vars_, fn) for a in args[1:]]
                if have:
                    argv.append(val)
                val = self._call(head[1], argv, dot, vars_, fn)
            else:
                if len(args) != 1 or have:
                    raise RenderError("%s: %r is not a function" % (fn, head[1]))
                val = self._arg(head, dot, vars_, fn)
            have = True
        return val

    def _arg(self, a, dot, vars_, fn):
        kind, v = a
        if kind == "pipe":
            return self._pipe(v, dot, vars_, fn)
        if kind == "str":
            return json.loads(v)
        if kind == "raw":
            return v[1:-1]
        if kind == "num":
            return float(v) if "." in v else int(v)
        if kind == "ident":
            if v in ("true", "false"):
                return v == "true"
            if v == "nil":
                return None
            return self._call(v, [], dot, vars_, fn)
        if kind == "var":
            name, _, path = v.partition(".")
            if name not in vars_:
                raise RenderError("%s: undefined variable %s" % (fn, name))
            return self._field(vars_[name], path, fn, v)
        if kind == "field":
            return dot if v == "." else self._field(dot, v[1:], fn, v)
        raise RenderError("%s: unsupported argument %r" % (fn, v))

    @staticmethod
    def _field(obj, path, fn, whole):
        for p in [x for x in path.split(".") if x]:
            if isinstance(obj, dict):
                obj = obj.get(p)
            elif obj is None:
                return None  # Helm: a missing parent map gives <nil>
            else:
                raise RenderError("%s: %s: cannot take .%s of a %s" % (fn, whole, p,
                                                                        type(obj).__name__))
        return obj

    def _call(self, f, a, dot, vars_, fn):
        def need(n):
            if len(a) != n:
                raise RenderError("%s: %s takes %d arguments, got %d" % (fn, f, n, len(a)))
        if f == "include":
            need(2)
            if a[0] not in self.defines:
                raise RenderError("%s: include of undefined %r" % (fn, a[0]))
            body, dfn = self.defines[a[0]]
            return self._run(body, a[1], {"$": a[1]}, dfn)  # $ is the template's argument
        if f == "and":
            for x in a:
                if not _truthy(x):
                    return x
            return a[-1]
        if f == "or":
            for x in a:
                if _truthy(x):
                    return x
            return a[-1]
        if f == "not":
            need(1)
            return not _truthy(a[0])
        if f in ("eq", "ne"):
            need(2)
            return (a[0] == a[1]) == (f == "eq")
        if f == "default":
            need(2)
            return a[1] if _truthy(a[1]) else a[0]
        if f == "required":
            need(2)
            if a[1] is None or a[1] == "":
                raise RenderError("required: %s" % a[0])
            return a[1]
        if f == "ternary":
            need(3)
            return a[0] if _truthy(a[2]) else a[1]
        if f == "empty":
            need(1)
            return not _truthy(a[0])
        if f == "contains":
            need(2)
            return a[0] in a[1]
        if f == "trunc":
            need(2)
            return a[1][:a[0]] if a[0] >= 0 else a[1][a[0]:]
        if f == "trimSuffix":
            need(2)
            return a[1][:-len(a[0])] if a[0] and a[1].endswith(a[0]) else a[1]
        if f == "trim":
            need(1)
            return a[0].strip()
        if f == "printf":
            fmt = a[0]
            if re.search(r"%[^sd%]", fmt):
                raise RenderError("%s: printf verb in %r not supported" % (fn, fmt))
            return fmt % tuple(_go_str(x) if isinstance(x, (str, bool)) or x is None else x
                               for x in a[1:])
        if f == "quote":
            return " ".join(json.dumps(_go_str(x)) for x in a if x is not None)
        if f == "squote":
            return " ".join("'%s'" % _go_str(x) for x in a if x is not None)
        if f in ("upper", "lower"):
            need(1)
            return a[0].upper() if f == "upper" else a[0].lower()
        if f == "toString":
            need(1)
            return _go_str(a[0])
        if f == "toJson":
            need(1)
            return json.dumps(a[0], separators=(",", ":"), sort_keys=True)
        if f == "toYaml":
            need(1)
            return to_yaml(a[0])
        if f in ("indent", "nindent"):
            need(2)
            s = _indent(a[0], a[1])
            return "\n" + s if f == "nindent" else s
        if f == "replace":
            need(3)
            return a[2].replace(a[0], a[1])
        if f == "first":
            need(1)
            return a[0][0] if a[0] else None
        if f == "sha256sum":
            need(1)
            return hashlib.sha256(a[0].encode()).hexdigest()
        if f == "Get" or "." in f:
            raise RenderError("%s: unsupported call %s" % (fn, f))
        raise RenderError("%s: unsupported function %r" % (fn, f))


class _Files(dict):
    """.Files.Get "path" (the chart's own files)."""

    def __init__(self, chart_dir):
        super().__init__()
        self["Get"] = None
        self.dir = chart_dir


def _patch_files_get():
    """`.Files.Get "x"` lexes as a field chain followed by an argument: handled in _pipe."""
    orig = Renderer._pipe

    def pipe(self, p, dot, vars_, fn):
        out = []
        for cmd in p:
            if cmd and cmd[0][0] in ("field", "var") and cmd[0][1].endswith(".Files.Get"):
                base = cmd[0][1][:-len(".Files.Get")]
                if len(cmd) != 2:
                    raise RenderError("%s: .Files.Get takes one argument" % fn)
                files = self._arg((cmd[0][0], base + ".Files") if base else
                                  ("field", ".Files"), dot, vars_, fn)
                path = self._arg(cmd[1], dot, vars_, fn)
                full = os.path.join(files.dir, path)
                text = open(full).read() if os.path.isfile(full) else ""
                out.append([("str", json.dumps(text))])
            else:
                out.append(cmd)
        return orig(self, out, dot, vars_, fn)
    Renderer._pipe = pipe


_patch_files_get()


def deep_merge(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k),
                                                                               dict) else v
    return out


def split_documents(rendered):
    """The YAML documents of every template, in helm's order, empty ones dropped."""
    docs = []
    for fn in sorted(rendered):
        for d in re.split(r"^---\s*$", rendered[fn], flags=re.M):
            if any(line.strip() and not line.lstrip().startswith("#") for line in d.splitlines()):
                docs.append((fn, d.strip("\n") + "\n"))
    return docs
