"""Which client a hook talks through, and what emulator mode keeps of production.

Credentials whose token refresh fails, against a real token endpoint on loopback and the emulator's REST API:
the hook is not in emulator mode there; it has a real service-account key (made for the test) whose
``token_uri`` is a small server on loopback, and its ``api_endpoint`` is the emulator's REST port. So
google-auth really signs a JWT, posts it and gets an answer, as against Google; we choose the answer.

In emulator mode, a connection that does not exist fails as in production, and an emulator variable naming a
port nothing listens at is named in the error (sync and async hooks, gRPC and REST, and tasks run by dag.test()).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import urllib3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.api_core import exceptions
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.compat import AirflowNotFoundException
from ccai_airflow.core.outcome import Status
from ccai_airflow.emulator import Emulator
from ccai_airflow.exceptions import ContactCenterInsightsEmulatorUnreachableError
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook, ContactCenterInsightsHook
from ccai_airflow.hooks.clients import EMULATOR_HOST_ENV, EMULATOR_REST_ENV, Endpoint, nothing_answers
from tests.conftest import DAGS_FOLDER, PARENT
from tests.helpers import run_dag, start_create, states

CONN_ID = "ccai_refresh"


class TokenEndpoint:
    """Answers each token request with the next of ``answers``: "token", "drop" (close the connection
    unanswered, a network error) or "invalid_grant" (400, as Google answers for a revoked key)."""

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.requests = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint.requests += 1
                answer = endpoint.answers.pop(0) if endpoint.answers else "token"
                if answer == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, body = (200, {"access_token": "test-token", "expires_in": 3600, "token_type": "Bearer"})
                if answer == "invalid_grant":
                    status, body = 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def token_endpoint() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture
def private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def key_connection(
    emulator: Emulator, token_endpoint: TokenEndpoint, private_key: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    key = {
        "type": "service_account", "project_id": "test-project", "private_key_id": "k1", "private_key": private_key,
        "client_email": "sa@test-project.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_endpoint.url,
    }
    connection = {"conn_type": "google_cloud_platform", "extra": {"project": "test-project",
                                                                  "keyfile_dict": json.dumps(key)}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))
    return private_key


@pytest.fixture
def operation(emulator: Emulator, monkeypatch: pytest.MonkeyPatch, default_connection: None) -> str:
    """An operation the emulator runs, started through the emulator's own variables, which are then unset."""
    monkeypatch.setenv(EMULATOR_REST_ENV, emulator.rest_url)
    emulator.set_operation_seconds(0)
    name = start_create("rest")
    monkeypatch.delenv(EMULATOR_HOST_ENV, raising=False)
    monkeypatch.delenv(EMULATOR_REST_ENV, raising=False)
    return name


