"""Which client a hook talks through: a Google endpoint or the emulator, gRPC or REST, sync or async.

With ``CONTACT_CENTER_INSIGHTS_EMULATOR_HOST`` (gRPC, ``host:port``) or
``CONTACT_CENTER_INSIGHTS_EMULATOR_REST`` (REST, ``http://host:port``) set, the hooks talk to the
emulator with an insecure channel and anonymous credentials (the convention of ``PUBSUB_EMULATOR_HOST``).
The connection ``gcp_conn_id`` names is still looked up, so that a misspelt id fails locally as it does in
production, but its credentials are not used. An emulator nothing answers at is named in the error, with the
variable (:meth:`Endpoint.naming_the_emulator`). Every emulator-specific decision is in this
module; the hooks call :func:`sync_client` / :func:`async_client` and inherit :class:`EmulatorAware`;
lineage reads a BigQuery table through :func:`bigquery_client`.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import google.auth.transport.requests
import grpc
import requests
from airflow.providers.google.common.consts import CLIENT_INFO
from asgiref.sync import sync_to_async
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud.contact_center_insights_v1 import ContactCenterInsightsAsyncClient, ContactCenterInsightsClient
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcAsyncIOTransport,
    ContactCenterInsightsGrpcTransport,
)

from ccai_airflow.core.budget import DEFAULT_REQUESTS_PER_SECOND
from ccai_airflow.core.names import EMULATOR_HOST_ENV, EMULATOR_REST_ENV, validate_emulator_address
from ccai_airflow.exceptions import ContactCenterInsightsEmulatorUnreachableError

__all__ = [
    "EMULATOR_HOST_ENV",
    "EMULATOR_REST_ENV",
    "EmulatorAware",
    "Endpoint",
    "SharedClient",
    "async_client",
    "bigquery_client",
    "emulator_endpoint",
    "nothing_answers",
    "refresh_if_expired",
    "sync_client",
]



def emulator_variable(transport: str) -> str:
    """The environment variable that names the emulator for ``transport``."""
    return EMULATOR_HOST_ENV if transport == "grpc" else EMULATOR_REST_ENV


def emulator_endpoint(transport: str) -> str | None:
    """The emulator address for ``transport`` from the environment, validated, or None."""
    variable = emulator_variable(transport)
    value = os.environ.get(variable)
    return validate_emulator_address(variable, value, transport) if value else None


@dataclass(frozen=True)
class Endpoint:
    """Where calls go: ``emulator`` (an address) when the environment names one, else Google's ``api_endpoint``."""

    transport: str
    api_endpoint: str | None
    emulator: str | None

    @classmethod
    def resolve(cls, transport: str, api_endpoint: str | None) -> Endpoint:
        return cls(transport, api_endpoint, emulator_endpoint(transport))

    @property
    def emulated(self) -> bool:
        return self.emulator is not None

    @property
    def default_rate(self) -> float | None:
        """The request budget when neither the hook nor the connection sets one: none against the emulator."""
        return None if self.emulated else DEFAULT_REQUESTS_PER_SECOND

    @contextmanager
    def naming_the_emulator(self) -> Iterator[None]:
        """Around a call and its retries, in the sync and the async hook alike: when nothing answers at the emulator,
        the error names it and the variable that set it, where gRPC alone says "503 failed to connect to all
        addresses". Google's endpoints and an error the emulator itself answered pass unchanged."""
        try:
            yield
        except ContactCenterInsightsEmulatorUnreachableError:
            raise
        except Exception as exc:
            if self.emulator is None or not nothing_answers(exc):
                raise
            variable = emulator_variable(self.transport)
            raise ContactCenterInsightsEmulatorUnreachableError(
                f"The emulator named by {variable}={self.emulator!r} is unreachable: nothing answers there. Start it "
                f"(python -m ccai_airflow.emulator), point {variable} at it, or unset {variable} to call Google. "
                f"{type(exc).__name__}: {exc}"
            ) from exc


# What gRPC says when it could not open a connection (refused, or a host name that does not resolve), as against an
# UNAVAILABLE a server answered (the emulator's injected faults among them) or a connection reset mid-call.
_GRPC_NOT_CONNECTED = ("failed to connect to all addresses", "DNS resolution failed")


def nothing_answers(exc: BaseException) -> bool:
    """Whether ``exc``, or the last error of retries that ran out, is a connection that could not be opened."""
    if isinstance(exc, exceptions.RetryError):
        return exc.cause is not None and nothing_answers(exc.cause)
    if isinstance(exc, exceptions.ServiceUnavailable):
        return any(text in str(exc.message) for text in _GRPC_NOT_CONNECTED)
    if isinstance(exc, requests.exceptions.ConnectionError):
        # REST: requests wraps urllib3's MaxRetryError, whose reason is a NewConnectionError (a NameResolutionError
        # too) when no connection was opened. urllib3 is requests' dependency, not ours: matched by class name.
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return any(cls.__name__ == "NewConnectionError" for cls in type(reason).__mro__)
    return False


