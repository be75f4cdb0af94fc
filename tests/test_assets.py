"""The contactcenterinsights:// asset scheme (assets.py): registered with Airflow through get_provider_info(), its
sanitizer refusing a malformed URI by name, its OpenLineage twin, and each task's alias."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from ccai_airflow import assets, lineage
from ccai_airflow.get_provider_info import get_provider_info

PARENT = "projects/my-project/locations/us-central1"
GOOD = [
    f"contactcenterinsights://{PARENT}/issueModels/1234567890",
    f"contactcenterinsights://{PARENT}/conversations",
    f"contactcenterinsights://{PARENT}/conversations/analyses",
    f"contactcenterinsights://{PARENT}/conversations/feedbackLabels",
]
BAD = [
    f"contactcenterinsights://{PARENT}/issueModel/1",  # the collection is issueModels
    f"contactcenterinsights://{PARENT}/issueModels/",  # no id (the trailing / is dropped by Airflow)
    f"contactcenterinsights://{PARENT}/issueModels/1/issues/2",
    "contactcenterinsights://my-project/locations/us-central1/issueModels/1",  # no projects/
    "contactcenterinsights://projects/My_Project/locations/us-central1/conversations",
    f"contactcenterinsights://{PARENT}/conversations?view=full",
]


@pytest.mark.parametrize("uri", GOOD)
def test_airflow_accepts_each_resource_uri_as_written(uri: str) -> None:
    from airflow.sdk import Asset

    assert Asset(uri=uri).uri == uri


@pytest.mark.parametrize("uri", BAD)
def test_airflow_refuses_a_malformed_uri_naming_it(uri: str) -> None:
    from airflow.sdk import Asset

    with pytest.raises(ValueError, match="Invalid Contact Center Insights asset URI") as raised:
        Asset(uri=uri)
    assert uri.split("?")[0].rstrip("/") in str(raised.value)
    assert "issueModels/{id}" in str(raised.value)


def test_the_scheme_is_registered_through_the_provider_info_airflow_reads() -> None:
    (entry,) = get_provider_info()["asset-uris"]
    assert entry["schemes"] == ["contactcenterinsights"]
    try:  # the task SDK's own provider manager (3.2+), else core's
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as Manager
    except ImportError:
        from airflow.providers_manager import ProvidersManager as Manager  # type: ignore[assignment,no-redef]

    assert Manager().asset_uri_handlers["contactcenterinsights"] is assets.sanitize_uri


def test_the_sanitizer_alone_names_the_uri() -> None:
    with pytest.raises(ValueError, match=r"'contactcenterinsights://projects/p/locations/l/models/1'"):
        assets.sanitize_uri(urlsplit("contactcenterinsights://projects/p/locations/l/models/1"))


def test_the_factory_and_the_openlineage_twin_match_the_operators_lineage() -> None:
    name = f"{PARENT}/issueModels/42"
    asset = assets.create_asset(name=name)

    assert asset.uri == f"contactcenterinsights://{name}"
    dataset = assets.convert_asset_to_openlineage(asset, None)
    ref = lineage.issue_model(name)
    assert (dataset.namespace, dataset.name) == (ref.namespace, ref.name)
    assert ref.uri == asset.uri
    conversations = assets.convert_asset_to_openlineage(assets.create_asset(name=f"{PARENT}/conversations"), None)
    assert (conversations.namespace, conversations.name) == (lineage.insights_namespace(PARENT), "conversations")


def test_resource_of_gives_the_name_each_api_uses() -> None:
    assert assets.resource_of(f"contactcenterinsights://{PARENT}/issueModels/1") == f"{PARENT}/issueModels/1"
    assert assets.resource_of("bigquery://p/d/t") == "p.d.t"
    assert assets.resource_of("gs://b/o/x.json") == "gs://b/o/x.json"


def test_a_tasks_alias_is_named_for_its_dag_and_task() -> None:
    alias = assets.task_alias("ccai_issue_model_lifecycle", "deploy_issue_model")

    assert alias.name == "contactcenterinsights/ccai_issue_model_lifecycle/deploy_issue_model"
    assert assets.task_alias("d", "group.task").name == "contactcenterinsights/d/group.task"
