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

import datetime
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from tortoise.expressions import Q
from tortoise.fields.relational import ForeignKeyFieldInstance
from tortoise.models import Model
from tortoise.queryset import QuerySet

from staffgraph.models.hydration import hydrate, hydrate_values

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
    annotations, ``.only()`` or ``.first()``; anything else is awaited as it is).

    The statement is Tortoise's, kept per shape of the query (see :func:`_shape`): once
    Tortoise's own parameters for a shape were found to be exactly what :func:`_parameters`
    reads off the query, later queries of that shape run its text with their parameters,
    without Tortoise building it again (a tenth of a page's cost).
    """
    statement = _plain_statement(query)
    if statement is None:
        return list(await query)
    sql, params = statement
    _, rows = await query._db.execute_query(sql, params)
    return hydrate(query.model, rows)


class Read(NamedTuple):
    """What :func:`models_with` read: the query's rows, the rows they point at, and the value
    of its :class:`Once` (None when none was asked or no row came)."""

    rows: list[Any]
    related: list[Model]
    once: Any


@dataclass(frozen=True)
class Once:
    """A value a statement reads beside its rows, once: an SQL expression of one argument, such
    as a subquery, that does not depend on the rows. ``expression`` holds ``{}`` where the
    argument's placeholder goes, the argument as the database takes it (``Field.to_db_value``);
    ``name`` tells expressions apart among the kept statements."""

    name: str
    expression: str
    argument: Any


async def models_with(
    query: QuerySet[M], relation: str | None, once: Once | None = None
) -> Read | None:
    """``await query``, the rows its foreign key ``relation`` points at (none asked: None) and
    the value of ``once``, read by one statement: the query's own (as :func:`models_of` runs
    it), its rows joined with the related table's (``LEFT JOIN``) and put back in the query's
    order. None, and nothing read, for a query that is not a plain select of whole rows or
    whose order is not by columns.

    A page of users and their departments was two statements, the second a batch of the
    loader on the event loop's next turn: on PostgreSQL its round trip cost 13% of a page.
    """
    statement = _plain_statement(query)
    if statement is None:
        return None
    sql, params = statement
    joined = _joined_statement(query, sql, len(params), relation, once)
    if joined is None:
        return None
    outer, related, columns, key_column, once_first = joined
    if once is not None:
        params = [once.argument, *params] if once_first else [*params, once.argument]
    _, rows = await query._db.execute_query(outer, params)
    models = hydrate(query.model, rows)
    if not rows:
        return Read(models, [], None)
    value = None
    if once is not None:
        # the statement sends the value with one row of them, and None with the others
        value = next((row[-1] for row in rows if row[-1] is not None), None)
    if related is None:
        return Read(models, [], value)
    first = len(rows[0]) - len(columns) - (once is not None)  # the related row's columns last
    at = first + key_column
    stop = first + len(columns)
    seen: dict[Any, tuple[Any, ...]] = {}
    for row in rows:
        key = row[at]
        if key is not None and key not in seen:  # None: no related row (a LEFT JOIN's)
            seen[key] = tuple(row[first:stop])
    return Read(models, hydrate_values(related, columns, list(seen.values())), value)


def _plain_statement(query: QuerySet[Any]) -> tuple[str, list[Any]] | None:
    """The statement and parameters of a plain select of whole rows, the text kept per shape
    (see :func:`models_of`); None for anything else."""
    if (
        query._select_related  # (its _idx is only filled in as the statement is written)
        or query._select_related_idx
        or query._prefetch_map
        or query._prefetch_queries
        or query._annotations
        or query._fields_for_select
        or query._single
    ):
        return None
    if query._db is None:  # as QuerySet.__await__ chooses it
        query._db = query._choose_db(query._select_for_update)
    shape = _shape(query)
    known = _page_statements.get(shape) if shape is not None else None
    if shape is not None and known is not None:
        _page_statements.move_to_end(shape)
        params = _parameters(query)
        assert params is not None  # a shape is only kept when its parameters can be read
        return known, params
    query._make_query()
    sql, params = query.query.get_parameterized_sql()
    if shape is not None and _reads_as_tortoise_wrote(query, params):
        _page_statements[shape] = sql
        if len(_page_statements) > MAX_STATEMENTS:
            _page_statements.popitem(last=False)
    return sql, params


#: the joined statement, the related model (None: no join), its columns' names as its own rows
#: name them, the position among them of the column the foreign key points at, and whether the
#: :class:`Once` argument is the statement's first parameter (else its last)
Joined = tuple[str, type[Model] | None, tuple[str, ...], int, bool]
#: (model, relation, once's name, the query's statement) -> what :func:`_joined_statement`
#: makes of them
_joined_statements: OrderedDict[tuple[Any, ...], Joined] = OrderedDict()


def _joined_statement(
    query: QuerySet[Any], sql: str, parameters: int, relation: str | None, once: Once | None
) -> Joined | None:
    """The statement of :func:`models_with`, kept per (model, relation, once, query's
    statement); ``parameters``: how many the query's statement takes."""
    model = query.model
    key = (model, relation, once.name if once else None, sql)
    known = _joined_statements.get(key)
    if known is not None:
        _joined_statements.move_to_end(key)
        return known
    meta = model._meta
    projection = meta.fields_db_projection
    order = []
    # as Tortoise orders it: the query's order, else the model's (Meta.ordering)
    for name, direction in query._orderings or meta.ordering or ():
        if not isinstance(name, str) or name not in projection:
            return None  # an expression or a related field: not a column of the rows
        order.append(f'"p"."{projection[name]}" {direction.value}')
    picked = ""
    join = ""
    related: type[Model] | None = None
    columns: tuple[str, ...] = ()
    target_at = 0
    if relation is not None:
        field = meta.fields_map.get(relation)
        if not isinstance(field, ForeignKeyFieldInstance):
            return None
        related = field.related_model
        columns = tuple(related._meta.fields_db_projection.values())
        target = related._meta.fields_db_projection[field.to_field]
        target_at = columns.index(target)
        picked = "".join(f',"r"."{column}" AS "r__{column}"' for column in columns)
        join = (
            f' LEFT JOIN "{related._meta.db_table}" AS "r" '
            f'ON "r"."{target}"="p"."{projection[field.source_field]}"'
        )
    numbered = query._db.capabilities.dialect == "postgres"  # $1, $2...; else ? in text order
    if once is not None:
        placeholder = f"${parameters + 1}" if numbered else "?"
        # one row carries the value (evaluated once, the subquery not being of the rows), the
        # others None: sent with every row it would be decoded with every row
        picked += (
            ",CASE WHEN row_number() OVER ()=1 THEN "
            f'{once.expression.format(placeholder)} END AS "once__"'
        )
    # the query's own statement, parameters and all, as a subquery; its order again outside
    # (a join keeps none); the joined columns after the query's, read by position
    outer = f'SELECT "p".*{picked} FROM ({sql}) AS "p"{join}'  # noqa: S608 - our own names
    if order:
        outer += " ORDER BY " + ",".join(order)
    joined = (outer, related, columns, target_at, once is not None and not numbered)
    _joined_statements[key] = joined
    if len(_joined_statements) > MAX_STATEMENTS:
        _joined_statements.popitem(last=False)
    return joined


