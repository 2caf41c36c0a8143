"""The text of a UUID, remembered: ``uuid.UUID.__str__`` is written in Python (about 0.6 us),
and a page writes some 150 ids, most of them the same ones again, as does every access line
its viewer's."""

from __future__ import annotations

import uuid

#: the text of each standard-library UUID met, bounded
_texts: dict[uuid.UUID, str] = {}
MAX_TEXTS = 16_384


def uuid_text(value: uuid.UUID) -> str:
    """``str(value)``, remembered for the standard library's UUIDs (asyncpg's write their own
    text in C)."""
    if type(value) is not uuid.UUID:
        return str(value)
    text = _texts.get(value)
    if text is None:
        if len(_texts) >= MAX_TEXTS:
            _texts.clear()  # more distinct ids than that pay the text again, nothing more
        text = _texts[value] = str(value)
    return text
