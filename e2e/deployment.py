"""What both end-to-end scripts deploy: the processes (each by PID), PostgreSQL, the Airflow REST API.

``e2e/run_e2e.py`` (``make e2e``) and ``e2e/run_e2e_distributed.py`` (``make e2e-distributed``)
import this; nothing here is specific to one of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests


class E2EError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 1.0,
              log: Path | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the log's tail otherwise."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the component may not be up yet
            last_error = exc
        time.sleep(every)
    tail = ""
    if log is not None and log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    raise E2EError(f"Timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})\n{tail}")


class Stack:
    """The processes of the deployment, each with its own log, all stopped by PID at the end."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, list[str]] = {}
        self.died: dict[str, int] = {}  # the processes that ended by a signal before stop_all, not by ours

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None,
              **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``args`` with the stack's environment (or ``env``), logging to ``logs/<name>.log``."""
        out = self.log(name).open("ab")
        proc = subprocess.Popen(args, env=self.env if env is None else env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, **kwargs)
        self.procs[name] = proc
        self.commands[name] = list(args)
        print(f"  started {name} (pid {proc.pid}); log {self.log(name)}", flush=True)
        return proc

    def check_alive(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is not None:
            tail = "\n".join(self.log(name).read_text(errors="replace").splitlines()[-40:])
            raise E2EError(f"{name} exited with code {proc.returncode}:\n{tail}")

    def exited(self) -> list[str]:
        """The names of the processes that have exited."""
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def respawn(self, name: str) -> str:
        """Start an exited (or killed) process again with its command, as a process supervisor would; the new
        one's name."""
        old = self.procs.pop(name, None)
        if old is not None:
            print(f"  {name} (pid {old.pid}) had exited with code {old.returncode}", flush=True)
        base, n = name.rsplit("-", 1)[0] if name.rsplit("-", 1)[-1].isdigit() else name, 2
        while f"{base}-{n}" in self.commands:
            n += 1
        new = f"{base}-{n}"
        self.start(new, self.commands[name])
        return new

    def kill9(self, name: str) -> int:
        """SIGKILL the process and its descendants (the triggerer's runner too), as a lost machine would."""
        import psutil

        proc = self.procs.pop(name)
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.kill()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return proc.pid

    def stop_one(self, name: str) -> None:
        """SIGTERM one process and its descendants by PID (SIGKILL after 20 s)."""
        import psutil

        proc = self.procs.pop(name)
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(proc.pid).children(recursive=True)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        _, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()
        print(f"  stopped {name} (pid {proc.pid}, exit {proc.returncode})", flush=True)

    def stop_all(self) -> None:
        """SIGTERM each process and every descendant (task runners, serve-logs) by PID, then SIGKILL."""
        import psutil

        descendants: list[psutil.Process] = []
        self.died.update({name: proc.returncode for name, proc in self.procs.items()
                          if proc.poll() is not None and proc.returncode < 0})
        for proc in reversed(list(self.procs.values())):
            with contextlib.suppress(psutil.Error):
                descendants.extend(psutil.Process(proc.pid).children(recursive=True))
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        for name, proc in reversed(list(self.procs.items())):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            # A crash still writing its core dump has not exited when the stop begins: a signal that is not ours.
            if proc.returncode < 0 and -proc.returncode not in (signal.SIGTERM, signal.SIGKILL):
                self.died[name] = proc.returncode
            print(f"  stopped {name} (pid {proc.pid}, exit {proc.returncode})", flush=True)
        for child in descendants:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        _, alive = psutil.wait_procs(descendants, timeout=10)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()
        if descendants:
            print(f"  stopped {len(descendants)} child processes ({len(alive)} needed SIGKILL)", flush=True)
        self.procs.clear()

    def crash_report(self) -> str:
        """For each process that died of a signal on its own: the signal and, from its log, the crashing thread's
        stack that PYTHONFAULTHANDLER wrote. Printed last, so that a log's tail shows where it crashed."""
        parts = []
        for name, code in self.died.items():
            stack = crashing_thread(self.log(name).read_text(errors="replace"))
            parts.append(f"{name} died of {signal.Signals(-code).name} ({self.log(name)}):\n"
                         f"{stack or '  (no Python stack in its log)'}")
        return "\n".join(parts)


def crashing_thread(log: str) -> str:
    """The last faulthandler dump in ``log``: its "Fatal Python error" line and the "Current thread" block (the
    thread that crashed; the other threads' blocks are in the log)."""
    start = log.rfind("Fatal Python error")
    if start < 0:
        return ""
    lines = log[start:].splitlines()
    current = next((i for i, line in enumerate(lines) if line.startswith("Current thread")), None)
    if current is None:
        return lines[0]
    block = [lines[0], *lines[current:current + 1]]
    for line in lines[current + 1:]:
        if not line.startswith("  "):
            break
        block.append(line)
    return "\n".join(block)


# -- from the OS packages ----------------------------------------------------------------------
def install_os_package(package: str) -> None:
    """Debian's ``package`` (CI's clean machines have the package registries, not the servers)."""
    print(f"  {package} not found: installing it from the OS packages", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def redis_server() -> str:
    """redis-server, installing Debian's package when it is missing."""
    found = shutil.which("redis-server")
    if not found:
        install_os_package("redis-server")
        found = shutil.which("redis-server")
    if not found:
        raise E2EError("redis-server could not be found or installed")
    return found


# -- PostgreSQL ---------------------------------------------------------------------------------
def postgres_bin() -> Path:
    """The folder of initdb/pg_ctl, installing Debian's postgresql when it is missing."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not candidates:
        install_os_package("postgresql")
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not candidates:
        raise E2EError("PostgreSQL could not be found or installed (no pg_ctl)")
    return candidates[-1].parent


def as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the 'postgres' user then."""
    if os.geteuid() != 0:
        return args
    if subprocess.run(["id", "postgres"], capture_output=True, check=False).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return ["runuser", "-u", "postgres", "--", *args]


def start_postgres(workdir: Path, port: int) -> tuple[Path, int]:
    """Initialise and start a private cluster; return its data folder and postmaster PID."""
    bindir = postgres_bin()
    data, sockets = workdir / "pgdata", workdir / "pgsock"
    shutil.rmtree(data, ignore_errors=True)
    sockets.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # the 'postgres' user must be able to write the cluster and its socket
        for path in (workdir, sockets, workdir / "logs"):
            os.chmod(path, 0o777)
    log = workdir / "logs" / "postgres.log"
    subprocess.run(as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                "-E", "UTF8"]), check=True, stdout=subprocess.DEVNULL)
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=200"
    result = subprocess.run(as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log),
                                         "-w", "-t", "60", "start"]), check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise E2EError(f"PostgreSQL did not start:\n{tail}")
    return data, int((data / "postmaster.pid").read_text().split()[0])


