"""``make wheel-smoke``: the package as a user gets it, away from this checkout.

Builds the sdist and the wheel (``python -m build``), installs the wheel (not editable) into a fresh
virtualenv with the given constraints file, and from a temporary folder outside the checkout checks:

1. ``airflow providers list`` shows ccai-airflow at this version;
2. the example DAGs shipped in the installed package parse (a DagBag of ``ccai_airflow/example_dags``
   with no import errors and both DAGs);
3. ``ccai-emulator`` prints its ready JSON line and exits 0 on SIGTERM;
4. ``python -m ccai_airflow.demo --workdir <tmp>`` exits 0 (the example pipeline on the emulator);
5. a user's project (``examples/user-project``: a DAG and its tests, no conftest), copied outside the
   checkout, passes with the installed wheel, ``pytest`` and the test kit's ``ccai_emulator`` fixture.

One ``PASS wheel-smoke: ...`` line per check; the first failure stops it with a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".wheel-smoke"
EXAMPLE_DAGS = {"ccai_issue_model_lifecycle", "ccai_bulk_analyze_and_export"}

PARSE_DAGS = """
import json, pathlib, ccai_airflow
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow < 3.2
    from airflow.models.dagbag import DagBag
folder = pathlib.Path(ccai_airflow.__file__).parent / "example_dags"
bag = DagBag(dag_folder=str(folder))  # AIRFLOW__CORE__LOAD_EXAMPLES=False: only these
print(json.dumps({"package": ccai_airflow.__file__, "folder": str(folder), "dags": sorted(bag.dag_ids),
                  "errors": {str(k): str(v) for k, v in bag.import_errors.items()}}))
