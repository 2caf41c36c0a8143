"""Why an OAuth sign-in failed: the ``error`` the frontend receives on its ``redirect_to``."""

from __future__ import annotations

import uuid
from typing import Final

#: the provider answered the authorization request with an error other than access_denied
PROVIDER_ERROR: Final = "provider_error"
#: the user (or the provider's policy) declined the sign-in
ACCESS_DENIED: Final = "access_denied"
#: the provider could not be reached, or answered with something unusable
PROVIDER_UNAVAILABLE: Final = "provider_unavailable"
#: the callback has no code, or parameters that do not belong together
INVALID_REQUEST: Final = "invalid_request"
#: the callback's ``iss`` is not the issuer the sign-in was started with (mix-up attack)
ISSUER_MISMATCH: Final = "issuer_mismatch"
#: the provider refused to exchange the code (bad or spent code, wrong PKCE verifier)
TOKEN_EXCHANGE_FAILED: Final = "token_exchange_failed"  # noqa: S105
#: the ID token failed validation: signature, iss, aud, exp, nonce
INVALID_ID_TOKEN: Final = "invalid_id_token"  # noqa: S105
#: no verified email to link or create an account with
EMAIL_NOT_VERIFIED: Final = "email_not_verified"
#: the staffgraph account is deactivated
ACCOUNT_DISABLED: Final = "account_disabled"
#: an account has this email but linking by email is off (or it is linked to someone else there)
ACCOUNT_NOT_LINKED: Final = "account_not_linked"
#: no account for this identity and automatic provisioning is off
ACCOUNT_NOT_FOUND: Final = "account_not_found"
#: anything unexpected; the details are in the server log under the request id
SERVER_ERROR: Final = "server_error"

# Failures answered without a redirect, because no validated redirect_to is known yet.
#: ``redirect_to`` is missing or not on the allow-list
INVALID_REDIRECT: Final = "invalid_redirect"
#: the state is missing, unknown, expired, already used, or from another browser or provider
INVALID_STATE: Final = "invalid_state"
#: no provider of that name is configured
UNKNOWN_PROVIDER: Final = "unknown_provider"


class OAuthFailure(Exception):
    """A sign-in that cannot go on; ``code`` is one of this module's constants.

    ``user_id`` names the account concerned when one is known (its failure is audited).
    """

    def __init__(self, code: str, detail: str = "", *, user_id: uuid.UUID | None = None) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.user_id = user_id
