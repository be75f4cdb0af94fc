"""Request rules derived from the API's own definition, the same for every RPC the emulator serves.

Sources, for every rule here (quoted from ``google/api/field_behavior.proto`` and the HTTP rules):

* REQUIRED: "the field must be provided as part of the request, and failure to do so will cause an
  error (usually INVALID_ARGUMENT)". A proto3 field without presence that holds its default value
  cannot be told from one never sent, so it counts as missing (an empty ``name``, ``0`` for
  ``analysis_percentage``). A Required field inside a sub-message is checked only when that
  sub-message is set; a Required member of a oneof is satisfied by any member of its oneof.
* OUTPUT_ONLY: "including the field in a request does nothing (the server must ignore it and must
  not throw an error as a result of the field's presence)": :func:`clear_output_only` drops them from
  what the server keeps.
* Resource names: each path variable of the method's HTTP rule (``{parent=projects/*/locations/*}``)
  names a field and the form its value has, for gRPC as for REST. The emulator accepts RFC 3986
  unreserved characters in a segment (what an id can hold unescaped in that URL); the client's own
  ``parse_*_path`` helpers accept anything, so this part is the emulator's choice.
* Locations: a name whose ``locations/{location}`` is not one the API serves (:data:`LOCATIONS`) is
  INVALID_ARGUMENT naming the location and the ones served. No source says which code the API answers; other
  Google Cloud APIs answer INVALID_ARGUMENT for a location they do not serve, and it is the code of every
  other refused name here.
* Enums: a number the enum does not define is INVALID_ARGUMENT (proto3 keeps unknown numbers; the
  definition lists the values the API knows).
* Update methods (an ``update_mask`` beside the resource in the body): a Required field of the resource is
  required only where the mask reaches it, AIP-203: "When updating the resource, the user may omit the field
  provided that the field is also absent from the field mask (otherwise it must be provided)".

Behaviours come from :mod:`ccai_airflow.emulator.field_behavior` (the installed client's docstrings).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from google.api_core import exceptions
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from ccai_airflow.emulator.field_behavior import behaviors
from ccai_airflow.emulator.routes import RPCS, Rpc
from ccai_airflow.emulator.updates import api_name, covers

Message = Any
_SEGMENT = r"[A-Za-z0-9_.~-]+"  # RFC 3986 unreserved characters
_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")

# The locations Contact Center Insights serves, in the order of the "Resource Location" column of "Available regions"
# in https://docs.cloud.google.com/contact-center/insights/docs/regionalization (the global endpoint
# contactcenterinsights.googleapis.com keeps its data in us-central1; every other one has a regional endpoint,
# LOCATION-contactcenterinsights.googleapis.com). `global` is not among them. The emulator serves all of them on its
# one address: which endpoint serves which location is not modelled.
LOCATIONS: tuple[str, ...] = (
    "us-central1", "us-east1", "us-west1", "northamerica-northeast1", "us",
    "europe-west1", "europe-west2", "europe-west3", "eu", "europe-west4", "europe-west6",
    "asia-northeast1", "asia-northeast3", "asia-south1", "asia-southeast1", "asia-southeast2", "australia-southeast1",
)


@dataclass(frozen=True)
class NamePattern:
    """A field bound by a path variable of the HTTP rule, and the resource-name form it must have."""

    field: str
    template: str  # as in the HTTP rule: projects/*/locations/*
    form: str  # readable: projects/{project}/locations/{location}
    regex: re.Pattern[str]
    location: int | None = None  # which `/`-separated segment of a matching value is the location, if any

    def check(self, value: str) -> None:
        if not self.regex.fullmatch(value):
            raise exceptions.InvalidArgument(f"Invalid {self.field} {value!r}: expected {self.form}.")
        if self.location is not None and (location := value.split("/")[self.location]) not in LOCATIONS:
            raise exceptions.InvalidArgument(
                f"Invalid {self.field} {value!r}: Contact Center Insights does not serve location {location!r}; "
                f"the locations it serves: {', '.join(LOCATIONS)}."
            )


@dataclass(frozen=True)
class Contract:
    """What the definition says of one served RPC's request (paths are dotted; ``[]`` marks elements)."""

    rpc: str
    request: str
    required: tuple[str, ...]
    output_only: tuple[str, ...]
    immutable: tuple[str, ...]
    names: tuple[NamePattern, ...]


def _form(template: str) -> str:
    """``projects/*/locations/*/issueModels/*`` -> ``projects/{project}/locations/{location}/issueModels/{issue_model}``

    Each ``*`` is named after the collection before it, singular and snake_case, as the client's ``*_path``
    helpers name their arguments.
    """
    segments = template.split("/")
    out = []
    for index, segment in enumerate(segments):
        if segment == "*" and index:
            collection = re.sub(r"(?<!^)(?=[A-Z])", "_", segments[index - 1]).lower()
            out.append("{" + collection.removesuffix("s") + "}")
        else:
            out.append(segment)
    return "/".join(out)


def name_patterns(uri: str) -> tuple[NamePattern, ...]:
    patterns = []
    for field, template in _VARIABLE.findall(uri):
        template = template or "*"
        segments = template.split("/")
        regex = "/".join(_SEGMENT if seg == "*" else re.escape(seg) for seg in segments)
        location = next(
            (index + 1 for index, seg in enumerate(segments[:-1]) if seg == "locations" and segments[index + 1] == "*"),
            None,
        )
        patterns.append(NamePattern(field, template, _form(template), re.compile(regex), location))
    return tuple(patterns)


