"""OpenLineage for the operators: the datasets each one reads and writes, and its operation as a run facet.

The operators' ``get_openlineage_facets_on_complete`` / ``get_openlineage_facets_on_failure`` (the
OpenLineage provider's developer guide) call :func:`operator_lineage` with what they say about
themselves (:class:`Datasets`). The OpenLineage provider (``ccai-airflow[openlineage]``) is imported
inside the functions, never at module level, so the package works without it; without it
:func:`operator_lineage` returns None. Building lineage never fails a task: any error is logged and
the event goes out with the listener's own facets only.

Dataset names follow the OpenLineage naming spec (https://openlineage.io/docs/spec/naming) for the
stores it names, and the Google provider's operators where it leaves a choice; Insights is ours:

* BigQuery table: namespace ``bigquery``, name ``{project}.{dataset}.{table}``.
* Cloud Storage objects: namespace ``gs://{bucket}``, name the object path; a prefix or wildcard is
  cut to its folder and the whole bucket is ``/``, as the Google provider's GCS operators do.
* Insights, per location: namespace ``contactcenterinsights://projects/{project}/locations/{location}``,
  names ``conversations``, ``conversations/analyses`` (their analyses) and ``issueModels/{id}``.

The run facet ``contactCenterInsightsOperation`` names the operation and how it ended (its JSON
Schema: ``ContactCenterInsightsOperationRunFacet.json`` beside this module).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ccai_airflow import __version__
from ccai_airflow.core.outcome import Outcome, Status
from ccai_airflow.hooks.clients import bigquery_client

__all__ = [
    "ANALYSES",
    "CONVERSATIONS",
    "INSIGHTS_SCHEME",
    "PRODUCER",
    "RUN_FACET",
    "SCHEMA_URL",
    "DatasetRef",
    "Datasets",
    "analyses",
    "bigquery_table",
    "conversations",
    "gcs_objects",
    "insights_namespace",
    "issue_model",
    "operator_lineage",
    "run_facet_class",
]

INSIGHTS_SCHEME = "contactcenterinsights"
CONVERSATIONS = "conversations"
ANALYSES = "conversations/analyses"
BIGQUERY_NAMESPACE = "bigquery"
RUN_FACET = "contactCenterInsightsOperation"
# Who made the facet, and where its schema is: the release of this package that ships
# ContactCenterInsightsOperationRunFacet.json; the fragment is the definition's key in that file.
PRODUCER = f"https://pypi.org/project/ccai-airflow/{__version__}/"
SCHEMA_URL = f"{PRODUCER}#/$defs/ContactCenterInsightsOperationRunFacet"
# How long reading a BigQuery table's schema may take: the listener gives the whole event 10 s by default.
SCHEMA_READ_TIMEOUT_S = 5.0


# -- what the operators say (no OpenLineage import) -------------------------------------------
@dataclass(frozen=True)
class DatasetRef:
    """One dataset by its OpenLineage namespace and name.

    :param bigquery: ``project.dataset.table`` when it is a BigQuery table whose schema facet to read.
    :param lifecycle: a ``LifecycleStateChange`` name (``CREATE``, ``DROP``) when the task made or removed it.
    :param uri: its Airflow asset URI (``ccai_airflow.assets``), exact where the OpenLineage name is cut to a
        folder (Cloud Storage prefixes); by default the namespace and the name joined.
    """

    namespace: str
    name: str
    bigquery: str | None = None
    lifecycle: str | None = None
    uri: str = ""

    def __post_init__(self) -> None:
        if not self.uri:
            object.__setattr__(self, "uri", f"{self.namespace}/{self.name}")


@dataclass(frozen=True)
class Datasets:
    """What an operator reads and writes."""

    inputs: tuple[DatasetRef, ...] = ()
    outputs: tuple[DatasetRef, ...] = ()


def insights_namespace(parent: str) -> str:
    """``projects/P/locations/L`` -> ``contactcenterinsights://projects/P/locations/L``."""
    return f"{INSIGHTS_SCHEME}://{parent}"


def conversations(parent: str) -> DatasetRef:
    return DatasetRef(insights_namespace(parent), CONVERSATIONS)


def analyses(parent: str) -> DatasetRef:
    return DatasetRef(insights_namespace(parent), ANALYSES)


def issue_model(name: str, lifecycle: str | None = None) -> DatasetRef:
    """``projects/P/locations/L/issueModels/ID`` -> the model in its location's namespace."""
    parent, _, model_id = name.partition("/issueModels/")
    if not model_id:
        raise ValueError(f"Invalid issue model name {name!r}: expected projects/P/locations/L/issueModels/ID.")
    return DatasetRef(insights_namespace(parent), f"issueModels/{model_id}", lifecycle=lifecycle)


def gcs_objects(uri: str) -> DatasetRef:
    """``gs://bucket/path`` as the Google provider's GCS operators name it: a prefix or wildcard is cut to its
    folder (``gs://b/chats/2026-*`` -> ``chats``), the whole bucket is ``/``."""
    from airflow.providers.google.cloud.openlineage.utils import extract_ds_name_from_gcs_path

    if not uri.startswith("gs://"):
        raise ValueError(f"Invalid Cloud Storage URI {uri!r}: expected gs://BUCKET[/PATH].")
    bucket, _, path = uri[len("gs://"):].partition("/")
    return DatasetRef(f"gs://{bucket}", extract_ds_name_from_gcs_path(path), uri=uri)


