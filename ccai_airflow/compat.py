"""Airflow names whose home moved between 3.1 and 3.3, imported where each version keeps them.

Everything else comes from ``airflow.providers.common.compat.sdk``, which already resolves the
names it knows for each version.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    BaseSensorOperator,
    TaskDeferred,
    conf,
)

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowRescheduleException
except ImportError:  # Airflow 3.1 keeps it in core
    from airflow.exceptions import AirflowRescheduleException  # type: ignore[no-redef,attr-defined]

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "BaseSensorOperator",
    "TaskDeferred",
    "conf",
]
