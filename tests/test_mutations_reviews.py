"""createReview, shareReview and createDepartment: allowed and denied, rows checked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from staffgraph.models import AuditAction, AuditEvent, Department, Review
from tests.conftest import gql
from tests.permissions_org import Org, build_org, only_error

CREATE_REVIEW = """
mutation($input: CreateReviewInput!) {
  createReview(input: $input) { id period rating summary shared subject { id } reviewer { id } }
}"""
SHARE = "mutation($id: ID!) { shareReview(id: $id) { id shared } }"
CREATE_DEPARTMENT = """
mutation($name: String!, $headId: ID) {
  createDepartment(name: $name, headId: $headId) { name head { id } }
}"""
REVIEWS = "query($id: ID!) { user(id: $id) { reviews { id summary } } }"


@pytest.fixture
async def org(app: Any) -> Org:
    return await build_org(app)


def review_of(org: Org, subject: str = "target", **overrides: Any) -> dict[str, Any]:
    return {
        "subjectId": org.id(subject),
        "period": "2026-Q3",
        "rating": 5,
        "summary": "Great quarter.\nKeep going.",
        **overrides,
    }


async def denied_events() -> int:
    return await AuditEvent.filter(action=AuditAction.ACCESS_DENIED).count()


# --- createReview ------------------------------------------------------------------------


@pytest.mark.parametrize("viewer", ["manager", "director"])
async def test_a_manager_in_the_chain_writes_a_review(client, org, viewer):
    body = await gql(client, CREATE_REVIEW, {"input": review_of(org)}, org.token(viewer))
    review = body["data"]["createReview"]
    assert review["subject"] == {"id": org.id("target")}
    assert review["reviewer"] == {"id": org.id(viewer)}
    assert (review["period"], review["rating"], review["shared"]) == ("2026-Q3", 5, False)
    stored = await Review.get(id=review["id"])
    assert (stored.subject_id, stored.reviewer_id) == (
        org.users["target"].id,
        org.users[viewer].id,
    )
    assert stored.summary == "Great quarter.\nKeep going."


@pytest.mark.parametrize(
    ("viewer", "subject", "rule"),
    [
        ("skip", "target", "MANAGER & management chain"),  # in the chain, not a MANAGER
        ("manager", "hr", "MANAGER & management chain"),  # a MANAGER, not in the chain
        ("director", "skip", "MANAGER & management chain"),  # up the chain
        ("hr", "target", "MANAGER & management chain"),
        ("admin", "target", "MANAGER & management chain"),
        ("manager", "manager", "MANAGER & management chain"),  # oneself
    ],
)
async def test_others_may_not_write_reviews(client, org, viewer, subject, rule):
    before = await Review.all().count()
    body = await gql(client, CREATE_REVIEW, {"input": review_of(org, subject)}, org.token(viewer))
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "rule": rule}
    assert await Review.all().count() == before
    assert await denied_events() == 1


async def test_create_review_needs_a_viewer(client, org):
    body = await gql(client, CREATE_REVIEW, {"input": review_of(org)})
    assert only_error(body)["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_non_manager_learns_nothing_about_subjects(client, org):
    missing = review_of(org, subjectId="00000000-0000-4000-8000-000000000000")
    body = await gql(client, CREATE_REVIEW, {"input": missing}, org.token("hr"))
    assert only_error(body)["extensions"]["code"] == "FORBIDDEN"
    body = await gql(client, CREATE_REVIEW, {"input": missing}, org.token("manager"))
    assert only_error(body)["extensions"] == {"code": "NOT_FOUND", "field": "input.subjectId"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"period": "   "}, "period"),
        ({"period": "x" * 33}, "period"),
        ({"period": "2026;DROP"}, "period"),
        ({"summary": ""}, "summary"),
        ({"summary": "bad\x1bescape"}, "summary"),
        ({"subjectId": "not-an-id"}, "subjectId"),
    ],
)
async def test_create_review_validates_its_input(client, org, overrides, field):
    before = await Review.all().count()
    body = await gql(
        client, CREATE_REVIEW, {"input": review_of(org, **overrides)}, org.token("manager")
    )
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": f"input.{field}"}
    assert await Review.all().count() == before


async def test_one_review_per_subject_reviewer_and_period(client, org):
    first = await gql(client, CREATE_REVIEW, {"input": review_of(org)}, org.token("manager"))
    assert "errors" not in first
    again = await gql(client, CREATE_REVIEW, {"input": review_of(org)}, org.token("manager"))
    assert only_error(again)["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.period"}
    assert await Review.filter(period="2026-Q3").count() == 1


# --- shareReview -------------------------------------------------------------------------


async def test_the_reviewer_shares_and_the_subject_then_reads_it(client, org):
    review_id = str(org.private_review.id)
    before = await gql(client, REVIEWS, {"id": org.id("target")}, org.token("target"))
    assert review_id not in {r["id"] for r in before["data"]["user"]["reviews"]}
    body = await gql(client, SHARE, {"id": review_id}, org.token("manager"))
    assert body["data"]["shareReview"] == {"id": review_id, "shared": True}
    assert (await Review.get(id=review_id)).shared is True
    after = await gql(client, REVIEWS, {"id": org.id("target")}, org.token("target"))
    assert review_id in {r["id"] for r in after["data"]["user"]["reviews"]}


@pytest.mark.parametrize("viewer", ["director", "hr", "target", "admin"])
async def test_only_the_reviewer_shares(client, org, viewer):
    review_id = str(org.private_review.id)
    body = await gql(client, SHARE, {"id": review_id}, org.token(viewer))
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "rule": "reviewer"}
    assert (await Review.get(id=review_id)).shared is False
    assert await denied_events() == 1


MISSING_REVIEW = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize("viewer", ["manager", "director", "target", "admin"])
async def test_a_missing_review_is_refused_like_someone_elses(client, org, viewer):
    # whoever may not read the review cannot tell a missing id from an existing one
    review_ids = [MISSING_REVIEW, str(org.private_review.id)]
    if viewer == "manager":  # the reviewer of the private review would share it
        review_ids = review_ids[:1]
    answers = [
        only_error(await gql(client, SHARE, {"id": review_id}, org.token(viewer)))
        for review_id in review_ids
    ]
    for error in answers:
        assert error["extensions"] == {"code": "FORBIDDEN", "rule": "reviewer"}
        assert error["message"] == answers[0]["message"]


async def test_hr_reads_every_review_and_is_told_one_is_missing(client, org):
    body = await gql(client, SHARE, {"id": MISSING_REVIEW}, org.token("hr"))
    assert only_error(body)["extensions"] == {"code": "NOT_FOUND", "field": "id"}


# --- createDepartment --------------------------------------------------------------------


@pytest.mark.parametrize("viewer", ["hr", "admin"])
async def test_hr_or_admin_create_departments(client, org, viewer):
    body = await gql(
        client, CREATE_DEPARTMENT, {"name": " Sales ", "headId": org.id("skip")}, org.token(viewer)
    )
    assert body["data"]["createDepartment"] == {"name": "Sales", "head": {"id": org.id("skip")}}
    stored = await Department.get(name="Sales")
    assert stored.head_id == org.users["skip"].id


@pytest.mark.parametrize("viewer", ["manager", "target", "anonymous"])
async def test_others_may_not_create_departments(client, org, viewer):
    body = await gql(client, CREATE_DEPARTMENT, {"name": "Sales"}, org.token(viewer))
    code = "UNAUTHENTICATED" if viewer == "anonymous" else "FORBIDDEN"
    assert only_error(body)["extensions"]["code"] == code
    assert not await Department.exists(name="Sales")


@pytest.mark.parametrize("name", ["engineering", "ENGINEERING", " Engineering "])
async def test_department_names_are_unique_in_any_case(client, org, name):
    body = await gql(client, CREATE_DEPARTMENT, {"name": name}, org.token("hr"))
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "name"}
    assert await Department.all().count() == 1


@pytest.mark.parametrize(("name", "field"), [("", "name"), ("x" * 201, "name"), ("a\nb", "name")])
async def test_department_names_are_validated(client, org, name, field):
    body = await gql(client, CREATE_DEPARTMENT, {"name": name}, org.token("hr"))
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_a_department_head_must_exist(client, org):
    body = await gql(
        client,
        CREATE_DEPARTMENT,
        {"name": "Sales", "headId": "00000000-0000-4000-8000-000000000000"},
        org.token("hr"),
    )
    assert only_error(body)["extensions"] == {"code": "NOT_FOUND", "field": "headId"}
    assert not await Department.exists(name="Sales")


async def test_racing_creations_of_one_name_leave_one_department(client, org):
    results = await asyncio.gather(
        gql(client, CREATE_DEPARTMENT, {"name": "Sales"}, org.token("hr")),
        gql(client, CREATE_DEPARTMENT, {"name": "SALES"}, org.token("admin")),
    )
    assert sorted("errors" in body for body in results) == [False, True]
    assert await Department.all().count() == 2