def bigquery_table(project: str, dataset: str, table: str) -> DatasetRef:
    name = f"{project}.{dataset}.{table}"
    return DatasetRef(BIGQUERY_NAMESPACE, name, bigquery=name, uri=f"bigquery://{project}/{dataset}/{table}")


# -- OpenLineage objects (lazy imports) --------------------------------------------------------
@functools.cache
def run_facet_class() -> type[Any]:
    """The ``contactCenterInsightsOperation`` run facet, an attrs class on the OpenLineage client's RunFacet."""
    from attr import define, field
    from openlineage.client.generated.base import RunFacet

    @define
    class ContactCenterInsightsOperationRunFacet(RunFacet):  # type: ignore[misc]
        """The Insights long-running operation the task started or waited for.

        :param operationName: ``projects/P/locations/L/operations/ID``.
        :param done: whether the operation was done when the task ended; None when the task did not wait.
        :param status: how the wait ended: ``succeeded``, ``failed``, ``error`` (the API refused to say),
            ``timeout``, ``running``; None when the task did not wait.
        :param errorCode: the operation's (or the API's) status code name, e.g. ``FAILED_PRECONDITION``.
        :param errorMessage: its message.
        """

        operationName: str  # camelCase, as OpenLineage facets are
        done: bool | None = field(default=None)
        status: str | None = field(default=None)
        errorCode: str | None = field(default=None)
        errorMessage: str | None = field(default=None)

        def __attrs_post_init__(self) -> None:
            super().__attrs_post_init__()
            self._producer = PRODUCER

        @staticmethod
        def _get_schema() -> str:
            return SCHEMA_URL

    return ContactCenterInsightsOperationRunFacet


def _run_facet(operation_name: str | None, outcome: Outcome | None) -> dict[str, Any]:
    name = outcome.operation_name if outcome is not None else operation_name
    if not name:
        return {}
    facet = run_facet_class()
    if outcome is None:
        return {RUN_FACET: facet(operationName=name)}
    done = True if outcome.status in (Status.SUCCEEDED, Status.FAILED) else (
        False if outcome.status in (Status.RUNNING, Status.TIMEOUT) else None)
    return {RUN_FACET: facet(operationName=name, done=done, status=str(outcome.status),
                             errorCode=outcome.error_code, errorMessage=outcome.error_message)}


def _schema_facets(table: str, google_client: Callable[[str], Any], task_log: Any) -> dict[str, Any]:
    """The Google provider's facets of a BigQuery table (schema, documentation) when it can be read; else none."""
    project = table.split(".", 1)[0]
    try:
        client = bigquery_client(project, lambda: google_client(project))
        if client is None:
            task_log.info("OpenLineage: no schema facet for %s: the emulator has no REST address to read it.", table)
            return {}
        found = client.get_table(table, retry=None, timeout=SCHEMA_READ_TIMEOUT_S)
        from airflow.providers.google.cloud.openlineage.utils import get_facets_from_bq_table

        return dict(get_facets_from_bq_table(found))
    except Exception as exc:  # not there, no permission, no network: the output goes without a schema
        task_log.info("OpenLineage: no schema facet for BigQuery table %s: %s: %s", table, type(exc).__name__, exc)
        return {}


def _dataset(ref: DatasetRef, output: bool, google_client: Callable[[str], Any], task_log: Any) -> Any:
    from airflow.providers.common.compat.openlineage.facet import (
        InputDataset,
        LifecycleStateChange,
        LifecycleStateChangeDatasetFacet,
        OutputDataset,
    )

    facets: dict[str, Any] = {}
    if ref.bigquery is not None and output:
        facets.update(_schema_facets(ref.bigquery, google_client, task_log))
    if ref.lifecycle is not None:
        facets["lifecycleStateChange"] = LifecycleStateChangeDatasetFacet(
            lifecycleStateChange=LifecycleStateChange[ref.lifecycle])
    kind = OutputDataset if output else InputDataset
    return kind(namespace=ref.namespace, name=ref.name, facets=facets)


def operator_lineage(
    task_log: Any, task_id: str, datasets: Callable[[], Datasets], operation_name: str | None,
    outcome: Outcome | None, google_client: Callable[[str], Any],
) -> Any:
    """The ``OperatorLineage`` of a task: its datasets and the run facet of its operation.

    :param datasets: what the operator reads and writes (called here, so that an error in it is caught too).
    :param operation_name: the operation the task started, when it did not wait for it.
    :param outcome: how the wait ended (``finish()``), when it waited.
    :param google_client: ``project -> google.cloud.bigquery.Client`` with the task's credentials.
    :return: None without the OpenLineage provider, or when the lineage could not be built (logged).
    """
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    try:
        found = datasets()
        return OperatorLineage(
            inputs=[_dataset(ref, False, google_client, task_log) for ref in found.inputs],
            outputs=[_dataset(ref, True, google_client, task_log) for ref in found.outputs],
            run_facets=_run_facet(operation_name, outcome),
        )
    except Exception:
        task_log.warning("OpenLineage: could not build the lineage of task %s; the task is not affected.",
                         task_id, exc_info=True)
        return None
