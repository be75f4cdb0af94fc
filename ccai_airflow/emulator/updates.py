"""Updates by field mask, the same for every Update method the emulator serves (AIP-134, AIP-161, AIP-203).

Sources, quoted from https://google.aip.dev (the API's definition says only "The list of fields to be updated."):

* AIP-134: "the service must treat an omitted field mask as an implied field mask equivalent to all fields that
  are populated (have a non-empty value)"; "Update masks must support a special value `*`, meaning full
  replacement".
* AIP-161: "When writing data, field masks should return an INVALID_ARGUMENT error if an entry points to a value
  that can not exist".
* AIP-203: Output only, "services must ignore the presence of output only fields in update field masks";
  Immutable, "should ignore the field if the value matches, but should error with INVALID_ARGUMENT if a change is
  requested"; Required, "When updating the resource, the user may omit the field provided that the field is also
  absent from the field mask" (:func:`covers`, which the contract asks before checking a Required field).

Paths are the API's field names. proto-plus renames a field named like a Python builtin (``type`` -> ``type_``)
in the descriptors it registers, so the path ``type`` reaches ``type_``; ``type_`` itself is no API name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from google.api_core import exceptions
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from ccai_airflow.emulator.field_behavior import behaviors
from ccai_airflow.emulator.lro import Message, _copy

Chain = tuple[FieldDescriptor, ...]


def api_name(field: FieldDescriptor) -> str:
    """The field's name in the API (``type_`` -> ``type``)."""
    return field.name.removesuffix("_")


def _field(descriptor: Descriptor, part: str) -> FieldDescriptor | None:
    if part.endswith("_"):
        return None
    fields = descriptor.fields_by_name
    return fields.get(part) or fields.get(part + "_")


def resolve(descriptor: Descriptor, path: str) -> Chain:
    """The fields ``path`` goes through; INVALID_ARGUMENT when it names nothing that can exist (AIP-161)."""
    chain: list[FieldDescriptor] = []
    current: Descriptor | None = descriptor
    for part in path.split("."):
        if current is None:
            raise exceptions.InvalidArgument(
                f"Invalid update_mask path {path!r}: {api_name(chain[-1])} is not a message, nothing is under it."
            )
        field = _field(current, part)
        if field is None:
            raise exceptions.InvalidArgument(
                f"Invalid update_mask path {path!r}: {current.name} has no field {part!r}."
            )
        chain.append(field)
        current = None if field.is_repeated or field.message_type is None else field.message_type
    return tuple(chain)


def populated(message: Message, prefix: str = "") -> Iterator[str]:
    """The paths of the set leaves of ``message`` (a message field set but empty counts as a leaf)."""
    for field, value in message.ListFields():
        path = prefix + api_name(field)
        sub = field.message_type
        if sub is not None and not field.is_repeated and not sub.full_name.startswith("google.protobuf."):
            inner = list(populated(value, path + "."))
            yield from inner or [path]
        else:
            yield path


def mask_paths(request: Message, resource: str, required: bool = False) -> list[str]:
    """The request's mask, or the implied one (AIP-134) when it has none; ``*`` stays as it is."""
    paths = list(request.update_mask.paths) if request.HasField("update_mask") else []
    if paths:
        return paths
    if required:  # "Required. The list of fields to be updated.": a mask of no paths lists nothing to update
        raise exceptions.InvalidArgument("Invalid update_mask: it lists no fields to update.")
    return [path for path in populated(getattr(request, resource)) if path != "name"]


def covers(paths: list[str], path: str) -> bool:
    """Whether a mask of ``paths`` reaches ``path`` (dotted; indices like ``[0]`` and proto-plus's ``_`` ignored)."""
    plain = ".".join(part.removesuffix("_") for part in re.sub(r"\[[^]]*\]", "", path).split("."))
    return "*" in paths or any(plain == p or plain.startswith(p + ".") for p in paths)


