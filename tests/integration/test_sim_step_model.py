"""`switchyard sim --step-model additive|overlap` (docs/simulator.md, "Step models"): the real
binary serves under both models, and a decode stream that shares its steps with another request's
prefill chunks waits less per token under `overlap` (the chunk's linear layers hide the weight
read the decode would pay anyway) than under `additive`, at the same shape. Latencies are the
simulator's own `vllm:inter_token_latency_seconds` (simulated time), never wall-clock ratios.

Shape: budget 512 tokens per step; A (100-token prompt, 300 output tokens) decodes; once it is
decoding, B (3,000 fresh tokens, 1 output token) arrives and is prefilled in 6 chunks of 511, each
in a step with A's decode. A's 299 ITLs are pure decode steps (equal under both models) plus those
6 mixed steps: 31.1 ms above a decode step each under additive (511 x 60.888 us), ~15-16 ms under
overlap (512 tokens x 54.95 us - 13.3 ms weight read, + the chunk's attention pairs)."""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, consecutive_ports, metrics, post_json, process_log, run,  # noqa: E402
                     start_process, start_sim, stop_process, test, wait_until, write_file)

MODEL = "Qwen/Qwen3-32B"
ITL = "vllm:inter_token_latency_seconds"


def series(m, name):
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


def mixed_run(model):
    """Runs the shape above on a fresh simulator; returns (ITL sum s, ITL count, the log)."""
    port = consecutive_ports(1)
    sim = start_sim(port, 1, MODEL, time_scale=2,
                    extra=["--step-model", model, "--max-num-batched-tokens", "512"])
    res = {}

    def send(name, prompt, n):
        res[name] = post_json(port, "/v1/completions",
                              {"model": MODEL, "prompt": prompt, "max_tokens": n}, timeout=60)

    a = threading.Thread(target=send, args=("a", [7 + k for k in range(100)], 300))
    a.start()
    # A is decoding (its prefill step is done) before B arrives
    wait_until(lambda: series(metrics(port)[0], "vllm:generation_tokens_total") >= 2, 20,
               what="A decoding")
    send("b", [1000 + 3 * k for k in range(3000)], 1)
    a.join(60)
    check(not a.is_alive(), "A answered")
    for k in ("a", "b"):
        st, _, body = res[k]
        check(st == 200, "%s: %d %r" % (k, st, body[:200]))
    m, _ = metrics(port)
    # both finished with every token (300 of A's + B's 1); that B's chunks shared steps with A's
    # decode is what the ITL sums the callers compare show
    check(series(m, "vllm:generation_tokens_total") == 301, "tokens %r" % m)
    out = (series(m, ITL + "_sum"), series(m, ITL + "_count"), process_log(sim))
    stop_process(sim)
    return out


@test
def test_overlap_mixed_steps_shorter_than_additive():
    add_sum, add_n, add_log = mixed_run("additive")
    ovl_sum, ovl_n, ovl_log = mixed_run("overlap")
    check("step model additive" in add_log and "step model overlap" in ovl_log,
          "startup lines name the model")
    check(add_n == 299 and ovl_n == 299, "A's ITLs: %r %r" % (add_n, ovl_n))
    # pure decode steps of a 100..400-token context: ~15.5 ms each under both models; the six
    # mixed steps add ~187 ms under additive and ~95 ms under overlap
    pure = 299 * 0.0155
    check(add_sum > pure + 0.15, "additive pays each chunk on top: %.3f s" % add_sum)
    check(ovl_sum < add_sum - 0.06, "overlap hides the weight read: %.3f vs %.3f s"
          % (ovl_sum, add_sum))
    check(ovl_sum > pure + 0.05, "the chunks still cost their FLOPs: %.3f s" % ovl_sum)


@test
def test_step_model_config_key_and_errors():
    port = consecutive_ports(1)
    cfg = write_file("step-model: overlap\nport: %d\nmodel: %s\n" % (port, MODEL))
    sim = start_sim(port, 1, MODEL, extra=["--config", cfg])
    st, _, body = post_json(port, "/v1/completions",
                            {"model": MODEL, "prompt": "hello there", "max_tokens": 3})
    check(st == 200 and len(json.loads(body)["choices"][0]["text"].split()) == 3, body)
    stop_process(sim)
    check("step model overlap" in process_log(sim), "YAML key applied")
    for args, what in ((["--step-model", "fused"], "expected additive or overlap"),
                       (["--step-model", "overlap", "--profile", "deepseek-r1-wideep-decode-h200"],
                        "no constants for this step model"),
                       (["--step-model", "overlap", "--profile",
                         "qwen3-8b-h100:1,deepseek-r1-wideep-prefill-h200", "--replicas", "2"],
                        "no constants for step model overlap")):
        p = start_process([BIN, "sim", "--port", str(port)] + args)
        rc = p.wait(30)
        log = process_log(p)
        check(rc == 2 and what in log, "%r -> %r %r" % (args, rc, log))


if __name__ == "__main__":
    run()
