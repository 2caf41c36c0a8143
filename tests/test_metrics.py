"""``/metrics`` in process: its token, what it counts, and labels that stay bounded."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from staffgraph.app import create_app
from staffgraph.observability import labels
from staffgraph.observability.response_metrics import error_codes
from staffgraph.settings import SettingsError
from tests.conftest import error_codes as codes_of
from tests.conftest import gql, make_user, token_for
from tests.conftest import test_settings as settings_for_tests

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "in-process-metrics-token-0123456789"


@pytest.fixture
async def metrics_client(db: Any, settings: Any) -> Any:
    app = create_app(settings.model_copy(update={"metrics_token": TOKEN}), manage_orm=False)
    await app.state.services.start()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.services.stop()


def sample(name: str, **label_values: str) -> float:
    return REGISTRY.get_sample_value(name, label_values) or 0.0


async def test_no_metrics_without_the_setting(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"Authorization": "Bearer anything-at-all"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_the_token_opens_the_metrics(metrics_client: httpx.AsyncClient) -> None:
    assert (await metrics_client.get("/metrics")).status_code == 404
    for wrong in ("Bearer " + TOKEN[:-1], "Bearer " + TOKEN + "x", "Basic " + TOKEN, "Bearer"):
        response = await metrics_client.get("/metrics", headers={"Authorization": wrong})
        assert response.status_code == 401, wrong
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert codes_of(response.json()) == ["UNAUTHENTICATED"]
    response = await metrics_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    for name in (
        "staffgraph_request_duration_seconds",
        "staffgraph_responses_total",
        "staffgraph_denials_total",
        "staffgraph_signins_total",
        "staffgraph_rate_limited_total",
        "staffgraph_revocations_total",
        "staffgraph_subscriptions_open",
        "staffgraph_service_up",
    ):
        assert f"# HELP {name.removesuffix('_total')}" in response.text or name in response.text
    assert 'staffgraph_service_up{service="database"} 1.0' in response.text


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(SettingsError, match="STAFFGRAPH_METRICS_TOKEN"):
        settings_for_tests(metrics_token="short")


async def test_denials_sign_ins_and_revocations_are_counted(
    metrics_client: httpx.AsyncClient, app: Any
) -> None:
    user = await make_user("metrics.counted@example.com")
    token = await token_for(app, user)
    before = {
        "denied": sample("staffgraph_denials_total", field="auditEvents", rule="ADMIN"),
        "failed": sample("staffgraph_signins_total", outcome="failure"),
        "signed_in": sample("staffgraph_signins_total", outcome="success"),
        "revoked": sample("staffgraph_revocations_total"),
        "forbidden": sample("staffgraph_responses_total", status="200", code="FORBIDDEN"),
        "ok": sample("staffgraph_request_duration_seconds_count", operation="Audit", type="query"),
    }
    body = await gql(metrics_client, "query Audit { auditEvents { totalCount } }", token=token)
    assert codes_of(body) == ["FORBIDDEN"]
    login = (
        "mutation In($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"
    )
    body = await gql(metrics_client, login, {"e": user.email, "p": "not the password"})
    assert codes_of(body) == ["UNAUTHENTICATED"]
    body = await gql(metrics_client, login, {"e": user.email, "p": "correct horse battery staple"})
    fresh = body["data"]["login"]["accessToken"]
    body = await gql(metrics_client, "mutation Out { logout }", token=fresh)
    assert body["data"] == {"logout": True}
    assert sample("staffgraph_denials_total", field="auditEvents", rule="ADMIN") == (
        before["denied"] + 1
    )
    assert sample("staffgraph_signins_total", outcome="failure") == before["failed"] + 1
    assert sample("staffgraph_signins_total", outcome="success") == before["signed_in"] + 1
    assert sample("staffgraph_revocations_total") == before["revoked"] + 1
    assert sample("staffgraph_responses_total", status="200", code="FORBIDDEN") == (
        before["forbidden"] + 1
    )
    assert sample("staffgraph_request_duration_seconds_count", operation="Audit", type="query") == (
        before["ok"] + 1
    )
    text = (await metrics_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
    assert str(user.id) not in text
    assert user.email not in text


async def test_a_rate_limited_request_is_counted(db: Any, settings: Any) -> None:
    app = create_app(settings.model_copy(update={"rate_limit": "2/minute"}), manage_orm=False)
    await app.state.services.start()
    before = sample("staffgraph_rate_limited_total", limit="request")
    transport = httpx.ASGITransport(app=app, client=("127.0.0.9", 50002))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            statuses = [
                (await client.post("/graphql", json={"query": "{ __typename }"})).status_code
                for _ in range(4)
            ]
    finally:
        await app.state.services.stop()
    assert statuses == [200, 200, 429, 429]
    assert sample("staffgraph_rate_limited_total", limit="request") == before + 2


async def test_operation_names_are_bounded(metrics_client: httpx.AsyncClient) -> None:
    limited = labels.BoundedValues(re.compile(r"^[A-Za-z]+$"), limit=3)
    assert [limited(v) for v in ("a", "b", "c", "d", "a", "e")] == [
        "a",
        "b",
        "c",
        "other",
        "a",
        "other",
    ]
    assert limited("not a name") == "other"
    assert labels.operation_label(None) == "-"
    assert labels.operation_label("A,B") == "batch"
    assert labels.operation_label("x" * 101) == "other"
    assert labels.operation_label("ada@example.com") == "other"


def test_error_codes_come_from_the_errors_only() -> None:
    body = b'{"data":{"code":"NOT_AN_ERROR"},"errors":[{"extensions":{"code":"FORBIDDEN"}},'
    body += b'{"message":"x"},{"extensions":{"code":"FORBIDDEN"}}]}'
    assert error_codes(body) == {"FORBIDDEN", "NO_CODE"}
    assert error_codes(b'{"data":{"errors":1}}') == set()
    assert error_codes(b'[{"errors":[{"extensions":{"code":"A"}}]},{"data":{}}]') == {"A"}
    assert error_codes(b'not json with "errors"') == set()
    assert labels.error_codes("lowercase") == "other"


async def test_the_dashboard_asks_only_for_metrics_the_api_has(
    metrics_client: httpx.AsyncClient,
) -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "staffgraph.json").read_text("utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    asked = {name for expr in exprs for name in re.findall(r"\bstaffgraph_\w+", expr)}
    text = (await metrics_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
    exposed = {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    } | {family.name for family in text_string_to_metric_families(text)}
    # a counter's family is exposed as <name>_total; a histogram's as _bucket, _count, _sum
    assert asked - exposed == set()
    covered = {"request_duration", "responses", "denials", "signins", "rate_limited"}
    covered |= {"revocations", "subscriptions_open", "service_up"}
    assert {f"staffgraph_{name}" for name in covered} <= {
        name.removesuffix("_total").removesuffix("_bucket").removesuffix("_seconds")
        for name in asked
    }


async def test_a_request_like_the_last_counts_without_looking_its_series_up(
    metrics_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from staffgraph.observability import metrics

    query = {"query": "query RepeatedProbe { __typename }"}
    duration = ("staffgraph_request_duration_seconds_count", "RepeatedProbe", "query")
    await metrics_client.post("/graphql", json=query)  # its series are found once
    answered = sample("staffgraph_responses_total", status="200", code="none")
    timed = sample(duration[0], operation=duration[1], type=duration[2])
    looked_up: list[str] = []
    for family in (metrics.RESPONSES, metrics.REQUEST_DURATION):
        original = family.labels

        def counting(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            looked_up.append(str(kwargs))
            return _original(*args, **kwargs)

        monkeypatch.setattr(family, "labels", counting)
    for _ in range(3):
        assert (await metrics_client.post("/graphql", json=query)).status_code == 200
    assert looked_up == []
    assert sample("staffgraph_responses_total", status="200", code="none") == answered + 3
    assert sample(duration[0], operation=duration[1], type=duration[2]) == timed + 3


async def test_an_answer_without_errors_is_counted_under_none(
    metrics_client: httpx.AsyncClient,
) -> None:
    """``code="none"`` is what dashboards leave out of the error rate: a clean answer must not
    land under ``other`` with the unrecognised codes."""
    clean = sample("staffgraph_responses_total", status="200", code="none")
    other = sample("staffgraph_responses_total", status="200", code="other")
    response = await metrics_client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200
    assert "errors" not in response.json()
    assert sample("staffgraph_responses_total", status="200", code="none") == clean + 1
    assert sample("staffgraph_responses_total", status="200", code="other") == other
