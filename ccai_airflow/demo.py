"""``make demo``: run the example pipeline end to end against the bundled emulator.

Starts the emulator on free loopback ports, runs ``airflow dags test ccai_issue_model_lifecycle``
in a throwaway AIRFLOW_HOME (SQLite, no other service), stops the emulator and prints what a
person wants to see: the operations, the model and its issues. Exits non-zero if the run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ccai_airflow.emulator.process import EmulatorProcess

DAG_ID = "ccai_issue_model_lifecycle"
EXAMPLE_DAGS = Path(__file__).parent / "example_dags"
PROJECT = "demo-project"


def _airflow(args: list[str], env: dict[str, str], log: Path) -> int:
    with log.open("a") as out:
        out.write(f"\n$ airflow {' '.join(args)}\n")
        out.flush()
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode


def _results(dag_id: str) -> tuple[str, dict[str, str], dict[str, Any] | None]:
    """The last run's state, its task states and the report task's return value, from the database."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
        ).first()
        if run is None:
            return "missing", {}, None
        tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
        query = XComModel.get_many(run_id=run.run_id, dag_ids=dag_id, task_ids="report", key="return_value")
        row = session.scalars(query).first()
        summary = XComModel.deserialize_value(row) if row is not None else None
        return str(run.state), tasks, summary


def _print_summary(dag_id: str, state: str, tasks: dict[str, str], summary: dict[str, Any] | None,
                   counts: dict[str, int], seconds: float, log: Path) -> None:
    print()
    print(f"DAG run {dag_id}: {state} in {seconds:.0f} s")
    print("  tasks: " + ", ".join(f"{task}={task_state}" for task, task_state in tasks.items()))
    if summary:
        print(f"  create operation:  {summary['create_operation']}")
        print(f"  deploy operation:  {summary['deploy_operation'] or '(not deployed: quality gate failed)'}")
        print(f"  issue model:       {summary['issue_model_name']}")
        print(f"  state:             {summary['state']}")
        print(f"  analyzed:          {summary['analyzed_conversations']} conversations "
              f"({summary['unclassified_conversations']} unclassified)")
        print()
        width = max((len(row["display_name"]) for row in summary["issues"]), default=5)
        print(f"  {'issue':<{width}}  labeled conversations")
        print(f"  {'-' * width}  ---------------------")
        for row in summary["issues"]:
            print(f"  {row['display_name']:<{width}}  {row['labeled_conversations']:>21}")
    print()
    print("  emulator calls: " + ", ".join(f"{rpc}={n}" for rpc, n in sorted(counts.items())))
    print(f"  full log: {log}")


def _failures(log: Path) -> list[str]:
    """The failure messages our operators and sensors raised, as they appear in the log."""
    marker = "ContactCenterInsightsOperation"
    found = [line.split(": ", 1)[1].strip() for line in log.read_text().splitlines()
             if marker in line and "Error: " in line]
    return list(dict.fromkeys(found))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--dags-folder", default=str(EXAMPLE_DAGS),
                        help="folder with the DAGs (default: the example DAGs shipped in the package)")
    parser.add_argument("--dag-id", default=DAG_ID, help=f"the DAG to run (default: {DAG_ID})")
    parser.add_argument("--fail-next-operations", type=int, default=0, metavar="N",
                        help="make the emulator fail the next N operations, to see a failed run")
    parser.add_argument("--operation-seconds", type=float, default=4.0, help="emulated operation duration")
    parser.add_argument("--workdir", default=None, help="where AIRFLOW_HOME and logs go (default: a temp dir)")
    args = parser.parse_args(argv)

    dags_folder = Path(args.dags_folder).resolve()
    if not (dags_folder / f"{args.dag_id}.py").is_file():
        raise SystemExit(f"Invalid --dags-folder {str(dags_folder)!r} or --dag-id {args.dag_id!r}: expected a "
                         f"folder holding {args.dag_id}.py.")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ccai-demo-")).resolve()
    home = workdir / "airflow"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    log = workdir / "demo.log"
    log.write_text("")

    started = time.monotonic()
    emulator = EmulatorProcess(args.operation_seconds).start()
    print(f"Emulator: gRPC {emulator.grpc_target}, REST {emulator.rest_url}")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": PROJECT}}
        ),
        "CONTACT_CENTER_INSIGHTS_EMULATOR_HOST": emulator.grpc_target,
        "CONTACT_CENTER_INSIGHTS_EMULATOR_REST": emulator.rest_url,
    }
    try:
        print(f"Airflow home: {home}")
        if _airflow(["db", "migrate"], env, log) != 0:
            print(f"airflow db migrate failed; see {log}", file=sys.stderr)
            return 1
        if args.fail_next_operations:
            emulator.control("failNextOperations", {"n": args.fail_next_operations, "code": "FAILED_PRECONDITION",
                                                    "message": "Not enough conversations to train a model"})
        print(f"Running {args.dag_id} with airflow dags test ...")
        code = _airflow(["dags", "test", args.dag_id], env, log)
        counts = emulator.control("callCounts")
    finally:
        emulator.stop()

    os.environ.update({k: v for k, v in env.items() if k.startswith("AIRFLOW")})
    state, tasks, summary = _results(args.dag_id)
    _print_summary(args.dag_id, state, tasks, summary, counts, time.monotonic() - started, log)
    if code != 0 or state != "success":
        for line in _failures(log):
            print(f"  {line}", file=sys.stderr)
        print(f"\nThe DAG run failed (airflow exit code {code}, state {state}); see {log}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
