"""The BigQuery table a finished ExportInsightsData leaves (``bigquery.py``), read with BigQuery's own client."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT
from tests.emulator.clients import Client, wait_done

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


def test_a_finished_export_leaves_its_bigquery_table_for_bigquerys_own_client(
    emulator: Emulator, grpc_client: Client,
) -> None:
    from google.cloud import bigquery

    from ccai_airflow.emulator.bigquery import EXPORT_SCHEMA

    bq = bigquery.Client(project="bq-project", credentials=AnonymousCredentials(),
                         client_options=ClientOptions(api_endpoint=emulator.rest_url))
    destination = {"project_id": "bq-project", "dataset": "insights", "table": "export"}
    lro = grpc_client.export_insights_data(request={"parent": PARENT, "big_query_destination": destination})
    with pytest.raises(exceptions.NotFound, match=r"Not found: Table bq-project:insights\.export"):
        bq.get_table("bq-project.insights.export", retry=None)  # not written until the export is done
    wait_done(grpc_client, lro.operation.name)
    # No project_id: the export writes to the resource's project (BigQueryDestination.project_id).
    default = grpc_client.export_insights_data(
        request={"parent": PARENT, "big_query_destination": {"dataset": "insights", "table": "t"}})
    wait_done(grpc_client, default.operation.name)

    table = bq.get_table("bq-project.insights.export", retry=None)
    assert (table.project, table.dataset_id, table.table_id) == ("bq-project", "insights", "export")
    assert [(f.name, f.field_type, f.mode) for f in table.schema] == [
        (c["name"], c["type"], c["mode"]) for c in EXPORT_SCHEMA]
    assert [f.name for f in table.schema[-1].fields] == ["name"]  # issues.name, a repeated record's field
    assert bq.get_table("test-project.insights.t", retry=None).table_id == "t"
