"""Bounded concurrency for detector work: a fixed threadpool, a semaphore and a queue limit.

A request is *admitted* if fewer than ``max_concurrency + queue`` requests are already admitted;
otherwise it is rejected at once (→ 503 + Retry-After) rather than left to hang. An admitted
request waits for one of ``max_concurrency`` slots, then runs the detector in the threadpool.
The whole wait + run is bounded by ``timeout`` (→ 504). A timed-out job cannot be interrupted
(Python threads cannot be killed), so its slot stays taken until the job really ends: the
server never runs more than ``max_concurrency`` detector jobs at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Overloaded(Exception):
    """The queue is full."""


class TimedOut(Exception):
    """The request took longer than the per-request timeout."""


class Limiter:
    def __init__(self, max_concurrency: int, queue: int, timeout: float) -> None:
        self.max_concurrency = max_concurrency
        self.capacity = max_concurrency + queue
        self.timeout = timeout
        self.executor = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="detector")
        self._slots = asyncio.Semaphore(max_concurrency)
        self.admitted = 0  # waiting + running requests
        self.running = 0  # detector jobs in the threadpool

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.admitted >= self.capacity:
            raise Overloaded(f"{self.admitted} requests in flight (limit {self.capacity})")
        self.admitted += 1
        try:
            async with asyncio.timeout(self.timeout):
                await self._slots.acquire()
                try:
                    future = asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
                except BaseException:
                    self._slots.release()
                    raise
                self.running += 1
                future.add_done_callback(self._job_done)
                # shield: a timeout abandons the wait, not the job; the slot is freed when it ends
                return await asyncio.shield(future)
        except TimeoutError:
            raise TimedOut(f"request took longer than {self.timeout:g} s") from None
        finally:
            self.admitted -= 1

    def _job_done(self, future: Future[Any] | asyncio.Future[Any]) -> None:
        self.running -= 1
        self._slots.release()
        if not future.cancelled() and future.exception() is not None:
            # the awaiting request re-raises it; if it timed out nobody will, so log it here
            log.debug("detector job ended with %r", future.exception())

    def shutdown(self) -> None:
        """Wait for running jobs (graceful shutdown), then stop the threads."""
        self.executor.shutdown(wait=True, cancel_futures=False)
