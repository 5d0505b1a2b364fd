# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures of the Python module's tests: a real sigbrokerd on a socket of
its own (SIGBROKERD, set by meson), connections to it, and two real users
for the permission tests."""

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

import sigbroker

USER1 = "sbtest1"
USER2 = "sbtest2"


class Daemon:
    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="sbpy-")
        os.chmod(self.dir, 0o755)
        self.socket = os.path.join(self.dir, "sock")
        self.log = open(os.path.join(self.dir, "daemon.log"), "w")
        binary = os.environ.get("SIGBROKERD")
        if not binary:
            pytest.skip("SIGBROKERD is not set: run through meson test")
        self.proc = subprocess.Popen(
            [binary, "--socket", self.socket, "--config", "/dev/null", *args],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self._listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("sigbrokerd did not start: " + open(self.log.name).read())
            time.sleep(0.02)

    def _listening(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def connect(self, window=0):
        return sigbroker.connect(self.socket, window)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon():
    d = Daemon()
    yield d
    d.stop()


@pytest.fixture
def make_daemon():
    """Daemons with options of their own, stopped after the test."""
    started = []

    def make(*args):
        d = Daemon(*args)
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop()


@pytest.fixture
def conn(daemon):
    with daemon.connect() as c:
        yield c


def _ensure(check, cmd):
    # useradd fails while another one holds the lock on /etc/passwd (the
    # C tests may be creating the same users): try again.
    for _ in range(50):
        if check():
            return
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError("cannot run " + " ".join(cmd))


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="session")
def users():
    """Two real users, neither in the other's group: (name, uid) each."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run processes as other users")
    if not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("needs useradd and setpriv")
    for name in (USER1, USER2):
        _ensure(lambda n=name: _user_exists(n),
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
    return [(n, pwd.getpwnam(n).pw_uid) for n in (USER1, USER2)]


def as_user(user, *argv, **kwargs):
    """Popen argv as user (real, effective and saved ids, no extra groups),
    with this interpreter and this module."""
    pw = pwd.getpwnam(user)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.Popen(
        ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", "--", *argv],
        env=env, **kwargs)


def python_as(user, code, *args, **kwargs):
    return as_user(user, sys.executable, "-c", code, *args, **kwargs)


def read_line(proc, timeout=10):
    """The next line of proc's stdout (a pipe), or fail after timeout."""
    import select
    r, _, _ = select.select([proc.stdout], [], [], timeout)
    assert r, "no line from the child in time"
    return proc.stdout.readline().decode().strip()


def kill_quietly(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)
