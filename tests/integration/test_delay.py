"""Integration test for latency-scorer's `objective: e2e-plus-delay` (src/sched/latency_scorer.c,
docs/slo-scheduling.md "A real rule on the delay-caused term: `objective: e2e-plus-delay`").

One `switchyard sim --replicas 2 --profile qwen3-8b-h100:1,qwen3-32b-tp2-h100` process (a fast 8B
replica on the first port, a slow 32B one on the second) behind the real gateway configured with
predicted-latency-producer, latency-scorer (objective e2e-plus-delay) and max-score-picker. The
latency model is trained on a warm-up through the gateway. Then the constructed case: long
requests sent straight to one replica (so only its scraped running count shows them) and short
probes through the gateway. A short request on the busy replica would stall every running decode
for its prefill and slow their batch, which costs more than it saves on its own latency: the rule
sends it to the idle replica, fast or slow. With the delay term off (delayWeight 0, same gateway
otherwise) the probes go to the fast replica even while it is busy, and the delay rule, reloaded
onto that gateway's trained model, sends none there; so the first check fails for a rule that
ignores the delay it causes.
"""
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, endpoints, free_ports, metrics, post_json, process_log,  # noqa
                     run, start_fast_slow_gateway, start_fast_slow_sim, stop_process, test,
                     wait_until, write_file)

PIPELINE = """
scheduler:
  plugins:
    - type: predicted-latency-producer
    - type: latency-scorer
      parameters: {objective: e2e-plus-delay%s}
    - type: max-score-picker
  schedulingProfiles:
    - name: default
      plugins:
        - pluginRef: latency-scorer
        - pluginRef: max-score-picker
"""

ST = {}


def setup():
    if ST:
        return ST
    sim, base, fast, slow = start_fast_slow_sim()
    ST.update(sim=sim, base=base, fast=fast, slow=slow)
    return ST


def start_gw(extra=""):
    """A gateway over both replicas (slow listed first) with the delay objective; returns
    (process, port, admin)."""
    st = setup()
    return start_fast_slow_gateway(st["fast"], st["slow"], PIPELINE % extra)


SALT = [0]
LOCK = threading.Lock()


def complete(port, prompt_words, max_tokens, stream=True):
    """A completion with distinct words (no shared prefix) to port; (status, headers, body)."""
    with LOCK:
        SALT[0] += 1
        salt = SALT[0]
    body = {"model": "m1", "prompt": " ".join("d%dw%d" % (salt, i) for i in range(prompt_words)),
            "max_tokens": max_tokens, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return post_json(port, "/v1/completions", body, timeout=60)


def warm_and_train(port, admin):
    """Concurrent streamed requests through the gateway (bounded: 4 x 40) until the model's
    first retrain, so predictions are valid (not the composite fallback)."""
    wait_until(lambda: complete(port, 10, 2)[0] == 200, 10, interval=0.1, what="endpoints ready")

    def worker(k):
        for i in range(40):
            st, _, body = complete(port, 100 + ((k * 40 + i) * 53) % 900, 8 + (i % 4) * 8)
            check(st == 200, "warm-up status %d %r" % (st, body))
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)

    wait_until(lambda: retrains(admin) >= 1, 15, interval=0.2,
               what="the latency model's first retrain")


def retrains(admin):
    return metrics(admin)[0].get("switchyard_latency_model_retrains_total", 0)


def settle(admin):
    """Waits (at most 3 s) for the retrain that takes in every sample so far: the trainer runs
    every second when it has new samples, so none within 3 s means none pending. Without it the
    model that decides the probes could change during them: the first retrain can land
    mid-warm-up, and the next one, fitted to all of it, came mid-probes in a failure under ASan
    (probes [slow, slow, fast, fast, fast, fast], the switch at that retrain). The probes' own
    samples can still cause one; probes_while_busy prints how many came."""
    r = retrains(admin)
    for _ in range(30):
        if retrains(admin) > r:
            return
        time.sleep(0.1)


def sim_running(port):
    m, _ = metrics(port)
    return sum(v for k, v in m.items() if k.startswith("vllm:num_requests_running"))


def gw_shows_case(admin, busy, n_busy):
    """True when the gateway's last scrapes show the constructed case: at least n_busy running
    on busy, nothing running or waiting on the other replicas."""
    eps = endpoints(admin)
    return all(e["running"] >= n_busy if e["address"] == busy else
               e["running"] == 0 and e["waiting"] == 0 for e in eps)


