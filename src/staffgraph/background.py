"""An instance's background tasks, stopped within a bound.

Cancelling a task only asks it to stop: a library on its way may catch the ``CancelledError``
and carry on (a revocation resync cancelled while it talked to Redis returned normally and went
back to waiting, and the instance never finished stopping). Loops that run until their instance
stops therefore also look at a flag of their own, and :func:`stop_tasks` waits a bounded time
for them, then leaves what did not stop with a warning rather than hang the shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger("staffgraph")

#: how long a stopping instance waits for one group of its background tasks
STOP_SECONDS = 2.0


async def stop_tasks(tasks: Iterable[asyncio.Task[None]], seconds: float = STOP_SECONDS) -> None:
    """Cancel ``tasks`` and wait for them, ``seconds`` at most; their errors are logged."""
    pending_tasks = [task for task in tasks if not task.done()]
    for task in pending_tasks:
        task.cancel()
    if not pending_tasks:
        return
    done, pending = await asyncio.wait(pending_tasks, timeout=seconds)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.warning("background task %s failed", task.get_name(), exc_info=task.exception())
    for task in pending:
        log.warning("background task %s did not stop within %.1fs", task.get_name(), seconds)
