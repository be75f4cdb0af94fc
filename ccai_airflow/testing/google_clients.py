"""Google's own Insights clients, made in a test, talk to the emulator.

The generated clients read no emulator variable (unlike Pub/Sub's ``PUBSUB_EMULATOR_HOST``), so a DAG
or task that makes a ``ContactCenterInsightsClient()`` itself would go to Google. During a test the
plugin routes such a client to the emulator: gRPC on an insecure channel, REST at the emulator's REST
port, anonymous credentials. A client given its own transport object or ``api_endpoint`` is left as it
is: that caller chose where it goes (the provider's hooks do, from the same variables).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.contact_center_insights_v1 import ContactCenterInsightsAsyncClient, ContactCenterInsightsClient
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcAsyncIOTransport,
    ContactCenterInsightsGrpcTransport,
)

__all__ = ["routed_to_emulator"]


def _chose_endpoint(kwargs: dict[str, Any]) -> bool:
    transport, options = kwargs.get("transport"), kwargs.get("client_options")
    if transport is not None and not isinstance(transport, str):
        return True
    endpoint = options.get("api_endpoint") if isinstance(options, dict) else getattr(options, "api_endpoint", None)
    return endpoint is not None


def _routed(init: Callable[..., None], grpc_target: str, rest_url: str, aio: bool) -> Callable[..., None]:
    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if args or _chose_endpoint(kwargs):
            init(self, *args, **kwargs)
            return
        if kwargs.get("transport") == "rest":
            kwargs.update(credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=rest_url))
        elif aio:
            kwargs.pop("credentials", None)
            kwargs["transport"] = ContactCenterInsightsGrpcAsyncIOTransport(
                channel=grpc.aio.insecure_channel(grpc_target))
        else:
            kwargs.pop("credentials", None)
            kwargs["transport"] = ContactCenterInsightsGrpcTransport(channel=grpc.insecure_channel(grpc_target))
        init(self, **kwargs)

    return __init__


@contextmanager
def routed_to_emulator(grpc_target: str, rest_url: str) -> Iterator[None]:
    """Within the block, ``ContactCenterInsightsClient()`` and its async twin reach the emulator."""
    originals = {cls: cls.__init__ for cls in (ContactCenterInsightsClient, ContactCenterInsightsAsyncClient)}
    try:
        for cls, init in originals.items():
            cls.__init__ = _routed(  # type: ignore[method-assign]
                init, grpc_target, rest_url, aio=cls is ContactCenterInsightsAsyncClient)
        yield
    finally:
        for cls, init in originals.items():
            cls.__init__ = init  # type: ignore[method-assign]
