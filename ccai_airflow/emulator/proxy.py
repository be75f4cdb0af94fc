"""A TCP relay in front of the gRPC server, so that a fault can drop the connection a call is on.

A Google front end can lose a connection in the middle of a call (a GFE restart, a load balancer
draining); the gRPC client then reports UNAVAILABLE and opens a new connection for the next call.
grpc.aio gives a handler no way to close its own connection, so the emulator's gRPC port is this
relay: each client connection gets its own upstream connection to the real server, whose local port
is the ``context.peer()`` the handler sees, so the handler can name the connection to close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable

log = logging.getLogger(__name__)
_CHUNK = 256 * 1024


class GrpcProxy:
    """Relays ``host:port`` to the gRPC server at ``upstream``; :meth:`drop` aborts one relayed connection."""

    def __init__(self, upstream_host: str, upstream_port: int, on_accept: Callable[[], object] | None = None) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._on_accept = on_accept  # told of every client connection (what a gRPC channel opens)
        self._server: asyncio.Server | None = None
        # upstream local port (what the gRPC server sees as the peer's port) -> both ends of the relay
        self._pairs: dict[int, tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = {}
        self.dropped = 0

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: a free port); return the port."""
        self._server = await asyncio.start_server(self._relay, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for client, upstream in list(self._pairs.values()):
            client.transport.abort()
            upstream.transport.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def drop(self, peer: str) -> bool:
        """Abort the connection the gRPC server sees as ``peer`` (``ipv4:127.0.0.1:54321``), both sides."""
        try:
            port = int(peer.rsplit(":", 1)[1])
        except (IndexError, ValueError):
            return False
        pair = self._pairs.pop(port, None)
        if pair is None:
            return False
        for writer in pair:
            # A reset, not a FIN: buffered bytes are discarded and the client's next read or write fails at once,
            # as when a front end's connection goes away.
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self.dropped += 1
        return True

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._on_accept is not None:
            self._on_accept()
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            log.exception("gRPC relay: cannot reach the emulator's gRPC server")
            client_writer.transport.abort()
            return
        port = int(upstream_writer.get_extra_info("sockname")[1])
        self._pairs[port] = (client_writer, upstream_writer)
        try:
            await asyncio.gather(
                _pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer), return_exceptions=True
            )
        finally:
            self._pairs.pop(port, None)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()  # one side ended: end the other, as a direct connection would
