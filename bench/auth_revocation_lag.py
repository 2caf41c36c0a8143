"""How stale can an instance be? Time from a revocation on one instance to another refusing.

Two revocation stores with their own Redis connections stand for two app instances sharing one
Redis. Instance A revokes a session; the clock stops when instance B's in-memory check says
revoked (B is polled on the same event loop, yielding between polls). The revoking instance
itself is checked right after ``revoke`` returns: it is never stale. The revoked-session set is
deleted from that Redis database at the end.

    .venv/bin/python bench/auth_revocation_lag.py [--redis-url redis://127.0.0.1:6379/14]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

from staffgraph.auth.revocation import SET_KEY, RevocationStore
from staffgraph.services import redis_client

ACCESS_TOKEN_TTL = 900


async def measure(url: str, samples: int) -> list[float]:
    """Seconds from A's revoke() call until B refuses, once per sample."""
    first = RevocationStore(ACCESS_TOKEN_TTL, redis_client(url))
    second = RevocationStore(ACCESS_TOKEN_TTL, redis_client(url))
    await first.start()
    await second.start()
    delays = []
    try:
        for _ in range(samples):
            sid = uuid.uuid4()
            started = time.perf_counter()
            await first.revoke([sid])
            assert first.is_revoked(sid)  # the revoking instance: at once
            while not second.is_revoked(sid):
                if time.perf_counter() - started > 5:
                    raise SystemExit("no propagation within 5 s")
                await asyncio.sleep(0)
            delays.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)
    finally:
        await first.stop()
        await second.stop()
        cleanup = redis_client(url)
        await cleanup.delete(SET_KEY)
        await cleanup.aclose()
    return delays


def main() -> None:
    """Print the delay distribution in milliseconds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("STAFFGRAPH_REDIS_URL", "redis://127.0.0.1:6379/14"),
    )
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    delays = sorted(d * 1000 for d in asyncio.run(measure(args.redis_url, args.samples)))
    p99 = statistics.quantiles(delays, n=100)[98]
    print(f"cross-instance revocation delay over {len(delays)} revocations (ms):")
    print(f"p50 {statistics.median(delays):.3f}   p99 {p99:.3f}   max {delays[-1]:.3f}")


if __name__ == "__main__":
    main()
