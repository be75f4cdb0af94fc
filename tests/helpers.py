"""What the test modules share: run a DAG with dag.test(), read its XComs, run a trigger as the triggerer does."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import airflow
from google.cloud import contact_center_insights_v1 as ci
from packaging.version import Version

from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger
from tests.conftest import DAGS_FOLDER, PARENT

# Airflow 3.3 added task_state_store (state kept across a task's tries); some guarantees differ before it.
AIRFLOW_KEEPS_TASK_STATE = Version(Version(airflow.__version__).base_version) >= Version("3.3")


def run_dag(dag_id: str, dags: Path = DAGS_FOLDER) -> Any:
    """Run one DAG of ``dags`` (a folder or one file) with dag.test(): tasks in process, triggers inline."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(str(dags))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"no DAG {dag_id} in {dags}"
    return dag.test()


# An error line of a task log: structlog's "[error    ]" (Airflow 3's task logs) or logging's " ERROR ".
_ERROR_LINE = re.compile(r"\[error\s*\]| ERROR ")


def error_lines(output: Any) -> list[str]:
    """The error lines of what ``capfd.readouterr()`` captured (out and err)."""
    return [line for line in (output.out + output.err).splitlines() if _ERROR_LINE.search(line)]


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key)
        rows = session.scalars(query).all()
        assert len(rows) == 1, f"expected one XCom {task_id}/{key}, got {rows}"
        return XComModel.deserialize_value(rows[0])


def all_xcoms(dag_run: Any) -> dict[tuple[str, str], Any]:
    """Every XCom of the run, deserialized, by (task_id, key)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows: list[Any] = list(session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id)))
        return {(row.task_id, row.key): XComModel.deserialize_value(row) for row in rows}


def start_create(transport: str = "grpc") -> str:
    """Start CreateIssueModel through the sync hook (the emulator env vars point it at the emulator)."""
    client = ContactCenterInsightsHook(transport=transport).get_conn()
    operation = client.create_issue_model(parent=PARENT, issue_model=ci.IssueModel(display_name="topics"))
    return str(operation.operation.name)


async def first_event(trigger: ContactCenterInsightsOperationTrigger, timeout: float = 30) -> dict[str, Any]:
    """What the triggerer does with a trigger: consume run() until the first event."""

    async def consume() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload  # type: ignore[no-any-return]
        raise AssertionError("trigger ended without an event")

    return await asyncio.wait_for(consume(), timeout)


def create_model(hook: ContactCenterInsightsHook, display_name: str, **fields: Any) -> Any:
    """Start CreateIssueModel under ``PARENT`` through the hook (a setup step); the raw ``Operation``."""
    model = {"display_name": display_name, **fields}
    return hook.start_operation(ci.CreateIssueModelRequest(parent=PARENT, issue_model=model))
