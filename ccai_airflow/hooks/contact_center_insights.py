"""Sync and async hooks over the ``google-cloud-contact-center-insights`` client.

The hooks are stateless transport: the sync hook starts an operation from its request message (``calls``),
looks at it, cancels it and reads; the async hook has what a trigger needs, without blocking the event
loop. Neither keeps anything of a wait: a poll tells its caller's ``PollObserver`` (the
:class:`~ccai_airflow.core.wait.OperationWait`) what its attempts cost. Both poll through the same retry
(``retrying.poll_retry``) and classify the same way (``outcome_of`` / ``outcome_of_error``). Which client
they talk through (Google or the emulator, gRPC or REST) is ``clients``'s decision.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from airflow.providers.google.common.hooks.base_google import GoogleBaseAsyncHook, GoogleBaseHook
from asgiref.sync import sync_to_async
from google.api_core.retry import retry_target, retry_target_async
from google.cloud.contact_center_insights_v1 import ContactCenterInsightsClient
from google.longrunning import operations_pb2

from ccai_airflow import metrics
from ccai_airflow.compat import conf
from ccai_airflow.core import retrying
from ccai_airflow.core.budget import (
    TRIGGERER_COUNT_OPTION,
    RequestBudget,
    budget_for,
    parse_rate,
    parse_triggerer_count,
    resolve_rate,
)
from ccai_airflow.core.names import (
    parse_operation_name,
    parse_parent,
    validate_impersonation_chain,
    validate_seconds,
    validate_transport,
)
from ccai_airflow.core.outcome import Outcome, error_code_of, outcome_of, outcome_of_error
from ccai_airflow.core.wait import OperationWait, PollObserver
from ccai_airflow.hooks import shared_state
from ccai_airflow.hooks.calls import InsightsCalls
from ccai_airflow.hooks.clients import (
    EmulatorAware,
    Endpoint,
    SharedClient,
    async_client,
    refresh_if_expired,
    sync_client,
)

__all__ = ["ContactCenterInsightsAsyncHook", "ContactCenterInsightsHook"]

Metadata = Sequence[tuple[str, str]]


def _triggerer_count() -> int:
    """How many triggerers share each project's budget: Airflow's ``[ccai] triggerer_count`` option, default 1."""
    section, key = TRIGGERER_COUNT_OPTION
    return parse_triggerer_count(conf.get(section, key, fallback=None))
_UNSET: Any = object()


class _Unobserved:
    """The observer of a poll nobody counts (a direct ``get_operation`` call)."""

    def retried(self, code: str) -> None:
        pass

    def budget_waited(self, seconds: float) -> None:
        pass


UNOBSERVED: PollObserver = _Unobserved()


class _HookOptions:
    """What both hooks take besides the connection, validated once; how both log a retry and classify a poll."""

    log: Any
    gcp_conn_id: str

    def _init_options(self, transport: str, api_endpoint: str | None, requests_per_second: float | None) -> None:
        self.transport = validate_transport(transport)
        self.api_endpoint = api_endpoint
        self.endpoint = Endpoint.resolve(self.transport, api_endpoint)
        self.requests_per_second = parse_rate(requests_per_second, "the hook's requests_per_second")

    @property
    def credentials_source(self) -> str:
        """How a credentials error names where the credentials came from (never what they hold)."""
        return f"The credentials of connection {self.gcp_conn_id!r}"

    def _log_retry(self, exc: Exception) -> None:
        self.log.warning("Transient error from Contact Center Insights, retrying: %s", exc)

    def _poll_retry(self, observer: PollObserver, retry_timeout: float | None) -> dict[str, Any]:
        """The retry of one poll's attempts, for ``retry_target`` and ``retry_target_async`` alike."""

        def on_error(exc: Exception) -> None:
            self._log_retry(exc)
            observer.retried(error_code_of(exc))

        return retrying.poll_retry(on_error, retry_timeout)

    def _failed_poll(self, name: str, exc: Exception) -> Outcome:
        return outcome_of_error(name, exc, self.credentials_source)


