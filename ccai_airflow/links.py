"""Operator extra links to the Google Cloud console, built on the Google provider's link classes."""

from __future__ import annotations

from airflow.providers.google.cloud.links.base import BaseGoogleLink

__all__ = ["ContactCenterInsightsIssueModelLink", "ContactCenterInsightsLink"]


class ContactCenterInsightsLink(BaseGoogleLink):
    """The Contact Center Insights console of the project."""

    name = "Contact Center Insights"
    key = "contact_center_insights"
    format_str = "/contact-center/insights?project={project_id}"


class ContactCenterInsightsIssueModelLink(BaseGoogleLink):
    """The console page of an issue (topic) model."""

    name = "Contact Center Insights Issue Model"
    key = "contact_center_insights_issue_model"
    format_str = "/contact-center/insights/locations/{location}/issueModels/{issue_model_id}?project={project_id}"
