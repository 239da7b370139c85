"""A batch in hand for too long: logged once, with where each of the worker's tasks waits."""

from __future__ import annotations

import asyncio
import io
import logging

log = logging.getLogger(__name__)

STALL_SECONDS = 60.0
"""A batch still in hand after this long is logged, once, with the stack of each of the worker's
tasks: a stalled worker says where it waits (an outage it waits out shows there too)."""


def log_stall(group: str, events: int) -> None:
    """Log that a batch of ``events`` of ``group`` has stalled, with the stack of each task of the
    worker."""
    stacks = []
    for task in asyncio.all_tasks():
        frames = io.StringIO()
        task.print_stack(file=frames)
        stacks.append(frames.getvalue())
    log.warning(
        "%s: a batch of %d events has been in hand for %.0f s; the worker's tasks:\n%s",
        group,
        events,
        STALL_SECONDS,
        "\n".join(stacks),
    )
