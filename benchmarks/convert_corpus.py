#!/usr/bin/env python3
"""Time `sigma-es convert` against `sigma convert` + pySigma-backend-elasticsearch on the SigmaHQ corpus.

    python benchmarks/convert_corpus.py [--rounds 5] [--corpus ../shared/sigma] [--jobs N]

The existing tool runs from its own virtual environment, `.venv-bench` (created on first use, versions
pinned below). Both tools convert the same rule directories in the same run, alternating, for several
rounds; this project with an empty cache ("cold") and then again with that cache filled ("cached").
Printed: every round, the medians, the speed ratio (existing ÷ ours, cold) and the cached re-run time.
Wall time is what counts; CPU time (user + sys of the child processes) is shown beside it because
other processes on the machine stretch wall time.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "sigma"
RULE_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
BENCH_VENV = REPO / ".venv-bench"
# The existing tool, pinned (sigma-cli 3.1 requires pySigma < 2).
EXISTING_TOOL = ["sigma-cli==3.1.0", "pysigma-backend-elasticsearch==2.1.1", "pysigma==1.5.1", "pyyaml==6.0.4"]


def ensure_bench_venv() -> Path:
    sigma = BENCH_VENV / "bin" / "sigma"
    marker = BENCH_VENV / "pinned.txt"
    if sigma.exists() and marker.exists() and marker.read_text() == "\n".join(EXISTING_TOOL):
        return sigma
    print(f"creating {BENCH_VENV} with {' '.join(EXISTING_TOOL)}", file=sys.stderr)
    shutil.rmtree(BENCH_VENV, ignore_errors=True)
    venv.create(BENCH_VENV, with_pip=True)
    subprocess.run([BENCH_VENV / "bin" / "python", "-m", "pip", "install", "-q", *EXISTING_TOOL], check=True)
    marker.write_text("\n".join(EXISTING_TOOL))
    return sigma


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall and CPU seconds of one run (its output goes to a temporary file, as a real user's would)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, env=env, text=True)
        wall = time.perf_counter() - start
        out.seek(0, os.SEEK_END)
        done.stdout = f"{out.tell()} bytes"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--jobs", type=int, default=None, help="sigma-es worker processes (default: all cores)")
    args = parser.parse_args()
    dirs = [str(args.corpus / d) for d in RULE_DIRS]
    missing = [d for d in dirs if not Path(d).is_dir()]
    if missing:
        parser.error(f"corpus directories not found: {', '.join(missing)}")
    rules = sum(1 for d in dirs for _, _, files in os.walk(d) for f in files if f.endswith((".yml", ".yaml")))

    existing = [str(ensure_bench_venv()), "convert", "-s", "-t", "lucene", "-p", "ecs_windows", *dirs]
    # Both tools start from bytecode, as installed packages do (pip compiles a wheel's modules; this checkout's
    # are compiled here, since an environment with PYTHONDONTWRITEBYTECODE would compile them on every run).
    compileall.compile_dir(REPO / "sigma_es_backend", quiet=1)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    ours = [sys.executable, "-m", "sigma_es_backend.cli", "convert", "-t", "es_lucene", "--no-progress",
            *(["-j", str(args.jobs)] if args.jobs else []), *dirs]
    print(f"corpus: {rules} rule files in {', '.join(RULE_DIRS)} under {args.corpus}; {os.cpu_count()} cores; "
          f"{args.rounds} rounds, alternating", flush=True)
    print(f"existing: {' '.join(existing[:7])} …\nours:     sigma-es {' '.join(ours[3:8])} …", flush=True)

    times: dict[str, list[float]] = {"existing": [], "ours cold": [], "ours cached": []}
    cpus: dict[str, list[float]] = {k: [] for k in times}
    summaries: dict[str, str] = {}
    for round_no in range(1, args.rounds + 1):
        cache_dir = tempfile.mkdtemp(prefix="sigma-es-bench-cache-")
        try:
            runs = [("ours cold", ours), ("ours cached", ours), ("existing", existing)]
            if round_no % 2 == 0:  # alternate who goes first
                runs = [runs[2], runs[0], runs[1]]
            notes = []
            for name, command in runs:
                command = [*command[:4], "--cache-dir", cache_dir, *command[4:]] if name.startswith("ours") else command
                wall, cpu, done = timed(command, env if name.startswith("ours") else None)
                if done.returncode not in (0, 1):  # 1: some rules failed, which both tools report
                    print(done.stderr, file=sys.stderr)
                    raise SystemExit(f"{name} exited {done.returncode}")
                times[name].append(wall)
                cpus[name].append(cpu)
                notes.append(f"{name} {wall:6.2f} s (cpu {cpu:5.2f})")
                if round_no == 1 and name.startswith("ours"):
                    summaries[name] = last_line(done.stderr)
            print(f"round {round_no}: " + " | ".join(notes), flush=True)
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)
        if round_no == 1:
            for name, summary in summaries.items():
                print(f"  {name}: {summary}", flush=True)

    median = {k: statistics.median(v) for k, v in times.items()}
    cpu_median = {k: statistics.median(v) for k, v in cpus.items()}
    print("\nmedians over", args.rounds, "rounds (wall, cpu):")
    for name in times:
        print(f"  {name:<12} {median[name]:6.2f} s   {cpu_median[name]:6.2f} s")
    print(f"speed-up, cold cache: {median['existing'] / median['ours cold']:.1f}× (wall), "
          f"{cpu_median['existing'] / cpu_median['ours cold']:.1f}× (cpu)")
    print(f"cached re-run: {median['ours cached']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
