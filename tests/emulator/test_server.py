"""``server.Emulator``: its control methods check their arguments; its life cycle on loopback ports."""

from __future__ import annotations

import math
import socket
from collections.abc import Callable

import grpc
import pytest
import requests
from google.api_core import exceptions
from google.cloud import contact_center_insights_v1 as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcTransport,
)

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


INVALID_CONTROLS: list[tuple[Callable[[Emulator], object], str]] = [
    (lambda e: e.inject_fault(rpc="NoSuchRpc"), "'NoSuchRpc'"),
    (lambda e: e.inject_fault(rate=2), "rate 2"),
    (lambda e: e.inject_fault(rate=-0.1), "rate -0.1"),
    (lambda e: e.inject_fault(code="BOGUS"), "'BOGUS'"),
    (lambda e: e.inject_fault(latency_s=-1), "latency_s -1"),
    (lambda e: e.fail_next_operations(1, code="BOGUS"), "'BOGUS'"),
    (lambda e: e.fail_next_operations(1, code="OK"), "'OK'"),
    (lambda e: e.fail_next_operations(-1), "n -1"),
    (lambda e: e.fail_next_operations(10**12), "n 1000000000000"),
    (lambda e: e.set_operation_seconds(-1), "-1"),
    (lambda e: e.set_operation_seconds(math.nan), "nan"),
]


@pytest.mark.parametrize(("control", "named"), INVALID_CONTROLS)
def test_invalid_control_arguments(
    emulator: Emulator, control: Callable[[Emulator], object], named: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument) as info:
        control(emulator)
    assert named in info.value.message


# -- life cycle -----------------------------------------------------------------------------------
def _serves(emu: Emulator) -> bool:
    channel = grpc.insecure_channel(emu.grpc_target)
    try:
        client = ci.ContactCenterInsightsClient(transport=ContactCenterInsightsGrpcTransport(channel=channel))
        grpc_ok = client.list_issue_models(parent=PARENT, timeout=10).issue_models == []
    finally:
        channel.close()
    return grpc_ok and requests.get(f"{emu.rest_url}/v1/{PARENT}/issueModels", timeout=10).json() == {}


def test_stop_frees_both_ports_for_the_next_emulator() -> None:
    with Emulator(operation_seconds=0.1) as first:
        ports = (first.grpc_port, first.rest_port)
        assert first.info() == {"grpc_target": f"127.0.0.1:{ports[0]}", "rest_url": f"http://127.0.0.1:{ports[1]}"}
        assert _serves(first)
        with pytest.raises(RuntimeError, match="already started"):
            first.start()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{first.rest_url}/v1/{PARENT}/issueModels", timeout=10)
    with Emulator(grpc_port=ports[0], rest_port=ports[1], operation_seconds=0.1) as second:
        assert (second.grpc_port, second.rest_port) == ports
        assert _serves(second)


def test_a_port_in_use_fails_start_naming_the_cause() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        emu = Emulator(rest_port=port)
        with pytest.raises(RuntimeError, match="failed to start") as info:
            emu.start()
        assert isinstance(info.value.__cause__, OSError)
