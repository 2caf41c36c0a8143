"""A small graphql-transport-ws client for tests against real servers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

PROTOCOL = "graphql-transport-ws"


class Socket:
    """One connection: operations by id, every message kept per operation."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.close_code: int | None = None
        #: frames that were not text (graphql-transport-ws sends JSON in text frames only)
        self.binary_frames = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                if not isinstance(raw, str):
                    self.binary_frames += 1
                message = json.loads(raw)
                if "id" in message:
                    self.messages.setdefault(message["id"], asyncio.Queue()).put_nowait(message)
        except ConnectionClosed:
            pass
        self.close_code = self.ws.close_code

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """Start an operation; returns its id."""
        operation_id = uuid.uuid4().hex
        self.messages.setdefault(operation_id, asyncio.Queue())
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = variables
        await self.ws.send(
            json.dumps({"id": operation_id, "type": "subscribe", "payload": payload})
        )
        return operation_id

    async def next_message(self, operation_id: str, within: float = 5.0) -> dict[str, Any]:
        """The next message of an operation (``next``, ``error`` or ``complete``)."""
        return await asyncio.wait_for(self.messages[operation_id].get(), within)

    async def closed(self, within: float = 5.0) -> int | None:
        """Wait for the server to close the socket; its close code."""
        await asyncio.wait_for(asyncio.shield(self._reader), within)
        return self.close_code

    async def query(self, query: str) -> dict[str, Any]:
        """Run a query or mutation to its end: its result (or ``{"errors": ...}``)."""
        operation_id = await self.subscribe(query)
        result: dict[str, Any] = {}
        while True:
            message = await self.next_message(operation_id)
            if message["type"] == "next":
                result = message["payload"]
            elif message["type"] == "error":
                return {"errors": message["payload"]}
            else:
                return result


@asynccontextmanager
async def ws_session(base_url: str, token: str | None) -> AsyncIterator[Socket]:
    """A connection acknowledged by the server, authenticated by ``token`` when given."""
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[PROTOCOL], open_timeout=10) as ws:  # type: ignore[list-item]
        init: dict[str, Any] = {"type": "connection_init"}
        if token:
            init["payload"] = {"authorization": f"Bearer {token}"}
        await ws.send(json.dumps(init))
        raw_ack = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(raw_ack, str), "graphql-transport-ws messages are text frames"
        ack = json.loads(raw_ack)
        assert ack["type"] == "connection_ack", ack
        socket = Socket(ws)
        try:
            yield socket
        finally:
            socket._reader.cancel()
        assert not socket.binary_frames, "graphql-transport-ws messages are text frames"