#: statement texts of :func:`models_of` by query shape
_page_statements: OrderedDict[tuple[Any, ...], str] = OrderedDict()
#: what a query set holds that may differ between two queries of one shape
_SHAPED_SLOTS = frozenset(
    {"_q_objects", "_orderings", "_limit", "_db", "query", "model", "fields", "_capabilities"}
)
#: filter values a statement is kept for: plain values Tortoise encodes into one parameter
_PLAIN_VALUES = (str, int, float, bool, uuid.UUID, datetime.datetime, datetime.date)
_pristine: dict[type[Model], dict[str, Any]] = {}


def _slots(cls: type) -> list[str]:
    return [name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())]


def _shape(query: QuerySet[Any]) -> tuple[Any, ...] | None:
    """What the statement of ``query`` depends on, or None when that is more than its filters'
    structure, keys and types of values (with the values that are written into the statement),
    its order and whether it has a limit.

    Every other attribute of the query set must hold what ``model.all()`` holds (compared
    with Tortoise's own defaults, so an attribute a later Tortoise adds is covered too).
    """
    model = query.model
    pristine = _pristine.get(model)
    if pristine is None:
        fresh = model.all()
        pristine = _pristine[model] = {
            name: getattr(fresh, name)
            for name in _slots(type(fresh))
            if name not in _SHAPED_SLOTS and hasattr(fresh, name)
        }
    for name, default in pristine.items():
        value = getattr(query, name, None)
        # the defaults are empty containers, False and None: comparing never reaches a term
        if value is not default and value != default:
            return None
    filters = []
    for q in query._q_objects:
        shape = _q_shape(q)
        if shape is None:
            return None
        filters.append(shape)
    shape = (
        model,
        query._db.capabilities.dialect,
        tuple(filters),
        tuple(query._orderings),
        query._limit is not None,
    )
    try:
        hash(shape)
    except TypeError:  # an ordering by an expression
        return None
    return shape