"""


class SmokeError(RuntimeError):
    pass


def run(args: list[str], what: str, log: Path, **kwargs: object) -> str:
    """Run a command, log it, and fail with the tail of its output when it exits non-zero."""
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(args)}\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise SmokeError(f"{what}: exit {result.returncode}\n{tail}")
    return str(result.stdout)


def passed(message: str, started: float) -> None:
    print(f"PASS wheel-smoke: {message} ({time.monotonic() - started:.0f} s)", flush=True)


def build(log: Path) -> tuple[Path, Path]:
    started = time.monotonic()
    dist = WORK / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(REPO)], "python -m build", log)
    wheels, sdists = sorted(dist.glob("ccai_airflow-*.whl")), sorted(dist.glob("ccai_airflow-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise SmokeError(f"expected one wheel and one sdist in {dist}, found {wheels + sdists}")
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    wanted = {"ccai_airflow/py.typed", "ccai_airflow/example_dags/ccai_issue_model_lifecycle.py",
              "ccai_airflow/example_dags/ccai_bulk_analyze_and_export.py", "ccai_airflow/emulator/__main__.py"}
    if missing := wanted - names:
        raise SmokeError(f"the wheel lacks {sorted(missing)}")
    if leaked := sorted(n for n in names if n.startswith(("tests/", "e2e/", "benchmarks/", "scripts/"))):
        raise SmokeError(f"the wheel carries files that are not the package: {leaked[:5]}")
    passed(f"built {sdists[0].name} and {wheels[0].name} (py.typed, example DAGs and emulator inside)", started)
    return sdists[0], wheels[0]


def install(wheel: Path, constraints: Path, log: Path, reuse: bool) -> Path:
    started = time.monotonic()
    venv = WORK / "venv"
    python = venv / "bin" / "python"
    fresh = not (reuse and python.exists())
    if fresh:
        shutil.rmtree(venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", str(venv)], "python -m venv", log)
    run([str(python), "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps", str(wheel)]
        if not fresh else [str(python), "-m", "pip", "install", "--quiet", "-c", str(constraints), str(wheel)],
        "pip install the wheel", log)
    where = "a fresh venv" if fresh else "the previous smoke venv (--reuse-venv: dependencies not re-checked)"
    passed(f"installed {wheel.name} with {constraints.relative_to(REPO)} into {where}", started)
    return python


def check_providers(python: Path, env: dict[str, str], cwd: Path, version: str, log: Path) -> None:
    started = time.monotonic()
    out = run([str(python), "-m", "airflow", "providers", "list", "-o", "json"], "airflow providers list", log,
              env=env, cwd=cwd)
    rows: list[dict[str, Any]] = next((json.loads(line) for line in out.splitlines() if line.startswith("[{")), [])
    ours = [row for row in rows if row.get("package_name") == "ccai-airflow"]
    if not ours or ours[0].get("version") != version:
        found = [row.get("package_name") for row in rows]
        raise SmokeError(f"airflow providers list: no ccai-airflow {version} in {found}")
    passed(f"airflow providers list shows ccai-airflow {version}", started)


def check_dags(python: Path, env: dict[str, str], cwd: Path, log: Path) -> None:
    started = time.monotonic()
    out = run([str(python), "-c", PARSE_DAGS], "parse the example DAGs", log, env=env, cwd=cwd)
    result = json.loads(out.strip().splitlines()[-1])
    site = str(python.parent.parent)
    if not result["package"].startswith(site):
        raise SmokeError(f"ccai_airflow was imported from {result['package']}, not from the smoke venv {site}")
    if result["errors"] or not set(result["dags"]) >= EXAMPLE_DAGS:
        raise SmokeError(f"example DAGs in {result['folder']}: dags {result['dags']}, errors {result['errors']}")
    passed(f"the installed example DAGs parse: {', '.join(result['dags'])}, no import errors", started)


def check_emulator(python: Path, env: dict[str, str], cwd: Path) -> None:
    started = time.monotonic()
    script = python.parent / "ccai-emulator"
    proc = subprocess.Popen([str(script), "--operation-seconds", "1"], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            ready = selector.select(60)
        line = proc.stdout.readline() if ready else ""
        try:
            info = json.loads(line)
        except ValueError:
            info = {}
        if "grpc_target" not in info:
            raise SmokeError(f"ccai-emulator printed no ready JSON line within 60 s: {line!r}")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        if code != 0:
            raise SmokeError(f"ccai-emulator exited {code} on SIGTERM: {proc.stderr.read() if proc.stderr else ''}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    passed(f"ccai-emulator was ready ({info['grpc_target']}) and exited 0 on SIGTERM", started)


def check_demo(python: Path, env: dict[str, str], cwd: Path, log: Path) -> None:
    started = time.monotonic()
    workdir = cwd / "demo"
    out = run([str(python), "-m", "ccai_airflow.demo", "--workdir", str(workdir)], "python -m ccai_airflow.demo",
              log, env=env, cwd=cwd)
    state = next((line.strip() for line in out.splitlines() if line.startswith("DAG run ")), "?")
    passed(f"python -m ccai_airflow.demo exited 0: {state}", started)


def check_user_project(python: Path, wheel: Path, constraints: Path, env: dict[str, str], cwd: Path,
                       log: Path) -> None:
    started = time.monotonic()
    project = cwd / "user-project"
    shutil.copytree(REPO / "examples" / "user-project", project)
    run([str(python), "-m", "pip", "install", "--quiet", "-c", str(constraints), f"{wheel}[testing]"],
        "pip install the wheel's [testing] extra", log)
    # A user's shell: no Airflow home of its own, which the kit then makes (one per xdist worker).
    user_env = {key: value for key, value in env.items() if not key.startswith("AIRFLOW")}
    counts = []
    # One process here; the suite runs the same project with -n 2 (tests/testing/test_plugin.py).
    extras: list[list[str]] = [[]]
    for extra in extras:
        out = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra], f"pytest {extra} in "
                  "examples/user-project", log, env=user_env, cwd=project)
        summary = next((line for line in reversed(out.splitlines()) if " passed" in line), "")
        if "failed" in summary or "error" in summary or not summary:
            raise SmokeError(f"pytest {extra} in the user project: {summary or 'no summary line'}")
        counts.append(summary.strip("= ").split(" in ")[0])
    passed(f"the user project's tests passed with the installed kit: {counts[0]}", started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make wheel-smoke", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--constraints", default="constraints/constraints-3.3.txt")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument("--reuse-venv", action="store_true",
                        help="while iterating on the checks: reinstall only the wheel into the last smoke venv")
    args = parser.parse_args(argv)
    constraints = (REPO / args.constraints).resolve()
    started = time.monotonic()
    WORK.mkdir(exist_ok=True)
    log = WORK / "wheel-smoke.log"
    log.write_text("")
    outside = Path(tempfile.mkdtemp(prefix="ccai-wheel-smoke-"))
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW", "CONTACT_CENTER_INSIGHTS", "VIRTUAL_ENV", "PYTHON"))}
    env["AIRFLOW_HOME"] = str(outside / "airflow")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    try:
        _sdist, wheel = build(log)
        version = wheel.name.split("-")[1]
        python = install(wheel, constraints, log, args.reuse_venv)
        check_providers(python, env, outside, version, log)
        check_dags(python, env, outside, log)
        check_emulator(python, env, outside)
        check_demo(python, env, outside, log)
        check_user_project(python, wheel, constraints, env, outside, log)
    except SmokeError as exc:
        print(f"FAIL wheel-smoke: {exc}\n(full log: {log}; work folder: {outside})", file=sys.stderr, flush=True)
        return 1
    if not args.keep:
        shutil.rmtree(outside, ignore_errors=True)
    print(f"wheel-smoke passed: 7 checks in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
