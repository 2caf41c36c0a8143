// What every client test needs: the servers the Python suite started, and a signed-in user.
import assert from "node:assert/strict";

export const URL = process.env.STAFFGRAPH_URL;
export const TRUSTED_URL = process.env.STAFFGRAPH_TRUSTED_URL;
export const EMAIL = process.env.STAFFGRAPH_EMAIL;
export const PASSWORD = process.env.STAFFGRAPH_PASSWORD;
export const EXPIRED_TOKEN = process.env.STAFFGRAPH_EXPIRED_TOKEN;
export const SCHEMA_FILE = process.env.STAFFGRAPH_SCHEMA_FILE;
export const MANIFEST_FILE = process.env.STAFFGRAPH_MANIFEST_FILE;

assert.ok(URL, "STAFFGRAPH_URL must name a running staffgraph (the Python suite sets it)");

/** POST one operation with fetch; returns [status, body]. */
export async function post(body, { token, url = URL, headers = {} } = {}) {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  });
  return [response.status, await response.json()];
}

/** A fresh sign-in: { accessToken, refreshToken, expiresIn }. */
export async function signIn() {
  const [, body] = await post({
    query:
      "mutation ($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken refreshToken expiresIn } }",
    variables: { email: EMAIL, password: PASSWORD },
  });
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data.login;
}
