# SPDX-License-Identifier: LGPL-2.1-or-later
"""asyncio: `async for sig in conn.signals()` receives what sigbrokerctl
sends, while the loop keeps running other tasks."""

import asyncio
import os

import pytest

import sigbroker


def ctl():
    path = os.environ.get("SIGBROKERCTL")
    if not path:
        pytest.skip("SIGBROKERCTL is not set: run through meson test")
    return path


async def ctl_send(daemon, *args):
    p = await asyncio.create_subprocess_exec(ctl(), "--socket", daemon.socket, "send", *args,
                                             stdout=asyncio.subprocess.PIPE)
    out, _ = await p.communicate()
    assert p.returncode == 0, out
    return out.decode()


def test_async_for_receives_from_sigbrokerctl(daemon):
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        with daemon.connect() as c:
            c.subscribe("HUP", "RTMIN+1")
            c.join("web")
            t = asyncio.create_task(ticker())
            sender = asyncio.gather(
                ctl_send(daemon, "--pid", str(os.getpid()), "--payload", "one", "RTMIN+1"),
                ctl_send(daemon, "--group", "web", "--payload", "two", "RTMIN+1"),
            )
            got = []
            async for sig in c.signals():
                got.append(sig)
                if len(got) == 2:
                    break
            await sender
            # A standard signal after the iterator was left and resumed.
            hup = asyncio.create_task(ctl_send(daemon, "--group", "web", "HUP"))
            async for sig in c.signals():
                got.append(sig)
                break
            await hup
            t.cancel()
        return got, ticks

    got, ticks = asyncio.run(asyncio.wait_for(main(), 20))
    assert sorted(s.payload for s in got[:2]) == [b"one", b"two"]
    assert all(s.name == "RTMIN+1" and s.sender_uid == os.getuid() for s in got[:2])
    assert got[2].name == "HUP"
    assert ticks > 0            # the loop was not blocked


def test_async_for_ends_with_the_connection(make_daemon):
    d = make_daemon()

    async def main():
        with d.connect() as c:
            c.subscribe("USR1")
            asyncio.get_running_loop().call_later(0.2, d.proc.terminate)
            async for _ in c.signals():
                pass

    with pytest.raises(ConnectionResetError):
        asyncio.run(asyncio.wait_for(main(), 20))
