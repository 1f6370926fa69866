"""The SNMP event loop: one background thread running one asyncio loop per process.

Both engines keep state bound to the loop they first ran on (pysnmp's UDP transports,
gufo-snmp's sockets registered with the loop's selector), so calling ``asyncio.run`` per
request or per poll would rebuild them. Synchronous callers (the CLI, the daemon's
scheduler threads) submit coroutines here with :func:`run`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger("opsctl.power.snmp")

T = TypeVar("T")


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_loop_exception)
        self.thread = threading.Thread(target=self._run, name="opsctl-snmp", daemon=True)
        self.thread.start()
        self.active = 0  # coroutines of run() in flight on the loop
        # Called on the loop thread whenever the last coroutine of run() has finished
        # (pysnmp's engine rebuild after an SNMPv3 engine-ID change waits for this).
        self.on_idle: list[Callable[[], None]] = []

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()


def _loop_exception(_loop, context: dict) -> None:
    """A malformed packet makes an engine's receive callback raise inside the loop;
    asyncio would print a traceback. It is a bad packet from the network, not a bug."""
    exc = context.get("exception")
    what = f"{type(exc).__name__}: {exc}" if exc is not None else context.get("message")
    log.warning("ignored a malformed SNMP packet (%s)", str(what)[:200])


_current: _Loop | None = None
_lock = threading.Lock()


def get() -> _Loop:
    global _current
    with _lock:
        if _current is None:
            _current = _Loop()
        return _current


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the SNMP loop from synchronous code and return its result."""
    lp = get()
    if threading.current_thread() is lp.thread:
        raise RuntimeError("opsctl.power.snmp.client.run() called from the SNMP loop itself")
    fut = asyncio.run_coroutine_threadsafe(_tracked(coro), lp.loop)
    return fut.result(timeout)


async def _tracked(coro: Coroutine[Any, Any, T]) -> T:
    lp = get()
    lp.active += 1
    try:
        return await coro
    finally:
        lp.active -= 1
        if lp.active == 0:
            for hook in list(lp.on_idle):
                hook()
