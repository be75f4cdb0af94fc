"""The Markdown report of a benchmark run, its targets, and the README section it fills in."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

README_PATH = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- bench-results:start -->", "<!-- bench-results:end -->"
OURS = "ours (DEFAULT_POLLING)"
API_CORE_JITTER = "api-core default (as 2.x runs it: full jitter)"
API_CORE_NOMINAL = "api-core default, nominal (no jitter)"
DURATION_S = {"10s": 10.0, "10min": 600.0, "3h": 10800.0}


def _target(rows: list[dict[str, Any]], name: str, value: Any, target: str, met: bool | None) -> None:
    rows.append({"name": name, "value": value, "target": target, "met": met})


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the brief with the value measured in this run and whether it was met."""
    rows: list[dict[str, Any]] = []
    if "poll_overhead_ratio" in results:
        ratio = results["poll_overhead_ratio"]
        _target(rows, "poll_overhead_ratio (running operation)", round(ratio, 3), "<= 1.10", ratio <= 1.10)
    if results.get("trigger_scale"):
        largest = results["trigger_scale"][-1]
        n, interval = largest["triggers_n"], largest["poll_interval_s"]
        lag = largest["p99_detection_lag_s"]
        _target(rows, f"p99 detection lag, {n} triggers", round(lag, 2), f"<= {interval + 2:g} s", lag <= interval + 2)
        rss = largest["rss_kb_per_trigger"]
        _target(rows, f"RSS per trigger, {n} triggers", round(rss, 1), "<= 10 KB", rss <= 10)
        channels = largest["channels_opened"]
        _target(rows, f"gRPC channels, {n} triggers", channels, "== 1", channels == 1)
        for run in results["trigger_scale"]:
            ok = run["statuses"].get("succeeded", 0)
            _target(rows, f"triggers that succeeded, {run['triggers_n']} triggers", ok, f"== {run['triggers_n']}",
                    ok == run["triggers_n"])
    burst = results.get("trigger_scale_burst")
    if burst:
        ok, n = burst["statuses"].get("succeeded", 0), burst["triggers_n"]
        _target(rows, f"(extra) {n} triggers started at one instant: succeeded", ok, f"== {n}", ok == n)
    if "decode_ratio" in results:
        ratio = results["decode_ratio"]
        _target(rows, "decode_ratio (10,000 issue stats)", round(ratio, 3), "<= 1.2", ratio <= 1.2)
    policies = results.get("polling_policies")
    if policies:
        for label, duration in DURATION_S.items():
            latency = policies[OURS][label]["median_detection_latency_s"]
            bound = max(2.0, 0.1 * duration)
            _target(rows, f"ours: median detection latency, {label} operation", round(latency, 2), f"<= {bound:g} s",
                    latency <= bound)
        ours_calls = policies[OURS]["3h"]["api_calls_per_op"]
        for label in (API_CORE_NOMINAL, API_CORE_JITTER):
            theirs = policies[label]["3h"]["api_calls_per_op"]
            _target(rows, f"ours: calls per 3 h operation vs {label}", round(ours_calls, 1),
                    f"<= {theirs / 5:.1f} (a fifth of {theirs:.1f})", ours_calls * 5 <= theirs)
    budget = results.get("polling_budget")
    if budget:
        _target(rows, f"budget: max GetOperation calls in any 1 s, {budget['triggers_n']} triggers",
                budget["max_calls_in_any_1s_window"], "<= 20", budget["max_calls_in_any_1s_window"] <= 20)
        _target(rows, "budget: every operation completed", budget["all_completed"], "true", budget["all_completed"])
    return rows


