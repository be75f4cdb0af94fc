"""The extra of an asset event (core/asset_extra.py): the same keys for every resource, JSON, bounded in size."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccai_airflow.core.asset_extra import (
    EXTRA_KEYS,
    MAX_EXTRA_BYTES,
    MAX_TOP_ISSUES,
    event_extra,
    extra_size,
    training_stats,
)

pytestmark = pytest.mark.airflow_independent

MODEL = "projects/p/locations/us-central1/issueModels/42"
OPERATION = {
    "name": "projects/p/locations/us-central1/operations/7",
    "metadata": {"@type": "type.googleapis.com/google.cloud.contactcenterinsights.v1.CreateIssueModelMetadata",
                 "createTime": "2026-01-05T00:00:00Z", "endTime": "2026-01-05T06:00:00Z"},
}


def model_with(issues: int, display_name: str = "weekly") -> dict[str, Any]:
    stats = {f"{MODEL}/issues/{i}": {"issue": f"{MODEL}/issues/{i}", "displayName": f"Issue number {i} " * 3,
                                      "labeledConversationsCount": str(i * 7 % 10_007)} for i in range(issues)}
    return {"name": MODEL, "state": "UNDEPLOYED", "displayName": display_name,
            "trainingStats": {"analyzedConversationsCount": "120000", "unclassifiedConversationsCount": "31",
                              "issueStats": stats}}


def test_a_model_event_names_its_operation_times_state_and_top_issues() -> None:
    extra = event_extra(MODEL, OPERATION, model_with(3))

    assert tuple(extra) == EXTRA_KEYS
    assert extra["resource"] == MODEL
    assert extra["operation"] == OPERATION["name"]
    assert extra["operationType"] == "CreateIssueModel"
    assert (extra["createTime"], extra["endTime"]) == ("2026-01-05T00:00:00Z", "2026-01-05T06:00:00Z")
    assert (extra["state"], extra["displayName"]) == ("UNDEPLOYED", "weekly")
    assert extra["trainingStats"]["analyzedConversationsCount"] == 120000  # int64 strings of the JSON: ints
    assert extra["trainingStats"]["unclassifiedConversationsCount"] == 31
    assert [issue["labeledConversationsCount"] for issue in extra["trainingStats"]["topIssues"]] == [14, 7, 0]
    assert json.loads(json.dumps(extra)) == extra


def test_a_table_event_has_the_same_keys_with_none_where_they_do_not_apply() -> None:
    extra = event_extra("p.d.t", {"name": "projects/p/locations/l/operations/1", "metadata": {}})

    assert tuple(extra) == EXTRA_KEYS
    assert extra["operationType"] is None
    assert (extra["state"], extra["displayName"], extra["trainingStats"]) == (None, None, None)
    assert event_extra("p.d.t", None)["operation"] is None  # e.g. a model that was deployed already


def test_a_model_of_10000_issues_stays_under_the_cap_with_the_issues_of_most_conversations() -> None:
    model = model_with(10_000)
    extra = event_extra(MODEL, OPERATION, model)

    assert extra_size(model) > 100 * MAX_EXTRA_BYTES
    assert extra_size(extra) <= MAX_EXTRA_BYTES
    summary = extra["trainingStats"]
    assert summary["issueCount"] == 10_000
    assert 0 < len(summary["topIssues"]) <= MAX_TOP_ISSUES
    issues = model["trainingStats"]["issueStats"].values()
    counts = sorted((int(entry["labeledConversationsCount"]) for entry in issues), reverse=True)
    assert [issue["labeledConversationsCount"] for issue in summary["topIssues"]] == counts[:len(summary["topIssues"])]


def test_the_cap_drops_issues_before_it_cuts_the_display_name() -> None:
    long_name = "é" * 10_000  # multi-byte: the cap is in bytes
    extra = event_extra(MODEL, OPERATION, model_with(5, display_name=long_name))

    assert extra_size(extra) <= MAX_EXTRA_BYTES
    assert extra["trainingStats"]["topIssues"] == []
    assert extra["trainingStats"]["issueCount"] == 5
    assert 0 < len(extra["displayName"]) < len(long_name)
    assert long_name.startswith(extra["displayName"])


def test_no_stats_is_none() -> None:
    assert training_stats(None) is None
    assert training_stats({}) is None
    assert training_stats({"analyzedConversationsCount": "3"}) == {
        "analyzedConversationsCount": 3, "unclassifiedConversationsCount": 0, "issueCount": 0, "topIssues": []}
