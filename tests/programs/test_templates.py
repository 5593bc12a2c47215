"""The catalog over the API, on both stacks with one app and one brand per stack for the module:
every template instantiates in one call (with its audience as a rule segment), every audience
rule compiles and selects the profiles it means, the catalog lists the brand's use of each
template, and instantiation is all or nothing."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import pytest_asyncio
import redis
from litestar import Litestar
from sqlalchemy import make_url

from backend.app import create_app
from backend.auth import service as auth_service
from backend.core.db import utcnow
from backend.profiles.models import ConsentState
from backend.programs import catalog
from backend.rfm.models import RfmKind
from tests.conftest import PG_ADMIN_URL, STACKS, empty_tables, on_database
from tests.conftest import test_settings as settings_for
from tests.factories import World, make_brand, make_world, problem, serving, session_of
from tests.programs.helpers import programs_url, templates_url
from tests.segments.helpers import add_order, consent, make_profile, matching, rfm_run

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    # The module's tests share one database per stack: one worker runs them, in one go.
    pytest.mark.xdist_group("program-templates"),
]
KEYS = [template.key for template in catalog.TEMPLATES]


@dataclass
class Shared:
    app: Litestar
    client: httpx.AsyncClient
    world: World

    async def brand(self, name: str) -> tuple[UUID, dict[str, str]]:
        """A new brand of agency B, and a token of its owner that reaches it."""
        brand = await make_brand(self.app, self.world.agency_b.id, name)
        async with session_of(self.app) as session:
            token, _ = await auth_service.issue_access_token(
                session, self.world.owner_b.id, ttl=dt.timedelta(hours=1)
            )
            await session.commit()
        return brand.id, {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=STACKS)
async def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shared]:
    namespace = None
    if request.param == "embedded":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path_factory.mktemp("program-templates") / "levier.db"
        shutil.copy(template, path)
        settings = settings_for(database_url=f"sqlite+aiosqlite:///{path}")
    else:
        pg: str = request.getfixturevalue("postgres_url")
        owner: str = request.getfixturevalue("postgres_owner_url")
        rd: str = request.getfixturevalue("redis_url")
        admin = on_database(PG_ADMIN_URL, make_url(pg).database or "") if PG_ADMIN_URL else None
        await empty_tables(owner, admin)
        namespace = f"levier-test-{uuid4().hex[:12]}"
        settings = settings_for(
            database_url=pg, migration_database_url=owner, redis_url=rd, redis_namespace=namespace
        )
    app = create_app(settings)
    try:
        async with serving(app) as client:
            yield Shared(app, client, await make_world(app))
    finally:
        await app.state.engine.dispose()
        if namespace is not None:
            keys = redis.Redis.from_url(settings.redis_url or "")
            found = list(keys.scan_iter(match=f"{namespace}*"))
            if found:
                keys.delete(*found)


@pytest.mark.parametrize("key", KEYS)
async def test_every_template_instantiates_in_one_call_with_its_audience(
    shared: Shared, key: str
) -> None:
    world, client = shared.world, shared.client
    template = catalog.BY_KEY[key]
    response = await client.post(
        programs_url(world.brand_a.id, "/from-template"),
        json={
            "templateKey": key,
            "overrides": {"ownerId": str(world.manager_a.id), "startDate": "2027-01-01"},
            "createAudience": True,
        },
        headers=world.manager_a.headers,
    )
    assert response.status_code == 201, response.text
    program = response.json()
    assert program["templateKey"] == key
    assert (program["name"], program["stage"], program["objective"]) == (
        template.name, template.stage.value, template.objective,
    )  # fmt: skip
    assert program["kpis"] == [{**k, "target": float(k["target"])} for k in template.kpis]
    assert program["momentsOfTruth"] == [m.value for m in template.moments_of_truth]
    assert (program["status"], program["ownerId"], program["startDate"]) == (
        "draft", str(world.manager_a.id), "2027-01-01",
    )  # fmt: skip
    segment = await client.get(
        f"/v1/brands/{world.brand_a.id}/segments/{program['audienceSegmentId']}",
        headers=world.manager_a.headers,
    )
    assert segment.status_code == 200, segment.text
    assert segment.json()["key"] == f"program_{key}"
    assert segment.json()["kind"] == "rule"
    assert segment.json()["definition"] == template.audience_rule


@dataclass(frozen=True)
class Audiences:
    brand_id: UUID
    now: dt.datetime
    new: UUID  # signed up now, an email, no consent, no order
    one_order: UUID  # consents to email, one order 35 days ago
    slowing: UUID  # consents to email, orders 200 and 100 days ago, a champion by RFM


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def audiences(shared: Shared) -> Audiences:
    app = shared.app
    brand_id, _ = await shared.brand("Audiences")
    new = await make_profile(app, brand_id, email="new@example.com")
    one_order = await make_profile(app, brand_id, email="one@example.com")
    slowing = await make_profile(app, brand_id, email="slow@example.com")
    now = utcnow()  # after the sign-ups: rules read them as past
    for profile in (one_order, slowing):
        await consent(app, brand_id, profile, ConsentState.GRANTED, now - dt.timedelta(days=300))
    await add_order(app, brand_id, one_order, "o-1", now - dt.timedelta(days=35))
    await add_order(app, brand_id, slowing, "s-1", now - dt.timedelta(days=200))
    await add_order(app, brand_id, slowing, "s-2", now - dt.timedelta(days=100))
    await rfm_run(app, brand_id, {slowing: (2, 5, 5, "Champions")}, now, RfmKind.PURCHASE)
    return Audiences(brand_id, now, new, one_order, slowing)


# Who each audience holds among the three profiles (templates not listed hold none of them).
EXPECTED: dict[str, set[str]] = {
    "welcome": {"one_order", "slowing"},  # new within 30 days and contactable (consents)
    "signup_confirmation": {"new"},  # the others gave their email consent
    "second_purchase_nudge": {"one_order"},
    "promotion": {"one_order", "slowing"},
    "newsletter": {"one_order", "slowing"},
    "anti_churn": {"slowing"},
    "year_end_gift": {"slowing"},
    "referral": {"slowing"},
    "wallet_card": {"slowing"},
    "invitations": {"slowing"},
    "reactivation": set(),  # everyone signed up today
    "cross_sell": set(),
}


@pytest.mark.parametrize("key", KEYS)
async def test_every_audience_rule_compiles_and_holds_whom_it_means(
    shared: Shared, audiences: Audiences, key: str
) -> None:
    rule = catalog.BY_KEY[key].audience_rule
    found = await matching(shared.app, audiences.brand_id, rule, now=audiences.now)
    names = {
        profile: name
        for name, profile in vars(audiences).items()
        if name in ("new", "one_order", "slowing")
    }
    assert {names[profile] for profile in found} == EXPECTED.get(key, set())


async def test_the_catalog_lists_each_template_with_the_brands_use_of_it(shared: Shared) -> None:
    brand_id, headers = await shared.brand("Catalog")
    client = shared.client
    for _ in range(2):
        made = await client.post(
            programs_url(brand_id, "/from-template"),
            json={"templateKey": "newsletter"},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        assert made.json()["audienceSegmentId"] is None
    listed = await client.get(templates_url(brand_id), headers=headers)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [t["key"] for t in items] == KEYS
    assert {t["key"]: t["programCount"] for t in items if t["programCount"]} == {"newsletter": 2}
    newsletter = next(t for t in items if t["key"] == "newsletter")
    assert newsletter["skeleton"]["schedule"] == {
        "kind": "recurring", "rrule": "FREQ=WEEKLY;BYDAY=TU", "localTime": "10:00",
    }  # fmt: skip
    one = await client.get(templates_url(brand_id, "/newsletter"), headers=headers)
    assert one.json() == newsletter

    async def keys(query: str) -> list[str]:
        response = await client.get(templates_url(brand_id, query), headers=headers)
        assert response.status_code == 200, response.text
        return [t["key"] for t in response.json()["items"]]

    assert await keys("?stage=win_back") == ["reactivation", "resubscription"]
    assert await keys("?moment=post_purchase") == [
        "cross_sell", "post_purchase_thanks", "customer_reviews", "satisfaction_survey",
    ]  # fmt: skip
    assert await keys("?stage=grow&moment=post_purchase") == ["cross_sell", "customer_reviews"]
    problem(await client.get(templates_url(brand_id, "/newsletters"), headers=headers), 404)
    problem(await client.get(templates_url(brand_id, "?moment=someday"), headers=headers), 422)


async def test_a_taken_audience_key_is_suffixed(shared: Shared) -> None:
    brand_id, headers = await shared.brand("Suffixes")
    keys = []
    for _ in range(3):
        made = await shared.client.post(
            programs_url(brand_id, "/from-template"),
            json={"templateKey": "welcome", "createAudience": True},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        segment = await shared.client.get(
            f"/v1/brands/{brand_id}/segments/{made.json()['audienceSegmentId']}", headers=headers
        )
        keys.append(segment.json()["key"])
    assert keys == ["program_welcome", "program_welcome_2", "program_welcome_3"]


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("unknown template", {"templateKey": "welcom"}, "templateKey"),
    ("not a template key", {"templateKey": "Welcome!"}, "templateKey"),
    ("bad override", {"templateKey": "welcome", "overrides": {"stage": "later"}}, "stage"),
    ("owner out of reach",
     {"templateKey": "welcome", "overrides": {"ownerId": str(uuid4())}}, "ownerId"),
    ("dates reversed",
     {"templateKey": "welcome", "overrides": {"startDate": "2027-02-01",
                                              "endDate": "2027-01-01"}}, "endDate"),
    ("audience twice",
     {"templateKey": "welcome", "overrides": {"audienceSegmentId": str(uuid4())}}, None),
    ("unknown field", {"templateKey": "welcome", "audience": True}, "audience"),
]  # fmt: skip


async def test_a_refused_instantiation_stores_nothing(shared: Shared) -> None:
    brand_id, headers = await shared.brand("Refusals")
    client = shared.client
    for case, body, field in REFUSED:
        body = {"createAudience": True, **body}
        response = await client.post(
            programs_url(brand_id, "/from-template"), json=body, headers=headers
        )
        errors = problem(response, 422)["errors"]
        if field is not None:
            assert field in [e.get("field") for e in errors], (case, errors)
    segments = await client.get(f"/v1/brands/{brand_id}/segments", headers=headers)
    assert segments.json()["items"] == []
    programs = await client.get(programs_url(brand_id), headers=headers)
    assert programs.json()["items"] == []


async def test_instantiating_with_an_idempotency_key_twice_makes_one_program_and_segment(
    shared: Shared,
) -> None:
    brand_id, headers = await shared.brand("Idempotent")
    headers = {**headers, "Idempotency-Key": "from-template-1"}
    body = {"templateKey": "anti_churn", "createAudience": True}
    url = programs_url(brand_id, "/from-template")
    first = await shared.client.post(url, json=body, headers=headers)
    again = await shared.client.post(url, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    segments = await shared.client.get(f"/v1/brands/{brand_id}/segments", headers=headers)
    assert [s["key"] for s in segments.json()["items"]] == ["program_anti_churn"]
