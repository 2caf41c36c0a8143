"""Signing in and out: login, token refresh, sessions and passwords.

A session is one signed-in device. Its access tokens carry its id (``sid``); its refresh tokens
are opaque, stored only as SHA-256 digests, single use, and rotated on every refresh within the
session's absolute lifetime (``REFRESH_TOKEN_TTL``). Ending a session marks its row and tells
the revocation store, which refuses its access tokens from the very next request.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tortoise.transactions import in_transaction

from staffgraph.context import Viewer
from staffgraph.errors import BadUserInput, NotFound, Unauthenticated
from staffgraph.models import AuditAction, RefreshToken, Role, Session, User, UserRole
from staffgraph.models.user import new_security_stamp
from staffgraph.observability import metrics
from staffgraph.permissions import policy
from staffgraph.permissions.guard import require
from staffgraph.resolvers.audit import record

if TYPE_CHECKING:
    from staffgraph.context import Context
    from staffgraph.services import Services

INVALID_CREDENTIALS = "Invalid email or password"
INVALID_REFRESH_TOKEN = "Invalid or expired refresh token"  # noqa: S105 (a message)
#: longest email that can exist (RFC 5321); longer input matches no account
MAX_EMAIL_LENGTH = 254
#: a refresh token is 43 characters; anything much longer is not one of ours
MAX_REFRESH_TOKEN_LENGTH = 256


@dataclass(slots=True)
class AuthResult:
    """What ``login``, ``refreshToken`` and ``exchangeOAuthCode`` return (``AuthPayload``)."""

    access_token: str
    refresh_token: str
    expires_in: int
    user: User
    token_type: str = "Bearer"  # noqa: S105 (RFC 6750 token type)


def _now() -> datetime:
    return datetime.now(UTC)


def hash_refresh_token(token: str) -> str:
    """The stored form of a refresh token: its SHA-256, hex (256 random bits need no salt)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def _new_refresh_token(session_id: uuid.UUID) -> str:
    token = secrets.token_urlsafe(32)
    await RefreshToken.create(session_id=session_id, token_hash=hash_refresh_token(token))
    return token


async def _roles_of(user_id: uuid.UUID) -> frozenset[Role]:
    rows = await UserRole.filter(user_id=user_id).only("role")
    return frozenset(Role(r.role) for r in rows)


async def _tokens_for(
    ctx: Context, user: User, session_id: uuid.UUID, refresh: str, roles: frozenset[Role]
) -> AuthResult:
    """Sign an access token and make its user the viewer for the rest of this request.

    ``roles`` were read in the transaction that vouched for the session, after the user row
    was locked: a roles change either waited for it (and then ended the session) or came first.
    """
    services = ctx.services
    access = services.tokens.issue(user.id, session_id, roles)
    # the payload's `user { ... }` fields are read in this same response, as this user
    # the token's exp is int(now) + ttl: the same or a little later than this
    ctx.viewer = Viewer(
        user.id, session_id, roles, expires_at=int(time.time()) + services.tokens.ttl
    )
    ctx.auth_error = None
    ctx.loaders.prime_users([user])
    return AuthResult(access, refresh, services.tokens.ttl, user)


async def change_credentials(user_id: uuid.UUID, **changes: object) -> int:
    """Give ``user_id`` a new security stamp (with ``changes`` to its row); rows written.

    Call it inside the transaction of the credential change, BEFORE selecting the sessions to
    end: its row lock makes a sign-in that checked the old stamp either commit its session
    first (so the change sees and ends it) or find the stamp changed and open nothing.
    """
    return await User.filter(id=user_id).update(security_stamp=new_security_stamp(), **changes)


async def open_session(
    ctx: Context, user: User, *, method: str = "password", refusal: Unauthenticated | None = None
) -> AuthResult:
    """Open a session for ``user`` who just proved who they are, and return its tokens.

    The proof holds only for the credentials it was checked against: the transaction's first
    statement is a conditional write on the user row (still active, same ``security_stamp``
    as ``user`` was read with). When a credential change came in between, nothing is opened
    and the answer is the failed sign-in one (``refusal``, by default the failed login's).
    Records ``last_login_at`` and LOGIN_SUCCEEDED (``method`` goes to the detail). Shared by
    ``login`` and the OAuth code exchange.
    """
    now = _now()
    async with in_transaction():
        vouched = await User.filter(
            id=user.id, security_stamp=user.security_stamp, is_active=True
        ).update(last_login_at=now)
        if vouched:
            roles = await _roles_of(user.id)
            session = await Session.create(
                user_id=user.id,
                expires_at=now + timedelta(seconds=ctx.services.settings.refresh_token_ttl),
                user_agent=(ctx.user_agent or "")[:500] or None,
                ip_address=ctx.client_ip,
            )
            refresh = await _new_refresh_token(session.id)
            await record(
                ctx,
                AuditAction.LOGIN_SUCCEEDED,
                actor_id=user.id,
                target_id=user.id,
                detail=f"{method}; session {session.id}",
            )
    if not vouched:
        await record(
            ctx,
            AuditAction.LOGIN_FAILED,
            actor_id=None,
            target_id=user.id,
            detail=f"{method}: credentials changed during sign-in",
        )
        raise refusal or Unauthenticated(INVALID_CREDENTIALS, reason="invalid_credentials")
    user.last_login_at = now
    return await _tokens_for(ctx, user, session.id, refresh, roles)


