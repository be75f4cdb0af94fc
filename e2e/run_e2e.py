"""``make e2e``: the provider on a real Airflow deployment, with a triggerer killed mid-wait.

PostgreSQL (from the OS packages, started on a private port), ``airflow db migrate``, then the API
server, scheduler, DAG processor and triggerer with the LocalExecutor, all on loopback, and the
emulator. It then:

1. triggers ``ccai_issue_model_lifecycle`` with ``airflow dags test``'s big brother,
   ``airflow dags trigger``; while the sensor is deferred it ``kill -9``s the triggerer and starts
   a new one; the run must still succeed, the XComs read back through the REST API must match the
   emulator's issue model, the model must have been created exactly once and nothing cancelled;
   every task's extra links, read through the REST API as the UI reads them (the sensor's also
   while it was deferred), must be the expected URLs;
2. runs 50 DAG runs of a sensor-only DAG at once and reports how many worker slots were busy while
   they waited (deferrable sensors should hold none).

Every process is stopped at the end by its own PID; logs stay under the work folder, and when a
component does not come up the script fails with the tail of that component's log.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from google.cloud.contact_center_insights_v1 import types

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: e2e.deployment beside it

from ccai_airflow.emulator import EmulatorControl  # noqa: E402
from e2e.deployment import (  # noqa: E402
    AIRFLOW,
    Api,
    E2EError,
    Stack,
    airflow_env,
    create_database,
    free_port,
    migrate,
    start_emulator,
    start_postgres,
    stop_postgres,
    wait_for,
    wait_for_dags,
)

LIFECYCLE = "ccai_issue_model_lifecycle"
SENSOR_ONLY = "ccai_e2e_sensor_only"
PROJECT = "e2e-project"
PARENT = f"projects/{PROJECT}/locations/us-central1"


# -- the checks ---------------------------------------------------------------------------------
def check_lifecycle_with_triggerer_kill(
    stack: Stack, api: Api, controls: EmulatorControl, airflow: list[str]
) -> dict[str, Any]:
    print("\n[1] ccai_issue_model_lifecycle, with the triggerer killed while the sensor is deferred", flush=True)
    before = controls.call_counts()
    trigger = subprocess.run([*airflow, "dags", "trigger", LIFECYCLE, "-o", "json"], env=stack.env,
                             capture_output=True, text=True, check=False)
    if trigger.returncode != 0:
        raise E2EError(f"airflow dags trigger failed:\n{trigger.stdout}\n{trigger.stderr}")
    run_id = json.loads(trigger.stdout.strip().splitlines()[-1])[0]["dag_run_id"]
    print(f"  triggered run {run_id}", flush=True)

    wait_for("wait_for_training to be deferred",
             lambda: api.ti_state(LIFECYCLE, run_id, "wait_for_training") == "deferred",
             timeout=240, log=stack.log("scheduler"))
    time.sleep(3)  # let the triggerer pick the trigger up
    # What the UI shows for the deferred sensor: the operation's URL already, not a link to come.
    deferred_links = api.links(LIFECYCLE, run_id, "wait_for_training")
    pid = stack.kill9("triggerer")
    print(f"  kill -9 triggerer (pid {pid}) while the sensor is deferred", flush=True)
    stack.start("triggerer-2", [*airflow, "triggerer"])

    state = wait_for(f"run {run_id} to finish",
                     lambda: (s := api.run_state(LIFECYCLE, run_id)) in ("success", "failed") and s,
                     timeout=420, every=2, log=stack.log("triggerer-2"))
    if state != "success":
        tasks = api.get(f"/dags/{LIFECYCLE}/dagRuns/{run_id}/taskInstances")["task_instances"]
        raise E2EError(f"run {run_id} ended {state}: {[(t['task_id'], t['state']) for t in tasks]}")

    name = api.xcom(LIFECYCLE, run_id, "wait_for_training", "issue_model_name")
    stats = api.xcom(LIFECYCLE, run_id, "wait_for_training", "training_stats")
    response = api.xcom(LIFECYCLE, run_id, "wait_for_training", "return_value")
    from google.protobuf import json_format

    from ccai_airflow.hooks import ContactCenterInsightsHook

    model = json_format.MessageToDict(ContactCenterInsightsHook().get_issue_model(name)._pb)
    problems = []
    if stats != model["trainingStats"]:
        problems.append(f"training_stats {stats} != {model['trainingStats']}")
    if response.get("name") != model["name"] or response.get("trainingStats") != model["trainingStats"]:
        problems.append(f"return_value {response} does not match {model}")
    if model["state"] != "DEPLOYED":
        problems.append(f"model state {model['state']}, expected DEPLOYED")
    after = controls.call_counts()
    created = after.get("CreateIssueModel", 0) - before.get("CreateIssueModel", 0)
    cancelled = after.get("CancelOperation", 0) - before.get("CancelOperation", 0)
    if created != 1:
        problems.append(f"CreateIssueModel called {created} times, expected once")
    if cancelled != 0:
        problems.append(f"CancelOperation called {cancelled} times, expected never")
    if problems:
        raise E2EError("; ".join(problems))
    print(f"  success: model {name} DEPLOYED, XComs match GetIssueModel, created once, never cancelled", flush=True)
    links = check_lifecycle_links(api, run_id, name, deferred_links)
    return {"run_id": run_id, "issue_model_name": name, "create_calls": created, "cancel_calls": cancelled,
            "links": links}


def check_lifecycle_links(api: Api, run_id: str, model_name: str,
                          deferred_links: dict[str, str | None]) -> dict[str, dict[str, str | None]]:
    """Every task's extra links through the REST API (the UI's call), each URL checked against its pattern."""
    console = f"https://console.cloud.google.com/contact-center/insights?project={PROJECT}"
    rest = "https://contactcenterinsights.googleapis.com/v1/"
    create_operation = api.xcom(LIFECYCLE, run_id, "create_issue_model", "operation_name")
    deploy_operation = api.xcom(LIFECYCLE, run_id, "deploy_issue_model", "operation_name")
    operation_link = {"Contact Center Insights Operation (REST API)": rest + create_operation}
    expected: dict[str, dict[str, str | None]] = {
        # It did not wait, so the model it creates is not known to it.
        "create_issue_model": {"Contact Center Insights": console, **operation_link,
                               "Contact Center Insights Issue Model (REST API)": None},
        "wait_for_training": operation_link,
        "deploy_issue_model": {"Contact Center Insights": console,
                               "Contact Center Insights Operation (REST API)": rest + deploy_operation,
                               "Contact Center Insights Issue Model (REST API)": rest + model_name},
    }
    if deferred_links != operation_link:
        raise E2EError(f"links of the deferred wait_for_training: {deferred_links}, expected {operation_link}")
    print(f"  links ok while deferred: wait_for_training: {rest + create_operation}", flush=True)
    found = {}
    for ti in api.get(f"/dags/{LIFECYCLE}/dagRuns/{run_id}/taskInstances")["task_instances"]:
        task_id = ti["task_id"]
        found[task_id] = api.links(LIFECYCLE, run_id, task_id)
        wanted = expected.get(task_id, {})  # the other tasks (gate, report, ...) have no links
        if found[task_id] != wanted:
            raise E2EError(f"links of {task_id}: {found[task_id]}, expected {wanted}")
        for link_name, url in sorted(wanted.items()):
            print(f"  links ok: {task_id}: {link_name}: {url}", flush=True)
    if not set(expected) <= set(found):
        raise E2EError(f"no task instances {sorted(set(expected) - set(found))} in run {run_id}")
    return found


def check_many_deferred_sensors(stack: Stack, api: Api, controls: EmulatorControl, runs: int) -> dict[str, Any]:
    print(f"\n[2] {runs} concurrent runs of {SENSOR_ONLY} (deferrable)", flush=True)
    from ccai_airflow.hooks import ContactCenterInsightsHook

    # Long enough for all runs to start and defer first. A trigger that fires right after its task
    # deferred can meet an Airflow scheduler race (a stale executor "success" from the defer-exit
    # fails the resumed task: apache/airflow#66374, #67287, #72716), which is not what this measures.
    controls.set_operation_seconds(240)
    hook = ContactCenterInsightsHook()
    names = [hook.start_operation(types.CreateIssueModelRequest(
        parent=PARENT, issue_model={"display_name": f"e2e-{i}"})).name for i in range(runs)]
    started = time.monotonic()
    run_ids = [api.post(f"/dags/{SENSOR_ONLY}/dagRuns", {"logical_date": None, "conf": {"operation_name": n}})[
        "dag_run_id"] for n in names]
    busy_max, deferred_max, samples = 0, 0, 0
    while True:
        tis = api.get(f"/dags/{SENSOR_ONLY}/dagRuns/~/taskInstances", limit=500)["task_instances"]
        ours = [t for t in tis if t["dag_run_id"] in run_ids]
        states = [t["state"] for t in ours]
        deferred = states.count("deferred")
        busy = states.count("running")
        if deferred:
            samples += 1
            busy_max = max(busy_max, busy) if deferred == runs else busy_max
            deferred_max = max(deferred_max, deferred)
        if len(ours) == runs and all(s in ("success", "failed", "skipped", "upstream_failed") for s in states):
            break
        if time.monotonic() - started > 900:
            raise E2EError(f"{SENSOR_ONLY} runs not finished after 900 s: {states}")
        time.sleep(1)
    # The scheduler marks a run done on its next pass after the run's last task ended: wait for that.
    def final_run_states() -> set[str] | None:
        states = {api.run_state(SENSOR_ONLY, r) for r in run_ids}
        return None if states & {"queued", "running"} else states

    finals = wait_for("the runs' own states to be final", final_run_states, 120, every=2,
                      log=stack.log("scheduler"))
    if finals != {"success"}:
        raise E2EError(f"{SENSOR_ONLY} runs ended {finals}")
    result = {"runs": runs, "all_succeeded": True, "max_deferred_at_once": deferred_max,
              "worker_slots_busy_while_all_deferred": busy_max, "seconds": round(time.monotonic() - started, 1)}
    print(f"  all {runs} succeeded in {result['seconds']} s; up to {deferred_max} deferred at once, "
          f"{busy_max} worker slots busy while all were deferred", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make e2e", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(REPO / ".e2e"), help="logs and state (default .e2e/)")
    parser.add_argument("--runs", type=int, default=50, help="concurrent sensor-only runs (default 50)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "logs").mkdir(parents=True)
    dags = workdir / "dags"
    dags.mkdir()
    for source in [*(REPO / "dags").glob("ccai_*.py"), *(REPO / "e2e" / "dags").glob("*.py")]:
        shutil.copy(source, dags / source.name)

    pg_port, api_port = free_port(), free_port()
    home = workdir / "airflow"
    home.mkdir()
    airflow = AIRFLOW
    pg_pid = None
    stack: Stack | None = None
    print(f"Work folder: {workdir}", flush=True)
    try:
        _, pg_pid = start_postgres(workdir, pg_port)
        print(f"  started postgres (pid {pg_pid}) on 127.0.0.1:{pg_port}", flush=True)
        create_database(pg_port)
        env = airflow_env(home, dags, pg_port, api_port, "LocalExecutor", PROJECT,
                          AIRFLOW__CORE__PARALLELISM="16",
                          AIRFLOW__SCHEDULER__TRIGGERER_HEALTH_CHECK_THRESHOLD="10",
                          AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="2")
        stack = Stack(workdir, env)
        emu = start_emulator(stack, operation_seconds=40)
        migrate(stack)
        for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
            stack.start(name, [*airflow, name])
        api = Api(f"http://127.0.0.1:{api_port}")
        wait_for("the API server", api.login, 120, log=stack.log("api-server"))
        for name in ("scheduler", "dag-processor", "triggerer"):
            stack.check_alive(name)
        wait_for_dags(api, {LIFECYCLE, SENSOR_ONLY}, stack, timeout=120)

        with EmulatorControl(emu["rest_url"], timeout=10) as controls:
            results = {
                "lifecycle": check_lifecycle_with_triggerer_kill(stack, api, controls, airflow),
                "sensor_only": check_many_deferred_sensors(stack, api, controls, args.runs),
            }
        (workdir / "results.json").write_text(json.dumps(results, indent=2))
        print(f"\nE2E passed. Results: {workdir / 'results.json'}; logs: {stack.logs}", flush=True)
        return 0
    except E2EError as exc:
        print(f"\nE2E FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("\nStopping everything:", flush=True)
        if stack is not None:
            stack.stop_all()
        if pg_pid is not None:
            stop_postgres(pg_pid)


if __name__ == "__main__":
    sys.exit(main())
