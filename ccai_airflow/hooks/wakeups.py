"""Waits woken by Insights' Pub/Sub notifications: one pull of each subscription per triggerer process, however
many waits sleep on it, and one listing of each location per message, however many waits it answers for.

Insights publishes a message when some operations complete (the location's ``pubsub_notification_settings``).
Google does not document what a message holds, so it is a signal only: "something completed". The API says what:
for each location with waits on the subscription, one ``ListOperations`` (``core.sweep``); the waits whose
operation it does not show running look at it themselves (one GetOperation each), the others sleep on. Without
messages the locations are still listed now and then (``sweep.SWEEP_POLICY``), which finds the end of an operation
whose message was lost. While Pub/Sub answers, that listing is a wait's fallback and it does not poll on its own;
while the pull fails (Pub/Sub down, the subscription gone, no permission: logged once per failure streak, tried
again with backoff) every wait polls at its own policy's delay, as without a subscription.

The loop of a subscription runs on each event loop (the triggerer's), started by the first wait that sleeps on
it, ending when none is left. It pulls with ``return_immediately=False`` through the Google provider's
``PubSubAsyncHook``, acknowledges what it pulled and drains what else is there (a flood of messages costs one
listing), then lists. Listings go through the Insights async hook: the project's request budget, transient errors
retried; a listing that fails wakes the waits it was for, which then look themselves.

Several triggerers: Pub/Sub gives each message of a subscription to one subscriber, so a message wakes the waits
of the triggerer that pulled it; the waits on the others end at their next listing (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ccai_airflow.core.names import parse_operation_name
from ccai_airflow.core.sweep import NOT_DONE_FILTER, PAGE_SIZE, SWEEP_POLICY, Listing
from ccai_airflow.core.wait import OperationWait
from ccai_airflow.hooks.params import HookParams

__all__ = ["MAX_MESSAGES", "PULL_TIMEOUT_S", "pulled", "reset", "sleep"]

log = logging.getLogger(__name__)

MAX_MESSAGES = 1000  # per pull: Pub/Sub's own cap on one pull's batch
PULL_TIMEOUT_S = 30.0  # a long pull returns at the first message, or empty by then
MAX_BACKOFF_S = 60.0
MAX_UNSEEN_S = 3600.0  # a wait no listing has shown running for this long looks itself (the loop is gone)


@dataclass(eq=False)
class _Waiter:
    name: str
    parent: str
    since: float  # when it began waiting (Unix seconds): its age orders the listings without messages
    seen: float  # when the API last said its operation is running: its own look, or a listing
    woken: asyncio.Event = field(default_factory=asyncio.Event)  # set: look now (``look``), or think again
    look: bool = False


@dataclass
class _Subscription:
    name: str
    params: HookParams
    waiters: set[_Waiter] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    failing_since: float | None = None  # when the pull began to fail; None: the last pull answered
    failures: int = 0  # of this streak: the state's, not a loop's, as a loop ends whenever no wait is left
    messages: int = 0  # pulled and acknowledged
    wakes: int = 0  # listings after messages
    sweeps: int = 0  # listings without a message
    listed: int = 0  # ListOperations pages read
    swept_at: float = field(default_factory=time.time)
    filter: str = NOT_DONE_FILTER


Key = tuple[str, HookParams]
_LOOPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Key, _Subscription]] = weakref.WeakKeyDictionary()


def _key(subscription: str, params: HookParams) -> Key:
    chain = params.impersonation_chain
    if isinstance(chain, list):
        params = HookParams(params.gcp_conn_id, tuple(chain), params.transport, params.api_endpoint)
    return subscription, params


def _subscriptions() -> dict[Key, _Subscription]:
    loop = asyncio.get_running_loop()
    found = _LOOPS.get(loop)
    if found is None:
        found = _LOOPS[loop] = {}
    return found


async def sleep(subscription: str, params: HookParams, wait: OperationWait, seconds: float) -> None:
    """Sleep until a listing after a message on ``subscription`` (read through ``params``) finds ``wait``'s
    operation not running, or its deadline; while the pull fails, at most ``seconds`` (its own delay)."""
    state = _subscriptions().setdefault(_key(subscription, params), _Subscription(subscription, params))
    now = time.time()
    waiter = _Waiter(wait.name, parse_operation_name(wait.name).parent, wait.tally.started, now)
    state.waiters.add(waiter)
    if state.task is None or state.task.done():
        state.task = asyncio.get_running_loop().create_task(_loop(state), name=f"ccai-wakeups {subscription}")
        state.task.add_done_callback(lambda _: _wake(state.waiters))
    began = now
    try:
        while True:
            now = time.time()
            if state.failing_since is None:
                limit = waiter.seen + MAX_UNSEEN_S - now
                if (remaining := wait.remaining(now)) is not None:
                    limit = min(limit, remaining)
            else:  # its own delay, counted from when the pull failed if it slept before: no burst of looks
                limit = max(began, state.failing_since) + seconds - now
            if limit <= 0:
                return
            try:
                await asyncio.wait_for(waiter.woken.wait(), timeout=limit)
            except TimeoutError:
                continue  # a listing may have seen it since: the limit moves on
            if waiter.look:
                return
            waiter.woken.clear()  # the pull failed or answered again: the limit changes
    finally:
        state.waiters.discard(waiter)


def pulled(subscription: str, params: HookParams) -> dict[str, int]:
    """What this loop's pull of ``subscription`` did: messages acknowledged, listings after them and without,
    ListOperations pages read."""
    state = _subscriptions().get(_key(subscription, params))
    counts = ("messages", "wakes", "sweeps", "listed")
    return {name: getattr(state, name) if state else 0 for name in counts}


def reset() -> None:
    """Forget every pull loop (tests: as a new process would start)."""
    _LOOPS.clear()


def _wake(waiters: set[_Waiter]) -> None:
    for waiter in list(waiters):
        waiter.look = True
        waiter.woken.set()


def _nudge(waiters: set[_Waiter]) -> None:
    for waiter in list(waiters):
        waiter.woken.set()


async def _loop(state: _Subscription) -> None:
    from airflow.providers.google.cloud.hooks.pubsub import PubSubAsyncHook

    from ccai_airflow.hooks.contact_center_insights import ContactCenterInsightsAsyncHook

    _, project, _, subscription = state.name.split("/")
    pubsub = PubSubAsyncHook(gcp_conn_id=state.params.gcp_conn_id,
                             impersonation_chain=state.params.impersonation_chain, project_id=project)
    insights = ContactCenterInsightsAsyncHook(**state.params.to_kwargs())
    while state.waiters:
        before = state.messages
        try:
            await _pull(state, pubsub, project, subscription)
        except Exception as exc:  # Pub/Sub down, the subscription gone: the waits poll meanwhile
            state.failures += 1
            if state.messages > before:  # what was acknowledged before the failure still says something ended
                state.wakes += 1
                await _list(state, insights)
            if state.failures == 1:
                log.warning("Cannot pull %s (%s: %s); the waits on it poll until it answers again.",
                            state.name, type(exc).__name__, exc)
                state.failing_since = time.time()
                _nudge(state.waiters)
            await asyncio.sleep(min(2.0 ** state.failures, MAX_BACKOFF_S))
            continue
        if state.failures:
            log.info("Pulling %s again after %s failed attempt(s).", state.name, state.failures)
            state.failures = 0
            state.failing_since = None
            _nudge(state.waiters)
            state.swept_at = 0.0  # what ended while nobody listened: list now
        oldest = min((waiter.since for waiter in state.waiters), default=time.time())
        if state.messages > before:
            state.wakes += 1
            await _list(state, insights)
        elif time.time() - state.swept_at >= SWEEP_POLICY.delay(time.time() - oldest):
            state.sweeps += 1
            await _list(state, insights)


async def _pull(state: _Subscription, hook: Any, project: str, subscription: str) -> None:
    """Pull and acknowledge what is there (counted as acknowledged): the first pull waits for a message, the
    next ones drain."""
    from google.api_core.exceptions import DeadlineExceeded

    wait = True
    try:
        # retry=None: the loop's backoff is the retry, and a failure is seen (and logged) at once.
        while batch := await hook.pull(subscription=subscription, project_id=project, max_messages=MAX_MESSAGES,
                                       return_immediately=not wait, retry=None, timeout=PULL_TIMEOUT_S):
            await hook.acknowledge(subscription=subscription, project_id=project, messages=batch)
            state.messages += len(batch)
            wait = False
    except DeadlineExceeded:
        pass  # a long pull that saw nothing (more)


async def _list(state: _Subscription, insights: Any) -> None:
    """List each location with waits; wake the waits whose operation the listing did not show running."""
    state.swept_at = time.time()
    by_parent: dict[str, list[_Waiter]] = defaultdict(list)
    for waiter in state.waiters:
        by_parent[waiter.parent].append(waiter)
    for parent, waiters in by_parent.items():
        listing = Listing(frozenset(waiter.name for waiter in waiters), PAGE_SIZE)
        try:
            await _read(state, insights, parent, listing)
        except Exception as exc:  # no list permission, the API down: each wait looks itself
            log.warning("Cannot list the operations of %s (%s: %s); its %s wait(s) look themselves.",
                        parent, type(exc).__name__, exc, len(waiters))
            listing.running.clear()
        now = time.time()
        wake = listing.to_wake()
        _wake({waiter for waiter in waiters if waiter.name in wake})
        for waiter in waiters:
            if waiter.name not in wake:
                waiter.seen = now


async def _read(state: _Subscription, insights: Any, parent: str, listing: Listing) -> None:
    from google.api_core.exceptions import InvalidArgument

    token = ""
    while True:
        try:
            page = await insights.list_operations_page(parent, filter=state.filter, page_size=listing.page_size,
                                                       page_token=token)
        except InvalidArgument:
            if not state.filter:
                raise
            # A server that refuses the filter is listed without it: more pages, the same answer.
            log.info("%s refused the filter %r; listing its operations unfiltered.", parent, state.filter)
            state.filter = ""
            continue
        state.listed += 1
        if not listing.add(page):
            return
        token = page.next_page_token
