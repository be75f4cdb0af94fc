"""Credentials whose token refresh fails, against a real token endpoint on loopback and the emulator's REST API.

The hook is not in emulator mode here: it has a real service-account key (made for the test) whose
``token_uri`` is a small server on loopback, and its ``api_endpoint`` is the emulator's REST port. So
google-auth really signs a JWT, posts it and gets an answer, as against Google; we choose the answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ccai_airflow.core.outcome import Status
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook, ContactCenterInsightsHook
from ccai_airflow.hooks.clients import EMULATOR_HOST_ENV, EMULATOR_REST_ENV
from tests.helpers import start_create

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
def operation(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
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
