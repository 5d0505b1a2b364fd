# SPDX-License-Identifier: LGPL-2.1-or-later
"""The broker's semantics seen from Python, as the C integration tests
check them: order, coalescing, full queues (EAGAIN), groups, the blocked
set, handlers run by dispatch()."""

import errno
import os
import select
import signal

import pytest

import sigbroker

ME = sigbroker.Pid(os.getpid())


def drain(c, timeout=5):
    out = []
    while True:
        s = c.wait(timeout if not out else 0.2)
        if s is None:
            return out
        out.append(s)


def test_order_priority_then_number_then_sent(daemon):
    # window 1: everything after the first waits in the broker's queue,
    # where priority, then signal number, then send order decide.
    with daemon.connect(window=1) as rx, daemon.connect() as tx:
        rx.subscribe("RTMIN", "RTMIN+1", "RTMIN+2")
        tx.send(ME, "RTMIN+2", b"first")
        sends = [("RTMIN+2", 0, b"a"), ("RTMIN+1", 0, b"b"), ("RTMIN+2", 5, b"c"),
                 ("RTMIN", 0, b"d"), ("RTMIN+1", 0, b"e"), ("RTMIN+2", 5, b"f")]
        for sig, prio, payload in sends:
            assert tx.send(ME, sig, payload, prio).queued == 1
        got = [s.payload for s in drain(rx)]
        assert got == [b"first", b"c", b"f", b"d", b"b", b"e", b"a"]


def test_standard_signals_coalesce(daemon):
    with daemon.connect(window=1) as rx, daemon.connect() as tx:
        rx.subscribe("USR1", "USR2")
        tx.send(ME, "USR2")                     # takes the window
        assert tx.send(ME, "USR1").queued == 1
        r = tx.send(ME, "USR1")
        assert (r.queued, r.merged) == (0, 1)
        assert tx.send(ME, "USR1").merged == 1
        got = drain(rx)
        assert [(s.name, s.merged) for s in got] == [("USR2", 0), ("USR1", 2)]
        # Real-time signals queue, each with its payload.
        rx.subscribe("RTMIN+3")
        for i in range(3):
            assert tx.send(ME, "RTMIN+3", bytes([i])).queued == 1
        assert [s.payload for s in drain(rx)] == [b"\0", b"\1", b"\2"]


def test_full_queue_is_eagain(make_daemon):
    d = make_daemon("--max-queue", "4")
    with d.connect(window=1) as rx, d.connect() as tx:
        rx.subscribe("RTMIN")
        sent = 0
        with pytest.raises(BlockingIOError) as e:
            for _ in range(100):
                tx.send(ME, "RTMIN", b"%d" % sent)
                sent += 1
        assert e.value.errno == errno.EAGAIN
        assert e.value.result.refused == 1 and e.value.result.queued == 0
        got = drain(rx)
        assert [s.payload for s in got] == [b"%d" % i for i in range(sent)]
        # Taken: room again.
        assert tx.send(ME, "RTMIN").queued == 1


def test_drop_oldest_reports_a_gap(make_daemon):
    d = make_daemon("--max-queue", "2")
    with d.connect(window=1) as rx, d.connect() as tx:
        rx.subscribe("RTMIN", drop_oldest=True)
        for i in range(6):
            tx.send(ME, "RTMIN", b"%d" % i)
        got = drain(rx)
        gaps = [s for s in got if s.gap]
        assert gaps and sum(s.lost for s in gaps) > 0
        assert got[-1].payload == b"5"


def test_groups(daemon):
    with daemon.connect() as a, daemon.connect() as b, daemon.connect() as tx:
        a.subscribe("USR1")
        b.subscribe("USR1")
        a.join("web")
        b.join("web")
        b.join("db")
        assert tx.send(sigbroker.Group("web"), "USR1", b"w").queued == 2
        assert a.wait(5).payload == b"w" and b.wait(5).payload == b"w"
        assert tx.send(sigbroker.Group("db"), "USR1").queued == 1
        assert b.wait(5) is not None and a.wait(0.1) is None
        b.leave("web")
        assert tx.send(sigbroker.Group("web"), "USR1").queued == 1
        assert a.wait(5) is not None and b.wait(0.1) is None
        with pytest.raises(ProcessLookupError):
            tx.send(sigbroker.Group("nobody-here"), "USR1")
        with pytest.raises(OSError) as e:
            a.join("not a valid name")
        assert e.value.errno == errno.EINVAL


def test_block_holds_back_in_order(daemon):
    with daemon.connect() as rx, daemon.connect() as tx:
        rx.subscribe("RTMIN", "RTMIN+1")
        assert rx.block("RTMIN") == frozenset()
        tx.send(ME, "RTMIN", b"1")
        tx.send(ME, "RTMIN+1", b"2")
        tx.send(ME, "RTMIN", b"3")
        assert rx.wait(5).payload == b"2"
        assert rx.wait(0.1) is None
        assert rx.unblock("RTMIN") == frozenset({34})
        assert [s.payload for s in drain(rx)] == [b"1", b"3"]
        assert rx.sigmask(signal.SIG_SETMASK, ["RTMIN+1", 40]) == frozenset()
        assert rx.sigmask(signal.SIG_SETMASK, []) == frozenset({35, 40})
        with pytest.raises(ValueError):
            rx.sigmask(99, [])


def run_until(c, done, timeout=5.0):
    """An event loop: poll the connection's fd for its events(), dispatch()."""
    p = select.poll()
    for _ in range(int(timeout * 100)):
        if done():
            return
        p.register(c.fileno(), c.events())     # ask again after every call
        p.poll(10)
        c.dispatch()
    assert done(), "the handlers did not run in time"


def test_handlers_and_dispatch_in_a_poll_loop(daemon):
    with daemon.connect() as rx, daemon.connect() as tx:
        got = []
        rx.subscribe("USR1", "USR2")
        rx.set_handler("USR1", got.append)
        rx.set_handler(signal.SIGUSR2, lambda s: got.append(("once", s.signo)), oneshot=True)
        tx.send(ME, "USR1", b"p")
        run_until(rx, lambda: len(got) == 1)
        assert got[0].signo == signal.SIGUSR1 and got[0].payload == b"p"
        tx.send(ME, "USR2")
        run_until(rx, lambda: len(got) == 2)
        assert got[1] == ("once", signal.SIGUSR2)
        # The oneshot handler is gone: the next USR2 waits for wait().
        tx.send(ME, "USR2")
        for _ in range(20):
            rx.dispatch()
        assert len(got) == 2
        assert rx.wait(5).signo == signal.SIGUSR2

        def boom(s):
            raise KeyError("from the handler")
        rx.set_handler("USR1", boom)
        tx.send(ME, "USR1")
        with pytest.raises(KeyError):
            run_until(rx, lambda: False)
        rx.set_handler("USR1", None)
        with pytest.raises(TypeError):
            rx.set_handler("USR1", 42)
