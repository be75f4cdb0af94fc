"""Provider metadata read by Airflow's ProvidersManager (``airflow providers list``)."""

from __future__ import annotations

from typing import Any

from ccai_airflow import __version__

INTEGRATION = "Google Cloud Contact Center Insights"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "ccai-airflow",
        "name": "Google Cloud Contact Center Insights",
        "description": "Hooks, sensors, triggers and operators for Contact Center Insights long-running "
        "operations.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://cloud.google.com/contact-center/insights/docs",
                "tags": ["gcp"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["ccai_airflow.hooks"]}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["ccai_airflow.sensors"]}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": ["ccai_airflow.triggers"]}],
        "operators": [{"integration-name": INTEGRATION, "python-modules": ["ccai_airflow.operators"]}],
        "asset-uris": [
            {
                "schemes": ["contactcenterinsights"],
                "handler": "ccai_airflow.assets.sanitize_uri",
                "factory": "ccai_airflow.assets.create_asset",
                "to_openlineage_converter": "ccai_airflow.assets.convert_asset_to_openlineage",
            }
        ],
        "extra-links": [
            "ccai_airflow.links.ContactCenterInsightsLink",
            "ccai_airflow.links.ContactCenterInsightsIssueModelLink",
            "ccai_airflow.links.ContactCenterInsightsOperationLink",
        ],
    }
