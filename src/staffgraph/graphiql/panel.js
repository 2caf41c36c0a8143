/*
 * staffgraph's GraphiQL page: the sign-in panel, the fetcher that carries its token, and
 * GraphiQL itself.
 *
 * Tokens live in this tab's sessionStorage (they survive a reload, never another tab or a
 * restart of the browser) and never in localStorage; GraphiQL's own storage (tabs, queries) is
 * sessionStorage too, and headers typed into its Headers tab are not persisted at all.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("staffgraph-graphiql-config").textContent);
  const endpoint = new URL(config.endpoint, window.location.href).toString();
  const SESSION_KEY = "staffgraph:session";
  const PAYLOAD = "accessToken refreshToken expiresIn user { displayName email roles }";
  const LOGIN = `mutation SignIn($email: String!, $password: String!) {
    login(email: $email, password: $password) { ${PAYLOAD} } }`;
  const EXCHANGE = `mutation SignInWithProvider($code: String!) {
    exchangeOAuthCode(code: $code) { ${PAYLOAD} } }`;
  const REFRESH = `mutation Refresh($refreshToken: String!) {
    refreshToken(refreshToken: $refreshToken) { ${PAYLOAD} } }`;
  const LOGOUT = "mutation SignOut { logout }";
  const DEFAULT_QUERY = `# Sign in above, then run a query (Ctrl-Enter). Each field's description
# in the docs says who may read it; a denied field answers FORBIDDEN with its rule.
{
  me {
    displayName
    roles
  }
}
`;

  const $ = (id) => document.getElementById(id);

  // --- the session: tokens and who they belong to ----------------------------------------

  let session = readSession();
  let refreshTimer = null;
  let refreshing = null;

  function readSession() {
    try {
      const stored = JSON.parse(window.sessionStorage.getItem(SESSION_KEY));
      return stored && stored.accessToken ? stored : null;
    } catch (_) {
      return null;
    }
  }

  function setSession(value) {
    session = value;
    if (value) window.sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
    else window.sessionStorage.removeItem(SESSION_KEY);
    scheduleRefresh();
    showPanel();
    renderGraphiQL(); // a new fetcher: GraphiQL reloads the schema as the new viewer sees it
  }

  function adopt(payload) {
    const ttl = payload.expiresIn * 1000;
    setSession({
      accessToken: payload.accessToken,
      refreshToken: payload.refreshToken,
      expiresAt: Date.now() + ttl,
      // refresh a minute early, or a quarter of the lifetime for short-lived tokens
      margin: Math.min(60000, ttl / 4),
      user: payload.user,
    });
  }

  function dueForRefresh() {
    return session !== null && Date.now() >= session.expiresAt - session.margin;
  }

  function scheduleRefresh() {
    window.clearTimeout(refreshTimer);
    if (session === null) return;
    const wait = Math.max(0, session.expiresAt - session.margin - Date.now());
    refreshTimer = window.setTimeout(() => refresh(), wait);
  }

  /** Rotate the tokens once, however many callers ask at the same time. */
  function refresh() {
    if (session === null) return Promise.resolve(false);
    if (refreshing === null) {
      const presented = session.refreshToken;
      refreshing = post({ query: REFRESH, variables: { refreshToken: presented } })
        .then((body) => {
          if (body.data && body.data.refreshToken) {
            adopt(body.data.refreshToken);
            return true;
          }
          if (session !== null && session.refreshToken === presented) {
            setSession(null);
            say(errorText(body) || "Your session has ended: sign in again.");
          }
          return false;
        })
        .catch(() => {
          say("The server did not answer; the token was not refreshed.");
          scheduleRetry();
          return false;
        })
        .finally(() => {
          refreshing = null;
        });
    }
    return refreshing;
  }

  function scheduleRetry() {
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(() => refresh(), 10000);
  }

  // --- HTTP ------------------------------------------------------------------------------

  async function post(operation, token, extraHeaders) {
    const headers = {
      "Content-Type": "application/json",
      Accept: "application/json",
      ...(extraHeaders || {}),
    };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await window.fetch(endpoint, {
      method: "POST",
      headers,
      body: JSON.stringify(operation),
      credentials: "same-origin",
    });
    return response.json();
  }

  function tokenExpired(body) {
    return (body.errors || []).some(
      (e) =>
        e.extensions &&
        e.extensions.code === "UNAUTHENTICATED" &&
        e.extensions.reason === "token_expired",
    );
  }

  function hasAuthorization(headers) {
    return Object.keys(headers || {}).some((k) => k.toLowerCase() === "authorization");
  }

  /** Run an operation as the signed-in user: refresh when due, and once more on expiry. */
  async function authorized(params, headers) {
    const own = hasAuthorization(headers); // a header typed in the Headers tab wins
    if (!own && dueForRefresh()) await refresh();
    const send = () => post(params, own || !session ? null : session.accessToken, headers);
    let body = await send();
    if (!own && session !== null && tokenExpired(body) && (await refresh())) body = await send();
    return body;
  }

  function isSubscription(params) {
    try {
      const document = GraphiQL.GraphQL.parse(params.query);
      const operations = document.definitions.filter((d) => d.kind === "OperationDefinition");
      const chosen = params.operationName
        ? operations.find((d) => d.name && d.name.value === params.operationName)
        : operations[0];
      return Boolean(chosen && chosen.operation === "subscription");
    } catch (_) {
      return false;
    }
  }

  const subscriptions = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: endpoint.replace(/^http/, "ws"),
    // read at each (re)connection, so a reconnect carries the refreshed token
    wsConnectionParams: () => (session ? { authorization: `Bearer ${session.accessToken}` } : {}),
  });

  function fetcher(params, options) {
    const headers = (options && options.headers) || {};
    if (isSubscription(params)) return subscriptions(params, options);
    return authorized(params, headers);
  }

  // --- the panel -------------------------------------------------------------------------

  function say(text) {
    $("sg-message").textContent = text || "";
  }

  function errorText(body) {
    return body && body.errors && body.errors.length ? body.errors[0].message : "";
  }

  function showPanel() {
    const signedIn = session !== null;
    $("sg-login").hidden = signedIn;
    $("sg-who").hidden = !signedIn;
    if (signedIn) {
      const user = session.user || {};
      $("sg-name").textContent = user.displayName || "";
      $("sg-address").textContent = user.email ? `(${user.email})` : "";
      $("sg-roles").textContent = (user.roles || []).join(", ");
    }
  }

  function showProviders() {
    const here = window.location.origin + window.location.pathname;
    for (const provider of config.providers) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sg-provider";
      button.dataset.provider = provider.name;
      button.textContent = `Sign in with ${provider.label}`;
      button.addEventListener("click", () => {
        const url = new URL(provider.authorizeUrl, window.location.href);
        url.searchParams.set("redirect_to", here);
        window.location.assign(url.toString());
      });
      $("sg-providers").appendChild(button);
    }
  }

  async function signIn(event) {
    event.preventDefault();
    say("");
    const email = $("sg-email").value;
    const password = $("sg-password").value;
    try {
      const body = await post({ query: LOGIN, variables: { email, password } });
      if (body.data && body.data.login) {
        $("sg-password").value = "";
        adopt(body.data.login);
      } else {
        say(errorText(body) || "Sign-in failed.");
      }
    } catch (_) {
      say("The server did not answer.");
    }
  }

  async function signOut() {
    say("");
    try {
      const body = await authorized({ query: LOGOUT }, {});
      if (!(body.data && body.data.logout)) say(errorText(body));
    } catch (_) {
      say("The server did not answer; signed out in this tab only.");
    }
    setSession(null);
  }

  /** Back from a provider: exchange the one-time code (or show why there is none). */
  async function finishProviderSignIn() {
    const url = new URL(window.location.href);
    const code = url.searchParams.get("code");
    const error = url.searchParams.get("error");
    if (code === null && error === null) return;
    url.searchParams.delete("code");
    url.searchParams.delete("error");
    url.searchParams.delete("state");
    window.history.replaceState(null, "", url.toString()); // the code is spent: off the URL
    if (error !== null) {
      say(`Sign-in with the provider failed: ${error}`);
      return;
    }
    try {
      const body = await post({ query: EXCHANGE, variables: { code } });
      if (body.data && body.data.exchangeOAuthCode) adopt(body.data.exchangeOAuthCode);
      else say(errorText(body) || "Sign-in failed.");
    } catch (_) {
      say("The server did not answer.");
    }
  }

  // --- GraphiQL --------------------------------------------------------------------------

  const storagePrefix = "graphiql:";
  /** GraphiQL's storage: this tab's sessionStorage, never localStorage. */
  const storage = {
    getItem: (key) => window.sessionStorage.getItem(key),
    setItem: (key, value) => window.sessionStorage.setItem(key, value),
    removeItem: (key) => window.sessionStorage.removeItem(key),
    get length() {
      return Object.keys(window.sessionStorage).filter((k) => k.startsWith(storagePrefix)).length;
    },
    clear() {
      for (const key of Object.keys(window.sessionStorage)) {
        if (key.startsWith(storagePrefix)) window.sessionStorage.removeItem(key);
      }
    },
  };
  const explorer = GraphiQLPluginExplorer.explorerPlugin();
  const root = ReactDOM.createRoot($("graphiql"));

  function renderGraphiQL() {
    root.render(
      React.createElement(GraphiQL, {
        fetcher: (params, options) => fetcher(params, options),
        plugins: [explorer],
        storage,
        defaultQuery: DEFAULT_QUERY,
        defaultEditorToolsVisibility: true,
        isHeadersEditorEnabled: true,
        shouldPersistHeaders: false,
        inputValueDeprecation: true,
      }),
    );
  }

  $("sg-login").addEventListener("submit", signIn);
  $("sg-sign-out").addEventListener("click", signOut);
  showProviders();
  showPanel();
  scheduleRefresh();
  renderGraphiQL();
  finishProviderSignIn();
})();
