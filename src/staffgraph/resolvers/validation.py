"""Input checks shared by every mutation: clear BAD_USER_INPUT errors, never a 500.

PostgreSQL refuses NUL in text and both databases would store lone surrogates badly, so every
string is checked here, before it can reach a query.
"""

from __future__ import annotations

import re
import unicodedata

from staffgraph.errors import BadUserInput

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
