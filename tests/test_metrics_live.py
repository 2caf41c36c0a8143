"""``GET /metrics`` of a real ``staffgraph serve --workers 2``: one view over both workers.

Known traffic goes in (named operations, a FORBIDDEN denial, a failed and a successful sign-in,
requests past a small ``RATE_LIMIT``), then every scrape, whichever worker answers it, shows
exactly those counts; no label value carries a user id or an email.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live_server import LiveServer, live_server, staffgraph_command
from tests.private_services import private_redis

pytestmark = pytest.mark.slow

METRICS_TOKEN = "metrics-token-" + "m" * 30
PASSWORD = "Kangaroo pastry window 93"
EMAIL = "grace.metrics@example.com"
RATE_LIMIT = 12
PINGS = 5
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
LOGIN = """mutation SignIn($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken user { id } }
}"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("metrics")
    with (
        private_redis(directory) as redis,
        live_server(
            directory,
            "--workers",
            "2",
            STAFFGRAPH_REDIS_URL=redis.url(),
            STAFFGRAPH_METRICS_TOKEN=METRICS_TOKEN,
            STAFFGRAPH_RATE_LIMIT=f"{RATE_LIMIT}/minute",
            STAFFGRAPH_LOGIN_RATE_LIMIT="10/minute",
        ) as s,
    ):
        created = subprocess.run(
            [
                staffgraph_command(),
                *("create-user", "--email", EMAIL, "--name", "Grace", "--password-stdin"),
            ],
            input=PASSWORD + "\n",
            env=s.env,
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
        )
        s.env["USER_ID"] = created.stdout.strip()
        yield s


def post(server: LiveServer, body: dict[str, Any], **headers: str) -> httpx.Response:
    # a new connection each time: the kernel hands them to either worker
    return httpx.post(f"{server.base_url}/graphql", json=body, headers=headers, timeout=30)


def scrape(server: LiveServer, **headers: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}/metrics", headers=headers, timeout=30)


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def traffic(server: LiveServer) -> dict[str, int]:
    """Send the known traffic once; what was sent, by kind."""
    sent = {"pings": 0, "refused": 0}
    for _ in range(PINGS):
        ping = post(
            server,
            {"query": "query Ping { __typename }"},
            traceparent=f"00-{TRACE_ID}-00f067aa0ba902b7-01",
        )
        assert ping.status_code == 200, ping.text
        sent["pings"] += 1
    failed = post(server, {"query": LOGIN, "variables": {"email": EMAIL, "password": "wrong"}})
    assert failed.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    signed_in = post(server, {"query": LOGIN, "variables": {"email": EMAIL, "password": PASSWORD}})
    token = signed_in.json()["data"]["login"]["accessToken"]
    denied = post(
        server,
        {"query": "query Audit { auditEvents { totalCount } }"},
        authorization=f"Bearer {token}",
    )
    assert [e["extensions"]["code"] for e in denied.json()["errors"]] == ["FORBIDDEN"]
    # anonymous requests share one budget per address, over both workers (Redis): spend it
    spent = PINGS + 2
    for _ in range(RATE_LIMIT - spent + 3):
        response = post(server, {"query": "query Spend { __typename }"})
        if response.status_code == 429:
            assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            sent["refused"] += 1
        else:
            assert response.status_code == 200, response.text
    assert sent["refused"] >= 3  # the budget may hold fewer: a 404 without token counts too
    return sent


def test_metrics_need_the_token(server: LiveServer) -> None:
    assert scrape(server).status_code == 404
    wrong = scrape(server, authorization="Bearer not-the-metrics-token-at-all")
    assert wrong.status_code == 401
    assert wrong.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert scrape(server, authorization="Basic " + "bWV0cmljczp4eXo=").status_code == 401
    assert METRICS_TOKEN not in server.logs()


def test_every_scrape_counts_the_traffic_of_both_workers(
    server: LiveServer, traffic: dict[str, int]
) -> None:
    for _ in range(8):  # connections land on either worker; each must see everything
        response = scrape(server, authorization=f"Bearer {METRICS_TOKEN}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        found = samples(response.text)
        duration = "staffgraph_request_duration_seconds_count"
        assert value(found, duration, operation="Ping", type="query") == traffic["pings"]
        assert value(found, duration, operation="Audit", type="query") == 1
        assert value(found, duration, operation="SignIn", type="mutation") == 2
        assert value(found, "staffgraph_denials_total", field="auditEvents", rule="ADMIN") == 1
        assert value(found, "staffgraph_signins_total", outcome="failure") == 1
        assert value(found, "staffgraph_signins_total", outcome="success") == 1
        assert value(found, "staffgraph_rate_limited_total", limit="request") == traffic["refused"]
        assert (
            value(found, "staffgraph_responses_total", status="429", code="RATE_LIMITED")
            == (traffic["refused"])
        )
        assert value(found, "staffgraph_responses_total", status="200", code="FORBIDDEN") == 1
        assert value(found, "staffgraph_responses_total", status="200", code="UNAUTHENTICATED") == 1
        assert value(found, "staffgraph_service_up", service="database") == 1
        assert value(found, "staffgraph_service_up", service="redis") == 1
        assert value(found, "staffgraph_subscriptions_open") == 0
        ours = {name for name, _ in found if name.startswith("staffgraph_")}
        assert ours == {name for name, _ in found}, "multiprocess mode: only our metrics"


def test_no_label_carries_a_user_id_or_an_email(
    server: LiveServer, traffic: dict[str, int]
) -> None:
    text = scrape(server, authorization=f"Bearer {METRICS_TOKEN}").text
    labels = [
        label
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for label in sample.labels.values()
    ]
    assert labels
    user_id = server.env["USER_ID"]
    for label in labels:
        assert user_id not in label
        assert "@" not in label
    assert user_id not in text
    assert EMAIL not in text


def test_traceparent_reaches_the_access_line_and_the_response(
    server: LiveServer, traffic: dict[str, int]
) -> None:
    line = json.loads(server.wait_for_line('"operation": "Ping"', TRACE_ID))
    assert line["trace_id"] == TRACE_ID
    assert line["logger"] == "staffgraph.access"
    response = httpx.get(
        f"{server.base_url}/healthz",
        headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        timeout=30,
    )
    version, trace_id, span_id, flags = response.headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    assert span_id != "00f067aa0ba902b7"  # this server's span, child of the caller's
