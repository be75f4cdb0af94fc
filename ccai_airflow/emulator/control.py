"""A typed client for the emulator's HTTP controls (``/emulator/v1/...`` on its REST port).

It mirrors the control methods of :class:`ccai_airflow.emulator.Emulator`, for an emulator in another
process (``EmulatorProcess``, ``python -m ccai_airflow.emulator``):

>>> control = EmulatorControl("http://127.0.0.1:36071")
>>> control.inject_fault("GetOperation", code="RESOURCE_EXHAUSTED", headers={"Retry-After": "7"})
>>> control.call_counts()

A control the emulator refuses raises the ``google.api_core.exceptions`` class of its status
(``InvalidArgument`` naming the bad value), as an in-process call does. One keep-alive connection,
opened again if the emulator closed it; safe to share between threads.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from typing import Any

import grpc
from google.api_core import exceptions

PREFIX = "/emulator/v1"


class EmulatorControl:
    def __init__(self, rest_url: str, timeout: float = 30.0) -> None:
        url = urllib.parse.urlsplit(rest_url)
        if url.scheme != "http" or not url.hostname or url.port is None:
            raise ValueError(f"Invalid rest_url {rest_url!r}: expected http://HOST:PORT.")
        self.rest_url = rest_url.rstrip("/")
        self._address = (url.hostname, url.port)
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    # -- the controls, as on Emulator -------------------------------------------------------------
    def fail_next_operations(self, n: int, code: str = "INTERNAL", message: str = "Injected failure") -> None:
        self.request("POST", "failNextOperations", {"n": n, "code": code, "message": message})

    def inject_fault(
        self, rpc: str = "GetOperation", code: str = "UNAVAILABLE", rate: float = 1.0, latency_s: float = 0.0,
        count: int | None = None, *, http_status: int | None = None, body: str = "json",
        headers: dict[str, str] | None = None, drop: bool = False,
    ) -> dict[str, Any]:
        """The fault as the emulator stored it (see ``Emulator.inject_fault``)."""
        rule = {
            "rpc": rpc, "code": code, "rate": rate, "latency_s": latency_s, "count": count,
            "http_status": http_status, "body": body, "headers": headers or {}, "drop": drop,
        }
        return dict(self.request("POST", "faults", rule))

    def clear_faults(self) -> None:
        self.request("DELETE", "faults")

    def call_counts(self) -> dict[str, int]:
        return dict(self.request("GET", "callCounts"))

    def call_times(self, rpc: str) -> list[float]:
        return list(self.request("GET", "callTimes?" + urllib.parse.urlencode({"rpc": rpc})))

    def peak_in_flight(self, rpc: str) -> int:
        return int(self.request("GET", "peakInFlight").get(rpc, 0))

    def quota_refusals(self, rpc: str) -> int:
        return int(self.request("GET", "quotaRefusals").get(rpc, 0))

    def grpc_connections(self) -> int:
        return int(self.request("GET", "grpcConnections")["accepted"])

    def set_quota(self, rpc: str = "GetOperation", per_second: float | None = None) -> None:
        self.request("POST", "quota", {"rpc": rpc, "per_second": per_second})

    def advance_clock(self, seconds: float) -> None:
        self.request("POST", "advanceClock", {"seconds": seconds})

    def set_clock_rate(self, rate: float) -> None:
        self.request("POST", "clockRate", {"rate": rate})

    def set_operation_seconds(self, seconds: float) -> None:
        self.request("POST", "operationSeconds", {"seconds": seconds})

    def reset(self) -> None:
        self.request("POST", "reset", {})

    def seed_conversations(self, parent: str, count: int, age_days: float = 0.0, medium: str = "CHAT") -> list[str]:
        body = {"parent": parent, "count": count, "age_days": age_days, "medium": medium}
        return list(self.request("POST", "seedConversations", body)["names"])

    def write_object(self, uri: str, content: str) -> None:
        self.request("POST", "storageObjects", {"uri": uri, "content": content})

    def read_object(self, uri: str) -> str:
        return str(self.request("GET", "storageObjects?" + urllib.parse.urlencode({"uri": uri}))["content"])

    def list_objects(self, prefix: str = "gs://") -> list[str]:
        return list(self.request("GET", "storageObjects?" + urllib.parse.urlencode({"prefix": prefix}))["uris"])

    def set_pubsub_emulator_host(self, host: str | None) -> None:
        self.request("POST", "pubsubEmulatorHost", {"host": host})

    def set_storage_emulator_host(self, host: str | None) -> None:
        self.request("POST", "storageEmulatorHost", {"host": host})

    def notifications_published(self) -> dict[str, int]:
        return dict(self.request("GET", "notificationsPublished"))

    # -- transport --------------------------------------------------------------------------------
    def request(self, method: str, action: str, body: dict[str, Any] | None = None) -> Any:
        """``method /emulator/v1/{action}`` with ``body`` as JSON; the decoded answer, or the API error raised."""
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"}
        with self._lock:
            for attempt in (1, 2):
                connection = self._connection or http.client.HTTPConnection(*self._address, timeout=self._timeout)
                self._connection = connection
                try:
                    connection.request(method, f"{PREFIX}/{action}", data, headers)
                    answer = connection.getresponse()
                    status, raw = answer.status, answer.read()
                    break
                except (ConnectionError, http.client.HTTPException):
                    # Most likely a kept-alive connection the server had closed (idle), which fails before the
                    # request reaches it: one try on a fresh connection.
                    connection.close()
                    self._connection = None
                    if attempt == 2:
                        raise
        decoded = json.loads(raw) if raw else {}
        if status != 200:
            error = decoded.get("error", {}) if isinstance(decoded, dict) else {}
            message = error.get("message", raw.decode(errors="replace"))
            # The canonical status names the class (InvalidArgument, not just BadRequest), as over gRPC.
            code = grpc.StatusCode.__members__.get(str(error.get("status")))
            if code is not None:
                raise exceptions.from_grpc_status(code, message)
            raise exceptions.from_http_status(status, message)
        return decoded

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
