"""Smoke run of the fault soak (bench/fault_soak.py --quick, ~30 s of load): the gateway under
streaming load while replicas are killed, stalled, answer 500s, cut streams and serve /metrics
late, with a reload every 10 s. Checks the soak's invariants: no request lost without a status,
none sent upstream twice, the in-flight counters back to 0 at rest, the gateway alive and exiting
0 on SIGTERM; and that the faults really happened (so a soak that injected nothing cannot pass).
The 30-minute run and its numbers are in docs/operations.md.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, ROOT, check, run, test  # noqa: E402


@test
def test_quick_fault_soak_invariants():
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "fault_soak.py"), "--quick",
                        "--build", BUILD, "--json", out],
                       capture_output=True, timeout=300)
    text = r.stdout.decode() + r.stderr.decode()
    print(text)
    with open(out) as f:
        rep = json.load(f)
    os.unlink(out)
    check(rep["lost"] == 0, "lost without a status: %r" % rep["lost_by_reason"])
    check(rep["duplicated_upstream"] == 0, "sent upstream twice: %r" % rep["duplicate_examples"])
    rest = rep["at_rest"]
    check(rest["running_requests"] == 0 and rest["endpoint_inflight_requests"] == 0 and
          rest["endpoint_inflight_tokens"] == 0, "in flight at rest: %r" % rest)
    check(rep["gateway_alive"] and rep["gateway_exit"] == 0, "gateway exit %r" % rep["gateway_exit"])
    check(rep["client_threads_hung"] == 0, "client threads still waiting")
    check(r.returncode == 0 and rep["ok"], "soak result: rc %d" % r.returncode)
    # the load and the faults were real
    check(rep["sent"] >= 200, "requests sent %d" % rep["sent"])
    check(rep["completed"] >= rep["sent"] // 2, "completed %d of %d" % (rep["completed"], rep["sent"]))
    check(rep["sent"] == rep["completed"] + rep["failed"] + rep["lost"], "every request counted")
    for kind in ("kill", "restart", "stop", "cont", "reload"):
        check(rep["faults"].get(kind, 0) >= 1, "fault %s happened: %r" % (kind, rep["faults"]))
    check(rep["failed"] >= 1, "some requests failed with a status under faults")
    check(rep["received_upstream"] >= rep["completed"], "the replicas logged what they received")
    kinds = rep["by_kind"]
    check(all(kinds.get(k, 0) > 0 for k in ("chat", "chat/stream", "completions",
                                             "completions/stream")), "request mix %r" % kinds)


if __name__ == "__main__":
    run()
