"""The BigQuery tables ExportInsightsData wrote, as BigQuery's ``tables.get`` shows them.

Only what a reader of the destination table needs (lineage reads its schema): the emulator serves
``GET /bigquery/v2/projects/{project}/datasets/{dataset}/tables/{table}`` on its REST port for each
table an export finished writing, and NOT_FOUND for any other. No rows are kept.

The columns are a handful of Google's documented Insights export schema, in its order and with its
types: https://cloud.google.com/contact-center/insights/docs/bigquery-v7-schema (conversationName,
audioFileUri, startTimestampUtc, loadTimestampUtc, durationNanos, agentSentimentScore,
clientSentimentScore, transcript, turnCount, languageCode, medium and the repeated issues record
with its name). The real export writes many more.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXPORT_SCHEMA", "table_id", "table_resource"]

EXPORT_SCHEMA: tuple[dict[str, Any], ...] = (
    {"name": "conversationName", "type": "STRING", "mode": "NULLABLE"},
    {"name": "audioFileUri", "type": "STRING", "mode": "NULLABLE"},
    {"name": "startTimestampUtc", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "loadTimestampUtc", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "durationNanos", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "agentSentimentScore", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "clientSentimentScore", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "transcript", "type": "STRING", "mode": "NULLABLE"},
    {"name": "turnCount", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "languageCode", "type": "STRING", "mode": "NULLABLE"},
    {"name": "medium", "type": "STRING", "mode": "NULLABLE"},
    {"name": "issues", "type": "RECORD", "mode": "REPEATED",
     "fields": [{"name": "name", "type": "STRING", "mode": "NULLABLE"}]},
)


def table_id(project: str, dataset: str, table: str) -> str:
    """BigQuery's own spelling of a table in its ``id`` field: ``project:dataset.table``."""
    return f"{project}:{dataset}.{table}"


def table_resource(project: str, dataset: str, table: str, created_ms: int) -> dict[str, Any]:
    """The ``Table`` resource as ``tables.get`` answers it (the fields a client reads)."""
    return {
        "kind": "bigquery#table",
        "id": table_id(project, dataset, table),
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
        "schema": {"fields": [dict(column) for column in EXPORT_SCHEMA]},
        "type": "TABLE",
        "creationTime": str(created_ms),
        "lastModifiedTime": str(created_ms),
        "location": "US",
    }
