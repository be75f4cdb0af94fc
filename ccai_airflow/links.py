"""Operator extra links, built on the Google provider's link classes (``BaseGoogleLink``).

Every link is persisted as its complete URL, as the Google provider's own
``CloudRunJobExecutionDetailsLink`` does, rather than as the parameters to format later: in
Airflow 3 the UI (``GET /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links``)
reads a serialized operator's links straight from XCom, so a parameter dict would show as the
link of a task still deferred (a training job waits for hours). When the task ends, Airflow's
task runner calls ``get_link`` and stores its result under the same key; for a stored URL that is
the URL itself.

Where each URL pattern was checked (and where it could not be) is in each class's docstring and
in docs/usage.md. The export's BigQuery table is linked with the Google provider's own
``BigQueryTableLink`` (``airflow/providers/google/cloud/links/bigquery.py``, the pattern
``/bigquery?referrer=search&project={project_id}&d={dataset_id}&p={project_id}&page=table&t={table_id}``),
persisted through :func:`persist_url` as well; that pattern is the provider's, not checked
against Google's BigQuery documentation here (no stored copy of a Google page shows a console
table URL).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.providers.google.cloud.links.base import BASE_LINK, BaseGoogleLink

__all__ = [
    "INSIGHTS_API",
    "ContactCenterInsightsIssueModelLink",
    "ContactCenterInsightsLink",
    "ContactCenterInsightsOperationLink",
    "link_url",
    "persist_no_url",
    "persist_url",
]

# The REST endpoint the Insights REST reference names (e.g. issueModels.get:
# GET https://contactcenterinsights.googleapis.com/v1/{name=projects/*/locations/*/issueModels/*}).
INSIGHTS_API = "https://contactcenterinsights.googleapis.com/v1"


def link_url(link: type[BaseGoogleLink], **value: Any) -> str:
    """The URL of ``link`` for ``value``, as ``BaseGoogleLink`` formats it (console-relative patterns get
    the console's base); each value is percent-encoded, ``/`` kept (resource names are paths)."""
    formatted = link.format_str.format(**{key: quote(str(item), safe="/") for key, item in value.items()})
    return formatted if formatted.startswith("http") else BASE_LINK + formatted


def persist_url(link: type[BaseGoogleLink], context: Any, **value: Any) -> str:
    """Store the complete URL of ``link`` under its XCom key (any ``BaseGoogleLink``, the provider's too)."""
    url = link_url(link, **value)
    context["ti"].xcom_push(key=link.key, value=url)
    return url


def persist_no_url(link: type[BaseGoogleLink], context: Any) -> None:
    """Store an empty link under ``link``'s XCom key: the task has none (yet). The task runner reads every link's key
    when the task defers and when it ends, and Airflow logs a key that is not there as an error."""
    context["ti"].xcom_push(key=link.key, value="")


class _CompleteUrlLink(BaseGoogleLink):
    """A ``BaseGoogleLink`` whose ``persist`` stores the complete URL (see the module docstring)."""

    @classmethod
    def persist(cls, context: Any, **value: Any) -> None:
        persist_url(cls, context, **value)

    @classmethod
    def persist_pending(cls, context: Any) -> None:
        """No URL yet (the model a training will create): an empty link until :meth:`persist` (``persist_no_url``)."""
        persist_no_url(cls, context)


class ContactCenterInsightsLink(_CompleteUrlLink):
    """The Contact Center Insights console of the project (every operator).

    Not verified against Google's documentation: Google's guides (e.g.
    https://cloud.google.com/contact-center/insights/docs/topic-modeling and
    https://cloud.google.com/contact-center/insights/docs/create-analyze-conversation-ui) send the
    reader to "the Insights console" without the stored copies showing the link's target. The path
    ``/contact-center/insights`` of ``console.cloud.google.com`` is the one public walkthroughs found
    use for that console (third-party material, not Google's); others use
    ``https://ccai.cloud.google.com/insights/projects/{project}`` instead. ``?project=`` selects the
    project, as in every console link of the Google provider.
    """

    name = "Contact Center Insights"
    key = "contact_center_insights"
    format_str = "/contact-center/insights?project={project_id}"


class ContactCenterInsightsIssueModelLink(_CompleteUrlLink):
    """The issue (topic) model in the REST API: its ``issueModels.get`` URL (issue model operators, once the
    model is known: from the request, or for CreateIssueModel from the response).

    Verified: ``GET https://contactcenterinsights.googleapis.com/v1/{name=projects/*/locations/*/issueModels/*}``,
    https://cloud.google.com/contact-center/insights/docs/reference/rest/v1/projects.locations.issueModels/get.
    A console page of one model could not be verified: Google's topic-modeling guide
    (https://cloud.google.com/contact-center/insights/docs/topic-modeling) only names the console's
    "Topic models" page, and no Google page found shows a model's console URL, so the API's URL is
    linked instead. It needs an OAuth token (``curl -H "Authorization: Bearer $(gcloud auth
    print-access-token)" URL``); a browser without one gets 401.
    """

    name = "Contact Center Insights Issue Model (REST API)"
    key = "contact_center_insights_issue_model"
    format_str = INSIGHTS_API + "/projects/{project_id}/locations/{location}/issueModels/{issue_model_id}"


class ContactCenterInsightsOperationLink(_CompleteUrlLink):
    """The long-running operation in the REST API: its ``operations.get`` URL (every operator, from the
    moment the operation exists; the sensor, for the operation it waits on).

    Verified: the Insights guide "Get long-running operations"
    (https://cloud.google.com/contact-center/insights/docs/long-running-operations) polls
    ``GET https://contactcenterinsights.googleapis.com/v1/projects/PROJECT_ID/locations/us-central1/operations/OPERATION_ID``,
    and the REST reference
    (https://cloud.google.com/contact-center/insights/docs/reference/rest/v1/projects.locations.operations/get)
    gives ``GET https://{endpoint}/v1/{name=projects/*/locations/*/operations/*}``. No Google page
    found shows a console page of an Insights operation, so this is the API's URL: it needs an
    OAuth token, as for the issue model link. The link always names the public
    endpoint, whatever the task's ``api_endpoint``.
    """

    name = "Contact Center Insights Operation (REST API)"
    key = "contact_center_insights_operation"
    format_str = INSIGHTS_API + "/{operation_name}"
