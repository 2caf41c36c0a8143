// graphql-inspector: the SDL served at GET /graphql/schema.graphql is the committed schema.graphql.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { diff } from "@graphql-inspector/core";
import { buildSchema } from "graphql";

import { SCHEMA_FILE, URL, signIn } from "../support.mjs";

test("graphql-inspector finds no change between the served and the committed schema", async () => {
  // production's introspection policy is `authenticated`: so is the SDL's
  const { accessToken } = await signIn();
  const response = await fetch(`${URL}/graphql/schema.graphql`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type"), /^text\/plain/);
  const served = buildSchema(await response.text());
  const committed = buildSchema(readFileSync(SCHEMA_FILE, "utf8"));
  assert.deepEqual(await diff(committed, served), []);
});
