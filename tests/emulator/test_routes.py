"""The table of served RPCs (``routes.py``): each REST rule, read from the generated client's transport, reaches its
own RPC at the path and method the client sends, and a path variable (nested ones too) becomes the request field."""

from __future__ import annotations

import re

import pytest
import requests

from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.routes import RPC_NAMES, RPCS, Rpc
from tests.conftest import PARENT

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


def _path(rpc: Rpc) -> str:
    """A path the rule matches: each variable's template with ``x1`` for every ``*`` (``{name}`` alone too)."""

    def filled(match: re.Match[str]) -> str:
        template = match.group(1).partition("=")[2] or "*"
        return template.replace("*", "x1")

    return re.sub(r"\{([^}]+)\}", filled, rpc.uri)


def test_every_rest_rule_reaches_its_own_rpc(emulator: Emulator) -> None:
    with requests.Session() as session:
        for done, rpc in enumerate(RPCS, start=1):
            http = session.request(rpc.http_method, emulator.rest_url + _path(rpc), timeout=10,
                                   json={} if rpc.body else None)
            assert http.headers["Content-Type"].startswith("application/json"), (rpc.name, http.text)
            assert "Unknown method" not in http.text, (rpc.name, http.text)
            assert emulator.call_counts() == {r.name: 1 for r in RPCS[:done]}, rpc.name


def test_no_path_matches_two_rules() -> None:
    assert len(RPC_NAMES) == len(RPCS)
    for rpc in RPCS:
        matching = [r.name for r in RPCS if r.http_method == rpc.http_method and r.pattern.match(_path(rpc))]
        assert matching == [rpc.name]
        assert not rpc.pattern.match(_path(rpc) + "/extra"), "a rule matches the whole path"


def test_path_variables_become_request_fields_nested_ones_too(emulator: Emulator) -> None:
    key = f"{PARENT}/keyRings/r/cryptoKeys/k"
    http = requests.post(f"{emulator.rest_url}/v1/{PARENT}/encryptionSpec:initialize",
                         json={"encryptionSpec": {"kmsKey": key}}, timeout=10)  # the name only in the path
    assert http.status_code == 200, http.text
    spec = http.json()["metadata"]["request"]["encryptionSpec"]
    assert spec == {"name": f"{PARENT}/encryptionSpec", "kmsKey": key}
    listed = requests.get(f"{emulator.rest_url}/v1/{PARENT}/operations", timeout=10)
    assert [op["name"] for op in listed.json()["operations"]] == [http.json()["name"]]
