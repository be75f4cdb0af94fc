"""Reliability: transient faults at scale, permanent errors in every mode, a robust emulator, no leaked secrets.

Everything is real: the generated client talks to the emulator over loopback, Airflow runs the
tasks with dag.test() (the trigger inline), and triggers run in an asyncio loop as in the triggerer.
Log lines are read from the captured output (Airflow's structlog writes them to stdout).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
import requests
from google.cloud import contact_center_insights_v1 as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcAsyncIOTransport,
    ContactCenterInsightsGrpcTransport,
)
from google.protobuf import json_format

from ccai_airflow.core.outcome import ISSUE_MODEL_TYPE
from ccai_airflow.emulator import Emulator
from ccai_airflow.exceptions import (
    ContactCenterInsightsOperationFailedError,
    ContactCenterInsightsOperationRetryableError,
)
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.hooks.clients import EMULATOR_HOST_ENV, EMULATOR_REST_ENV
from ccai_airflow.operators import ContactCenterInsightsCreateIssueModelOperator
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger
from tests.conftest import DAGS_FOLDER, PARENT
from tests.dags.ccai_test_reliability_dags import PERMANENT_MODES, SECRET_CONN_ID
from tests.helpers import all_xcoms, create_model, first_event, states
from tests.helpers import run_dag as run_any_dag

OPERATION_PREFIX = f"{PARENT}/operations/"
RETRY_LOG = "Transient error from Contact Center Insights, retrying"


# -- helpers ----------------------------------------------------------------------------------------
def run_dag(dag_id: str) -> Any:
    return run_any_dag(dag_id, DAGS_FOLDER / "ccai_test_reliability_dags.py")


def captured(capfd: pytest.CaptureFixture[str]) -> str:
    output = capfd.readouterr()
    return output.out + output.err


def grpc_client(emu: Emulator) -> ci.ContactCenterInsightsClient:
    return ci.ContactCenterInsightsClient(
        transport=ContactCenterInsightsGrpcTransport(channel=grpc.insecure_channel(emu.grpc_target))
    )


def start_operations(emu: Emulator, count: int) -> list[str]:
    client = grpc_client(emu)
    return [
        client.create_issue_model(parent=PARENT, issue_model=ci.IssueModel(display_name=f"robust-{i}")).operation.name
        for i in range(count)
    ]


# -- 1. transient faults at scale ---------------------------------------------------------------------
N_OPERATIONS = 200
OPERATION_SECONDS = 3.0  # long enough that many triggers see their operation running first, however loaded the machine


async def test_200_triggers_succeed_through_transient_faults(
    emulator_env: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    hook = ContactCenterInsightsHook()
    emulator_env.set_operation_seconds(OPERATION_SECONDS)
    display_names = {}
    for i in range(N_OPERATIONS):
        display_name = f"reliability-{i:03d}"
        display_names[create_model(hook, display_name).name] = display_name
    assert len(display_names) == N_OPERATIONS
    emulator_env.inject_fault(rpc="GetOperation", code="UNAVAILABLE", rate=0.3)
    emulator_env.inject_fault(rpc="GetOperation", code="RESOURCE_EXHAUSTED", rate=0.1)
    emulator_env.inject_fault(rpc="GetOperation", code="OK", latency_s=0.05)
    capfd.readouterr()

    events = await asyncio.gather(*(
        first_event(ContactCenterInsightsOperationTrigger(operation_name=name, poll_interval=0.2), timeout=150)
        for name in display_names
    ))
    calls = emulator_env.call_counts()["GetOperation"]
    log = captured(capfd).splitlines()
    emulator_env.clear_faults()

    assert [event["status"] for event in events] == ["succeeded"] * N_OPERATIONS
    for name, event in zip(display_names, events, strict=True):
        assert event["operation_name"] == name
        assert json.loads(json.dumps(event)) == event
        response = event["operation"]["response"]
        assert response["displayName"] == display_names[name], "an event holds another operation's response"
        model = hook.get_issue_model(response["name"])
        assert response == {"@type": ISSUE_MODEL_TYPE, **json_format.MessageToDict(model._pb)}
    assert len({event["operation"]["response"]["name"] for event in events}) == N_OPERATIONS

    # Every call the emulator counted is a poll that got an answer or a fault that was then retried, as
    # each trigger counted them in its event's tally; each retry is also one line in the log.
    retried = sum(RETRY_LOG in line for line in log)
    assert retried == sum(sum(event["wait"]["retries"].values()) for event in events)
    answered = sum(event["wait"]["polls"] for event in events)
    assert answered > N_OPERATIONS, "no trigger ever saw its operation running"
    assert calls == answered + retried
    assert calls > N_OPERATIONS * 1.2
    assert 0.25 <= retried / calls <= 0.55, f"{retried} of {calls} calls faulted"


async def test_deadline_holds_while_every_poll_fails_transiently(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(60)
    name = create_model(ContactCenterInsightsHook(), "deadline").name
    emulator_env.inject_fault(rpc="GetOperation", code="UNAVAILABLE", rate=1.0)

    trigger = ContactCenterInsightsOperationTrigger(operation_name=name, poll_interval=0.2, end_time=time.time() + 1)
    event = await first_event(trigger, timeout=6)

    assert event["status"] == "timeout"


# -- 2. permanent errors in every mode -------------------------------------------------------------
PERMANENT_CODES = ["PERMISSION_DENIED", "INVALID_ARGUMENT", "UNAUTHENTICATED", "NOT_FOUND"]
# Over REST a 401 makes google-auth try to refresh the credentials; when that cannot work it raises
# instead of answering, and the provider classifies that as UNAUTHENTICATED too.
PERMANENT_CASES = [
    pytest.param(mode, code, id=f"{mode}-{code}")
    for mode in PERMANENT_MODES
    for code in PERMANENT_CODES
]


@pytest.mark.parametrize(("mode", "code"), PERMANENT_CASES)
def test_permanent_error_fails_the_sensor_within_one_poll(
    mode: str, code: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    emulator_env.inject_fault(rpc="GetOperation", code=code)

    dag_run = run_dag(f"ccai_test_reliability_permanent_{mode}")

    assert states(dag_run) == {"create_issue_model": "success", "wait": "failed"}
    wait = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "wait")
    assert wait.try_number == 1, "a permanent error must not be retried (the sensor has retries=2)"
    assert emulator_env.call_counts() == {"CreateIssueModel": 1, "GetOperation": 1}
    name = all_xcoms(dag_run)[("create_issue_model", "return_value")]
    assert name.startswith(OPERATION_PREFIX)
    # describe_failure(): the operation, the code name as classified by the provider, the message.
    assert f"Operation {name} error: {code}: " in captured(capfd)
    if PERMANENT_MODES[mode].get("transport") == "rest":
        # Over REST the code name travels in the error body (google-api-core gives 400 no gRPC code).
        body = requests.get(f"{emulator_env.rest_url}/v1/{name}", timeout=10).json()
        assert body["error"]["status"] == code


TRIGGER_PERMANENT_CASES = [
    pytest.param(transport, code, id=f"{transport}-{code}")
    for transport in ("grpc", "rest")
    for code in PERMANENT_CODES
]


@pytest.mark.parametrize(("transport", "code"), TRIGGER_PERMANENT_CASES)
async def test_permanent_error_ends_the_trigger_within_one_poll(
    transport: str, code: str, emulator_env: Emulator
) -> None:
    """The deferred half of deferrable mode: the trigger, once the task has handed over."""
    name = create_model(ContactCenterInsightsHook(), f"permanent-{code}").name
    emulator_env.inject_fault(rpc="GetOperation", code=code)

    event = await first_event(
        ContactCenterInsightsOperationTrigger(operation_name=name, poll_interval=0.2, transport=transport)
    )

    assert (event["status"], event["error_code"], event["operation_name"]) == ("error", code, name)
    assert emulator_env.call_counts()["GetOperation"] == 1


# -- 3. emulator robustness -------------------------------------------------------------------------
async def test_1000_concurrent_grpc_get_operations(emulator: Emulator) -> None:
    names = start_operations(emulator, 5)
    requested = [names[i % len(names)] for i in range(1000)]
    channel = grpc.aio.insecure_channel(emulator.grpc_target)
    client = ci.ContactCenterInsightsAsyncClient(transport=ContactCenterInsightsGrpcAsyncIOTransport(channel=channel))
    try:
        results = await asyncio.gather(
            *(client.get_operation(request={"name": name}, retry=None, timeout=60) for name in requested),
            return_exceptions=True,
        )
    finally:
        await channel.close()

    errors = [result for result in results if isinstance(result, BaseException)]
    assert errors == []
    assert [result.name for result in results] == requested  # type: ignore[union-attr]
    assert emulator.call_counts()["GetOperation"] == 1000


def test_200_concurrent_rest_get_operations(emulator: Emulator) -> None:
    names = start_operations(emulator, 5)
    requested = [names[i % len(names)] for i in range(200)]

    def get(name: str) -> tuple[int, Any]:
        response = requests.get(f"{emulator.rest_url}/v1/{name}", timeout=30)
        return response.status_code, response.json()

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(get, requested))

    assert [status for status, _ in answers] == [200] * 200
    assert [body["name"] for _, body in answers] == requested
    assert emulator.call_counts()["GetOperation"] == 200


def test_server_keeps_serving_after_malformed_requests(emulator: Emulator) -> None:
    [name] = start_operations(emulator, 1)
    create_url = f"{emulator.rest_url}/v1/{PARENT}/issueModels"
    as_json = {"Content-Type": "application/json"}
    malformed: list[tuple[str, str, dict[str, Any], int]] = [
        ("bad JSON", create_url, {"data": b'{"displayName": ', "headers": as_json}, 400),
        ("JSON that is not an IssueModel", create_url, {"data": b'{"noSuchField": 1}', "headers": as_json}, 400),
        ("wrong content type", create_url, {"data": b'{"displayName": "x"}', "headers": {"Content-Type": "text/plain"}},
         415),
        ("huge body", create_url, {"data": b'{"displayName": "' + b"x" * (2 << 20) + b'"}', "headers": as_json}, 413),
        ("unknown path", f"{emulator.rest_url}/v1/no/such/path", {"data": b"{}", "headers": as_json}, 404),
    ]

    def send(case: tuple[str, str, dict[str, Any], int]) -> tuple[str, int, int, str]:
        what, url, kwargs, expected = case
        response = requests.post(url, timeout=30, **kwargs)
        return what, expected, response.status_code, response.json()["error"]["status"]

    def garbage(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"\x00\xffNOT HTTP AT ALL\r\n\r\n" * 64)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(5)
            while sock.recv(4096):  # until the server closes the connection
                pass

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, malformed * 10))
        list(pool.map(garbage, [emulator.rest_port, emulator.grpc_port] * 10))

    for what, expected, status, code in answers:
        assert (what, status, code) == (what, expected, "NOT_FOUND" if expected == 404 else "INVALID_ARGUMENT")
    assert emulator.call_counts() == {"CreateIssueModel": 1}, "a malformed request reached the backend"
    # Still serving, over both front ends.
    response = requests.get(f"{emulator.rest_url}/v1/{name}", timeout=10)
    assert response.status_code == 200
    assert response.json()["name"] == name
    created = requests.post(create_url, json={"displayName": "after-the-burst"}, timeout=10)
    assert created.status_code == 200
    assert created.json()["name"].startswith(OPERATION_PREFIX)
    assert grpc_client(emulator).get_operation(request={"name": name}).name == name


# -- 4. secrets -------------------------------------------------------------------------------------
MARKERS = ("SECRETKEYMATERIAL7f3a9c", "SECRET-KEY-ID-7f3a9c")
FAKE_KEY = {
    "type": "service_account",
    "project_id": "test-project",
    "private_key_id": "SECRET-KEY-ID-7f3a9c",
    "private_key": "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL7f3a9c...\n-----END PRIVATE KEY-----\n",
    "client_email": "sa@test-project.iam.gserviceaccount.com",
    "client_id": "1",
    "token_uri": "https://oauth2.googleapis.com/token",
}


@pytest.fixture
def secret_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """A Google Cloud connection whose key JSON holds the markers."""
    connection = {
        "conn_type": "google_cloud_platform",
        "extra": {"project": "test-project", "keyfile_dict": json.dumps(FAKE_KEY)},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{SECRET_CONN_ID.upper()}", json.dumps(connection))
    # The secret really is there to leak: the hooks read this connection.
    keyfile = ContactCenterInsightsHook.get_connection(SECRET_CONN_ID).extra_dejson["keyfile_dict"]
    assert all(marker in keyfile for marker in MARKERS)
    return SECRET_CONN_ID


def assert_no_secret(where: str, text: str) -> None:
    for marker in MARKERS:
        assert marker not in text, f"{marker} leaked into {where}"


def exception_texts(exc: BaseException) -> str:
    """str, repr and the formatted traceback of the exception and of its whole cause/context chain."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_secret_key_never_leaks_in_a_deferrable_run(
    outcome: str, secret_conn: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator_env.set_operation_seconds(8.0)  # still running at the sensor's first look, however slow: it defers
    if outcome == "failed":
        emulator_env.fail_next_operations(2, code="PERMISSION_DENIED", message="Caller lacks training permission")

    dag_run = run_dag("ccai_test_reliability_secret_conn")
    output = captured(capfd) + caplog.text

    final = "success" if outcome == "succeeded" else "failed"
    assert states(dag_run) == {"create_issue_model": "success", "wait": final, "create_and_wait": final}
    assert output.count("[DAG TEST] running trigger in line") == 2, "the sensor and the operator must defer"
    xcoms = all_xcoms(dag_run)
    name = xcoms[("create_issue_model", "operation_name")]
    assert name.startswith(OPERATION_PREFIX)  # the project came from the connection
    if outcome == "succeeded":
        assert xcoms[("wait", "issue_model_name")] == xcoms[("wait", "return_value")]["name"]
        assert xcoms[("create_and_wait", "return_value")]["displayName"] == "secret-conn-waited"
    else:
        assert f"Operation {name} failed: PERMISSION_DENIED: Caller lacks training permission" in output
    assert_no_secret("the task and trigger logs", output)
    for (task_id, key), value in xcoms.items():
        assert_no_secret(f"XCom {task_id}/{key}", json.dumps(value))

    # The trigger the sensor builds, as stored in the trigger table, and the event it yields.
    trigger = ContactCenterInsightsOperationTrigger(operation_name=name, gcp_conn_id=SECRET_CONN_ID, poll_interval=0.2)
    assert_no_secret("the trigger's serialize()", json.dumps(trigger.serialize()))
    event = asyncio.run(first_event(trigger, timeout=150))
    assert event["status"] == outcome
    assert_no_secret("the trigger event", json.dumps(event))
    if outcome == "failed":
        # What execute_complete raises with that event: the task's exception, in full.
        sensor = ContactCenterInsightsOperationSensor(
            task_id="wait", operation_name=name, gcp_conn_id=SECRET_CONN_ID, poke_interval=0.2)
        with pytest.raises(ContactCenterInsightsOperationFailedError) as sensor_error:
            sensor.execute_complete(context={}, event=event)
        operator = ContactCenterInsightsCreateIssueModelOperator(
            task_id="create_and_wait", gcp_conn_id=SECRET_CONN_ID, issue_model={"display_name": "x"})
        with pytest.raises(ContactCenterInsightsOperationRetryableError) as operator_error:
            operator.execute_complete(context={}, event=event)
        for error in (sensor_error.value, operator_error.value):
            text = exception_texts(error)
            assert "PERMISSION_DENIED" in text
            assert_no_secret("the failure's exception", text)
    assert_no_secret("the log of the direct trigger run", captured(capfd) + caplog.text)


