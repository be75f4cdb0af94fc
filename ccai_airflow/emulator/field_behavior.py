"""Field behaviour (Required, Output only, Immutable, ...) of the generated types, read from their docstrings.

The API marks its fields with ``google.api.field_behavior`` options in the ``.proto`` sources, but the
descriptors the installed client registers at run time carry none of them. The generator writes the
same marks as the first words of each field's description in the type's "Attributes:" docstring
section ("Required. The parent resource...", "Output only. Immutable. The issue model's..."), so the
emulator reads them there, at import: whatever version of ``google-cloud-contact-center-insights`` is
installed, the rules follow it. ``tests/emulator/test_field_behavior.py`` cross-checks what is read here
against ``tests/fixtures/field_behavior.json``, an extract of the ``.proto`` annotations made by
``scripts/extract_field_behavior.py``.

Types without a generated proto-plus class (``google.longrunning``, well-known types) have no such
docstring; their ``.proto`` sources carry no ``field_behavior`` options either, which the extract
also shows.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator, Mapping
from functools import cache
from types import ModuleType

import proto
from google.cloud.contact_center_insights_v1 import types as insights_types
from google.protobuf.descriptor import Descriptor

# The generator spells each google.api.FieldBehavior value as a capitalised sentence at the start of
# the description (gapic-generator-python, ``rst()`` of the field's leading comment, which the API's
# authors write as "Required. ..."; AIP-203 asks them to).
_MARKS: dict[str, str] = {
    "Required.": "REQUIRED",
    "Output only.": "OUTPUT_ONLY",
    "Immutable.": "IMMUTABLE",
    "Optional.": "OPTIONAL",
    "Input only.": "INPUT_ONLY",
    "Identifier.": "IDENTIFIER",
}
_ENTRY = re.compile(r"^(?P<indent>\s*)(?P<name>[a-z_][a-z0-9_]*) \(.*\):\s*$")


def parse_attributes(doc: str) -> dict[str, frozenset[str]]:
    """Field name -> the behaviours its description starts with, from one class docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:") + 1
    except StopIteration:
        return {}
    found: dict[str, list[str]] = {}
    indent: int | None = None
    current: str | None = None
    for line in lines[start:]:
        if not line.strip():
            continue
        entry = _ENTRY.match(line)
        width = len(line) - len(line.lstrip())
        if entry and (indent is None or width == indent):
            indent, current = width, entry["name"]
            found[current] = []
        elif indent is not None and width <= indent:
            break  # the section ended (a dedented paragraph)
        elif current is not None:
            found[current].append(line.strip())
    return {name: _leading_marks(" ".join(words)) for name, words in found.items()}


def _leading_marks(description: str) -> frozenset[str]:
    marks: set[str] = set()
    text = description.lstrip()
    while True:
        mark = next((m for m in _MARKS if text.startswith(m)), None)
        if mark is None:
            return frozenset(marks)
        marks.add(_MARKS[mark])
        text = text[len(mark):].lstrip()


def _proto_plus_classes(module: ModuleType) -> Iterator[type[proto.Message]]:
    def walk(cls: type[proto.Message]) -> Iterator[type[proto.Message]]:
        yield cls
        for value in vars(cls).values():
            if isinstance(value, type) and issubclass(value, proto.Message):
                yield from walk(value)

    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, proto.Message) and value is not proto.Message:
            yield from walk(value)


@cache
def _classes_by_full_name() -> Mapping[str, type[proto.Message]]:
    return {cls.pb().DESCRIPTOR.full_name: cls for cls in _proto_plus_classes(insights_types)}


@cache
def behaviors(descriptor: Descriptor) -> Mapping[str, frozenset[str]]:
    """Field name -> behaviours of the message type ``descriptor`` ({} for a type with no generated docstring)."""
    cls = _classes_by_full_name().get(descriptor.full_name)
    if cls is None or not cls.__doc__:
        return {}
    parsed = parse_attributes(cls.__doc__)
    # proto-plus documents a field named like a Python keyword or builtin with a trailing "_" (``type_``).
    return {
        field.name: parsed.get(field.name, parsed.get(field.name + "_", frozenset())) for field in descriptor.fields
    }
