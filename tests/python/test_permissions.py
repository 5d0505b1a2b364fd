# SPDX-License-Identifier: LGPL-2.1-or-later
"""The kill(2) rule across real users, through the Python module on both
ends: a receiver running as USER1; senders root, USER1 and USER2."""

import errno
import signal

import pytest

import sigbroker
from conftest import kill_quietly, python_as, read_line

RECEIVER = """
import sys, sigbroker
with sigbroker.connect(sys.argv[1]) as c:
    c.subscribe("USR1", "RTMIN+1")
    c.join("perm")
    print("ready", flush=True)
    while True:
        s = c.wait()
        print(s.name, s.sender_uid, s.payload.decode(), flush=True)
"""

SENDER = """
import sys, sigbroker
target = sigbroker.Pid(int(sys.argv[2])) if sys.argv[2] != "group" else sigbroker.Group("perm")
with sigbroker.connect(sys.argv[1]) as c:
    try:
        r = c.send(target, sys.argv[3], sys.argv[4].encode())
        print("ok", r.queued, r.denied)
    except OSError as e:
        print(type(e).__name__, e.errno, e.result.denied)
"""


def send_as(user, daemon, target, sig, payload):
    import subprocess
    p = python_as(user, SENDER, daemon.socket, str(target), sig, payload, stdout=subprocess.PIPE)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 0
    return out.decode().split()


def test_kill_rule_across_users(daemon, users):
    import subprocess
    (u1, uid1), (u2, uid2) = users
    rx = python_as(u1, RECEIVER, daemon.socket, stdout=subprocess.PIPE)
    try:
        assert read_line(rx) == "ready"
        # Root may signal anyone.
        with daemon.connect() as tx:
            assert tx.send(sigbroker.Pid(rx.pid), "USR1", b"root").queued == 1
        assert read_line(rx) == "USR1 0 root"
        # The same user may.
        assert send_as(u1, daemon, rx.pid, "RTMIN+1", "same") == ["ok", "1", "0"]
        assert read_line(rx) == f"RTMIN+1 {uid1} same"
        # Another user may not: PermissionError, counted as denied.
        assert send_as(u2, daemon, rx.pid, "USR1", "other") == ["PermissionError", str(errno.EPERM), "1"]
        assert send_as(u2, daemon, "group", "USR1", "other") == ["PermissionError", str(errno.EPERM), "1"]
        # ... and nothing reached the receiver: the next line is root's.
        with daemon.connect() as tx:
            tx.send(sigbroker.Group("perm"), signal.SIGUSR1, b"after")
        assert read_line(rx) == "USR1 0 after"
    finally:
        kill_quietly(rx)
