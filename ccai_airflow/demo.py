"""``make demo``: run the example pipeline end to end against the bundled emulator.

Starts the emulator on free loopback ports, runs ``airflow dags test ccai_issue_model_lifecycle``
in a throwaway AIRFLOW_HOME (SQLite, no other service), stops the emulator and prints what a
person wants to see: the operations, the model and its issues. Exits non-zero if a run failed.

``--weeks 2`` runs the DAG for two consecutive weeks against the same emulator: the second run
swaps its new model in for the first week's, and the demo prints every model's state at the end
(the previous one UNDEPLOYED, the new one DEPLOYED).

``--dag-id ccai_issue_model_promotion`` first trains and deploys a model in the dev project (before
each week's run, as dev's own weekly lifecycle would), then runs the promotion into the prod project.

``--pubsub`` starts Google's Pub/Sub emulator too and prints the notifications the run caused
(``demo_notifications``).
"""

from __future__ import annotations

import argparse
import base64
import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ccai_airflow.demo_notifications import DemoNotifications
from ccai_airflow.emulator.process import EmulatorProcess

DAG_ID = "ccai_issue_model_lifecycle"
# The example DAGs: dags/ of a checkout (an editable install maps it), ccai_airflow/example_dags/ of a wheel.
EXAMPLE_DAGS = Path(str(importlib.resources.files("ccai_airflow.example_dags")))
PROJECT = "demo-project"
# ccai_issue_model_promotion's default projects (its DEV_PROJECT and PROD_PROJECT).
PROMOTION = ("ccai_issue_model_promotion", "ccai-dev", "ccai-prod")


def _airflow(args: list[str], env: dict[str, str], log: Path) -> int:
    with log.open("a") as out:
        out.write(f"\n$ airflow {' '.join(args)}\n")
        out.flush()
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode


def _results(dag_id: str) -> list[tuple[str, dict[str, str], dict[str, Any] | None]]:
    """Each run's state, its task states and the report task's return value, oldest first, from the database."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    found: list[tuple[str, dict[str, str], dict[str, Any] | None]] = []
    with create_session() as session:
        for run in session.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id)):
            tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
            query = XComModel.get_many(run_id=run.run_id, dag_ids=dag_id, task_ids="report", key="return_value")
            row = session.scalars(query).first()
            found.append((str(run.state), tasks, XComModel.deserialize_value(row) if row is not None else None))
    return found or [("missing", {}, None)]


def _rest(rest_url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One call of the emulator's REST API (POST when there is a body), its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{rest_url}/v1/{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return dict(json.load(answer))


def _issue_models(rest_url: str, project: str = PROJECT) -> list[dict[str, Any]]:
    """A project's issue models as the emulator holds them now (its REST API, as the client sends it)."""
    return list(_rest(rest_url, f"projects/{project}/locations/us-central1/issueModels").get("issueModels", []))


def _seed_dev_model(rest_url: str, date: str | None) -> None:
    """Train a model in the promotion's dev project and deploy it there in place of the deployed one."""

    def done(operation: dict[str, Any]) -> dict[str, Any]:
        while not operation.get("done"):
            time.sleep(0.2)
            operation = _rest(rest_url, operation["name"])
        if "error" in operation:
            raise SystemExit(f"Seeding the dev project failed: {operation['error']}")
        return operation

    parent = f"projects/{PROMOTION[1]}/locations/us-central1"
    name = f"dev-topics-{(date or datetime.now(UTC).isoformat())[:10]}"
    model = done(_rest(rest_url, f"{parent}/issueModels", {"displayName": name}))["response"]["name"]
    for other in _issue_models(rest_url, PROMOTION[1]):
        if other.get("state") == "DEPLOYED":
            done(_rest(rest_url, f"{other['name']}:undeploy", {}))
    done(_rest(rest_url, f"{model}:deploy", {}))
    print(f"Dev project: {model} ({name}) trained and DEPLOYED")