def _q_shape(q: Any) -> tuple[Any, ...] | None:
    if type(q) is not Q:
        return None
    keys: list[tuple[str, Any]] = []
    for key, value in q.filters.items():
        if value is not None and not isinstance(value, _PLAIN_VALUES):
            return None
        # None (IS NULL) and the value of ``__isnull`` (IS NULL, IS NOT NULL) are written into
        # the statement, not given as parameters: they are part of the shape
        written = value is None or key.endswith("isnull")
        keys.append((key, value if written else type(value)))
    children: list[tuple[Any, ...]] = []
    for child in q.children:
        shape = _q_shape(child)
        if shape is None:
            return None
        children.append(shape)
    return (q.join_type, q._is_negated, tuple(keys), tuple(children))


def _parameters(query: QuerySet[Any], sources: list[Any] | None = None) -> list[Any] | None:
    """The parameters Tortoise would give the statement of ``query``: each filter's value
    encoded as Tortoise encodes it, left to right, then the limit; None for a filter on another
    table's rows. ``sources`` receives the filter value each parameter came from."""
    found: list[Any] = []
    model = query.model
    for q in query._q_objects:
        if not _q_parameters(model, q, found, sources):
            return None
    if query._limit is not None:
        found.append(query._limit)
        if sources is not None:
            sources.append(query._limit)
    return found


def _q_parameters(model: type[Model], q: Q, found: list[Any], sources: list[Any] | None) -> bool:
    for key, value in q.filters.items():
        if value is None or key.endswith("isnull"):
            continue  # IS NULL, IS NOT NULL: no parameter
        info = model._meta.get_filter(key)
        if "table" in info:
            return False
        field = model._meta.fields_map[info["field"]]
        encoder = info.get("value_encoder")
        found.append(encoder(value, model, field) if encoder else field.to_db_value(value, model))
        if sources is not None:
            sources.append(value)
    return all(_q_parameters(model, child, found, sources) for child in q.children)


def _reads_as_tortoise_wrote(query: QuerySet[Any], params: list[Any]) -> bool:
    """Whether :func:`_parameters` reads ``params`` off ``query``: the same values of the same
    types in the same places, and no two places holding equal values that came from different
    filter values (they could be the wrong way round: one object in two places, such as a
    cursor's time, is one value; two equal numbers, strings or booleans may be two)."""
    sources: list[Any] = []
    read = _parameters(query, sources)
    if read is None or len(read) != len(params):
        return False
    if any(type(a) is not type(b) or a != b for a, b in zip(read, params, strict=True)):
        return False
    seen: dict[Any, Any] = {}  # a value -> the filter value of its first place
    for value, source in zip(read, sources, strict=True):
        try:
            if value not in seen:
                seen[value] = source
                continue
        except TypeError:  # unhashable: places cannot be told apart
            return False
        if seen[value] is not source or isinstance(source, (bool, int, str)):
            return False
    return True
