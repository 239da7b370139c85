"""A real webhook receiver on 127.0.0.1 and ``openlab alerts subscribe`` processes that forward
to it, for the tests of alarm delivery."""

from __future__ import annotations

import asyncio
import hmac
import json
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from streams.owners.subscriber import SIGNATURE_HEADER, sign
from streams.settings import Settings
from streams.worker import worker_environment

SECRET = "webhook-secret"


class Receiver:
    """A webhook that checks signatures and counts each alarm event it took, by alarm id and
    update number. It can hold one request without answering (``hold_at``: the n-th, from 1),
    as a receiver would whose answer never reaches a subscriber killed meanwhile: that event
    counts as received, and comes again."""

    def __init__(self, *, delay: float = 0.0, hold_at: int | None = None) -> None:
        self.received: Counter[tuple[str, int]] = Counter()
        self.bad_signatures = 0
        self.requests = 0
        self.delay = delay
        self.hold_at = hold_at
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self.url = ""

    async def take(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), sign(body, SECRET)):
            self.bad_signatures += 1
            return web.Response(status=401)
        self.requests += 1
        event = json.loads(body)
        self.received[(event["alarm_id"], event.get("sequence", 0))] += 1
        if self.requests == self.hold_at:
            self.holding.set()
            await self.release.wait()
        await asyncio.sleep(self.delay)
        return web.Response(status=204)

    def duplicates(self) -> dict[tuple[str, int], int]:
        """The events that came more than once, and how many times."""
        return {event: n for event, n in self.received.items() if n > 1}

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[Receiver]:
        """Listen on a free port of 127.0.0.1 (``self.url``) until the block ends."""
        app = web.Application()
        app.router.add_post("/hook", self.take)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        try:
            yield self
        finally:
            self.release.set()
            await runner.cleanup()


def subscriber(settings: Settings, owner: str, password: str, url: str, log: Path) -> subprocess.Popen[bytes]:
    """``openlab alerts subscribe --webhook URL`` as ``owner``, in a process of its own."""
    environment = worker_environment(
        settings.model_copy(update={"owner_id": owner, "owner_password": password, "webhook_secret": SECRET})
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams", "alerts", "subscribe", "--webhook", url, "--name", "hook"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
