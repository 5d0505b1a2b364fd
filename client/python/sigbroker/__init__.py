# SPDX-License-Identifier: LGPL-2.1-or-later
"""sigbroker: send and receive signals through sigbrokerd.

A thin layer over libsigbroker (the C extension ``sigbroker._sigbroker``):
targets, ``connect()`` and asyncio support. docs/python.md has examples.
"""

from __future__ import annotations

import asyncio
import os
import select
from dataclasses import dataclass
from typing import AsyncIterator, Optional, Tuple, Union

from ._sigbroker import (
    PRIORITY_MAX,
    SIGNO_MAX,
    SendResult,
    Signal,
    signal_name,
    signal_number,
    socket_path,
)
from . import _sigbroker

__all__ = [
    "Broadcast",
    "Client",
    "Connection",
    "Group",
    "Pgid",
    "Pid",
    "PRIORITY_MAX",
    "SIGNO_MAX",
    "SendResult",
    "Sid",
    "Signal",
    "Target",
    "connect",
    "signal_name",
    "signal_number",
    "socket_path",
]


def _check_id(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"a pid, pgid, sid or client id is an int, not {type(n).__name__}")
    if not 0 <= n < 2**64:
        raise ValueError(f"a pid, pgid, sid or client id is 0 or more, not {n}")


@dataclass(frozen=True)
class Pid:
    """The process with this pid."""

    pid: int

    def __post_init__(self) -> None:
        _check_id(self.pid)

    @property
    def _target(self) -> Tuple[int, int, None]:
        return (_sigbroker.TARGET_PID, self.pid, None)


@dataclass(frozen=True)
class Pgid:
    """Every process of this process group."""

    pgid: int

    def __post_init__(self) -> None:
        _check_id(self.pgid)

    @property
    def _target(self) -> Tuple[int, int, None]:
        return (_sigbroker.TARGET_PGID, self.pgid, None)


@dataclass(frozen=True)
class Sid:
    """Every process of this session."""

    sid: int

    def __post_init__(self) -> None:
        _check_id(self.sid)

    @property
    def _target(self) -> Tuple[int, int, None]:
        return (_sigbroker.TARGET_SID, self.sid, None)


@dataclass(frozen=True)
class Group:
    """Every member of the named group (see Connection.join())."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"a group name is a str, not {type(self.name).__name__}")

    @property
    def _target(self) -> Tuple[int, int, str]:
        return (_sigbroker.TARGET_GROUP, 0, self.name)


@dataclass(frozen=True)
class Client:
    """The client with this id (Connection.client_id)."""

    id: int

    def __post_init__(self) -> None:
        _check_id(self.id)

    @property
    def _target(self) -> Tuple[int, int, None]:
        return (_sigbroker.TARGET_CLIENT, self.id, None)


@dataclass(frozen=True)
class Broadcast:
    """Every subscriber of the signal that the sender may signal."""

    @property
    def _target(self) -> Tuple[int, int, None]:
        return (_sigbroker.TARGET_BROADCAST, 0, None)


Target = Union[Pid, Pgid, Sid, Group, Client, Broadcast]


class Connection(_sigbroker.Connection):
    """A client of sigbrokerd: send(), subscribe(), wait()...

    Use it as a context manager, or close() it. One thread at a time:
    a second thread calling in while one waits gets RuntimeError.
    """

    async def signals(self) -> AsyncIterator[Signal]:
        """Signals as they arrive, for ``async for`` in asyncio.

        The connection's socket is watched with loop.add_reader(); the
        loop never blocks in here.
        """
        loop = asyncio.get_running_loop()
        fd = self.fileno()
        while True:
            sig = self.wait(0)
            if sig is not None:
                yield sig
                continue
            ready: asyncio.Future[None] = loop.create_future()

            def wake() -> None:
                if not ready.done():
                    ready.set_result(None)

            loop.add_reader(fd, wake)
            writer = bool(self.events() & select.POLLOUT)
            if writer:
                loop.add_writer(fd, wake)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
                if writer:
                    loop.remove_writer(fd)


def connect(path: Optional[Union[str, os.PathLike[str]]] = None, window: int = 0) -> Connection:
    """Connect to sigbrokerd.

    path: None picks $SIGBROKER_SOCKET, the user's or the system's
    socket as libsigbroker does; '@name' is an abstract socket.
    window: deliveries in flight before we acknowledge (0: the daemon's).
    """
    return Connection(path, window)
