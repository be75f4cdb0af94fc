"""``Emulator``: runs the gRPC and REST front ends on one event loop in a background thread."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

from aiohttp import web

from ccai_airflow.emulator.backend import Backend
from ccai_airflow.emulator.faults import Fault, Faults
from ccai_airflow.emulator.grpc_server import build_server
from ccai_airflow.emulator.proxy import GrpcProxy
from ccai_airflow.emulator.rest_server import build_app

# How often an emulator with notifications on completes the operations due (the publish lag it adds).
TICK_S = 0.05


class Emulator:
    """A local Contact Center Insights API on loopback.

    >>> with Emulator(operation_seconds=0.5) as emu:
    ...     emu.grpc_target, emu.rest_url

    :param host: address to bind; loopback unless told otherwise.
    :param grpc_port: gRPC port, 0 for a free one.
    :param rest_port: REST port, 0 for a free one.
    :param operation_seconds: how long each long-running operation runs.
    :param seed: seed of the fault-injection draws, for repeatable runs.
    :param pubsub_emulator_host: the Pub/Sub emulator its notifications go to (``HOST:PORT``); default
        ``PUBSUB_EMULATOR_HOST``; none: no notification is published (``emulator.notifications``).
    :param storage_emulator_host: the Cloud Storage emulator its objects are kept in (``http://HOST:PORT``);
        default ``STORAGE_EMULATOR_HOST``; none: in memory (``emulator/gcs.py``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        grpc_port: int = 0,
        rest_port: int = 0,
        operation_seconds: float = 2.0,
        seed: int | None = None,
        pubsub_emulator_host: str | None = None,
        storage_emulator_host: str | None = None,
    ) -> None:
        self.host = host
        self._ports = (grpc_port, rest_port)
        self.backend = Backend(operation_seconds=operation_seconds)
        self.backend.set_operation_seconds(operation_seconds)
        if pubsub_emulator_host is not None:
            self.backend.set_pubsub_emulator_host(pubsub_emulator_host)
            self.backend.notifier.keep_host()
        if storage_emulator_host is not None:
            self.backend.set_storage_emulator_host(storage_emulator_host)
            self.backend.started_storage = self.backend.storage
        self.faults = Faults(seed)
        self.grpc_port = 0
        self.rest_port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- addresses ------------------------------------------------------------------------------
    @property
    def grpc_target(self) -> str:
        return f"{self._url_host}:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self._url_host}:{self.rest_port}"

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    # -- controls -------------------------------------------------------------------------------
    def fail_next_operations(self, n: int, code: str = "INTERNAL", message: str = "Injected failure") -> None:
        """The next ``n`` operations started finish ``done`` with this ``error``."""
        self.backend.fail_next_operations(n, code=code, message=message)

    def inject_fault(
        self, rpc: str = "GetOperation", code: str = "UNAVAILABLE", rate: float = 1.0, latency_s: float = 0.0,
        count: int | None = None, *, http_status: int | None = None, body: str = "json",
        headers: dict[str, str] | None = None, drop: bool = False,
    ) -> Fault:
        """Fail ``rate`` of the calls to ``rpc`` (or ``"*"``) with ``code`` before the handler runs.

        ``count`` limits how many times the fault fires; ``code="OK"`` only adds ``latency_s``.
        The failures of a Google front end rather than of the API: ``http_status`` (REST status, e.g. 502),
        ``body="html"`` (an HTML error page instead of the JSON error object), ``headers`` (e.g.
        ``{"Retry-After": "7"}`` with ``code="RESOURCE_EXHAUSTED"``), all three REST only; ``drop=True``
        closes the call's connection mid-call (gRPC: the client sees UNAVAILABLE; REST: a connection error).
        """
        return self.faults.inject(
            rpc=rpc, code=code, rate=rate, latency_s=latency_s, count=count,
            http_status=http_status, body=body, headers=headers, drop=drop,
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def call_counts(self) -> dict[str, int]:
        """How many calls each RPC received, faulted ones included."""
        return self.faults.call_counts()

    def call_times(self, rpc: str) -> list[float]:
        """Arrival times (time.monotonic) of the last calls to ``rpc``."""
        return self.faults.call_times(rpc)

    def peak_in_flight(self, rpc: str) -> int:
        """The most calls to ``rpc`` the emulator was answering at one time."""
        return self.faults.peak_in_flight().get(rpc, 0)

    def quota_refusals(self, rpc: str) -> int:
        """How many calls to ``rpc`` a quota (``set_quota``) has answered RESOURCE_EXHAUSTED."""
        return self.faults.quota_refusals().get(rpc, 0)

    def grpc_connections(self) -> int:
        """How many TCP connections clients opened to the gRPC port: one per gRPC channel, and one
        more each time a channel reconnects."""
        return self.faults.grpc_connections()

    def set_quota(self, rpc: str = "GetOperation", per_second: float | None = None) -> None:
        """Like the real API's quota: more than ``per_second`` calls in a second get RESOURCE_EXHAUSTED."""
        self.faults.set_quota(rpc, per_second)

    def advance_clock(self, seconds: float) -> None:
        """Jump the emulator's clock forward (an emulated 3-hour operation in no time)."""
        self.backend.advance_clock(seconds)

    def set_clock_rate(self, rate: float) -> None:
        """Run the emulator's clock ``rate`` times as fast as real time (3600: an emulated hour a second)."""
        self.backend.set_clock_rate(rate)

    def set_operation_seconds(self, seconds: float) -> None:
        self.backend.set_operation_seconds(seconds)

    def reset(self) -> None:
        """Back to empty, as when it started: resources, operations, faults, quotas, clock, call counts."""
        self.backend.reset()
        self.faults.reset()

    def seed_conversations(self, parent: str, count: int, age_days: float = 0.0, medium: str = "CHAT") -> list[str]:
        """Add ``count`` conversations under ``parent`` created ``age_days`` ago; their names."""
        return self.backend.seed_conversations(parent, count, age_days, medium)

    def write_object(self, uri: str, content: str) -> None:
        """Put an object (text) into the emulator's Cloud Storage, e.g. feedback labels to upload."""
        self.backend.write_object(uri, content)

    def read_object(self, uri: str) -> str:
        """An object of the emulator's Cloud Storage (NotFound when nothing wrote it), e.g. an exported model."""
        return str(self.backend.object_control(uri=uri)["content"])

    def list_objects(self, prefix: str = "gs://") -> list[str]:
        return list(self.backend.object_control(prefix=prefix)["uris"])

    def set_pubsub_emulator_host(self, host: str | None) -> None:
        """Publish Insights' notifications to the Pub/Sub emulator at ``host`` from now on (None: none)."""
        self.backend.set_pubsub_emulator_host(host)

    def set_storage_emulator_host(self, host: str | None) -> None:
        """Keep the objects in the Cloud Storage emulator at ``host`` (``http://HOST:PORT``) from now on (None:
        in memory)."""
        self.backend.set_storage_emulator_host(host)

    def notifications_published(self) -> dict[str, int]:
        """How many notifications Pub/Sub accepted, by topic."""
        return self.backend.notifications_published()

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> Emulator:
        if self._thread is not None:
            raise RuntimeError("Emulator already started")
        self._thread = threading.Thread(target=self._run, name="ccai-emulator", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            self._thread.join(timeout=5)
            raise RuntimeError(f"Emulator failed to start: {self._error}") from self._error
        if not self._ready.is_set():
            raise RuntimeError("Emulator did not start within 30 s")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def info(self) -> dict[str, Any]:
        return {"grpc_target": self.grpc_target, "rest_url": self.rest_url}

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
            self._ready.set()

    async def _tick(self) -> None:
        """With notifications on, operations end at their due time even if no one asks (their completion is
        what is published); without, they end when next observed, which no caller can tell apart."""
        while True:
            await asyncio.sleep(TICK_S)
            if self.backend.notifier.host is not None:
                self.backend.tick()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        # The gRPC server listens on a free loopback port of its own; the advertised gRPC port is the relay
        # in front of it (proxy.py), which lets a `drop` fault cut the connection a call is on.
        proxy: GrpcProxy | None = None
        grpc_server, inner_port = build_server(
            self.backend, self.faults, f"{self._url_host}:0", drop=lambda peer: proxy is not None and proxy.drop(peer)
        )
        proxy = GrpcProxy(self.host, inner_port, on_accept=self.faults.count_connection)
        runner = web.AppRunner(build_app(self.backend, self.faults), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._ports[1])
            await site.start()
            self.rest_port = runner.addresses[0][1]
            await grpc_server.start()
            self.grpc_port = await proxy.start(self.host, self._ports[0])
            ticker = asyncio.create_task(self._tick())
            self._ready.set()
            await self._stop.wait()
            ticker.cancel()
        finally:
            await proxy.close()
            await grpc_server.stop(grace=0.5)
            await runner.cleanup()
