"""Process plumbing: detached spawning, identity checks through /proc, stopping, ports and logs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from streams.stack.errors import StackError

# Children spawned by this Python process, kept so they are reaped (no zombies) and not reported
# by Popen.__del__ as still running; services started by another process are watched via /proc.
_children: dict[int, subprocess.Popen[bytes]] = {}

_POLL_SECONDS = 0.1
_KILL_WAIT_SECONDS = 5.0
_EXEC_WAIT_SECONDS = 2.0


def spawn(argv: Sequence[str], cwd: Path, log: Path) -> int:
    """Start ``argv`` in its own session with output appended to ``log``; returns its pid."""
    with log.open("ab") as out:
        out.write(f"--- openlab: starting {' '.join(argv)}\n".encode())
        out.flush()
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children[child.pid] = child
    # Popen returns during the kernel's exec, before the new command line shows in /proc; wait
    # for it so the identity check on the pid file cannot disown the new process.
    deadline = time.monotonic() + _EXEC_WAIT_SECONDS
    while not command_line(child.pid) and is_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.001)
    return child.pid


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as dead)."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def command_line(pid: int) -> list[str]:
    """The arguments of process ``pid``; empty when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def terminate(pid: int, grace_seconds: float) -> None:
    """SIGTERM ``pid``, wait up to ``grace_seconds`` for it to exit, then SIGKILL it."""
    if not _signal_and_wait(pid, signal.SIGTERM, grace_seconds) and not _signal_and_wait(
        pid, signal.SIGKILL, _KILL_WAIT_SECONDS
    ):
        raise StackError(f"process {pid} did not exit even after SIGKILL")


def kill(pid: int) -> None:
    """SIGKILL ``pid`` (no shutdown at all, as a crash or a power cut) and wait until it is gone."""
    if not _signal_and_wait(pid, signal.SIGKILL, _KILL_WAIT_SECONDS):
        raise StackError(f"process {pid} did not exit after SIGKILL")


def _signal_and_wait(pid: int, sig: signal.Signals, seconds: float) -> bool:
    """Send ``sig`` to ``pid``; whether the process is gone within ``seconds``."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + seconds
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of the text file ``path`` (a note when it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])
