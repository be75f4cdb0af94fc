"""``make e2e``: the provider on a real Airflow deployment, with a triggerer killed mid-wait.

PostgreSQL (from the OS packages, started on a private port), ``airflow db migrate``, then the API
server, scheduler, DAG processor and triggerer with the LocalExecutor, all on loopback, the
emulator, and Google's Pub/Sub emulator (``ccai_airflow.emulator.pubsub``; the script fails with its
install hint when it is missing). Before the triggerer starts, the Pub/Sub emulator has the topic and
the subscription of ``ccai_export_notifications``'s watcher and the Insights emulator's location the
``export-insights-data`` notification setting naming that topic; every component has
``PUBSUB_EMULATOR_HOST`` and an anonymous ``google_cloud_default``. It then:

1. triggers ``ccai_issue_model_lifecycle`` with ``airflow dags test``'s big brother,
   ``airflow dags trigger``; while the sensor is deferred it ``kill -9``s the triggerer and starts
   a new one; the run must still succeed, the XComs read back through the REST API must match the
   emulator's issue model, the model must have been created exactly once and nothing cancelled;
   every task's extra links, read through the REST API as the UI reads them (the sensor's also
   while it was deferred), must be the expected URLs;
2. runs 50 DAG runs of a sensor-only DAG at once and reports how many worker slots were busy while
   they waited (deferrable sensors should hold none);
3. checks that [1]'s ``deploy_issue_model`` success (the asset event it records through its alias,
   ``contactcenterinsights/ccai_issue_model_lifecycle/deploy_issue_model``) made the scheduler create
   exactly one ``asset_triggered`` run of ``ccai_issue_model_promotion``: the event's extra (read
   through the REST API) names [1]'s model, DEPLOYED, with its training stats; the run, which went
   on while [2] did (its tasks are not the sensor-only runs [2] counts), succeeded, its
   ``find_dev_model`` took [1]'s model from the event and its ``report`` has the model it imported
   and deployed in ``ccai-prod``, through an object the Insights emulator wrote to a real Cloud
   Storage emulator (``gcp-storage-emulator``, ``STORAGE_EMULATOR_HOST``); it reports how long the
   scheduler took from the event to the run's queueing and start.
4. checks the event-driven ``ccai_export_notifications`` on the real triggerer: an
   ExportInsightsData operation, started through the hook right before [2] (it ends during [2]),
   makes the Insights emulator publish one notification, the asset's ``PubsubPullTrigger`` watcher
   pulls it and the scheduler creates one ``asset_triggered`` run, which must have succeeded by
   then; the asset event's extra (REST API) is ``from_trigger`` with the pulled messages, the run's
   ``check_exports`` found the export's table; it reports how long it took from the operation's
   end to the asset event and to the run's start;
5. meanwhile a deferrable sensor on that export polls every 600 s but has a subscription of its own
   on the same topic (``notification_subscription``): the notification must wake it, so that it ends
   within 30 s of the operation's end.

The scheduler creates asset-triggered runs only with ``[scheduler] use_job_schedule`` on, which
would also start the example DAGs' clock (``@weekly``, ``@daily``) runs: a DAG policy in the Airflow
home's ``config/airflow_local_settings.py`` gives the clock-scheduled DAGs no schedule instead
(their manual runs keep the same data interval), so the runs are the script's and the ones their
asset events trigger; [3] checks that no ``scheduled`` run was created.

Every process is stopped at the end by its own PID; logs stay under the work folder, and when a
component does not come up the script fails with the tail of that component's log.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from google.cloud.contact_center_insights_v1 import types

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: e2e.deployment beside it

from ccai_airflow.emulator import EmulatorControl  # noqa: E402
from ccai_airflow.emulator.gcs import StorageEmulator  # noqa: E402
from ccai_airflow.emulator.pubsub import INSTALL_HINT, PubSubEmulator, find_pubsub_emulator  # noqa: E402
from e2e.deployment import (  # noqa: E402
    AIRFLOW,
    API_SERVER,
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
PROMOTION = "ccai_issue_model_promotion"
SENSOR_ONLY = "ccai_e2e_sensor_only"
SENSOR_NOTIFIED = "ccai_e2e_sensor_notified"
NOTIFIED_BOUND_S = 30.0  # [5]: the woken sensor ends this soon after the operation, not at its 600 s poll
PROJECT = "e2e-project"
PROD_PROJECT = "ccai-prod"  # the promotion DAG's default prod_project param
PARENT = f"projects/{PROJECT}/locations/us-central1"
EXPORT_SECONDS = 120  # [4]'s export, which [5]'s notified sensor waits for (start_export)
OPERATION_SECONDS = 40  # how long the emulator's operations run, but for [2]'s
EXPORTS = "ccai_export_notifications"
TOPIC_ID = "insights-exports"  # the topic the location's export-insights-data setting names
EXPORT_DESTINATION = {"dataset": "insights", "table": "e2e"}  # [4]'s export (a table of PROJECT)
# What the Airflow home's config/airflow_local_settings.py holds (see the module docstring).
LOCAL_SETTINGS_PATH = Path("config", "airflow_local_settings.py")
LOCAL_SETTINGS = '''"""Written by e2e/run_e2e.py: no DAG of this deployment runs on the clock.

