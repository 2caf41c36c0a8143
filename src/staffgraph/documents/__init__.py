"""GraphQL documents known to the server: the cache of parsed and validated documents, the
automatic persisted queries (Apollo's APQ) and the trusted documents of a manifest."""