def apply_mask(
    stored: Message, patch: Message, paths: list[str], arg: str, updatable: tuple[str, ...] | None = None
) -> tuple[Message, list[str]]:
    """A copy of ``stored`` with the fields ``paths`` name taken from ``patch``, and the paths it applied.

    ``updatable`` lists the paths the method documents as updatable (a path under one is too); None: every field
    but Output only ones and ``name``. ``arg`` names the request's resource field in errors.
    """
    descriptor = stored.DESCRIPTOR
    if "*" in paths:
        if len(paths) > 1:
            raise exceptions.InvalidArgument(
                f"Invalid update_mask {','.join(paths)!r}: '*' replaces every updatable field and stands alone."
            )
        paths = list(updatable) if updatable is not None else [
            api_name(f) for f in descriptor.fields
            if f.name != "name" and "OUTPUT_ONLY" not in behaviors(descriptor).get(f.name, ())
        ]
    result = _copy(stored)
    applied: list[str] = []
    for path in paths:
        chain = resolve(descriptor, path)
        if path == "name":  # the resource's identity: the method found it by this very name
            continue
        marks = _marks(descriptor, chain)
        if "OUTPUT_ONLY" in marks:
            continue
        if "IMMUTABLE" in marks:
            ours, theirs = _value(stored, chain), _value(patch, chain)
            if ours != theirs:
                raise exceptions.InvalidArgument(
                    f"Invalid {arg}.{path} {_shown(chain[-1], theirs)!r}: the field is immutable "
                    f"(it is {_shown(chain[-1], ours)!r})."
                )
            continue
        if updatable is not None and not covers(list(updatable), path):
            raise exceptions.InvalidArgument(
                f"Invalid update_mask path {path!r}: the updatable fields are {', '.join(updatable)}."
            )
        _copy_at(result, patch, chain)
        applied.append(path)
    return result, applied


def _marks(descriptor: Descriptor, chain: Chain) -> frozenset[str]:
    """The behaviours along ``chain``: a field inside an Output only or Immutable one is so too."""
    marks: set[str] = set()
    current = descriptor
    for field in chain:
        marks |= behaviors(current).get(field.name, frozenset())
        if field.message_type is not None:
            current = field.message_type
    return frozenset(marks)


def _value(message: Message, chain: Chain) -> object:
    for field in chain[:-1]:
        if not message.HasField(field.name):
            return None
        message = getattr(message, field.name)
    value = getattr(message, chain[-1].name)
    if chain[-1].message_type is not None and not chain[-1].is_repeated:
        return value.SerializeToString(deterministic=True) if message.HasField(chain[-1].name) else None
    return list(value) if chain[-1].is_repeated else value


def _shown(field: FieldDescriptor, value: object) -> object:
    """An enum's number as its name, which reads better in a message; any other value as it is."""
    enum = field.enum_type
    if enum is not None and isinstance(value, int) and value in enum.values_by_number:
        return enum.values_by_number[value].name
    return value


def _copy_at(result: Message, patch: Message, chain: Chain) -> None:
    """Replace the field at ``chain`` of ``result`` with ``patch``'s (cleared when ``patch`` does not set it)."""
    *parents, leaf = chain
    source: Message | None = patch
    for field in parents:
        source = getattr(source, field.name) if source is not None and source.HasField(field.name) else None
    target = result
    for field in parents:
        if source is None and not target.HasField(field.name):
            return  # nothing there to clear
        target = getattr(target, field.name)
    target.ClearField(leaf.name)
    if source is None:
        return
    if leaf.is_repeated:
        getattr(target, leaf.name).MergeFrom(getattr(source, leaf.name))
    elif leaf.message_type is not None:
        if source.HasField(leaf.name):
            getattr(target, leaf.name).CopyFrom(getattr(source, leaf.name))
    elif not leaf.has_presence or source.HasField(leaf.name):
        setattr(target, leaf.name, getattr(source, leaf.name))
