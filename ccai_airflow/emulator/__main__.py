"""``python -m ccai_airflow.emulator``: serve until SIGINT/SIGTERM, print one JSON line when ready."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from ccai_airflow.emulator.server import Emulator


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: expected 0..65535 (0 picks a free port)")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # rejects NaN as well
        raise argparse.ArgumentTypeError(f"invalid seconds {text!r}: expected a number >= 0")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccai-emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--grpc-port", type=_port, default=0, help="gRPC port, 0 for a free one")
    parser.add_argument("--rest-port", type=_port, default=0, help="REST port, 0 for a free one")
    parser.add_argument("--operation-seconds", type=_seconds, default=2.0, help="how long each operation runs")
    parser.add_argument("--seed", type=int, default=None, help="seed for fault-injection draws")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Emulator(args.host, args.grpc_port, args.rest_port, args.operation_seconds, args.seed) as emulator:
        print(json.dumps(emulator.info()), flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
