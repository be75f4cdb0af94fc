"""``make bench-deployment``: how many of our deferred sensors one real triggerer holds (not CI).

A real ``airflow triggerer`` (its runner subprocess included) on PostgreSQL, against the emulator in
its own process. N (default 1,000) deferred task instances are made as Airflow makes them: runs of
``ccai_bench_deferred`` created through the REST API, then each task instance deferred with its
trigger row (``Trigger.from_object``), exactly what ``TaskInstance.defer_task`` writes. No scheduler
runs, so a task stays ``scheduled`` once its trigger fired: the worker side is measured by ``make
e2e``/``make e2e-distributed`` (worker slots busy while deferred), not here. The operations end
uniformly over ``--spread`` seconds after a warm-up; the script samples every second which task
instances left ``deferred`` (detection lag = that moment minus the operation's end, so lags carry up
to a second of sampling), and the triggerer's RSS and CPU (main process + runner).

Two kinds, each on a fresh triggerer: ``ours`` (ContactCenterInsightsOperationTrigger,
poll_interval 10 s, against the emulator: no budget) and ``peer`` (benchmarks/peer_trigger.py: a
new async client per trigger, fixed 10 s, no shared budget). Results into
``benchmarks/results-deployment.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from google.cloud.contact_center_insights_v1 import types

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import machine, median, percentile  # noqa: E402
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

DAG_ID = "ccai_bench_deferred"
PARENT = "projects/bench-project/locations/us-central1"
POLL_INTERVAL = 10.0


def _tree(pid: int) -> list[Any]:
    import psutil

    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def usage(pid: int) -> tuple[float, float]:
    """RSS (MB) and CPU seconds (user + system) of the process and its children."""
    import psutil

    rss, cpu = 0.0, 0.0
    for proc in _tree(pid):
        try:
            rss += proc.memory_info().rss / 2**20
            times = proc.cpu_times()
            cpu += times.user + times.system
        except psutil.Error:
            continue
    return rss, cpu


def channel_count(folder: Path) -> int:
    """The gRPC channels created so far by the processes the channel probe writes for."""
    return sum(int(path.read_text() or 0) for path in folder.iterdir())


def make_trigger(kind: str, name: str) -> Any:
    if kind == "ours":
        from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger

        return ContactCenterInsightsOperationTrigger(operation_name=name, poll_interval=POLL_INTERVAL)
    from benchmarks.peer_trigger import PeerOperationTrigger

    return PeerOperationTrigger(operation_name=name, poll_interval=POLL_INTERVAL)


def defer_all(run_ids: list[str], names: list[str], kind: str) -> None:
    """Defer every run's task instance with its trigger, as TaskInstance.defer_task does."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        tis = {ti.run_id: ti for ti in session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id.in_(run_ids)))}
        if len(tis) != len(run_ids):
            raise E2EError(f"{len(tis)} task instances for {len(run_ids)} runs")
        for run_id, name in zip(run_ids, names, strict=True):
            trigger = Trigger.from_object(make_trigger(kind, name))
            session.add(trigger)
            session.flush()
            ti = tis[run_id]
            ti.state = TaskInstanceState.DEFERRED
            ti.trigger_id = trigger.id
            ti.next_method = "execute_complete"
            ti.next_kwargs = {}
            ti.try_number = 1


