"""Deferred waits woken by Insights' Pub/Sub notifications vs the adaptive polling policy, in one triggerer.

For each N (default 10, 100, 500) two cases run one after the other, each on fresh ExportInsightsData operations
(the kind Insights notifies for) with the same durations, drawn uniformly from ``[--min-seconds, --max-seconds]``
(times ``--time-scale``) with a seed that depends on N only, so both sides see the same durations:

* ``polling``: ``ContactCenterInsightsOperationTrigger(poll_interval=None)``, the adaptive policy alone;
* ``notified``: the same with ``notification_subscription`` set (``ccai_airflow.hooks.wakeups``): one pull of the
  subscription per event loop; every message batch costs one ListOperations of the location, and only the waits
  whose operation it no longer shows running look (GetOperation); that listing, made also without messages now
  and then, is the fallback while Pub/Sub answers (the adaptive policy while the pull fails).

Each case runs in its own process (``--case``), as one triggerer: one event loop holding N triggers, each consumed
until its single event, against the Insights emulator in its own process (fresh per case), which publishes its
notifications to Google's Pub/Sub emulator (one for the whole run). The location's ``export-insights-data``
notifications go to a fresh topic per case on both sides (so the emulator does the same work); only the
``notified`` case's topic has a subscription. The connection is anonymous (the Google provider's Pub/Sub hook asks
it for credentials) and, against the emulator, has no request budget unless ``--requests-per-second`` gives one.

Measured per case: GetOperation and ListOperations calls per operation (the emulator's ``call_counts()`` delta
/ N) and the triggers' own ``event["wait"]["polls"]``; the detection lag of each operation (the moment its
trigger yielded its event minus the operation's ``metadata.endTime``, read afterwards with
``ContactCenterInsightsHook().get_operation``), p50 and p99 in seconds and as a percentage of that operation's
duration (``endTime - createTime``); wall time; for the notified case the messages pulled, the listings after them
and without. Writes ``benchmarks/results-notified.json`` and prints a table::

    .venv/bin/python benchmarks/notified_waits.py                      # N = 10, 100, 500; ~13 minutes
    .venv/bin/python benchmarks/notified_waits.py --sizes 10 --time-scale 0.2 --output /tmp/smoke.json

Variants, added to the same file with ``--append``: ``--kinds notified --fallback-poll-interval 600`` (what the
wakes alone cost: the fallback all but off) and ``--requests-per-second 10`` (Google's default budget, which the
hook applies to Google's endpoint but not to the emulator's: calls over it wait, so they show up as lag).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/notified_waits.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import PARENT, ROOT, airflow_env, emulator, machine, median, percentile, run_json

KINDS = ("polling", "notified", "peer")
PEER_INTERVAL_S = 10.0  # the peer of make bench-deployment: a fixed 10 s, a client per trigger
STEADY_STATE = ROOT / "benchmarks" / "results-steady-state.json"
STEADY_KEYS = ("calls_per_op", "cpu_s_per_trigger_hour", "rss_kb_per_trigger", "lag_p50_s", "lag_p99_s",
               "lag_p50_pct_of_duration", "lag_p99_pct_of_duration")
PROJECT = PARENT.split("/")[1]
CONNECTION_ENV = "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"
PUBSUB_ENV = "PUBSUB_EMULATOR_HOST"
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results-notified.json"
TARGET = {"lag_p50_s": 2.0, "calls_per_op": 3.0}  # the target for notified waits


def durations(n: int, seed: int, low: float, high: float, scale: float) -> list[float]:
    """The N operation durations (seconds): the same for both kinds of a given N."""
    rng = random.Random(f"{seed}-{n}")
    return [rng.uniform(low, high) * scale for _ in range(n)]


# -- one case, in its own process (one event loop: one triggerer) -------------------------------------------------
def run_case(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio

    import psutil
    from google.cloud import pubsub_v1
    from google.cloud.contact_center_insights_v1 import types

    from benchmarks.peer_trigger import PeerOperationTrigger
    from ccai_airflow.core.outcome import outcome_of
    from ccai_airflow.emulator import EmulatorControl
    from ccai_airflow.hooks import ContactCenterInsightsHook, wakeups
    from ccai_airflow.hooks.params import HookParams
    from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger

    kind, n = args.case, args.n
    spans = durations(n, args.seed, args.min_seconds, args.max_seconds, args.time_scale)
    suffix = f"{kind}-{n}-{time.monotonic_ns()}"
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(PROJECT, f"insights-{suffix}")
    publisher.create_topic(name=topic)
    subscription: str | None = None
    if kind == "notified":
        subscription = subscriber.subscription_path(PROJECT, f"waits-{suffix}")
        subscriber.create_subscription(name=subscription, topic=topic)
    hook = ContactCenterInsightsHook()
    hook.update_pubsub_notification_settings(PARENT, {"export-insights-data": topic})

    me, emulator_process = psutil.Process(), psutil.Process(args.emulator_pid)
    with EmulatorControl(args.rest_url) as controls:
        created = time.monotonic()
        names: list[str] = []
        for i, seconds in enumerate(spans):
            controls.set_operation_seconds(seconds)  # applied when the next operation starts
            request = types.ExportInsightsDataRequest(
                parent=PARENT, big_query_destination={"dataset": "bench", "table": f"{kind}_{n}_{i}"})
            names.append(str(hook.start_operation(request).name))
        create_s = time.monotonic() - created
        counts_before = controls.call_counts()

        async def waits() -> tuple[dict[int, tuple[float, dict[str, Any]]], dict[str, int], float]:
            events: dict[int, tuple[float, dict[str, Any]]] = {}

            async def consume(index: int, trigger: Any) -> None:
                async for event in trigger.run():
                    events[index] = (time.time(), event.payload)
                    return

            async def sample_rss() -> None:
                while True:
                    peak[0] = max(peak[0], me.memory_info().rss)
                    await asyncio.sleep(0.5)

            started, started_at = time.monotonic(), time.time()
            fallback = args.fallback_poll_interval if subscription else None
            if kind == "peer":
                made: list[Any] = [PeerOperationTrigger(name, PEER_INTERVAL_S) for name in names]
            else:
                made = [ContactCenterInsightsOperationTrigger(
                    operation_name=name, poll_interval=fallback, notification_subscription=subscription)
                    for name in names]
            sampler = asyncio.create_task(sample_rss())
            tasks = [asyncio.create_task(consume(i, trigger)) for i, trigger in enumerate(made)]
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.case_timeout)
            sampler.cancel()
            wall = time.monotonic() - started
            waited_s[0] = sum(at - started_at for at, _ in events.values())  # trigger-seconds held
            pulled = wakeups.pulled(subscription, HookParams()) if subscription else {
                "messages": 0, "wakes": 0, "sweeps": 0, "listed": 0}
            return events, pulled, wall

        cpu = me.cpu_times()
        emulator_cpu = emulator_process.cpu_times()
        rss_before = me.memory_info().rss
        peak, waited_s = [rss_before], [0.0]
        events, pulled, wall_s = asyncio.run(waits())
        cpu_s = sum(me.cpu_times()[:2]) - sum(cpu[:2])
        emulator_cpu_s = sum(emulator_process.cpu_times()[:2]) - sum(emulator_cpu[:2])
        counts = controls.call_counts()
        calls = counts.get("GetOperation", 0) - counts_before.get("GetOperation", 0)
        list_calls = counts.get("ListOperations", 0) - counts_before.get("ListOperations", 0)
        published = controls.notifications_published().get(topic, 0)

    lags: list[float] = []
    lag_pcts: list[float] = []
    statuses: dict[str, int] = {}
    for index, name in enumerate(names):
        at, payload = events[index]
        if payload["status"] == "success":  # the peer's word for it
            payload["status"] = "succeeded"
        statuses[payload["status"]] = statuses.get(payload["status"], 0) + 1
        outcome = outcome_of(hook.get_operation(name))  # after the count: not one of the waits' calls
        ended, began = outcome.ended_at(), outcome.created_at()
        if payload["status"] != "succeeded" or ended is None or began is None:
            continue
        lag = at - ended.timestamp()
        lags.append(lag)
        lag_pcts.append(100.0 * lag / max(ended.timestamp() - began.timestamp(), 1e-9))
    # The peer reports no polls: its calls are its polls.
    polls = [payload["wait"]["polls"] if "wait" in payload else calls / n for _, payload in events.values()]
    publisher.stop()
    subscriber.close()
    return {
        "kind": kind, "triggers": n, "statuses": statuses, "get_operation_calls": calls,
        "calls_per_op": calls / n, "list_operations_calls": list_calls, "list_calls_per_op": list_calls / n,
        "api_calls_per_op": (calls + list_calls) / n, "polls_per_op_mean": sum(polls) / n,
        "polls_per_op_p50": median(polls),
        "polls_per_op_max": max(polls),
        "lag_p50_s": median(lags), "lag_p99_s": percentile(lags, 99), "lag_max_s": max(lags, default=math.nan),
        "lag_min_s": min(lags, default=math.nan),
        "lag_p50_pct_of_duration": median(lag_pcts), "lag_p99_pct_of_duration": percentile(lag_pcts, 99),
        "duration_min_s": min(spans), "duration_max_s": max(spans), "duration_mean_s": sum(spans) / n,
        "notifications_published": published, "messages_pulled": pulled["messages"], "wakes": pulled["wakes"],
        "sweeps": pulled["sweeps"],
        "cpu_s_per_trigger_hour": cpu_s / max(waited_s[0] / 3600.0, 1e-9),
        "rss_kb_per_trigger": (peak[0] - rss_before) / 1024.0 / n, "trigger_hours": waited_s[0] / 3600.0,
        "wall_s": wall_s, "create_s": create_s, "cpu_s": cpu_s, "emulator_cpu_s": emulator_cpu_s,
    }


# -- the driver ---------------------------------------------------------------------------------------------------
def case_env(grpc_target: str, rest_url: str, pubsub_host: str, requests_per_second: float | None) -> dict[str, str]:
    extra: dict[str, Any] = {"project": PROJECT, "is_anonymous": True}
    if requests_per_second is not None:
        extra["requests_per_second"] = str(requests_per_second)
    return {
        **airflow_env(grpc_target=grpc_target),
        "CONTACT_CENTER_INSIGHTS_EMULATOR_REST": rest_url,
        PUBSUB_ENV: pubsub_host,
        CONNECTION_ENV: json.dumps({"conn_type": "google_cloud_platform", "extra": extra}),
    }


def case_args(args: argparse.Namespace, kind: str, n: int, rest_url: str, emulator_pid: int) -> list[str]:
    fallback = [] if args.fallback_poll_interval is None else ["--fallback-poll-interval",
                                                                str(args.fallback_poll_interval)]
    return ["--case", kind, "--n", str(n), "--seed", str(args.seed), "--min-seconds", str(args.min_seconds),
            "--max-seconds", str(args.max_seconds), "--time-scale", str(args.time_scale),
            "--case-timeout", str(args.case_timeout), "--rest-url", rest_url, "--emulator-pid", str(emulator_pid),
            *fallback]


def summary(result: dict[str, Any], durations_text: str, args: argparse.Namespace) -> dict[str, Any]:
    """A case as results-notified.json lists it: the asked fields first, the rest after."""
    fallback = args.fallback_poll_interval if result["kind"] == "notified" else None
    name = f"{result['kind']}-{result['triggers']}"
    if fallback is not None:
        name += f"-fallback-{fallback:g}s"
    if args.requests_per_second is not None:
        name += f"-budget-{args.requests_per_second:g}rps"
    case = {
        "name": name, "kind": result["kind"], "triggers": result["triggers"], "durations": durations_text,
        **{key: result[key] for key in ("calls_per_op", "list_calls_per_op", "api_calls_per_op", "lag_p50_s",
                                        "lag_p99_s", "lag_p50_pct_of_duration", "lag_p99_pct_of_duration", "wall_s")},
        # The notified waits' poll_interval, used while the pull fails (None: the adaptive DEFAULT_POLLING).
        "fallback_poll_interval_s": fallback, "requests_per_second": args.requests_per_second,
    }
    return {**case, **{key: value for key, value in result.items() if key not in case}}


def table(cases: list[dict[str, Any]]) -> str:
    head = ("N", "kind", "fallback", "budget", "GetOperation / op", "ListOperations / op", "polls / op (events)",
            "lag p50 s", "lag p99 s",
            "p50 % of dur", "p99 % of dur", "messages", "wakes", "wall s", "CPU s")
    rows = [
        (f"{c['triggers']:,}", c["kind"],
         f"fixed {PEER_INTERVAL_S:g} s" if c["kind"] == "peer" else "adaptive"
         if c.get("fallback_poll_interval_s") is None else f"{c['fallback_poll_interval_s']:g} s",
         "none" if c.get("requests_per_second") is None else f"{c['requests_per_second']:g}/s",
         f"{c['calls_per_op']:.2f}", f"{c.get('list_calls_per_op', 0.0):.2f}", f"{c['polls_per_op_mean']:.2f}",
         f"{c['lag_p50_s']:.2f}", f"{c['lag_p99_s']:.2f}", f"{c['lag_p50_pct_of_duration']:.2f}",
         f"{c['lag_p99_pct_of_duration']:.2f}", f"{c['messages_pulled']:,}" if c["kind"] == "notified" else "-",
         f"{c['wakes']:,}" if c["kind"] == "notified" else "-", f"{c['wall_s']:.1f}", f"{c['cpu_s']:.1f}")
        for c in cases
    ]
    return "\n".join("| " + " | ".join(row) + " |" for row in [head, tuple("---" for _ in head), *rows])


def steady_state_case(cases: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``notified`` case of results-steady-state.json: ours notified against the peer on the largest N where
    both ran without a request budget."""
    plain = [c for c in cases if c.get("requests_per_second") is None and c.get("fallback_poll_interval_s") is None]
    sizes = [n for n in sorted({c["triggers"] for c in plain}, reverse=True)
             if {"notified", "peer"} <= {c["kind"] for c in plain if c["triggers"] == n}]
    if not sizes:
        return None
    latest = {c["kind"]: c for c in plain if c["triggers"] == sizes[0]}  # the last run of each kind
    ours, peer = latest["notified"], latest["peer"]
    return {
        "name": f"notified-{sizes[0]}", "kind": "notified", "triggers": sizes[0], "durations": ours["durations"],
        "ours": {key: ours[key] for key in STEADY_KEYS}
        | {"list_calls_per_op": ours["list_calls_per_op"], "api_calls_per_op": ours["api_calls_per_op"]},
        "peer": {key: peer[key] for key in STEADY_KEYS} | {"poll_interval_s": PEER_INTERVAL_S},
    }


