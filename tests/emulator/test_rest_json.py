"""REST enum encoding: ``$alt=json;enum-encoding=int`` gets numbers (in ``Any`` too), no ``$alt`` gets names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.cloud import contact_center_insights_v1 as ci

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT
from tests.emulator.test_emulator import Client, _grpc_client, _rest_client, deployed_model, wait_done

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent

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
