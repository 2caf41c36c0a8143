"""Label values with bounded cardinality: a metric's series must not grow with its clients.

Only names the server recognises go into labels (operation names as GraphQL spells them,
error codes in capitals), each kept for the first :data:`MAX_VALUES` distinct values a process
sees and ``other`` after that. User ids, emails and documents never reach a label.
"""

from __future__ import annotations

import re
import threading

#: distinct values kept per label; later ones are counted as ``other``
MAX_VALUES = 200
OTHER = "other"

_OPERATION = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,99}$")
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,59}$")


class BoundedValues:
    """The first ``limit`` distinct values that match ``pattern``; anything else is ``other``."""

    def __init__(self, pattern: re.Pattern[str], limit: int = MAX_VALUES) -> None:
        self.pattern = pattern
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if not self.pattern.match(value):
            return OTHER
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
        return value


#: GraphQL operation names (``-`` stands for an anonymous operation)
operation_names = BoundedValues(_OPERATION)
#: ``extensions.code`` values of errors
error_codes = BoundedValues(_CODE, limit=50)
#: field and rule names come from the schema, but are bounded all the same
field_names = BoundedValues(re.compile(r"^[_A-Za-z][ _0-9A-Za-z]{0,99}$"))
rule_labels = BoundedValues(re.compile(r"^[\x20-\x7e]{1,200}$"))


def operation_label(recorded: str | None) -> str:
    """The label of what the request guard recorded: one name, ``-``, or a batch ``a,b``."""
    if not recorded:
        return "-"
    names = recorded.split(",")
    if len(names) > 1:
        return "batch"
    if names[0] == "-":
        return "-"
    return operation_names(names[0])
