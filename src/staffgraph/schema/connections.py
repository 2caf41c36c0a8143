"""The arguments every connection field takes (Relay cursor connections spec).

``first``/``after`` page forward and ``last``/``before`` backward. ``first`` has no schema
default, so that ``last`` alone is a plain backward page; the size used when neither is given
travels in the argument's metadata (:data:`PAGE_SIZE_KEY`), where the cost limit reads it.
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from staffgraph.resolvers.pagination import MAX_PAGE_SIZE

#: metadata key of ``first``: the page size when neither ``first`` nor ``last`` is given
PAGE_SIZE_KEY = "staffgraph.page_size"


def _first(default: int) -> Any:
    return strawberry.argument(
        description=f"Page forward: at most this many items after `after` (0 to "
        f"{MAX_PAGE_SIZE}; {default} when neither `first` nor `last` is given).",
        metadata={PAGE_SIZE_KEY: default},
    )


After = Annotated[
    str | None,
    strawberry.argument(description="A cursor: only items after it (`endCursor` of a page)."),
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description=f"Page backward: at most this many items before `before`, in the same "
        f"order (0 to {MAX_PAGE_SIZE}; not with `first`)."
    ),
]
Before = Annotated[
    str | None,
    strawberry.argument(description="A cursor: only items before it (`startCursor` of a page)."),
]
#: ``first`` of the user connections (``users``, ``Department.members``)
First20 = Annotated[int | None, _first(20)]
#: ``first`` of ``auditEvents``
First50 = Annotated[int | None, _first(50)]
