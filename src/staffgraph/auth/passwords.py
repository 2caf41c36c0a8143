"""bcrypt hashing that never blocks the event loop.

bcrypt reads at most 72 bytes (bcrypt 5 raises above that). To compare every character of a
password up to 128 characters of any script, bcrypt is fed an HMAC-SHA256 of the whole UTF-8
password, base64-encoded: 44 bytes, no NUL. The HMAC key is fixed and public: it only keeps these
digests from matching plain SHA-256 dumps of the same passwords ("hash shucking").

bcrypt runs on a dedicated pool of fewer threads than there are cores (bcrypt releases the GIL):
a storm of sign-ins queues there and leaves a core to the event loop, so cheap requests stay
fast while logins wait their turn.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import bcrypt

MIN_LENGTH = 12
MAX_LENGTH = 128
_PREHASH_KEY = b"staffgraph/bcrypt-prehash/v1"
_ROUNDS_RE = re.compile(r"^\$2[aby]\$(\d\d)\$")


def _prehash(password: str) -> bytes:
    digest = hmac.new(_PREHASH_KEY, password.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


def default_workers() -> int:
    """One bcrypt thread per core this process may use, but one; at least one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - 1)


#: niceness of the bcrypt threads: when the CPU is contended, the event loop runs first
BCRYPT_THREAD_NICENESS = 10


def _yield_to_the_loop() -> None:
    """Lower this worker thread's CPU priority (Linux schedules threads one by one)."""
    if hasattr(os, "setpriority"):
        # not permitted or not supported: the thread keeps the normal priority
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BCRYPT_THREAD_NICENESS)


class PasswordHasher:
    """Hashes and verifies passwords on a bounded thread pool (bcrypt releases the GIL)."""

    def __init__(self, rounds: int, workers: int | None = None) -> None:
        self.rounds = rounds
        self.workers = workers or default_workers()
        self._pool = ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="bcrypt", initializer=_yield_to_the_loop
        )
        self._dummy_hash: str | None = None

    def hash_sync(self, password: str) -> str:
        """The bcrypt hash of ``password``; blocking, for the CLI and the pool."""
        return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(self.rounds)).decode("ascii")

    @staticmethod
    def verify_sync(password: str, password_hash: str) -> bool:
        """Whether ``password`` matches ``password_hash``; blocking."""
        try:
            return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
        except ValueError:  # a corrupt stored hash verifies nothing
            return False

    async def hash(self, password: str) -> str:
        """Hash off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.hash_sync, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Verify off the event loop. With no stored hash, burn the same time and say no."""
        loop = asyncio.get_running_loop()
        if password_hash is None:
            await loop.run_in_executor(self._pool, self.verify_sync, password, self.dummy_hash())
            return False
        return await loop.run_in_executor(self._pool, self.verify_sync, password, password_hash)

    async def warm_up(self) -> None:
        """Make the dummy hash off the event loop, so the first refusal costs no more."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self.dummy_hash)

    def dummy_hash(self) -> str:
        """A hash at the current cost that no password matches, for timing-safe refusals."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hash_sync(base64.b64encode(os.urandom(32)).decode())
        return self._dummy_hash

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the stored hash was made at another cost than ``BCRYPT_ROUNDS``."""
        match = _ROUNDS_RE.match(password_hash)
        return match is None or int(match.group(1)) != self.rounds

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
