"""The REST front end (``rest_server.py``): proto3 JSON out (the seed operation's shape; enums as names, or as
numbers with ``$alt=json;enum-encoding=int``), bad requests refused without poisoning the connection,
the ``/emulator/v1`` HTTP controls, a dropped REST connection."""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.cloud import contact_center_insights_v1 as ci
from google.longrunning import operations_pb2
from google.protobuf import json_format, timestamp_pb2

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT
from tests.emulator.clients import (
    BOUND_S,
    POLL_S,
    Client,
    _grpc_client,
    _rest_client,
    deployed_model,
    error_of,
    start_create,
    unpack,
    wait_done,
)

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


# -- the REST JSON of a finished operation ---------------------------------------------------------
SEED = Path(__file__).parent.parent / "fixtures" / "issue-model-operation.json"


def _assert_shape(seed: Any, actual: Any, path: str = "$") -> None:
    """Every key of ``seed`` is in ``actual`` (recursively), with a value of the same JSON type."""
    if isinstance(seed, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not an object"
        if path.endswith(".issueStats"):  # a map keyed by issue name: compare entries to the seed's
            template = next(iter(seed.values()))
            assert actual, f"{path} is empty"
            for key, value in actual.items():
                assert value["issue"] == key
                _assert_shape(template, value, f"{path}[{key}]")
            return
        missing = seed.keys() - actual.keys()
        assert not missing, f"{path}: missing {sorted(missing)}"
        for key, value in seed.items():
            _assert_shape(value, actual[key], f"{path}.{key}")
    else:
        assert type(actual) is type(seed), f"{path}: {actual!r} is not a {type(seed).__name__}"


def test_rest_operation_json_has_the_seed_shape(emulator: Emulator, grpc_client: Client) -> None:
    seed = json.loads(SEED.read_text())
    config = seed["metadata"]["request"]["issueModel"]["inputDataConfig"]
    lro = grpc_client.create_issue_model(
        parent=PARENT,
        issue_model={
            "display_name": "MODEL_NAME",
            "input_data_config": {
                "medium": config["medium"],
                "filter": config["filter"],
                "training_conversations_count": int(config["trainingConversationsCount"]),
            },
        },
    )
    op = wait_done(grpc_client, lro.operation.name)

    http = requests.get(f"{emulator.rest_url}/v1/{op.name}", timeout=10)
    assert http.status_code == 200
    assert http.headers["Content-Type"].startswith("application/json")
    parsed = json_format.Parse(http.text, operations_pb2.Operation())
    # The same operation as over gRPC (unpacked: a map's bytes inside an Any have no canonical order).
    assert (parsed.name, parsed.done) == (op.name, True)
    assert unpack(parsed.metadata, ci.CreateIssueModelMetadata) == unpack(
        op.metadata, ci.CreateIssueModelMetadata
    )
    assert unpack(parsed.response, ci.IssueModel) == unpack(op.response, ci.IssueModel)

    body = http.json()
    _assert_shape(seed, body)
    assert body["done"] is True
    assert body["metadata"]["@type"] == seed["metadata"]["@type"]
    assert body["response"]["@type"] == seed["response"]["@type"]
    response, request = body["response"], body["metadata"]["request"]
    assert response["state"] == "UNDEPLOYED"
    assert response["inputDataConfig"]["medium"] == "CHAT"
    assert request["issueModel"]["inputDataConfig"]["medium"] == "CHAT"
    assert request["issueModel"]["inputDataConfig"]["trainingConversationsCount"] == "12000"
    assert request["parent"] == PARENT
    stats = response["trainingStats"]
    int64s = [
        response["inputDataConfig"]["trainingConversationsCount"],
        stats["analyzedConversationsCount"],
        stats["unclassifiedConversationsCount"],
        response["issueCount"],
        *(entry["labeledConversationsCount"] for entry in stats["issueStats"].values()),
    ]
    assert all(isinstance(value, str) and value.isdigit() for value in int64s), int64s
    for stamp in (body["metadata"]["createTime"], body["metadata"]["endTime"], response["createTime"]):
        timestamp_pb2.Timestamp().FromJsonString(stamp)  # RFC 3339, or this raises


# -- enum encoding ---------------------------------------------------------------------------------
State = ci.IssueModel.State


NUMBERS = {"$alt": "json;enum-encoding=int"}


@pytest.fixture
def deployed(emulator: Emulator) -> Iterator[tuple[ci.IssueModel, str]]:
    """A deployed model and the name of the finished operation that created it."""
    client, close = _grpc_client(emulator)
    model = deployed_model(client)
    create = client.list_operations(request={"name": PARENT, "filter": "done=true"}).operations[0].name
    yield model, create
    close()


def _get(emulator: Emulator, path: str, params: dict[str, str] | None = None) -> Any:
    http = requests.get(f"{emulator.rest_url}/v1/{path}", params=params, timeout=10)
    assert http.status_code == 200, http.text
    return http.json()


def test_without_alt_enums_are_names(emulator: Emulator, deployed: tuple[ci.IssueModel, str]) -> None:
    model, create = deployed
    assert _get(emulator, model.name)["state"] == "DEPLOYED"
    op = _get(emulator, create)
    assert op["response"]["state"] == "UNDEPLOYED"  # the model as the operation returned it
    assert op["response"]["inputDataConfig"]["medium"] == "CHAT"


@pytest.mark.parametrize("key", ["$alt", "alt"])
def test_enum_encoding_int_gives_numbers(emulator: Emulator, deployed: tuple[ci.IssueModel, str], key: str) -> None:
    model, create = deployed
    assert _get(emulator, model.name, {key: "json;enum-encoding=int"})["state"] == int(State.DEPLOYED)
    listed = _get(emulator, f"{PARENT}/issueModels", {key: "json;enum-encoding=int"})
    assert [m["state"] for m in listed["issueModels"]] == [int(State.DEPLOYED)]
    op = _get(emulator, create, {key: "json;enum-encoding=int"})
    # Inside the Any: the response and the echoed request in the metadata.
    assert op["response"]["state"] == int(State.UNDEPLOYED)
    assert op["response"]["inputDataConfig"]["medium"] == int(ci.Conversation.Medium.CHAT)
    assert op["metadata"]["request"]["issueModel"]["inputDataConfig"]["medium"] == int(ci.Conversation.Medium.CHAT)
    assert op["response"]["@type"].endswith(".IssueModel")


def test_plain_json_alt_gives_names(emulator: Emulator, deployed: tuple[ci.IssueModel, str]) -> None:
    model, _ = deployed
    assert _get(emulator, model.name, {"$alt": "json"})["state"] == "DEPLOYED"


def test_post_answers_honour_enum_encoding(emulator: Emulator) -> None:
    http = requests.post(
        f"{emulator.rest_url}/v1/{PARENT}/issueModels", params=NUMBERS,
        json={"displayName": "n", "inputDataConfig": {"medium": 2}}, timeout=10,
    )
    assert http.status_code == 200, http.text
    assert http.json()["metadata"]["request"]["issueModel"]["inputDataConfig"]["medium"] == 2


@pytest.mark.parametrize("alt", ["proto", "json;enum-encoding=roman", "json;colour=red"])
def test_unsupported_alt_is_invalid_argument(emulator: Emulator, alt: str) -> None:
    http = requests.get(f"{emulator.rest_url}/v1/{PARENT}/issueModels", params={"$alt": alt}, timeout=10)
    assert http.status_code == 400
    assert http.json()["error"]["status"] == "INVALID_ARGUMENT" and repr(alt) in http.json()["error"]["message"]


def _recorded(client: Client) -> list[requests.Response]:
    """Every HTTP answer the REST client's own session receives (a response hook, nothing replaced)."""
    seen: list[requests.Response] = []
    client.transport._session.hooks["response"].append(lambda response, **_: seen.append(response))
    return seen


def test_rest_client_sends_enum_encoding_int_and_reads_numbers(emulator: Emulator) -> None:
    client, close = _rest_client(emulator)
    try:
        seen = _recorded(client)
        model = deployed_model(client)
        assert client.get_issue_model(name=model.name).state == State.DEPLOYED
        answer = seen[-1]
        assert "%24alt=json%3Benum-encoding%3Dint" in answer.url
        assert answer.json()["state"] == int(State.DEPLOYED)

        # The google.longrunning mixins of the Python client send no $alt: names, which it reads as well.
        op = wait_done(client, client.undeploy_issue_model(name=model.name).operation.name)
        answer = seen[-1]
        assert "alt" not in answer.url and answer.json()["done"] is True
        assert answer.json()["metadata"]["@type"].endswith("UndeployIssueModelMetadata")
        assert op.done
    finally:
        close()


# -- controls over HTTP ----------------------------------------------------------------------------
def test_http_fail_next_operations(emulator: Emulator, client: Client) -> None:
    http = requests.post(
        f"{emulator.rest_url}/emulator/v1/failNextOperations",
        json={"n": 1, "code": "INTERNAL", "message": "x"},
        timeout=10,
    )
    assert (http.status_code, http.json()) == (200, {})
    op = wait_done(client, start_create(client))
    assert (op.error.code, op.error.message) == (13, "x")
    assert wait_done(client, start_create(client)).HasField("response")


def test_http_faults_counts_and_clear(emulator: Emulator, client: Client) -> None:
    url = f"{emulator.rest_url}/emulator/v1"
    name = start_create(client)
    rule = {"rpc": "GetOperation", "code": "UNAVAILABLE", "rate": 1.0}
    http = requests.post(f"{url}/faults", json=rule, timeout=10)
    assert http.status_code == 200
    echoed = http.json()  # the rule as stored (later versions may add fields)
    assert {key: echoed[key] for key in (*rule, "latency_s")} == {**rule, "latency_s": 0.0}

    err = error_of(lambda: client.get_operation(request={"name": name}, retry=None))
    assert isinstance(err, exceptions.ServiceUnavailable)
    raw = requests.get(f"{emulator.rest_url}/v1/{name}", timeout=10)
    assert raw.status_code == 503 and raw.json()["error"]["status"] == "UNAVAILABLE"
    counts = requests.get(f"{url}/callCounts", timeout=10)
    assert counts.json() == {"CreateIssueModel": 1, "GetOperation": 2}

    assert requests.delete(f"{url}/faults", timeout=10).status_code == 200
    assert client.get_operation(request={"name": name}, retry=None).name == name
    assert requests.get(f"{url}/callCounts", timeout=10).json()["GetOperation"] == 3


def test_http_call_times_and_peak_in_flight(emulator: Emulator, grpc_client: Client) -> None:
    url = f"{emulator.rest_url}/emulator/v1"
    name = start_create(grpc_client)
    emulator.inject_fault("GetOperation", code="OK", latency_s=0.3)
    before = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: grpc_client.get_operation(request={"name": name}), range(3)))
    times = requests.get(f"{url}/callTimes", params={"rpc": "GetOperation"}, timeout=10).json()
    assert len(times) == 3 and all(before <= t <= time.monotonic() for t in times)  # one monotonic clock (Linux)
    assert requests.get(f"{url}/peakInFlight", timeout=10).json() == {"CreateIssueModel": 1, "GetOperation": 3}
    assert emulator.peak_in_flight("GetOperation") == 3
    bad = requests.get(f"{url}/callTimes", params={"rpc": "Nope"}, timeout=10)
    assert bad.status_code == 400 and "'Nope'" in bad.json()["error"]["message"]


