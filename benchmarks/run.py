"""``make bench``: every benchmark of ccai-airflow in one run; writes results.json and the README table.

Each part runs in its own process against its own emulator process (``python -m ccai_airflow.emulator``),
started here and always stopped here. ``--quick`` is a smoke test with small sizes (results go to a temp
file, the README is left alone); ``--parts`` runs a subset.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, airflow_env, emulator, machine, run_json
from benchmarks.report import README_PATH, targets, update_readme
from benchmarks.report import render as render_report

PARTS = ("overhead", "scale", "decode", "policy", "worker", "budget")
BUDGET_CONN = {"conn_type": "google_cloud_platform", "extra": {"requests_per_second": "20"}}


def part_overhead(quick: bool) -> dict[str, Any]:
    rounds = "300" if quick else "2000"
    with emulator() as emu:
        result = run_json("benchmarks.poll_overhead", ["--rest-url", emu.rest_url, "--rounds", rounds],
                          airflow_env(grpc_target=emu.grpc_target), 900)
    return {"poll_overhead_ratio": result["running"]["ratio"], "poll_overhead_ratio_done": result["done"]["ratio"],
            "poll_overhead": result}


def part_scale(quick: bool) -> dict[str, Any]:
    sizes = (200, 500) if quick else (1000, 5000, 10000)
    interval, spread = (5.0, 10.0) if quick else (30.0, 60.0)
    runs = []
    for n in sizes:
        with emulator() as emu:
            env = {**airflow_env(grpc_target=emu.grpc_target), "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
            lead = 5.0 + 0.002 * n  # creating the operations takes ~1.4 ms each: none is due before all polled once
            args = ["--n", str(n), "--poll-interval", str(interval), "--lead", str(lead), "--spread", str(spread),
                    "--rest-url", emu.rest_url, "--emulator-pid", str(emu.pid)]
            runs.append(run_json("benchmarks.trigger_scale", args, env, 1200))
    # A triggerer restart: N triggers started at one instant on operations that are done at the first look.
    with emulator() as emu:
        args = ["--n", str(sizes[1]), "--lead", "0", "--spread", "0", "--rest-url", emu.rest_url,
                "--emulator-pid", str(emu.pid)]
        burst = run_json("benchmarks.trigger_scale", args, airflow_env(grpc_target=emu.grpc_target), 900)
    return {"trigger_scale": runs, "trigger_scale_burst": burst}


def part_decode(quick: bool) -> dict[str, Any]:
    result = run_json("benchmarks.decode", [], airflow_env(), 600)
    return {"decode_ratio": result["decode_ratio"], "size_guard_ratio": result["size_guard_ratio"], "decode": result}


def part_policy(quick: bool) -> dict[str, Any]:
    with emulator() as emu:
        args = ["--rest-url", emu.rest_url, "--repeats", "3" if quick else "20"]
        result = run_json("benchmarks.polling_policy", args, airflow_env(grpc_target=emu.grpc_target), 1200)
    return {"polling_policies": result}


def part_worker(quick: bool) -> dict[str, Any]:
    seconds = 12.0 if quick else 60.0
    workdir = Path(tempfile.mkdtemp(prefix="ccai-bench-worker-"))
    with emulator(seconds) as emu:
        result = run_json("benchmarks.worker_slots", ["--grpc-target", emu.grpc_target, "--operation-seconds",
                                                      str(seconds), "--workdir", str(workdir)], {}, 1500)
    shutil.rmtree(workdir, ignore_errors=True)  # kept when the run failed, for its logs
    return {"worker_seconds_per_op": {mode: result[mode]["worker_seconds_per_op"] for mode in result},
            "worker_slots": result}


def part_budget(quick: bool) -> dict[str, Any]:
    n = 200 if quick else 5000
    with emulator(0.0) as emu:
        emu.controls.set_quota("GetOperation", 20)
        env = {**airflow_env(grpc_target=emu.grpc_target), "AIRFLOW_CONN_BENCH_BUDGET": json.dumps(BUDGET_CONN)}
        args = ["--n", str(n), "--rest-url", emu.rest_url]
        return {"polling_budget": run_json("benchmarks.polling_budget", args, env, 1200)}


RUNNERS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "overhead": part_overhead, "scale": part_scale, "decode": part_decode, "policy": part_policy,
    "worker": part_worker, "budget": part_budget,
}


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `with emulator()`: the children are stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test of the suite")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated, from {','.join(RUNNERS)} (default: {','.join(PARTS)})")
    parser.add_argument("--output", default=None, help="results file (default: benchmarks/results.json for a full "
                                                        "run, a temp file otherwise)")
    args = parser.parse_args(argv)
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(RUNNERS))
    if unknown:
        parser.error(f"unknown parts {unknown}: expected some of {list(RUNNERS)}")
    full = not args.quick and set(parts) == set(PARTS)
    output = Path(args.output) if args.output else (
        ROOT / "benchmarks" / "results.json" if full else Path(tempfile.mkdtemp(prefix="ccai-bench-")) / "results.json"
    )
    signal.signal(signal.SIGTERM, _terminate)

    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "parts": parts, "part_seconds": {}}
    failed: list[str] = []
    for part in parts:
        part_started = time.monotonic()
        print(f"[bench] {part} ...", file=sys.stderr, flush=True)
        try:
            results.update(RUNNERS[part](args.quick))
        except Exception as exc:
            failed.append(part)
            results.setdefault("errors", {})[part] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        results["part_seconds"][part] = round(time.monotonic() - part_started, 1)
        print(f"[bench] {part} done in {results['part_seconds'][part]} s", file=sys.stderr, flush=True)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = targets(results)

    output.write_text(json.dumps(results, indent=2) + "\n")
    report = render_report(results)
    print(report)
    print(f"\nresults: {output}", file=sys.stderr)
    if full and not failed:
        update_readme(README_PATH, report)
        print(f"table written into {README_PATH}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
