// The GraphQL-over-HTTP spec's own audit (graphql-http's serverAudits) against POST /graphql.
import assert from "node:assert/strict";
import { test } from "node:test";

import { serverAudits } from "graphql-http";

import { URL, signIn } from "../support.mjs";

// GET is refused on purpose (no operation rides on a link or a form): its audits cannot pass
const BY_DESIGN = [/GET/, /query params?/i, /url-encoded/i];

test("every MUST of the GraphQL-over-HTTP audit passes", async () => {
  // signed in: some audits introspect (`__type`), which production allows to signed-in tooling
  const { accessToken } = await signIn();
  const fetchFn = (input, init = {}) =>
    fetch(input, {
      ...init,
      headers: { ...Object.fromEntries(new Headers(init.headers)), authorization: `Bearer ${accessToken}` },
    });
  const failures = [];
  const warnings = [];
  for (const audit of serverAudits({ url: `${URL}/graphql`, fetchFn })) {
    const result = await audit.fn();
    if (result.status === "ok") continue;
    const line = `${audit.id} ${audit.name}: ${result.reason}`;
    if (BY_DESIGN.some((pattern) => pattern.test(audit.name))) continue;
    (result.status === "error" ? failures : warnings).push(line);
  }
  if (warnings.length) console.log(`SHOULD/MAY warnings:\n${warnings.join("\n")}`);
  assert.deepEqual(failures, []);
});
