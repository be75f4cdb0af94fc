"""Sync and async hooks over the ``google-cloud-contact-center-insights`` client.

With ``CONTACT_CENTER_INSIGHTS_EMULATOR_HOST`` (gRPC, ``host:port``) or
``CONTACT_CENTER_INSIGHTS_EMULATOR_REST`` (REST, ``http://host:port``) set, both hooks talk to
the emulator with an insecure channel and anonymous credentials; no Airflow connection needs to
exist then (the convention of ``PUBSUB_EMULATOR_HOST``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import time
import weakref
from collections.abc import Callable, Coroutine, Sequence
from contextlib import nullcontext
from typing import Any

import grpc
from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow.providers.google.common.consts import CLIENT_INFO
from airflow.providers.google.common.hooks.base_google import GoogleBaseAsyncHook, GoogleBaseHook
from asgiref.sync import sync_to_async
from google.api_core import retry as retries
from google.api_core import retry_async
from google.api_core.client_options import ClientOptions
from google.api_core.gapic_v1.method import DEFAULT
from google.api_core.retry import exponential_sleep_generator, retry_target_async
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud.contact_center_insights_v1 import (
    ContactCenterInsightsAsyncClient,
    ContactCenterInsightsClient,
)
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcAsyncIOTransport,
    ContactCenterInsightsGrpcTransport,
)
from google.longrunning import operations_pb2

from ccai_airflow.budget import DEFAULT_REQUESTS_PER_SECOND, RequestBudget, budget_for, parse_rate
from ccai_airflow.operations import (
    Outcome,
    PollingPolicy,
    Status,
    is_transient,
    log_progress,
    outcome_of,
    outcome_of_error,
    parse_operation_name,
    parse_parent,
    validate_seconds,
)

EMULATOR_HOST_ENV = "CONTACT_CENTER_INSIGHTS_EMULATOR_HOST"
EMULATOR_REST_ENV = "CONTACT_CENTER_INSIGHTS_EMULATOR_REST"
TRANSPORTS = ("grpc", "rest")

# The client methods that start a long-running operation (ContactCenterInsightsClient, v1).
LRO_METHODS = frozenset({
    "upload_conversation", "create_analysis", "bulk_analyze_conversations", "bulk_delete_conversations",
    "ingest_conversations", "export_insights_data", "create_issue_model", "delete_issue_model",
    "deploy_issue_model", "undeploy_issue_model", "export_issue_model", "import_issue_model",
    "initialize_encryption_spec", "query_metrics", "tune_qa_scorecard_revision", "bulk_upload_feedback_labels",
    "bulk_download_feedback_labels",
})

# Transient errors of one call are retried with capped exponential backoff and jitter (the
# sleep is drawn uniformly up to twice the nominal delay). A poll whose retries run out is
# "not done yet", not a failure: the next poll tries again. See operations.outcome_of_error.
RETRY_INITIAL_S = 1.0
RETRY_MAXIMUM_S = 32.0
RETRY_MULTIPLIER = 2.0
RETRY_TIMEOUT_S = 120.0
# One GetOperation attempt that has no answer after this long is abandoned (DEADLINE_EXCEEDED, retried):
# a call hung on a broken connection must not hold its place in flight and in the budget for ever.
ATTEMPT_TIMEOUT_S = 60.0

_HOST_PORT_RE = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$")
_REST_URL_RE = re.compile(r"^https?://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?/?$")
_SERVICE_ACCOUNT_RE = re.compile(r"^[^@\s,]+@[^@\s,]+$")


def validate_transport(transport: object) -> str:
    if transport not in TRANSPORTS:
        raise ValueError(f"Invalid transport {transport!r}: expected one of {list(TRANSPORTS)}.")
    return str(transport)


def validate_impersonation_chain(chain: object) -> str | Sequence[str] | None:
    """None, one service account e-mail, or a list of them; anything else names the bad value."""
    if chain is None:
        return None
    accounts = [chain] if isinstance(chain, str) else chain
    if not isinstance(accounts, list | tuple) or not accounts:
        raise ValueError(
            f"Invalid impersonation_chain {chain!r}: expected a service account e-mail or a non-empty "
            "list of them."
        )
    for account in accounts:
        if not isinstance(account, str) or not _SERVICE_ACCOUNT_RE.match(account):
            raise ValueError(
                f"Invalid impersonation_chain entry {account!r}: expected a service account e-mail such "
                "as sa@project.iam.gserviceaccount.com."
            )
    return chain  # type: ignore[return-value]


def emulator_endpoint(transport: str) -> str | None:
    """The emulator address for ``transport`` from the environment, validated, or None."""
    env = EMULATOR_HOST_ENV if transport == "grpc" else EMULATOR_REST_ENV
    value = os.environ.get(env)
    if not value:
        return None
    pattern = _HOST_PORT_RE if transport == "grpc" else _REST_URL_RE
    if not pattern.match(value):
        form = "host:port" if transport == "grpc" else "http://host:port"
        raise ValueError(f"Invalid {env} {value!r}: expected {form}.")
    return value.rstrip("/")


def transient_retry(on_error: Any = None) -> retries.Retry:
    return retries.Retry(
        predicate=is_transient, initial=RETRY_INITIAL_S, maximum=RETRY_MAXIMUM_S,
        multiplier=RETRY_MULTIPLIER, timeout=RETRY_TIMEOUT_S, on_error=on_error,
    )


def transient_async_retry(on_error: Any = None) -> retry_async.AsyncRetry:
    return retry_async.AsyncRetry(
        predicate=is_transient, initial=RETRY_INITIAL_S, maximum=RETRY_MAXIMUM_S,
        multiplier=RETRY_MULTIPLIER, timeout=RETRY_TIMEOUT_S, on_error=on_error,
    )


class ContactCenterInsightsHook(GoogleBaseHook):
    """Hook for the Contact Center Insights API; one client per hook.

    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account (or chain of them) to impersonate.
    :param transport: ``grpc`` (default) or ``rest``.
    :param api_endpoint: a regional or private endpoint, e.g.
        ``us-central1-contactcenterinsights.googleapis.com``.
    :param requests_per_second: the project's polling budget (every ``get_operation`` attempt takes
        a slot); default: the connection's ``requests_per_second`` extra, else 10 (a fifth of the
        API's 3,000 requests/minute), and none against the emulator.
    """

    hook_name = "Google Cloud Contact Center Insights"

    def __init__(
        self,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        *,
        transport: str = "grpc",
        api_endpoint: str | None = None,
        requests_per_second: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.transport = validate_transport(transport)
        self.api_endpoint = api_endpoint
        self.requests_per_second = parse_rate(requests_per_second, "the hook's requests_per_second")
        self.emulator = emulator_endpoint(self.transport)
        super().__init__(
            gcp_conn_id=gcp_conn_id, impersonation_chain=validate_impersonation_chain(impersonation_chain),
            **kwargs,
        )
        self._client: ContactCenterInsightsClient | None = None

    @classmethod
    def get_connection(cls, conn_id: str) -> Any:
        """The connection; against an emulator a missing connection is an empty one."""
        try:
            return super().get_connection(conn_id)
        except AirflowNotFoundException:
            if not (os.environ.get(EMULATOR_HOST_ENV) or os.environ.get(EMULATOR_REST_ENV)):
                raise
            from airflow.sdk.definitions.connection import Connection

            return Connection(conn_id=conn_id, conn_type="google_cloud_platform")

    def get_credentials_and_project_id(self) -> tuple[Credentials, str | None]:
        if self.emulator:
            return AnonymousCredentials(), self._get_field("project") or None
        return super().get_credentials_and_project_id()

    def get_conn(self) -> ContactCenterInsightsClient:
        """The client, built once per hook."""
        if self._client is None:
            self._client = self._build_client()
        return self._client

    def _build_client(self) -> ContactCenterInsightsClient:
        if self.emulator and self.transport == "grpc":
            channel = grpc.insecure_channel(self.emulator)
            return ContactCenterInsightsClient(
                transport=ContactCenterInsightsGrpcTransport(channel=channel), client_info=CLIENT_INFO
            )
        if self.emulator:
            return ContactCenterInsightsClient(
                credentials=AnonymousCredentials(), transport="rest", client_info=CLIENT_INFO,
                client_options=ClientOptions(api_endpoint=self.emulator),
            )
        return ContactCenterInsightsClient(
            credentials=self.get_credentials(), transport=self.transport, client_info=CLIENT_INFO,
            client_options=self.get_client_options(self.api_endpoint),
        )

    # -- operations -----------------------------------------------------------------------------
    def get_operation(
        self, name: str, retry: retries.Retry | None = None, timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> operations_pb2.Operation:
        """``operations.get``; transient errors are retried with :func:`transient_retry`.

        Every attempt, retries included, is a request of the project's budget.
        """
        budget = self.request_budget(parse_operation_name(name).project)
        client = self.get_conn()

        def attempt() -> operations_pb2.Operation:
            with nullcontext() if budget is None else budget.request():
                return client.get_operation(
                    request={"name": name}, retry=None, timeout=ATTEMPT_TIMEOUT_S if timeout is None else timeout,
                    metadata=metadata,
                )

        return (retry or transient_retry(self._log_retry))(attempt)()  # type: ignore[no-any-return]

    def request_budget(self, project: str) -> RequestBudget | None:
        """The process-wide polling budget of ``project`` (None: unlimited)."""
        rate = resolve_rate(self.requests_per_second, self._get_field("requests_per_second"), self.gcp_conn_id,
                            self.emulator)
        return None if rate is None else budget_for(project, rate)

    def cancel_operation(
        self, name: str, retry: retries.Retry | None = None, timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Ask the server to cancel; the operation then finishes with CANCELLED."""
        parse_operation_name(name)
        self.get_conn().cancel_operation(
            request={"name": name}, retry=retry or transient_retry(self._log_retry), timeout=timeout,
            metadata=metadata,
        )

    def list_operations(
        self, parent: str, filter: str | None = None, retry: retries.Retry | None = None,
        timeout: float | None = None, metadata: Sequence[tuple[str, str]] = (),
    ) -> list[operations_pb2.Operation]:
        """All operations under ``projects/{project}/locations/{location}``, every page."""
        parse_parent(parent)
        request = operations_pb2.ListOperationsRequest(name=parent, filter=filter or "")
        found: list[operations_pb2.Operation] = []
        while True:
            page = self.get_conn().list_operations(
                request=request, retry=retry or transient_retry(self._log_retry), timeout=timeout,
                metadata=metadata,
            )
            found.extend(page.operations)
            if not page.next_page_token:
                return found
            request.page_token = page.next_page_token

    # -- starting operations (waiting is separate: poll / wait_for_operation / the trigger) ------
    def start_operation(
        self, method: str, request: Any, retry: Any = DEFAULT, timeout: Any = DEFAULT,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> operations_pb2.Operation:
        """Call the LRO-starting client method ``method``; return the raw ``Operation`` at once.

        Start calls keep the library's default retry: a blind retry of a create could start a
        second job.
        """
        if method not in LRO_METHODS:
            raise ValueError(f"Invalid method {method!r}: expected one of {sorted(LRO_METHODS)}.")
        future = getattr(self.get_conn(), method)(request=request, retry=retry, timeout=timeout, metadata=metadata)
        return future.operation  # type: ignore[no-any-return]

    def create_issue_model(
        self, parent: str, issue_model: Any, retry: Any = DEFAULT, timeout: Any = DEFAULT,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> operations_pb2.Operation:
        request = {"parent": parent, "issue_model": issue_model}
        return self.start_operation("create_issue_model", request, retry, timeout, metadata)

    def deploy_issue_model(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Sequence[tuple[str, str]] = ()
    ) -> operations_pb2.Operation:
        return self.start_operation("deploy_issue_model", {"name": name}, retry, timeout, metadata)

    def undeploy_issue_model(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Sequence[tuple[str, str]] = ()
    ) -> operations_pb2.Operation:
        return self.start_operation("undeploy_issue_model", {"name": name}, retry, timeout, metadata)

    def delete_issue_model(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Sequence[tuple[str, str]] = ()
    ) -> operations_pb2.Operation:
        return self.start_operation("delete_issue_model", {"name": name}, retry, timeout, metadata)

    def get_issue_model(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Sequence[tuple[str, str]] = ()
    ) -> Any:
        return self.get_conn().get_issue_model(name=name, retry=retry, timeout=timeout, metadata=metadata)

    def poll(self, name: str, retry_timeout: float | None = None) -> Outcome:
        """One look at the operation, classified; the sensor's poke is this.

        ``retry_timeout`` bounds the retries of transient errors (a caller's deadline).
        """
        retry = None
        if retry_timeout is not None:
            retry = transient_retry(self._log_retry).with_timeout(min(RETRY_TIMEOUT_S, max(retry_timeout, 0.0)))
        try:
            operation = self.get_operation(name, retry=retry)
        except Exception as exc:
            return outcome_of_error(name, exc)
        return outcome_of(operation)

    def wait_for_operation(
        self, name: str, timeout: float | None = None, poll_interval: float | None = None
    ) -> Outcome:
        """Poll until the operation is done (or ``timeout`` seconds passed: a TIMEOUT outcome).

        ``poll_interval`` None: the adaptive ``operations.DEFAULT_POLLING``.
        """
        policy = PollingPolicy.for_interval(validate_seconds("poll_interval", poll_interval, zero_ok=False))
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        while True:
            outcome = self.poll(name, None if deadline is None else deadline - time.monotonic())
            if outcome.done:
                return outcome
            log_progress(self.log, outcome)
            if deadline is not None and time.monotonic() >= deadline:
                return Outcome(Status.TIMEOUT, name, outcome.operation, error_code="DEADLINE_EXCEEDED",
                               error_message=f"Not done after {timeout} s.")
            delay = policy.delay(outcome.elapsed_seconds() or time.monotonic() - started)
            pause = delay if deadline is None else min(delay, deadline - time.monotonic())
            time.sleep(max(pause, 0.0))

    def _log_retry(self, exc: Exception) -> None:
        self.log.warning("Transient error from Contact Center Insights, retrying: %s", exc)


def resolve_rate(explicit: float | None, extra: object, conn_id: str, emulator: str | None) -> float | None:
    """The hook's argument, else the connection's extra, else the default (none for the emulator)."""
    if explicit is not None:
        return explicit
    from_connection = parse_rate(extra, f"connection {conn_id!r}")
    if from_connection is not None:
        return from_connection
    return None if emulator else DEFAULT_REQUESTS_PER_SECOND


_RATES: dict[tuple[Any, ...], float | None] = {}

# One async client (one channel) per event loop and per connection/impersonation/endpoint:
# every trigger in a triggerer process that shares those shares the client.
_ASYNC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], asyncio.Task[Any]]]
_ASYNC_CLIENTS = weakref.WeakKeyDictionary()
# At most this many GetOperation calls in flight per event loop: thousands of triggers started at once
# (a triggerer restart) otherwise put thousands of calls in flight, and the process keeps that peak's memory.
MAX_INFLIGHT_POLLS = 64
_INFLIGHT: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
_RATE_LOOKUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], asyncio.Task[Any]]]
_RATE_LOOKUPS = weakref.WeakKeyDictionary()
_UNSET: Any = object()


