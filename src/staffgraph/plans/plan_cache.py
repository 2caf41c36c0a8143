"""Plans by document text and operation name: compiled on first use, kept within a bound."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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

    def get(
        self,
        text: str,
        operation_name: str | None,
        document: DocumentNode,
        variables: Mapping[str, Any] | None = None,
    ) -> Plan | None:
        """The plan of ``document`` (parsed from ``text``), compiled now if it is new (with
        ``variables``, values its variables accept)."""
        key = (text, operation_name)
        try:
            return self._plans[key]
        except KeyError:
            pass
        plan = compile_plan(self.schema, document, operation_name, variables)
        if self.max_plans > 0:
            plans = self._plans
            while len(plans) >= self.max_plans:
                del plans[next(iter(plans))]
            plans[key] = plan
        return plan

    def compiled(self, text: str, operation_name: str | None) -> Plan | None:
        """The plan kept for ``text``, if one was compiled; never compiles."""
        return self._plans.get((text, operation_name))

    def declined(self, text: str, operation_name: str | None) -> bool:
        """Whether ``text`` was examined already and no plan covers it (a mutation, say)."""
        key = (text, operation_name)
        return key in self._plans and self._plans[key] is None

    def __len__(self) -> int:
        return len(self._plans)