def create_database(port: int) -> None:
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE airflow")
    finally:
        connection.close()


def stop_postgres(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGINT)  # fast shutdown
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print(f"  stopped postgres (pid {pid})", flush=True)
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def restart_postgres(workdir: Path) -> int:
    """``pg_ctl restart`` (fast: open connections are cut, as a database failover would); the new postmaster PID."""
    data = workdir / "pgdata"
    log = workdir / "logs" / "postgres.log"
    result = subprocess.run(as_postgres([str(postgres_bin() / "pg_ctl"), "-D", str(data), "-l", str(log), "-m", "fast",
                                         "-w", "-t", "60", "restart"]), check=False, stdout=subprocess.DEVNULL)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise E2EError(f"PostgreSQL did not restart:\n{tail}")
    return int((data / "postmaster.pid").read_text().split()[0])


# -- Airflow and the emulator -------------------------------------------------------------------
AIRFLOW = [sys.executable, "-m", "airflow"]
# The API server on asyncio's event loop (e2e/api_server.py says why).
API_SERVER = [sys.executable, str(Path(__file__).with_name("api_server.py"))]


def database_url(pg_port: int) -> str:
    """The metadata database's SQLAlchemy URL (psycopg2, as the venv installs it)."""
    return f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/airflow"


def airflow_env(home: Path, dags: Path, pg_port: int, api_port: int, executor: str, project: str,
                connection_extra: dict[str, Any] | None = None, **options: str) -> dict[str, str]:
    """What every component of a local deployment shares: home, database, DAGs, the API server as
    Execution API, fresh secrets, and a ``google_cloud_default`` connection on ``project``.
    ``options`` are more ``AIRFLOW__...`` variables (name: value), added last."""
    api = f"http://127.0.0.1:{api_port}"
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url(pg_port),
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # Only the runs a script triggers: no scheduled run beside them.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        # A native crash of a component (the API server has died of SIGSEGV in libpython under load)
        # leaves the Python stacks of its threads in its log.
        "PYTHONFAULTHANDLER": "1",
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": project, **(connection_extra or {})}}),
        **options,
    }


