"""Compiled query plans: a query document's execution worked out once, then run per request.

:mod:`~staffgraph.plans.compiler` turns a document into a :class:`~staffgraph.plans.compiler.Plan`
(fields collected, resolvers, arguments, value shapes), :mod:`~staffgraph.plans.runner` runs one
with graphql-core's semantics (errors, null propagation, batched awaiting), and
:mod:`~staffgraph.plans.plan_cache` keeps them by document text. The schema decides when a request
may use one (``staffgraph.schema.planned``); ``tests/test_plans.py`` proves the answers equal to
graphql-core's.
"""
