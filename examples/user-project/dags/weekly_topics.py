"""A user's own DAG: train an issue model each week, then report its topics. Nothing in it knows about tests."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from ccai_airflow.operators import ContactCenterInsightsCreateIssueModelOperator

with DAG(
    dag_id="weekly_topics",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule="@weekly",
    catchup=False,
) as dag:
    train = ContactCenterInsightsCreateIssueModelOperator(
        task_id="train",
        location="us-central1",
        issue_model={"display_name": "weekly-topics", "input_data_config": {"medium": "CHAT"}},
        deferrable=True,
    )

    @task
    def report(model: dict) -> str:
        return f"{model['displayName']}: {model['trainingStats']['analyzedConversationsCount']} conversations"

    report(train.output)
