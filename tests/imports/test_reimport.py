"""Re-imports: lines equal to their stored profile are skipped (neither checked nor written),
while file order still decides when another line touches the same profile first."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from backend.config import Settings
from tests.factories import make_world
from tests.imports.helpers import NDJSON, imported, ndjson, profiles
from tests.profiles.helpers import create_profile, define_attribute

pytestmark = pytest.mark.worker


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Batches of two lines: the cases below span batch boundaries on purpose.
    return settings.replace(import_batch_rows=2)


async def test_reimport_leaves_unchanged_profiles_untouched(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="tier", type="enum", options=["gold", "silver"])
    await define_attribute(client, world, key="points", type="number")
    body = (
        "email,phone,firstName,birthDate,attributes.tier,attributes.points,externalIds.erp\n"
        "ada@example.com,+32470123456,Ada,1990-12-10,gold,12,E-1\n"
        "bob@example.com,,Bob,,silver,3,\n"
        "cy@example.com,+32470654321,Cy,,,,E-3\n"
    )
    first = await imported(app, client, world, body)
    assert (first["created"], first["updated"], first["rejected"]) == (3, 0, 0)
    before = {p["email"]: p for p in await profiles(client, world)}

    changed = body.replace("bob@example.com,,Bob,,silver,3,", "bob@example.com,,Bobby,,gold,3,")
    again = await imported(app, client, world, changed)
    assert (again["created"], again["updated"], again["rejected"]) == (0, 3, 0)
    after = {p["email"]: p for p in await profiles(client, world)}
    # Equal lines were not written at all: their profiles keep their last change time.
    for email in ("ada@example.com", "cy@example.com"):
        assert after[email] == before[email]
    bob = after["bob@example.com"]
    assert (bob["firstName"], bob["attributes"]) == ("Bobby", {"tier": "gold", "points": 3})
    assert bob["updatedAt"] > before["bob@example.com"]["updatedAt"]


async def test_a_line_equal_to_the_stored_profile_still_wins_over_an_earlier_line(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(
        client, world, email="ada@example.com", phone="+32470123456", firstName="Ann"
    )
    # Same batch, found by different keys: the phone line changes her, the email line (equal
    # to what is stored) comes later and must be applied after it.
    body = "email,phone,firstName\n,+32470123456,Bob\nada@example.com,,Ann\n"
    result = await imported(app, client, world, body)
    assert (result["updated"], result["rejected"]) == (2, 0)
    (stored,) = await profiles(client, world)
    assert (stored["id"], stored["firstName"]) == (ada["id"], "Ann")


async def test_a_line_equal_to_the_stored_profile_after_a_change_in_the_previous_batch(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com", firstName="Ann")
    # Lines 2 and 3 make the first batch (line 3 renames her), line 4 the second: it equals what
    # was stored before the first batch was written, and must still be applied.
    body = "email,firstName\nzoe@example.com,Zoe\nada@example.com,Bob\nada@example.com,Ann\n"
    result = await imported(app, client, world, body)
    assert (result["created"], result["updated"], result["rejected"]) == (1, 2, 0)
    stored = {p["email"]: p for p in await profiles(client, world)}
    assert stored["ada@example.com"]["firstName"] == "Ann"


async def test_lines_that_cannot_be_compared_take_the_full_path(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="ratio", type="number")
    await create_profile(
        client, world, email="ada@example.com", firstName="Ann", attributes={"ratio": 1.5}
    )
    # A float cell is not compared in the database: the line is checked and written, and the
    # later equal-looking line about the same person is applied after it.
    body = ndjson(
        {"email": "ada@example.com", "firstName": "Bob", "attributes.ratio": 2.5},
        {"email": "ADA@example.com", "firstName": "Ann"},
    )
    result = await imported(app, client, world, body, content_type=NDJSON)
    assert (result["updated"], result["rejected"]) == (2, 0)
    (stored,) = await profiles(client, world)
    assert (stored["firstName"], stored["attributes"]) == ("Ann", {"ratio": 2.5})
