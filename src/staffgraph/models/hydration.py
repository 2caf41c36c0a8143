"""Rows into model instances: Tortoise's own conversion, with ISO timestamps parsed in C.

Tortoise turns each row into a model with ``Model._init_from_db``; on SQLite every timestamp
arrives as text and goes through the ``iso8601`` package, which costs about as much as the rest
of the row together (a page of 50 users holds some 200 of them). :class:`FastHydration` is that
same method, column for column, except that a timestamp string is parsed with
``datetime.fromisoformat`` and then given the time zone exactly as Tortoise would, and that
PostgreSQL's native timestamps take Tortoise's branch for them directly. Anything else (a
partial row from ``.only()``, another setting of ``use_tz``) goes through Tortoise's own code.
:func:`hydrate` does the same for the rows of one statement by their columns' positions, from the
plan made once per (model, columns): a database row read by name (``**row``) cost more than the
rest of its conversion. ``tests/test_hydration.py`` compares all of them on every model, on
both databases.

SQLite's rows hold UUIDs and timestamps as text, and a directory reads the same rows again and
again: each text's value (an immutable ``uuid.UUID`` or ``datetime``) is remembered, bounded,
so a known id costs a dictionary lookup instead of a parse (about 1 us each, three per user).
PostgreSQL's timestamps arrive as ``datetime`` in UTC. Where Tortoise's default zone is UTC too
(staffgraph's), each is kept as it comes: Tortoise would only give it an equal zone (the same
fields, offset and ISO text). In another zone each is remembered the same way with its time in
that zone: a lookup instead of ``astimezone`` (2% of a page).
The rows of one statement then hydrate through a function written for its (model, columns),
which sets each attribute by its position without a call per column, and for asyncpg's rows
sets their UUIDs, and their timestamps in UTC where the zone is UTC, without their converters.
"""

from __future__ import annotations

import functools
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar

from asyncpg import Record  # type: ignore[import-untyped]
from tortoise import fields
from tortoise.models import Model
from tortoise.timezone import get_default_timezone, get_use_tz, make_aware

M = TypeVar("M", bound=Model)
Converter = Callable[[Any], Any]
Plan = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, Converter], ...]]

#: each model's plan, made on its first row (Tortoise fills in the field lists at init)
_plans: dict[type, Plan] = {}
#: the rows of one statement into instances (see :func:`_row_reader`)
RowsReader = Callable[[Sequence[Any]], list[Any]]
#: by (model, the statement's column names, whether the rows are asyncpg's): its reader, or
#: None for a partial row
_readers: dict[tuple[type, tuple[str, ...], bool], RowsReader | None] = {}

#: how many texts each memo below holds before it starts again (some 250 bytes an entry)
MAX_REMEMBERED = 16_384
#: SQLite's text of a UUID -> its ``uuid.UUID``
_uuids: dict[str, uuid.UUID] = {}
#: SQLite's text of a timestamp -> the aware ``datetime`` Tortoise makes of it
_timestamps: dict[str, datetime] = {}
#: PostgreSQL's aware timestamp (in UTC) -> the same instant in Tortoise's default zone
_moments: dict[datetime, datetime] = {}


def _remember(memo: dict[Any, Any], read: Any, value: Any) -> None:
    if len(memo) >= MAX_REMEMBERED:
        memo.clear()  # a directory larger than the memo pays the parse again, nothing more
    memo[read] = value


def _timestamp_converter(field: fields.DatetimeField) -> Converter:
    slow = field.to_python_value

    def convert(value: Any) -> Any:
        if value is None:
            return None  # a column never set (last_login_at): Tortoise leaves it None
        kind = type(value)
        if kind is datetime and get_use_tz():
            # PostgreSQL's own timestamps: Tortoise's branch for them, without its detours
            if value.utcoffset() is None:
                return make_aware(value)
            if value.tzinfo is UTC and _always_utc(get_default_timezone()):
                # no memo: a new aware datetime's hash costs as much as astimezone
                return value
            moved = _moments.get(value)
            if moved is None:
                # equal aware values are one instant, which has one time in the default zone
                moved = value.astimezone(get_default_timezone())
                _remember(_moments, value, moved)
            return moved
        if kind is not str or not get_use_tz():
            return slow(value)
        known = _timestamps.get(value)
        if known is not None:
            return known
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return slow(value)
        if parsed.utcoffset() is None:
            aware = make_aware(parsed)  # what DatetimeField.to_python_value does with it
        else:
            aware = parsed.astimezone(get_default_timezone())
        # the zone settings are read once per process (functools.cache), so a text's value
        # cannot change while it is remembered
        _remember(_timestamps, value, aware)
        return aware

    convert.native = "timestamp"  # type: ignore[attr-defined]
    return convert


