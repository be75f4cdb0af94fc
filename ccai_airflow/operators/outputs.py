"""What an operator writes, said once: its OpenLineage datasets and, from the same outputs, its asset events.

The OpenLineage methods follow the provider's developer guide (``ccai_airflow.lineage`` builds the objects);
``asset_resources`` is what ``ccai_airflow.asset_events`` records on success.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ccai_airflow import lineage
from ccai_airflow.core.outcome import Outcome, Status

__all__ = ["OperatorOutputsMixin"]


class OperatorOutputsMixin:
    """Mixed into the operators' base, before ``OperationWaitMixin``."""

    gcp_conn_id: str
    impersonation_chain: str | Sequence[str] | None
    task_id: str
    log: Any
    _operation_name: str | None = None  # the operation execute() started or resumed (lineage's run facet)
    _last_outcome: Outcome | None = None

    def lineage_datasets(self) -> lineage.Datasets:
        """What this operator reads and writes, by OpenLineage name; each operator says."""
        return lineage.Datasets()

    def asset_resources(self, outcome: Any) -> Sequence[lineage.DatasetRef]:
        """The asset events of a success: what the operator writes (its lineage outputs), unless it removed it."""
        return tuple(ref for ref in self.lineage_datasets().outputs if ref.lifecycle != "DROP")

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The OpenLineage listener's call after a success: our datasets and the operation's run facet."""
        return self._openlineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """As on complete, after a failure: the run facet then has the operation's error."""
        return self._openlineage()

    def _openlineage(self) -> Any:
        return lineage.operator_lineage(self.log, self.task_id, self.lineage_datasets, self._operation_name,
                                        self._last_outcome, self._bigquery_client)

    def _bigquery_client(self, project: str) -> Any:
        """A BigQuery client with this task's connection and impersonation chain (to read a table's schema)."""
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        hook = BigQueryHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        return hook.get_client(project_id=project)

    def _succeeded(self) -> dict[str, Any] | None:
        """The decoded response when this task waited and the operation succeeded; else None."""
        outcome = self._last_outcome
        return (outcome.response or {}) if outcome is not None and outcome.status is Status.SUCCEEDED else None

