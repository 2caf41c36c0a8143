// graphql-ws over WS /graphql: the token in connection_init, a connectionParams function so a
// reconnect carries a refreshed token, and a refused token closing the socket with 4403.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createClient } from "graphql-ws";
import WebSocket from "ws";

import { EMAIL, EXPIRED_TOKEN, URL, signIn } from "../support.mjs";

const WS_URL = URL.replace(/^http/, "ws") + "/graphql";

function client(getToken, extra = {}) {
  return createClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    lazy: true,
    retryAttempts: 0,
    connectionParams: async () => {
      const token = await getToken();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
    ...extra,
  });
}

function run(wsClient, query) {
  return new Promise((resolve, reject) => {
    let result;
    wsClient.subscribe(
      { query },
      { next: (value) => (result = value), error: reject, complete: () => resolve(result) },
    );
  });
}

test("a query over graphql-ws runs as the signed-in user", async () => {
  const { accessToken } = await signIn();
  const ws = client(async () => accessToken);
  try {
    const result = await run(ws, "{ me { email } }");
    assert.deepEqual(result, { data: { me: { email: EMAIL } } });
  } finally {
    await ws.dispose();
  }
});

test("without a token the connection is anonymous", async () => {
  const ws = client(async () => null);
  try {
    assert.deepEqual(await run(ws, "{ me { email } }"), { data: { me: null } });
  } finally {
    await ws.dispose();
  }
});

test("a refused token closes the socket with 4403 Forbidden", async () => {
  let closed;
  const ws = client(async () => EXPIRED_TOKEN, {
    on: { closed: (event) => (closed = event) },
  });
  try {
    await assert.rejects(run(ws, "{ me { email } }"));
    assert.equal(closed?.code, 4403);
  } finally {
    await ws.dispose();
  }
});