async def _find_user(email: str) -> User | None:
    email = email.strip().lower()
    if not email or len(email) > MAX_EMAIL_LENGTH:
        return None
    return await User.get_or_none(email=email)


async def login(ctx: Context, email: str, password: str) -> AuthResult:
    """Verify the credentials and open a session.

    Unknown, deactivated and password-less (OAuth-only) accounts get the wrong-password answer
    after the same bcrypt work. Failures count per account and per IP; over the limit the
    answer is RATE_LIMITED before any password check.
    """
    services = ctx.services
    async with services.login_limiter.attempt(email, ctx.client_ip) as attempt:
        user = await _find_user(email)
        # verify against the real hash when there is one (even for a deactivated account),
        # else against the dummy hash: every refusal costs one bcrypt check at the same cost
        valid = await services.passwords.verify(password, user.password_hash if user else None)
        if user is None or not valid or not user.is_active:
            attempt.failed()
            await record(
                ctx,
                AuditAction.LOGIN_FAILED,
                actor_id=None,
                target_id=user.id if user else None,
                detail=_failure_detail(user, valid),
            )
            metrics.signin("failure")
            raise Unauthenticated(INVALID_CREDENTIALS, reason="invalid_credentials")
    metrics.signin("success")
    await _upgrade_hash(services, user, password)
    return await open_session(ctx, user)


def _failure_detail(user: User | None, valid: bool) -> str:
    if user is None:
        return "unknown account"
    if user.password_hash is None:
        return "account has no password"
    if not user.is_active:
        return "deactivated account"
    return "wrong password"


async def _upgrade_hash(services: Services, user: User, password: str) -> None:
    """Re-hash at the current ``BCRYPT_ROUNDS`` when the stored hash used another cost."""
    old = user.password_hash
    if old is None or not services.passwords.needs_rehash(old):
        return
    new = await services.passwords.hash(password)
    # conditional: a password changed meanwhile is not overwritten with the old one
    if await User.filter(id=user.id, password_hash=old).update(password_hash=new):
        user.password_hash = new


async def refresh(ctx: Context, refresh_token: str) -> AuthResult:
    """Rotate a refresh token: spend it and return new tokens of the same session.

    The first use is decided by a conditional UPDATE (``used_at IS NULL``), which PostgreSQL row
    locks make atomic: two racing requests cannot both spend it first. A token spent less than
    ``REFRESH_REUSE_INTERVAL`` ago is honoured again (two tabs racing); spent longer ago, it was
    stolen or replayed: the whole session is revoked and REFRESH_TOKEN_REUSED audited.
    """
    if not refresh_token or len(refresh_token) > MAX_REFRESH_TOKEN_LENGTH:
        raise Unauthenticated(INVALID_REFRESH_TOKEN, reason="invalid_token")
    services = ctx.services
    grace = timedelta(seconds=services.settings.refresh_reuse_interval)
    async with in_transaction():
        stored = await RefreshToken.get_or_none(
            token_hash=hash_refresh_token(refresh_token)
        ).select_related("session")
        if stored is None:
            raise Unauthenticated(INVALID_REFRESH_TOKEN, reason="invalid_token")
        session: Session = stored.session
        now = _now()
        if session.revoked_at is not None:
            raise Unauthenticated(INVALID_REFRESH_TOKEN, reason="token_revoked")
        if session.expires_at <= now:
            raise Unauthenticated(INVALID_REFRESH_TOKEN, reason="token_expired")
        first_use = await RefreshToken.filter(id=stored.id, used_at__isnull=True).update(
            used_at=now
        )
        reused = False
        if not first_use:
            # spent already, maybe by a request racing this one: re-read when
            spent = await RefreshToken.get(id=stored.id).only("used_at")
            reused = spent.used_at is None or now - spent.used_at > grace
        if not reused:
            # lock the user row: a credential change writes it first, so it either waits for
            # this refresh (and then ends the session) or came first and the session is ended
            user = await User.filter(id=session.user_id, is_active=True).select_for_update().first()
            still_open = user is not None and await Session.filter(
                id=session.id, revoked_at__isnull=True
            ).update(last_used_at=now)
            if user is None or not still_open:
                raise Unauthenticated(INVALID_REFRESH_TOKEN, reason="token_revoked")
            roles = await _roles_of(user.id)
            new_token = await _new_refresh_token(session.id)
            await record(
                ctx,
                AuditAction.TOKEN_REFRESHED,
                actor_id=user.id,
                target_id=user.id,
                detail=f"session {session.id}" + ("" if first_use else " (within reuse interval)"),
            )
    if reused:
        await _revoke_for_reuse(ctx, session)
        raise Unauthenticated(INVALID_REFRESH_TOKEN, reason="token_revoked")
    assert user is not None
    return await _tokens_for(ctx, user, session.id, new_token, roles)