def _f(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_f(cell) if not isinstance(cell, str) else cell for cell in row) + " |" for row in rows]
    return lines


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [
        f"Run of {m['date']} on {m['cpu_model']}, {m['cores']} cores, Python {m['python']} "
        f"({m['platform']}); whole run {results.get('total_seconds', 0):,.0f} s"
        + (" (quick smoke run: small sizes)" if results.get("quick") else "") + ".",
        "",
    ]
    if results.get("errors"):
        out += ["**Failed parts:** " + "; ".join(f"{k}: {v}" for k, v in results["errors"].items()), ""]
    rows = [[t["name"], _f(t["value"]), t["target"], "met" if t["met"] else "**missed**"] for t in results["targets"]]
    out += ["#### Targets", "", *_table(["measure", "value", "target", "result"], rows), ""]

    overhead = results.get("poll_overhead")
    if overhead:
        out += ["#### 1. One poll: our async hook + outcome vs a bare async client call (median, interleaved)", ""]
        out += _table(
            ["operation", "ours µs", "bare µs", "ratio", "ours, metadata changed since the last poll µs",
             "ratio (changed)", "outcome_of alone µs (hot loop)"],
            [[label, r["ours_median_us"], r["bare_median_us"], _f(r["ratio"], 3), r["changed_median_us"],
              _f(r["changed_ratio"], 3), r["outcome_of_us"]]
             for label, r in overhead.items()],
        )
        out.append("")
    scale = results.get("trigger_scale")
    if scale:
        out += ["#### 2. Concurrent triggers in one asyncio loop (poll_interval "
                f"{scale[0]['poll_interval_s']:g} s, operations ending uniformly over {scale[0]['spread_s']:g} s)", ""]
        burst = results.get("trigger_scale_burst")
        runs: list[dict[str, Any]] = [*scale, burst] if burst else list(scale)
        out += _table(
            ["N", "operations end", "succeeded / failed", "p50 lag s", "p99 lag s", "p99 lag / interval",
             "RSS KB/trigger", "CPU s / 1k polls", "emulator CPU s / 1k polls", "polls / trigger", "first poll round s",
             "channels"],
            [[r["triggers_n"], "spread" if r["spread_s"] else "all at once, done at the first look",
              f"{r['statuses'].get('succeeded', 0):,} / {r['events'] - r['statuses'].get('succeeded', 0):,}",
              r["p50_detection_lag_s"], r["p99_detection_lag_s"],
              _f(r["p99_detection_lag_s"] / r["poll_interval_s"], 3),
              _f(r["rss_kb_per_trigger"], 1), _f(r["cpu_s_per_1k_polls"], 3), _f(r["emulator_cpu_s_per_1k_polls"], 3),
              r["polls_per_trigger"], r["first_poll_round_s"], r["channels_opened"]]
             for r in runs],
        )
        failures = {f"N={r['triggers_n']}{'' if r['spread_s'] else ' (at once)'}": r["errors"]
                    for r in runs if r.get("errors")}
        if failures:
            out += ["", "Failed triggers' events: " + "; ".join(
                f"{label}: " + ", ".join(f"{count:,} x `{error}`" for error, count in errors.items())
                for label, errors in failures.items())]
        out.append("")
    decode = results.get("decode")
    if decode:
        out += [f"#### 3. Decoding a done operation with {decode['issues']:,} issue stats "
                f"({decode['operation_bytes']:,} bytes of protobuf, {decode['xcom_bytes']:,} bytes of XCom JSON)", ""]
        out += _table(
            ["path", "median ms", "ratio to MessageToDict"],
            [["json_format.MessageToDict(operation)", decode["message_to_dict_median_ms"], "1"],
             ["ours: outcome_of + xcom_values", decode["ours_median_ms"], _f(decode["decode_ratio"], 3)],
             ["XCom size guard: stored_json_size of the XComs", decode["size_guard_median_ms"],
              _f(decode["size_guard_ratio"], 3)]],
        )
        out.append("")
    policies = results.get("polling_policies")
    if policies:
        out += ["#### 4. Polling policies on the emulated clock (real GetOperation calls; mean calls, median latency)",
                ""]
        header = ["policy"] + [f"{label}: calls/op" for label in DURATION_S] + [f"{label}: median lag s"
                                                                              for label in DURATION_S]
        out += _table(header, [[name] + [per[label]["api_calls_per_op"] for label in DURATION_S]
                               + [per[label]["median_detection_latency_s"] for label in DURATION_S]
                               for name, per in policies.items()])
        out.append("")
    worker = results.get("worker_slots")
    if worker:
        first = next(iter(worker.values()))
        out += ["#### 5. Worker-slot seconds per 10-minute operation (measured on a "
                f"{first['measured_operation_s']:g} s operation with `airflow dags test`, poke_interval 5 s)", ""]
        out += _table(
            ["mode", "sensor runs", "measured worker s", "worker s per 10-min op", "how"],
            [[mode, r["sensor_runs"], r["measured_worker_s"], r["worker_seconds_per_op"], r["method"]]
             for mode, r in worker.items()],
        )
        out.append("")
    budget = results.get("polling_budget")
    if budget:
        out += [f"#### 6. Polling budget: {budget['triggers_n']:,} triggers, one project, 20 req/s budget, emulator "
                "quota 20/s", ""]
        out += _table(
            ["GetOperation calls", "max in any 1 s", "1-s windows over 20", "RESOURCE_EXHAUSTED",
             "achieved rate /s", "longest event-loop stall s", "all completed", "wall s"],
            [[budget["get_operation_calls"], budget["max_calls_in_any_1s_window"], budget["windows_over_20"],
              budget["resource_exhausted"], budget["achieved_rate_per_s"], budget["max_loop_late_s"],
              budget["all_completed"], budget["wall_s"]]],
        )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def update_readme(path: Path, report: str) -> None:
    """Replace the generated section of the README (between the markers) with ``report``."""
    text = path.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{path} has no {START} ... {END} section")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{report}{END}{tail}")
