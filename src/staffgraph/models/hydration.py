"""Rows into model instances: Tortoise's own conversion, with ISO timestamps parsed in C.

Tortoise turns each row into a model with ``Model._init_from_db``; on SQLite every timestamp
arrives as text and goes through the ``iso8601`` package, which costs about as much as the rest
of the row together (a page of 50 users holds some 200 of them). :class:`FastHydration` is that
same method, column for column, except that a timestamp string is parsed with
``datetime.fromisoformat`` and then given the time zone exactly as Tortoise would, and that
PostgreSQL's native timestamps take Tortoise's branch for them directly. Anything else (a
partial row from ``.only()``, another setting of ``use_tz``) goes through Tortoise's own code.
``tests/test_hydration.py`` compares both on every model, on both databases.
"""

from __future__ import annotations

from collections.abc import Callable
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


class FastHydration:
    """Mixin for models: :meth:`_init_from_db` with timestamps parsed by the standard library."""

    @classmethod
    def _init_from_db(cls: type[M], **kwargs: Any) -> M:  # type: ignore[misc]
        meta = cls._meta
        plan = _plans.get(cls)
        if plan is None:
            plan = _plans[cls] = _plan(meta)
        direct, converted = plan
        self = cls.__new__(cls)
        setattr_ = object.__setattr__
        try:
            for key, attr in direct:
                setattr_(self, attr, kwargs[key])
            for key, attr, convert in converted:
                setattr_(self, attr, convert(kwargs[key]))
        except KeyError:  # a partial row (``.only()``): Tortoise's own, slower path
            return super()._init_from_db(**kwargs)  # type: ignore[misc]
        # as Tortoise sets them (Model.__setattr__ only matters for fields and relations)
        setattr_(self, "_partial", False)
        setattr_(self, "_saved_in_db", True)
        setattr_(self, "_custom_generated_pk", meta.db_pk_column not in meta.generated_db_fields)
        setattr_(self, "_await_when_save", {})
        return self