def test_http_operation_seconds(emulator: Emulator, grpc_client: Client) -> None:
    url = f"{emulator.rest_url}/emulator/v1/operationSeconds"
    assert requests.post(url, json={"seconds": 5}, timeout=10).status_code == 200
    slow = start_create(grpc_client, "slow")
    assert requests.post(url, json={"seconds": 0.1}, timeout=10).status_code == 200
    fast = start_create(grpc_client, "fast")
    time.sleep(0.3)
    assert grpc_client.get_operation(request={"name": fast}).done
    assert not grpc_client.get_operation(request={"name": slow}).done, (
        "a started operation keeps its duration"
    )


HTTP_BAD_CONTROLS: list[tuple[str, str, Any, str]] = [
    ("POST", "failNextOperations", {"n": 1, "code": "BOGUS"}, "'BOGUS'"),
    ("POST", "failNextOperations", {"n": "1"}, "'1'"),
    ("POST", "failNextOperations", {"n": 10**12}, "1000000000000"),
    ("POST", "failNextOperations", {"count": 1}, "count"),
    ("POST", "failNextOperations", [1], "[1]"),
    ("POST", "faults", {"rpc": "Nope"}, "'Nope'"),
    ("POST", "faults", {"rpc": "GetOperation", "rate": 2}, "rate 2"),
    ("POST", "faults", {"rpc": "GetOperation", "code": "WHATEVER"}, "'WHATEVER'"),
    ("POST", "operationSeconds", {"seconds": -1}, "-1"),
    ("POST", "operationSeconds", {"seconds": "fast"}, "'fast'"),
    ("POST", "operationSeconds", "NaN", "nan"),
]


