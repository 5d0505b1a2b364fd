# SPDX-License-Identifier: LGPL-2.1-or-later
"""Connections, sends and signals one by one: every field, errors as the
right OSError subclasses, names and numbers."""

import errno
import os
import signal

import pytest

import sigbroker


def test_connect_close_context_manager(daemon):
    c = daemon.connect()
    assert not c.closed
    pid, uid, gid = c.identity
    assert (pid, uid, gid) == (os.getpid(), os.getuid(), os.getgid())
    assert c.client_id > 0
    max_payload, max_queue = c.limits
    assert max_payload > 0 and max_queue > 0
    c.close()
    assert c.closed
    c.close()                   # idempotent
    with pytest.raises(ValueError):
        c.fileno()
    with daemon.connect() as c2:
        assert c2.fileno() >= 0
    assert c2.closed


def test_connect_errors(daemon):
    with pytest.raises(FileNotFoundError):
        sigbroker.connect(daemon.socket + ".nonexistent")
    assert sigbroker.socket_path(daemon.socket) == daemon.socket


def test_signal_names():
    assert sigbroker.signal_number("RTMIN+1") == 35
    assert sigbroker.signal_number("SIGUSR1") == signal.SIGUSR1
    assert sigbroker.signal_number("usr2") == signal.SIGUSR2
    assert sigbroker.signal_number(signal.SIGHUP) == 1
    assert sigbroker.signal_number("RTMAX") == 64
    assert sigbroker.signal_name(35) == "RTMIN+1"
    assert sigbroker.signal_name("SIGHUP") == "HUP"
    with pytest.raises(ValueError):
        sigbroker.signal_number("NOSUCHSIG")
    with pytest.raises(ValueError):
        sigbroker.signal_number(65)
    with pytest.raises(TypeError):
        sigbroker.signal_number(1.5)


def test_send_to_self_every_field(daemon):
    with daemon.connect() as rx, daemon.connect() as tx:
        rx.subscribe("RTMIN+1", signal.SIGUSR2)
        res = tx.send(sigbroker.Pid(os.getpid()), "RTMIN+1", b"hello\0world", priority=7)
        assert res == (1, 0, 0, 0)
        assert (res.queued, res.merged, res.refused, res.denied) == (1, 0, 0, 0)
        s = rx.wait(5)
        assert s is not None
        assert s.signo == 35 and s.name == "RTMIN+1"
        assert s.priority == 7
        assert s.payload == b"hello\0world"
        assert (s.sender_pid, s.sender_uid, s.sender_gid) == (os.getpid(), os.getuid(), os.getgid())
        assert s.sender_client_id == tx.client_id
        assert s.seq == 1 and s.merged == 0 and not s.gap and s.lost == 0
        assert s.realtime_ns > 0 and s.monotonic_ns > 0
        # Targets by client id, process group, session, broadcast.
        for target in (sigbroker.Client(rx.client_id), sigbroker.Pgid(os.getpgid(0)),
                       sigbroker.Sid(os.getsid(0)), sigbroker.Broadcast()):
            assert tx.send(target, signal.SIGUSR2).queued == 1
            s = rx.wait(5)
            assert s.signo == signal.SIGUSR2 and s.payload == b""
        assert rx.wait(0) is None


def test_send_errors(daemon):
    with daemon.connect() as tx:
        with pytest.raises(ProcessLookupError) as e:
            tx.send(sigbroker.Pid(4194305), "USR1")
        assert e.value.errno == errno.ESRCH
        assert e.value.result.queued == 0
        max_payload, _ = tx.limits
        with pytest.raises(OSError) as e:
            tx.send(sigbroker.Pid(os.getpid()), "RTMIN", b"x" * (max_payload + 1))
        assert e.value.errno == errno.EMSGSIZE
        with pytest.raises(ValueError):
            tx.send(sigbroker.Pid(1), "USR1", priority=100)
        with pytest.raises(TypeError):
            tx.send(1234, "USR1")
        with pytest.raises(ValueError):
            sigbroker.Pid(-1)
        with pytest.raises(TypeError):
            sigbroker.Group(b"web")
        with pytest.raises(ValueError):
            tx.send(sigbroker.Pid(1), "NOSUCHSIG")
        with pytest.raises(OSError) as e:
            tx.send(sigbroker.Group("bad name!"), "USR1")
        assert e.value.errno == errno.EINVAL
        # Signal 0 probes: nothing delivered.
        with daemon.connect() as rx:
            rx.subscribe("USR1")
            tx.send(sigbroker.Pid(os.getpid()), 0)
            assert rx.wait(0.1) is None


def test_wait_timeout_and_window(daemon):
    with daemon.connect(window=4) as c:
        assert c.window == 4
        c.window = 8
        assert c.window == 8
        with pytest.raises(ValueError):
            c.window = 0
        c.subscribe("USR1")
        assert c.wait(0) is None
        assert c.wait(0.05) is None
        with pytest.raises(ValueError):
            c.wait(-1)
        with pytest.raises(TypeError):
            c.subscribe()
