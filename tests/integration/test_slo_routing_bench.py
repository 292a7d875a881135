"""Integration tests for bench/slo_routing_bench.c's environment (docs/slo-scheduling.md, "A real
rule on the delay-caused term"): SLO_BENCH_DELAY_PARAMS reaches the latency-scorer of every row
with objective e2e-plus-delay and of no other row. The benchmark runs in simulated time, so a
short run is quick; a value the scorer refuses (delayWeight -1) is the probe: a row that gets
the parameters stops the run naming it, a row that does not runs to its table line. Shape only:
no test here depends on a measured number.
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


def bench(only, delay_params=None):
    """Runs the benchmark briefly (5 req/s for 25 s of simulated time, capacity regime) with
    SLO_BENCH_ONLY=only; returns (exit status, stdout, stderr)."""
    env = dict(os.environ, SLO_BENCH_ONLY=only, SLO_BENCH_SEED="1")
    env.pop("SLO_BENCH_DELAY_PARAMS", None)
    if delay_params is not None:
        env["SLO_BENCH_DELAY_PARAMS"] = delay_params
    p = subprocess.run([BENCH, "5", "25", "capacity"], env=env, capture_output=True, text=True,
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


if __name__ == "__main__":
    run()
