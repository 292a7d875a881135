"""Integration tests for bench/slo_routing_bench.c's environment (docs/slo-scheduling.md, "A real
rule on the delay-caused term"): SLO_BENCH_DELAY_PARAMS reaches the latency-scorer of every row
with objective e2e-plus-delay and of no other row. The benchmark runs in simulated time, so a
short run is quick; a value the scorer refuses (delayWeight -1) is the probe: a row that gets
the parameters stops the run naming it, a row that does not runs to its table line. The
benchmark charges its requests as the gateway does (sy_pool_charge / sy_pool_discharge with the
output length), so latency-scorer's outputTokensSource learns from its completed requests. Shape
only: no test here depends on a measured number.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, ROOT, check, run, test  # noqa: E402

BENCH = os.path.join(ROOT, BUILD, "slo_routing_bench")
DELAY_ROWS = ["e2e+delay (max)", "e2e+delay 1 + active-request 3 + prefix 1",
              "e2e+delay (Helm pipeline, wrand)", "e2e+delay (Helm pipeline, max)"]
OTHER_ROWS = ["predicted latency (Helm, most)", "latency 1 + active-request 3 + prefix 1",
              "llm-d default (prefix 3, queue 2, kv 2)"]


def bench(only, delay_params=None, max_tokens=None, rate="5"):
    """Runs the benchmark briefly (`rate` req/s for 25 s of simulated time, capacity regime) with
    SLO_BENCH_ONLY=only (and SLO_BENCH_MAX_TOKENS=max_tokens when given); returns (exit status,
    stdout, stderr)."""
    env = dict(os.environ, SLO_BENCH_ONLY=only, SLO_BENCH_SEED="1")
    env.pop("SLO_BENCH_DELAY_PARAMS", None)
    env.pop("SLO_BENCH_MAX_TOKENS", None)
    if delay_params is not None:
        env["SLO_BENCH_DELAY_PARAMS"] = delay_params
    if max_tokens is not None:
        env["SLO_BENCH_MAX_TOKENS"] = str(max_tokens)
    p = subprocess.run([BENCH, rate, "25", "capacity"], env=env, capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def build():
    subprocess.run(["make", "-s", "BUILD=" + BUILD, BUILD + "/slo_routing_bench"], cwd=ROOT,
                   check=True, timeout=300, stdout=subprocess.DEVNULL)


def row_line(out, name):
    return [x for x in out.splitlines() if x.startswith(name + " ") and "|" in x]


@test
def test_delay_params_reach_every_delay_row():
    build()
    for name in DELAY_ROWS:
        rc, out, err = bench(name, ", delayWeight: -1")
        check(rc != 0, "%s ran with delayWeight -1: the parameters did not reach it\n%s" %
              (name, out))
        check(name in err and "delayWeight" in err, "%s: no error naming the row and the "
              "parameter\n%s" % (name, err))
        # without the bad value the same row runs and prints its line
        rc, out, err = bench(name)
        check(rc == 0 and len(row_line(out, name)) == 1, "%s: exit %d\n%s\n%s" %
              (name, rc, out, err))


@test
def test_delay_params_leave_other_rows_alone():
    build()
    for name in OTHER_ROWS:
        rc, out, err = bench(name, ", delayWeight: -1")
        check(rc == 0 and len(row_line(out, name)) == 1,
              "%s got SLO_BENCH_DELAY_PARAMS (exit %d)\n%s\n%s" % (name, rc, out, err))


@test
def test_delay_params_too_long_refused():
    build()
    rc, out, err = bench(DELAY_ROWS[0], ", delayWeight: 1" + " " * 300)
    check(rc == 2 and "SLO_BENCH_DELAY_PARAMS" in err, "exit %d\n%s" % (rc, err))
    check("|" not in out, "a row ran:\n" + out)


@test
def test_learned_output_tokens_come_from_completions():
    """Under a client's cap (max_tokens 4096) with outputTokens 10^6 as the fallback, the fixed
    source assumes 4096 tokens for every request; the learned sources assume the mean of the
    requests completed so far (16..255 tokens here), so the rule routes differently. A benchmark
    that did not feed the pool's output accounting would leave the learned sources on the
    fallback and print the fixed source's line. A row without the objective is untouched."""
    build()
    name = DELAY_ROWS[0]
    lines = {}
    for src in ("fixed", "endpoint", "fleet"):
        rc, out, err = bench(name, ", outputTokens: 1000000, outputTokensSource: " + src, 4096,
                             rate="60")
        row = row_line(out, name)
        check(rc == 0 and len(row) == 1, "%s: exit %d\n%s\n%s" % (src, rc, out, err))
        lines[src] = row[0].split("|")[1:6]  # latencies and SLO met (not the CPU column)
    for src in ("endpoint", "fleet"):
        check(lines[src] != lines["fixed"], "outputTokensSource %s routed as fixed: %s" %
              (src, lines[src]))
    rc, out, err = bench(name, ", outputTokensSource: learned")
    check(rc != 0 and "outputTokensSource" in err, "a bad source ran (exit %d)\n%s" % (rc, err))
    other = OTHER_ROWS[2]
    rows = []
    for p in (None, ", outputTokensSource: fleet"):
        rc, out, err = bench(other, p, 4096, rate="60")
        rows.append([x.split("|")[1:6] for x in row_line(out, other)])
    check(len(rows[0]) == 1 and rows[0] == rows[1], "%s changed: %s" % (other, rows))


if __name__ == "__main__":
    run()
