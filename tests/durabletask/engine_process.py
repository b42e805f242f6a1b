"""Runs the sample app's task hub in its own process, so a test can kill it mid-flight.

`python -m tests.durabletask.engine_process DB start NAME INPUT` starts an orchestration and
keeps running; `... DB resume ID` resumes whatever is unfinished and prints the instance's
final status as JSON when it completes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from aiohttp import web

from devhost.durabletask import DurableEngine
from tests.durabletask.sample_app import app


async def main(db: Path, command: str, *args: str) -> None:
    engine = DurableEngine(app.get_functions(), db_path=db)
    runner = web.AppRunner(web.Application())
    await runner.setup()
    await engine.start()
    if command == "start":
        instance = engine.start_new(args[0], None, args[1])
        print(json.dumps({"instance": instance}), flush=True)
        await asyncio.sleep(3600)
    else:
        finished = await engine.wait_finished(args[0], timeout=60)
        print(json.dumps({"status": finished.status, "output": finished.output}), flush=True)
    await engine.stop()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), *sys.argv[2:]))
