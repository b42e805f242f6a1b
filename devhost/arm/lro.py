"""Long-running operations the way ARM runs them, so the SDKs' pollers run unchanged.

An operation is accepted at once (the spec's 200/201/202 with the resource body where it has
one) and finishes in a worker thread. The first answer carries both headers ARM sends:
`Azure-AsyncOperation` (a status document: `{"status": "InProgress"|"Succeeded"|"Failed",
"error"?, "properties": {"output"}?}`) and `Location` (the same operation with
`monitor=true`: 202 while it runs, then the operation's output: grant access takes its
`accessSAS` from there), plus `Retry-After`. Operations are kept in SQLite; one a restart
interrupted is reported Failed, never left running.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from devhost.arm.errors import ArmError
from devhost.arm.state import Operation, Store

log = logging.getLogger("devhost.arm")


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Operations:
    def __init__(self, store: Store, subscription: str, retry_after: int) -> None:
        self.store = store
        self.subscription = subscription
        self.retry_after = retry_after
        self._running: set[asyncio.Future] = set()
        for op_id in store.unfinished_operations():
            self._finish(
                Operation(op_id, "Failed", now_iso()),
                error={
                    "code": "InternalExecutionError",
                    "message": "The operation was interrupted: the ARM stand-in restarted "
                    "while it ran. Send the request again (it is idempotent).",
                },
            )

    def begin(
        self,
        work: Callable[[], Any],
        on_failure: Callable[[dict], None] | None = None,
    ) -> Operation:
        """Record the operation and run `work` (blocking I/O allowed) in a worker thread.
        Its return value is the operation's output; an ArmError it raises fails it."""
        op = Operation(uuid.uuid4().hex, "InProgress", now_iso())
        self.store.put_operation(op)
        future = asyncio.get_running_loop().run_in_executor(None, self._run, op, work, on_failure)
        self._running.add(future)
        future.add_done_callback(self._running.discard)
        return op

    def _run(self, op: Operation, work: Callable[[], Any], on_failure) -> None:
        try:
            output = work()
        except ArmError as error:
            self._finish(op, error={"code": error.code, "message": error.message})
            if on_failure:
                on_failure(op.error or {})
            return
        except Exception as error:  # the operation, not the server, fails
            log.exception("arm: operation %s failed", op.id)
            self._finish(op, error={"code": "InternalExecutionError", "message": str(error)})
            if on_failure:
                on_failure(op.error or {})
            return
        self._finish(op, output=output)

    def _finish(self, op: Operation, output: Any = None, error: dict | None = None) -> None:
        op.status = "Failed" if error else "Succeeded"
        op.end_time = now_iso()
        op.output = output
        op.error = error
        self.store.put_operation(op)

    async def drain(self) -> None:
        """Wait for operations in flight (the server stops after them, not during them)."""
        if self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    # ------------------------------------------------------------------ what the client sees

    def urls(
        self, request: web.Request, op: Operation, namespace: str, location: str, api_version: str
    ) -> tuple[str, str]:
        base = f"{request.scheme}://{request.host}"
        status = (
            f"{base}/subscriptions/{self.subscription}/providers/{namespace}/locations/"
            f"{location}/operations/{op.id}?api-version={api_version}"
        )
        return status, status + "&monitor=true"

    def headers(
        self, request: web.Request, op: Operation, namespace: str, location: str, api_version: str
    ) -> dict[str, str]:
        status, monitor = self.urls(request, op, namespace, location, api_version)
        return {
            "Azure-AsyncOperation": status,
            "Location": monitor,
            "Retry-After": str(self.retry_after),
        }

    def status_response(self, request: web.Request, op_id: str) -> web.Response:
        op = self.store.operation(op_id)
        if op is None:
            raise ArmError(404, "NotFound", f"The operation '{op_id}' was not found.")
        if request.query.get("monitor", "").lower() == "true":
            return self._monitor(op)
        doc: dict[str, Any] = {"name": op.id, "status": op.status, "startTime": op.start_time}
        if op.end_time:
            doc["endTime"] = op.end_time
        if op.error:
            doc["error"] = op.error
        if op.status == "Succeeded" and op.output is not None:
            doc["properties"] = {"output": op.output}
        headers = {} if op.done else {"Retry-After": str(self.retry_after)}
        return web.json_response(doc, headers=headers)

    def _monitor(self, op: Operation) -> web.Response:
        if not op.done:
            return web.Response(status=202, headers={"Retry-After": str(self.retry_after)})
        if op.error:
            return ArmError(400, op.error["code"], op.error["message"]).response()
        if op.output is None:
            return web.Response(status=204)
        return web.json_response(op.output)
