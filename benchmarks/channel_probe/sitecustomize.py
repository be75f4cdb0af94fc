"""Measurement only, for ``make bench-deployment``: counts the gRPC asyncio channels a process creates.

On ``PYTHONPATH`` of the benchmark's triggerer only, with ``CCAI_BENCH_CHANNELS_DIR`` set: every
``grpc.aio`` channel built in the triggerer or its runner subprocess (by our hooks, by the peer
trigger, by anything else) adds one to this process's count, written to ``<dir>/<pid>`` at once.
Channels are what a trigger creates; TCP connections can be fewer, since gRPC shares subchannels
between channels with the same target and options (``grpc_connections`` on the emulator counts those).
"""

from __future__ import annotations

import os

_DIR = os.environ.get("CCAI_BENCH_CHANNELS_DIR")

if _DIR:
    import threading

    _FOLDER: str = _DIR
    from grpc.aio import _channel

    _lock = threading.Lock()
    _count = {"pid": os.getpid(), "n": 0}
    _original_init = _channel.Channel.__init__

    def _counting_init(self: object, *args: object, **kwargs: object) -> None:
        _original_init(self, *args, **kwargs)  # type: ignore[arg-type]
        with _lock:
            if _count["pid"] != os.getpid():  # a forked child counts its own
                _count.update(pid=os.getpid(), n=0)
            _count["n"] += 1
            with open(os.path.join(_FOLDER, str(_count["pid"])), "w") as out:
                out.write(str(_count["n"]))

    _channel.Channel.__init__ = _counting_init  # type: ignore[method-assign]
