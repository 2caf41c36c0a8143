"""OAuth sign-in: from a provider identity to a user and a one-time code, and that code to a
session (``exchangeOAuthCode``).

Users are found by (provider, subject) in ``OAuthAccount``, never by email alone. An email only
matters for an identity seen for the first time: if verified and equal to an active user's,
that user is linked (``OAUTH_LINK_BY_EMAIL``, audited ``OAUTH_LINKED``); if nobody has it, a new
EMPLOYEE without a password is created (``OAUTH_AUTO_PROVISION``). Everything else is refused.

The callback hands the browser a login code, never a token: single use, valid for
:data:`LOGIN_CODE_TTL_SECONDS`, stored only as its SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tortoise.transactions import in_transaction

from staffgraph.auth.oauth import errors as E
from staffgraph.auth.oauth.errors import OAuthFailure
from staffgraph.errors import BadUserInput, Unauthenticated
from staffgraph.models import AuditAction, OAuthAccount, OAuthLoginCode, Role, User
from staffgraph.resolvers.audit import record
from staffgraph.resolvers.sessions import AuthResult, open_session
from staffgraph.resolvers.staff import create_user
from staffgraph.resolvers.validation import clean_email, clean_text

if TYPE_CHECKING:
    from staffgraph.auth.oauth.clients import Identity
    from staffgraph.auth.oauth.config import OAuthConfig
    from staffgraph.context import Context

#: a login code's lifetime: long enough for the frontend to post it back, no longer
LOGIN_CODE_TTL_SECONDS = 60
#: spent and expired codes are deleted once this old
_CODE_RETENTION = timedelta(hours=1)


def hash_login_code(code: str) -> str:
    """The stored form of a login code: its SHA-256, hex."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


async def sign_in(ctx: Context, config: OAuthConfig, identity: Identity) -> str:
    """The user behind ``identity`` (linked or created as configured) and a fresh login code.

    All in one transaction: a refused sign-in leaves no link, user or code behind.
    """
    async with in_transaction():
        user = await _user_for(ctx, config, identity)
        code = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        await OAuthLoginCode.filter(expires_at__lt=now - _CODE_RETENTION).delete()
        await OAuthLoginCode.create(
            code_hash=hash_login_code(code),
            user=user,
            provider=identity.provider,
            expires_at=now + timedelta(seconds=LOGIN_CODE_TTL_SECONDS),
        )
    return code


async def _user_for(ctx: Context, config: OAuthConfig, identity: Identity) -> User:
    account = await OAuthAccount.get_or_none(
        provider=identity.provider, subject=identity.subject
    ).select_related("user")
    if account is not None:
        if not account.user.is_active:
            raise OAuthFailure(E.ACCOUNT_DISABLED, user_id=account.user_id)
        if identity.email and identity.email_verified and account.email != identity.email:
            account.email = identity.email[:254]
            await account.save(update_fields=["email"])
        return account.user

    if not identity.email or not identity.email_verified:
        raise OAuthFailure(E.EMAIL_NOT_VERIFIED, f"{identity.provider} {identity.subject}")
    try:
        email = clean_email(identity.email)
    except BadUserInput as exc:
        raise OAuthFailure(E.EMAIL_NOT_VERIFIED, "unusable email") from exc

    user = await User.get_or_none(email=email)
    if user is not None:
        if not user.is_active:
            raise OAuthFailure(E.ACCOUNT_DISABLED, user_id=user.id)
        if not config.link_by_email:
            raise OAuthFailure(E.ACCOUNT_NOT_LINKED, "linking by email is off", user_id=user.id)
        if await OAuthAccount.exists(user_id=user.id, provider=identity.provider):
            # the email moved to another identity at this provider: not a reason to hand it over
            raise OAuthFailure(
                E.ACCOUNT_NOT_LINKED, "already linked to another subject", user_id=user.id
            )
    elif config.auto_provision:
        try:
            user = await create_user(
                ctx.services.passwords,
                email=email,
                display_name=_display_name(identity.name, email),
                password=None,
                roles=(Role.EMPLOYEE,),
                ctx=ctx,
            )
        except BadUserInput as exc:
            raise OAuthFailure(E.ACCOUNT_NOT_FOUND, f"cannot provision: {exc.message}") from exc
    else:
        raise OAuthFailure(E.ACCOUNT_NOT_FOUND, f"{identity.provider} {identity.subject}")

    await OAuthAccount.create(
        user=user, provider=identity.provider, subject=identity.subject, email=email
    )
    await record(
        ctx,
        AuditAction.OAUTH_LINKED,
        actor_id=user.id,
        target_id=user.id,
        detail=f"{identity.provider} subject {identity.subject}",
    )
    return user


def _display_name(name: str | None, email: str) -> str:
    """The provider's name for the user when usable, else the email's local part."""
    try:
        cleaned = clean_text(name, "displayName", max_length=200)
    except BadUserInput:
        cleaned = None
    return cleaned or email.split("@", 1)[0]


INVALID_LOGIN_CODE = "Invalid or expired sign-in code"
#: a login code is 43 characters; anything much longer is not one of ours
MAX_LOGIN_CODE_LENGTH = 256


async def exchange_oauth_code(ctx: Context, code: str) -> AuthResult:
    """The ``exchangeOAuthCode`` mutation: spend a login code and open a session like ``login``.

    The code is claimed by one conditional UPDATE, so of two racing requests only one wins.
    Unknown, spent and expired codes all get the same UNAUTHENTICATED answer.
    """
    if not code or len(code) > MAX_LOGIN_CODE_LENGTH:
        raise Unauthenticated(INVALID_LOGIN_CODE)
    digest = hash_login_code(code)
    now = datetime.now(UTC)
    claimed = await OAuthLoginCode.filter(
        code_hash=digest, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    row = await OAuthLoginCode.get_or_none(code_hash=digest).select_related("user")
    if row is None:
        raise Unauthenticated(INVALID_LOGIN_CODE)
    if not claimed or not row.user.is_active:
        reason = "deactivated" if claimed else "spent or expired"
        await record(
            ctx,
            AuditAction.LOGIN_FAILED,
            actor_id=row.user_id,
            target_id=row.user_id,
            detail=f"oauth:{row.provider} sign-in code {reason}",
        )
        raise Unauthenticated(INVALID_LOGIN_CODE)
    return await open_session(
        ctx, row.user, method=f"oauth:{row.provider}", refusal=Unauthenticated(INVALID_LOGIN_CODE)
    )
