"""Google's own Pub/Sub emulator (the Google Cloud CLI's ``pubsub-emulator`` component), started on a free
loopback port and stopped by its PID: the real Pub/Sub beside the Insights emulator.

It is Java, run by the SDK's ``platform/pubsub-emulator/bin/cloud-pubsub-emulator`` script; Google's
``google-cloud-pubsub`` client talks to it unchanged when ``PUBSUB_EMULATOR_HOST`` names it. Install it with
``gcloud components install pubsub-emulator`` (or the ``google-cloud-cli-pubsub-emulator`` package).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ccai_airflow.emulator.neighbour import NeighbourProcess, free_port

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


class PubSubEmulator(NeighbourProcess):
    """``with PubSubEmulator() as pubsub: os.environ["PUBSUB_EMULATOR_HOST"] = pubsub.host``.

    :param port: 0 for a free one.
    :param startup_timeout: seconds to wait for "Server started" (the JVM takes a few).
    """

    log_prefix = "pubsub-emulator-"

    def __init__(self, port: int = 0, startup_timeout: float = 60.0) -> None:
        super().__init__()
        self.port = port or free_port()
        self.startup_timeout = startup_timeout

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> PubSubEmulator:
        script = find_pubsub_emulator()
        if script is None:
            raise FileNotFoundError(INSTALL_HINT)
        # The script starts java: stop() ends both by the group's id.
        process = self._spawn([script, "--host=127.0.0.1", f"--port={self.port}"])
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if READY.encode() in self.output():
                return self
            if process.poll() is not None:
                break
            time.sleep(0.1)
        tail = self.output()[-2000:].decode(errors="replace")
        self.stop()
        raise RuntimeError(f"Google's Pub/Sub emulator did not start on {self.host}: {tail}")