def _print_run(dag_id: str, state: str, tasks: dict[str, str], summary: dict[str, Any] | None,
               seconds: float | None) -> None:
    print()
    print(f"DAG run {dag_id}: {state}" + ("" if seconds is None else f" in {seconds:.0f} s"))
    print("  tasks: " + ", ".join(f"{task}={task_state}" for task, task_state in tasks.items()))
    if summary and "dev_issue_model_name" in summary:
        _print_promotion(summary)
    elif summary and "create_operation" not in summary:  # another example's report: its keys as they are
        for key, value in summary.items():
            long_list = isinstance(value, list) and len(value) > 3
            shown = [*value[:3], f"... {len(value)} in all"] if long_list else value
            print(f"  {key + ':':<23}{shown}")
    elif summary:
        print(f"  create operation:  {summary['create_operation']}")
        print(f"  deploy operation:  {summary['deploy_operation'] or '(not deployed: quality gate failed)'}")
        print(f"  issue model:       {summary['issue_model_name']}")
        print(f"  state:             {summary['state']}")
        if summary.get("previous_issue_model_name"):
            print(f"  replaced model:    {summary['previous_issue_model_name']} (now {summary['previous_state']}; "
                  f"undeploy operation {summary['undeploy_operation']})")
        print(f"  analyzed:          {summary['analyzed_conversations']} conversations "
              f"({summary['unclassified_conversations']} unclassified)")
        print()
        width = max((len(row["display_name"]) for row in summary["issues"]), default=5)
        print(f"  {'issue':<{width}}  labeled conversations")
        print(f"  {'-' * width}  ---------------------")
        for row in summary["issues"]:
            print(f"  {row['display_name']:<{width}}  {row['labeled_conversations']:>21}")


def _print_promotion(summary: dict[str, Any]) -> None:
    print(f"  dev model:         {summary['dev_issue_model_name']}")
    print(f"  exported to:       {summary['object_uri']}")
    print(f"  prod model:        {summary['issue_model_name']}")
    print(f"  state:             {summary['state']}")
    if summary.get("previous_issue_model_name"):
        print(f"  replaced model:    {summary['previous_issue_model_name']} (now {summary['previous_state']}; "
              f"undeploy operation {summary['undeploy_operation']})")
    issues = summary.get("issues") or {}
    width = max((len(name) for name in issues), default=5)
    print()
    print(f"  {'issue':<{width}}  labeled conversations (dev = prod)")
    print(f"  {'-' * width}  ---------------------")
    for name, count in sorted(issues.items(), key=lambda item: -(item[1] or 0)):
        print(f"  {name:<{width}}  {count if count is not None else '-':>21}")


