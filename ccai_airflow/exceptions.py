"""The errors a DAG author may catch."""

from __future__ import annotations

from ccai_airflow.compat import AirflowException, AirflowFailException

__all__ = [
    "ContactCenterInsightsOperationFailedError",
    "ContactCenterInsightsOperationRetryableError",
    "ContactCenterInsightsXComTooLargeError",
]


class ContactCenterInsightsOperationFailedError(AirflowFailException):
    """The operation finished with an error, or the API refused to say (permanent error). No retry:
    waiting again on the same operation cannot change the answer."""


class ContactCenterInsightsOperationRetryableError(AirflowException):
    """Raised by operators: a task retry starts the operation again, so Airflow's retries apply."""


class ContactCenterInsightsXComTooLargeError(AirflowFailException):
    """The decoded response is over ``max_xcom_bytes``: nothing was pushed, nothing truncated."""