def hooks(emulator: Emulator) -> tuple[ContactCenterInsightsHook, ContactCenterInsightsAsyncHook]:
    options: dict[str, Any] = {"transport": "rest", "api_endpoint": emulator.rest_url, "requests_per_second": 100}
    return (ContactCenterInsightsHook(gcp_conn_id=CONN_ID, **options),
            ContactCenterInsightsAsyncHook(gcp_conn_id=CONN_ID, **options))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_network_error_while_refreshing_the_token_is_retried(
    emulator: Emulator, token_endpoint: TokenEndpoint, key_connection: str, operation: str, mode: str
) -> None:
    token_endpoint.answers = ["drop", "drop"]
    sync_hook, async_hook = hooks(emulator)

    outcome = sync_hook.poll(operation) if mode == "sync" else asyncio.run(async_hook.poll(operation))

    assert outcome.status is Status.SUCCEEDED
    assert token_endpoint.requests == 3  # two dropped, the third answered
    assert emulator.call_counts()["GetOperation"] == 1  # no call went out without a token


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_refused_refresh_ends_the_wait_at_once_naming_the_connection(
    emulator: Emulator, token_endpoint: TokenEndpoint, key_connection: str, operation: str, mode: str,
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    token_endpoint.answers = ["invalid_grant"] * 5
    sync_hook, async_hook = hooks(emulator)

    outcome = sync_hook.poll(operation) if mode == "sync" else asyncio.run(async_hook.poll(operation))

    assert outcome.status is Status.ERROR
    assert outcome.error_code == "UNAUTHENTICATED"
    assert f"The credentials of connection {CONN_ID!r} could not be used: RefreshError" in str(outcome.error_message)
    assert "invalid_grant" in str(outcome.error_message)
    assert token_endpoint.requests == 1  # permanent: not retried
    assert emulator.call_counts().get("GetOperation", 0) == 0
    output = capfd.readouterr()
    secret_body = key_connection.splitlines()[1]
    for text in (str(outcome.to_event()), output.out, output.err, caplog.text):
        assert secret_body not in text


# -- emulator mode keeps production's connection look-up ------------------------------------------------------
MISSPELT = "google_cloud_defualt"
EMULATOR_MODE_DAGS = DAGS_FOLDER / "ccai_test_emulator_mode_dags.py"
RETRY_LOG = "Transient error from Contact Center Insights, retrying"


@pytest.fixture
def default_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default connection, anonymous, as a deployment against the emulator defines it."""
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(
        {"conn_type": "google_cloud_platform", "extra": {"project": "test-project", "is_anonymous": True}}))


def poll_through(hook: str, transport: str, name: str, conn_id: str = "google_cloud_default",
                 retry_timeout: float | None = None) -> Any:
    if hook == "sync":
        return ContactCenterInsightsHook(gcp_conn_id=conn_id, transport=transport).poll(name, retry_timeout)
    async_hook = ContactCenterInsightsAsyncHook(gcp_conn_id=conn_id, transport=transport)
    return asyncio.run(async_hook.poll(name, retry_timeout))


@pytest.mark.parametrize("transport", ["grpc", "rest"])
@pytest.mark.parametrize("hook", ["sync", "async"])
def test_a_connection_that_does_not_exist_fails_against_the_emulator_as_against_google(
    hook: str, transport: str, emulator_env: Emulator, default_connection: None
) -> None:
    name = start_create(transport)

    with pytest.raises(AirflowNotFoundException, match=re.escape(f"The conn_id `{MISSPELT}` isn't defined")):
        poll_through(hook, transport, name, MISSPELT)
    assert poll_through(hook, transport, name).operation_name == name  # the connection that exists is used
    assert emulator_env.call_counts()["GetOperation"] == 1  # the misspelt one made no call


@pytest.mark.parametrize("task", ["sensor_poke", "sensor_deferrable", "sensor_rest", "operator"])
def test_a_task_with_a_misspelt_connection_fails_against_the_emulator_naming_it(
    task: str, emulator_env: Emulator, airflow_db: str, default_connection: None, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag(f"ccai_test_emulator_mode_misspelt_conn_{task}", EMULATOR_MODE_DAGS)

    assert states(dag_run) == {"task": "failed"}
    output = capfd.readouterr()
    assert f"The conn_id `{MISSPELT}` isn't defined" in output.out + output.err
    assert emulator_env.call_counts() == {}


# -- an emulator nothing answers at is named ------------------------------------------------------------------
@pytest.fixture
def nothing_listening(monkeypatch: pytest.MonkeyPatch, default_connection: None) -> Iterator[int]:
    """The emulator variables on a loopback port bound (so no one else takes it) but not listening: refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        monkeypatch.setenv(EMULATOR_HOST_ENV, f"127.0.0.1:{port}")
        monkeypatch.setenv(EMULATOR_REST_ENV, f"http://127.0.0.1:{port}")
        yield port


def unreachable(transport: str, port: int) -> str:
    if transport == "grpc":
        return f"The emulator named by {EMULATOR_HOST_ENV}='127.0.0.1:{port}' is unreachable: nothing answers there."
    return f"The emulator named by {EMULATOR_REST_ENV}='http://127.0.0.1:{port}' is unreachable: nothing answers there."


@pytest.mark.parametrize("transport", ["grpc", "rest"])
@pytest.mark.parametrize("hook", ["sync", "async"])
def test_an_emulator_nothing_answers_at_is_named_after_the_usual_retries(
    hook: str, transport: str, nothing_listening: int, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = poll_through(hook, transport, f"{PARENT}/operations/1", retry_timeout=2.5)

    # Still transient: the wait polls on (an emulator that is starting is waited for, as an outage of Google's).
    assert (outcome.status, outcome.error_code) == (Status.RUNNING, "UNAVAILABLE")
    assert unreachable(transport, nothing_listening) in str(outcome.error_message)
    # After the retries, as against Google (2.5 s of them here; two minutes without a deadline), each logged.
    assert "Timeout of 2.5s exceeded" in str(outcome.error_message)
    output = capfd.readouterr()
    assert (output.out + output.err).count(RETRY_LOG) >= 1


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_a_start_or_a_read_names_the_emulator_nothing_answers_at(transport: str, nothing_listening: int) -> None:
    hook = ContactCenterInsightsHook(transport=transport)
    calls = [
        lambda: hook.start_operation(types.CreateIssueModelRequest(parent=PARENT, issue_model={"display_name": "m"})),
        lambda: hook.list_issue_models(PARENT, retry=None),
    ]
    for call in calls:
        with pytest.raises(ContactCenterInsightsEmulatorUnreachableError,
                           match=re.escape(unreachable(transport, nothing_listening))) as raised:
            call()
        assert isinstance(raised.value, exceptions.ServiceUnavailable)  # still UNAVAILABLE, still transient


@pytest.mark.parametrize(("task", "shown_by"), [
    ("sensor_poke", "transient UNAVAILABLE, will poll again"),  # each poke whose retries ran out (a warning)
    ("sensor_deferrable", "Timed out waiting"),  # the timeout: what the last poll's retries ran out on
    ("operator", "ContactCenterInsightsEmulatorUnreachableError"),  # the start call
])
def test_a_task_against_an_emulator_nothing_answers_at_fails_naming_it(
    task: str, shown_by: str, airflow_db: str, nothing_listening: int, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag(f"ccai_test_emulator_mode_unreachable_{task}", EMULATOR_MODE_DAGS)

    assert states(dag_run) == {"task": "failed"}
    output = capfd.readouterr()
    assert [line for line in (output.out + output.err).splitlines()
            if shown_by in line and unreachable("grpc", nothing_listening) in line]


def test_only_a_connection_never_opened_to_the_emulator_is_renamed(
    emulator_env: Emulator, default_connection: None
) -> None:
    refused = exceptions.ServiceUnavailable("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:9")
    no_host = exceptions.ServiceUnavailable("DNS resolution failed for emulator:8085: C-ares status is not ARES_OK")
    rest_refused = requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(
        None, "/v1/x", urllib3.exceptions.NewConnectionError(None, "Connection refused")))  # type: ignore[arg-type]
    assert all(nothing_answers(exc) for exc in (refused, no_host, rest_refused,
                                                 exceptions.RetryError("Timeout of 1.0s exceeded", cause=refused)))
    answered = [exceptions.ServiceUnavailable("injected"), exceptions.NotFound("no such operation"),
                requests.exceptions.ConnectionError("Connection aborted.", ConnectionResetError()),
                exceptions.RetryError("Timeout of 1.0s exceeded", cause=None)]  # type: ignore[arg-type]
    assert not any(nothing_answers(exc) for exc in answered)
    # Against Google, nothing is renamed: the error is google-api-core's own.
    with pytest.raises(exceptions.ServiceUnavailable) as raised, Endpoint("grpc", None, None).naming_the_emulator():
        raise refused
    assert raised.value is refused
    # An UNAVAILABLE the emulator answered is the server's, not an emulator nothing answers at.
    emulator_env.inject_fault(rpc="GetOperation", code="UNAVAILABLE")
    outcome = ContactCenterInsightsHook().poll(start_create(), retry_timeout=1.0)
    assert outcome.error_code == "UNAVAILABLE" and "unreachable" not in str(outcome.error_message)