class ContactCenterInsightsHook(InsightsCalls, EmulatorAware, _HookOptions, GoogleBaseHook):
    """Hook for the Contact Center Insights API; one client per hook.

    :meth:`start_operation` starts a long-running operation from its request message and returns the
    raw ``Operation`` at once, with the client library's own retry (a blind retry of a create could
    start a second job); waiting is separate: :meth:`poll`, :meth:`wait_for_operation`, the sensor or
    the trigger.

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
        self._init_options(transport, api_endpoint, requests_per_second)
        super().__init__(
            gcp_conn_id=gcp_conn_id, impersonation_chain=validate_impersonation_chain(impersonation_chain),
            **kwargs,
        )
        self._client: ContactCenterInsightsClient | None = None
        self.credentials: Any = None  # what the client calls with (None: anonymous)

    def get_conn(self) -> ContactCenterInsightsClient:
        """The client, built once per hook."""
        if self._client is None:
            shared = sync_client(self.endpoint, self.get_credentials, self.get_client_options)
            self._client, self.credentials = shared.client, shared.credentials
        return self._client

    # -- operations -----------------------------------------------------------------------------
    def get_operation(
        self, name: str, retry_timeout: float | None = None, timeout: float | None = None, metadata: Metadata = (),
        observer: PollObserver = UNOBSERVED,
    ) -> operations_pb2.Operation:
        """``operations.get``; transient errors are retried for up to ``retry_timeout`` seconds (at most 120).

        ``timeout`` bounds each attempt (default 60 s). Every attempt is a request of the project's budget;
        ``observer`` is told of each retry and budget wait.
        """
        budget = self.request_budget(parse_operation_name(name).project)
        client = self.get_conn()

        def attempt() -> operations_pb2.Operation:
            refresh_if_expired(self.credentials)
            with nullcontext(0.0) if budget is None else budget.request() as waited, \
                    retrying.honour_retry_after(budget):
                observer.budget_waited(waited)
                return client.get_operation(
                    request={"name": name}, retry=None, metadata=metadata,
                    timeout=retrying.ATTEMPT_TIMEOUT_S if timeout is None else timeout,
                )

        with self.endpoint.naming_the_emulator():
            return retry_target(attempt, **self._poll_retry(observer, retry_timeout))  # type: ignore[no-any-return]

    def request_budget(self, project: str) -> RequestBudget | None:
        """The process-wide polling budget of ``project`` (None: unlimited)."""
        rate = resolve_rate(self.requests_per_second, self._get_field("requests_per_second"), self.gcp_conn_id,
                            self.endpoint.default_rate)
        return None if rate is None else budget_for(project, rate)

    def cancel_operation(self, name: str, timeout: float | None = None, metadata: Metadata = ()) -> None:
        """Ask the server to cancel; the operation then finishes with CANCELLED."""
        parse_operation_name(name)
        with self.endpoint.naming_the_emulator():
            self.get_conn().cancel_operation(
                request={"name": name}, retry=retrying.transient_retry(self._log_retry), timeout=timeout,
                metadata=metadata,
            )

    def list_operations(
        self, parent: str, filter: str | None = None, timeout: float | None = None, metadata: Metadata = ()
    ) -> list[operations_pb2.Operation]:
        """All operations under ``projects/{project}/locations/{location}``, every page."""
        parse_parent(parent)
        request = operations_pb2.ListOperationsRequest(name=parent, filter=filter or "")
        found: list[operations_pb2.Operation] = []
        while True:
            with self.endpoint.naming_the_emulator():
                page = self.get_conn().list_operations(
                    request=request, retry=retrying.transient_retry(self._log_retry), timeout=timeout,
                    metadata=metadata,
                )
            found.extend(page.operations)
            if not page.next_page_token:
                return found
            request.page_token = page.next_page_token

    def poll(self, name: str, retry_timeout: float | None = None, observer: PollObserver = UNOBSERVED) -> Outcome:
        """One look at the operation, classified (an API error too: it is an outcome, never raised).

        ``retry_timeout`` bounds the retries of transient errors (a caller's deadline).
        """
        try:
            return outcome_of(self.get_operation(name, retry_timeout, observer=observer))
        except Exception as exc:
            return self._failed_poll(name, exc)

    def wait_for_operation(
        self, name: str, timeout: float | None = None, poll_interval: float | None = None
    ) -> Outcome:
        """Poll until the operation is done (or ``timeout`` seconds passed: a TIMEOUT outcome).

        ``poll_interval`` None: the adaptive ``polling.DEFAULT_POLLING``.
        """
        timeout = validate_seconds("timeout", timeout, zero_ok=True)
        wait = OperationWait(name, end_time=None if timeout is None else time.time() + timeout,
                             poll_interval=poll_interval, poll=self.poll, meter=metrics)
        return wait.run(self.log)


class _AsyncBudgets:
    """The request budgets of an async hook: the connection's rate, read once per loop, shared by its triggers."""

    gcp_conn_id: str
    requests_per_second: float | None
    endpoint: Any
    _budgets: dict[str, RequestBudget | None]

    if TYPE_CHECKING:  # GoogleBaseAsyncHook's, later in the hook's bases: a stub here would override it

        async def get_sync_hook(self) -> Any: ...

    async def _budget(self, project: str) -> RequestBudget | None:
        budget = self._budgets.get(project, _UNSET)
        if budget is _UNSET:
            budget = self._budgets[project] = await self.request_budget(project)
        return budget  # type: ignore[no-any-return]

    async def request_budget(self, project: str) -> RequestBudget | None:
        """As the sync hook's; the connection extra is read once per loop and connection.

        Once, also when thousands of triggers start together: they all wait for the first look-up instead of
        each building a sync hook and reading the connection in a thread before the first has finished.
        """
        key = (self.gcp_conn_id, self.requests_per_second, self.endpoint)
        rate = await shared_state.rate(key, self._read_rate)
        return None if rate is None else budget_for(project, rate)

    async def _read_rate(self) -> float | None:
        extra = None
        if self.requests_per_second is None:
            sync_hook = await self.get_sync_hook()
            extra = await sync_to_async(sync_hook._get_field)("requests_per_second")
        # Triggers are what this hook serves: each of the deployment's triggerers spends its share of the budget.
        return resolve_rate(self.requests_per_second, extra, self.gcp_conn_id, self.endpoint.default_rate,
                            share=_triggerer_count())


class ContactCenterInsightsAsyncHook(_AsyncBudgets, _HookOptions, GoogleBaseAsyncHook):
    """Async hook for triggers: look at an operation and cancel it without blocking the event loop.

    Every trigger of a process with the same connection, impersonation chain, transport and endpoint
    shares one client (``shared_state``). gRPC uses ``ContactCenterInsightsAsyncClient``; the REST
    transport has no async client in the library, so REST calls run the sync client in a thread.
    Arguments as for :class:`ContactCenterInsightsHook`, except that the polling budget is divided by
    Airflow's ``[ccai] triggerer_count`` option (default 1): with N triggerers, each paces at
    ``requests_per_second / N``, so all of them together stay within the project's budget.
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
        self._init_options(transport, api_endpoint, requests_per_second)
        self.impersonation_chain = validate_impersonation_chain(impersonation_chain)
        self.gcp_conn_id = gcp_conn_id
        super().__init__(
            gcp_conn_id=gcp_conn_id, impersonation_chain=impersonation_chain, transport=transport,
            api_endpoint=api_endpoint, requests_per_second=requests_per_second, **kwargs,
        )
        self._bound: tuple[asyncio.AbstractEventLoop, SharedClient] | None = None
        self._budgets: dict[str, RequestBudget | None] = {}
        self._last_running: tuple[bytes, Outcome] | None = None  # the last poll's running operation

    def _client_key(self) -> tuple[Any, ...]:
        chain = self.impersonation_chain
        return (self.gcp_conn_id, tuple(chain) if isinstance(chain, list | tuple) else chain, self.endpoint)

    async def get_conn(self) -> Any:
        """The shared client for this loop and key; created once even when many triggers ask at once."""
        return (await self._shared()).client

    async def _shared(self) -> SharedClient:
        loop = asyncio.get_running_loop()
        if self._bound is not None and self._bound[0] is loop:
            return self._bound[1]
        shared = await shared_state.client(self._client_key(), lambda: async_client(self.endpoint, self.get_sync_hook))
        self._bound = (loop, shared)
        return shared  # type: ignore[no-any-return]

    async def get_operation(
        self, name: str, retry_timeout: float | None = None, timeout: float | None = None, metadata: Metadata = (),
        observer: PollObserver = UNOBSERVED,
    ) -> operations_pb2.Operation:
        """As the sync hook's: transient errors retried up to ``retry_timeout``, each attempt in the budget.

        At most ``shared_state.MAX_INFLIGHT_POLLS`` calls of the loop are in flight at once.
        """
        request = {"name": name}
        return await self._in_budget(  # type: ignore[no-any-return]
            parse_operation_name(name).project, "get_operation", request, timeout, metadata, observer, retry_timeout
        )

    async def list_operations_page(
        self, parent: str, *, filter: str = "", page_size: int = 0, page_token: str = "",
        timeout: float | None = None, metadata: Metadata = (),
    ) -> operations_pb2.ListOperationsResponse:
        """One page of ``ListOperations`` under ``projects/{project}/locations/{location}``, in the project's
        budget as every poll (transient errors retried; a permanent one is raised)."""
        request = operations_pb2.ListOperationsRequest(
            name=parse_parent(parent), filter=filter, page_size=page_size, page_token=page_token
        )
        project = parent.split("/")[1]
        return await self._in_budget(  # type: ignore[no-any-return]
            project, "list_operations", request, timeout, metadata, UNOBSERVED, None
        )

    async def _in_budget(
        self, project: str, method: str, request: Any, timeout: float | None, metadata: Metadata,
        observer: PollObserver, retry_timeout: float | None,
    ) -> Any:
        budget = await self._budget(project)
        shared = await self._shared()
        # retry_target_async is what AsyncRetry calls, without building AsyncRetry objects at every poll.
        attempt = functools.partial(
            self._attempt, shared, budget, method, request, timeout or retrying.ATTEMPT_TIMEOUT_S, metadata,
            observer,
        )
        with self.endpoint.naming_the_emulator():
            return await retry_target_async(attempt, **self._poll_retry(observer, retry_timeout))

    async def _attempt(
        self, shared: SharedClient, budget: RequestBudget | None, method: str, request: Any, timeout: float,
        metadata: Metadata, observer: PollObserver,
    ) -> Any:
        if shared.credentials is not None and not shared.credentials.valid:
            await sync_to_async(refresh_if_expired)(shared.credentials)
        client = shared.client
        # A place in flight first, then the budget's slot: a slot is taken right before its call is sent, not
        # before a wait for a place in flight.
        async with shared_state.inflight_limit(), nullcontext(0.0) if budget is None else budget.arequest() as waited:
            observer.budget_waited(waited)
            with retrying.honour_retry_after(budget):
                return await self._call(getattr(client, method), request, timeout, metadata)

    async def _call(self, method: Any, request: Any, timeout: float, metadata: Metadata) -> Any:
        if self.transport == "rest":
            return await asyncio.to_thread(method, request=request, retry=None, timeout=timeout, metadata=metadata)
        # asyncio.timeout, not the client's timeout=, which wraps every call in a new deadline decorator.
        # Expiry cancels the RPC and raises TimeoutError, which is transient.
        async with asyncio.timeout(timeout):
            return await method(request=request, retry=None, metadata=metadata)

    async def cancel_operation(self, name: str, timeout: float | None = None, metadata: Metadata = ()) -> None:
        """As the sync hook's."""
        parse_operation_name(name)
        client = await self.get_conn()
        with self.endpoint.naming_the_emulator():
            if self.transport == "rest":
                await asyncio.to_thread(
                    client.cancel_operation, request={"name": name}, retry=retrying.transient_retry(self._log_retry),
                    timeout=timeout, metadata=metadata,
                )
                return
            await client.cancel_operation(
                request={"name": name}, retry=retrying.transient_async_retry(self._log_retry), timeout=timeout,
                metadata=metadata,
            )

    async def poll(
        self, name: str, retry_timeout: float | None = None, observer: PollObserver = UNOBSERVED
    ) -> Outcome:
        """One look at the operation, classified, as the sync hook's; the trigger's loop is this."""
        try:
            operation = await self.get_operation(name, retry_timeout, observer=observer)
        except Exception as exc:
            return self._failed_poll(name, exc)
        if operation.done:
            self._last_running = None
            return outcome_of(operation)
        # A running operation that has not changed since the last poll (no new progress counters) is not
        # decoded again: json_format costs more than the rest of the poll. A cache of the transport, not
        # state of the wait: a trigger's hook looks at one operation.
        key = operation.SerializeToString()
        if self._last_running is not None and self._last_running[0] == key:
            return self._last_running[1]
        outcome = outcome_of(operation)
        self._last_running = (key, outcome)
        return outcome
