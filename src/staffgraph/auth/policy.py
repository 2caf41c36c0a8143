"""The password policy: 12 to 128 characters of any script, no composition rules."""

from __future__ import annotations

from staffgraph.auth.passwords import MAX_LENGTH, MIN_LENGTH
from staffgraph.errors import BadUserInput


def check_new_password(password: str, *, email: str | None, field: str) -> None:
    """BAD_USER_INPUT naming ``field`` unless ``password`` may be set."""
    length = len(password)
    if length < MIN_LENGTH:
        raise BadUserInput(f"Password must have at least {MIN_LENGTH} characters", field=field)
    if length > MAX_LENGTH:
        raise BadUserInput(f"Password must have at most {MAX_LENGTH} characters", field=field)
    if "\x00" in password or any(0xD800 <= ord(c) <= 0xDFFF for c in password):
        raise BadUserInput("Password contains a character that cannot be stored", field=field)
    if email is not None and password.strip().lower() == email.strip().lower():
        raise BadUserInput("Password must not be the email address", field=field)