def probes_while_busy(port, admin, busy_port, n_busy=16, n_probes=6):
    """Once the model has settled, n_busy long requests straight to busy_port (not through the
    gateway), then n_probes short streamed ones through the gateway; returns the probes'
    destinations. Fails when the long requests did not last through the probes. 16, not 8:
    with 8 on the busy fast replica the rule's margin over the idle slow one was thin enough that
    the learned model of some warm-ups sent 4 of 6 probes to the busy one (about 1 run in 7, no
    retrain, the view right); 16 double the delay a probe causes there and passed 8 of 8."""
    settle(admin)
    done = []

    def longreq():
        done.append(complete(busy_port, 50, 1500, stream=False)[0])
    ts = [threading.Thread(target=longreq) for _ in range(n_busy)]
    for t in ts:
        t.start()
    wait_until(lambda: sim_running(busy_port) >= n_busy, 10, interval=0.05,
               what="the long requests running")
    # the scorer reads the scraped running counts: probe only once the gateway's view shows the
    # long requests (a fixed pause was too short on a loaded host: probes then went to the busy
    # replica before its scrape, [fast x4, slow x2] and [fast x6] in a review's runs) and shows
    # the other replica idle. Each replica's /metrics poll is its own, and on a starved host one
    # can take up to its 1 s timeout while the endpoint keeps its last scrape (src/pool/scraper.c):
    # the other replica could still show what ran there before (the warm-up's requests, or the
    # previous phase's long ones on the replica the probes should now go to), and then both
    # look busy and the choice between them rests on the learned model's fine differences. That
    # fits the failures seen (CI: all 6 probes of the second phase on the busy slow replica; once
    # here on a loaded host [fast x3, slow x2, fast] in the first phase), though neither run kept
    # the gateway's view to confirm it: it is printed now
    busy = "127.0.0.1:%d" % busy_port
    wait_until(lambda: gw_shows_case(admin, busy, n_busy), 10, interval=0.05,
               what="the gateway's scrapes showing the long requests and the other replica idle")
    print("  view before the probes: %s" % ", ".join(
        "%s running %g waiting %g age %.0f ms" % (e["address"], e["running"], e["waiting"],
                                                  e["age_ms"]) for e in endpoints(admin)))
    dest = []
    r0 = retrains(admin)
    for _ in range(n_probes):
        # a probe that just ended on the idle replica can still be in its last scrape (running
        # 1): that is no longer the case under test (a failure on a loaded host: [slow, slow,
        # fast x4] with no retrain), so each probe waits for the idle view again
        wait_until(lambda: gw_shows_case(admin, busy, n_busy), 10, interval=0.02,
                   what="the idle replica's scrape showing the previous probe ended")
        st, h, body = complete(port, 200, 4)
        check(st == 200, "probe status %d %r" % (st, body))
        dest.append(h["x-gateway-destination-endpoint"])
    # the case held for every probe: the long requests still running (not ended early)
    running = sim_running(busy_port)
    check(running >= n_busy, "the long requests ended during the probes (%d running): %r"
          % (running, dest))
    print("  model retrains during the probes: %d" % (retrains(admin) - r0))
    for t in ts:
        t.join(60)
    check(done.count(200) == n_busy, "long requests served: %r" % done)
    return dest


@test
def test_short_request_avoids_busy_replica():
    s = setup()
    gw, port, admin = start_gw()
    try:
        warm_and_train(port, admin)
        fast_port, slow_port = s["base"], s["base"] + 1
        dest = probes_while_busy(port, admin, fast_port)
        print("  fast busy: probes on slow %d/%d" % (dest.count(s["slow"]), len(dest)))
        check(dest.count(s["slow"]) == len(dest),
              "fast replica busy: the short requests go to the idle slow one: %r" % dest)
        # not discriminating: the idle fast replica is the cheaper one for any latency rule (own
        # e2e, headroom, load); it checks that the rule is not a blanket preference for slow
        dest = probes_while_busy(port, admin, slow_port)
        print("  slow busy: probes on fast %d/%d" % (dest.count(s["fast"]), len(dest)))
        check(dest.count(s["fast"]) == len(dest),
              "slow replica busy: the short requests go to the idle fast one: %r" % dest)
    finally:
        stop_process(gw)


