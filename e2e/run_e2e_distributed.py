"""``make e2e-distributed``: the provider on a distributed Airflow: CeleryExecutor, two workers, two triggerers.

PostgreSQL and Redis (from the OS packages, on private loopback ports), ``airflow db migrate``, the
API server, scheduler, DAG processor, two triggerers and two Celery workers, all from the venv, and
the emulator. The connection's polling budget is ``requests_per_second`` 10 with
``[ccai] triggerer_count`` 2: each triggerer paces at 5/s. Scenarios, each with its PASS line:

1. failover: N (default 200) deferrable sensor runs, spread over both triggerers (how many each
   held is reported); while the emulator enforces a quota equal to the budget, the busiest second
   of GetOperation calls must stay within it (so no RESOURCE_EXHAUSTED); ``kill -9`` of the triggerer
   holding more, its triggers must move to the other; every run succeeds, every operation was
   started once and never cancelled;
2. API outage: every GetOperation answers UNAVAILABLE for 90 s in the middle of the wait (the
   operations end during it); no task fails and every run finishes within one poll interval (60 s)
   of the outage's end;
3. database restart: PostgreSQL restarted (fast) mid-wait; every run succeeds;
4. scheduler kill: ``kill -9`` of the scheduler mid-wait, a new one started; every run succeeds.

Operations last an hour of emulator time; a scenario ends them by moving the emulator's clock, so
nothing waits on a guess of how long the deferrals take on a loaded machine. Every process is stopped
by its own PID at the end; logs in ``.e2e-distributed/logs/``, results in its ``results.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from google.cloud.contact_center_insights_v1 import types

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: e2e.deployment beside it

from ccai_airflow.emulator import EmulatorControl  # noqa: E402
from ccai_airflow.emulator.faults import busiest_second  # noqa: E402
from e2e.deployment import (  # noqa: E402
    AIRFLOW,
    API_SERVER,
    Api,
    E2EError,
    Stack,
    airflow_env,
    create_database,
    database_url,
    free_port,
    migrate,
    redis_server,
    restart_postgres,
    start_emulator,
    start_postgres,
    stop_postgres,
    wait_for,
    wait_for_dags,
)

SENSOR = "ccai_e2e_sensor_only"  # poke_interval 5 s
OUTAGE_SENSOR = "ccai_e2e_sensor_outage"  # poke_interval 60 s
OUTAGE_POLL_INTERVAL = 60.0
PROJECT = "e2e-project"
PARENT = f"projects/{PROJECT}/locations/us-central1"
BUDGET = 10.0  # requests_per_second of the connection: the project's, for all triggerers together
TRIGGERERS = 2
OPERATION_SECONDS = 3600.0
FINAL = ("success", "failed", "skipped", "upstream_failed")


class Db:
    """Read-only looks at the metadata database (task states, which triggerer holds which trigger)."""

    def __init__(self, port: int) -> None:
        self.port = port

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Any]:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="airflow",
                                      connect_timeout=10)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                yield cursor
        finally:
            connection.close()

    def ti_states(self, run_ids: list[str]) -> dict[str, str | None]:
        with self.cursor() as cursor:
            cursor.execute("SELECT run_id, state FROM task_instance WHERE run_id = ANY(%s)", (run_ids,))
            return dict(cursor.fetchall())

    def ti_rows(self, run_ids: list[str]) -> list[tuple[Any, ...]]:
        with self.cursor() as cursor:
            cursor.execute("SELECT run_id, state, try_number, end_date FROM task_instance WHERE run_id = ANY(%s)",
                           (run_ids,))
            return list(cursor.fetchall())

    def run_states(self, run_ids: list[str]) -> dict[str, str]:
        with self.cursor() as cursor:
            cursor.execute("SELECT run_id, state FROM dag_run WHERE run_id = ANY(%s)", (run_ids,))
            return dict(cursor.fetchall())

    def triggers_by_job(self, run_ids: list[str]) -> dict[int | None, int]:
        """How many of these runs' triggers each triggerer holds, by its job id (None: unassigned)."""
        with self.cursor() as cursor:
            cursor.execute(
                "SELECT t.triggerer_id, count(*) FROM task_instance ti JOIN trigger t ON t.id = ti.trigger_id "
                "WHERE ti.run_id = ANY(%s) GROUP BY t.triggerer_id", (run_ids,))
            return {job: int(n) for job, n in cursor.fetchall()}

    def triggerer_jobs(self) -> list[int]:
        """The ids of the triggerer jobs that are running, oldest first."""
        with self.cursor() as cursor:
            cursor.execute("SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running' ORDER BY id")
            return [int(row[0]) for row in cursor.fetchall()]


