// The trusted-documents manifest graphql-codegen's client preset wrote from src/operations.graphql,
// enforced by a server started with TRUSTED_DOCUMENTS_ONLY=true.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { EMAIL, MANIFEST_FILE, PASSWORD, TRUSTED_URL, post } from "../support.mjs";

const manifest = JSON.parse(readFileSync(MANIFEST_FILE, "utf8"));
const idOf = (name) => {
  const named = new RegExp(`^(query|mutation|subscription) ${name}\\b`);
  const entry = Object.entries(manifest).find(([, body]) => named.test(body));
  assert.ok(entry, `${name} is in the manifest`);
  return entry[0];
};

test("the manifest's documents run by documentId", async () => {
  const [status, signedIn] = await post(
    { documentId: idOf("SignIn"), variables: { email: EMAIL, password: PASSWORD } },
    { url: TRUSTED_URL },
  );
  assert.equal(status, 200);
  assert.equal(signedIn.errors, undefined, JSON.stringify(signedIn.errors));
  const token = signedIn.data.login.accessToken;
  const [, me] = await post({ documentId: idOf("Me") }, { url: TRUSTED_URL, token });
  assert.equal(me.data.me.email, EMAIL);
});

test("any other document is refused with PERSISTED_QUERY_NOT_IN_LIST", async () => {
  for (const body of [{ query: "{ __typename }" }, { query: "query Me { me { id salary } }" }]) {
    const [, refused] = await post(body, { url: TRUSTED_URL });
    assert.deepEqual(
      refused.errors.map((e) => e.extensions.code),
      ["PERSISTED_QUERY_NOT_IN_LIST"],
    );
  }
});
