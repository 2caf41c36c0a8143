"""Server memory under header floods, and how long slowloris sockets are held.

Starts ``staffgraph serve`` (production, a throw-away SQLite database) and then:

1. ``--floods`` connections each send up to ``--flood-mib`` MiB of one unfinished header, in
   64 KiB writes, all at once; the server's peak RSS is sampled meanwhile.
2. ``--sockets`` connections each send a request line and one header, never the blank line,
   then a byte every second; after ``--hold`` seconds, how many the server still holds.

    .venv/bin/python bench/header_flood.py [--floods 8] [--flood-mib 64] [--sockets 1100]
        [--hold 20] [--python PATH]

``--python`` runs the server from another interpreter or source tree (``PYTHONPATH`` is
passed on), e.g. the code before a change.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

SECRET = "header-flood-bench-secret-" + "x" * 40


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def flood(port: int, mib: int, outcome: list[str]) -> None:
    """One connection sending ``mib`` MiB of a header that never ends."""
    chunk = b"a" * 65536
    sent = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Flood: ")
            while sent < mib * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
            outcome.append(f"sent all {sent >> 20} MiB")
    except OSError as exc:
        outcome.append(f"closed after {sent >> 20} MiB ({type(exc).__name__})")


def main() -> None:
    """Start the server, flood it, hold slow sockets, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floods", type=int, default=8)
    parser.add_argument("--flood-mib", type=int, default=64)
    parser.add_argument("--sockets", type=int, default=1100)
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    if not (args.floods <= 32 and args.flood_mib <= 256 and args.sockets <= 4000):
        raise SystemExit("keep it bounded: floods <= 32, flood-mib <= 256, sockets <= 4000")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.sockets + 200)), hard))

    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STAFFGRAPH_")}
        env.update(
            STAFFGRAPH_ENV="production",
            STAFFGRAPH_AUTO_MIGRATE="true",
            STAFFGRAPH_DATABASE_URL=f"sqlite://{Path(tmp) / 'flood.db'}",
            STAFFGRAPH_JWT_SECRET=SECRET,
            STAFFGRAPH_LOG_LEVEL="WARNING",
        )
        port = free_port()
        command = [args.python, "-m", "staffgraph.cli", "serve", "--port", str(port)]
        server = subprocess.Popen(command, env=env, cwd=tmp, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.1)
            idle = rss_mib(server.pid)
            outcome: list[str] = []
            threads = [
                threading.Thread(target=flood, args=(port, args.flood_mib, outcome))
                for _ in range(args.floods)
            ]
            for thread in threads:
                thread.start()
            peak = idle
            while any(thread.is_alive() for thread in threads):
                peak = max(peak, rss_mib(server.pid))
                time.sleep(0.05)
            after = rss_mib(server.pid)
            print(f"RSS idle {idle:.0f} MiB, peak during {args.floods} x {args.flood_mib} MiB")
            print(f"  header floods {peak:.0f} MiB, after {after:.0f} MiB")
            print(f"  floods: {sorted(set(outcome))}")

            slow = []
            for _ in range(args.sockets):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n")
                sock.setblocking(False)
                slow.append(sock)
            started = time.monotonic()
            while time.monotonic() - started < args.hold:
                time.sleep(1)
                for sock in slow:
                    with contextlib.suppress(OSError):
                        sock.send(b"X")
            held = 0
            for sock in slow:
                try:
                    held += sock.recv(1) != b""
                except BlockingIOError:
                    held += 1  # nothing to read and not closed: still held
                except OSError:
                    pass
                sock.close()
            print(f"slowloris: {held} of {args.sockets} sockets still held after {args.hold:g} s")
            ok = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code
            print(f"GET /healthz afterwards: {ok}")
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