class Scenarios:
    def __init__(self, stack: Stack, api: Api, db: Db, controls: EmulatorControl, airflow: list[str]) -> None:
        self.stack, self.api, self.db, self.controls, self.airflow = stack, api, db, controls, airflow
        from ccai_airflow.hooks import ContactCenterInsightsHook

        self.hook = ContactCenterInsightsHook()

    # -- plumbing ---------------------------------------------------------------------------------
    def launch(self, dag_id: str, runs: int, label: str) -> tuple[list[str], dict[str, int]]:
        """Start ``runs`` operations (an hour long) and one run of ``dag_id`` for each; the run ids."""
        before = self.controls.call_counts()
        self.controls.set_operation_seconds(OPERATION_SECONDS)
        names = [self.hook.start_operation(types.CreateIssueModelRequest(
            parent=PARENT, issue_model={"display_name": f"{label}-{i}"})).name for i in range(runs)]
        run_ids = [self.trigger_run(dag_id, f"{label}-{i}", n) for i, n in enumerate(names)]
        return run_ids, before

    def trigger_run(self, dag_id: str, run_id: str, operation_name: str) -> str:
        """POST one run with its own run id, so that a retry after a timeout (the API server is also the
        Execution API of every running task, and slow under load) cannot start a second run."""
        import requests

        body = {"dag_run_id": run_id, "logical_date": None, "conf": {"operation_name": operation_name}}
        for attempt in range(1, 6):
            try:
                answer = self.api.session.post(f"{self.api.base}/api/v2/dags/{dag_id}/dagRuns", json=body, timeout=60)
            except requests.RequestException as exc:
                print(f"  POST run {run_id}: {type(exc).__name__} (attempt {attempt}), again", flush=True)
                time.sleep(2)
                continue
            if answer.status_code == 409 and attempt > 1:  # the earlier attempt got through
                return run_id
            if answer.status_code >= 500:  # e.g. its database pool timed out under load
                print(f"  POST run {run_id}: {answer.status_code} (attempt {attempt}), again", flush=True)
                time.sleep(2)
                continue
            if answer.status_code >= 400:
                raise E2EError(f"POST run {run_id}: {answer.status_code} {answer.text}")
            return str(answer.json()["dag_run_id"])
        raise E2EError(f"POST run {run_id}: no answer after 5 attempts")

    def wait_all_deferred(self, run_ids: list[str], timeout: float) -> dict[str, int]:
        """Until every run's sensor is deferred and held by a triggerer; the busiest worker-slot count seen."""
        busy_max = 0

        def check() -> bool:
            nonlocal busy_max
            states = list(self.db.ti_states(run_ids).values())
            busy_max = max(busy_max, states.count("running"))
            bad = [s for s in states if s in FINAL]
            if bad:
                raise E2EError(f"{len(bad)} sensors ended before the wait was over: {sorted(set(bad))}")
            if states.count("deferred") < len(run_ids):
                return False
            held = self.db.triggers_by_job(run_ids)
            return sum(n for job, n in held.items() if job is not None) == len(run_ids)

        wait_for(f"{len(run_ids)} sensors to be deferred and picked up", _raising(check), timeout, every=2,
                 log=self.stack.log("scheduler"))
        running_now = list(self.db.ti_states(run_ids).values()).count("running")
        return {"worker_slots_busy_while_all_deferred": running_now, "most_running_while_deferring": busy_max}

    def wait_finished(self, run_ids: list[str], timeout: float) -> dict[str, str]:
        def check() -> dict[str, str] | None:
            states = self.db.run_states(run_ids)
            return None if len(states) < len(run_ids) or set(states.values()) & {"queued", "running"} else states

        return wait_for(f"{len(run_ids)} runs to finish", check, timeout, every=2,  # type: ignore[no-any-return]
                        log=self.stack.log("scheduler"))

    def check_all_succeeded(self, run_ids: list[str], before: dict[str, int], timeout: float) -> dict[str, Any]:
        finals = self.wait_finished(run_ids, timeout)
        failed = {r: s for r, s in finals.items() if s != "success"}
        rows = self.db.ti_rows(run_ids)
        retried = [r for r, _, try_number, _ in rows if try_number != 1]
        after = self.controls.call_counts()
        created = after.get("CreateIssueModel", 0) - before.get("CreateIssueModel", 0)
        cancelled = after.get("CancelOperation", 0) - before.get("CancelOperation", 0)
        problems = []
        if failed:
            problems.append(f"{len(failed)} runs did not succeed: {sorted(set(failed.values()))}")
        if retried:
            problems.append(f"{len(retried)} sensors needed another try")
        if created != len(run_ids):
            problems.append(f"CreateIssueModel called {created} times for {len(run_ids)} runs")
        if cancelled:
            problems.append(f"CancelOperation called {cancelled} times")
        if problems:
            raise E2EError("; ".join(problems))
        return {"runs": len(run_ids), "all_succeeded": True, "create_calls": created, "cancel_calls": cancelled,
                "end_dates": [end for _, _, _, end in rows]}

    def triggerer_jobs(self) -> dict[str, int]:
        """Each triggerer's job id (main() started them one after the other, each once its job existed)."""
        names = sorted(name for name in self.stack.procs if name.startswith("triggerer"))
        jobs = self.db.triggerer_jobs()
        if len(jobs) != len(names):
            raise E2EError(f"{len(jobs)} running triggerer jobs for {names}")
        return dict(zip(names, jobs, strict=True))

    # -- the scenarios ----------------------------------------------------------------------------
    def failover(self, runs: int) -> dict[str, Any]:
        print(f"\n[1] triggerer failover: {runs} deferrable sensor runs over {TRIGGERERS} triggerers", flush=True)
        started = time.monotonic()
        run_ids, before = self.launch(SENSOR, runs, "failover")
        slots = self.wait_all_deferred(run_ids, timeout=900)
        deferred_after = time.monotonic() - started
        jobs = self.triggerer_jobs()
        held = self.db.triggers_by_job(run_ids)
        per_triggerer = {name: held.get(job, 0) for name, job in jobs.items()}
        print(f"  all {runs} deferred after {deferred_after:.0f} s; triggers held: {per_triggerer}; "
              f"{slots['worker_slots_busy_while_all_deferred']} worker slots busy", flush=True)

        # The budget, as the server counts it: a quota equal to the budget from now on; only the triggers poll.
        # The quota's one-second window also holds the calls that came just before it was set, and the
        # workers' first pokes (outside the triggerers' budget) may be among them: wait out that window so
        # the quota sees only the triggers' calls, as the measured slice does.
        time.sleep(1.5)
        self.controls.set_quota("GetOperation", per_second=BUDGET)
        measured_from = len(self.controls.call_times("GetOperation"))
        refused_before = self.controls.quota_refusals("GetOperation")
        time.sleep(30)
        victim = max(per_triggerer, key=lambda name: per_triggerer[name])
        survivor = next(name for name in per_triggerer if name != victim)
        pid = self.stack.kill9(victim)
        killed_at = time.monotonic()
        print(f"  kill -9 {victim} (pid {pid}), which held {per_triggerer[victim]}", flush=True)

        def moved() -> bool:
            return self.db.triggers_by_job(run_ids).get(jobs[survivor], 0) == runs

        wait_for(f"{survivor} to take over every trigger", moved, 180, every=2, log=self.stack.log(survivor))
        moved_after = time.monotonic() - killed_at
        print(f"  {survivor} holds all {runs} triggers {moved_after:.0f} s after the kill", flush=True)
        time.sleep(10)  # the survivor polls them all for a while, alone, under the budget
        self.controls.advance_clock(OPERATION_SECONDS)  # every operation is done now
        result = self.check_all_succeeded(run_ids, before, timeout=900)
        times = self.controls.call_times("GetOperation")[measured_from:]
        refused = self.controls.quota_refusals("GetOperation") - refused_before
        self.controls.set_quota("GetOperation", per_second=None)
        window = times[-1] - times[0] if len(times) > 1 else 0.0
        peak = busiest_second(times)
        budget = {"requests_per_second": BUDGET, "triggerer_count": TRIGGERERS, "quota_per_second": BUDGET,
                  "calls_measured": len(times), "seconds_measured": round(window, 1),
                  "mean_calls_per_second": round(len(times) / window, 2) if window else None,
                  "busiest_second": peak, "resource_exhausted": refused}
        if peak > BUDGET or refused:
            raise E2EError(f"budget exceeded: {peak} GetOperation calls in one second, budget {BUDGET:g}/s; "
                           f"the quota refused {refused}")
        result.pop("end_dates")
        result.update({"triggers_held": per_triggerer, "killed": victim, "moved_after_s": round(moved_after, 1),
                       "deferred_after_s": round(deferred_after, 1), **slots, "budget": budget,
                       "seconds": round(time.monotonic() - started, 1)})
        print(f"PASS failover: {runs} runs succeeded, triggers held {per_triggerer}, {victim} killed, its "
              f"{per_triggerer[victim]} moved to {survivor} in {moved_after:.0f} s; created once each, never "
              f"cancelled; {result['seconds']:.0f} s", flush=True)
        print(f"PASS budget: busiest second {peak} GetOperation calls (budget {BUDGET:g}/s across {TRIGGERERS} "
              f"triggerers, quota {BUDGET:g}/s), {refused} RESOURCE_EXHAUSTED, "
              f"{budget['mean_calls_per_second']}/s mean over {window:.0f} s", flush=True)
        return result

    def api_outage(self, runs: int, outage_s: float = 90.0) -> dict[str, Any]:
        print(f"\n[2] API outage: GetOperation UNAVAILABLE for {outage_s:.0f} s mid-wait ({runs} runs)", flush=True)
        started = time.monotonic()
        run_ids, before = self.launch(OUTAGE_SENSOR, runs, "outage")
        self.wait_all_deferred(run_ids, timeout=600)
        time.sleep(5)  # every trigger has polled once
        self.controls.inject_fault("GetOperation", code="UNAVAILABLE", rate=1.0)
        print(f"  outage starts: every GetOperation answers UNAVAILABLE for {outage_s:.0f} s", flush=True)
        time.sleep(outage_s / 2)
        self.controls.advance_clock(OPERATION_SECONDS)  # the operations end during the outage
        time.sleep(outage_s / 2)
        self.controls.clear_faults()
        import datetime

        ended = datetime.datetime.now(datetime.UTC)
        print("  outage over", flush=True)
        result = self.check_all_succeeded(run_ids, before, timeout=600)
        lags = sorted((end - ended).total_seconds() for end in result.pop("end_dates"))
        if lags[-1] > OUTAGE_POLL_INTERVAL:
            raise E2EError(f"the last run finished {lags[-1]:.0f} s after the outage, over one poll interval "
                           f"({OUTAGE_POLL_INTERVAL:g} s); lags {lags}")
        result.update({"outage_s": outage_s, "poll_interval_s": OUTAGE_POLL_INTERVAL,
                       "finished_after_outage_s": {"min": round(lags[0], 1), "max": round(lags[-1], 1)},
                       "seconds": round(time.monotonic() - started, 1)})
        print(f"PASS api-outage: {runs} runs succeeded, none retried; all finished {lags[0]:.0f}-{lags[-1]:.0f} s "
              f"after the {outage_s:.0f} s outage (poll interval {OUTAGE_POLL_INTERVAL:g} s); "
              f"{result['seconds']:.0f} s", flush=True)
        return result

    def database_restart(self, runs: int, workdir: Path) -> dict[str, Any]:
        print(f"\n[3] metadata database restart mid-wait ({runs} runs)", flush=True)
        started = time.monotonic()
        run_ids, before = self.launch(SENSOR, runs, "db-restart")
        self.wait_all_deferred(run_ids, timeout=600)
        pid = restart_postgres(workdir)
        print(f"  PostgreSQL restarted (new postmaster pid {pid})", flush=True)
        time.sleep(20)
        # Airflow's scheduler, DAG processor and triggerer exit when their database connection breaks; a
        # deployment's supervisor (systemd, Kubernetes) starts them again, and so does this.
        exited = self.stack.exited()
        respawned = [self.stack.respawn(name) for name in exited]
        self.controls.advance_clock(OPERATION_SECONDS)
        result = self.check_all_succeeded(run_ids, before, timeout=600)
        result.pop("end_dates")
        result.update({"postgres_pid": pid, "exited_and_restarted": exited, "restarted_as": respawned,
                       "seconds": round(time.monotonic() - started, 1)})
        print(f"PASS db-restart: {runs} runs succeeded after a PostgreSQL restart mid-wait (exited on the lost "
              f"connection and started again: {', '.join(exited) or 'none'}); {result['seconds']:.0f} s", flush=True)
        return result

    def scheduler_kill(self, runs: int) -> dict[str, Any]:
        print(f"\n[4] scheduler kill -9 mid-wait ({runs} runs)", flush=True)
        started = time.monotonic()
        run_ids, before = self.launch(SENSOR, runs, "scheduler-kill")
        self.wait_all_deferred(run_ids, timeout=600)
        name = next(n for n in self.stack.procs if n.startswith("scheduler"))
        pid = self.stack.kill9(name)
        print(f"  kill -9 {name} (pid {pid}); starting a new one", flush=True)
        self.stack.respawn(name)
        self.controls.advance_clock(OPERATION_SECONDS)
        result = self.check_all_succeeded(run_ids, before, timeout=600)
        result.pop("end_dates")
        result.update({"seconds": round(time.monotonic() - started, 1)})
        print(f"PASS scheduler-kill: {runs} runs succeeded with the scheduler killed mid-wait and replaced; "
              f"{result['seconds']:.0f} s", flush=True)
        return result


