"""One call path for both front ends: count, maybe inject a fault, admit the request, run the backend handler."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from google.api_core import exceptions
from google.protobuf.message import Message

from ccai_airflow.emulator.backend import Backend
from ccai_airflow.emulator.contract import admit
from ccai_airflow.emulator.faults import Faults, InjectedError
from ccai_airflow.emulator.routes import Rpc

log = logging.getLogger(__name__)


async def dispatch(
    backend: Backend, faults: Faults, rpc: Rpc, request: Message, drop: Callable[[], object] | None = None
) -> Message:
    """Answer ``request`` for ``rpc``; raise a ``GoogleAPICallError`` for any error status.

    ``drop`` closes the connection this call came on (a fault with ``drop``); the error raised after it
    reaches no one, the client sees its connection go.
    """
    latency, fault = faults.on_call(rpc.name)
    try:
        if latency:
            await asyncio.sleep(latency)
        if fault is not None:
            if isinstance(fault, InjectedError) and fault.drop and drop is not None:
                drop()
            raise fault
        try:
            # Faults first, then the contract: a front end that refuses a call never reaches the service.
            admit(rpc, request)
            return getattr(backend, rpc.handler)(request)  # type: ignore[no-any-return]
        except exceptions.GoogleAPICallError:
            raise
        except Exception as exc:  # a bug in the emulator must still answer, not hang the client
            log.exception("Emulator handler %s failed", rpc.name)
            raise exceptions.InternalServerError(f"Emulator error in {rpc.name}: {type(exc).__name__}") from exc
    finally:
        faults.finish(rpc.name)