def refresh_if_expired(credentials: Credentials | None) -> None:
    """Refresh an expired token here, before a call, not inside the transport.

    Inside a gRPC channel, google-auth's errors come back as an UNAVAILABLE or INTERNAL status, which
    would make a revoked key look transient; raised here they keep their type: a ``TransportError``
    (a network error on the way to the token endpoint) is retried, a ``RefreshError`` ends the wait.
    """
    if credentials is not None and not credentials.valid:
        credentials.refresh(google.auth.transport.requests.Request())


@dataclass(frozen=True)
class SharedClient:
    """An async hook's client and the credentials it calls with (None: anonymous, the emulator)."""

    client: Any
    credentials: Credentials | None


def sync_client(
    endpoint: Endpoint, credentials: Callable[[], Credentials], client_options: Callable[[str | None], ClientOptions]
) -> SharedClient:
    """A sync client and what it calls with; ``credentials`` and ``client_options`` are the hook's, asked
    for only for Google."""
    if endpoint.emulator and endpoint.transport == "grpc":
        channel = grpc.insecure_channel(endpoint.emulator)
        return SharedClient(ContactCenterInsightsClient(
            transport=ContactCenterInsightsGrpcTransport(channel=channel), client_info=CLIENT_INFO
        ), None)
    if endpoint.emulator:
        return SharedClient(ContactCenterInsightsClient(
            credentials=AnonymousCredentials(), transport="rest", client_info=CLIENT_INFO,
            client_options=ClientOptions(api_endpoint=endpoint.emulator),
        ), None)
    google_credentials = credentials()
    return SharedClient(ContactCenterInsightsClient(
        credentials=google_credentials, transport=endpoint.transport, client_info=CLIENT_INFO,
        client_options=client_options(endpoint.api_endpoint),
    ), google_credentials)


def bigquery_client(project_id: str, google: Callable[[], Any]) -> Any | None:
    """A BigQuery client for ``project_id``: ``google()`` (the caller's, with its connection's credentials) unless
    the environment names an emulator. Then the emulator's REST port, which answers ``tables.get`` for the tables
    its exports wrote, anonymously; None when it names only the gRPC one: an emulated run never calls Google."""
    if not (os.environ.get(EMULATOR_HOST_ENV) or os.environ.get(EMULATOR_REST_ENV)):
        return google()
    rest = emulator_endpoint("rest")
    if rest is None:
        return None
    from google.cloud import bigquery

    return bigquery.Client(project=project_id, credentials=AnonymousCredentials(),
                           client_options=ClientOptions(api_endpoint=rest))


async def async_client(endpoint: Endpoint, sync_hook: Callable[[], Awaitable[Any]]) -> SharedClient:
    """A client for an event loop; ``sync_hook`` gives the sync hook whose credentials it uses.

    The library has no async REST client: REST gives the sync client, whose calls the async hook runs
    in a thread. Credentials are read in a thread too, never on the loop: asgiref's ``sync_to_async``, as
    the Google provider does, since the triggerer's connection look-ups are not made for arbitrary threads.
    """
    if endpoint.transport == "rest":
        hook = await sync_hook()
        client = await sync_to_async(hook.get_conn)()
        return SharedClient(client, hook.credentials)
    if endpoint.emulator:
        await sync_hook()  # the connection look-up, as for Google: a connection that does not exist fails here too
        channel = grpc.aio.insecure_channel(endpoint.emulator)
        return SharedClient(ContactCenterInsightsAsyncClient(
            transport=ContactCenterInsightsGrpcAsyncIOTransport(channel=channel), client_info=CLIENT_INFO
        ), None)
    hook = await sync_hook()
    credentials = await sync_to_async(hook.get_credentials)()
    return SharedClient(ContactCenterInsightsAsyncClient(
        credentials=credentials, transport="grpc_asyncio", client_info=CLIENT_INFO,
        client_options=hook.get_client_options(endpoint.api_endpoint),
    ), credentials)


class EmulatorAware:
    """Mixed into the sync hook: against the emulator the credentials are anonymous (the connection is read as for
    Google: its project, and a connection that does not exist fails as it would in production); otherwise the
    Google provider's behaviour, unchanged."""

    endpoint: Endpoint

    def get_credentials_and_project_id(self) -> tuple[Credentials, str | None]:
        if self.endpoint.emulated:
            return AnonymousCredentials(), self._get_field("project") or None  # type: ignore[attr-defined]
        return super().get_credentials_and_project_id()  # type: ignore[misc,no-any-return]