async def _once_per_loop(
    registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], asyncio.Task[Any]]],
    key: tuple[Any, ...], make: Callable[[], Coroutine[Any, Any, Any]],
) -> Any:
    """The result of ``make()`` run once per event loop and ``key``, however many callers ask at once.

    A failure is not kept: the next caller tries again.
    """
    loop = asyncio.get_running_loop()
    tasks = registry.setdefault(loop, {})
    task = tasks.get(key)
    if task is None:
        task = tasks[key] = loop.create_task(make())
    try:
        return await asyncio.shield(task)
    except Exception:
        if tasks.get(key) is task:
            tasks.pop(key)
        raise


def _inflight_limit() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    semaphore = _INFLIGHT.get(loop)
    if semaphore is None:
        semaphore = _INFLIGHT[loop] = asyncio.Semaphore(MAX_INFLIGHT_POLLS)
    return semaphore


class ContactCenterInsightsAsyncHook(GoogleBaseAsyncHook):
    """Async hook for triggers: ``get_operation`` / ``cancel_operation`` without blocking the loop.

    gRPC uses ``ContactCenterInsightsAsyncClient``; the REST transport has no async client in the
    library, so REST calls run the sync client in a worker thread.
    """

    sync_hook_class = ContactCenterInsightsHook

    def __init__(
        self,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        *,
        transport: str = "grpc",
        api_endpoint: str | None = None,
        requests_per_second: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.transport = validate_transport(transport)
        self.api_endpoint = api_endpoint
        self.impersonation_chain = validate_impersonation_chain(impersonation_chain)
        self.gcp_conn_id = gcp_conn_id
        self.requests_per_second = parse_rate(requests_per_second, "the hook's requests_per_second")
        super().__init__(
            gcp_conn_id=gcp_conn_id, impersonation_chain=impersonation_chain, transport=transport,
            api_endpoint=api_endpoint, requests_per_second=requests_per_second, **kwargs,
        )
        self._bound: tuple[asyncio.AbstractEventLoop, Any] | None = None  # (loop, shared client)
        self._budgets: dict[str, RequestBudget | None] = {}
        self._last_running: tuple[bytes, Outcome] | None = None  # the last poll's running operation

    def _client_key(self) -> tuple[Any, ...]:
        chain = self.impersonation_chain
        chain_key = tuple(chain) if isinstance(chain, list | tuple) else chain
        return (self.gcp_conn_id, chain_key, self.transport, self.api_endpoint, emulator_endpoint(self.transport))

    async def get_conn(self) -> Any:
        """The shared client for this loop and key; created once even when many triggers ask at once."""
        loop = asyncio.get_running_loop()
        if self._bound is not None and self._bound[0] is loop:
            return self._bound[1]
        client = await _once_per_loop(_ASYNC_CLIENTS, self._client_key(), self._build_client)
        self._bound = (loop, client)
        return client

    async def _build_client(self) -> Any:
        emulator = emulator_endpoint(self.transport)
        if self.transport == "rest":
            sync_hook = await self.get_sync_hook()
            return await sync_to_async(sync_hook.get_conn)()
        if emulator:
            channel = grpc.aio.insecure_channel(emulator)
            return ContactCenterInsightsAsyncClient(
                transport=ContactCenterInsightsGrpcAsyncIOTransport(channel=channel), client_info=CLIENT_INFO
            )
        sync_hook = await self.get_sync_hook()
        credentials = await sync_to_async(sync_hook.get_credentials)()
        return ContactCenterInsightsAsyncClient(
            credentials=credentials, transport="grpc_asyncio", client_info=CLIENT_INFO,
            client_options=sync_hook.get_client_options(self.api_endpoint),
        )

    async def get_operation(self, name: str, retry_timeout: float | None = None) -> operations_pb2.Operation:
        """``operations.get``; transient errors are retried with :func:`transient_async_retry`.

        Every attempt, retries included, is a request of the project's budget.
        """
        project = parse_operation_name(name).project
        budget = self._budgets.get(project, _UNSET)
        if budget is _UNSET:
            budget = self._budgets[project] = await self.request_budget(project)
        client = await self.get_conn()
        # What transient_async_retry(...)(attempt)() does, without building two AsyncRetry objects per poll.
        timeout = RETRY_TIMEOUT_S if retry_timeout is None else min(RETRY_TIMEOUT_S, max(retry_timeout, 0.0))
        return await retry_target_async(  # type: ignore[no-any-return]
            functools.partial(self._attempt, client, budget, name), predicate=is_transient,
            sleep_generator=exponential_sleep_generator(RETRY_INITIAL_S, RETRY_MAXIMUM_S, RETRY_MULTIPLIER),
            timeout=timeout, on_error=self._log_retry,
        )

    async def _attempt(self, client: Any, budget: RequestBudget | None, name: str) -> operations_pb2.Operation:
        # A place in flight first, then the budget's slot: a slot is taken right before its call is sent, not
        # before a wait for a place in flight.
        async with _inflight_limit(), nullcontext() if budget is None else budget.arequest():
            if self.transport == "rest":
                return await asyncio.to_thread(
                    client.get_operation, request={"name": name}, retry=None, timeout=ATTEMPT_TIMEOUT_S
                )
            # asyncio.timeout, not the client's timeout=: that builds a deadline decorator per call (~50 us).
            # Expiry cancels the RPC and raises TimeoutError, which is transient.
            async with asyncio.timeout(ATTEMPT_TIMEOUT_S):
                return await client.get_operation(request={"name": name}, retry=None)  # type: ignore[no-any-return]

    async def request_budget(self, project: str) -> RequestBudget | None:
        """As the sync hook's; the connection extra is read once per process and connection.

        Once, also when thousands of triggers start together: they all wait for the first look-up instead of
        each building a sync hook and reading the connection in a thread before the first has finished.
        """
        key = (self.gcp_conn_id, self.requests_per_second, emulator_endpoint(self.transport))
        if key not in _RATES:
            _RATES[key] = await _once_per_loop(_RATE_LOOKUPS, key, lambda: self._read_rate(key[2]))
        rate = _RATES[key]
        return None if rate is None else budget_for(project, rate)

    async def _read_rate(self, emulator: str | None) -> float | None:
        extra = None
        if self.requests_per_second is None:
            sync_hook = await self.get_sync_hook()
            extra = await sync_to_async(sync_hook._get_field)("requests_per_second")
        return resolve_rate(self.requests_per_second, extra, self.gcp_conn_id, emulator)

    async def cancel_operation(self, name: str) -> None:
        parse_operation_name(name)
        client = await self.get_conn()
        if self.transport == "rest":
            await asyncio.to_thread(
                client.cancel_operation, request={"name": name}, retry=transient_retry(self._log_retry)
            )
            return
        await client.cancel_operation(request={"name": name}, retry=transient_async_retry(self._log_retry))

    async def poll(self, name: str, retry_timeout: float | None = None) -> Outcome:
        """One look at the operation, classified; the trigger's loop is this."""
        try:
            operation = await self.get_operation(name, retry_timeout)
        except Exception as exc:
            return outcome_of_error(name, exc)
        if operation.done:
            self._last_running = None
            return outcome_of(operation)
        # A running operation that has not changed since the last poll (no new progress counters) is not
        # decoded again: json_format costs more than the rest of the poll.
        key = operation.SerializeToString()
        if self._last_running is not None and self._last_running[0] == key:
            return self._last_running[1]
        outcome = outcome_of(operation)
        self._last_running = (key, outcome)
        return outcome

    def _log_retry(self, exc: Exception) -> None:
        self.log.warning("Transient error from Contact Center Insights, retrying: %s", exc)