def measure(kind: str, n: int, spread: float, warmup: float, stack: Stack, api: Api, emu: dict[str, str],
            airflow: list[str], db_port: int) -> dict[str, Any]:
    import psycopg2

    from ccai_airflow.emulator import EmulatorControl
    from ccai_airflow.hooks import ContactCenterInsightsHook

    print(f"\n[{kind}] {n} deferred sensors on one triggerer", flush=True)
    name = f"triggerer-{kind}"
    # Measurement only: benchmarks/channel_probe counts the gRPC channels the triggerer's processes create.
    channels_dir = stack.logs.parent / f"channels-{kind}"
    channels_dir.mkdir()
    probe_env = {**stack.env, "CCAI_BENCH_CHANNELS_DIR": str(channels_dir),
                 "PYTHONPATH": os.pathsep.join([str(REPO / "benchmarks" / "channel_probe"), stack.env["PYTHONPATH"]])}
    triggerer = stack.start(name, [*airflow, "triggerer", "--skip-serve-logs"], env=probe_env)
    time.sleep(20)  # started and idle
    stack.check_alive(name)
    idle_rss, _ = usage(triggerer.pid)
    run_ids = [api.post(f"/dags/{DAG_ID}/dagRuns", {"logical_date": None})["dag_run_id"] for _ in range(n)]
    hook = ContactCenterInsightsHook()
    with EmulatorControl(emu["rest_url"], timeout=30) as controls:
        names, due = [], []
        for i in range(n):
            seconds = warmup + spread * i / n
            controls.set_operation_seconds(seconds)
            request = types.CreateIssueModelRequest(parent=PARENT, issue_model={"display_name": f"{kind}-{i}"})
            names.append(hook.start_operation(request).name)
            due.append(time.time() + seconds)
        calls_before = controls.call_counts().get("GetOperation", 0)
        channels_before = channel_count(channels_dir)
        connections_before = controls.grpc_connections()
        _, cpu_before = usage(triggerer.pid)
        t_defer = time.time()
        defer_all(run_ids, names, kind)
        print(f"  {n} task instances deferred in {time.time() - t_defer:.1f} s", flush=True)
        seen: dict[str, float] = {}
        peak_rss, rss_all_running = idle_rss, 0.0
        deadline = time.time() + warmup + spread + 10 * POLL_INTERVAL + 120
        connection = psycopg2.connect(host="127.0.0.1", port=db_port, user="postgres", dbname="airflow")
        connection.autocommit = True
        try:
            while len(seen) < n and time.time() < deadline:
                time.sleep(1.0)
                now = time.time()
                with connection.cursor() as cursor:
                    cursor.execute("SELECT run_id, state FROM task_instance WHERE dag_id = %s AND run_id = ANY(%s) "
                                   "AND state <> 'deferred'", (DAG_ID, run_ids))
                    for run_id, state in cursor.fetchall():
                        if state != "scheduled":  # a trigger that failed fails its task
                            raise E2EError(f"{kind}: task of {run_id} is {state}; see {stack.log(name)}")
                        seen.setdefault(run_id, now)
                rss, _ = usage(triggerer.pid)
                peak_rss = max(peak_rss, rss)
                if not seen and now < due[0]:
                    rss_all_running = max(rss_all_running, rss)
                stack.check_alive(name)
        finally:
            connection.close()
        _, cpu_after = usage(triggerer.pid)
        calls = controls.call_counts().get("GetOperation", 0) - calls_before
        channels = channel_count(channels_dir) - channels_before
        connections = controls.grpc_connections() - connections_before
    stack.stop_one(name)
    if len(seen) < n:
        raise E2EError(f"{kind}: only {len(seen)} of {n} triggers fired")
    index = {run_id: i for i, run_id in enumerate(run_ids)}
    lags = sorted(seen[r] - due[index[r]] for r in run_ids)
    result = {
        "triggers": n, "poll_interval_s": POLL_INTERVAL, "fired": len(seen),
        "p50_lag_s": round(median(lags), 2), "p99_lag_s": round(percentile(lags, 99), 2),
        "max_lag_s": round(lags[-1], 2),
        "p99_lag_over_interval": round(percentile(lags, 99) / POLL_INTERVAL, 3),
        "idle_rss_mb": round(idle_rss, 1), "rss_all_running_mb": round(rss_all_running, 1),
        "peak_rss_mb": round(peak_rss, 1),
        "rss_per_trigger_kb": round((rss_all_running - idle_rss) * 1024 / n, 1),
        "cpu_s": round(cpu_after - cpu_before, 1), "cpu_ms_per_trigger": round((cpu_after - cpu_before) * 1000 / n, 1),
        "get_operation_calls": calls, "calls_per_operation": round(calls / n, 2),
        # From the triggers' deferral to the last one fired: gRPC channels the triggerer's processes created
        # (channel_probe), and TCP connections the emulator accepted (gRPC may share one between channels).
        "channels_opened": channels, "tcp_connections_opened": connections,
    }
    print(f"  {json.dumps(result)}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-deployment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0, help="operations end uniformly over this many s")
    parser.add_argument("--warmup", type=float, default=45.0, help="seconds before the first operation ends")
    parser.add_argument("--kinds", default="ours,peer")
    parser.add_argument("--workdir", default=str(REPO / ".bench-deployment"))
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results-deployment.json"))
    args = parser.parse_args(argv)
    workdir = Path(args.workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "logs").mkdir(parents=True)
    dags = workdir / "dags"
    dags.mkdir()
    shutil.copy(REPO / "benchmarks" / "dags" / f"{DAG_ID}.py", dags)
    pg_port, api_port = free_port(), free_port()
    home = workdir / "airflow"
    home.mkdir()
    airflow = AIRFLOW
    stack: Stack | None = None
    pg_pid = None
    started = time.monotonic()
    try:
        _, pg_pid = start_postgres(workdir, pg_port)
        create_database(pg_port)
        env = airflow_env(home, dags, pg_port, api_port, "LocalExecutor", "bench-project",
                          PYTHONPATH=str(REPO),  # the triggerer imports benchmarks.peer_trigger
                          AIRFLOW__TRIGGERER__CAPACITY=str(max(1000, args.triggers)))
        os.environ.update({k: env[k] for k in ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")})
        stack = Stack(workdir, env)
        emu = start_emulator(stack, operation_seconds=3600)
        migrate(stack)
        for name in ("api-server", "dag-processor"):  # no scheduler: a fired trigger's task stays scheduled
            stack.start(name, [*airflow, name])
        api = Api(f"http://127.0.0.1:{api_port}")
        wait_for("the API server", api.login, 180, log=stack.log("api-server"))
        wait_for_dags(api, {DAG_ID}, stack)
        results: dict[str, Any] = {"machine": machine(),
                                   "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
        for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
            results[kind] = measure(kind, args.triggers, args.spread, args.warmup, stack, api, emu, airflow,
                                    pg_port)
        if "ours" in results and "peer" in results:
            ours, peer = results["ours"], results["peer"]
            results["ratios_ours_over_peer"] = {
                key: round(ours[key] / peer[key], 3) if peer[key] else None
                for key in ("p99_lag_s", "rss_per_trigger_kb", "cpu_ms_per_trigger", "channels_opened",
                            "tcp_connections_opened", "calls_per_operation")}
        results["seconds"] = round(time.monotonic() - started, 1)
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nWrote {args.output} ({results['seconds']:.0f} s)", flush=True)
        return 0
    except E2EError as exc:
        print(f"\nbench-deployment FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if stack is not None:
            stack.stop_all()
        if pg_pid is not None:
            stop_postgres(pg_pid)


if __name__ == "__main__":
    sys.exit(main())