def _fields(descriptor: Descriptor, prefix: str = "", seen: frozenset[str] = frozenset()) -> Iterator[
    tuple[str, frozenset[str]]
]:
    """Every field path under ``descriptor`` with its behaviours (message types are followed once per path)."""
    marks = behaviors(descriptor)
    for field in descriptor.fields:
        path = prefix + field.name
        yield path, marks.get(field.name, frozenset())
        sub = field.message_type
        if sub is None or sub.full_name in seen:
            continue
        if sub.GetOptions().map_entry:
            sub = sub.fields_by_name["value"].message_type
            if sub is None:
                continue
        element = "[]" if field.is_repeated else ""
        yield from _fields(sub, f"{path}{element}.", seen | {descriptor.full_name})


def contract_of(rpc: Rpc) -> Contract:
    descriptor = cast(Descriptor, rpc.request_type.DESCRIPTOR)  # upb's Descriptor has the same interface
    table = list(_fields(descriptor))
    return Contract(
        rpc=rpc.name,
        request=descriptor.full_name,
        required=tuple(path for path, marks in table if "REQUIRED" in marks),
        output_only=tuple(path for path, marks in table if "OUTPUT_ONLY" in marks),
        immutable=tuple(path for path, marks in table if "IMMUTABLE" in marks),
        names=name_patterns(rpc.uri),
    )


CONTRACTS: dict[str, Contract] = {rpc.name: contract_of(rpc) for rpc in RPCS}


# -- enforcement --------------------------------------------------------------------------------
def admit(rpc: Rpc, request: Message) -> None:
    """Raise INVALID_ARGUMENT for the first field that breaks the contract (in declaration order)."""
    names = {pattern.field: pattern for pattern in CONTRACTS[rpc.name].names}
    _check(request, "", names, _required_here(rpc, request))


def _required_here(rpc: Rpc, request: Message) -> Callable[[str], bool]:
    """Whether a Required field at a path is asked for: always, but inside the resource of an update only where
    its mask (given, or implied by the fields set: AIP-134) reaches."""
    fields = request.DESCRIPTOR.fields_by_name
    if rpc.body is None or "update_mask" not in fields or rpc.body not in fields:
        return lambda path: True
    resource = rpc.body
    paths = list(request.update_mask.paths) if request.HasField("update_mask") else []
    if not paths and request.HasField(resource):  # the implied mask: the top-level fields set
        paths = [api_name(field) for field, _ in getattr(request, resource).ListFields()]
    return lambda path: not path.startswith(resource + ".") or covers(paths, path.removeprefix(resource + "."))


def _real_oneof(field: FieldDescriptor) -> Any:
    oneof = field.containing_oneof
    if oneof is None or (len(oneof.fields) == 1 and oneof.name == "_" + field.name):  # proto3 `optional`
        return None
    return oneof


def _missing(message: Message, field: FieldDescriptor) -> bool:
    if field.is_repeated:
        return len(getattr(message, field.name)) == 0
    oneof = _real_oneof(field)
    if oneof is not None:
        return message.WhichOneof(oneof.name) is None
    if field.has_presence:
        return not message.HasField(field.name)
    return bool(getattr(message, field.name) == field.default_value)


def _check(message: Message, prefix: str, names: dict[str, NamePattern], asked: Callable[[str], bool]) -> None:
    marks = behaviors(message.DESCRIPTOR)
    for field in message.DESCRIPTOR.fields:
        path = prefix + field.name
        if "REQUIRED" in marks.get(field.name, ()) and _missing(message, field) and asked(path):
            oneof = _real_oneof(field)
            if oneof is not None:
                members = ", ".join(prefix + f.name for f in oneof.fields)
                raise exceptions.InvalidArgument(f"Invalid {prefix}{oneof.name}: one of {members} is required.")
            if field.message_type is not None or field.is_repeated:
                raise exceptions.InvalidArgument(f"Invalid {path}: the field is required and was not set.")
            raise exceptions.InvalidArgument(
                f"Invalid {path} {getattr(message, field.name)!r}: the field is required and was not set."
            )
        if path in names:
            names[path].check(getattr(message, field.name))
        for element_path, element in _elements(message, field, path):
            if field.enum_type is not None and field.enum_type.values_by_number.get(element) is None:
                known = ", ".join(value.name for value in field.enum_type.values)
                raise exceptions.InvalidArgument(f"Invalid {element_path} {element}: expected one of {known}.")
            if field.message_type is not None and not isinstance(element, int | float | str | bytes):
                _check(element, element_path + ".", names, asked)


def _elements(message: Message, field: FieldDescriptor, path: str) -> Iterator[tuple[str, Any]]:
    """The values a field holds that are worth a look: set sub-messages, enum numbers, map values."""
    if field.message_type is None and field.enum_type is None:
        return
    value = getattr(message, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        if value_field.message_type is not None or value_field.enum_type is not None:
            for key, item in value.items():
                yield f"{path}[{key!r}]", item
        return
    if field.is_repeated:
        for index, item in enumerate(value):
            yield f"{path}[{index}]", item
    elif field.message_type is None or message.HasField(field.name):
        yield path, value


def clear_output_only(message: Message) -> Message:
    """``message`` (changed in place) without any Output only field, at any depth."""
    marks = behaviors(message.DESCRIPTOR)
    for field in message.DESCRIPTOR.fields:
        if "OUTPUT_ONLY" in marks.get(field.name, ()):
            message.ClearField(field.name)
        elif field.message_type is not None:
            for _, element in _elements(message, field, field.name):
                if not isinstance(element, int | float | str | bytes):
                    clear_output_only(element)
    return message