The scheduler runs with [scheduler] use_job_schedule on, as asset-triggered runs need it; the example
DAGs' clock schedules (@weekly, @daily) would then start runs beside the ones the script triggers. A DAG
scheduled on the clock gets no schedule here: its manual runs have the same (exact) data interval.
"""


def dag_policy(dag):
    try:
        from airflow.sdk.definitions.timetables.simple import NullTimetable
    except ImportError:  # Airflow 3.1's SDK DAGs hold the core timetables
        from airflow.timetables.simple import NullTimetable
    timetable = dag.timetable
    if timetable.can_be_scheduled and not timetable.asset_condition:
        dag.timetable = NullTimetable()
'''


# -- the checks ---------------------------------------------------------------------------------
def unpause(api: Api, dag_id: str) -> None:
    answer = api.session.patch(f"{api.base}/api/v2/dags/{dag_id}", json={"is_paused": False}, timeout=30)
    if answer.status_code >= 400 or answer.json().get("is_paused") is not False:
        raise E2EError(f"PATCH /dags/{dag_id} is_paused=false: {answer.status_code} {answer.text}")
    print(f"  unpaused {dag_id}", flush=True)


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
    # Those keep their 240 s; the operations started meanwhile (the promotion of [3]) go at the usual speed.
    controls.set_operation_seconds(OPERATION_SECONDS)
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


def check_asset_triggered_promotion(stack: Stack, api: Api, lifecycle: dict[str, Any]) -> dict[str, Any]:
    """[1]'s deploy_issue_model event: one asset-triggered promotion run, on [1]'s model, which succeeded."""
    print(f"\n[3] {PROMOTION}, asset-triggered by {LIFECYCLE}.deploy_issue_model", flush=True)
    model, lifecycle_run = lifecycle["issue_model_name"], lifecycle["run_id"]
    scheduler_log = stack.log("scheduler")

    events = api.get("/assets/events", source_dag_id=LIFECYCLE, source_run_id=lifecycle_run,
                     order_by="timestamp", limit=100)["asset_events"]
    deployed = [e for e in events if e["source_task_id"] == "deploy_issue_model"]
    if len(deployed) != 1:
        raise E2EError(f"{len(deployed)} asset events from {LIFECYCLE}.deploy_issue_model of run {lifecycle_run}, "
                       f"expected one; the run's events: {[(e['source_task_id'], e['uri']) for e in events]}")
    event = deployed[0]
    extra = event["extra"] or {}
    print(f"  asset event {event['id']} at {event['timestamp']}: {event['uri']}", flush=True)
    print(f"  extra: {json.dumps(extra, sort_keys=True)}", flush=True)
    problems = []
    if event["uri"] != f"contactcenterinsights://{model}":
        problems.append(f"event URI {event['uri']}, expected contactcenterinsights://{model}")
    if extra.get("resource") != model:
        problems.append(f"extra resource {extra.get('resource')!r}, expected {model!r}")
    if extra.get("state") != "DEPLOYED":
        problems.append(f"extra state {extra.get('state')!r}, expected 'DEPLOYED'")
    stats = extra.get("trainingStats")
    if not isinstance(stats, dict) or not isinstance(stats.get("analyzedConversationsCount"), int):
        problems.append(f"extra trainingStats {stats!r} has no analyzedConversationsCount")
    if problems:
        raise E2EError("; ".join(problems))

    def promotion_runs() -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = api.get(f"/dags/{PROMOTION}/dagRuns", limit=100)["dag_runs"]
        return runs

    # [2] took minutes: the run is there already, unless the scheduler never created it.
    wait_for(f"an asset-triggered run of {PROMOTION}", lambda: [r for r in promotion_runs()
                                                              if r["run_type"] == "asset_triggered"],
             timeout=60, every=2, log=scheduler_log)
    run_id = next(r["dag_run_id"] for r in promotion_runs() if r["run_type"] == "asset_triggered")

    # Not wait_for: a failed try (the DAG retries after minutes) ends the wait at once, with its log.
    deadline = time.monotonic() + 600
    while (run := api.get(f"/dags/{PROMOTION}/dagRuns/{run_id}"))["state"] not in ("success", "failed"):
        tasks = api.get(f"/dags/{PROMOTION}/dagRuns/{run_id}/taskInstances")["task_instances"]
        if any(t["state"] in ("failed", "up_for_retry") for t in tasks) or time.monotonic() > deadline:
            raise E2EError(f"{PROMOTION} run {run_id} is {run['state']} after "
                           f"{600 - deadline + time.monotonic():.0f} s: {promotion_failure(stack, api, run_id)}")
        time.sleep(3)
    print(f"  run {run_id} ({run['triggered_by']}): {run['state']}", flush=True)
    if run["state"] != "success":
        raise E2EError(f"{PROMOTION} run {run_id} ended {run['state']}: {promotion_failure(stack, api, run_id)}")
    runs = promotion_runs()
    if [(r["dag_run_id"], r["run_type"]) for r in runs] != [(run_id, "asset_triggered")]:
        raise E2EError(f"runs of {PROMOTION}: {[(r['dag_run_id'], r['run_type'], r['state']) for r in runs]}, "
                       f"expected the one asset-triggered run {run_id}")
    scheduled = api.get("/dags/~/dagRuns", run_type="scheduled", limit=100)["dag_runs"]
    if scheduled:
        raise E2EError(f"clock-scheduled runs: {[(r['dag_id'], r['dag_run_id']) for r in scheduled]}; the DAG policy "
                       f"of {LOCAL_SETTINGS_PATH} should have left none")
    created = [(r["dag_id"], r["run_id"]) for r in event["created_dagruns"]]
    consumed = api.get(f"/dags/{PROMOTION}/dagRuns/{run_id}/upstreamAssetEvents")["asset_events"]
    if (PROMOTION, run_id) not in created or event["id"] not in [e["id"] for e in consumed]:
        raise E2EError(f"event {event['id']} created the runs {created}, run {run_id} consumed the events "
                       f"{[e['id'] for e in consumed]}: expected the one to be the other's")

    dev = api.xcom(PROMOTION, run_id, "find_dev_model", "return_value")
    report = api.xcom(PROMOTION, run_id, "report", "return_value")
    source = f"from the asset event of {LIFECYCLE}.deploy_issue_model"
    log_text = task_log(stack, PROMOTION, run_id, "find_dev_model")
    if not isinstance(dev, dict) or dev.get("name") != model:
        raise E2EError(f"find_dev_model returned {dev}, expected the name {model} of [1]'s model")
    if not any(f"Promoting {model} " in line and source in line for line in log_text.splitlines()):
        raise E2EError(f"find_dev_model's log does not say it promotes {model} {source}:\n{tail(log_text)}")
    prod_model = report.get("issue_model_name") or ""
    if (report.get("dev_issue_model_name") != model or report.get("state") != "DEPLOYED"
            or not prod_model.startswith(f"projects/{PROD_PROJECT}/")):
        raise E2EError(f"report returned {report}: expected {model} promoted to a DEPLOYED model of {PROD_PROJECT}")
    object_uri = str(report.get("object_uri"))
    bucket, _, name = object_uri.removeprefix("gs://").partition("/")
    if not gcs_client().bucket(bucket).blob(name).exists():
        raise E2EError(f"the promotion's export {object_uri} is not in the Cloud Storage emulator "
                       f"{os.environ.get('STORAGE_EMULATOR_HOST')}")
    print(f"  find_dev_model took {model} {source}; deployed as {prod_model} "
          f"through {object_uri} (in the Cloud Storage emulator)", flush=True)

    at = datetime.fromisoformat(event["timestamp"])

    def seconds_after_event(key: str) -> float | None:
        return round((datetime.fromisoformat(run[key]) - at).total_seconds(), 3) if run.get(key) else None

    result = {
        "model": model, "promotion_run_id": run_id, "promotion_state": run["state"], "prod_model": prod_model,
        "object_uri": report.get("object_uri"), "asset_event_id": event["id"], "asset_event_uri": event["uri"],
        "asset_event_timestamp": event["timestamp"], "asset_event_extra": extra,
        "consumed_asset_events": len(consumed),
        "event_to_run_after_s": seconds_after_event("run_after"),
        "event_to_queued_s": seconds_after_event("queued_at"),
        "event_to_run_start_s": seconds_after_event("start_date"),
        "event_to_run_end_s": seconds_after_event("end_date"),
    }
    print(f"  success: one asset-triggered run {run_id} of {model}; from the event: queued after "
          f"{result['event_to_queued_s']} s, started after {result['event_to_run_start_s']} s, "
          f"done after {result['event_to_run_end_s']} s", flush=True)
    return result


# -- [4]: Insights' Pub/Sub notifications, the AssetWatcher, the event-driven DAG ------------------
def gcs_client() -> Any:
    """Google's Cloud Storage client, as a user's code makes it: it reads STORAGE_EMULATOR_HOST."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project=PROJECT, credentials=AnonymousCredentials())


