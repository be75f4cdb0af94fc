"""Part 5: seconds a worker slot is held per operation in poke, reschedule and deferrable mode.

Runs ``airflow dags test ccai_bench_sensor_<mode>`` (``benchmarks/dags``) in a subprocess per mode, in a
throwaway AIRFLOW_HOME with SQLite, against an emulator whose operations last ``operation_seconds`` (60 s)
real seconds; the sensor polls every 5 s. ``dags test`` runs every task in its own process, and a deferred
task's trigger inline, so the worker time is read from its log: a sensor run starts at
``[DAG TEST] running task <...wait...>`` and ends at ``[DAG TEST] end task task_id=wait`` or, when it
deferred, at ``[DAG TEST] running trigger in line`` (the trigger then runs in what would be the triggerer).
The metadata DB (task_instance, task_reschedule) is read as a cross-check.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

MODES = ("poke", "reschedule", "deferrable")
POKE_INTERVAL_S = 5.0
TARGET_OPERATION_S = 600.0
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")


def _stamp(line: str) -> float | None:
    match = _STAMP.match(line)
    if match is None:
        return None
    return datetime.datetime.fromisoformat(match[1]).replace(tzinfo=datetime.UTC).timestamp()


def sensor_runs(log: str, dag_id: str) -> list[tuple[float, float, str]]:
    """(start, end, how it ended) of every run of the ``wait`` task, from a ``dags test`` log."""
    runs: list[tuple[float, float, str]] = []
    start: float | None = None
    for line in log.splitlines():
        at = _stamp(line)
        if at is None:
            continue
        if f"[DAG TEST] running task <TaskInstance: {dag_id}.wait " in line:
            start = at
        elif start is not None and "[DAG TEST] running trigger in line" in line:
            runs.append((start, at, "deferred"))
            start = None
        elif start is not None and "[DAG TEST] end task task_id=wait " in line:
            runs.append((start, at, "ended"))
            start = None
    return runs


def database_facts(db: Path, dag_id: str) -> dict[str, Any]:
    with sqlite3.connect(db) as connection:
        row = connection.execute(
            "SELECT id, state, try_number, start_date, end_date, duration FROM task_instance "
            "WHERE dag_id = ? AND task_id = 'wait'", (dag_id,)
        ).fetchone()
        if row is None:
            return {}
        reschedules = connection.execute("SELECT COUNT(*) FROM task_reschedule WHERE ti_id = ?", (row[0],)).fetchone()
    return {"state": row[1], "try_number": row[2], "start_date": row[3], "end_date": row[4], "duration_s": row[5],
            "task_reschedule_rows": reschedules[0]}


def airflow(args: list[str], env: dict[str, str], log: Path, timeout: float) -> int:
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "airflow", *args], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
        try:
            return process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def summarize(mode: str, runs: list[tuple[float, float, str]], operation_s: float) -> dict[str, Any]:
    held = [end - start for start, end, _ in runs]
    total = sum(held)
    result: dict[str, Any] = {"sensor_runs": len(runs), "measured_worker_s": total,
                              "measured_operation_s": operation_s}
    if mode == "poke":
        # One run holds the slot for the whole wait: scale the wait to a 10-minute operation.
        result["worker_seconds_per_op"] = total / operation_s * TARGET_OPERATION_S
        result["method"] = f"measured {total:.1f} s / {operation_s:.0f} s x {TARGET_OPERATION_S:.0f} s"
    elif mode == "reschedule":
        starts = [start for start, _, _ in runs]
        cadence = (starts[-1] - starts[0]) / (len(starts) - 1) if len(starts) > 1 else POKE_INTERVAL_S
        polls = math.floor(TARGET_OPERATION_S / cadence) + 1
        per_poke = total / len(runs)
        result.update({"per_poke_s": per_poke, "cadence_s": cadence, "polls_for_10min": polls,
                       "worker_seconds_per_op": per_poke * polls,
                       "method": f"{per_poke:.3f} s per poke x {polls} pokes (600 s at the measured {cadence:.2f} s "
                                 "cadence, +1)"})
    else:
        # Two runs (before the deferral, after the resume) whatever the operation's length.
        result["worker_seconds_per_op"] = total
        result["method"] = f"{len(runs)} runs measured ({' + '.join(f'{h:.3f}' for h in held)} s), independent of " \
                           "the operation's length"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grpc-target", required=True)
    parser.add_argument("--operation-seconds", type=float, default=60.0)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    home = workdir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "benchmarks" / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "CONTACT_CENTER_INSIGHTS_EMULATOR_HOST": args.grpc_target,
    }
    results: dict[str, Any] = {}
    if airflow(["db", "migrate"], env, workdir / "migrate.log", 600) != 0:
        raise SystemExit(f"airflow db migrate failed; see {workdir / 'migrate.log'}")
    for mode in MODES:
        dag_id = f"ccai_bench_sensor_{mode}"
        log = workdir / f"{mode}.log"
        started = time.monotonic()
        code = airflow(["dags", "test", dag_id], env, log, 900)
        runs = sensor_runs(log.read_text(), dag_id)
        facts = database_facts(home / "airflow.db", dag_id)
        if code != 0 or facts.get("state") != "success" or not runs:
            raise SystemExit(f"{dag_id}: exit {code}, wait task {facts.get('state')}; see {log}")
        results[mode] = {**summarize(mode, runs, args.operation_seconds), "db": facts,
                         "dags_test_wall_s": time.monotonic() - started}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
