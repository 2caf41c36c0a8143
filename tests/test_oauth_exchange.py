"""``exchangeOAuthCode``: the one-time code of an OAuth sign-in, spent once, within a minute."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from staffgraph.models import AuditAction, AuditEvent, OAuthLoginCode, Session, User
from tests.conftest import error_codes, make_user
from tests.oidc_provider import Account, harness
from tests.oidc_provider.harness import redirect_target

# the harness's fixtures, used by name below
oidc_provider = harness.oidc_provider
github_provider = harness.github_provider
provider_env = harness.provider_env
oauth = harness.oauth


async def _signed_in(oauth, oidc_provider, email="ada@example.com"):
    user = await make_user(email)
    oidc_provider.knobs.account = Account(f"sub-{email}", email)
    browser = await oauth.browser()
    code = redirect_target(await browser.sign_in())[1]["code"]
    return user, browser, code


async def test_a_code_works_once(oauth, oidc_provider):
    user, browser, code = await _signed_in(oauth, oidc_provider)
    first = await browser.exchange(code)
    assert first["data"]["exchangeOAuthCode"]["user"]["id"] == str(user.id)

    second = await browser.exchange(code)
    assert error_codes(second) == ["UNAUTHENTICATED"]
    assert second["data"] is None
    assert await Session.filter(user_id=user.id).count() == 1
    reused = await AuditEvent.get(action=AuditAction.LOGIN_FAILED)
    assert reused.actor_id == user.id
    assert "spent or expired" in (reused.detail or "")


async def test_racing_exchanges_open_one_session(oauth, oidc_provider):
    user, browser, code = await _signed_in(oauth, oidc_provider)
    results = await asyncio.gather(*(browser.exchange(code) for _ in range(4)))
    winners = [r for r in results if not r.get("errors")]
    assert len(winners) == 1
    assert all(error_codes(r) == ["UNAUTHENTICATED"] for r in results if r.get("errors"))
    assert await Session.filter(user_id=user.id).count() == 1


async def test_an_expired_code_is_refused(oauth, oidc_provider):
    user, browser, code = await _signed_in(oauth, oidc_provider)
    await OAuthLoginCode.filter(user_id=user.id).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    body = await browser.exchange(code)
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["errors"][0]["message"] == "Invalid or expired sign-in code"
    assert await Session.all().count() == 0


async def test_unknown_and_oversized_codes_are_refused(oauth):
    browser = await oauth.browser()
    for code in ("", "made-up", "x" * 10_000):
        body = await browser.exchange(code)
        assert error_codes(body) == ["UNAUTHENTICATED"], code
    assert await Session.all().count() == 0


async def test_a_user_deactivated_after_the_callback_gets_no_session(oauth, oidc_provider):
    user, browser, code = await _signed_in(oauth, oidc_provider)
    await User.filter(id=user.id).update(is_active=False)
    body = await browser.exchange(code)
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert await Session.all().count() == 0


async def test_an_invalid_bearer_token_does_not_block_the_exchange(oauth, oidc_provider):
    user, browser, code = await _signed_in(oauth, oidc_provider)
    response = await browser.client.post(
        "/graphql",
        json={
            "query": "mutation($c: String!) { exchangeOAuthCode(code: $c) { user { id } } }",
            "variables": {"c": code},
        },
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert response.json()["data"]["exchangeOAuthCode"]["user"]["id"] == str(user.id)


async def test_the_code_is_stored_only_as_its_hash(oauth, oidc_provider):
    user, _browser, code = await _signed_in(oauth, oidc_provider)
    rows = await OAuthLoginCode.filter(user_id=user.id).values_list("code_hash", flat=True)
    assert len(rows) == 1
    assert code not in rows[0]
    assert len(rows[0]) == 64
