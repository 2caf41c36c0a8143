"""Rows by key, with the SQL Tortoise writes for them written once per shape.

The loaders read rows by key: ``Model.filter(column__in=keys)``, maybe ordered. Tortoise builds
that statement anew on every call (query set clones, pypika terms, parameter lists), which
costs more than running it: for ``me`` it was a third of the request. :func:`rows_by` asks
Tortoise for the statement once per (model, column, order, number of keys, dialect), keeps its
text, and then only converts the keys as Tortoise does (``Field.to_db_value``) and runs the
text on the model's own connection, so transactions, pools, timeouts and error translation stay
Tortoise's. The rows become models as ``Model._init_from_db`` makes them, read by position
(:func:`~staffgraph.models.hydration.hydrate`).

:func:`models_of` runs a query set Tortoise built the same way: its statement and parameters as
Tortoise writes them, its rows hydrated by position, without Tortoise's executor.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

from staffgraph.models.hydration import hydrate

M = TypeVar("M", bound=Model)

#: statement texts kept (shapes differ by the number of keys: a page asks up to 100 and more)
MAX_STATEMENTS = 512

_statements: OrderedDict[tuple[Any, ...], str] = OrderedDict()


def _statement(
    model: type[Model], client: Any, column: str, keys: list[Any], order_by: tuple[str, ...]
) -> str:
    shape = (model, column, len(keys), order_by, client.capabilities.dialect)
    sql = _statements.get(shape)
    if sql is not None:
        _statements.move_to_end(shape)
        return sql
    # Tortoise writes one placeholder per key, whatever the keys are
    query = model.filter(**{f"{column}__in": keys}).order_by(*order_by).using_db(client)
    sql = query.sql()
    _statements[shape] = sql
    if len(_statements) > MAX_STATEMENTS:
        _statements.popitem(last=False)
    return sql


async def rows_by(
    model: type[M], column: str, keys: Iterable[Any], order_by: Sequence[str] = ()
) -> list[M]:
    """``await model.filter(<column>__in=keys).order_by(*order_by)``, with the statement
    written once for its shape. Duplicate keys are sent once."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return []
    client = model._choose_db()
    sql = _statement(model, client, column, unique, tuple(order_by))
    field = model._meta.fields_map[column]
    params = [field.to_db_value(key, model) for key in unique]
    _, rows = await client.execute_query(sql, params)
    return hydrate(model, rows)


async def models_of(query: QuerySet[M]) -> list[M]:
    """``await query`` for a plain select of whole rows (no ``select_related``, prefetch,
    annotations, ``.only()`` or ``.first()``; anything else is awaited as it is)."""
    if (
        query._select_related_idx
        or query._prefetch_map
        or query._prefetch_queries
        or query._annotations
        or query._fields_for_select
        or query._single
    ):
        return list(await query)
    if query._db is None:  # as QuerySet.__await__ chooses it
        query._db = query._choose_db(query._select_for_update)
    query._make_query()
    sql, params = query.query.get_parameterized_sql()
    _, rows = await query._db.execute_query(sql, params)
    return hydrate(query.model, rows)
