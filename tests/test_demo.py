"""``make demo``'s program: a DAG run end to end against a bundled emulator, and what it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ccai_airflow import demo


def test_the_demo_runs_an_example_dag_and_prints_what_it_did(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ccai_airflow.demo", "--dag-id", "ccai_conversation_retention",
         "--operation-seconds", "0.5", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "DAG run ccai_conversation_retention: success" in result.stdout
    assert "expired_conversations: 12" in result.stdout, "the 12 seeded conversations past 365 days"
    assert "emulator calls: ListConversations=1" in result.stdout
    assert (tmp_path / "demo.log").is_file()


def test_a_dag_the_folder_does_not_hold_is_refused_naming_both(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"Invalid --dags-folder .* or --dag-id 'nope'"):
        demo.main(["--dag-id", "nope", "--workdir", str(tmp_path)])


def test_weeks_of_runs_get_one_logical_date_a_week() -> None:
    assert demo._logical_dates(1, None) == [None]
    assert demo._logical_dates(3, "2026-01-05") == [
        "2026-01-05T00:00:00+00:00", "2026-01-12T00:00:00+00:00", "2026-01-19T00:00:00+00:00",
    ]
    with pytest.raises(SystemExit, match=r"Invalid --logical-date 'monday': expected a date YYYY-MM-DD"):
        demo._logical_dates(2, "monday")


def test_the_failures_shown_are_ours_once_each(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    failure = "ContactCenterInsightsOperationRetryableError: Operation x failed: FAILED_PRECONDITION: too few"
    log.write_text(f"[task] ERROR - {failure}\nother line\n[retry] ERROR - {failure}\n")
    assert demo._failures(log) == [failure.split(": ", 1)[1]]
