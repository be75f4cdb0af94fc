"""The cancel rule's logging: a cancel that worked is said with its reason, one that failed never hides
the error or the event that made us cancel."""

from __future__ import annotations

import logging

import pytest
from google.api_core import exceptions

from ccai_airflow.core.cancelling import cancel_logged

NAME = "projects/p/locations/us-central1/operations/7"


def test_a_cancel_that_worked_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test_cancelling")
    calls: list[str] = []
    with caplog.at_level(logging.WARNING, logger="test_cancelling"), cancel_logged(log, NAME, "the deadline passed"):
        calls.append(NAME)
    assert calls == [NAME]
    assert [r.getMessage() for r in caplog.records] == [
        f"Cancelled operation {NAME} because the deadline passed (cancel_on_kill=True)."
    ]


def test_a_cancel_that_failed_is_logged_and_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test_cancelling")
    with caplog.at_level(logging.WARNING, logger="test_cancelling"), cancel_logged(log, NAME, "the task was killed"):
        raise exceptions.PermissionDenied("caller lacks contactcenterinsights.operations.cancel")
    (record,) = caplog.records
    assert record.getMessage().startswith(f"Could not cancel operation {NAME}: 403 ")
    assert "contactcenterinsights.operations.cancel" in record.getMessage()
    assert "Cancelled" not in record.getMessage()