@pytest.fixture
def no_external_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Refuse (and record) every socket connection or name lookup that would leave this machine."""
    attempts: list[Any] = []
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex
    getaddrinfo = socket.getaddrinfo

    def loopback(host: Any) -> bool:
        if host in (None, "", "localhost"):
            return True
        try:
            return ipaddress.ip_address(str(host).strip("[]")).is_loopback
        except ValueError:
            return False

    def guarded_connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            attempts.append(("connect", address))
            raise OSError(f"test: refused connection to {address}")
        return connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            attempts.append(("connect_ex", address))
            return 111  # ECONNREFUSED
        return connect_ex(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not loopback(host):
            attempts.append(("getaddrinfo", host))
            raise socket.gaierror(f"test: refused lookup of {host}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # google.auth must not probe the metadata server
    return attempts


@pytest.fixture
def without_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(EMULATOR_HOST_ENV, raising=False)
    monkeypatch.delenv(EMULATOR_REST_ENV, raising=False)
    yield


def test_a_bad_key_fails_locally_without_leaking(
    secret_conn: str, without_emulator: None, no_external_network: list[Any], capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = f"{OPERATION_PREFIX}1"
    errors: list[BaseException] = []
    # The sensor's poke, the client the operators use, and the trigger: each builds credentials first.
    with pytest.raises(ValueError, match="Unable to load PEM") as poll_error:
        ContactCenterInsightsHook(gcp_conn_id=secret_conn).poll(name)
    errors.append(poll_error.value)
    with pytest.raises(ValueError, match="Unable to load PEM") as conn_error:
        ContactCenterInsightsHook(gcp_conn_id=secret_conn, transport="rest").get_conn()
    errors.append(conn_error.value)
    with pytest.raises(ValueError, match="Unable to load PEM") as trigger_error:
        trigger = ContactCenterInsightsOperationTrigger(operation_name=name, gcp_conn_id=secret_conn)
        asyncio.run(first_event(trigger, timeout=150))
    errors.append(trigger_error.value)

    for error in errors:
        assert_no_secret("the exception", exception_texts(error))
    assert_no_secret("the logs", captured(capfd) + caplog.text)
    assert no_external_network == [], "nothing may leave this machine"
