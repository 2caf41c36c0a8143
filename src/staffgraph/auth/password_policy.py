"""The password policy: 12 to 128 characters of any script, not common, not the email.

No composition rules (NIST SP 800-63B §3.1.1.2): length and a deny-list do the work.

The deny-list is Django's ``common-passwords.txt.gz`` (20,000 passwords compiled by Royce
Williams, lowercased; BSD-3-Clause, see ``common-passwords-NOTICE.txt`` beside this module),
shipped as package data and compared case-insensitively.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

from staffgraph.auth.passwords import MAX_LENGTH, MIN_LENGTH
from staffgraph.errors import BadUserInput

COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"


@cache
def common_passwords() -> frozenset[str]:
    """The deny-list, lowercased; entries too short to be accepted anyway are left out."""
    data = resources.files("staffgraph.auth").joinpath(COMMON_PASSWORDS_FILE).read_bytes()
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    return frozenset(p.strip().lower() for p in lines if len(p.strip()) >= MIN_LENGTH)


def is_common(password: str) -> bool:
    """Whether ``password`` is on the deny-list, ignoring case and surrounding spaces."""
    return password.strip().lower() in common_passwords()


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
    if is_common(password):
        raise BadUserInput("This password is too common; choose another", field=field)
