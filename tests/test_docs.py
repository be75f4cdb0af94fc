"""Every code block of the README and docs/ is run by a test, as written, or left out by a rule stated here.

How a block is run follows its fence's info string (its language, then words GitHub does not render):

* ``python``: executed in order, one namespace per page, with the hooks pointed at the emulator and a default
  connection with a project (as a reader's setup would be).
* ``bash``: run with ``bash -e`` in a fresh directory, ``python``, ``pip``, ``airflow`` and ``ccai-emulator`` this
  environment's, none of the suite's Airflow or emulator variables, pip kept off the network and a dead proxy
  for any other HTTP(S) (a call meant for Google fails instead of leaving the machine); it must exit 0.
* ``bash serves``: the block ends in the emulator, which serves until stopped; it passes once the emulator printed
  its ready line, then the block's processes are stopped (all of them: a server started with ``&`` too).
* Run by a test of their own, which does more than run them: the steps of "Run your own DAG against the emulator"
  (:func:`test_running_your_own_dag_steps_run_as_written`, with the README's Usage DAG); the blocks of
  docs/testing.md with ``file=`` or ``run=`` (the example project), which ``tests/testing/test_plugin.py``
  compares with the project's files and runs in a copy of it.

Left out, by rule (:data:`NOT_PROGRAMS`, :func:`why_not_run`):

* no language, ``text``, ``json``, ``ini``: output, data or configuration shown, not a program to run;
* ``bash`` blocks of ``make`` targets only: CI's entry points (``.ci/run``); ``make test`` is this suite itself and
  the others build virtualenvs from PyPI; ``make demo``'s program is run by ``tests/test_example_dags.py``;
* ``bash`` blocks that download from a URL (``pip install ... -c https://...``, Airflow's constraints on GitHub):
  the suite does not reach the network; the install itself is ``make wheel-smoke`` (``scripts/wheel_smoke.py``:
  the built wheel into a fresh virtualenv, with the repository's constraints in place of GitHub's).

An info string nothing here knows fails :func:`test_every_block_is_run_or_left_out_for_a_stated_reason`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from ccai_airflow.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
NOT_PROGRAMS = frozenset({"", "text", "json", "ini"})
OWN_DAG_HEADING = "Run your own DAG against the emulator"
BASH_TIMEOUT_S = 120
# The suite's own settings, which a reader's shell does not have.
SUITE_VARIABLES = ("AIRFLOW", "CONTACT_CENTER_INSIGHTS_", "STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence
    heading: str  # the nearest heading above it
    info: str
    body: str

    @property
    def language(self) -> str:
        return self.info.split(" ", 1)[0]

    @property
    def words(self) -> list[str]:
        return self.info.split()[1:]

    @property
    def id(self) -> str:
        return f"{self.page.name}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()]
        headings = re.findall(r"^#+ (.+)$", before, re.M)
        found.append(Block(page, before.count("\n") + 1, headings[-1] if headings else "", match[1].strip(), match[2]))
    return found


ALL = [block for page in PAGES for block in blocks(page)]


def _commands(body: str) -> list[str]:
    """The block's command lines, without comments and blank lines (continuations joined)."""
    joined = body.replace("\\\n", " ")
    return [line for line in (re.sub(r"(^|\s)#.*$", "", raw).strip() for raw in joined.splitlines()) if line]


def why_not_run(block: Block) -> str | None:
    """Why ``block`` is not run by this module (None: it is run here), by the rules of the module's docstring."""
    if block.language in NOT_PROGRAMS:
        return "output, data or configuration, not a program"
    if block.page.name == "testing.md" and any(word.startswith(("file=", "run=")) for word in block.words):
        return "tests/testing/test_plugin.py: compared with the example project's files and run in a copy of it"
    if block.language != "bash":
        return None
    if block.heading == OWN_DAG_HEADING:
        return "test_running_your_own_dag_steps_run_as_written"
    commands = _commands(block.body)
    if commands and all(command.startswith("make ") for command in commands):
        return "make targets: CI's entry points (.ci/run); make test is this suite"
    if re.search(r"https?://(?!127\.0\.0\.1|localhost)", "\n".join(commands)):
        return "downloads: the suite does not reach the network (make wheel-smoke installs the built wheel)"
    return None


def run_here(serves: bool) -> list[Block]:
    """The bash blocks this module runs: the serving ones, or the others."""
    return [b for b in ALL if b.language == "bash" and why_not_run(b) is None and ("serves" in b.words) == serves]


def test_every_block_is_run_or_left_out_for_a_stated_reason() -> None:
    known = {"python": [[]], "bash": [[], ["serves"]]}
    unknown = [(b.id, b.info) for b in ALL if why_not_run(b) is None and b.words not in known.get(b.language, [])]
    assert unknown == [], "a block no rule of tests/test_docs.py runs or leaves out: run it, or state why not"
    assert sum(b.language == "python" and why_not_run(b) is None for b in ALL) >= 8
    assert len(run_here(serves=False)) >= 4 and len(run_here(serves=True)) >= 2
    assert len([b for b in ALL if b.heading == OWN_DAG_HEADING and b.language == "bash"]) == 1


# -- python ---------------------------------------------------------------------------------------
def python_blocks(page: Path) -> list[str]:
    return [b.body for b in blocks(page) if b.language == "python" and why_not_run(b) is None]


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_every_python_block_of_the_page_runs_as_written(
    page: Path, emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
                       json.dumps({"conn_type": "google_cloud_platform", "extra": {"project": "p"}}))
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for index, block in enumerate(python_blocks(page)):
        exec(compile(block, f"{page.relative_to(ROOT)} python block {index + 1}", "exec"), namespace)


