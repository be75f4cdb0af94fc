"""Google's own Pub/Sub emulator (the Google Cloud CLI's ``pubsub-emulator`` component), started on a free
loopback port and stopped by its PID: the real Pub/Sub beside the Insights emulator.

It is Java, run by the SDK's ``platform/pubsub-emulator/bin/cloud-pubsub-emulator`` script; Google's
``google-cloud-pubsub`` client talks to it unchanged when ``PUBSUB_EMULATOR_HOST`` names it. Install it with
``gcloud components install pubsub-emulator`` (or the ``google-cloud-cli-pubsub-emulator`` package).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["INSTALL_HINT", "PubSubEmulator", "find_pubsub_emulator"]

SCRIPT = "cloud-pubsub-emulator"
INSTALL_HINT = ("Google's Pub/Sub emulator is not installed: gcloud components install pubsub-emulator "
                "(or apt-get install google-cloud-cli-pubsub-emulator)")
READY = "Server started, listening on"
_SDK_ROOTS = ("/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk", "/opt/google-cloud-sdk")


def find_pubsub_emulator() -> str | None:
    """The ``cloud-pubsub-emulator`` script: on PATH, else under the Cloud SDK beside ``gcloud``."""
    found = shutil.which(SCRIPT)
    if found:
        return found
    roots = list(_SDK_ROOTS)
    if gcloud := shutil.which("gcloud"):
        roots.insert(0, str(Path(os.path.realpath(gcloud)).parent.parent))
    for root in roots:
        script = Path(root) / "platform" / "pubsub-emulator" / "bin" / SCRIPT
        if script.is_file() and os.access(script, os.X_OK):
            return str(script)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PubSubEmulator:
    """``with PubSubEmulator() as pubsub: os.environ["PUBSUB_EMULATOR_HOST"] = pubsub.host``.

    :param port: 0 for a free one.
    :param startup_timeout: seconds to wait for "Server started" (the JVM takes a few).
    """

    def __init__(self, port: int = 0, startup_timeout: float = 60.0) -> None:
        self.port = port or _free_port()
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[Any] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> PubSubEmulator:
        script = find_pubsub_emulator()
        if script is None:
            raise FileNotFoundError(INSTALL_HINT)
        self._log = tempfile.NamedTemporaryFile("w+b", prefix="pubsub-emulator-", suffix=".log")  # noqa: SIM115
        # Its own process group: the script starts java, and stop() ends both by the group's id.
        self.process = subprocess.Popen(
            [script, "--host=127.0.0.1", f"--port={self.port}"], stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if READY.encode() in self.output():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        tail = self.output()[-2000:].decode(errors="replace")
        self.stop()
        raise RuntimeError(f"Google's Pub/Sub emulator did not start on {self.host}: {tail}")

    def output(self) -> bytes:
        if self._log is None:
            return b""
        self._log.flush()
        return Path(self._log.name).read_bytes()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> PubSubEmulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
