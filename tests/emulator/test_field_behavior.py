"""Field behaviour read from the installed client's docstrings (``field_behavior.py``): the parser, the
behaviours it derives for the API's types, the ``.proto`` extract they must equal, and what the emulator does with
them."""

from __future__ import annotations

import pytest
from google.cloud import contact_center_insights_v1 as ci
from google.longrunning import operations_pb2
from google.protobuf import descriptor_pool

from ccai_airflow.emulator.field_behavior import behaviors, parse_attributes
from tests.conftest import PARENT
from tests.emulator.clients import Client, field_behavior_extract, unpack, wait_done

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


EXTRACT = field_behavior_extract()


def test_docstring_behaviours_match_the_proto_extract() -> None:
    """What the emulator reads from the installed client equals the .proto's google.api.field_behavior."""
    pool = descriptor_pool.Default()
    compared = 0
    for full_name, fields in EXTRACT["messages"].items():
        descriptor = pool.FindMessageTypeByName(full_name)
        read = behaviors(descriptor)
        for field in descriptor.fields:
            # proto-plus names a field like a Python builtin with a trailing "_" (type_); the .proto does not.
            name = field.name if field.name in fields else field.name.removesuffix("_")
            if name in fields:  # a field newer than the extract (or the client) is not compared
                assert sorted(read.get(field.name, ())) == fields[name], (full_name, field.name)
                compared += 1
    assert compared >= 60


def test_the_extract_holds_the_requests_served_since_phrase_matchers() -> None:
    assert EXTRACT["messages"]["google.cloud.contactcenterinsights.v1.PhraseMatcher"]["type"] == ["REQUIRED"]


def test_docstring_parser_reads_leading_marks_only() -> None:
    doc = """A thing.

    Attributes:
        name (str):
            Output only. Immutable. The name. Required. is not a mark here
        type_ (int):
            Required. A keyword-named field.
        plain (str):
            Nothing special.
    """
    assert parse_attributes(doc) == {
        "name": frozenset({"OUTPUT_ONLY", "IMMUTABLE"}),
        "type_": frozenset({"REQUIRED"}),
        "plain": frozenset(),
    }


def test_behaviours_of_an_issue_model_and_its_create_request() -> None:
    """As the .proto marks them: CreateIssueModelRequest's two fields Required, IssueModel's server-set ones
    Output only, its name Immutable; a google.longrunning request has no generated docstring, so nothing."""
    required = frozenset({"REQUIRED"})
    assert behaviors(ci.CreateIssueModelRequest.pb().DESCRIPTOR) == {"parent": required, "issue_model": required}
    model = behaviors(ci.IssueModel.pb().DESCRIPTOR)
    assert set(model) == {field.name for field in ci.IssueModel.pb().DESCRIPTOR.fields}
    assert {name for name, marks in model.items() if "OUTPUT_ONLY" in marks} == {
        "create_time", "update_time", "issue_count", "state", "training_stats"}
    assert model["name"] == frozenset({"IMMUTABLE"}) and model["display_name"] == frozenset()
    assert behaviors(operations_pb2.GetOperationRequest.DESCRIPTOR) == {}


def test_the_emulator_keeps_unmarked_fields_and_drops_output_only_ones(grpc_client: Client) -> None:
    marks = behaviors(ci.IssueModel.pb().DESCRIPTOR)
    assert not marks["display_name"] and not marks["language_code"] and "OUTPUT_ONLY" in marks["issue_count"]
    lro = grpc_client.create_issue_model(parent=PARENT, issue_model={
        "display_name": "kept", "language_code": "fr-FR", "issue_count": 424242})
    model = unpack(wait_done(grpc_client, lro.operation.name).response, ci.IssueModel)
    assert (model.display_name, model.language_code) == ("kept", "fr-FR")
    assert model.issue_count != 424242 and model.issue_count == len(model.training_stats.issue_stats)