def _raising(check: Callable[[], bool]) -> Callable[[], bool]:
    """``wait_for`` swallows errors while a component comes up: let an E2EError through at once."""

    def wrapped() -> bool:
        try:
            return check()
        except E2EError as exc:
            raise _Fatal(str(exc)) from exc

    return wrapped


class _Fatal(BaseException):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make e2e-distributed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(REPO / ".e2e-distributed"), help="logs and state")
    parser.add_argument("--runs", type=int, default=200, help="sensor runs in the failover scenario (default 200)")
    parser.add_argument("--small-runs", type=int, default=20, help="runs in each of the other scenarios (default 20)")
    parser.add_argument("--scenarios", default="failover,api-outage,db-restart,scheduler-kill",
                        help="comma-separated subset, in that order")
    args = parser.parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    workdir = Path(args.workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "logs").mkdir(parents=True)
    dags = workdir / "dags"
    dags.mkdir()
    for source in (REPO / "e2e" / "dags").glob("*.py"):
        shutil.copy(source, dags / source.name)

    pg_port, redis_port, api_port = free_port(), free_port(), free_port()
    home = workdir / "airflow"
    home.mkdir()
    airflow = AIRFLOW
    pg_pid = None
    stack: Stack | None = None
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    print(f"Work folder: {workdir}", flush=True)
    try:
        redis = redis_server()
        _, pg_pid = start_postgres(workdir, pg_port)
        print(f"  started postgres (pid {pg_pid}) on 127.0.0.1:{pg_port}", flush=True)
        create_database(pg_port)
        env = airflow_env(
            home, dags, pg_port, api_port, "CeleryExecutor", PROJECT, {"requests_per_second": str(BUDGET)},
            AIRFLOW__CELERY__BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
            AIRFLOW__CELERY__RESULT_BACKEND=f"db+{database_url(pg_port)}",
            AIRFLOW__CELERY__WORKER_CONCURRENCY="8",
            AIRFLOW__CORE__PARALLELISM="32",
            # The API server is also the Execution API of every task: a larger pool than the default 5 + 10.
            AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE="10",
            AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW="10",
            AIRFLOW__SCHEDULER__TRIGGERER_HEALTH_CHECK_THRESHOLD="10",
            AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="2",
            # The budget across triggerers (docs/deployment.md): each of the 2 paces at 10 / 2 per second.
            AIRFLOW__CCAI__TRIGGERER_COUNT=str(TRIGGERERS),
        )
        stack = Stack(workdir, env)
        stack.start("redis", [redis, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(workdir)])
        emu = start_emulator(stack, OPERATION_SECONDS)
        migrate(stack)
        stack.start("api-server", API_SERVER)
        for name in ("scheduler", "dag-processor"):
            stack.start(name, [*airflow, name])
        db = Db(pg_port)
        for i in (1, 2):
            stack.start(f"worker-{i}", [*airflow, "celery", "worker", "--celery-hostname", f"worker{i}@%h",
                                        "--concurrency", "8", "--skip-serve-logs"])
        for i in (1, 2):  # one after the other, so that job ids tell which triggerer is which
            stack.start(f"triggerer-{i}", [*airflow, "triggerer", "--skip-serve-logs"])
            wait_for(f"triggerer-{i}'s job", lambda i=i: len(db.triggerer_jobs()) == i, 120,  # type: ignore[misc]
                     log=stack.log(f"triggerer-{i}"))
        api = Api(f"http://127.0.0.1:{api_port}")
        wait_for("the API server", api.login, 180, log=stack.log("api-server"))
        for name in list(stack.procs):
            stack.check_alive(name)
        wait_for_dags(api, {SENSOR, OUTAGE_SENSOR}, stack)
        for worker in ("worker-1", "worker-2"):
            log = stack.log(worker)
            wait_for(f"{worker} to be ready", functools.partial(_logged, log, "ready."), 120, every=2, log=log)
        timings["startup"] = round(time.monotonic() - t0, 1)
        print(f"  deployment up in {timings['startup']:.0f} s", flush=True)

        results: dict[str, Any] = {}
        with EmulatorControl(emu["rest_url"], timeout=30) as controls:
            run = Scenarios(stack, api, db, controls, airflow)
            steps: dict[str, Callable[[], dict[str, Any]]] = {
                "failover": lambda: run.failover(args.runs),
                "api-outage": lambda: run.api_outage(args.small_runs),
                "db-restart": lambda: run.database_restart(args.small_runs, workdir),
                "scheduler-kill": lambda: run.scheduler_kill(args.small_runs),
            }
            for scenario in scenarios:
                results[scenario] = steps[scenario]()
        timings["total"] = round(time.monotonic() - t0, 1)
        results["timings"] = timings
        (workdir / "results.json").write_text(json.dumps(results, indent=2, default=str))
        print(f"\nE2E distributed passed in {timings['total']:.0f} s: {', '.join(scenarios)}. "
              f"Results: {workdir / 'results.json'}; logs: {stack.logs}", flush=True)
        return 0
    except (E2EError, _Fatal) as exc:
        print(f"\nE2E distributed FAILED after {time.monotonic() - t0:.0f} s: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("\nStopping everything:", flush=True)
        if stack is not None:
            stack.stop_all()
        if pg_pid is not None:
            stop_postgres(_current_postmaster(workdir, pg_pid))
        if stack is not None and stack.died:
            print(f"\n{stack.crash_report()}", file=sys.stderr, flush=True)


def _logged(log: Path, text: str) -> bool:
    return text in log.read_text(errors="replace")


def _current_postmaster(workdir: Path, fallback: int) -> int:
    """The postmaster's PID now (a restart scenario replaced it)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((workdir / "pgdata" / "postmaster.pid").read_text().split()[0])
    return fallback


if __name__ == "__main__":
    sys.exit(main())
