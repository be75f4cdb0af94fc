"""The pytest plugin as a user meets it: sessions of pytest in a subprocess, in a folder with no conftest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ccai_airflow.emulator.process import EmulatorProcess

USER_PROJECT = Path(__file__).resolve().parents[2] / "examples" / "user-project"
QUIET = ("-p", "no:cacheprovider", "-W", "ignore::pytest.PytestDeprecationWarning")

# A test that needs the plugin's fixture and marker, and nothing of this repository.
USES_THE_KIT = '''
import pytest
from ccai_airflow.hooks import ContactCenterInsightsHook

@pytest.mark.ccai_emulator(fail_next_operations=1)
def test_kit(ccai_emulator):
    client = ContactCenterInsightsHook().get_conn()
    operation = client.create_issue_model(parent=ccai_emulator.parent, issue_model={"display_name": "x"})
    with pytest.raises(Exception, match="Injected failure"):
        operation.result(timeout=30)
    print("EMULATOR", "in-process" if ccai_emulator.emulator else "external", ccai_emulator.rest_url)
'''


@pytest.fixture(autouse=True)
def users_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sessions run as from a user's shell: none of this suite's Airflow or emulator settings."""
    for name in list(os.environ):
        if name.startswith(("AIRFLOW", "CONTACT_CENTER_INSIGHTS", "CCAI_")):
            monkeypatch.delenv(name)


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(USER_PROJECT, pytester.path, dirs_exist_ok=True)
    return pytester


# Which emulator a session uses is the plugin's choice, before Airflow runs anything: once in CI.
@pytest.mark.airflow_independent
def test_an_emulator_already_running_is_used_and_not_started(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_external=USES_THE_KIT)
    with EmulatorProcess() as running:
        result = pytester.runpytest_subprocess(
            *QUIET, "-s", f"--ccai-emulator-host={running.grpc_target}", f"--ccai-emulator-rest={running.rest_url}",
            timeout=300)
        counts = running.controls.call_counts()

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*EMULATOR external {running.rest_url}*"])
    assert counts["CreateIssueModel"] == 1


@pytest.mark.airflow_independent
def test_the_emulator_started_for_the_session_is_in_process(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_in_process=USES_THE_KIT)

    result = pytester.runpytest_subprocess(*QUIET, "-s", timeout=300)

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*EMULATOR in-process http://127.0.0.1:*"])


# The plugin's own option and marker handling: pytest's, the same on every Airflow minor.
@pytest.mark.airflow_independent
@pytest.mark.parametrize(("args", "message"), [
    (["--ccai-emulator-host=127.0.0.1:9"],
     "*--ccai-emulator-host '127.0.0.1:9' and --ccai-emulator-rest None: give both*"),
    (["--ccai-emulator-host=127.0.0.1:9", "--ccai-emulator-rest=http://127.0.0.1:9", "-n", "2"],
     "*2 pytest-xdist workers would share one emulator*"),
])
def test_bad_options_fail_the_session_naming_them(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile(test_nothing="def test_nothing(): pass")

    result = pytester.runpytest_subprocess(*QUIET, *args, timeout=120)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.airflow_independent
def test_a_marker_with_positional_arguments_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_marker="""
import pytest

@pytest.mark.ccai_emulator(1)
def test_marked(ccai_emulator):
    pass
""")

    result = pytester.runpytest_subprocess(*QUIET, timeout=300)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ccai_emulator(1,): takes keyword arguments only*"])


# -- docs/testing.md: its blocks are the example project's files, and its commands run as written -----------------
DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
TAGGED = re.compile(r"^```(\w+) (file|run)=(\S+)\n(.*?)^```", re.S | re.M)


def tagged(kind: str) -> list[tuple[str, str]]:
    return [(target, body) for _, found, target, body in TAGGED.findall(DOC.read_text()) if found == kind]


def test_the_page_shows_the_example_project_as_it_is() -> None:
    shown = tagged("file")
    assert {target for target, _ in shown} == {
        "examples/user-project/pyproject.toml", "examples/user-project/dags/weekly_topics.py",
        "examples/user-project/tests/test_weekly_topics.py"}
    for target, body in shown:
        assert body == (USER_PROJECT.parents[1] / target).read_text(), f"docs/testing.md's block of {target}"


@pytest.mark.parametrize("commands", [body for _, body in tagged("run")], ids=["pytest", "external-emulator"])
def test_the_pages_commands_run_as_written(commands: str, user_project: pytest.Pytester) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-e", "-c", commands], cwd=user_project.path, env=env, capture_output=True,
                            text=True, timeout=900)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    pytest_runs = commands.count("pytest -q")
    assert len(re.findall(r"^4 passed", result.stdout, re.M)) == pytest_runs, result.stdout[-3000:]