# -- bash -----------------------------------------------------------------------------------------
def reader_env(directory: Path) -> dict[str, str]:
    """A reader's shell: this environment's programs first on PATH, none of the suite's variables, no network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SUITE_VARIABLES)}
    dead_proxy = "http://127.0.0.1:9"  # the discard port: nothing answers, so an outside call fails at once
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(directory / "airflow"),  # never the reader's ~/airflow, should a block run airflow
        "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "http_proxy": dead_proxy, "https_proxy": dead_proxy, "HTTP_PROXY": dead_proxy, "HTTPS_PROXY": dead_proxy,
        "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost",
    })
    return env


def _start(body: str, directory: Path) -> subprocess.Popen[str]:
    """``bash -e`` on the block, in its own process group (so that its background jobs can be stopped with it)."""
    script = directory / "block.sh"
    script.write_text(body)
    return subprocess.Popen(["bash", "-e", str(script)], cwd=directory, env=reader_env(directory), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _still_running(process: subprocess.Popen[str], grace_s: float = 5.0) -> bool:
    """Whether anything the block started is still alive in its process group, after ``grace_s`` for it to exit.

    An exited process nobody reaped (a zombie: the init of a container may not reap orphans) does not count."""
    deadline = time.monotonic() + grace_s
    while True:
        if not _alive_in_group(process.pid):
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.1)


def _alive_in_group(group: int) -> bool:
    proc = Path("/proc")
    if not (proc / "self" / "stat").is_file():  # no procfs: any member, a zombie too
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]  # after "pid (comm)"
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if int(pgrp) == group and state != "Z":
            return True
    return False


def _stop(process: subprocess.Popen[str]) -> None:
    """Stop the block's whole process group (its background jobs too), then reap bash."""
    with contextlib.suppress(ProcessLookupError):  # all of them may have exited meanwhile
        if _alive_in_group(process.pid):
            os.killpg(process.pid, signal.SIGTERM)
        if _still_running(process, grace_s=10):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def run_bash(body: str, directory: Path, timeout: float = BASH_TIMEOUT_S) -> tuple[int, str, bool]:
    """The block's exit status, its output, and whether it left a process running."""
    process = _start(body, directory)
    try:
        out, _ = process.communicate(timeout=timeout)
        return process.returncode, out, _still_running(process)
    finally:
        _stop(process)


@pytest.mark.parametrize("block", run_here(serves=False), ids=lambda b: b.id)
def test_every_bash_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    status, out, left_running = run_bash(block.body, tmp_path)
    assert status == 0, f"{block.id}:\n{block.body}\n{out}"
    assert not left_running, f"{block.id} left a process running"


@pytest.mark.parametrize("block", run_here(serves=True), ids=lambda b: b.id)
def test_every_serving_bash_block_starts_the_emulator(block: Block, tmp_path: Path) -> None:
    process = _start(block.body, tmp_path)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # until the block's processes close it
            lines.append(line)
            if line.startswith('{"grpc_target"'):
                ready.set()
        ready.set()  # the block ended without a ready line

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        ready.wait(BASH_TIMEOUT_S)
    finally:
        _stop(process)
        reader.join(timeout=10)
    assert not _still_running(process), f"{block.id}: a process of the block outlived it"
    found = [json.loads(line) for line in lines if line.startswith('{"grpc_target"')]
    assert found, f"{block.id}: no ready line within {BASH_TIMEOUT_S} s (exit {process.returncode}):\n{''.join(lines)}"
    assert found[0]["grpc_target"].startswith("127.0.0.1:") and found[0]["rest_url"].startswith("http://127.0.0.1:")


# -- the steps of "Run your own DAG against the emulator" ------------------------------------------
# The page's commands, run once in CI: a whole `airflow db migrate` and `dags test` per Airflow minor costs CI a
# minute each, and what they prove (the page's steps work as written) is the page's, not the minor's.
@pytest.mark.airflow_independent
def test_running_your_own_dag_steps_run_as_written(tmp_path: Path) -> None:
    """The documented shell steps, as written, with the README's Usage DAG where they say (``dags/``): a fresh Airflow
    home, the emulator in the background, the connection that gives the project, ``airflow dags test``."""
    (steps,) = [b.body for b in blocks(ROOT / "docs" / "emulator.md") if b.heading == OWN_DAG_HEADING]
    (dag_id,) = re.findall(r"^airflow dags test (\S+)", steps, re.M)
    (dag,) = [body for body in python_blocks(ROOT / "README.md") if f"DAG({dag_id!r}" in body.replace('"', "'")]
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / f"{dag_id}.py").write_text(dag)

    status, out, left_running = run_bash(steps, tmp_path, timeout=240)

    assert status == 0, out[-5000:]
    assert f"DagRun Finished: dag_id={dag_id}," in out and "state=success" in out
    # The project is the connection's, as the README says: the operation started there, in the emulator.
    assert "Started CreateIssueModel: operation projects/my-project/locations/us-central1/operations/" in out
    assert (tmp_path / "airflow-home" / "airflow.db").is_file(), "the fresh home the steps made"
    assert json.loads((tmp_path / "emulator.json").read_text())["grpc_target"].startswith("127.0.0.1:")
    assert not left_running, "the steps stop the emulator they started"
