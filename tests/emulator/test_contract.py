"""The rules the emulator derives from the API's definition: the table itself, and each rule through the client."""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import contact_center_insights_v1 as ci
from google.longrunning import operations_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.contract import CONTRACTS, LOCATIONS
from ccai_airflow.emulator.routes import OPERATIONS, RPCS, Rpc
from tests.conftest import PARENT
from tests.emulator.clients import (
    Client,
    _grpc_client,
    _rest_client,
    error_of,
    field_behavior_extract,
    status_of,
    unpack,
    wait_done,
)

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent

EXTRACT = field_behavior_extract()
MODEL = f"{PARENT}/issueModels/1001"
OPERATION = f"{PARENT}/operations/1"
CONVERSATION = f"{PARENT}/conversations/c-1"
PHRASE_MATCHER = f"{PARENT}/phraseMatchers/1"
# A matcher with one rule group of one rule: each of its Required fields (the matcher's type, the group's type,
# the rule's query) can be cleared alone.
MATCHER = {"type_": "ANY_OF", "phrase_match_rule_groups": [{"type_": "ALL_OF", "phrase_match_rules": [{"query": "q"}]}]}
KEY_PARENT = PARENT  # a Cloud KMS key of the same project and location

# One valid request per served RPC, with every optional sub-message that holds Required fields set, so
# that clearing one Required field leaves exactly that one missing.
VALID: dict[str, dict[str, Any]] = {
    "GetOperation": {"name": OPERATION},
    "ListOperations": {"name": PARENT},
    "CancelOperation": {"name": OPERATION},
    "CreateIssueModel": {"parent": PARENT, "issue_model": {"display_name": "m"}},
    "GetIssueModel": {"name": MODEL},
    "ListIssueModels": {"parent": PARENT},
    "DeployIssueModel": {"name": MODEL},
    "UndeployIssueModel": {"name": MODEL},
    "DeleteIssueModel": {"name": MODEL},
    "ExportIssueModel": {"name": MODEL, "gcs_destination": {"object_uri": "gs://bucket/model.json"}},
    "ImportIssueModel": {"parent": PARENT, "gcs_source": {"object_uri": "gs://bucket/model.json"}},
    "GetIssue": {"name": f"{MODEL}/issues/1"},
    "ListIssues": {"parent": MODEL},
    "BulkUploadFeedbackLabels": {
        "parent": PARENT, "gcs_source": {"object_uri": "gs://bucket/l.json", "format_": "JSON"},
    },
    "BulkDownloadFeedbackLabels": {
        "parent": PARENT, "gcs_destination": {"object_uri": "gs://bucket/labels", "format_": "CSV"},
    },
    "BulkAnalyzeConversations": {"parent": PARENT, "filter": 'medium="CHAT"', "analysis_percentage": 10},
    "IngestConversations": {
        "parent": PARENT,
        "gcs_source": {"bucket_uri": "gs://b"},
        "transcript_object_config": {"medium": "CHAT"},
    },
    "ExportInsightsData": {"parent": PARENT, "big_query_destination": {"dataset": "d"}},
    "CreateConversation": {"parent": PARENT, "conversation": {"medium": "CHAT"}},
    "UploadConversation": {"parent": PARENT, "conversation": {"medium": "CHAT"}},
    "GetConversation": {"name": CONVERSATION},
    "ListConversations": {"parent": PARENT},
    "UpdateConversation": {"conversation": {"name": CONVERSATION, "agent_id": "a"}, "update_mask": {"paths": ["*"]}},
    "DeleteConversation": {"name": CONVERSATION},
    "CreateAnalysis": {"parent": CONVERSATION, "analysis": {}},
    "BulkDeleteConversations": {"parent": PARENT},
    "GetSettings": {"name": f"{PARENT}/settings"},
    "UpdateSettings": {"settings": {"name": f"{PARENT}/settings", "language_code": "fr-FR"},
                       "update_mask": {"paths": ["language_code"]}},
    "InitializeEncryptionSpec": {"encryption_spec": {
        "name": f"{PARENT}/encryptionSpec", "kms_key": f"{KEY_PARENT}/keyRings/r/cryptoKeys/k"}},
    "QueryMetrics": {"location": PARENT, "filter": 'create_time >= "2026-01-01T00:00:00Z" AND '
                     'create_time < "2026-02-01T00:00:00Z"'},
    "TuneQaScorecardRevision": {"parent": f"{PARENT}/qaScorecards/s/revisions/r", "filter": "create_time > 0"},
    "CreatePhraseMatcher": {"parent": PARENT, "phrase_matcher": MATCHER},
    "GetPhraseMatcher": {"name": PHRASE_MATCHER},
    "ListPhraseMatchers": {"parent": PARENT},
    # `*`: every Required field of the matcher is asked for (AIP-203 spares the ones a mask leaves out).
    "UpdatePhraseMatcher": {"phrase_matcher": {**MATCHER, "name": PHRASE_MATCHER}, "update_mask": {"paths": ["*"]}},
    "DeletePhraseMatcher": {"name": PHRASE_MATCHER},
}