def start_emulator(stack: Stack, operation_seconds: float) -> dict[str, str]:
    """The emulator as a process of the stack; the stack's environment and this process's point at it.
    Its ready line: ``grpc_target`` and ``rest_url``."""
    process = stack.start("emulator", [sys.executable, "-u", "-m", "ccai_airflow.emulator",
                                       "--operation-seconds", str(operation_seconds)])
    emu: dict[str, str] = wait_for("the emulator's ready line", lambda: ready_line(stack.log("emulator")), 30,
                                   every=0.2, log=stack.log("emulator"))
    for key, value in (("CONTACT_CENTER_INSIGHTS_EMULATOR_HOST", emu["grpc_target"]),
                       ("CONTACT_CENTER_INSIGHTS_EMULATOR_REST", emu["rest_url"])):
        stack.env[key] = os.environ[key] = value
    os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = stack.env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"]
    print(f"  emulator (pid {process.pid}): {emu}", flush=True)
    return emu


def migrate(stack: Stack) -> None:
    """``airflow db migrate`` on the stack's database; its log's tail in the error when it fails."""
    log = stack.log("db-migrate")
    with log.open("ab") as out:
        done = subprocess.run([*AIRFLOW, "db", "migrate"], env=stack.env, stdout=out, stderr=subprocess.STDOUT,
                              check=False)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise E2EError(f"airflow db migrate failed; see {log}:\n{tail}")


def wait_for_dags(api: Api, dag_ids: set[str], stack: Stack, timeout: float = 180) -> None:
    wait_for(f"the DAGs {sorted(dag_ids)} to be parsed",
             lambda: {d["dag_id"] for d in api.get("/dags", limit=100)["dags"]} >= dag_ids,
             timeout, every=2, log=stack.log("dag-processor"))


# -- the REST API -------------------------------------------------------------------------------
class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def login(self) -> bool:
        answer = self.session.get(f"{self.base}/auth/token", timeout=10)
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        return True

    def get(self, path: str, **params: Any) -> Any:
        answer = self.session.get(f"{self.base}/api/v2{path}", params=params, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.session.post(f"{self.base}/api/v2{path}", json=body, timeout=30)
        if answer.status_code >= 400:
            raise E2EError(f"POST {path}: {answer.status_code} {answer.text}")
        return answer.json()

    def ti_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}").get("state")  # type: ignore[no-any-return]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def links(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
        """The task's extra links, as the UI asks for them: link name -> URL (None: no URL)."""
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links")["extra_links"]  # type: ignore[no-any-return]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        entry = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        value = entry["value"]
        if isinstance(value, str):  # JSON for structured values, the plain text for a string
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value


def ready_line(log: Path) -> dict[str, str] | None:
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and "grpc_target" in line:
            return json.loads(line)  # type: ignore[no-any-return]
    return None

