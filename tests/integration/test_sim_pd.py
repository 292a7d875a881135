"""Integration tests for the simulator's P/D roles: a mixed fleet of prefill and decode replicas
driven directly over HTTP, as the gateway's exchange (or llm-d's sidecar) drives vLLM.

Latency assertions read the replicas' own histograms, which are in simulated seconds, so they do
not depend on how busy the machine is; wall-clock figures are only printed.
"""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, SLOW, check, consecutive_ports, free_ports, metrics,  # noqa: E402
                     post_json, process_log, request, run, start_process, test, wait_port,
                     wait_until)

MODEL = "Qwen/Qwen3-32B"
PREFILL_PARAMS = {"do_remote_decode": True, "do_remote_prefill": False, "remote_engine_id": None,
                  "remote_block_ids": None, "remote_host": None, "remote_port": None}


def start_fleet(*args, prefill=1, decode=1):
    n = prefill + decode
    base = consecutive_ports(n)
    p = start_process([BIN, "sim", "--port", str(base), "--prefill-replicas", str(prefill),
                       "--decode-replicas", str(decode)] + list(args))
    for i in range(n):
        wait_port(base + i, proc=p)
    return p, base


def series(m, name, **labels):
    want = ['%s="%s"' % (k, v) for k, v in labels.items()]
    for k, v in m.items():
        if (k == name and not want) or (k.startswith(name + "{") and all(w in k for w in want)):
            return v
    raise AssertionError("no series %s%s" % (name, want))


def info(port):
    m, _ = metrics(port)
    for k in m:
        if k.startswith("switchyard_sim_replica_info{"):
            labels = dict(part.split("=", 1) for part in k[k.index("{") + 1:-1].split(","))
            return {k2: v.strip('"') for k2, v in labels.items()}
    raise AssertionError("no replica info")


