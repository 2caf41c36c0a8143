"""HTTP hardening, one module per concern: security headers and request ids, the body limit,
refusals of requests GraphQL must not see, CORS, the last net for unhandled errors, the GraphiQL
page's Content-Security-Policy, and the client address behind trusted proxies.
"""
