"""Google's Node.js client (``@google-cloud/contact-center-insights``, pinned in ``tests/clients/node``) against the
emulator, unchanged: gRPC and the REST fallback. Skipped when ``node``/``npm`` are missing or the packages cannot
be installed (``npm ci`` once, ~30 s, into ``tests/clients/node/node_modules``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ccai_airflow.emulator import Emulator

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md). One xdist
# worker runs the whole file: `npm ci` into node_modules must not run twice at once.
pytestmark = [pytest.mark.airflow_independent, pytest.mark.xdist_group("node_client")]

NODE_DIR = Path(__file__).parent / "clients" / "node"


@pytest.fixture(scope="module")
def node_client() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the Node.js client check")
    if not (NODE_DIR / "node_modules" / "@google-cloud" / "contact-center-insights").is_dir():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            pytest.skip(f"npm ci failed (offline?): {done.stderr.strip()[-500:]}")
    return NODE_DIR


def _run(node_dir: Path, mode: str, target: str, parent: str) -> dict[str, Any]:
    env = {**os.environ, "METADATA_SERVER_DETECTION": "none"}  # belt and braces: never probe for GCE metadata
    done = subprocess.run(
        ["node", "check.js", mode, target, parent], cwd=node_dir, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "MetadataLookup" not in done.stderr, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("mode", ["grpc", "rest"])
def test_node_client_works_unchanged(node_client: Path, emulator: Emulator, mode: str) -> None:
    parent = f"projects/node-{mode}/locations/us-central1"
    target = emulator.grpc_target if mode == "grpc" else emulator.rest_url
    seen = _run(node_client, mode, target, parent)

    assert seen["created"]["name"].startswith(parent + "/issueModels/")
    assert seen["created"]["state"] == 1  # UNDEPLOYED; gax decodes an LRO result's enums as numbers
    assert seen["created"]["issues"] >= 3
    assert seen["deployedState"] == "DEPLOYED"
    assert seen["listed"] == 1
    if mode == "grpc":
        assert seen["secondDeploy"]["code"] == 9  # FAILED_PRECONDITION
        assert seen["notFound"]["code"] == 5
        assert seen["missingRequired"]["code"] == 3
        assert "analysis_percentage" in seen["missingRequired"]["message"]
    else:
        # The REST fallback surfaces the transport's error: the HTTP status, the JSON error object as message.
        for key, (http, status) in {
            "secondDeploy": (400, "FAILED_PRECONDITION"), "notFound": (404, "NOT_FOUND"),
            "missingRequired": (400, "INVALID_ARGUMENT"),
        }.items():
            assert seen[key]["code"] == http, seen[key]
            assert json.loads(seen[key]["message"])["error"]["status"] == status
    assert emulator.call_counts()["GetOperation"] >= 3, "the client polled the operations"
