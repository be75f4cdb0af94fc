"""Airflow assets of Contact Center Insights: the ``contactcenterinsights://`` URI scheme and each task's alias.

An Insights resource's asset URI is its resource name behind the scheme, which is also its OpenLineage
dataset (``ccai_airflow.lineage``: namespace ``contactcenterinsights://projects/P/locations/L``, name the
rest)::

    contactcenterinsights://projects/P/locations/L/issueModels/ID
    contactcenterinsights://projects/P/locations/L/conversations
    contactcenterinsights://projects/P/locations/L/conversations/analyses
    contactcenterinsights://projects/P/locations/L/conversations/feedbackLabels

``get_provider_info()`` registers the scheme (``asset-uris``): Airflow calls :func:`sanitize_uri` on every
such URI, and a malformed one fails where it is written, naming it. BigQuery tables and Cloud Storage
objects use the Google provider's schemes (``bigquery://P/D/T``, ``gs://B/O``), so DAGs already scheduled on
those assets run on our events too.

A resource's name is known only when the operation ends (a model's id is the server's), so each task
records its events through an alias it declares itself: :func:`task_alias`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ccai_airflow.lineage import INSIGHTS_SCHEME

if TYPE_CHECKING:
    from urllib.parse import SplitResult

__all__ = [
    "ALIAS_PREFIX",
    "INSIGHTS_SCHEME",
    "convert_asset_to_openlineage",
    "create_asset",
    "resource_of",
    "sanitize_uri",
    "task_alias",
    "task_alias_name",
]

ALIAS_PREFIX = INSIGHTS_SCHEME
_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
_PATH_RE = re.compile(
    r"^/(?P<project>[a-z0-9](?:[a-z0-9.:-]{0,61}[a-z0-9])?)/locations/(?P<location>[a-z0-9](?:[a-z0-9-]{0,61}"
    rf"[a-z0-9])?)/(?P<rest>issueModels/{_ID}|conversations|conversations/analyses|conversations/feedbackLabels)\Z"
)
FORMS = (
    "contactcenterinsights://projects/{project}/locations/{location}/issueModels/{id}, "
    "…/conversations, …/conversations/analyses or …/conversations/feedbackLabels"
)


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's ``asset-uris`` handler: accept the resource names above, refuse anything else naming it."""
    if uri.netloc != "projects" or uri.query or not _PATH_RE.match(uri.path):
        raise ValueError(f"Invalid Contact Center Insights asset URI {uri.geturl()!r}: expected {FORMS}.")
    return uri


def create_asset(*, name: str, extra: dict[str, Any] | None = None) -> Any:
    """The asset of an Insights resource name, e.g. ``projects/P/locations/L/issueModels/ID``."""
    from airflow.sdk import Asset

    return Asset(uri=f"{INSIGHTS_SCHEME}://{name}", extra=extra)


def convert_asset_to_openlineage(asset: Any, lineage_context: Any) -> Any:
    """The OpenLineage dataset of an asset: the same namespace and name as the operators' lineage."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    resource = resource_of(asset.uri)
    location = "/".join(resource.split("/")[:4])  # projects/P/locations/L
    return Dataset(namespace=f"{INSIGHTS_SCHEME}://{location}", name=resource[len(location) + 1:])


def resource_of(uri: str) -> str:
    """The name the API gives the resource of an asset URI: the Insights resource name, ``P.D.T`` for a
    BigQuery table, the ``gs://`` URI itself for Cloud Storage."""
    scheme, _, rest = uri.partition("://")
    if scheme == INSIGHTS_SCHEME:
        return rest
    if scheme == "bigquery":
        return rest.replace("/", ".")
    return uri


def task_alias_name(dag_id: str, task_id: str) -> str:
    """``contactcenterinsights/{dag_id}/{task_id}``: neither id can hold a ``/``, so no two tasks share one."""
    return f"{ALIAS_PREFIX}/{dag_id}/{task_id}"


def task_alias(dag_id: str, task_id: str) -> Any:
    """The ``AssetAlias`` a task records its events through; schedule a DAG on it to run on each of them."""
    from airflow.sdk import AssetAlias

    return AssetAlias(name=task_alias_name(dag_id, task_id))
