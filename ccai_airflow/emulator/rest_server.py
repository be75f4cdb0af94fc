"""The REST front end (aiohttp): the API's HTTP rules, proto3 JSON in and out, plus controls.

It also answers BigQuery's ``tables.get`` for the tables exports wrote (what lineage reads the schema from).

Errors answer ``{"error": {"code": <http>, "message": ..., "status": <NAME>}}`` as Google APIs do.
Controls for another process live under ``/emulator/v1/``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, cast
from urllib.parse import unquote

import grpc
from aiohttp import web
from google.api_core import exceptions
from google.protobuf import duration_pb2, json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ccai_airflow.emulator.backend import Backend
from ccai_airflow.emulator.dispatch import dispatch
from ccai_airflow.emulator.faults import Faults, InjectedError
from ccai_airflow.emulator.routes import RPCS, Rpc

MAX_BODY_BYTES = 1024 * 1024
_SYSTEM = frozenset({"alt", "fields", "key", "prettyPrint", "quotaUser", "callback"})  # Google system parameters
_JSON = "application/json"


# What a Google front end answers when it, not the API, fails a call (the shape of its "Error 502 (Server
# Error)!!1" page): HTML, so a client that expects the API's JSON error object has to cope without one.
_HTML = """<!DOCTYPE html>
<html lang=en><meta charset=utf-8><title>Error {code} ({reason})!!1</title>
<p><b>{code}.</b> <ins>That's an error.</ins>
<p>The server encountered a temporary error and could not complete your request.<p>Please try again in 30 seconds.
<ins>That's all we know.</ins>
"""


def _error(exc: exceptions.GoogleAPICallError) -> web.Response:
    status = exc.grpc_status_code.name if exc.grpc_status_code else "UNKNOWN"
    code = int(exc.code or 500)
    headers = exc.headers if isinstance(exc, InjectedError) else {}
    if isinstance(exc, InjectedError) and exc.body == "html":
        reason = "Server Error" if code >= 500 else "Client Error"
        return web.Response(
            text=_HTML.format(code=code, reason=reason), status=code, content_type="text/html", headers=headers
        )
    body = {"error": {"code": code, "message": exc.message, "status": status}}
    return web.json_response(body, status=code, headers=headers)


async def _json_body(request: web.Request) -> Any:
    if not request.can_read_body:
        return None
    if request.content_type != _JSON:
        raise _UnsupportedMediaType(f"Unsupported Content-Type {request.content_type!r}: expected {_JSON}.")
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise exceptions.InvalidArgument(f"Invalid JSON body: {exc}.") from None


class _UnsupportedMediaType(exceptions.ClientError):
    code = 415
    grpc_status_code = grpc.StatusCode.INVALID_ARGUMENT


def _build_request(rpc: Rpc, match: dict[str, str], body: Any, query: Iterable[tuple[str, str]]) -> Message:
    message = rpc.request_type()
    try:
        # google/api/http.proto: "All other fields are passed via the URL query parameters, and the parameter name
        # is the field path in the request message"; "If HttpRule.body is "*", there is no URL query parameter".
        # The REST client's `updateMask=agentId,labels`, `conversationId=...`, `force=true`, `pageSize=10`.
        descriptor = cast(Descriptor, message.DESCRIPTOR)  # upb's Descriptor has the same interface
        json_format.ParseDict(_query_fields(rpc, descriptor, query), message)
        if rpc.body == "*":
            json_format.ParseDict(_duration_objects(body or {}, descriptor), message)
        elif rpc.body:
            # The body *is* that field (HTTP rule `body: "issue_model"`): a body that came, even `{}`, sets it,
            # as `issue_model={}` does over gRPC. The REST client always sends one.
            target = getattr(message, rpc.body)
            json_format.ParseDict(_duration_objects(body or {}, cast(Descriptor, target.DESCRIPTOR)), target)
            if body is not None:
                target.SetInParent()
    except (json_format.ParseError, TypeError, AttributeError, ValueError) as exc:
        raise exceptions.InvalidArgument(f"Invalid request for {rpc.name}: {exc}") from None
    for field_name, value in match.items():
        # A path variable may name a field of a sub-message: {encryption_spec.name=...} (group encryption_spec__name).
        *parents, last = field_name.split("__")
        target = message
        for part in parents:
            target = getattr(target, part)
        setattr(target, last, unquote(value))
    return message


def _query_fields(rpc: Rpc, descriptor: Descriptor, query: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The query parameters as the JSON object of the request's fields they name (``a.b=1`` -> ``{"a": {"b": 1}}``).

    System parameters ($alt, alt, $fields, ...) are the front end's, not fields of the request. A repeated field
    takes every value given; a bool reads ``true``/``false`` (any case: what ``requests`` makes of Python's True).
    """
    out: dict[str, Any] = {}
    for key, value in query:
        if key.startswith("$") or key in _SYSTEM:
            continue
        target, current = out, descriptor
        parts = key.split(".")
        for index, part in enumerate(parts):
            field = next((f for f in current.fields if part in (f.json_name, f.name)), None)
            bound = index == 0 and (rpc.body == "*" or (field is not None and field.name == rpc.body))
            if field is None or bound:
                raise exceptions.InvalidArgument(
                    f"Invalid query parameter {key!r}: {rpc.name} has no field {part!r} outside its path and body."
                )
            if index < len(parts) - 1:
                if field.message_type is None or field.is_repeated:
                    raise exceptions.InvalidArgument(f"Invalid query parameter {key!r}: {part!r} is not a message.")
                target, current = target.setdefault(field.json_name, {}), field.message_type
                continue
            parsed: Any = value
            if field.message_type is not None and field.message_type.full_name == "google.protobuf.FieldMask":
                # Google's Pub/Sub guide sends ``?updateMask=pubsub_notification_settings``: a mask in the query
                # takes the fields' proto names too, where proto3 JSON (json_format) takes only lowerCamelCase.
                parsed = ",".join(".".join(_camel(name) for name in path.split(".")) for path in value.split(","))
            if field.type == FieldDescriptor.TYPE_BOOL and value.lower() in ("true", "false"):
                parsed = value.lower() == "true"
            if field.is_repeated:
                target.setdefault(field.json_name, []).append(parsed)
            else:
                target[field.json_name] = parsed
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _duration_objects(value: Any, descriptor: Descriptor) -> Any:
    """``value`` with each Duration written ``{"seconds": "86400"}`` turned into proto3 JSON's ``"86400s"``.

    Google's own request bodies write a Duration so (the TTL guide,
    https://cloud.google.com/contact-center/insights/docs/ttl: ``"ttl": {"seconds": "SECONDS"}``), which
    proto3 JSON parsing refuses ("Duration JSON value not a string").
    """
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key, item in value.items():
        field = next((f for f in descriptor.fields if key in (f.json_name, f.name)), None)
        if field is None or field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        if field.message_type.full_name == "google.protobuf.Duration" and isinstance(item, dict):
            if set(item) <= {"seconds", "nanos"}:
                out[key] = duration_pb2.Duration(
                    seconds=int(item.get("seconds", 0)), nanos=int(item.get("nanos", 0))).ToJsonString()
        elif isinstance(item, list):
            out[key] = [_duration_objects(element, field.message_type) for element in item]
        else:
            out[key] = _duration_objects(item, field.message_type)
    return out


