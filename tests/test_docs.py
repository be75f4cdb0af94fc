"""Every Python block of the README and docs/ runs as written, in order, one namespace per page, with the
hooks pointed at the emulator and a default connection with a project (as a reader's setup would be)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ccai_airflow.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: p.name)
def test_every_python_block_of_the_page_runs_as_written(
    page: Path, emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
                       json.dumps({"conn_type": "google_cloud_platform", "extra": {"project": "p"}}))
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for index, block in enumerate(blocks(page)):
        exec(compile(block, f"{page.relative_to(ROOT)} python block {index + 1}", "exec"), namespace)


def test_the_pages_hold_python_blocks_to_run() -> None:
    assert sum(len(blocks(p)) for p in PAGES) >= 8