def start_pubsub() -> PubSubEmulator:
    """Google's Pub/Sub emulator (a JVM, up in a second or two); the script fails when it is missing."""
    if find_pubsub_emulator() is None:
        raise E2EError(INSTALL_HINT)
    try:
        pubsub = PubSubEmulator().start()
    except (FileNotFoundError, RuntimeError) as exc:
        raise E2EError(str(exc)) from exc
    pid = pubsub.process.pid if pubsub.process is not None else None
    print(f"  started pubsub-emulator (pid {pid}) on {pubsub.host}", flush=True)
    return pubsub


def stop_pubsub(pubsub: PubSubEmulator, log: Path) -> None:
    """Keep its output beside the other logs, then stop it by its PID (its process group: script and java)."""
    pid = pubsub.process.pid if pubsub.process is not None else None
    log.write_bytes(pubsub.output())
    pubsub.stop()
    print(f"  stopped pubsub-emulator (pid {pid}); log {log}", flush=True)


def set_up_export_notifications() -> dict[str, str]:
    """The watcher's topic and subscription on the Pub/Sub emulator (``PUBSUB_EMULATOR_HOST`` of this process),
    and the location's ``export-insights-data`` notification naming the topic: before the triggerer starts."""
    from google.cloud import pubsub_v1

    from ccai_airflow.hooks import ContactCenterInsightsHook
    from dags.ccai_export_notifications import PUBSUB_PROJECT, SUBSCRIPTION
    from e2e.dags.ccai_e2e_sensors import NOTIFIED_SUBSCRIPTION

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(PUBSUB_PROJECT, TOPIC_ID)
    subscription = subscriber.subscription_path(PUBSUB_PROJECT, SUBSCRIPTION)
    try:
        publisher.create_topic(name=topic)
        subscriber.create_subscription(name=subscription, topic=topic)
        # [5]'s sensor: a subscription of its own gets every message too.
        subscriber.create_subscription(name=NOTIFIED_SUBSCRIPTION, topic=topic)
    finally:
        publisher.stop()
        subscriber.close()
    settings = ContactCenterInsightsHook().update_pubsub_notification_settings(
        PARENT, {"export-insights-data": topic})
    if dict(settings.pubsub_notification_settings) != {"export-insights-data": topic}:
        raise E2EError(f"UpdateSettings answered {settings.pubsub_notification_settings}, expected {topic}")
    print(f"  pubsub: {subscription} of {topic}; {PARENT}'s export-insights-data notification names it",
          flush=True)
    return {"topic": topic, "subscription": subscription}


