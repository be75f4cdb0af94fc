"""Write tests/fixtures/field_behavior.json: the ``google.api.field_behavior`` options of the ``.proto`` sources.

Run once per client upgrade, with a googleapis/googleapis checkout (a work tree, or a bare repository read
at a commit):

    .venv/bin/python scripts/extract_field_behavior.py /path/to/googleapis [--commit SHA]

Only the message types the emulator's served requests reach are written (so the extract stays small);
``tests/emulator/test_field_behavior.py`` compares them with what the emulator reads from the installed
client's docstrings. Nothing at test time reads outside the repository.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ccai_airflow.emulator.routes import RPCS  # noqa: E402

SOURCES = (
    "google/cloud/contactcenterinsights/v1/contact_center_insights.proto",
    "google/cloud/contactcenterinsights/v1/resources.proto",
    "google/longrunning/operations.proto",
)
_BLOCK = re.compile(r"^(message|enum|oneof|service|rpc|extend)\b")
_FIELD = re.compile(r"^(?:repeated\s+|optional\s+)?(?:map<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*\d+")


def read(root: Path, path: str, commit: str | None) -> str:
    if commit is None and (root / path).exists():
        return (root / path).read_text()
    return subprocess.run(
        ["git", "--git-dir", str(root), "show", f"{commit or 'HEAD'}:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout


def parse(text: str) -> dict[str, dict[str, list[str]]]:
    """Full message name -> field name -> field_behavior values, for one .proto file."""
    package = re.search(r"^package\s+([\w.]+);", text, re.M)
    assert package is not None
    text = re.sub(r"//[^\n]*", "", text)
    out: dict[str, dict[str, list[str]]] = {}
    stack: list[tuple[str, str]] = []  # (kind, name)
    statement, depth_brackets, depth_literal = "", 0, 0
    for char in text:
        if char == "[":
            depth_brackets += 1
        elif char == "]":
            depth_brackets -= 1
        if depth_brackets or depth_literal:
            statement += char
            if char == "{":
                depth_literal += 1 if not depth_brackets else 0
            elif char == "}" and not depth_brackets:
                depth_literal -= 1
            continue
        if char == "{":
            head = " ".join(statement.split())
            if head.startswith("option") or head.endswith("=") or ":" in head:
                statement += char  # an option's literal value: { ... }
                depth_literal += 1
                continue
            block = _BLOCK.match(head)
            kind = block.group(1) if block else "other"
            name = head.split()[1].split("(")[0] if len(head.split()) > 1 else ""
            stack.append((kind, name))
            if kind == "message":
                out.setdefault(_full(package.group(1), stack), {})
            statement = ""
        elif char == "}":
            stack.pop()
            statement = ""
        elif char == ";":
            head = " ".join(statement.split())
            field = _FIELD.match(head)
            owner = [entry for entry in stack if entry[0] != "oneof"]
            if field and owner and owner[-1][0] == "message" and not re.match(r"(option|reserved)\b", head):
                behaviors = re.findall(r"\(google\.api\.field_behavior\)\s*=\s*(\w+)", head)
                out[_full(package.group(1), owner)][field.group(1)] = sorted(behaviors)
            statement = ""
        else:
            statement += char
    return out


def _full(package: str, stack: list[tuple[str, str]]) -> str:
    return ".".join([package, *(name for kind, name in stack if kind == "message")])


def reachable() -> set[str]:
    seen: set[str] = set()

    def walk(descriptor: Any) -> None:
        if descriptor.full_name in seen:
            return
        seen.add(descriptor.full_name)
        for field in descriptor.fields:
            if field.message_type is not None:
                walk(field.message_type)

    for rpc in RPCS:
        walk(rpc.request_type.DESCRIPTOR)
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("googleapis", type=Path)
    parser.add_argument("--commit", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "field_behavior.json")
    args = parser.parse_args()
    messages: dict[str, dict[str, list[str]]] = {}
    for source in SOURCES:
        messages.update(parse(read(args.googleapis, source, args.commit)))
    wanted = reachable()
    extract = {
        "sources": list(SOURCES),
        "commit": args.commit or "HEAD",
        "messages": {name: fields for name, fields in sorted(messages.items()) if name in wanted},
    }
    args.out.write_text(json.dumps(extract, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out} ({len(extract['messages'])} message types)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
