"""What you may do: rule classes, their combinators and the field guard."""

from staffgraph.permissions.guard import allows, decide, guarded, require
from staffgraph.permissions.rules import (
    ANYONE,
    AUTHENTICATED,
    Anyone,
    HasRole,
    InManagementChain,
    IsAuthenticated,
    IsReviewer,
    IsSelf,
    Rule,
    ViaParent,
)

__all__ = [
    "ANYONE",
    "AUTHENTICATED",
    "Anyone",
    "HasRole",
    "InManagementChain",
    "IsAuthenticated",
    "IsReviewer",
    "IsSelf",
    "Rule",
    "ViaParent",
    "allows",
    "decide",
    "guarded",
    "require",
]
