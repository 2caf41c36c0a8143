"""Tortoise models, one module per aggregate."""

from staffgraph.models.audit import AuditAction, AuditEvent
from staffgraph.models.department import Department
from staffgraph.models.oauth import OAuthAccount, OAuthLoginCode
from staffgraph.models.review import Review
from staffgraph.models.session import RefreshToken, Session
from staffgraph.models.user import Role, User, UserRole

__all__ = [
    "AuditAction",
    "AuditEvent",
    "Department",
    "OAuthAccount",
    "OAuthLoginCode",
    "RefreshToken",
    "Review",
    "Role",
    "Session",
    "User",
    "UserRole",
]