#: a converter's kind -> the name its memo has in a rows' reader
_MEMOS = {"uuid": "U", "timestamp": "T"}


@functools.cache
def _always_utc(zone: tzinfo) -> bool:
    """Whether ``zone`` (Tortoise's default) is UTC at every instant."""
    return zone is UTC or getattr(zone, "key", None) in ("UTC", "Etc/UTC")


def uuid_of(text: str) -> uuid.UUID:
    """The UUID SQLite holds as ``text``, remembered with the rows' own (see the module)."""
    known = _uuids.get(text)
    if known is None:
        known = uuid.UUID(text)
        _remember(_uuids, text, known)
    return known


def _uuid_converter(field: fields.UUIDField) -> Converter:
    slow = field.to_python_value

    def convert(value: Any) -> Any:
        if type(value) is str:
            return uuid_of(value)  # what UUIDField.to_python_value makes of a text
        if value is None or isinstance(value, uuid.UUID):
            return value  # PostgreSQL's own UUIDs, as UUIDField.to_python_value leaves them
        return slow(value)

    convert.native = "uuid"  # type: ignore[attr-defined]
    return convert


def _typed(field_type: Callable[[Any], Any]) -> Converter:
    """Tortoise's conversion of a field that does not override ``to_python_value``."""

    def convert(value: Any) -> Any:
        return None if value is None else field_type(value)

    return convert


def _plan(meta: Any) -> Plan:
    """(column, attribute) set as they come, and (column, attribute, converter) for the rest."""
    direct = tuple((key, attr) for key, attr, _ in meta.db_native_fields)
    converted: list[tuple[str, str, Converter]] = []
    for key, attr, field in meta.db_default_fields:
        converted.append((key, attr, _typed(field.field_type)))
    for key, attr, field in meta.db_complex_fields:
        if isinstance(field, fields.DatetimeField) and type(field).to_python_value is (
            fields.DatetimeField.to_python_value
        ):
            converted.append((key, attr, _timestamp_converter(field)))
        elif isinstance(field, fields.UUIDField) and type(field).to_python_value is (
            fields.UUIDField.to_python_value
        ):
            converted.append((key, attr, _uuid_converter(field)))
        else:
            converted.append((key, attr, field.to_python_value))
    return direct, tuple(converted)


def _plan_of(model: type[Model]) -> Plan:
    plan = _plans.get(model)
    if plan is None:
        plan = _plans[model] = _plan(model._meta)
    return plan


def _mark_loaded(instance: Model, custom_pk: bool) -> None:
    """The flags Tortoise sets on a whole row it loaded (``Model.__setattr__`` only matters for
    fields and relations)."""
    setattr_ = object.__setattr__
    setattr_(instance, "_partial", False)
    setattr_(instance, "_saved_in_db", True)
    setattr_(instance, "_custom_generated_pk", custom_pk)
    setattr_(instance, "_await_when_save", {})


def _custom_pk(model: type[Model]) -> bool:
    meta = model._meta
    return meta.db_pk_column not in meta.generated_db_fields


class FastHydration:
    """Mixin for models: :meth:`_init_from_db` with timestamps parsed by the standard library."""

    @classmethod
    def _init_from_db(cls: type[M], **kwargs: Any) -> M:  # type: ignore[misc]
        direct, converted = _plan_of(cls)
        self = cls.__new__(cls)
        setattr_ = object.__setattr__
        try:
            for key, attr in direct:
                setattr_(self, attr, kwargs[key])
            for key, attr, convert in converted:
                setattr_(self, attr, convert(kwargs[key]))
        except KeyError:  # a partial row (``.only()``): Tortoise's own, slower path
            return super()._init_from_db(**kwargs)  # type: ignore[misc]
        _mark_loaded(self, _custom_pk(cls))
        return self


