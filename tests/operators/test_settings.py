"""The location-level operators (settings.py): initialize the encryption spec, query metrics, tune a QA scorecard
revision: the requests they build, and a run by Airflow (dag.test) against the emulator."""

from __future__ import annotations

import re
from typing import Any

import pytest
from google.api_core.exceptions import FailedPrecondition
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import (
    ContactCenterInsightsInitializeEncryptionSpecOperator,
    ContactCenterInsightsQueryMetricsOperator,
    ContactCenterInsightsTuneQaScorecardRevisionOperator,
)
from tests.conftest import PARENT
from tests.helpers import run_dag, states

BASE_TEMPLATES = ("project_id", "location", "gcp_conn_id", "impersonation_chain")
KEY = f"{PARENT}/keyRings/ring/cryptoKeys/key"
WINDOW = 'create_time >= "2026-01-01T00:00:00Z" AND create_time < "2026-02-01T00:00:00Z"'


def metrics(**kwargs: Any) -> ContactCenterInsightsQueryMetricsOperator:
    return ContactCenterInsightsQueryMetricsOperator(task_id="metrics", **{"filter": WINDOW, **kwargs})


def tune(**kwargs: Any) -> ContactCenterInsightsTuneQaScorecardRevisionOperator:
    return ContactCenterInsightsTuneQaScorecardRevisionOperator(
        task_id="tune", **{"qa_scorecard_id": "sc-1", "revision_id": "r-1", "filter": 'update_time >= "x"', **kwargs})


def test_initialize_encryption_spec_names_the_locations_spec_and_the_rendered_key() -> None:
    op = ContactCenterInsightsInitializeEncryptionSpecOperator(
        task_id="cmek", kms_key=PARENT + "/keyRings/ring/cryptoKeys/{{ params.key }}")

    op.render_template_fields({"params": {"key": "key"}})
    request = op.build_request(PARENT)

    assert type(request) is types.InitializeEncryptionSpecRequest
    assert request.encryption_spec.name == f"{PARENT}/encryptionSpec"
    assert request.encryption_spec.kms_key == KEY


def test_query_metrics_builds_its_request_from_every_argument() -> None:
    op = metrics(filter='create_time >= "{{ ds }}T00:00:00Z" AND create_time < "2027-01-01T00:00:00Z"',
                 time_granularity="DAILY", dimensions=[{"dimension_key": "AGENT"}],
                 measure_mask=["conversation_measure.conversation_count"])

    op.render_template_fields({"ds": "2026-01-05"})
    request = op.build_request(PARENT)

    assert type(request) is types.QueryMetricsRequest
    assert request.location == PARENT
    assert request.filter == 'create_time >= "2026-01-05T00:00:00Z" AND create_time < "2027-01-01T00:00:00Z"'
    assert request.time_granularity == types.QueryMetricsRequest.TimeGranularity.DAILY
    assert [d.dimension_key for d in request.dimensions] == [types.Dimension.DimensionKey.AGENT]
    assert list(request.measure_mask.paths) == ["conversation_measure.conversation_count"]


def test_query_metrics_sends_only_the_filter_when_given_only_that() -> None:
    request = metrics().build_request(PARENT)

    assert request.filter == WINDOW
    assert request.time_granularity == types.QueryMetricsRequest.TimeGranularity.TIME_GRANULARITY_UNSPECIFIED
    assert list(request.dimensions) == []
    assert "measure_mask" not in request


@pytest.mark.parametrize(("kwargs", "shown"), [
    ({"dimensions": {"dimension_key": "AGENT"}},
     "Invalid dimensions {'dimension_key': 'AGENT'}: expected a list of Dimension dicts."),
    ({"dimensions": [{"dimension_key": "TEAM"}]}, "Invalid dimensions {'dimension_key': 'TEAM'}: not a Dimension"),
    ({"measure_mask": "conversation_measure"}, "Invalid measure_mask 'conversation_measure': expected a list"),
    ({"measure_mask": ["a", ""]}, "Invalid measure_mask ['a', '']"),
])
def test_query_metrics_names_a_bad_argument(kwargs: dict[str, Any], shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)):
        metrics(**kwargs).build_request(PARENT)


@pytest.mark.parametrize("qa_scorecard_id", ["{{ params.scorecard }}", PARENT + "/qaScorecards/{{ params.scorecard }}"])
def test_tune_names_the_rendered_revision_of_the_scorecard(qa_scorecard_id: str) -> None:
    op = tune(qa_scorecard_id=qa_scorecard_id, revision_id="r-{{ ds_nodash }}", filter='update_time >= "{{ ds }}"',
              validate_only=True)

    op.render_template_fields({"ds": "2026-01-05", "ds_nodash": "20260105", "params": {"scorecard": "sc-1"}})
    request = op.build_request(PARENT)

    assert type(request) is types.TuneQaScorecardRevisionRequest
    assert request.parent == f"{PARENT}/qaScorecards/sc-1/revisions/r-20260105"
    assert request.filter == 'update_time >= "2026-01-05"'
    assert request.validate_only is True


@pytest.mark.parametrize(("kwargs", "shown"), [
    ({"validate_only": "yes"}, "Invalid validate_only 'yes': expected True or False."),
    ({"qa_scorecard_id": "projects/other/locations/us-central1/qaScorecards/sc-1"},
     "Invalid qa_scorecard_id 'projects/other/locations/us-central1/qaScorecards/sc-1'"),
    ({"filter": None}, "Invalid filter None: expected a non-empty string selecting feedback labels."),
])
def test_tune_names_a_bad_argument(kwargs: dict[str, Any], shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)):
        tune(**kwargs).build_request(PARENT)


def test_what_each_operator_templates_and_no_lineage_of_its_own() -> None:
    assert ContactCenterInsightsInitializeEncryptionSpecOperator.template_fields == (*BASE_TEMPLATES, "kms_key")
    assert ContactCenterInsightsQueryMetricsOperator.template_fields == (*BASE_TEMPLATES, "filter")
    assert ContactCenterInsightsTuneQaScorecardRevisionOperator.template_fields == (
        *BASE_TEMPLATES, "qa_scorecard_id", "revision_id", "filter")
    cmek = ContactCenterInsightsInitializeEncryptionSpecOperator(task_id="cmek", project_id="test-project", kms_key=KEY)
    for op in (cmek, metrics(project_id="test-project"), tune(project_id="test-project")):
        datasets = op.lineage_datasets()
        assert (datasets.inputs, datasets.outputs) == ((), ()), op


def test_the_initialized_key_is_the_locations_for_good(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_op_init_encryption_spec_wait")

    assert states(dag_run) == {"setup": "success", "operator": "success"}
    rendered = f"{PARENT}/keyRings/r/cryptoKeys/k-{dag_run.logical_date.strftime('%Y%m%d')}"
    again = types.InitializeEncryptionSpecRequest(encryption_spec={"name": f"{PARENT}/encryptionSpec", "kms_key": KEY})
    # The spec is immutable once set: the server refuses another key, naming the one the operator set.
    with pytest.raises(FailedPrecondition, match=re.escape(f"already initialized (with {rendered})")):
        ContactCenterInsightsHook().start_operation(again)


def test_initialize_encryption_spec_refuses_a_key_of_another_location() -> None:
    other = "projects/test-project/locations/europe-west1/keyRings/ring/cryptoKeys/key"
    op = ContactCenterInsightsInitializeEncryptionSpecOperator(task_id="cmek", kms_key=other)
    with pytest.raises(ValueError, match=r"its location 'europe-west1' is not the operator's location 'us-central1'"):
        op.build_request(PARENT)