@pytest.mark.parametrize(("method", "action", "body", "named"), HTTP_BAD_CONTROLS)
def test_http_controls_reject_bad_arguments(
    emulator: Emulator, method: str, action: str, body: Any, named: str
) -> None:
    data = '{"seconds": NaN}' if body == "NaN" else json.dumps(body)
    http = requests.request(
        method,
        f"{emulator.rest_url}/emulator/v1/{action}",
        data=data,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert http.status_code == 400
    error = http.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert named in error["message"]
    assert requests.get(f"{emulator.rest_url}/emulator/v1/callCounts", timeout=10).json() == {}


def test_http_unknown_control_is_not_found(emulator: Emulator) -> None:
    for method, action in (("GET", "nothing"), ("GET", "faults"), ("POST", "callCounts")):
        http = requests.request(method, f"{emulator.rest_url}/emulator/v1/{action}", timeout=10)
        assert http.status_code == 404 and http.json()["error"]["status"] == "NOT_FOUND"


# -- REST robustness -------------------------------------------------------------------------------
CREATE_PATH = f"/v1/{PARENT}/issueModels"


BAD_HTTP: list[tuple[str, str, bytes, str, int, str]] = [
    (
        "malformed JSON",
        f"POST {CREATE_PATH}",
        b'{"displayName": ',
        "application/json",
        400,
        "INVALID_ARGUMENT",
    ),
    ("body of wrong JSON type", f"POST {CREATE_PATH}", b"123", "application/json", 400, "INVALID_ARGUMENT"),
    ("unknown field", f"POST {CREATE_PATH}", b'{"nope": 1}', "application/json", 400, "INVALID_ARGUMENT"),
    ("wrong content type", f"POST {CREATE_PATH}", b"displayName=x", "text/plain", 415, "INVALID_ARGUMENT"),
    ("unknown path", "GET /v2/whatever", b"", "application/json", 404, "NOT_FOUND"),
    (
        "oversized body",
        f"POST {CREATE_PATH}",
        b'{"displayName": "' + b"x" * (1024 * 1024 + 1) + b'"}',
        "application/json",
        413,
        "",
    ),
    ("wrong method", f"PUT {CREATE_PATH}", b"{}", "application/json", 404, "NOT_FOUND"),
    (
        "wrong method on an operation",
        f"DELETE /v1/{PARENT}/operations/1",
        b"",
        "application/json",
        404,
        "NOT_FOUND",
    ),
    (
        "unknown query parameter",
        f"GET /v1/{PARENT}/operations?color=red",
        b"",
        "application/json",
        400,
        "INVALID_ARGUMENT",
    ),
    ("unknown query parameter beside a body", f"POST {CREATE_PATH}?color=red", b"{}", "application/json", 400,
     "INVALID_ARGUMENT"),
    ("query parameter inside the body's field", f"POST {CREATE_PATH}?issueModel.displayName=x", b"{}",
     "application/json", 400, "INVALID_ARGUMENT"),
    ("Duration of neither JSON form", f"POST /v1/{PARENT}/conversations", b'{"ttl": {"minutes": 1}}',
     "application/json", 400, "INVALID_ARGUMENT"),
]


@pytest.mark.parametrize(
    ("case", "call", "body", "content_type", "code", "status"), BAD_HTTP, ids=[case[0] for case in BAD_HTTP]
)
def test_rest_rejects_bad_requests_and_keeps_serving(
    emulator: Emulator, case: str, call: str, body: bytes, content_type: str, code: int, status: str
) -> None:
    method, path = call.split(" ", 1)
    with requests.Session() as session:  # one kept-alive connection: the bad request must not poison it
        http = session.request(
            method,
            emulator.rest_url + path,
            data=body or None,
            headers={"Content-Type": content_type},
            timeout=10,
        )
        assert http.status_code == code, http.text
        assert http.headers["Content-Type"].startswith("application/json")
        error = http.json()["error"]
        assert error["code"] == code and error["message"]
        if status:
            assert error["status"] == status
        ok = session.get(f"{emulator.rest_url}/v1/{PARENT}/issueModels", timeout=10)
        assert (ok.status_code, ok.json()) == (200, {})
    assert "CreateIssueModel" not in emulator.call_counts()


@pytest.mark.parametrize(
    ("medium", "expected"),
    [
        ("CHAT", "CHAT"),
        (2, "CHAT"),
        ("PHONE_CALL", "PHONE_CALL"),
        (int(ci.Conversation.Medium.PHONE_CALL), "PHONE_CALL"),
    ],
)
def test_rest_enums_as_names_or_numbers(emulator: Emulator, medium: str | int, expected: str) -> None:
    assert ci.Conversation.Medium.CHAT == 2
    http = requests.post(
        f"{emulator.rest_url}{CREATE_PATH}",
        json={"displayName": "enums", "inputDataConfig": {"medium": medium}},
        timeout=10,
    )
    assert http.status_code == 200, http.text
    name = http.json()["name"]
    assert http.json()["metadata"]["request"]["issueModel"]["inputDataConfig"]["medium"] == expected
    deadline = time.monotonic() + BOUND_S
    while not (op := requests.get(f"{emulator.rest_url}/v1/{name}", timeout=10).json()).get("done"):
        assert time.monotonic() < deadline
        time.sleep(POLL_S)
    assert op["response"]["inputDataConfig"]["medium"] == expected
    assert op["response"]["state"] == "UNDEPLOYED"


def test_rest_unknown_enum_name_is_invalid_argument(emulator: Emulator) -> None:
    http = requests.post(
        f"{emulator.rest_url}{CREATE_PATH}", json={"inputDataConfig": {"medium": "FAX"}}, timeout=10
    )
    assert http.status_code == 400
    assert http.json()["error"]["status"] == "INVALID_ARGUMENT" and "FAX" in http.json()["error"]["message"]


# -- a dropped REST connection ---------------------------------------------------------------------
def test_rest_dropped_connection_is_a_connection_error(emulator: Emulator, rest: Client) -> None:
    """Over REST the client has no status to map: requests raises, not a GoogleAPICallError."""
    emulator.inject_fault("ListIssueModels", drop=True, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        rest.list_issue_models(parent=PARENT, retry=None)
    assert rest.list_issue_models(parent=PARENT, retry=None).issue_models == [], "a new connection serves"


# -- query parameters and Google's own JSON bodies (issue 23) ---------------------------------------
def test_the_ttl_guides_request_and_query_parameters_reach_the_fields(emulator: Emulator) -> None:
    """The TTL guide's body writes the Duration as {"seconds": "..."} (and snake_case names); the fields the path
    and body leave are query parameters: conversationId, updateMask, force (True as requests writes Python's)."""
    url = f"{emulator.rest_url}/v1/{PARENT}/conversations"
    body = {"data_source": {"gcs_source": {"transcript_uri": "gs://calls/t.json"}}, "medium": "CHAT",
            "ttl": {"seconds": "86400"}}
    made = requests.post(url, params={"conversationId": "call-0042"}, json=body, timeout=10)
    assert made.status_code == 200, made.text
    conversation = made.json()
    assert conversation["name"] == f"{PARENT}/conversations/call-0042" and "ttl" not in conversation
    created, expires = (datetime.datetime.fromisoformat(conversation[k]) for k in ("createTime", "expireTime"))
    assert expires - created == datetime.timedelta(days=1)
    patched = requests.patch(f"{url}/call-0042", params={"updateMask": "agentId,labels"},
                             json={"agentId": "a-9", "languageCode": "fr-FR", "labels": {"k": "v"}}, timeout=10)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["agentId"], patched.json()["labels"]) == ("a-9", {"k": "v"})
    assert "languageCode" not in patched.json(), "outside the mask"
    requests.post(f"{url}/call-0042/analyses", json={}, timeout=10).raise_for_status()
    deadline = time.monotonic() + BOUND_S
    while "latestAnalysis" not in requests.get(f"{url}/call-0042", timeout=10).json():
        assert time.monotonic() < deadline
        time.sleep(POLL_S)
    refused = requests.delete(f"{url}/call-0042", timeout=10)
    assert refused.status_code == 400 and refused.json()["error"]["status"] == "FAILED_PRECONDITION", refused.text
    deleted = requests.delete(f"{url}/call-0042", params={"force": True}, timeout=10)
    assert (deleted.status_code, deleted.json()) == (200, {}), deleted.text


def test_the_pubsub_guides_request_with_its_snake_case_update_mask(emulator: Emulator) -> None:
    """Google's guide (contact-center/insights/docs/pub-sub) PATCHes settings with
    ``?updateMask=pubsub_notification_settings`` and a snake_case body: the proto name in the query mask works."""
    topic = "projects/test-project/topics/insights-guide"
    answer = requests.patch(f"{emulator.rest_url}/v1/{PARENT}/settings",
                            params={"updateMask": "pubsub_notification_settings"},
                            json={"pubsub_notification_settings": {"create-conversation": topic}}, timeout=10)

    assert answer.status_code == 200, answer.text
    assert answer.json()["pubsubNotificationSettings"] == {"create-conversation": topic}
    camel = requests.patch(f"{emulator.rest_url}/v1/{PARENT}/settings", params={"updateMask": "languageCode"},
                           json={"languageCode": "fr-FR"}, timeout=10)
    assert camel.status_code == 200 and camel.json()["pubsubNotificationSettings"] == {"create-conversation": topic}
