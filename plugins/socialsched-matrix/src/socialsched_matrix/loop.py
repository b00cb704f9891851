"""An event loop kept in a thread of its own, so that one nio client (and the aiohttp
session, with its connections, inside it) serves every request of a channel, from
the runner's synchronous code, instead of a new loop and client per call."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

_RESULT = TypeVar("_RESULT")


class KeptLoop:
    """Runs coroutines on one event loop in a daemon thread named `name`, started at
    first use; `close()` stops it (a later `run` starts a new one)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, work: Callable[[], Awaitable[_RESULT]]) -> _RESULT:
        """The result of the coroutine `work()` run on the kept loop (its exception,
        raised here); callable from any thread but the loop's own."""

        async def call() -> _RESULT:
            return await work()

        return asyncio.run_coroutine_threadsafe(call(), self._running()).result()

    def close(self, last: Callable[[], Awaitable[object]] | None = None) -> None:
        """Run `last()` (closing what lives on the loop), then stop the loop."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        try:
            if last is not None:

                async def finish() -> object:
                    return await last()

                asyncio.run_coroutine_threadsafe(finish(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            if not thread.is_alive():
                loop.close()


__all__ = ["KeptLoop"]
