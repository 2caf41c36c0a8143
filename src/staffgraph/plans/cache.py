"""Plans by document text and operation name: compiled on first use, kept within a bound."""

from __future__ import annotations

from graphql import DocumentNode, GraphQLSchema

from staffgraph.plans.compiler import Plan, compile_plan

#: plans kept (the document cache's own bound: one plan per known document, usually)
DEFAULT_MAX_PLANS = 1000


class PlanCache:
    """What :func:`compile_plan` made of each (text, operation name), None included: a
    document a plan does not cover is not examined again. The oldest entry leaves first."""

    def __init__(self, schema: GraphQLSchema, max_plans: int = DEFAULT_MAX_PLANS) -> None:
        self.schema = schema
        self.max_plans = max_plans
        self._plans: dict[tuple[str, str | None], Plan | None] = {}

    def get(self, text: str, operation_name: str | None, document: DocumentNode) -> Plan | None:
        """The plan of ``document`` (parsed from ``text``), compiled now if it is new."""
        key = (text, operation_name)
        try:
            return self._plans[key]
        except KeyError:
            pass
        plan = compile_plan(self.schema, document, operation_name)
        if self.max_plans > 0:
            plans = self._plans
            while len(plans) >= self.max_plans:
                del plans[next(iter(plans))]
            plans[key] = plan
        return plan

    def __len__(self) -> int:
        return len(self._plans)
