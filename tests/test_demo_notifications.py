"""``make demo ARGS="--pubsub"`` (demo_notifications.py): Google's Pub/Sub emulator beside ours, the notifications a
run caused, counted by trigger."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ccai_airflow import demo_notifications
from ccai_airflow.emulator.pubsub import INSTALL_HINT, find_pubsub_emulator


def test_the_demo_prints_the_export_notification_its_run_caused(tmp_path: Path) -> None:
    if find_pubsub_emulator() is None:
        pytest.skip(INSTALL_HINT)
    result = subprocess.run(
        [sys.executable, "-m", "ccai_airflow.demo", "--dag-id", "ccai_bulk_analyze_and_export", "--pubsub",
         "--operation-seconds", "0.5", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "DAG run ccai_bulk_analyze_and_export: success" in result.stdout
    assert "1 notification(s) on projects/demo-project/topics/insights-demo" in result.stdout
    assert "    export-insights-data: 1" in result.stdout
    assert "Handshake failed" not in result.stderr, "the emulator's publisher reached Pub/Sub in the clear"


def test_no_notification_says_which_dag_would_have_some(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_notifications, "find_pubsub_emulator", lambda: "/bin/true")
    made = demo_notifications.DemoNotifications("p")

    assert made.summary(Counter())[0].endswith("try --dag-id ccai_bulk_analyze_and_export)")
    assert made.summary(Counter({"export-insights-data": 2}))[1:] == ["    export-insights-data: 2"]


def test_without_the_pubsub_emulator_the_flag_is_refused_naming_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(demo_notifications, "find_pubsub_emulator", lambda: None)
    with pytest.raises(SystemExit, match=r"Invalid --pubsub: Google's Pub/Sub emulator is not installed: gcloud"):
        demo_notifications.DemoNotifications("p")
