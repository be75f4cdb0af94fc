"""The deferrable trigger: waits in the triggerer until an Insights operation is done."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ccai_airflow.core.cancelling import cancel_logged
from ccai_airflow.core.names import (
    parse_operation_name,
    validate_flag,
    validate_impersonation_chain,
    validate_seconds,
    validate_transport,
)
from ccai_airflow.core.outcome import Status
from ccai_airflow.core.polling import PollingPolicy, next_step
from ccai_airflow.core.progress import WaitTally, log_progress
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook

__all__ = ["ContactCenterInsightsOperationTrigger"]


class ContactCenterInsightsOperationTrigger(BaseTrigger):
    """Poll ``operations.get`` until the operation is done.

    Yields exactly one event, ``Outcome.to_event()``: JSON primitives only, with ``status`` one of
    ``succeeded``, ``failed`` (the operation finished with an error), ``error`` (the API refused
    the request: NOT_FOUND, PERMISSION_DENIED, ...) or ``timeout``; and ``wait``, what the wait cost
    (``progress.WaitTally.to_event``: polls, transient retries by code, budget wait, when it was deferred).

    Transient API errors are retried inside each poll (``google.api_core`` retry, capped exponential
    backoff with jitter) and, if they persist, the next poll tries again: they never end the wait.

    :param operation_name: ``projects/{project}/locations/{location}/operations/{id}``.
    :param poll_interval: seconds between polls; None (default) for the adaptive
        ``polling.DEFAULT_POLLING`` (about a tenth of the operation's age, 2 s to 10 min).
    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account (or chain) to impersonate.
    :param transport: ``grpc`` or ``rest``.
    :param api_endpoint: optional endpoint override.
    :param cancel_on_kill: cancel the operation when the deadline passes or a user kills the task
        (never when the triggerer merely restarts).
    :param end_time: absolute deadline (Unix seconds). It is serialized as is, so a trigger rebuilt
        after a triggerer restart keeps the original deadline instead of starting a new one.
    :param wait_tally: what the wait cost before it was deferred (``WaitTally.to_event()``); the trigger
        counts on from it. After a triggerer restart it counts on from it again.
    """

    def __init__(
        self,
        *,
        operation_name: str,
        poll_interval: float | None = None,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        transport: str = "grpc",
        api_endpoint: str | None = None,
        end_time: float | None = None,
        cancel_on_kill: bool = False,
        wait_tally: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.operation_name = parse_operation_name(operation_name).name
        self.poll_interval = validate_seconds("poll_interval", poll_interval, zero_ok=False)
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = validate_impersonation_chain(impersonation_chain)
        self.transport = validate_transport(transport)
        self.api_endpoint = api_endpoint
        if end_time is not None and (isinstance(end_time, bool) or not isinstance(end_time, int | float)):
            raise ValueError(f"Invalid end_time {end_time!r}: expected Unix seconds or None.")
        self.end_time = None if end_time is None else float(end_time)
        self.cancel_on_kill = validate_flag("cancel_on_kill", cancel_on_kill)
        if wait_tally is not None and not isinstance(wait_tally, dict):
            raise ValueError(f"Invalid wait_tally {wait_tally!r}: expected a dict from WaitTally.to_event() or None.")
        self.wait_tally = wait_tally

    def serialize(self) -> tuple[str, dict[str, Any]]:
        chain = self.impersonation_chain
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "operation_name": self.operation_name,
                "poll_interval": self.poll_interval,
                "gcp_conn_id": self.gcp_conn_id,
                "impersonation_chain": list(chain) if isinstance(chain, list | tuple) else chain,
                "transport": self.transport,
                "api_endpoint": self.api_endpoint,
                "end_time": self.end_time,
                "cancel_on_kill": self.cancel_on_kill,
                "wait_tally": self.wait_tally,
            },
        )

    def _hook(self) -> ContactCenterInsightsAsyncHook:
        return ContactCenterInsightsAsyncHook(
            gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain,
            transport=self.transport, api_endpoint=self.api_endpoint,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        tally = hook.track(WaitTally.from_event(self.operation_name, self.wait_tally))
        policy = PollingPolicy.for_interval(self.poll_interval)
        started = time.time()
        while True:
            before = None if self.end_time is None else self.end_time - time.time()
            outcome = await hook.poll(self.operation_name, retry_timeout=before)
            step = next_step(outcome, policy, started, self.end_time, time.time())
            if step.sleep is None:
                if step.outcome.status is Status.TIMEOUT and self.cancel_on_kill:
                    await self._cancel(hook, "the deadline passed")
                yield TriggerEvent({**step.outcome.to_event(), "wait": tally.to_event()})
                return
            log_progress(self.log, outcome, tally)
            await asyncio.sleep(step.sleep)

    async def on_kill(self) -> None:
        """A user killed the deferred task (mark failed/success, clear): cancel if asked to.

        Airflow calls this only for a user's action, never for a triggerer restart or a trigger
        moved to another triggerer; ``cleanup()`` (every exit) does not cancel anything.
        """
        if self.cancel_on_kill:
            await self._cancel(self._hook(), "the task was killed")

    async def _cancel(self, hook: ContactCenterInsightsAsyncHook, why: str) -> None:
        with cancel_logged(self.log, self.operation_name, why):
            await hook.cancel_operation(self.operation_name)
