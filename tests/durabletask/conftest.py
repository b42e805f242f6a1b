from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import azure.durable_functions as df
from aiohttp import web
from azure.durable_functions.models.utils import http_utils

from devhost.durabletask import DurableEngine
from tests.durabletask.sample_app import app

FUNCTIONS = app.get_functions()  # the app may be indexed only once


@dataclass
class Hub:
    engine: DurableEngine
    client: df.DurableOrchestrationClient

    async def run(self, name: str, value: object = None, timeout: float = 20) -> object:
        instance = await self.client.start_new(name, None, value)
        return await self.finish(instance, timeout)

    async def finish(self, instance: str, timeout: float = 20) -> df.DurableOrchestrationStatus:
        await self.engine.wait_finished(instance, timeout)
        return await self.client.get_status(instance, show_history=True)


@asynccontextmanager
async def _hub(tmp_path: Path, concurrency: int = 16) -> AsyncIterator[Hub]:
    engine = DurableEngine(FUNCTIONS, db_path=tmp_path / "hub.sqlite",
                           activity_concurrency=concurrency)  # fmt: skip
    application = web.Application()
    engine.add_routes(application)
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    engine.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    await engine.start()
    try:
        yield Hub(engine, df.DurableOrchestrationClient(engine.client_binding()))
    finally:
        await engine.stop()
        await runner.cleanup()


def run_with_hub(tmp_path: Path, scenario, concurrency: int = 16):
    """Run `scenario(hub)` on a fresh event loop (the SDK client needs one loop throughout)."""

    async def go():
        try:
            async with _hub(tmp_path, concurrency) as hub:
                return await scenario(hub)
        finally:
            await http_utils._close_session()  # the SDK's session belongs to this loop

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(go())
    finally:
        loop.close()
