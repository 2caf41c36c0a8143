"""Overload and slow clients against a real ``staffgraph serve``: ``MAX_CONCURRENCY``,
``MAX_HEADER_BYTES``, ``HEADER_TIMEOUT``, and clients that leave before the answer."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.live_server import LiveServer, live_server, mint_token

pytestmark = pytest.mark.slow

ME = json.dumps({"query": "{ me { id } }"}).encode()


def _address(server: LiveServer) -> tuple[str, int]:
    parts = urlsplit(server.base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _connect(server: LiveServer, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(_address(server), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (or resets) the connection."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def _slow_upload(server: LiveServer) -> socket.socket:
    """A request whose body is still on its way: in progress until the socket sends the rest."""
    sock = _connect(server)
    sock.sendall(
        b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(ME) + ME[:5]
    )
    return sock


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[LiveServer]:
    """A server with room for two requests in progress and a header timeout of 1 s."""
    with live_server(
        tmp_path,
        STAFFGRAPH_MAX_CONCURRENCY="2",
        STAFFGRAPH_HEADER_TIMEOUT="1",
        STAFFGRAPH_RATE_LIMIT="100000/minute",
    ) as server:
        yield server


def test_requests_beyond_max_concurrency_get_503_at_once(limited: LiveServer):
    token = mint_token()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{limited.base_url}/graphql"
    slow = [_slow_upload(limited) for _ in range(2)]
    try:
        time.sleep(0.3)  # both are in the application, waiting for their bodies
        for _ in range(5):
            started = time.monotonic()
            refused = httpx.post(url, json={"query": "{ me { id } }"}, headers=headers, timeout=10)
            elapsed = time.monotonic() - started
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"].isdigit()
            assert refused.headers["x-request-id"]
            assert [e["extensions"]["code"] for e in refused.json()["errors"]] == [
                "SERVICE_UNAVAILABLE"
            ]
            assert refused.json()["data"] is None
            assert elapsed < 2.0  # refused straight away, not queued
        # the probes are never refused: a load balancer must still see the process
        assert httpx.get(f"{limited.base_url}/healthz", timeout=10).status_code == 200
        assert httpx.get(f"{limited.base_url}/readyz", timeout=10).status_code == 200
        for sock in slow:
            sock.sendall(ME[5:])
        for sock in slow:
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    finally:
        for sock in slow:
            sock.close()
    # the slots are free again
    served = httpx.post(url, json={"query": "{ me { id } }"}, headers=headers, timeout=10)
    assert served.status_code == 200, served.text


def test_a_32_mib_header_is_refused_without_growing_the_server(limited: LiveServer):
    before = _rss_kib(limited.process.pid)
    sock = _connect(limited, timeout=20)
    sent = 0
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: ")
        chunk = b"a" * 65536
        while sent < 32 * 1024 * 1024:
            sock.sendall(chunk)
            sent += len(chunk)
        sock.sendall(b"\r\n\r\n")
        answer = _read_all(sock)
    except (BrokenPipeError, ConnectionResetError):
        answer = b""  # closed while we were still sending: refused too
    finally:
        sock.close()
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]
    grown_mib = (_rss_kib(limited.process.pid) - before) / 1024
    assert grown_mib < 8, f"the server grew by {grown_mib:.1f} MiB"
    assert httpx.get(f"{limited.base_url}/healthz", timeout=10).status_code == 200


def test_a_header_block_over_max_header_bytes_gets_431(limited: LiveServer):
    sock = _connect(limited)
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n")
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b'"BAD_USER_INPUT"' in answer


def test_many_headers_under_the_limit_are_served(limited: LiveServer):
    headers = {f"x-filler-{i}": "b" * 100 for i in range(100)}  # about 12 KiB
    response = httpx.get(f"{limited.base_url}/healthz", headers=headers, timeout=10)
    assert response.status_code == 200


def test_unfinished_headers_are_closed_after_header_timeout(limited: LiveServer):
    silent = _connect(limited)
    dripping = _connect(limited)
    partial = _connect(limited)
    results: dict[str, bytes | str] = {}

    def drip() -> None:
        # slowloris: a byte at a time, never the blank line that ends the headers
        try:
            dripping.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
            for _ in range(40):
                dripping.sendall(b"X")
                time.sleep(0.25)
            results["dripping"] = "still open after 10 s"
        except OSError:
            results["dripping"] = b"closed"

    started = time.monotonic()
    dripper = threading.Thread(target=drip)
    dripper.start()
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
    try:
        results["silent"] = _read_all(silent)
        results["partial"] = _read_all(partial)
    except TimeoutError:
        results.setdefault("silent", "timed out")
        results.setdefault("partial", "timed out")
    dripper.join(timeout=30)
    elapsed = time.monotonic() - started
    for sock in (silent, dripping, partial):
        sock.close()
    assert results == {"silent": b"", "partial": b"", "dripping": b"closed"}, results
    assert elapsed < 9.0
    # a kept-alive connection still serves several requests in a row
    with httpx.Client(base_url=limited.base_url, timeout=10) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(0.4)


def test_a_client_that_leaves_mid_request_is_logged_at_info(limited: LiveServer):
    sock = _slow_upload(limited)
    time.sleep(0.3)
    sock.close()  # gone before the body and the answer
    line = limited.wait_for_line('"staffgraph.access"', '"/graphql"')
    time.sleep(0.3)
    records = [json.loads(raw) for raw in limited.logs().splitlines() if raw.startswith("{")]
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")], limited.logs()
    assert not [r for r in records if "exception" in r or "Traceback" in r["message"]]
    disconnects = [r for r in records if "disconnected" in r["message"]]
    assert len(disconnects) == 1, limited.logs()
    assert disconnects[0]["level"] == "INFO"
    assert json.loads(line)["level"] == "INFO"
    assert json.loads(line)["status"] == 499


async def test_the_middleware_refuses_beyond_its_limit_under_any_asgi_server():
    """The rule itself, without ``serve``'s protocol (another ASGI server, the test client)."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from staffgraph.http.concurrency import ConcurrencyLimit, RequestGauge

    release, entered = asyncio.Event(), []
    arrived = {2: asyncio.Event(), 3: asyncio.Event()}

    async def slow(request):
        entered.append(request.url.path)
        if len(entered) in arrived:
            arrived[len(entered)].set()
        await release.wait()
        return PlainTextResponse("done")

    app = ConcurrencyLimit(
        Starlette(routes=[Route("/slow", slow), Route("/healthz", slow)]),
        limit=2,
        gauge=RequestGauge(),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        held = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
        await asyncio.wait_for(arrived[2].wait(), timeout=5)
        refused = await asyncio.wait_for(client.get("/slow"), timeout=5)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        probe = asyncio.create_task(client.get("/healthz"))  # exempt: reaches the app
        await asyncio.wait_for(arrived[3].wait(), timeout=5)
        release.set()
        assert [r.status_code for r in await asyncio.gather(*held, probe)] == [200, 200, 200]
        assert (await client.get("/slow")).status_code == 200
