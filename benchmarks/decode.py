"""Part 3: decoding a done CreateIssueModel operation whose IssueModel has 10,000 issue stats.

Ours: ``outcome_of(operation)`` then ``xcom_values(outcome)`` (what the sensor and trigger do with a done
operation). Baseline: ``json_format.MessageToDict`` of the same ``Operation``. Also the XCom size guard of
``waiting.check_xcom_size``: ``stored_json_size`` of the XComs (the size of their JSON as Airflow stores
it, the response they share serialized once), checked equal to ``json.dumps`` of them all. A and B are
interleaved round by round; ratios are of the medians.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from typing import Any

from google.cloud.contact_center_insights_v1 import types as ci
from google.longrunning import operations_pb2
from google.protobuf import json_format, timestamp_pb2

from benchmarks.common import PARENT, median
from ccai_airflow.core.outcome import Status, outcome_of
from ccai_airflow.core.xcom import stored_json_size, xcom_values


def build_operation(issues: int) -> operations_pb2.Operation:
    model_name = f"{PARENT}/issueModels/4242"
    model = ci.IssueModel.pb()(name=model_name, display_name="bench-decode", issue_count=issues, language_code="en-US")
    model.state = ci.IssueModel.State.UNDEPLOYED
    model.input_data_config.filter = 'medium="CHAT"'
    model.input_data_config.training_conversations_count = 1_000_000
    stats = model.training_stats
    stats.analyzed_conversations_count = 900_000
    stats.unclassified_conversations_count = 900_000 - sum(range(issues)) % 900_000
    for index in range(issues):
        issue = f"{model_name}/issues/{100_000 + index}"
        entry = stats.issue_stats[issue]
        entry.issue = issue
        entry.display_name = f"Issue number {index}"
        entry.labeled_conversations_count = index
    created = timestamp_pb2.Timestamp(seconds=1_790_000_000)
    ended = timestamp_pb2.Timestamp(seconds=1_790_003_600)
    metadata = ci.CreateIssueModelMetadata.pb()(create_time=created, end_time=ended)
    metadata.request.parent = PARENT
    metadata.request.issue_model.display_name = "bench-decode"
    operation = operations_pb2.Operation(name=f"{PARENT}/operations/777", done=True)
    operation.metadata.Pack(metadata)
    operation.response.Pack(model)
    return operation


def ours(operation: operations_pb2.Operation) -> dict[str, Any]:
    outcome = outcome_of(operation)
    assert outcome.status is Status.SUCCEEDED
    return {"return_value": outcome.response, **xcom_values(outcome)}


def size_guard(values: dict[str, Any]) -> int:
    """As ``OperationWaitMixin.check_xcom_size`` measures the XComs."""
    return stored_json_size(values)


def interleave(calls: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {label: [] for label in calls}
    labels = list(calls)
    for index in range(rounds):
        for label in labels if index % 2 == 0 else labels[::-1]:
            gc.collect()
            start = time.perf_counter()
            calls[label]()
            times[label].append(time.perf_counter() - start)
    return times


def run(issues: int = 10_000, rounds: int = 21) -> dict[str, Any]:
    operation = build_operation(issues)
    values = ours(operation)
    if values["return_value"] != json_format.MessageToDict(operation)["response"]:
        raise AssertionError("our decoded response differs from MessageToDict's")
    stats = values["training_stats"]["issueStats"]
    if len(stats) != issues:
        raise AssertionError(f"expected {issues} issue stats, decoded {len(stats)}")
    if size_guard(values) != len(json.dumps(values).encode()):
        raise AssertionError("the size guard's size differs from the JSON Airflow would store")
    interleave({"ours": lambda: ours(operation), "bare": lambda: json_format.MessageToDict(operation),
                "guard": lambda: size_guard(values)}, 2)
    times = interleave({"ours": lambda: ours(operation), "bare": lambda: json_format.MessageToDict(operation),
                        "guard": lambda: size_guard(values)}, rounds)
    bare = median(times["bare"])
    return {
        "issues": issues,
        "rounds": rounds,
        "operation_bytes": operation.ByteSize(),
        "xcom_bytes": size_guard(values),
        "ours_median_ms": median(times["ours"]) * 1e3,
        "message_to_dict_median_ms": bare * 1e3,
        "size_guard_median_ms": median(times["guard"]) * 1e3,
        "decode_ratio": median(times["ours"]) / bare,
        "size_guard_ratio": median(times["guard"]) / bare,
    }


if __name__ == "__main__":
    print(json.dumps(run()))