def long_prompt(tokens, salt):
    """A prompt of about `tokens` tokens for the built-in tokenizer (4 bytes per token)."""
    unit = ("%s-%d " % (salt, tokens))
    text = (unit * (tokens * 4 // len(unit) + 1))[:tokens * 4]
    return text


def prefill_leg(port, prompt, **extra):
    body = {"model": MODEL, "prompt": prompt, "max_tokens": 1, "stream": False,
            "kv_transfer_params": dict(PREFILL_PARAMS)}
    body.update(extra)
    st, _, data = post_json(port, "/v1/completions", body, timeout=60)
    check(st == 200, "prefill leg %d: %r" % (st, data[:300]))
    return json.loads(data)


def decode_leg(port, prompt, params, max_tokens=8, stream=False):
    body = {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "stream": stream,
            "kv_transfer_params": params}
    if stream:
        body["stream_options"] = {"include_usage": True}
    st, _, data = post_json(port, "/v1/completions", body, timeout=60)
    check(st == 200, "decode leg %d: %r" % (st, data[:300]))
    if not stream:
        return json.loads(data)
    events = [json.loads(b[6:]) for b in data.decode().split("\n\n")
              if b.startswith("data: ") and b != "data: [DONE]"]
    return events


def ttft_sum(port):
    m, _ = metrics(port)
    return (series(m, "vllm:time_to_first_token_seconds_sum"),
            series(m, "vllm:time_to_first_token_seconds_count"))


@test
def test_roles_and_ports_of_a_mixed_fleet():
    p, base = start_fleet("--time-scale", "10", prefill=2, decode=2)
    roles = [info(base + i)["role"] for i in range(4)]
    check(roles == ["prefill", "prefill", "decode", "decode"], roles)
    ids = [info(base + i)["engine_id"] for i in range(4)]
    check(len(set(ids)) == 4, ids)
    check(all(info(base + i)["kv_connector"] == "nixlv2" for i in range(4)))
    # one role for every replica
    base2 = consecutive_ports(2)
    p2 = start_process([BIN, "sim", "--port", str(base2), "--replicas", "2", "--role", "decode",
                        "--kv-connector", "sglang"])
    wait_port(base2, proc=p2)
    wait_port(base2 + 1, proc=p2)
    check(info(base2 + 1)["role"] == "decode" and info(base2)["kv_connector"] == "sglang")
    # bad flags are refused with a message
    for args, word in ((["--role", "middle"], "prefill, decode or both"),
                       (["--prefill-replicas", "1", "--replicas", "2"], "either --replicas"),
                       (["--prefill-replicas", "1", "--role", "decode"], "mixed fleet"),
                       (["--prefill-replicas", "0", "--decode-replicas", "0"], "1..1024"),
                       (["--kv-connector", "mooncake"], "nixlv2 or sglang"),
                       (["--kv-lease", "0"], "seconds > 0"),
                       (["--kv-transfer-bandwidth", "-1"], "GB/s"),
                       (["--prefill-replicas", "1", "--decode-replicas", "1", "--ports", "9"],
                        "one port per")):
        r = subprocess.run([BIN, "sim"] + args, capture_output=True, text=True, timeout=10)
        check(r.returncode == 2 and word in r.stderr, "%s: %d %r" % (args, r.returncode, r.stderr))


@test
def test_nixl_prefill_then_decode_without_recompute():
    # the TTFTs compared below are simulated time, wall time x the scale: a slow binary's loop
    # lateness is multiplied by it (a decode TTFT of 0.143 s at scale 10 under ASan, 9 ms late)
    p, base = start_fleet("--time-scale", "%g" % (10 / SLOW))
    pre, dec = base, base + 1
    prompt = long_prompt(6000, "pd")
    resp = prefill_leg(pre, prompt)
    choice = resp["choices"][0]
    check(choice["finish_reason"] == "length", choice)
    check(resp["usage"]["completion_tokens"] == 1, resp["usage"])
    n = resp["usage"]["prompt_tokens"]
    check(5990 <= n <= 6010, n)
    kv = resp["kv_transfer_params"]
    check(kv["do_remote_prefill"] is True and kv["do_remote_decode"] is False, kv)
    check(isinstance(kv["remote_block_ids"], list) and len(kv["remote_block_ids"]) == 1, kv.keys())
    blocks = kv["remote_block_ids"][0]
    check(len(blocks) == (n + 15) // 16 and len(set(blocks)) == len(blocks), len(blocks))
    check(kv["remote_engine_id"] == info(pre)["engine_id"], kv["remote_engine_id"])
    check(kv["remote_request_id"] == resp["id"], kv["remote_request_id"])
    check(kv["remote_host"] == "127.0.0.1" and kv["remote_port"] == pre, kv)  # its side channel
    check(kv["tp_size"] == 2 and kv["remote_num_tokens"] == n, kv)
    m, _ = metrics(pre)
    check(series(m, "switchyard_sim_kv_held_requests") == 1)
    # the prefill replica's blocks stay allocated while held
    check(series(m, "vllm:kv_cache_usage_perc") > 0)

    t0 = time.time()
    events = decode_leg(dec, prompt, kv, max_tokens=16, stream=True)
    wall = time.time() - t0
    texts = [e["choices"][0]["text"] for e in events if e["choices"]]
    check(len(texts) == 16, len(texts))
    usage = events[-1]["usage"]
    check(usage["prompt_tokens"] == n and usage["completion_tokens"] == 16, usage)
    check(usage["prompt_tokens_details"]["cached_tokens"] == n, "the prompt came pulled: %r" % usage)
    md, _ = metrics(dec)
    check(series(md, "switchyard_sim_kv_pulls_total") == 1)
    check(series(md, "switchyard_sim_kv_pulled_tokens_total") == n)
    check(series(md, "vllm:nixl_xfer_time_seconds_count") == 1)
    xfer = series(md, "vllm:nixl_xfer_time_seconds_sum")
    # 6000 tokens x 256 KiB / 2 ranks / 22.96 GB/s + 0.6 ms = 34.9 ms (simulated)
    check(0.03 < xfer < 0.04, xfer)
    check(series(md, "vllm:nixl_bytes_transferred_sum") == n * 262144)
    check(series(md, "vllm:nixl_num_failed_transfers_total") == 0)
    # the pull freed the prefill replica's blocks
    m, _ = metrics(pre)
    check(series(m, "switchyard_sim_kv_held_requests") == 0)
    check(series(m, "vllm:kv_cache_usage_perc") == 0)
    check(series(md, "vllm:num_preemptions_total") == 0, "nothing recomputed after a preemption")
    # decode TTFT (pull + one step, ~0.06 s) is a fraction of the prefill's (~0.38 s for 6000
    # tokens); a recompute would cost the whole prefill again
    p_ttft, _ = ttft_sum(pre)
    d_ttft, d_n = ttft_sum(dec)
    check(d_n == 1)
    check(p_ttft > 0.3 and d_ttft < 0.5 * p_ttft, (p_ttft, d_ttft))
    print("    prefill TTFT %.3fs, decode TTFT %.3fs (simulated); decode leg %.3fs wall"
          % (p_ttft, d_ttft, wall))


@test
def test_nixl_unknown_reused_mismatched_and_expired_params_fall_back():
    # lease 20 simulated seconds = 2 s of wall time at time-scale 10
    p, base = start_fleet("--time-scale", "10", "--kv-lease", "20")
    pre, dec = base, base + 1
    prompt = long_prompt(3000, "fb")
    kv = prefill_leg(pre, prompt)["kv_transfer_params"]
    decode_leg(dec, prompt, kv)
    # reused: the same params again
    r = decode_leg(dec, prompt, kv)
    check(r["usage"]["completion_tokens"] == 8 and r["choices"][0]["finish_reason"] == "length")
    # unknown: an engine of another process, and malformed params
    other = dict(kv, remote_engine_id="00000000-0000-4000-8000-000000000000")
    decode_leg(dec, long_prompt(3000, "u1"), other)
    decode_leg(dec, long_prompt(3000, "u2"), {"do_remote_prefill": True})
    decode_leg(dec, long_prompt(3000, "u3"), dict(kv, remote_request_id="cmpl-zz"))
    # mismatch: held KV of a different prompt
    kv2 = prefill_leg(pre, long_prompt(3000, "mm"))["kv_transfer_params"]
    decode_leg(dec, long_prompt(3000, "mx"), kv2)
    # expired: nothing pulls within the lease
    kv3 = prefill_leg(pre, long_prompt(3000, "ex"))["kv_transfer_params"]
    wait_until(lambda: series(metrics(pre)[0], "vllm:nixl_num_kv_expired_reqs_total") >= 2,
               timeout=30, what="leases to expire")
    m, _ = metrics(pre)
    check(series(m, "switchyard_sim_kv_held_requests") == 0)
    check(series(m, "vllm:nixl_num_kv_expired_reqs_total") == 2)  # mm's and ex's
    check(series(m, "vllm:kv_cache_usage_perc") == 0)
    decode_leg(dec, long_prompt(3000, "ex"), kv3)
    kv2_again = decode_leg(dec, long_prompt(3000, "mm"), kv2)  # after the mismatch it expired
    check(kv2_again["usage"]["completion_tokens"] == 8)
    md, _ = metrics(dec)
    fb = {k: series(md, "switchyard_sim_pd_fallbacks_total", reason=k)
          for k in ("unknown", "reused", "expired", "mismatch")}
    check(fb == {"unknown": 3, "reused": 1, "expired": 2, "mismatch": 1}, fb)
    check(series(md, "vllm:nixl_num_failed_transfers_total") == 7)
    check(series(md, "switchyard_sim_kv_pulls_total") == 1)
    # every fallback computed its prompt locally: their TTFT is a prefill's, not a pull's
    check(series(md, "vllm:prompt_tokens_total") >= 8 * 2990)


@test
def test_concurrent_chat_exchanges_across_a_fleet():
    """32 chat P/D exchanges at once over 2 prefill and 2 decode replicas: every decode pulls,
    nothing falls back, and afterwards no KV is held or in use anywhere."""
    p, base = start_fleet("--time-scale", "20", prefill=2, decode=2)
    n = 32
    results = [None] * n

    def one(i):
        msgs = [{"role": "system", "content": long_prompt(1500, "sys%d" % (i % 4))},
                {"role": "user", "content": "question %d" % i}]
        pre, dec = base + i % 2, base + 2 + (i // 2) % 2
        body = {"model": MODEL, "messages": msgs, "max_tokens": 1, "stream": False,
                "kv_transfer_params": dict(PREFILL_PARAMS)}
        st, _, data = post_json(pre, "/v1/chat/completions", body, timeout=60)
        if st != 200:
            results[i] = ("prefill", st)
            return
        pr = json.loads(data)
        kv = pr["kv_transfer_params"]
        body = {"model": MODEL, "messages": msgs, "max_tokens": 10, "stream": True,
                "stream_options": {"include_usage": True}, "kv_transfer_params": kv}
        st, _, data = post_json(dec, "/v1/chat/completions", body, timeout=60)
        events = [json.loads(b[6:]) for b in data.decode().split("\n\n")
                  if b.startswith("data: {")]
        usage = events[-1].get("usage") if events else None
        results[i] = (st, kv["remote_request_id"].startswith("chatcmpl-"), usage)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for r in results:
        check(r is not None and r[0] == 200 and r[1], r)
        check(r[2]["completion_tokens"] == 10 and r[2]["prompt_tokens_details"]["cached_tokens"] ==
              r[2]["prompt_tokens"], r)
    pulls = 0
    for i in range(4):
        m, _ = metrics(base + i)
        pulls += series(m, "switchyard_sim_kv_pulls_total")
        check(series(m, "switchyard_sim_kv_held_requests") == 0, i)
        check(series(m, "vllm:kv_cache_usage_perc") == 0, i)
        check(series(m, "vllm:nixl_num_failed_transfers_total") == 0, i)
        check(series(m, "vllm:num_requests_running") == 0, i)
    check(pulls == n, pulls)


@test
def test_prefill_and_decode_in_separate_processes():
    """`--role prefill` and `--role decode` as two processes (two pods): the decode claims the KV
    over the prefill replica's side channel (remote_host:remote_port) and frees it when read."""
    bp, bd = consecutive_ports(1), consecutive_ports(1)
    pp = start_process([BIN, "sim", "--port", str(bp), "--role", "prefill", "--time-scale", "10"])
    pd = start_process([BIN, "sim", "--port", str(bd), "--role", "decode", "--time-scale", "10",
                        "--seed", "5"])
    wait_port(bp, proc=pp)
    wait_port(bd, proc=pd)
    prompt = long_prompt(5000, "xp")
    kv = prefill_leg(bp, prompt)["kv_transfer_params"]
    check(kv["remote_port"] == bp and info(bp)["engine_id"] != info(bd)["engine_id"])
    r = decode_leg(bd, prompt, kv, max_tokens=6)
    check(r["usage"]["completion_tokens"] == 6)
    md, _ = metrics(bd)
    check(series(md, "switchyard_sim_kv_pulls_total") == 1)
    check(series(md, "vllm:nixl_xfer_time_seconds_count") == 1)
    # the decode's read completed: the prefill process freed the blocks
    wait_until(lambda: series(metrics(bp)[0], "switchyard_sim_kv_held_requests") == 0,
               timeout=10, what="release over the side channel")
    check(series(metrics(bp)[0], "vllm:kv_cache_usage_perc") == 0)
    # reused, mismatched, and a side channel nobody serves: local prefills, counted
    decode_leg(bd, prompt, kv)
    kv2 = prefill_leg(bp, long_prompt(2000, "xq"))["kv_transfer_params"]
    decode_leg(bd, long_prompt(2000, "xr"), kv2)
    dead = free_ports(1)[0]
    decode_leg(bd, long_prompt(2000, "xs"), dict(kv2, remote_port=dead))
    decode_leg(bd, long_prompt(2000, "xt"), dict(kv2, remote_host="not-an-address"))
    md, _ = metrics(bd)
    fb = {k: series(md, "switchyard_sim_pd_fallbacks_total", reason=k)
          for k in ("unknown", "reused", "expired", "mismatch")}
    check(fb == {"unknown": 2, "reused": 1, "expired": 0, "mismatch": 1}, fb)
    check(series(metrics(bp)[0], "switchyard_sim_kv_held_requests") == 1)  # xq: still held
    # the side channel refuses malformed claims
    st, _, _ = post_json(bp, "/_sim/kv/claim", {"remote_engine_id": 1})
    check(st == 400, st)
    st, _, data = post_json(bp, "/_sim/kv/claim",
                            {"remote_engine_id": "x", "remote_request_id": "y", "num_tokens": 3,
                             "tokens_hash": "00ff"})
    check(st == 200 and json.loads(data)["result"] == "unknown", data)
    check(pp.poll() is None and pd.poll() is None)


@test
def test_bad_pd_fields_are_400():
    p, base = start_fleet("--time-scale", "10")
    cases = [
        {"kv_transfer_params": "yes"},
        {"kv_transfer_params": {"do_remote_decode": "true"}},
        {"kv_transfer_params": {"do_remote_decode": True, "do_remote_prefill": True}},
        {"kv_transfer_params": dict(PREFILL_PARAMS), "stream": True},
    ]
    for extra in cases:
        body = {"model": MODEL, "prompt": "hello there", "max_tokens": 1}
        body.update(extra)
        st, _, data = post_json(base, "/v1/completions", body)
        check(st == 400, "%r -> %d" % (extra, st))
        err = json.loads(data)["error"]
        check("kv_transfer_params" in err["message"], err)
    # plain requests still work on both roles, with null kv_transfer_params
    for port in (base, base + 1):
        st, _, data = post_json(port, "/v1/chat/completions",
                                {"model": MODEL, "max_tokens": 2,
                                 "messages": [{"role": "user", "content": "hi"}]})
        check(st == 200 and json.loads(data)["kv_transfer_params"] is None)
        check(request(port, "GET", "/health")[0] == 200)


def stream_gaps(port, prompt, max_tokens, out, idx):
    """Streams one completion and records the wall gaps between its tokens."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/completions",
                 json.dumps({"model": MODEL, "prompt": prompt, "max_tokens": max_tokens,
                             "stream": True}), {"Content-Type": "application/json"})
    r = conn.getresponse()
    times = []
    buf = b""
    while True:
        d = r.read1(65536) if hasattr(r, "read1") else r.read(1)
        if not d:
            break
        buf += d
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if ev.startswith(b"data: {"):
                times.append(time.time())
    conn.close()
    gaps = [b - a for a, b in zip(times, times[1:])]
    out[idx] = (len(times), max(gaps) if gaps else 0.0)


def itl_over(port, seconds):
    """ITL samples above `seconds` (simulated) on a replica, from its histogram."""
    m, _ = metrics(port)
    total = series(m, "vllm:inter_token_latency_seconds_count")
    below = series(m, "vllm:inter_token_latency_seconds_bucket", le=str(seconds))
    return total - below, total


@test
def test_long_prefill_stalls_streams_only_on_an_aggregated_replica():
    """Eight streams decode on a replica when an 8k-token prompt arrives. On the aggregated
    replica its prefill chunk shares their steps: every stream waits ~0.5 s (simulated) for one
    token. On the decode replica the prompt arrives as KV from the prefill replica and the streams
    keep their ~16 ms steps."""
    # simulated ITL is wall time x the scale: 2 / SLOW (0.5 under ASan) keeps a slow binary's
    # loop lateness well under the 0.3 s the decode replica's streams must never reach
    scale = "%g" % (2 / SLOW)
    base = consecutive_ports(3)
    p = start_process([BIN, "sim", "--port", str(base), "--prefill-replicas", "1",
                       "--decode-replicas", "1", "--time-scale", scale])
    agg_base = consecutive_ports(1)
    pa = start_process([BIN, "sim", "--port", str(agg_base), "--time-scale", scale])
    for port, proc in ((base, p), (base + 1, p), (agg_base, pa)):
        wait_port(port, proc=proc)
    pre, dec, agg = base, base + 1, agg_base
    big = long_prompt(8000, "big")
    kv = prefill_leg(pre, big)["kv_transfer_params"]  # ready before the streams start
    results = {}
    for label, port in (("aggregated", agg), ("decode", dec)):
        out = {}
        threads = [threading.Thread(target=stream_gaps,
                                    args=(port, "stream %d of %s" % (i, label), 150, out, i))
                   for i in range(8)]
        for t in threads:
            t.start()
        def decoding():
            m, _ = metrics(port)
            return (series(m, "vllm:num_requests_running") == 8 and
                    series(m, "vllm:generation_tokens_total") >= 8 * 5)
        wait_until(decoding, timeout=20, what="streams decoding")
        t0 = time.time()
        if label == "aggregated":
            st, _, _ = post_json(port, "/v1/completions",
                                 {"model": MODEL, "prompt": big, "max_tokens": 4}, timeout=60)
        else:
            decode_leg(port, big, kv, max_tokens=4)
            st = 200
        check(st == 200)
        big_wall = time.time() - t0
        for t in threads:
            t.join(60)
        check(all(out[i][0] == 150 for i in range(8)), out)
        over, total = itl_over(port, 0.3)
        results[label] = (over, total, max(g for _, g in out.values()), big_wall)
    print("    ITL > 0.3 s (simulated) / ITL samples, worst wall gap, long request wall: %r"
          % results)
    # aggregated: the 8k chunk (~0.5 s) lands in one step that all 8 streams share
    check(results["aggregated"][0] >= 8, results)
    # decode-only: no stream ever waits for a prefill chunk
    check(results["decode"][0] == 0, results)
    m, _ = metrics(dec)
    check(series(m, "switchyard_sim_kv_pulls_total") == 1)


@test
def test_sglang_bootstrap_pairs_prefill_and_decode_by_room():
    p, base = start_fleet("--time-scale", "10", "--kv-connector", "sglang", "--kv-lease", "30",
                          prefill=1, decode=1)
    pre, dec = base, base + 1
    prompt = long_prompt(4000, "sg")
    body = {"model": MODEL, "prompt": prompt, "max_tokens": 12, "stream": False,
            "bootstrap_host": "127.0.0.1", "bootstrap_port": 8998,
            "bootstrap_room": 5829384712390457123}
    # decode first: it waits for the prefill of its room
    res = {}

    def run_decode():
        res["d"] = post_json(dec, "/v1/completions", body, timeout=60)
    t = threading.Thread(target=run_decode)
    t.start()
    wait_until(lambda: series(metrics(dec)[0], "switchyard_sim_pd_parked_requests") == 1,
               timeout=10, what="the decode to wait for its prefill")
    st, _, data = post_json(pre, "/v1/completions", body, timeout=60)
    t.join(60)
    check(st == 200)
    pr = json.loads(data)
    check(pr["usage"]["completion_tokens"] == 1, pr["usage"])  # the prefill server's one token
    st, _, data = res["d"]
    check(st == 200, data[:200])
    dr = json.loads(data)
    check(dr["usage"]["completion_tokens"] == 12, dr["usage"])
    md, _ = metrics(dec)
    check(series(md, "switchyard_sim_kv_pulls_total") == 1)
    check(series(metrics(pre)[0], "switchyard_sim_kv_held_requests") == 0)
    # prefill first, decode later: pulled as well
    body2 = dict(body, bootstrap_room=12345)
    post_json(pre, "/v1/completions", body2)
    st, _, _ = post_json(dec, "/v1/completions", body2)
    check(st == 200)
    check(series(metrics(dec)[0], "switchyard_sim_kv_pulls_total") == 2)
    # a room no prefill serves: the decode falls back after the wait (30 s simulated = 3 s)
    st, _, data = post_json(dec, "/v1/completions", dict(body, bootstrap_room=777), timeout=30)
    check(st == 200 and json.loads(data)["usage"]["completion_tokens"] == 12)
    md, _ = metrics(dec)
    check(series(md, "switchyard_sim_pd_fallbacks_total", reason="unknown") == 1)
    # a decode whose client leaves while it waits is dropped cleanly
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", dec, timeout=5)
    c.request("POST", "/v1/completions", json.dumps(dict(body, bootstrap_room=999)),
              {"Content-Type": "application/json"})
    wait_until(lambda: series(metrics(dec)[0], "switchyard_sim_pd_parked_requests") == 1,
               timeout=10, what="the decode to wait for its room")
    c.close()
    wait_until(lambda: series(metrics(dec)[0], "switchyard_sim_pd_parked_requests") == 0,
               timeout=2, what="the abandoned decode to be dropped")
    md, _ = metrics(dec)
    check(series(md, "switchyard_sim_pd_fallbacks_total", reason="unknown") == 1)
    check(series(md, "vllm:num_requests_waiting") == 0 and series(md, "vllm:num_requests_running") == 0)
    # bad bootstrap fields are 400
    for bad in ({"bootstrap_room": -1}, {"bootstrap_room": "x"}, {"bootstrap_port": "p"},
                {"bootstrap_host": 5}):
        st, _, data = post_json(dec, "/v1/completions", dict(body, **bad))
        check(st == 400 and "bootstrap" in json.loads(data)["error"]["message"], (bad, st))
    check(p.poll() is None, process_log(p))


@test
def test_sglang_decode_stops_waiting_when_its_prefill_is_aborted():
    """A decode waits for its room; the prefill's client leaves mid-prefill (the prefill is
    aborted): the decode prefills locally at once instead of waiting out the 120 s lease."""
    tokens = 24000  # ~1.5 s of prefill at time-scale 1: the prefill's client leaves long before
    p, base = start_fleet("--time-scale", "1", "--kv-connector", "sglang", "--kv-lease", "120")
    pre, dec = base, base + 1
    body = {"model": MODEL, "prompt": long_prompt(tokens, "ab"), "max_tokens": 3,
            "bootstrap_host": "127.0.0.1", "bootstrap_port": 8998, "bootstrap_room": 4242}
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("d", post_json(dec, "/v1/completions",
                                                                      body, timeout=100)))
    t.start()
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", pre, timeout=5)
    c.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    time.sleep(0.15)  # the prefill is still running
    c.close()
    t.join(60)
    check("d" in res, "the decode still waits for an aborted prefill")
    st, _, data = res["d"]
    check(st == 200 and json.loads(data)["usage"]["completion_tokens"] == 3, (st, data[:200]))
    md, _ = metrics(dec)
    check(series(md, "switchyard_sim_pd_fallbacks_total", reason="unknown") == 1)
    check(series(md, "switchyard_sim_kv_pulls_total") == 0)
    mp, _ = metrics(pre)
    check(series(mp, "vllm:request_success_total", finished_reason="abort") == 1)
    check(series(mp, "switchyard_sim_kv_held_requests") == 0)


if __name__ == "__main__":
    run()
