"""Rows by key, with the SQL Tortoise writes for them written once per shape.

The loaders read rows by key: ``Model.filter(column__in=keys)``, maybe ordered. Tortoise builds
that statement anew on every call (query set clones, pypika terms, parameter lists), which
costs more than running it: for ``me`` it was a third of the request. :func:`rows_by` asks
Tortoise for the statement once per (model, column, order, number of keys, dialect), keeps its
text, and then only converts the keys as Tortoise does (``Field.to_db_value``) and runs the
text on the model's own connection, so transactions, pools, timeouts and error translation stay
Tortoise's. The rows become models through ``Model._init_from_db``, as every Tortoise read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from tortoise.models import Model

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
    init = model._init_from_db
    return [init(**row) for row in rows]
