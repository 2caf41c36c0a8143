"""Passwords: the policy, the common-password list, full-length comparison past bcrypt's
72 bytes, and hashing that leaves the event loop free."""

from __future__ import annotations

import asyncio
import fnmatch
import gzip
import time
import tomllib
from importlib import resources
from pathlib import Path

import bcrypt
import pytest

from staffgraph.auth.password_policy import COMMON_PASSWORDS_FILE, check_new_password, is_common
from staffgraph.auth.passwords import PasswordHasher, default_workers
from staffgraph.errors import BadUserInput

ROOT = Path(__file__).resolve().parents[1]


def test_the_common_password_list_ships_with_the_package():
    data = resources.files("staffgraph.auth").joinpath(COMMON_PASSWORDS_FILE).read_bytes()
    entries = gzip.decompress(data).decode().splitlines()
    assert len(entries) >= 10_000
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["staffgraph"]
    shipped = f"auth/{COMMON_PASSWORDS_FILE}"
    assert any(fnmatch.fnmatch(shipped, pattern) for pattern in package_data)
    assert any(fnmatch.fnmatch("auth/common-passwords-NOTICE.txt", p) for p in package_data)


@pytest.mark.parametrize("password", ["qwerty123456", "QWERTY123456", " Q1w2E3r4T5y6 "])
def test_common_passwords_are_found_whatever_the_case(password):
    assert is_common(password)


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "汉字不是密码但很长的句子",  # 12 characters of another script
        ("ça déjà été vérifié très précisément à Zürich, où l'hiver dure " * 3)[:128],
        "🦊🐻🐼🐨🐯🦁🐮🐷🐸🐵🐔🐧",
        "staffgraph orbit lantern quince",  # a context word, and enough besides
    ],
)
def test_good_passwords_pass(password):
    check_new_password(password, email="ada@example.com", field="password")


@pytest.mark.parametrize(
    "password",
    [
        "eleven char",
        "x" * 129,
        "123456789123",
        "ada@example.com",
        "with a \x00 nul ok",
        "\ud800" * 12,
    ],
)
def test_bad_passwords_are_refused_naming_the_field(password):
    with pytest.raises(BadUserInput) as caught:
        check_new_password(password, email="ada@example.com", field="newPassword")
    assert caught.value.extensions == {"code": "BAD_USER_INPUT", "field": "newPassword"}


@pytest.mark.parametrize(
    ("password", "name"),
    [
        ("123456789012", None),  # not on the list, a sequence of digits all the same
        ("staffgraph-emp-2026", None),  # the service, a role and the year
        ("Ada Lovelace 1815!", "Ada Lovelace"),  # the name and a year
        ("ada@example.com2026", None),  # the email and a year
        ("abcabcabcabcabc", None),  # a repeat
    ],
)
def test_guessable_passwords_are_refused_with_zxcvbn_feedback(password, name):
    with pytest.raises(BadUserInput) as caught:
        check_new_password(password, email="ada@example.com", name=name, field="password")
    assert caught.value.extensions == {"code": "BAD_USER_INPUT", "field": "password"}
    message = str(caught.value)
    assert message.startswith("Password is too easy to guess: ")
    assert len(message) > len("Password is too easy to guess: ") + 10


def test_the_feedback_is_zxcvbns():
    with pytest.raises(BadUserInput) as caught:
        check_new_password("abcabcabcabcabc", email=None, field="password")
    assert 'Repeats like "abcabcabc" are only slightly harder to guess' in str(caught.value)


def test_no_composition_rules():
    # all lowercase letters, no digits, no symbols: fine
    check_new_password("lowercase letters only here", email=None, field="password")


def test_every_character_counts_past_72_bytes():
    hasher = PasswordHasher(4, workers=1)
    try:
        password = "é" * 60  # 120 bytes
        stored = hasher.hash_sync(password)
        assert hasher.verify_sync(password, stored)
        assert not hasher.verify_sync("é" * 36, stored)  # the first 72 bytes
        assert not hasher.verify_sync("é" * 59 + "e", stored)
        # plain bcrypt would have refused (bcrypt 5) or truncated: the prehash stands in
        with pytest.raises(ValueError, match="72"):
            bcrypt.hashpw(password.encode(), bcrypt.gensalt(4))
        assert not hasher.verify_sync(password, "not a bcrypt hash")
    finally:
        hasher.close()


def test_rehash_is_needed_only_at_another_cost():
    hasher = PasswordHasher(5, workers=1)
    try:
        assert not hasher.needs_rehash(hasher.hash_sync("correct horse battery staple"))
        assert hasher.needs_rehash(PasswordHasher(4).hash_sync("correct horse battery staple"))
        assert hasher.needs_rehash("garbage")
    finally:
        hasher.close()


def test_bcrypt_threads_leave_a_core_to_the_event_loop():
    cores = len(__import__("os").sched_getaffinity(0))
    assert default_workers() == max(1, cores - 1)


async def test_hashing_does_not_block_the_event_loop():
    hasher = PasswordHasher(11, workers=1)
    gaps: list[float] = []

    async def heartbeat() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(heartbeat())
    try:
        started = time.perf_counter()
        stored = await hasher.hash("correct horse battery staple")
        assert await hasher.verify("correct horse battery staple", stored)
        assert not await hasher.verify("correct horse battery staple", None)
        spent = time.perf_counter() - started
    finally:
        ticker.cancel()
        hasher.close()
    assert spent > 0.1  # three bcrypt runs at cost 11
    assert max(gaps) < spent / 3, (max(gaps), spent)
