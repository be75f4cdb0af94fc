"""The errors a DAG author may catch."""

from __future__ import annotations

from google.api_core.exceptions import ServiceUnavailable

from ccai_airflow.compat import AirflowException, AirflowFailException

__all__ = [
    "ContactCenterInsightsEmulatorUnreachableError",
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


class ContactCenterInsightsEmulatorUnreachableError(ServiceUnavailable):
    """Nothing answers at the emulator that ``CONTACT_CENTER_INSIGHTS_EMULATOR_HOST`` (or ``_REST``) names, after the
    call's retries. Still UNAVAILABLE, so still transient: a wait polls on while the emulator (re)starts, as it does
    through an outage of Google's API."""
