"""The Faust worker: in the foreground (``openlab worker``) or as a child process of a job."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
from pathlib import Path

import faust

from streams.app import build_app
from streams.city import load_city
from streams.settings import Settings

GC_THRESHOLDS = (50_000, 20, 100)
"""The cyclic garbage collector's thresholds in a worker (Python's default: 700, 10, 10)."""


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run the worker until it is told to stop (SIGTERM or Ctrl-C)."""
    app = build_app(settings, load_city(settings))
    tune_garbage_collector()
    faust.Worker(app, loglevel=loglevel).execute_from_commandline()


def tune_garbage_collector() -> None:
    """Set the garbage collector for the pass, once the long-lived objects of start-up exist.

    The pass allocates a few objects per reading, almost none of them in reference cycles, and
    holds tens of thousands of long-lived ones (every sensor's detector and state). With Python's
    default thresholds the collector ran every few readings and its older generations walked the
    detectors again and again: a quarter of the pass's CPU (``bench stages``: 54 µs a reading,
    40 µs without it). So the city's registry and the app are frozen out of the collector's
    sight, and its youngest generation is collected every 50,000 allocations instead of 700.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment of a worker process: this one's, with exactly ``settings`` as OPENLAB_*.

    No OPENLAB_* variable of the parent shell leaks through, so a setting that ``settings``
    leaves unset (``None``) stays unset in the child.
    """
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("OPENLAB_")}
    return {**inherited, **settings.as_environment()}


def start_worker(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    """Start a worker process with ``settings``, its output going to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = worker_environment(settings)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streams", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop_worker(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """Ask the worker to finish (SIGTERM), and kill it if it has not within ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