def start_export(controls: EmulatorControl) -> str:
    """[4]'s ExportInsightsData operation, through the hook (its notification wakes the watcher when it ends).

    It runs long enough for [5]'s sensor to defer first, however slowly a busy machine parses its DAG file (30 s
    seen): a trigger that fires within a second of its task's deferral can meet Airflow's scheduler race
    (apache/airflow#66374), which fails the resumed task and is not what [5] measures."""
    from ccai_airflow.hooks import ContactCenterInsightsHook

    controls.set_operation_seconds(EXPORT_SECONDS)
    name = ContactCenterInsightsHook().start_operation(
        types.ExportInsightsDataRequest(parent=PARENT, big_query_destination=EXPORT_DESTINATION)).name
    controls.set_operation_seconds(OPERATION_SECONDS)
    print(f"\n[4] started ExportInsightsData {name} ({EXPORT_SECONDS} s; checked after [3])", flush=True)
    return str(name)


def check_export_notifications(stack: Stack, api: Api, controls: EmulatorControl, pubsub: dict[str, str],
                               operation_name: str) -> dict[str, Any]:
    """The export's notification: one asset event from the watcher, one asset-triggered run that checked it."""
    from ccai_airflow.core.outcome import Status, outcome_of
    from ccai_airflow.hooks import ContactCenterInsightsHook
    from dags.ccai_export_notifications import EXPORT_NOTIFICATIONS

    print(f"\n[4] {EXPORTS}, asset-triggered by the Pub/Sub notification of {operation_name}", flush=True)
    triggerer_log = stack.log(max((n for n in stack.procs if n.startswith("triggerer")), default="triggerer"))
    hook = ContactCenterInsightsHook()
    # It ended during [2]; a look at it again is one call.
    outcome = wait_for(f"{operation_name} to be done",
                       lambda: (o := outcome_of(hook.get_operation(operation_name))).status is not Status.RUNNING
                       and o, timeout=120, every=2)
    ended = outcome.ended_at()
    if outcome.status is not Status.SUCCEEDED or ended is None:
        raise E2EError(f"{operation_name} ended {outcome.status}: {outcome.describe_failure()} (endTime {ended})")

    def export_runs() -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = api.get(f"/dags/{EXPORTS}/dagRuns", limit=100)["dag_runs"]
        return runs

    wait_for(f"an asset-triggered run of {EXPORTS}", lambda: [r for r in export_runs()
                                                            if r["run_type"] == "asset_triggered"],
             timeout=90, every=2, log=triggerer_log)
    run_id = next(r["dag_run_id"] for r in export_runs() if r["run_type"] == "asset_triggered")
    deadline = time.monotonic() + 300
    while (run := api.get(f"/dags/{EXPORTS}/dagRuns/{run_id}"))["state"] not in ("success", "failed"):
        tasks = api.get(f"/dags/{EXPORTS}/dagRuns/{run_id}/taskInstances")["task_instances"]
        if any(t["state"] in ("failed", "up_for_retry") for t in tasks) or time.monotonic() > deadline:
            raise E2EError(f"{EXPORTS} run {run_id} is {run['state']}: {run_failure(stack, api, run_id, EXPORTS)}")
        time.sleep(2)
    print(f"  run {run_id} ({run['triggered_by']}): {run['state']}", flush=True)
    if run["state"] != "success":
        raise E2EError(f"{EXPORTS} run {run_id} ended {run['state']}: {run_failure(stack, api, run_id, EXPORTS)}")
    runs = export_runs()
    if [(r["dag_run_id"], r["run_type"]) for r in runs] != [(run_id, "asset_triggered")]:
        raise E2EError(f"runs of {EXPORTS}: {[(r['dag_run_id'], r['run_type'], r['state']) for r in runs]}, "
                       f"expected the one asset-triggered run {run_id}")

    assets = api.get("/assets", name_pattern=EXPORT_NOTIFICATIONS.name, limit=100)["assets"]
    asset = next((a for a in assets if a["name"] == EXPORT_NOTIFICATIONS.name), None)
    if asset is None:
        raise E2EError(f"no asset {EXPORT_NOTIFICATIONS.name} in {[a['name'] for a in assets]}")
    events = api.get("/assets/events", asset_id=asset["id"], order_by="timestamp", limit=100)["asset_events"]
    consumed = api.get(f"/dags/{EXPORTS}/dagRuns/{run_id}/upstreamAssetEvents")["asset_events"]
    if len(events) != 1 or [e["id"] for e in consumed] != [events[0]["id"]]:
        raise E2EError(f"asset {asset['name']} has the events {[(e['id'], e['timestamp']) for e in events]}, run "
                       f"{run_id} consumed {[e['id'] for e in consumed]}: expected one event, the run's")
    event = events[0]
    extra = event["extra"] or {}
    payload = extra.get("payload") or {}
    messages = payload.get("message") if isinstance(payload, dict) else None
    print(f"  asset event {event['id']} at {event['timestamp']}: {event['uri']} "
          f"(source: {event.get('source_dag_id')}, {event.get('source_task_id')})", flush=True)
    print(f"  extra: {json.dumps(extra, sort_keys=True)[:600]}", flush=True)
    if extra.get("from_trigger") is not True or payload.get("status") != "success" or not (
            isinstance(messages, list) and messages):
        raise E2EError(f"extra {extra}: expected from_trigger true and a payload with status success and messages")

    checked = api.xcom(EXPORTS, run_id, "check_exports", "return_value")
    table = f"{PROJECT}.{EXPORT_DESTINATION['dataset']}.{EXPORT_DESTINATION['table']}"
    if checked != [{"operation": operation_name, "table": table, "ok": True}]:
        raise E2EError(f"check_exports returned {checked}, expected {operation_name} ok on {table}")
    published = controls.notifications_published()
    if published != {pubsub["topic"]: 1}:
        raise E2EError(f"the emulator published {published}, expected one notification to {pubsub['topic']}")

    def seconds_after_end(value: str | None) -> float | None:
        return round((datetime.fromisoformat(value) - ended).total_seconds(), 3) if value else None

    publish_time = (messages[0].get("message") or {}).get("publish_time")
    result = {
        "operation": operation_name, "operation_end": ended.isoformat(), "run_id": run_id,
        "run_state": run["state"], "check_exports": checked, "notifications_published": published,
        "asset_event_id": event["id"], "asset_event_timestamp": event["timestamp"], "asset_event_extra": extra,
        "messages": len(messages),
        "end_to_publish_s": seconds_after_end(publish_time) if isinstance(publish_time, str) else None,
        "end_to_asset_event_s": seconds_after_end(event["timestamp"]),
        "end_to_run_queued_s": seconds_after_end(run.get("queued_at")),
        "end_to_run_start_s": seconds_after_end(run.get("start_date")),
        "end_to_run_end_s": seconds_after_end(run.get("end_date")),
    }
    print(f"  success: {operation_name} ended {ended:%H:%M:%S.%f}; 1 notification, 1 asset event after "
          f"{result['end_to_asset_event_s']} s, run {run_id} started after {result['end_to_run_start_s']} s, "
          f"check_exports ok on {table}", flush=True)
    return result


