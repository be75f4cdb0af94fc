"""Operation names: what is accepted and what is refused, naming the value."""

from __future__ import annotations

import re

import pytest

from ccai_airflow.core.names import (
    OPERATION_NAME_FORM,
    InvalidOperationNameError,
    parse_operation_name,
    validate_response_type,
)

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent

# -- 6. parse_operation_name -------------------------------------------------------------------
BAD_NAMES = [
    pytest.param(None, id="None"),
    pytest.param(42, id="int"),
    pytest.param(b"bytes", id="bytes"),
    pytest.param(b"projects/p/locations/l/operations/1", id="bytes-name"),
    pytest.param(["projects/p/locations/l/operations/1"], id="list"),
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("operations/123", id="bare-operations"),
    pytest.param("projects/p/locations/l/operations/", id="empty-id"),
    pytest.param("projects/p/locations/l/operations", id="no-id-segment"),
    pytest.param("projects/p/locations/l", id="parent-only"),
    pytest.param("projects//locations/l/operations/1", id="empty-project"),
    pytest.param("projects/p/locations//operations/1", id="empty-location"),
    pytest.param("/projects/p/locations/l/operations/1", id="leading-slash"),
    pytest.param("projects/p/locations/l/operations/1/", id="trailing-slash"),
    pytest.param("projects/p/locations/l/operations/1/extra", id="extra-segment"),
    pytest.param("projects/p/locations/l/issueModels/1", id="issue-model-name"),
    pytest.param("projects/p/locations/l/operations/1:cancel", id="custom-method"),
    pytest.param("projects/p/locations/l/operations/..", id="dotdot-id"),
    pytest.param("projects/p/locations/../operations/1", id="dotdot-location"),
    pytest.param("projects/p/locations/l/operations/1?x=y", id="query"),
    pytest.param("projects/p/locations/l/operations/1#f", id="fragment"),
    pytest.param("https://contactcenterinsights.googleapis.com/v1/projects/p/locations/l/operations/1", id="url"),
    pytest.param("projects/p/locations/l/operations/1 2", id="space"),
    pytest.param(" projects/p/locations/l/operations/1", id="leading-space"),
    pytest.param("projects/p/locations/l/operations/1 ", id="trailing-space"),
    pytest.param("projects/p/locations/l/operations/ü", id="non-ascii"),
    pytest.param("projects/p/locations/l/operations/" + "9" * 600, id="over-long"),
    pytest.param("projects/p/locations/l/operations/" + "a" * 129, id="id-too-long"),
    pytest.param("projects/P_UPPER/locations/l/operations/1", id="upper-project"),
    pytest.param("projects/p-/locations/l/operations/1", id="project-trailing-dash"),
    pytest.param("projects/p/locations/US/operations/1", id="upper-location"),
    pytest.param("projects/p/locations/l/operations/-1", id="id-leading-dash"),
    pytest.param("\nprojects/p/locations/l/operations/1", id="leading-newline"),
    pytest.param(
        "projects/p/locations/l/operations/1\n",
        id="trailing-newline",
    ),
    pytest.param("operations/projects/p/locations/l/operations/1", id="other-service-prefix"),
    pytest.param("projects/p/operations/1", id="no-location"),
    pytest.param("Projects/p/locations/l/operations/1", id="capital-collection"),
]


@pytest.mark.parametrize("value", BAD_NAMES)
def test_parse_operation_name_rejects(value: object) -> None:
    with pytest.raises(InvalidOperationNameError) as raised:
        parse_operation_name(value)

    message = str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert OPERATION_NAME_FORM in message
    if isinstance(value, str) and len(value) > 512:
        assert repr(value[:80]) in message
        assert value not in message
        assert str(len(value)) in message
    else:
        assert repr(value) in message


def test_bad_names_table_is_large_enough() -> None:
    assert len(BAD_NAMES) >= 20


@pytest.mark.parametrize(
    ("value", "project", "location", "operation_id"),
    [
        pytest.param(
            "projects/my-project/locations/us-central1/operations/1234567890",
            "my-project",
            "us-central1",
            "1234567890",
            id="typical",
        ),
        pytest.param("projects/123456/locations/global/operations/abc-DEF_1.2", "123456", "global", "abc-DEF_1.2",
                     id="number-global-mixed-id"),
        pytest.param("projects/example.com:my-proj/locations/us/operations/x", "example.com:my-proj", "us", "x",
                     id="domain-scoped"),
        pytest.param("projects/p/locations/l/operations/" + "a" * 128, "p", "l", "a" * 128, id="longest-id"),
    ],
)
def test_parse_operation_name_accepts(value: str, project: str, location: str, operation_id: str) -> None:
    parsed = parse_operation_name(value)

    assert parsed == (project, location, operation_id)
    assert parsed.project == project
    assert parsed.location == location
    assert parsed.operation_id == operation_id
    assert parsed.name == value
    assert parsed.parent == f"projects/{project}/locations/{location}"
    assert parse_operation_name(parsed.name) == parsed


@pytest.mark.parametrize(
    "value",
    ["google.cloud.contactcenterinsights.v1.IssueModel",
     "type.googleapis.com/google.cloud.contactcenterinsights.v1.IssueModel"],
)
def test_a_response_type_is_its_type_url_given_either_form(value: str) -> None:
    assert validate_response_type(value) == "type.googleapis.com/google.cloud.contactcenterinsights.v1.IssueModel"
    assert validate_response_type(None) is None


@pytest.mark.parametrize(
    ("value", "shown"),
    [("IssueModel", "'IssueModel'"), ("type.googleapis.com/", "'type.googleapis.com/'"), ("", "''"),
     ("google.cloud..IssueModel", "'google.cloud..IssueModel'"), ("a.b IssueModel", "'a.b IssueModel'"),
     (42, "42"), (["google.protobuf.Empty"], "['google.protobuf.Empty']")],
)
def test_a_bad_response_type_is_named_with_the_forms_expected(value: object, shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"Invalid expected_response_type {shown}: expected a message name")):
        validate_response_type(value)
