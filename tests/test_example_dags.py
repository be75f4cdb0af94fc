"""The example DAGs in dags/ (the wheel ships them as ccai_airflow.example_dags): they import cleanly and
run end to end against the emulator.

The runs go through ``python -m ccai_airflow.demo`` (what ``make demo`` runs): the emulator as its
own process, ``airflow db migrate`` and ``airflow dags test`` in a throwaway AIRFLOW_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "dags"
EXAMPLE_IDS = {
    "ccai_issue_model_lifecycle", "ccai_bulk_analyze_and_export", "ccai_conversation_retention",
    "ccai_issue_model_promotion", "ccai_insights_table_check", "ccai_export_notifications",
}


def run_demo(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ccai_airflow.demo", "--dags-folder", str(EXAMPLES), "--workdir", str(tmp_path),
         "--operation-seconds", "2", *args],
        capture_output=True, text=True, timeout=600, check=False, env=None if env is None else {**os.environ, **env},
    )


def test_every_example_imports_without_errors() -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(str(EXAMPLES))

    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXAMPLE_IDS
    for dag_id in EXAMPLE_IDS:
        dag = bag.dags[dag_id]
        assert dag.catchup is False
        assert dag.doc_md
        assert "ccai" in dag.tags
        assert all(task.retries == 2 for task in dag.tasks)


def test_make_demo_runs_the_lifecycle_and_prints_the_summary(tmp_path: Path) -> None:
    result = run_demo(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "DAG run ccai_issue_model_lifecycle: success" in out
    assert "create operation:  projects/demo-project/locations/us-central1/operations/" in out
    assert "deploy operation:  projects/demo-project/locations/us-central1/operations/" in out
    assert "issue model:       projects/demo-project/locations/us-central1/issueModels/" in out
    assert "state:             DEPLOYED" in out
    rows = out.split("---------------------\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(rows) >= 3
    counts = [int(row.split()[-1]) for row in rows]
    assert counts == sorted(counts, reverse=True) and all(n > 0 for n in counts)
    analyzed = int(out.split("analyzed:")[1].split()[0])
    unclassified = int(out.split("conversations (")[1].split()[0])
    assert sum(counts) + unclassified == analyzed
    assert "CreateIssueModel=1, DeployIssueModel=1" in out


def test_two_weekly_runs_against_one_emulator_swap_the_model_and_leave_only_the_newest_deployed(
    tmp_path: Path,
) -> None:
    # The real API refuses a deploy while last week's model is deployed: the second week must swap.
    result = run_demo(tmp_path, "--weeks", "2", "--logical-date", "2026-01-12")

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("DAG run ccai_issue_model_lifecycle: success") == 2
    first, second = [line.split()[-1] for line in out.splitlines() if line.startswith("  issue model:")]
    assert first != second
    assert f"replaced model:    {first} (now UNDEPLOYED; undeploy operation projects/demo-project/" in out
    now = out.split("issue models now:\n", 1)[1].split("  emulator calls:", 1)[0].splitlines()
    assert {line.split()[0]: line.split()[1] for line in now} == {first: "UNDEPLOYED", second: "DEPLOYED"}
    assert "DeployIssueModel=2" in out and "UndeployIssueModel=1" in out


def test_demo_exits_non_zero_and_says_why_when_the_run_fails(tmp_path: Path) -> None:
    result = run_demo(tmp_path, "--fail-next-operations", "1")

    assert result.returncode == 1
    assert "DAG run ccai_issue_model_lifecycle: failed" in result.stdout
    assert "FAILED_PRECONDITION: Not enough conversations to train a model" in result.stderr


@pytest.mark.parametrize("dag_id", ["ccai_bulk_analyze_and_export"])
def test_other_examples_run_to_success(dag_id: str, tmp_path: Path) -> None:
    result = run_demo(tmp_path, "--dag-id", dag_id)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"DAG run {dag_id}: success" in result.stdout
    assert "BulkAnalyzeConversations=1, ExportInsightsData=1" in result.stdout


def test_the_export_example_shows_its_bigquery_table_in_openlineage(tmp_path: Path) -> None:
    events_file = tmp_path / "openlineage.jsonl"
    transport = json.dumps({"type": "file", "log_file_path": str(events_file), "append": True})
    result = run_demo(tmp_path, "--dag-id", "ccai_bulk_analyze_and_export",
                      env={"AIRFLOW__OPENLINEAGE__TRANSPORT": transport})

    assert result.returncode == 0, result.stdout + result.stderr
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    export = [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"].endswith(".export_insights")]
    assert len(export) == 1, [e["job"]["name"] for e in events]
    (output,) = export[0]["outputs"]
    assert output["namespace"] == "bigquery"
    project, dataset, table = output["name"].split(".")
    assert (project, dataset) == ("demo-project", "ccai_insights") and table.startswith("conversations_")
    assert output["facets"]["schema"]["fields"], "the exported table's schema, read back through BigQuery's API"
    inputs = {(i["namespace"], i["name"]) for i in export[0]["inputs"]}
    assert ("contactcenterinsights://projects/demo-project/locations/us-central1", "conversations") in inputs


def test_make_demo_runs_the_retention_dag_and_deletes_only_the_expired_conversations(tmp_path: Path) -> None:
    # The demo seeds 12 conversations 400 days old and 30 of 20 days; the default window is 365 days.
    # A dry run (the default) takes the same listing path and skips bulk_delete: checked by hand, see example-dags.md.
    result = run_demo(tmp_path, "--dag-id", "ccai_conversation_retention", "--conf", '{"dry_run": false}')

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "DAG run ccai_conversation_retention: success" in out
    assert "bulk_delete=success" in out
    assert "expired_conversations: 12" in out and "deleted_conversations: 12" in out
    assert "still_expired:         0" in out
    assert "BulkDeleteConversations=1" in out


def test_promotion_moves_each_weeks_dev_model_to_prod_and_swaps_the_previous_one_out(tmp_path: Path) -> None:
    """One emulator, two projects: the demo trains and deploys a new model in dev each week (as dev's own
    lifecycle would), then runs the promotion, which exports it, imports it into prod, checks its issues and
    deploys it there; the second week undeploys the first week's prod model."""
    result = run_demo(tmp_path, "--dag-id", "ccai_issue_model_promotion", "--weeks", "2", "--logical-date",
                      "2026-01-12")

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("DAG run ccai_issue_model_promotion: success") == 2
    dev = [line.split()[-1] for line in out.splitlines() if line.startswith("  dev model:")]
    prod = [line.split()[-1] for line in out.splitlines() if line.startswith("  prod model:")]
    assert len(set(dev)) == len(set(prod)) == 2
    assert all(name.startswith("projects/ccai-dev/locations/us-central1/issueModels/") for name in dev)
    assert all(name.startswith("projects/ccai-prod/locations/us-central1/issueModels/") for name in prod)
    assert "exported to:       gs://ccai-issue-model-promotions/promotions/20260112T000000/issue-model.json" in out
    assert "exported to:       gs://ccai-issue-model-promotions/promotions/20260119T000000/issue-model.json" in out
    assert f"replaced model:    {prod[0]} (now UNDEPLOYED" in out
    now = out.split("issue models now:\n", 1)[1].split("  emulator calls:", 1)[0].splitlines()
    assert {line.split()[0]: line.split()[1] for line in now} == {prod[0]: "UNDEPLOYED", prod[1]: "DEPLOYED"}
    assert "ExportIssueModel=2" in out and "ImportIssueModel=2" in out and "UndeployIssueModel=" in out
