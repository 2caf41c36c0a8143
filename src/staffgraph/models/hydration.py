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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from tortoise import fields
from tortoise.models import Model
from tortoise.timezone import get_default_timezone, get_use_tz, make_aware

M = TypeVar("M", bound=Model)
Converter = Callable[[Any], Any]
Plan = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, Converter], ...]]

#: each model's plan, made on its first row (Tortoise fills in the field lists at init)
_plans: dict[type, Plan] = {}
#: (column position, attribute) set as they come, and (position, attribute, converter)
PositionPlan = tuple[tuple[tuple[int, str], ...], tuple[tuple[int, str, Converter], ...]]
#: by (model, the statement's column names): the positions plan, or None for a partial row
_position_plans: dict[tuple[type, tuple[str, ...]], PositionPlan | None] = {}


def _timestamp_converter(field: fields.DatetimeField) -> Converter:
    slow = field.to_python_value

    def convert(value: Any) -> Any:
        kind = type(value)
        if kind is datetime and get_use_tz():
            # PostgreSQL's own timestamps: Tortoise's branch for them, without its detours
            if value.utcoffset() is None:
                return make_aware(value)
            return value.astimezone(get_default_timezone())
        if kind is not str or not get_use_tz():
            return slow(value)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return slow(value)
        if parsed.utcoffset() is None:
            return make_aware(parsed)  # what DatetimeField.to_python_value does with it
        return parsed.astimezone(get_default_timezone())

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


def _position_plan(model: type[Model], columns: tuple[str, ...]) -> PositionPlan | None:
    direct, converted = _plan_of(model)
    where = {column: index for index, column in enumerate(columns)}
    if len(where) != len(columns) or any(key not in where for key, *_ in (*direct, *converted)):
        return None  # a partial row, or columns named twice: Tortoise's own path
    return (
        tuple((where[key], attr) for key, attr in direct),
        tuple((where[key], attr, convert) for key, attr, convert in converted),
    )


def hydrate(model: type[M], rows: Sequence[Any]) -> list[M]:
    """``[model._init_from_db(**row) for row in rows]`` for the rows of one statement (SQLite's
    and asyncpg's rows alike: they name their columns and are read by position)."""
    if not rows:
        return []
    columns = tuple(rows[0].keys())
    key = (model, columns)
    try:
        plan = _position_plans[key]
    except KeyError:
        plan = _position_plans[key] = _position_plan(model, columns)
    if plan is None or not issubclass(model, FastHydration):
        return [model._init_from_db(**row) for row in rows]
    direct, converted = plan
    custom_pk = _custom_pk(model)
    new, setattr_ = model.__new__, object.__setattr__
    made: list[M] = []
    for row in rows:
        self = new(model)
        for index, attr in direct:
            setattr_(self, attr, row[index])
        for index, attr, convert in converted:
            setattr_(self, attr, convert(row[index]))
        _mark_loaded(self, custom_pk)
        made.append(self)
    return made
