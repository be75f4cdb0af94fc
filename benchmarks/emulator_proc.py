"""The bundled emulator in its own process, plus one read-only endpoint the CLI does not have.

``python -m benchmarks.emulator_proc --operation-seconds S`` runs :class:`ccai_airflow.emulator.Emulator`
exactly as ``python -m ccai_airflow.emulator`` does (same class, same controls on its REST port) and
prints one JSON line ``{"grpc_target", "rest_url", "times_url"}``. ``GET {times_url}/GetOperation``
answers ``Emulator.call_times("GetOperation")``: arrival times of the calls (``time.monotonic``, which
is system-wide on Linux, so comparable with the benchmark's own clock). Stops on SIGTERM/SIGINT.

``--grpc-max-pending N`` raises grpc-core's cap on requests waiting for the server's handlers
(``grpc.server.max_pending_requests``, soft and hard limit): past its defaults grpc-core answers CANCELLED,
which the emulator as shipped does when thousands of calls arrive at once. Left unset, the server is exactly
the bundled one.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

import grpc

from ccai_airflow.emulator import Emulator


def _times_server(emulator: Emulator) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(emulator.call_times(self.path.strip("/"))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def _raise_pending_cap(limit: int) -> None:
    server = grpc.aio.server
    extra = [("grpc.server.max_pending_requests", limit), ("grpc.server.max_pending_requests_hard_limit", limit)]

    def with_cap(*args: object, options: list[tuple[str, object]] | None = None, **kwargs: object) -> object:
        return server(*args, options=[*(options or []), *extra], **kwargs)  # type: ignore[arg-type]

    grpc.aio.server = with_cap  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--operation-seconds", type=float, default=2.0)
    parser.add_argument("--grpc-max-pending", type=int, default=None)
    args = parser.parse_args(argv)
    if args.grpc_max_pending:
        _raise_pending_cap(args.grpc_max_pending)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Emulator(operation_seconds=args.operation_seconds, seed=1) as emulator:
        server = _times_server(emulator)
        thread = threading.Thread(target=server.serve_forever, name="call-times", daemon=True)
        thread.start()
        try:
            info = {**emulator.info(), "times_url": f"http://127.0.0.1:{server.server_address[1]}"}
            print(json.dumps(info), flush=True)
            while not stop.wait(0.2):
                pass
        finally:
            server.shutdown()
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
