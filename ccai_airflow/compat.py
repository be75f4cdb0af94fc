"""Imports whose home moved between the Airflow versions this provider supports (3.1 to 3.x).

Only what ``airflow.providers.common.compat.sdk`` does not already cover.
"""

from __future__ import annotations

try:  # task-sdk 1.2+ (Airflow 3.2+)
    from airflow.sdk.exceptions import AirflowRescheduleException  # type: ignore[attr-defined]  # absent on 3.1
except ImportError:  # Airflow 3.1: still in airflow.exceptions, which task-sdk 1.1's sensors raise
    from airflow.exceptions import AirflowRescheduleException  # type: ignore[assignment,no-redef]

__all__ = ["AirflowRescheduleException"]