def check_notified_sensor(stack: Stack, api: Api, run_id: str, operation_name: str) -> dict[str, Any]:
    """[5]: the deferrable sensor polling every 600 s, woken by the export's notification, ends within seconds."""
    from ccai_airflow.core.outcome import outcome_of
    from ccai_airflow.hooks import ContactCenterInsightsHook

    print(f"\n[5] {SENSOR_NOTIFIED} (poke_interval 600 s, notification_subscription) on {operation_name}", flush=True)
    deadline = time.monotonic() + 300
    while (run := api.get(f"/dags/{SENSOR_NOTIFIED}/dagRuns/{run_id}"))["state"] not in ("success", "failed"):
        if time.monotonic() > deadline:
            raise E2EError(f"{SENSOR_NOTIFIED} run {run_id} is {run['state']} after 300 s: "
                           f"{run_failure(stack, api, run_id, SENSOR_NOTIFIED)}")
        time.sleep(2)
    if run["state"] != "success":
        raise E2EError(f"{SENSOR_NOTIFIED} run {run_id} ended {run['state']}: "
                       f"{run_failure(stack, api, run_id, SENSOR_NOTIFIED)}")
    ended = outcome_of(ContactCenterInsightsHook().get_operation(operation_name)).ended_at()
    if ended is None:
        raise E2EError(f"{operation_name} has no endTime")
    log = task_log(stack, SENSOR_NOTIFIED, run_id, "wait")
    tis = api.get(f"/dags/{SENSOR_NOTIFIED}/dagRuns/{run_id}/taskInstances")["task_instances"]
    sensor_end = next(t["end_date"] for t in tis if t["task_id"] == "wait")
    after = round((datetime.fromisoformat(sensor_end) - ended).total_seconds(), 3)
    print(f"  the sensor ended {after} s after the operation (its poll interval: 600 s)", flush=True)
    if not after < NOTIFIED_BOUND_S:
        raise E2EError(f"{SENSOR_NOTIFIED} ended {after} s after {operation_name}, expected under "
                       f"{NOTIFIED_BOUND_S} s (woken by the notification):\n{tail(log)}")
    return {"run_id": run_id, "operation": operation_name, "operation_end": ended.isoformat(),
            "sensor_end": sensor_end, "end_to_sensor_end_s": after, "poke_interval_s": 600}


