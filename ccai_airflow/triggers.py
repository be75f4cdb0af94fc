"""The deferrable trigger: waits in the triggerer until an Insights operation is done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ccai_airflow import metrics
from ccai_airflow.core.names import validate_impersonation_chain, validate_transport
from ccai_airflow.core.wait import OperationWait
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook, wakeups
from ccai_airflow.hooks.params import HookParams

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
    :param notification_subscription: a Pub/Sub subscription (``projects/P/subscriptions/S``) of the topic the
        location's notifications go to: a message ends the wait at once (``ccai_airflow.hooks.wakeups``: one
        listing of the location answers for all its waits, and a listing now and then finds a lost message's
        end); ``poll_interval`` applies only while Pub/Sub does not answer.
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
        notification_subscription: str | None = None,
    ) -> None:
        super().__init__()
        # The wait's own kwargs are the wait's to read (and to validate), so a trigger serialized by an earlier
        # release, whose kwargs lack a key added since, still loads with that key's default.
        self.wait = OperationWait.from_trigger_kwargs(
            {"operation_name": operation_name, "poll_interval": poll_interval, "end_time": end_time,
             "cancel_on_kill": cancel_on_kill, "wait_tally": wait_tally,
             "notification_subscription": notification_subscription},
            meter=metrics,
        )
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = validate_impersonation_chain(impersonation_chain)
        self.transport = validate_transport(transport)
        self.api_endpoint = api_endpoint

    @classmethod
    def for_wait(cls, wait: OperationWait, connection: HookParams) -> ContactCenterInsightsOperationTrigger:
        """The trigger that carries ``wait`` on, through ``connection``'s hook."""
        return cls(**wait.to_trigger_kwargs(), **connection.to_kwargs())

    @property
    def operation_name(self) -> str:
        return self.wait.name

    @property
    def connection(self) -> HookParams:
        return HookParams(self.gcp_conn_id, self.impersonation_chain, self.transport, self.api_endpoint)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            **self.wait.to_trigger_kwargs(), **self.connection.to_kwargs()
        }

    def _hook(self) -> ContactCenterInsightsAsyncHook:
        return ContactCenterInsightsAsyncHook(
            gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain,
            transport=self.transport, api_endpoint=self.api_endpoint,
        )

    def _bound_wait(self) -> OperationWait:
        hook = self._hook()
        self.wait.poll, self.wait.cancel = hook.poll, hook.cancel_operation
        return self.wait

    async def run(self) -> AsyncIterator[TriggerEvent]:
        wait = self._bound_wait()
        subscription = wait.notification_subscription
        sleep = asyncio.sleep if subscription is None else partial(wakeups.sleep, subscription, self.connection, wait)
        outcome = await wait.arun(self.log, sleep)
        yield TriggerEvent({**outcome.to_event(), "wait": wait.tally.to_event()})

    async def on_kill(self) -> None:
        """A user killed the deferred task (mark failed/success, clear): cancel if asked to.

        Airflow calls this only for a user's action, never for a triggerer restart or a trigger
        moved to another triggerer; ``cleanup()`` (every exit) does not cancel anything.
        """
        await self._bound_wait().acancel_abandoned(self.log, "the task was killed")