async def _revoke_for_reuse(ctx: Context, session: Session) -> None:
    await end_session(ctx.services, session.id, "refresh_token_reused")
    await record(
        ctx,
        AuditAction.REFRESH_TOKEN_REUSED,
        actor_id=None,
        target_id=session.user_id,
        detail=f"session {session.id} revoked: a spent refresh token was presented again",
    )


async def end_session(services: Services, session_id: uuid.UUID, reason: str) -> bool:
    """Revoke one session; True when it was still open."""
    ended = await Session.filter(id=session_id, revoked_at__isnull=True).update(
        revoked_at=_now(), revoke_reason=reason
    )
    # told even when already revoked: an instance that missed it catches up
    await services.revocations.revoke([session_id])
    return bool(ended)


async def end_sessions(
    services: Services,
    user_id: uuid.UUID,
    reason: str,
    *,
    keep: uuid.UUID | None = None,
) -> int:
    """Revoke every open session of ``user_id`` (but ``keep``), returning how many.

    The rows are marked first (the source of truth), then the revocation store refuses their
    access tokens from the very next request, on every instance.
    """
    query = Session.filter(user_id=user_id, revoked_at__isnull=True)
    if keep is not None:
        query = query.exclude(id=keep)
    session_ids = [s.id for s in await query.only("id")]
    if not session_ids:
        return 0
    await Session.filter(id__in=session_ids).update(revoked_at=_now(), revoke_reason=reason)
    await services.revocations.revoke(session_ids)
    return len(session_ids)


def _viewer(ctx: Context) -> Viewer:
    if ctx.viewer is None:  # the guard lets only signed-in viewers through
        raise Unauthenticated("Authentication required", reason=ctx.auth_error or "no_token")
    return ctx.viewer


async def logout(ctx: Context) -> bool:
    """End the current session."""
    viewer = _viewer(ctx)
    await end_session(ctx.services, viewer.session_id, "logout")
    await record(
        ctx, AuditAction.LOGOUT, target_id=viewer.user_id, detail=f"session {viewer.session_id}"
    )
    return True


async def logout_all(ctx: Context) -> int:
    """End every session of the viewer, the current one included; returns how many."""
    viewer = _viewer(ctx)
    ended = await end_sessions(ctx.services, viewer.user_id, "logout_all")
    await record(
        ctx, AuditAction.LOGOUT, target_id=viewer.user_id, detail=f"all sessions ({ended})"
    )
    return ended


@dataclass(frozen=True, slots=True)
class _NoSuchSession:
    """Stands for an absent session in the permission check: nobody owns it."""

    id: uuid.UUID
    user_id: None = None


async def revoke_session(ctx: Context, session_id: uuid.UUID) -> bool:
    """End one session: the viewer's own, or anyone's for ADMIN.

    True when the session was open, False when it had ended already. To anyone else, a session
    that does not exist is refused exactly like someone else's (FORBIDDEN), so session ids
    cannot be probed; ADMIN gets NOT_FOUND.
    """
    viewer = _viewer(ctx)
    session = await Session.get_or_none(id=session_id)
    if session is None:
        if viewer.has_role(Role.ADMIN):
            raise NotFound("No session with this id", field="id")
        await require(ctx, policy.REVOKE_SESSION, _NoSuchSession(session_id), "revokeSession")
        raise NotFound("No session with this id", field="id")  # unreachable: nobody owns it
    await require(ctx, policy.REVOKE_SESSION, session, "revokeSession")
    ended = await end_session(ctx.services, session.id, "revoked")
    await record(
        ctx, AuditAction.LOGOUT, target_id=session.user_id, detail=f"session {session.id} revoked"
    )
    return ended


async def change_password(ctx: Context, current_password: str, new_password: str) -> bool:
    """Change the viewer's password and end their other sessions.

    A wrong current password is BAD_USER_INPUT on ``currentPassword`` and counts as a failed
    sign-in for the account and the IP (so a stolen access token cannot be used to guess it).
    """
    from staffgraph.auth.password_policy import check_new_password

    viewer = _viewer(ctx)
    services = ctx.services
    user = await User.get_or_none(id=viewer.user_id, is_active=True)
    if user is None:
        raise Unauthenticated("Authentication required", reason="token_revoked")
    await asyncio.to_thread(
        check_new_password,
        new_password,
        email=user.email,
        name=user.display_name,
        field="newPassword",
    )
    async with services.login_limiter.attempt(user.email, ctx.client_ip) as attempt:
        if not await services.passwords.verify(current_password, user.password_hash):
            attempt.failed()
            await record(
                ctx,
                AuditAction.LOGIN_FAILED,
                target_id=user.id,
                detail="changePassword: wrong current password",
            )
            raise BadUserInput("The current password is not correct", field="currentPassword")
    new_hash = await services.passwords.hash(new_password)
    async with in_transaction():
        await change_credentials(user.id, password_hash=new_hash)
        ended = await end_sessions(services, user.id, "password_changed", keep=viewer.session_id)
        await record(
            ctx,
            AuditAction.PASSWORD_CHANGED,
            target_id=user.id,
            detail=f"ended {ended} other sessions",
        )
    return True