def task_log(stack: Stack, dag_id: str, run_id: str, task_id: str) -> str:
    """Every attempt's log of a task instance, from the Airflow home's log folder (empty if none)."""
    folder = Path(stack.env["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    return "\n".join(path.read_text(errors="replace") for path in sorted(folder.glob("**/attempt=*.log")))


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def promotion_failure(stack: Stack, api: Api, run_id: str) -> str:
    return run_failure(stack, api, run_id, PROMOTION)


def run_failure(stack: Stack, api: Api, run_id: str, dag_id: str) -> str:
    """The run's task states and the log tails of its failed tasks."""
    tasks = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    parts = [str([(t["task_id"], t["state"]) for t in tasks])]
    for t in tasks:
        if t["state"] in ("failed", "up_for_retry", "upstream_failed"):
            log = task_log(stack, dag_id, run_id, t["task_id"])
            parts.append(f"--- {t['task_id']} ({t['state']}):\n{tail(log)}")
    return "\n".join(parts)


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
    pubsub: PubSubEmulator | None = None
    gcs: StorageEmulator | None = None
    print(f"Work folder: {workdir}", flush=True)
    try:
        pubsub = start_pubsub()  # first: a missing emulator fails the run at once
        # This process's Pub/Sub clients (the setup of [4]); the stack's processes have it from its env.
        os.environ["PUBSUB_EMULATOR_HOST"] = pubsub.host
        # The Insights emulator keeps the objects exports write there (emulator/gcs.py): anyone's client sees them.
        gcs = StorageEmulator().start()
        os.environ["STORAGE_EMULATOR_HOST"] = gcs.host
        print(f"  started the Cloud Storage emulator at {gcs.host}", flush=True)
        _, pg_pid = start_postgres(workdir, pg_port)
        print(f"  started postgres (pid {pg_pid}) on 127.0.0.1:{pg_port}", flush=True)
        create_database(pg_port)
        (home / LOCAL_SETTINGS_PATH).parent.mkdir()
        (home / LOCAL_SETTINGS_PATH).write_text(LOCAL_SETTINGS)
        env = airflow_env(home, dags, pg_port, api_port, "LocalExecutor", PROJECT,
                          # The Pub/Sub watcher's hook asks the connection for credentials: none, for the emulator.
                          connection_extra={"is_anonymous": True},
                          AIRFLOW__CORE__PARALLELISM="16",
                          AIRFLOW__SCHEDULER__TRIGGERER_HEALTH_CHECK_THRESHOLD="10",
                          AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="2",
                          # Asset-triggered runs need it; the DAG policy above keeps the clock's runs out.
                          AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="True")
        # Every Airflow component's (the triggerer's watcher) and the Insights emulator's (it publishes there).
        env["PUBSUB_EMULATOR_HOST"] = pubsub.host
        stack = Stack(workdir, env)
        emu = start_emulator(stack, operation_seconds=OPERATION_SECONDS)
        # Before the triggerer starts: the watcher's first pull finds its subscription.
        notifications = set_up_export_notifications()
        migrate(stack)
        stack.start("api-server", API_SERVER)
        for name in ("scheduler", "dag-processor", "triggerer"):
            stack.start(name, [*airflow, name])
        api = Api(f"http://127.0.0.1:{api_port}")
        wait_for("the API server", api.login, 120, log=stack.log("api-server"))
        for name in ("scheduler", "dag-processor", "triggerer"):
            stack.check_alive(name)
        wait_for_dags(api, {LIFECYCLE, PROMOTION, SENSOR_ONLY, SENSOR_NOTIFIED, EXPORTS}, stack, timeout=120)
        clocked = {d["dag_id"]: d["next_dagrun_run_after"] for d in api.get("/dags", limit=100)["dags"]
                   if d["next_dagrun_run_after"]}
        if clocked:
            raise E2EError(f"DAGs with a next run on the clock: {clocked}; the DAG policy of {LOCAL_SETTINGS_PATH} "
                           f"did not apply:\n{tail(stack.log('dag-processor').read_text(errors='replace'))}")
        # Before [1]'s deploy succeeds: a paused DAG gets no asset-triggered run.
        unpause(api, PROMOTION)
        unpause(api, EXPORTS)

        with EmulatorControl(emu["rest_url"], timeout=10) as controls:
            results = {"lifecycle": check_lifecycle_with_triggerer_kill(stack, api, controls, airflow)}
            # After [1]'s triggerer kill, at the usual 40 s: it ends, and its run goes, while [2] waits.
            export = start_export(controls)
            notified_run = api.post(f"/dags/{SENSOR_NOTIFIED}/dagRuns",
                                    {"logical_date": None, "conf": {"operation_name": export}})["dag_run_id"]
            # The promotion [1] triggered goes on meanwhile: [3] waits for it after [2].
            results["sensor_only"] = check_many_deferred_sensors(stack, api, controls, args.runs)
            results["asset_triggered_promotion"] = check_asset_triggered_promotion(stack, api, results["lifecycle"])
            results["pubsub_watcher"] = check_export_notifications(stack, api, controls, notifications, export)
            results["notified_sensor"] = check_notified_sensor(stack, api, notified_run, export)
        (workdir / "results.json").write_text(json.dumps(results, indent=2))
        print(f"\nE2E passed. Results: {workdir / 'results.json'}; logs: {stack.logs}", flush=True)
        return 0
    except E2EError as exc:
        print(f"\nE2E FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    except requests.RequestException as exc:  # the API server went away: which processes did, and its log
        gone = {name: stack.procs[name].returncode for name in stack.exited()} if stack is not None else {}
        api_log = tail(stack.log("api-server").read_text(errors="replace"), 20) if stack is not None else ""
        print(f"\nE2E FAILED: a REST API call failed: {exc}\nexited (name: code): {gone}\n{api_log}",
              file=sys.stderr, flush=True)
        return 1
    finally:
        print("\nStopping everything:", flush=True)
        if stack is not None:
            stack.stop_all()
        if pubsub is not None:
            stop_pubsub(pubsub, workdir / "logs" / "pubsub-emulator.log")
        if gcs is not None:
            gcs.stop()
            print("  stopped the Cloud Storage emulator", flush=True)
        if pg_pid is not None:
            stop_postgres(pg_pid)
        if stack is not None and stack.died:
            print(f"\n{stack.crash_report()}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
