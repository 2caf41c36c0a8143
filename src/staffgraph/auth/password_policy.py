"""The password policy: 12 to 128 characters of any script, not common, not the email, and
hard to guess by zxcvbn's estimate.

No composition rules (NIST SP 800-63B §3.1.1.2): length, a deny-list and a strength estimate
do the work.

The deny-list is Django's ``common-passwords.txt.gz`` (20,000 passwords compiled by Royce
Williams, lowercased; BSD-3-Clause, see ``common-passwords-NOTICE.txt`` beside this module),
shipped as package data and compared case-insensitively. Few of its entries are 12 characters
or longer, so strength is judged by zxcvbn too: score at least :data:`MIN_SCORE`, with the
user's email, name and "staffgraph" as words an attacker would try first.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections.abc import Iterable
from functools import cache
from importlib import resources

from zxcvbn import zxcvbn

from staffgraph.auth.passwords import MAX_LENGTH, MIN_LENGTH
from staffgraph.errors import BadUserInput

COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"
#: zxcvbn's score from 0 to 4; 3 means "safely unguessable: moderate protection from an
#: offline slow-hash scenario" (10^8 guesses or more)
MIN_SCORE = 3
#: the word every password of this service is first tried with
SERVICE_WORD = "staffgraph"
#: zxcvbn refuses longer input; a strong first 72 characters make a strong password
ZXCVBN_MAX_LENGTH = 72
#: context words shorter than this are left in the password when the rest is judged
MIN_CONTEXT_WORD = 3
# zxcvbn keeps the context words of a call in a module-level dictionary: one call at a time
_zxcvbn_lock = threading.Lock()
_SEPARATORS = re.compile(r"[\W_]+")


@cache
def common_passwords() -> frozenset[str]:
    """The deny-list, lowercased; entries too short to be accepted anyway are left out."""
    data = resources.files("staffgraph.auth").joinpath(COMMON_PASSWORDS_FILE).read_bytes()
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    return frozenset(p.strip().lower() for p in lines if len(p.strip()) >= MIN_LENGTH)


def is_common(password: str) -> bool:
    """Whether ``password`` is on the deny-list, ignoring case and surrounding spaces."""
    return password.strip().lower() in common_passwords()


def context_words(email: str | None, name: str | None) -> list[str]:
    """The words an attacker tries first: the email, its parts, the name and its words, and
    "staffgraph"."""
    words = [SERVICE_WORD]
    for text in (email, name):
        if text:
            words.append(text.lower())
            words.extend(w for w in _SEPARATORS.split(text.lower()) if w)
    return list(dict.fromkeys(words))


def _estimate(password: str, words: list[str]) -> dict[str, object]:
    with _zxcvbn_lock:
        result: dict[str, object] = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=words)
    return result


def _without(password: str, words: Iterable[str]) -> str:
    """``password`` without its context words and separators: what an attacker who knows the
    user still has to guess."""
    rest = password.lower()
    for word in sorted(words, key=len, reverse=True):
        if len(word) >= MIN_CONTEXT_WORD:
            rest = rest.replace(word, "")
    return _SEPARATORS.sub("", rest)


def _feedback(result: dict[str, object], default: str) -> str:
    feedback = result.get("feedback")
    parts: list[str] = []
    if isinstance(feedback, dict):
        if feedback.get("warning"):
            parts.append(str(feedback["warning"]))
        parts.extend(str(s) for s in feedback.get("suggestions") or [])
    return " ".join(parts) or default


def strength_refusal(password: str, *, email: str | None, name: str | None) -> str | None:
    """Why zxcvbn finds ``password`` too easy to guess for this user, or None.

    Two estimates must reach :data:`MIN_SCORE`: the password with the context words, and what
    is left once they and the separators are taken out (zxcvbn prices a word followed by
    other matches at 10^8 guesses or more whatever they are, which lets "staffgraph-emp-2026"
    through on its own).
    """
    words = context_words(email, name)
    whole = _estimate(password, words)
    if int(str(whole["score"])) < MIN_SCORE:
        return "Password is too easy to guess: " + _feedback(
            whole, "Add another word or two. Uncommon words are better."
        )
    rest = _without(password, words)
    if rest != _SEPARATORS.sub("", password.lower()):
        left = _estimate(rest, words) if rest else None
        if left is None or int(str(left["score"])) < MIN_SCORE:
            default = "Add another word or two. Uncommon words are better."
            detail = _feedback(left, default) if left is not None else default
            return (
                "Password is too easy to guess: your name, your email and staffgraph are "
                "the first words tried. " + detail
            )
    return None


def check_new_password(
    password: str, *, email: str | None, field: str, name: str | None = None
) -> None:
    """BAD_USER_INPUT naming ``field`` unless ``password`` may be set for the user with
    ``email`` and display ``name``. Up to about 0.1 s of CPU for a long password (zxcvbn):
    async callers run it in a thread."""
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
    refusal = strength_refusal(password, email=email, name=name)
    if refusal is not None:
        raise BadUserInput(refusal, field=field)