def enums_as_numbers(query: Mapping[str, str]) -> bool:
    """Whether the answer writes enums as numbers: ``$alt=json;enum-encoding=int`` (or ``alt=``).

    Google's REST clients (Python ``rest_helpers.transcode_request(rest_numeric_enums=True)``, Node's
    gax fallback) send it on every call of the API's own methods, and Google's front ends then write
    ``"state": 1``; without it they write names. The Python client's ``google.longrunning`` mixins do
    not send it, so their answers keep names.
    """
    alt = query.get("$alt", query.get("alt"))
    if alt is None:
        return False
    kind, *options = (part.strip() for part in alt.split(";"))
    settings = dict(option.partition("=")[::2] for option in options)
    if kind != "json" or settings not in ({}, {"enum-encoding": "int"}):
        raise exceptions.InvalidArgument(
            f"Invalid $alt {alt!r}: the emulator answers 'json' or 'json;enum-encoding=int'."
        )
    return settings.get("enum-encoding") == "int"


def _route(method: str, path: str) -> tuple[Rpc, dict[str, str]] | None:
    for rpc in RPCS:
        if rpc.http_method == method:
            found = rpc.pattern.match(path)
            if found:
                return rpc, found.groupdict()
    return None


def build_app(backend: Backend, faults: Faults) -> web.Application:
    """An aiohttp application serving the API rules and the ``/emulator/v1`` controls."""

    def reset() -> None:
        backend.reset()
        faults.reset()

    async def controls(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        body = await _json_body(request) or {}
        if not isinstance(body, dict):
            raise exceptions.InvalidArgument(f"Invalid body {body!r}: expected a JSON object.")
        handlers: dict[tuple[str, str], Callable[[], Any]] = {
            ("POST", "failNextOperations"): lambda: backend.fail_next_operations(**body),
            ("POST", "faults"): lambda: faults.inject(**body).__dict__,
            ("DELETE", "faults"): faults.clear,
            ("GET", "callCounts"): faults.call_counts,
            ("GET", "callTimes"): lambda: faults.call_times(request.query.get("rpc", "GetOperation")),
            ("GET", "peakInFlight"): faults.peak_in_flight,
            ("GET", "quotaRefusals"): faults.quota_refusals,
            ("GET", "grpcConnections"): lambda: {"accepted": faults.grpc_connections()},
            ("POST", "operationSeconds"): lambda: backend.set_operation_seconds(**body),
            ("POST", "quota"): lambda: faults.set_quota(**body),
            ("POST", "advanceClock"): lambda: backend.advance_clock(**body),
            ("POST", "clockRate"): lambda: backend.set_clock_rate(**body),
            ("POST", "reset"): reset,
            ("POST", "seedConversations"): lambda: {"names": backend.seed_conversations(**body)},
            ("POST", "storageObjects"): lambda: backend.write_object(**body),
            ("GET", "storageObjects"): lambda: backend.object_control(**dict(request.query)),
            ("POST", "pubsubEmulatorHost"): lambda: backend.set_pubsub_emulator_host(**body),
            ("POST", "storageEmulatorHost"): lambda: backend.set_storage_emulator_host(**body),
            ("GET", "notificationsPublished"): backend.notifications_published,
        }
        handler = handlers.get((request.method, action))
        if handler is None:
            raise exceptions.NotFound(f"Unknown control {request.method} /emulator/v1/{action}.")
        try:
            result = handler()
        except TypeError as exc:
            raise exceptions.InvalidArgument(f"Invalid arguments for {action}: {exc}.") from None
        return web.json_response(result if result is not None else {})

    async def api(request: web.Request) -> web.Response:
        found = _route(request.method, request.rel_url.raw_path)  # path variables are unquoted once, below
        if found is None:
            raise exceptions.NotFound(f"Unknown method {request.method} {request.path}.")
        rpc, match = found
        body = await _json_body(request) if rpc.body else None
        numbers = enums_as_numbers(request.query)
        message = _build_request(rpc, match, body, request.query.items())
        transport = request.transport
        response = await dispatch(backend, faults, rpc, message, None if transport is None else transport.abort)
        # The printer's settings reach messages packed in an Any (operation metadata and response) too.
        text = json_format.MessageToJson(response, use_integers_for_enums=numbers)
        return web.Response(text=text, content_type=_JSON)

    async def bigquery_table(request: web.Request) -> web.Response:
        """BigQuery's ``tables.get`` for a table an export wrote (``emulator/bigquery.py``)."""
        info = request.match_info
        return web.json_response(backend.get_bigquery_table(info["project"], info["dataset"], info["table"]))

    @web.middleware
    async def errors(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except InjectedError as exc:
            if exc.drop:  # the connection is gone: nothing to answer, end the request as aiohttp ends a lost one
                raise asyncio.CancelledError from None
            return _error(exc)
        except exceptions.GoogleAPICallError as exc:
            return _error(exc)
        except web.HTTPRequestEntityTooLarge:
            return _error(_PayloadTooLarge(f"Request body over {MAX_BODY_BYTES} bytes."))

    app = web.Application(middlewares=[errors], client_max_size=MAX_BODY_BYTES)
    app.router.add_route("*", "/emulator/v1/{action}", controls)
    app.router.add_get("/bigquery/v2/projects/{project}/datasets/{dataset}/tables/{table}", bigquery_table)
    app.router.add_route("*", "/{tail:.*}", api)
    return app


class _PayloadTooLarge(exceptions.ClientError):
    code = 413
    grpc_status_code = grpc.StatusCode.INVALID_ARGUMENT
