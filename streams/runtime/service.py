"""The batch consumers of a worker as one service of its Faust app.

It makes the topics they need, runs them until the worker stops, lets each finish its batch in
hand (and store what it hands over: the pass's checkpoints), and closes the InfluxDB writers.
Should a consumer fail beyond what it handles itself (a partition's state that cannot be
restored), the service crashes, and with it the worker (exit status 1), so that whatever
supervises the worker starts it again rather than leave it idle in the group, or running on
empty state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mode import Service

from streams.runtime.consumer import BatchConsumer
from streams.sinks.influx import InfluxWriter

log = logging.getLogger(__name__)

FINISH_SECONDS = 60.0
"""How long a stopping worker waits for the batches in hand."""


class ConsumersService(Service):
    """Runs ``consumers`` for as long as the worker runs, once ``prepare`` (the topics) is done."""

    def __init__(
        self,
        consumers: Sequence[BatchConsumer],
        prepare: Callable[[], Awaitable[Any]],
        writers: Sequence[InfluxWriter],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.consumers = list(consumers)
        self.prepare = prepare
        self.writers = list(writers)

    @Service.task
    async def _consume(self) -> None:
        await self.prepare()
        await asyncio.gather(*(consumer.run() for consumer in self.consumers))

    async def on_stop(self) -> None:
        try:
            async with asyncio.timeout(FINISH_SECONDS):
                await asyncio.gather(*(consumer.finish() for consumer in self.consumers))
        except TimeoutError:
            log.warning("the worker's consumers did not finish their batches within %.0f s", FINISH_SECONDS)

    async def on_shutdown(self) -> None:
        for writer in self.writers:
            await writer.close()
