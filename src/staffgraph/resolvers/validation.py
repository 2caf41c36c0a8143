"""Input checks shared by every mutation: clear BAD_USER_INPUT errors, never a 500.

PostgreSQL refuses NUL in text and both databases would store lone surrogates badly, so every
string is checked here, before it can reach a query.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from staffgraph.errors import BadUserInput, NotFound

# Cc (controls, NUL included) and Cs (lone surrogates); tab and newline only where allowed
_EMAIL_RE = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def clean_text(
    value: str | None,
    field: str,
    *,
    max_length: int,
    required: bool = False,
    multiline: bool = False,
) -> str | None:
    """``value`` trimmed; BAD_USER_INPUT if empty when required, too long or unprintable."""
    if value is None:
        if required:
            raise BadUserInput(f"{field} is required", field=field)
        return None
    allowed = "\n\t" if multiline else ""
    for char in value:
        category = unicodedata.category(char)
        if (category == "Cc" and char not in allowed) or category == "Cs":
            raise BadUserInput(f"{field} contains a control character", field=field)
    cleaned = value.strip()
    if not cleaned:
        if required:
            raise BadUserInput(f"{field} must not be empty", field=field)
        return None
    if len(cleaned) > max_length:
        raise BadUserInput(f"{field} is longer than {max_length} characters", field=field)
    return cleaned


def clean_email(value: str, field: str = "email") -> str:
    """A syntactically valid email, lowercased (uniqueness is case-insensitive)."""
    cleaned = clean_text(value, field, max_length=254, required=True)
    assert cleaned is not None
    if not _EMAIL_RE.match(cleaned) or not cleaned.isascii():
        raise BadUserInput(f"{field} is not a valid email address", field=field)
    return cleaned.lower()


_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().\-/]*[0-9)](?: ?(?:x|ext\.?) ?[0-9]{1,6})?$")
#: the oldest date of birth accepted; anything earlier is a typing mistake
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


def clean_phone(value: str | None, field: str = "phone") -> str | None:
    """A phone number (digits, spaces, ``+ ( ) . - /``, an optional extension), or None."""
    cleaned = clean_text(value, field, max_length=50)
    if cleaned is None:
        return None
    digits = sum(c.isdigit() for c in cleaned)
    if not cleaned.isascii() or not _PHONE_RE.match(cleaned) or digits < 3:
        raise BadUserInput(f"{field} is not a valid phone number", field=field)
    return cleaned


def check_date_of_birth(value: date | None, field: str = "dateOfBirth") -> date | None:
    """``value`` unless it is in the future or before 1900."""
    if value is not None and not EARLIEST_BIRTH_DATE <= value <= date.today():
        raise BadUserInput(f"{field} must be between 1900-01-01 and today", field=field)
    return value


def check_range(value: int, field: str, low: int, high: int) -> int:
    """``value`` if ``low <= value <= high``, else BAD_USER_INPUT naming ``field``."""
    if not low <= value <= high:
        raise BadUserInput(f"{field} must be between {low} and {high}", field=field)
    return value


def parse_id(value: object, field: str) -> uuid.UUID:
    """An id argument as a UUID, or BAD_USER_INPUT naming ``field``."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadUserInput(f"{field} is not a valid id", field=field) from None


def parse_optional_id(value: object, field: str) -> uuid.UUID | None:
    """Like :func:`parse_id`, None staying None."""
    return None if value is None else parse_id(value, field)


@contextmanager
def fields_under(argument: str) -> Iterator[None]:
    """Name the fields of errors raised inside after their input argument (``input.email``),
    as the client wrote them: the checks themselves know only the field's own name."""
    try:
        yield
    except (BadUserInput, NotFound) as exc:
        field = (exc.extensions or {}).get("field")
        if isinstance(field, str) and not field.startswith(f"{argument}."):
            exc.extensions = {**(exc.extensions or {}), "field": f"{argument}.{field}"}
        raise