def write_steady_state(path: Path, case: dict[str, Any], facts: dict[str, Any], date: str, command: str) -> None:
    """Put ``case`` in the steady-state results, replacing a case of its name; the other cases stay."""
    earlier: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    cases = [c for c in earlier.get("cases", []) if c.get("name") != case["name"]]
    setting = ("one event loop (one triggerer's) holding the waits, the Insights emulator publishing to Google's "
               "Pub/Sub emulator; the peer is benchmarks/peer_trigger.py (a client per trigger, fixed interval)")
    case = {**case, "date": date, "machine": facts, "command": command, "setting": setting}
    path.write_text(json.dumps({**earlier, "cases": [*cases, case]}, indent=2) + "\n")


def drive(args: argparse.Namespace) -> int:
    from ccai_airflow.emulator.pubsub import INSTALL_HINT, PubSubEmulator, find_pubsub_emulator

    if find_pubsub_emulator() is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    if unknown := sorted(set(kinds) - set(KINDS)):
        raise SystemExit(f"unknown kinds {unknown}: expected some of {list(KINDS)}")
    durations_text = (f"uniform {args.min_seconds * args.time_scale:g}-{args.max_seconds * args.time_scale:g} s "
                      f"(seed {args.seed}-N)")
    case_estimate_s = args.max_seconds * args.time_scale + 30.0
    started = time.monotonic()
    cases: list[dict[str, Any]] = []
    stopped: str | None = None
    with PubSubEmulator() as pubsub:
        # The Insights emulator's publisher reads PUBSUB_EMULATOR_HOST (an insecure channel to it): its processes
        # inherit this process's environment.
        os.environ[PUBSUB_ENV] = pubsub.host
        for n in sizes:
            left = args.max_total_seconds - (time.monotonic() - started)
            if left < case_estimate_s * len(kinds):
                stopped = (f"stopped before N={n}: {left:.0f} s left of --max-total-seconds "
                           f"{args.max_total_seconds:g}, ~{case_estimate_s * len(kinds):.0f} s needed")
                print(f"[notified] {stopped}", file=sys.stderr, flush=True)
                break
            for kind in kinds:
                print(f"[notified] N={n} {kind} ...", file=sys.stderr, flush=True)
                with emulator() as emu:
                    emu.controls.set_pubsub_emulator_host(pubsub.host)
                    env = case_env(emu.grpc_target, emu.rest_url, pubsub.host, args.requests_per_second)
                    try:
                        result = run_json("benchmarks.notified_waits", case_args(args, kind, n, emu.rest_url, emu.pid),
                                          env, args.case_timeout + 120.0)
                    except RuntimeError as exc:
                        stopped = f"N={n} {kind} did not complete: {str(exc)[:500]}"
                        print(f"[notified] {stopped}", file=sys.stderr, flush=True)
                        break
                cases.append(summary(result, durations_text, args))
                print(f"[notified] N={n} {kind}: {result['calls_per_op']:.2f} calls/op, lag p50 "
                      f"{result['lag_p50_s']:.2f} s p99 {result['lag_p99_s']:.2f} s, {result['wall_s']:.0f} s",
                      file=sys.stderr, flush=True)
            if stopped:
                break
    total_s = time.monotonic() - started
    facts = machine()
    run = {"date": facts.pop("date"), "command": " ".join([".venv/bin/python", "benchmarks/notified_waits.py",
                                                           *sys.argv[1:]]),
           "total_s": round(total_s, 1), "stopped": stopped, "cases": [case["name"] for case in cases]}
    output = Path(args.output)
    earlier: dict[str, Any] = json.loads(output.read_text()) if args.append and output.exists() else {}
    cases = [*earlier.get("cases", []), *cases]
    results = {
        "date": earlier.get("date", run["date"]), "machine": earlier.get("machine", facts), "cases": cases,
        "runs": [*earlier.get("runs", []), run], "target": TARGET,
        "notes": ("calls_per_op: the Insights emulator's GetOperation count delta / N (every wait's calls, the first "
                  "look included); list_calls_per_op: its ListOperations delta / N (the listings a message or the "
                  "listing without messages makes, one per location and page); api_calls_per_op: both; "
                  "polls_per_op_mean: the triggers' event['wait']['polls']; lag: event yielded "
                  "minus metadata.endTime; pct: per-operation lag / (endTime - createTime), then the percentile; "
                  "requests_per_second null: no request budget (the emulator endpoint's default); "
                  "fallback_poll_interval_s: the notified waits' poll_interval, which applies while the pull fails "
                  "(null: the adaptive policy); while Pub/Sub answers, the location's listing is the fallback."),
    }
    output.write_text(json.dumps(results, indent=2) + "\n")
    if args.steady_state and (case := steady_state_case(cases)) is not None:
        write_steady_state(Path(args.steady_state), case, results["machine"], run["date"], run["command"])
    print(table(cases))
    print(f"\ntotal {total_s:.0f} s{'; ' + stopped if stopped else ''}\nresults: {output}", file=sys.stderr)
    return 0 if not stopped or stopped.startswith("stopped before") else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,500", help="comma-separated N (default 10,100,500)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="polling,notified,peer (run in this order)")
    parser.add_argument("--min-seconds", type=float, default=20.0)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--time-scale", type=float, default=1.0, help="every duration times this (both kinds)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests-per-second", type=float, default=None,
                        help="the connection's request budget (default none, as against the emulator; Google: 10)")
    parser.add_argument("--fallback-poll-interval", type=float, default=None,
                        help="the notified waits' poll_interval, used while the pull fails (default None: adaptive)")
    parser.add_argument("--append", action="store_true",
                        help="add this run's cases to those already in --output (one more entry of its runs)")
    parser.add_argument("--case-timeout", type=float, default=600.0, help="seconds one case's waits may take")
    parser.add_argument("--max-total-seconds", type=float, default=960.0,
                        help="start no N whose cases would not fit in this (default 960)")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    parser.add_argument("--steady-state", default=str(STEADY_STATE),
                        help="where the notified-vs-peer case goes (results-steady-state.json; '' for nowhere)")
    # One case (the driver runs each in its own process).
    parser.add_argument("--case", choices=KINDS, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rest-url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--emulator-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case is not None:
        print(json.dumps(run_case(args)))
        return 0
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