def _method(rpc: Rpc) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", rpc.name).lower()


def _request(rpc: Rpc, fields: dict[str, Any]) -> Any:
    """The request as the client takes it: proto-plus for the API's own types, raw pb for longrunning."""
    if rpc.service == OPERATIONS:
        message = rpc.request_type()
        message.name = fields["name"]
        return message
    return getattr(ci, rpc.request_type.DESCRIPTOR.name)(**fields)


def _clear(request: Any, path: str) -> None:
    """Clear ``path`` in ``request`` (a proto-plus request shares its raw message, so the change shows)."""
    raw = request if isinstance(request, Message) else type(request).pb(request)
    target, field = _at(raw, path)
    target.ClearField(field.name)


@pytest.fixture(params=["grpc", "rest"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def both(emulator: Emulator, transport: str) -> Iterator[Client]:
    made, close = (_grpc_client if transport == "grpc" else _rest_client)(emulator)
    yield made
    close()


# -- the table ------------------------------------------------------------------------------------
def test_every_served_rpc_has_a_contract_and_a_test_request() -> None:
    """A newly served RPC cannot skip the rules: it needs a contract, an extract entry and a VALID request."""
    assert set(CONTRACTS) == {rpc.name for rpc in RPCS} == set(VALID)
    for rpc in RPCS:
        assert CONTRACTS[rpc.name].request == rpc.request_type.DESCRIPTOR.full_name
        assert rpc.request_type.DESCRIPTOR.full_name in EXTRACT["messages"], (
            f"{rpc.name}: run scripts/extract_field_behavior.py to add its request to the extract"
        )


def test_name_forms_are_the_clients_path_helpers() -> None:
    """The form named in an error is the one the client's own ``*_path`` helpers build."""
    helpers = set()
    for attr in dir(Client):
        if attr.endswith("_path") and not attr.startswith("parse_"):
            parameters = inspect.signature(getattr(Client, attr)).parameters
            helpers.add(getattr(Client, attr)(**{p: "{" + p + "}" for p in parameters}))
    for rpc in RPCS:
        for pattern in CONTRACTS[rpc.name].names:
            if rpc.service == OPERATIONS and pattern.form.endswith("/operations/{operation}"):
                continue  # the client has no operation_path helper; the HTTP rule is the only source
            assert pattern.form in helpers, (rpc.name, pattern.form)


# -- Required -------------------------------------------------------------------------------------
REQUIRED = [(rpc, path) for rpc in RPCS for path in CONTRACTS[rpc.name].required]


@pytest.mark.parametrize(("rpc", "path"), REQUIRED, ids=[f"{rpc.name}.{path}" for rpc, path in REQUIRED])
def test_missing_required_field_is_invalid_argument(
    emulator: Emulator, transport: str, both: Client, rpc: Rpc, path: str
) -> None:
    variables = [p.field for p in CONTRACTS[rpc.name].names]
    if transport == "rest" and any(v == path or v.startswith(path + ".") for v in variables):
        pytest.skip("a path variable (or holds one): the REST client cannot leave it out of the URL")
    if transport == "rest" and path == rpc.body:
        pytest.skip("the HTTP body is this field: the REST client always sends one ({} when unset)")
    request = _request(rpc, VALID[rpc.name])
    _clear(request, path)
    err = error_of(lambda: getattr(both, _method(rpc))(request=request))
    assert status_of(err) == "INVALID_ARGUMENT", err
    assert f"Invalid {path.replace('[]', '[0]')}" in err.message and "required" in err.message
    assert not emulator.backend._operations, "no operation started"


def test_required_checks_recurse_only_into_set_sub_messages(emulator: Emulator) -> None:
    client, close = _grpc_client(emulator)
    try:
        lro = client.ingest_conversations(request={"parent": PARENT, "gcs_source": {"bucket_uri": "gs://b"}})
        assert lro.operation.name  # transcript_object_config (with its Required medium) may stay unset
        err = error_of(lambda: client.ingest_conversations(
            request={"parent": PARENT, "gcs_source": {"bucket_uri": "gs://b"}, "transcript_object_config": {}}
        ))
        assert isinstance(err, exceptions.InvalidArgument)
        assert "transcript_object_config.medium" in err.message
    finally:
        close()


def test_required_empty_message_counts_as_set(both: Client) -> None:
    """issue_model={} is provided (an empty IssueModel): presence, not content, is what Required asks."""
    assert both.create_issue_model(parent=PARENT, issue_model={}).operation.name


# -- Output only ----------------------------------------------------------------------------------
BIG = 987654


def _poke(message: Any, field: FieldDescriptor) -> str:
    """Give ``field`` of raw ``message`` a value no server would compute; the path (under ``field``) poked."""
    if field.message_type is not None:
        sub = getattr(message, field.name)
        scalar = next(f for f in sub.DESCRIPTOR.fields if f.message_type is None and not f.is_repeated)
        return f"{field.name}.{_poke(sub, scalar)}"
    if field.enum_type is not None:
        setattr(message, field.name, field.enum_type.values[-1].number)
    elif field.type == FieldDescriptor.TYPE_STRING:
        setattr(message, field.name, "client-set")
    else:
        setattr(message, field.name, BIG)
    return field.name


def _at(message: Any, path: str) -> tuple[Any, FieldDescriptor]:
    """The message holding the field at ``path`` and the field; ``groups[]`` is the first element."""
    *parents, last = path.split(".")
    for part in parents:
        message = getattr(message, part.removesuffix("[]"))
        if part.endswith("[]"):
            message = message[0]
    return message, message.DESCRIPTOR.fields_by_name[last]


def test_output_only_fields_live_in_served_requests_the_next_test_covers() -> None:
    with_output_only = {name for name, contract in CONTRACTS.items() if contract.output_only}
    # QueryMetrics' are inside dimensions, which the emulator refuses (UNIMPLEMENTED): nothing stored to check.
    assert with_output_only == {"QueryMetrics", "CreateIssueModel", *CREATED, *UPDATED}, (
        "cover the new request's Output only fields below"
    )


# The created resource: the request field that holds it and its type; an LRO's comes in the operation's response.
CREATED = {
    "UploadConversation": ("conversation", ci.Conversation),
    "CreateAnalysis": ("analysis", ci.Analysis),
    "CreateConversation": ("conversation", ci.Conversation),
    "CreatePhraseMatcher": ("phrase_matcher", ci.PhraseMatcher),
}
UPDATED = {
    "UpdateConversation": ("conversation", ci.Conversation, "CreateConversation", ["agent_id"]),
    "UpdatePhraseMatcher": ("phrase_matcher", ci.PhraseMatcher, "CreatePhraseMatcher", ["display_name"]),
    "UpdateSettings": ("settings", ci.Settings, None, ["language_code"]),
}


def _poke_output_only(raw: Any, rpc_name: str, field_name: str) -> list[str]:
    """Poke every singular Output only field of the request; their paths under the resource."""
    poked = []
    for path in CONTRACTS[rpc_name].output_only:
        if "[]" in path or _at(raw, path)[1].is_repeated:
            continue
        holder, field = _at(raw, path)
        try:
            leaf = _poke(holder, field)
        except StopIteration:  # a message of repeated fields only (transcript): nothing scalar to poke
            continue
        parent = path.rpartition(".")[0]
        poked.append(f"{parent}.{leaf}".removeprefix(field_name + "."))
    assert len(poked) >= 2
    return poked


def _assert_not_kept(made: Any, poked: list[str]) -> None:
    for path in poked:
        theirs, field = _at(made, path)
        assert getattr(theirs, field.name) not in (BIG, "client-set"), f"{path} kept the client's value"


@pytest.mark.parametrize("rpc_name", sorted(CREATED))
def test_output_only_fields_of_a_created_resource_are_ignored(emulator: Emulator, rpc_name: str) -> None:
    rpc = next(r for r in RPCS if r.name == rpc_name)
    field_name, resource_type = CREATED[rpc_name]
    fields = dict(VALID[rpc_name])
    if rpc_name == "CreateAnalysis":
        fields["parent"] = emulator.seed_conversations(PARENT, 1)[0]
    request = _request(rpc, fields)
    poked = _poke_output_only(type(request).pb(request), rpc_name, field_name)
    client, close = _grpc_client(emulator)
    try:
        answer = getattr(client, _method(rpc))(request=request)
        if hasattr(answer, "operation"):  # an LRO: the resource is the operation's response
            op = wait_done(client, answer.operation.name)
            assert not op.HasField("error"), op.error
            answer = unpack(op.response, resource_type)
    finally:
        close()
    _assert_not_kept(resource_type.pb(answer), poked)


@pytest.mark.parametrize("rpc_name", sorted(UPDATED))
def test_output_only_fields_of_an_updated_resource_are_ignored(both: Client, rpc_name: str) -> None:
    """AIP-203: Output only fields are cleared from the input, and "services must ignore the presence of output
    only fields in update field masks"; the update still applies its other paths."""
    rpc = next(r for r in RPCS if r.name == rpc_name)
    field_name, resource_type, create, changed = UPDATED[rpc_name]
    name = f"{PARENT}/settings"
    if create is not None:
        creator = next(r for r in RPCS if r.name == create)
        name = getattr(both, _method(creator))(request=_request(creator, VALID[create])).name
    fields = {field_name: {**VALID[rpc_name][field_name], "name": name}}
    request = _request(rpc, fields)
    raw = type(request).pb(request)
    poked = _poke_output_only(raw, rpc_name, field_name)
    raw.update_mask.paths.extend([*changed, *poked])
    for path in changed:
        holder, field = _at(getattr(raw, field_name), path)
        setattr(holder, field.name, "changed")
    made = getattr(both, _method(rpc))(request=request)
    assert all(getattr(made, path) == "changed" for path in changed)
    _assert_not_kept(resource_type.pb(made), poked)


def test_output_only_fields_a_client_sets_are_ignored(both: Client) -> None:
    contract = CONTRACTS["CreateIssueModel"]
    request = ci.CreateIssueModelRequest(parent=PARENT, issue_model={"display_name": "pokes"})
    raw = ci.CreateIssueModelRequest.pb(request)
    for path in contract.output_only:
        _poke(*_at(raw, path))
    sent = ci.CreateIssueModelRequest.pb(ci.CreateIssueModelRequest.deserialize(raw.SerializeToString()))
    lro = both.create_issue_model(request=ci.CreateIssueModelRequest.wrap(raw))
    op = wait_done(both, lro.operation.name)
    assert not op.HasField("error"), op.error
    model = ci.IssueModel.pb(unpack(op.response, ci.IssueModel))
    for path in contract.output_only:
        field_path = path.removeprefix("issue_model.")
        theirs, field = _at(model, field_path)
        ours, _ = _at(sent.issue_model, field_path)
        assert getattr(theirs, field.name) != getattr(ours, field.name), f"{path} kept the client's value"
    assert model.state == ci.IssueModel.State.UNDEPLOYED
    assert abs(model.create_time.seconds - time.time()) < 60
    assert model.issue_count == len(model.training_stats.issue_stats)
    echoed = ci.CreateIssueModelMetadata.pb(unpack(op.metadata, ci.CreateIssueModelMetadata)).request
    assert echoed == sent, "the metadata echoes the request as sent"


# -- enums and names ------------------------------------------------------------------------------
def test_unknown_enum_number_is_invalid_argument(emulator: Emulator) -> None:
    client, close = _grpc_client(emulator)
    try:
        raw = ci.CreateIssueModelRequest.pb(ci.CreateIssueModelRequest(parent=PARENT, issue_model={}))
        raw.issue_model.model_type = 7
        err = error_of(lambda: client.create_issue_model(request=ci.CreateIssueModelRequest.wrap(raw)))
        assert isinstance(err, exceptions.InvalidArgument)
        assert "issue_model.model_type 7" in err.message and "TYPE_V2" in err.message
    finally:
        close()


@pytest.mark.parametrize("rpc", RPCS, ids=[rpc.name for rpc in RPCS])
def test_bad_resource_name_names_the_expected_form(emulator: Emulator, rpc: Rpc) -> None:
    client, close = _grpc_client(emulator)
    try:
        for pattern in CONTRACTS[rpc.name].names:
            request = _request(rpc, VALID[rpc.name])
            raw = request if isinstance(request, Message) else type(request).pb(request)
            target, field = _at(raw, pattern.field)  # a nested variable too: encryption_spec.name
            setattr(target, field.name, "projects/p/locations")
            err = error_of(lambda request=request: getattr(client, _method(rpc))(request=request))
            assert isinstance(err, exceptions.InvalidArgument)
            assert f"Invalid {pattern.field} 'projects/p/locations': expected {pattern.form}." == err.message
    finally:
        close()


def test_operations_requests_have_no_field_behaviour() -> None:
    """google/longrunning/operations.proto marks nothing Required: the name form alone guards them."""
    for request in (operations_pb2.GetOperationRequest, operations_pb2.ListOperationsRequest):
        assert EXTRACT["messages"][request.DESCRIPTOR.full_name]
        assert not any(EXTRACT["messages"][request.DESCRIPTOR.full_name].values())


# -- malformed names, over both transports and over gRPC only --------------------------------------
BAD_MODEL_NAMES = [f"{PARENT}/issueModels/bad id", "projects/p q/locations/us-central1/issueModels/1"]


@pytest.mark.parametrize("name", BAD_MODEL_NAMES)
def test_malformed_issue_model_name_is_invalid_argument(client: Client, name: str) -> None:
    for method in ("get_issue_model", "deploy_issue_model", "delete_issue_model"):
        err = error_of(lambda method=method: getattr(client, method)(name=name))
        assert status_of(err) == "INVALID_ARGUMENT", (method, err)
        assert repr(name) in err.message


def test_malformed_names_over_grpc_only(grpc_client: Client) -> None:
    """Names the REST client refuses itself (no matching URL) reach the server over gRPC."""
    for name in ("bogus", "projects/p/issueModels/1", f"{PARENT}/issueModels/1/extra", ""):
        err = error_of(lambda name=name: grpc_client.get_issue_model(name=name))
        assert isinstance(err, exceptions.InvalidArgument) and repr(name) in err.message
    err = error_of(lambda: grpc_client.get_operation(request={"name": "operations/1"}))
    assert isinstance(err, exceptions.InvalidArgument) and "'operations/1'" in err.message
    err = error_of(lambda: grpc_client.create_issue_model(parent="projects/p", issue_model={}))
    assert isinstance(err, exceptions.InvalidArgument) and "'projects/p'" in err.message


def test_malformed_operation_name_is_invalid_argument(client: Client) -> None:
    name = f"{PARENT}/operations/bad id"
    err = error_of(lambda: client.get_operation(request={"name": name}))
    assert status_of(err) == "INVALID_ARGUMENT" and repr(name) in err.message


# -- locations: contract.LOCATIONS, from Google's regionalization page --------------------------------
UNSERVED = "mars-north9"
SERVED = ", ".join(LOCATIONS)


def _in_location(value: str, location: str) -> str:
    segments = value.split("/")
    segments[3] = location  # projects/{project}/locations/{location}/...
    return "/".join(segments)


def test_the_locations_are_those_of_the_regionalization_page() -> None:
    assert LOCATIONS[0] == "us-central1"  # the global endpoint's resource location
    assert len(LOCATIONS) == len(set(LOCATIONS)) == 17
    assert {"us", "eu", "europe-west1", "asia-northeast3", "australia-southeast1"} <= set(LOCATIONS)
    assert "global" not in LOCATIONS


@pytest.mark.parametrize("rpc", RPCS, ids=[rpc.name for rpc in RPCS])
def test_a_location_the_api_does_not_serve_is_invalid_argument(emulator: Emulator, both: Client, rpc: Rpc) -> None:
    """Every resource name and parent of every served RPC, over gRPC and REST: refused at admission, before the
    handler (no NOT_FOUND for an operation, no resource or operation made), naming the location and the list."""
    for pattern in CONTRACTS[rpc.name].names:
        request = _request(rpc, VALID[rpc.name])
        raw = request if isinstance(request, Message) else type(request).pb(request)
        target, field = _at(raw, pattern.field)
        name = _in_location(getattr(target, field.name), UNSERVED)
        setattr(target, field.name, name)
        err = error_of(lambda request=request: getattr(both, _method(rpc))(request=request))
        assert status_of(err) == "INVALID_ARGUMENT", (pattern.field, err)
        assert err.message.endswith(  # the REST client puts the method and URL first
            f"Invalid {pattern.field} {name!r}: Contact Center Insights does not serve location {UNSERVED!r}; "
            f"the locations it serves: {SERVED}."
        )
    assert not emulator.backend._operations, "no operation started"


def test_get_operation_in_an_unserved_location_is_refused_not_missing(api: Client) -> None:
    name = f"projects/p/locations/{UNSERVED}/operations/1"
    err = error_of(lambda: api.get_operation(request={"name": name}))
    assert status_of(err) == "INVALID_ARGUMENT"
    assert f"location {UNSERVED!r}" in err.message and SERVED in err.message
    err = error_of(lambda: api.get_operation(request={"name": f"{PARENT}/operations/1"}))
    assert status_of(err) == "NOT_FOUND", "a served location: the operation itself is missing"


@pytest.mark.parametrize("location", [*LOCATIONS, "global"])
def test_every_served_location_is_admitted_and_global_is_not(api: Client, location: str) -> None:
    parent = f"projects/test-project/locations/{location}"
    if location == "global":
        err = error_of(lambda: api.list_issue_models(parent=parent))
        assert status_of(err) == "INVALID_ARGUMENT" and "location 'global'" in err.message
        return
    created = api.create_conversation(parent=parent, conversation={"medium": "CHAT"})
    assert created.name.startswith(f"{parent}/conversations/")
    assert list(api.list_issue_models(parent=parent).issue_models) == []
