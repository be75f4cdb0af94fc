"""Waits woken by Insights' Pub/Sub notifications: one pull of each subscription per triggerer process, however
many waits sleep on it.

Insights publishes a message when some operations complete (the location's ``pubsub_notification_settings``).
Google does not document what a message holds, so it is a signal only: it wakes every wait sleeping on that
subscription, and each looks at its operation once (one GetOperation, within the project's request budget).
Polling stays the fallback: a wait sleeps at most its policy's delay, message or not.

One pull loop per subscription and connection on each event loop (the triggerer's), started by the first wait
that sleeps on it, ending when none is left. It pulls with ``return_immediately=False`` through the Google
provider's ``PubSubAsyncHook``, acknowledges what it pulled, drains what else is there (a flood of messages
wakes the waits once), then wakes them. A pull that fails (Pub/Sub down, the subscription gone, no permission)
is logged once per failure streak and tried again with backoff; the waits poll meanwhile.

Several triggerers: Pub/Sub gives each message of a subscription to one subscriber, so a message wakes the waits
of the triggerer that pulled it; the waits on the others end at their next poll (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any

from ccai_airflow.hooks.params import HookParams

__all__ = ["MAX_MESSAGES", "PULL_TIMEOUT_S", "pulled", "reset", "sleep"]

log = logging.getLogger(__name__)

MAX_MESSAGES = 1000  # per pull: Pub/Sub's own cap on one pull's batch
PULL_TIMEOUT_S = 30.0  # a long pull returns at the first message, or empty by then
MAX_BACKOFF_S = 60.0


@dataclass
class _Subscription:
    name: str
    params: HookParams
    waiters: set[asyncio.Event] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    messages: int = 0  # pulled and acknowledged
    wakes: int = 0


Key = tuple[str, str, Any]  # subscription, connection, impersonation chain (what Pub/Sub is read with)
_LOOPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Key, _Subscription]] = weakref.WeakKeyDictionary()


def _key(subscription: str, params: HookParams) -> Key:
    chain = params.impersonation_chain
    return subscription, params.gcp_conn_id, tuple(chain) if isinstance(chain, list | tuple) else chain


def _subscriptions() -> dict[Key, _Subscription]:
    loop = asyncio.get_running_loop()
    found = _LOOPS.get(loop)
    if found is None:
        found = _LOOPS[loop] = {}
    return found


async def sleep(subscription: str, params: HookParams, seconds: float) -> None:
    """Sleep ``seconds``, or less: until the next message on ``subscription`` (read through ``params``)."""
    state = _subscriptions().setdefault(_key(subscription, params), _Subscription(subscription, params))
    woken = asyncio.Event()
    state.waiters.add(woken)
    if state.task is None or state.task.done():
        state.task = asyncio.get_running_loop().create_task(_pull(state), name=f"ccai-wakeups {subscription}")
    try:
        await asyncio.wait_for(woken.wait(), timeout=seconds)
    except TimeoutError:
        pass
    finally:
        state.waiters.discard(woken)


def pulled(subscription: str, params: HookParams) -> dict[str, int]:
    """What this loop's pull of ``subscription`` did: messages acknowledged, wakes."""
    state = _subscriptions().get(_key(subscription, params))
    return {"messages": state.messages, "wakes": state.wakes} if state else {"messages": 0, "wakes": 0}


def reset() -> None:
    """Forget every pull loop (tests: as a new process would start)."""
    _LOOPS.clear()


async def _pull(state: _Subscription) -> None:
    from airflow.providers.google.cloud.hooks.pubsub import PubSubAsyncHook
    from google.api_core.exceptions import DeadlineExceeded

    _, project, _, subscription = state.name.split("/")
    hook = PubSubAsyncHook(gcp_conn_id=state.params.gcp_conn_id, impersonation_chain=state.params.impersonation_chain,
                           project_id=project)
    failures = 0
    while state.waiters:
        try:
            count = 0
            wait = True  # the first pull waits for a message; the next ones drain what is already there
            # retry=None: this loop's backoff is the retry, and a failure is seen (and logged) at once.
            while batch := await hook.pull(subscription=subscription, project_id=project, max_messages=MAX_MESSAGES,
                                           return_immediately=not wait, retry=None, timeout=PULL_TIMEOUT_S):
                await hook.acknowledge(subscription=subscription, project_id=project, messages=batch)
                count += len(batch)
                wait = False
        except DeadlineExceeded:
            count = 0  # a long pull that saw nothing
        except Exception as exc:  # Pub/Sub down, the subscription gone: the waits poll meanwhile
            failures += 1
            if failures == 1:
                log.warning("Cannot pull %s (%s: %s); the waits on it poll until it answers again.",
                            state.name, type(exc).__name__, exc)
            await asyncio.sleep(min(2.0 ** failures, MAX_BACKOFF_S))
            continue
        if failures:
            log.info("Pulling %s again after %s failed attempt(s).", state.name, failures)
            failures = 0
        if count:
            state.messages += count
            state.wakes += 1
            for woken in list(state.waiters):
                woken.set()
