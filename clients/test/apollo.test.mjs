// Apollo Client as a frontend wires it: HttpLink, an ErrorLink that refreshes the access token on
// UNAUTHENTICATED + token_expired and retries, PersistedQueryLink (SHA-256), relayStylePagination.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { CombinedGraphQLErrors } from "@apollo/client/errors";
import { SetContextLink } from "@apollo/client/link/context";
import { ErrorLink } from "@apollo/client/link/error";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { relayStylePagination } from "@apollo/client/utilities";
import { Observable } from "rxjs";

import { EXPIRED_TOKEN, URL, post, signIn } from "../support.mjs";

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

/** fetch that records every request body it sends. */
function recordingFetch(sent) {
  return (input, init) => {
    sent.push(JSON.parse(init.body));
    return fetch(input, init);
  };
}

/** The client an app builds: tokens in memory, refreshed when the server says they expired. */
function appClient(session, { sent = [], persisted = false, cache = new InMemoryCache() } = {}) {
  const auth = new SetContextLink((prev) => ({
    headers: { ...prev.headers, authorization: `Bearer ${session.accessToken}` },
  }));
  const refreshOnExpiry = new ErrorLink(({ error, operation, forward }) => {
    const expired =
      CombinedGraphQLErrors.is(error) &&
      error.errors.some(
        (e) => e.extensions?.code === "UNAUTHENTICATED" && e.extensions?.reason === "token_expired",
      );
    if (!expired || operation.getContext().retried) return;
    return new Observable((observer) => {
      post({
        query:
          "mutation ($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }",
        variables: { t: session.refreshToken },
      })
        .then(([, body]) => {
          Object.assign(session, body.data.refreshToken);
          session.refreshes += 1;
          operation.setContext(({ headers }) => ({
            retried: true,
            headers: { ...headers, authorization: `Bearer ${session.accessToken}` },
          }));
          forward(operation).subscribe(observer);
        })
        .catch((err) => observer.error(err));
    });
  });
  const links = [refreshOnExpiry, auth];
  if (persisted) links.push(new PersistedQueryLink({ sha256 }));
  links.push(new HttpLink({ uri: `${URL}/graphql`, fetch: recordingFetch(sent) }));
  return new ApolloClient({ link: ApolloLink.from(links), cache });
}

test("an expired access token is refreshed by the ErrorLink and the query retried", async () => {
  const tokens = await signIn();
  const session = { accessToken: EXPIRED_TOKEN, refreshToken: tokens.refreshToken, refreshes: 0 };
  const client = appClient(session);
  const { data } = await client.query({ query: gql`query Me { me { email } }` });
  assert.equal(data.me.email, process.env.STAFFGRAPH_EMAIL);
  assert.equal(session.refreshes, 1);
  assert.notEqual(session.accessToken, EXPIRED_TOKEN);
});

test("PersistedQueryLink: the hash first, the query once, then the hash alone", async () => {
  const session = { ...(await signIn()), refreshes: 0 };
  // a document no other test sends, so its hash is unknown to the server
  const text = `query Persisted${Date.now()} { me { displayName } }`;
  const first = [];
  const one = appClient(session, { sent: first, persisted: true });
  const { data } = await one.query({ query: gql(text) });
  assert.ok(data.me.displayName);
  assert.equal(first.length, 2, "hash alone, then PERSISTED_QUERY_NOT_FOUND, then with query");
  assert.equal(first[0].query, undefined);
  assert.equal(first[0].extensions.persistedQuery.sha256Hash.length, 64);
  assert.ok(first[1].query.includes("displayName"));
  const second = [];
  const two = appClient(session, { sent: second, persisted: true });
  await two.query({ query: gql(text) });
  assert.equal(second.length, 1);
  assert.equal(second[0].query, undefined, "a registered hash is enough");
});

test("relayStylePagination pages forward and backward", async () => {
  const session = { ...(await signIn()), refreshes: 0 };
  const all = (await post({ query: "{ users(first: 100) { edges { node { id } } } }" }, {
    token: session.accessToken,
  }))[1].data.users.edges.map((e) => e.node.id);
  assert.ok(all.length >= 5, "the suite creates enough users to page through");
  const DIRECTORY = gql`
    query Directory($first: Int, $after: String, $last: Int, $before: String) {
      users(first: $first, after: $after, last: $last, before: $before) {
        edges { cursor node { id displayName } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }
  `;
  const forward = appClient(session, {
    cache: new InMemoryCache({ typePolicies: { Query: { fields: { users: relayStylePagination() } } } }),
  });
  // each page from the server (the cache alone would answer with the pages merged so far);
  // a bound, so a pageInfo that never ends fails the test instead of hanging it
  const page = (client, variables) =>
    client.query({ query: DIRECTORY, variables, fetchPolicy: "network-only" });
  let result = await page(forward, { first: 2 });
  for (let pages = 1; result.data.users.pageInfo.hasNextPage; pages += 1) {
    assert.ok(pages <= all.length, "forward paging ends");
    result = await page(forward, { first: 2, after: result.data.users.pageInfo.endCursor });
  }
  const merged = forward.cache.readQuery({ query: DIRECTORY, variables: { first: 2 } });
  assert.deepEqual(merged.users.edges.map((e) => e.node.id), all);

  const backward = appClient(session, {
    cache: new InMemoryCache({ typePolicies: { Query: { fields: { users: relayStylePagination() } } } }),
  });
  result = await page(backward, { last: 2 });
  assert.equal(result.data.users.pageInfo.hasNextPage, false);
  for (let pages = 1; result.data.users.pageInfo.hasPreviousPage; pages += 1) {
    assert.ok(pages <= all.length, "backward paging ends");
    result = await page(backward, { last: 2, before: result.data.users.pageInfo.startCursor });
  }
  const back = backward.cache.readQuery({ query: DIRECTORY, variables: { last: 2 } });
  assert.deepEqual(back.users.edges.map((e) => e.node.id), all);
});