def _row_reader(
    model: type[Model], columns: tuple[str, ...], native: bool = False
) -> RowsReader | None:
    """A function of the rows of a statement with ``columns`` that makes each an instance of
    ``model`` as :meth:`FastHydration._init_from_db` does, or None for a partial row (read by
    name, by Tortoise).

    ``native``: asyncpg's rows, whose UUIDs are ``uuid.UUID`` (or None) already, set as they
    come, and whose timestamps in UTC are set as they come where the default zone is UTC
    (what their converters answer for them, without the call: some 350 calls a page).

    Its source sets every attribute in the instance's ``__dict__`` from its column's position
    (``d['salary'] = row[8]``, ``d['id'] = c3(row[0])``), which is what ``object.__setattr__``
    does for an attribute the class has no descriptor for; a model with such a descriptor (or
    with slots) gets None too, and each row goes through its ``_init_from_db``.
    """
    direct, converted = _plan_of(model)
    where = {column: index for index, column in enumerate(columns)}
    if len(where) != len(columns) or any(key not in where for key, *_ in (*direct, *converted)):
        return None  # a partial row, or columns named twice: Tortoise's own path
    custom_pk = _custom_pk(model)
    attrs = [attr for _, attr in direct] + [attr for _, attr, _ in converted]
    descriptors = any(hasattr(type(getattr(model, attr, None)), "__set__") for attr in attrs)
    if descriptors or "__slots__" in model.__dict__:
        return None
    names: dict[str, Any] = {
        "new": model.__new__,
        "model": model,
        "custom_pk": custom_pk,
        "UTC": UTC,
        "_m": sys.modules[__name__],
    }
    body = [f"        d[{attr!r}] = row[{where[key]}]" for key, attr in direct]
    in_utc = native and get_use_tz() and _always_utc(get_default_timezone())
    for number, (key, attr, convert) in enumerate(converted):
        names[f"c{number}"] = convert
        kind = getattr(convert, "native", None)
        at = where[key]
        if native and kind == "uuid":
            body.append(f"        d[{attr!r}] = row[{at}]")
        elif in_utc and kind == "timestamp":
            body.append(f"        v = row[{at}]")
            body.append(
                f"        d[{attr!r}] = v if v is None or v.tzinfo is UTC else c{number}(v)"
            )
        elif not native and kind in _MEMOS:
            # SQLite's texts: the value remembered for the text, else its converter's (which
            # remembers it); a remembered UUID or datetime is never false
            body.append(f"        v = row[{at}]")
            body.append(f"        d[{attr!r}] = {_MEMOS[kind]}.get(v) or c{number}(v)")
        else:
            body.append(f"        d[{attr!r}] = c{number}(row[{at}])")
    source = "\n".join(
        [
            "def read(rows):",
            # the memos as they are now (a test may put new ones in place)
            "    U = _m._uuids",
            "    T = _m._timestamps",
            "    made = []",
            "    for row in rows:",
            "        self = new(model)",
            "        d = self.__dict__",
            *body,
            # the flags of _mark_loaded
            "        d['_partial'] = False",
            "        d['_saved_in_db'] = True",
            "        d['_custom_generated_pk'] = custom_pk",
            "        d['_await_when_save'] = {}",
            "        made.append(self)",
            "    return made",
        ]
    )
    # the source is made here from the model's own field names and positions, nothing else
    exec(compile(source, f"<rows of {model.__name__}>", "exec"), names)  # noqa: S102
    reader: RowsReader = names["read"]
    return reader


def hydrate(model: type[M], rows: Sequence[Any]) -> list[M]:
    """``[model._init_from_db(**row) for row in rows]`` for the rows of one statement (SQLite's
    and asyncpg's rows alike: they name their columns and are read by position)."""
    if not rows:
        return []
    return hydrate_values(model, tuple(rows[0].keys()), rows)


def hydrate_values(model: type[M], columns: tuple[str, ...], rows: Sequence[Any]) -> list[M]:
    """:func:`hydrate` for rows read by position whose columns are ``columns`` (a joined
    table's part of a statement's rows, say); any other columns after them are not read."""
    if not rows:
        return []
    native = type(rows[0]) is Record
    key = (model, columns, native)
    try:
        reader = _readers[key]
    except KeyError:
        reader = _readers[key] = (
            _row_reader(model, columns, native) if issubclass(model, FastHydration) else None
        )
    if reader is None:
        return [model._init_from_db(**dict(zip(columns, row, strict=False))) for row in rows]
    return reader(rows)