def _print_footer(models: list[dict[str, Any]], counts: dict[str, int], log: Path) -> None:
    print()
    print("  issue models now:" + ("" if models else " none"))
    for model in models:
        print(f"    {model['name']}  {model.get('state', 'STATE_UNSPECIFIED'):<10}  {model.get('displayName', '')}")
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
    parser.add_argument("--weeks", type=int, default=1,
                        help="run the DAG for this many consecutive weeks against one emulator (default 1); "
                        "from the second week on, the run swaps its model in for the previous week's")
    parser.add_argument("--conf", default=None, metavar="JSON",
                        help="the DAG run's conf (params), e.g. '{\"dry_run\": false}' for ccai_conversation_retention")
    parser.add_argument("--logical-date", default=None, metavar="YYYY-MM-DD",
                        help="the first run's logical date (default: now, minus a week per extra week)")
    parser.add_argument("--pubsub", action="store_true",
                        help="start Google's Pub/Sub emulator, send the location's notifications to a topic of it "
                        "and print what arrived on its subscription")
    args = parser.parse_args(argv)
    if args.weeks < 1:
        raise SystemExit(f"Invalid --weeks {args.weeks!r}: expected an integer >= 1.")
    dates = _logical_dates(args.weeks, args.logical_date)

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
    notifications = DemoNotifications(PROJECT).start() if args.pubsub else None
    try:
        emulator = EmulatorProcess(args.operation_seconds).start()
    except BaseException:
        if notifications is not None:
            notifications.stop()
        raise
    print(f"Emulator: gRPC {emulator.grpc_target}, REST {emulator.rest_url}")
    if notifications is not None:
        try:
            emulator.controls.set_pubsub_emulator_host(notifications.host)
            notifications.notify(emulator.rest_url)
        except BaseException:
            emulator.stop()
            notifications.stop()
            raise
        print(f"Pub/Sub: Google's emulator on {notifications.host}, notifications to {notifications.topic}")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        # One key for every airflow command of the run: the rows of an AssetWatcher's trigger are encrypted at
        # parse time, and a key made up by each process could not read the previous one's (InvalidToken). A Fernet key
        # is 32 random bytes in url-safe base64.
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": PROJECT}}
        ),
        "CONTACT_CENTER_INSIGHTS_EMULATOR_HOST": emulator.grpc_target,
        "CONTACT_CENTER_INSIGHTS_EMULATOR_REST": emulator.rest_url,
        **({"PUBSUB_EMULATOR_HOST": notifications.host} if notifications else {}),
    }
    try:
        print(f"Airflow home: {home}")
        if _airflow(["db", "migrate"], env, log) != 0:
            print(f"airflow db migrate failed; see {log}", file=sys.stderr)
            return 1
        if args.fail_next_operations:
            reason = "Not enough conversations to train a model"
            emulator.controls.fail_next_operations(args.fail_next_operations, "FAILED_PRECONDITION", reason)
        if args.dag_id == RETENTION_DAG_ID:
            _seed_conversations(emulator)
        codes = []
        conf = ["--conf", args.conf] if args.conf else []
        for date in dates:
            # The same emulator every week: the second week's deploy meets the first week's model deployed.
            if args.dag_id == PROMOTION[0]:
                _seed_dev_model(emulator.rest_url, date)
            print(f"Running {args.dag_id} with airflow dags test {date or ''}...")
            codes.append(_airflow(["dags", "test", args.dag_id, *([date] if date else []), *conf], env, log))
            if codes[-1] != 0:
                break
        counts = emulator.controls.call_counts()
        models = _issue_models(emulator.rest_url, PROMOTION[2] if args.dag_id == PROMOTION[0] else PROJECT)
        notified = notifications.summary(notifications.pulled()) if notifications else []
    finally:
        emulator.stop()
        if notifications is not None:
            notifications.stop()

    os.environ.update({k: v for k, v in env.items() if k.startswith("AIRFLOW")})
    runs = _results(args.dag_id)
    for index, (state, tasks, summary) in enumerate(runs):
        _print_run(args.dag_id, state, tasks, summary, time.monotonic() - started if index == len(runs) - 1 else None)
    _print_footer(models, counts, log)
    for line in notified:
        print(line)
    failed = [state for state, _, _ in runs if state != "success"]
    if any(codes) or failed or len(runs) < len(dates):
        for line in _failures(log):
            print(f"  {line}", file=sys.stderr)
        print(f"\nThe DAG run failed (airflow exit codes {codes}, states {[r[0] for r in runs]}); see {log}",
              file=sys.stderr)
        return 1
    return 0


RETENTION_DAG_ID = "ccai_conversation_retention"


def _seed_conversations(emulator: EmulatorProcess) -> None:
    """What the retention example needs: conversations on both sides of its default window (365 days)."""
    parent = f"projects/{PROJECT}/locations/us-central1"
    old = emulator.controls.seed_conversations(parent, 12, age_days=400)
    new = emulator.controls.seed_conversations(parent, 30, age_days=20)
    print(f"Seeded {parent} with {len(old)} conversations 400 days old and {len(new)} 20 days old.")


def _logical_dates(weeks: int, first: str | None) -> list[str | None]:
    """One logical date a week; a single run without --logical-date lets ``dags test`` take now."""
    if weeks == 1 and first is None:
        return [None]
    if first is None:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(weeks=weeks - 1)
    else:
        try:
            start = datetime.fromisoformat(first).replace(tzinfo=UTC)
        except ValueError:
            raise SystemExit(f"Invalid --logical-date {first!r}: expected a date YYYY-MM-DD.") from None
    return [(start + timedelta(weeks=week)).isoformat() for week in range(weeks)]


if __name__ == "__main__":
    sys.exit(main())