@test
def test_without_delay_term_busy_fast_still_wins():
    """The control: the same case with delayWeight 0 (own predicted e2e only) still sends short
    requests to the fast replica while it is busy, and then, on the same trained model (the
    config reloaded to the delay objective's default weight; the model is process-wide and
    survives a reload), the delay rule sends none there: the delay term alone tells the rules
    apart. Before, the control trained its own model on its own warm-up, so what it showed held
    for that model and not necessarily for the one the rule decided with."""
    s = setup()
    # a warm-up whose model prefers the idle slow replica even without the delay term tells the
    # rules nothing apart (see the bound below): such a model is set aside and a fresh gateway
    # trains another, at most three; a scorer without the delay term fails on every model
    for attempt in range(3):
        gw, port, admin = start_gw(", delayWeight: 0")
        try:
            warm_and_train(port, admin)
            ctl = probes_while_busy(port, admin, s["base"])
        except BaseException:
            stop_process(gw)
            raise
        ctl_fast = ctl.count(s["fast"])
        print("  delayWeight 0, fast busy: probes on fast %d/%d" % (ctl_fast, len(ctl)))
        if ctl_fast > 0 or attempt == 2:
            break
        print("  this model tells nothing apart: another warm-up")
        stop_process(gw)
    try:
        path = gw.args[-1]
        text = open(path).read()
        check(", delayWeight: 0}" in text, text)
        with open(path, "w") as f:
            f.write(text.replace(", delayWeight: 0}", "}"))
        r0 = retrains(admin)
        gw.send_signal(signal.SIGHUP)
        wait_until(lambda: "generation 2" in process_log(gw), 10, what="the reload")
        check(retrains(admin) >= r0, "the reload kept the trained model (retrains %d, were %d)"
              % (retrains(admin), r0))
        rule = probes_while_busy(port, admin, s["base"])
        rule_fast = rule.count(s["fast"])
        print("  same model, delay rule, fast busy: probes on fast %d/%d" % (rule_fast, len(rule)))
        check(rule_fast == 0, "the delay rule on the control's model avoids the busy replica: %r"
              % rule)
        # own predicted e2e alone puts the busy fast replica only a little ahead of the idle slow
        # one (the learned p90s are close), and which one it prefers is set by the warm-up's model
        # nearly all or nothing: 6, 6, 6, 6, 2, 6, 6, 6 of 6 in 8 runs of this file and 8 of 8 at
        # 6 of 6 alone (2026-12-07, nice 19 on the shared 2-core host; then 8 of 8 runs of this
        # paired form at 6 of 6, the rule 0), a retrain during the probes flipped 4 of 6 once under
        # ASan, and a variant run on a loaded host (12 probes, this control first on a fresh sim)
        # gave 0 of 12 in 2 of 10 runs (models under which the case tells nothing apart; the
        # control fails there, as it should). A majority bound would fail the 2 of 6 run and more
        # probes do not change a decision made per model, so the control asks that the busy fast
        # replica wins more probes than the rule gives it on the same model: at least one
        check(ctl_fast > rule_fast,
              "without the delay term the busy fast replica still wins some: %r (rule: %r)"
              % (ctl, rule))
    finally:
        stop_process(gw)


@test
def test_bad_objective_refused():
    """A bad objective or delay parameter is a config error naming the key."""
    for extra, key in ((", objective: quickest", "objective"),
                       (", delayHorizonTokens: 0", "delayHorizonTokens"),
                       (", delayWeight: -2", "delayWeight"),
                       (", outputTokens: 12.5", "outputTokens"),
                       (", delayHorizonTokens: 12.5", "delayHorizonTokens"),
                       (", outputTokensSource: learned", "outputTokensSource")):
        port, admin = free_ports(2)
        text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\n" % (port, admin) +
                "pool:\n  engine: vllm\n  endpoints:\n    - address: 127.0.0.1:1\n" +
                (PIPELINE % extra).replace("{objective: e2e-plus-delay, objective: quickest}",
                                           "{objective: quickest}"))
        r = subprocess.run([BIN, "gateway", "--config", write_file(text)], capture_output=True,
                           timeout=10)
        err = r.stderr.decode()
        check(r.returncode != 0 and key in err, (extra, r.returncode, err))


@test
def test_delay_parameters_ignored_under_headroom_warn():
    """Delay parameters under the default headroom objective load, with a warning naming each
    (one set to null is absent, as the parameter readers take it: no warning)."""
    port, admin = free_ports(2)
    text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\n" % (port, admin) +
            "pool:\n  engine: vllm\n  endpoints:\n    - address: 127.0.0.1:1\n" +
            PIPELINE.replace("{objective: e2e-plus-delay%s}", "{delayWeight: 2, outputTokens: 64, "
                                                                "outputTokensSource: fleet, "
                                                                "delayHorizonTokens: null}"))
    r = subprocess.run([BIN, "gateway", "--check", "--config", write_file(text)],
                       capture_output=True, timeout=10)
    err = r.stderr.decode()
    check(r.returncode == 0, (r.returncode, err))
    for key in ("delayWeight", "outputTokens", "outputTokensSource"):
        check("'%s' is ignored" % key in err, (key, err))
    check("delayHorizonTokens" not in err, err)


if __name__ == "__main__":
    run()
