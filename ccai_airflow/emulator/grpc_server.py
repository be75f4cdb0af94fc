"""The gRPC front end: generic handlers for every RPC in ``routes.RPCS`` on a grpc.aio server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.api_core import exceptions
from google.protobuf.message import Message

from ccai_airflow.emulator.backend import Backend
from ccai_airflow.emulator.dispatch import dispatch
from ccai_airflow.emulator.faults import Faults
from ccai_airflow.emulator.routes import RPCS, Rpc


def _handler(
    backend: Backend, faults: Faults, rpc: Rpc, drop: Callable[[str], object] | None
) -> Callable[[Message, Any], Awaitable[Message]]:
    async def handle(request: Message, context: grpc.aio.ServicerContext) -> Message:
        hang_up = None if drop is None else (lambda: drop(context.peer()))
        try:
            return await dispatch(backend, faults, rpc, request, hang_up)
        except exceptions.GoogleAPICallError as exc:
            code = exc.grpc_status_code or grpc.StatusCode.UNKNOWN
            await context.abort(code, exc.message)
            raise AssertionError("unreachable") from None

    return handle


def build_server(
    backend: Backend, faults: Faults, address: str, drop: Callable[[str], object] | None = None
) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server (not started) bound to ``address``; returns it and the bound port.

    ``drop(peer)`` closes the connection of the call from ``peer`` (the relay of ``proxy.py``).
    """
    # grpc-core answers CANCELLED to requests waiting for a handler past its pending-request backlog (defaults of
    # grpc.server.max_pending_requests*), which a Google front end does not: thousands of triggers start at once
    # after a triggerer restart. Serve them all.
    server = grpc.aio.server(options=[
        ("grpc.so_reuseport", 0),
        ("grpc.server.max_pending_requests", 100_000),
        ("grpc.server.max_pending_requests_hard_limit", 100_000),
    ])
    services: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
    for rpc in RPCS:
        services.setdefault(rpc.service, {})[rpc.name] = grpc.unary_unary_rpc_method_handler(
            _handler(backend, faults, rpc, drop),
            request_deserializer=rpc.request_type.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(service, handlers) for service, handlers in services.items()]
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"Could not bind the emulator's gRPC server to {address}")
    return server, port
