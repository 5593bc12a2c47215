"""How a profile import finds the owners of its keys on PostgreSQL (``profiles_bulk``): a batch
whose keys span a stretch of the brand's keys holding few of them reads that stretch whole;
one whose stretch holds too many probes key by key. Both must find the same owners, including
profiles an earlier batch of the same file created. (SQLite takes the general path.)"""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from backend.config import Settings
from tests.factories import make_world
from tests.imports.helpers import imported, profiles

pytestmark = pytest.mark.worker


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(import_batch_rows=4)


def _csv(names: list[str], first_name: str) -> str:
    return "email,firstName\n" + "".join(f"{n}@example.com,{first_name}\n" for n in names)


async def test_owners_are_found_whether_a_stretch_is_read_or_probed(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    stored = [f"a{i:02d}" for i in range(40)]
    first = await imported(app, client, world, _csv(stored, "Old"))
    assert (first["created"], first["updated"], first["rejected"]) == (40, 0, 0)
    lines = [
        *("a05", "zz1", "a00", "b01"),  # spans all 40 stored keys: probed
        *("a10", "a11", "c01", "c02"),  # probed (the last stretch was too full)
        *("a20", "a21", "a22", "a23"),  # a stretch of four stored keys: read whole
        *("d01", "d02", "a30", "a31"),  # spans a30…a39, b01, c01, c02: probed
        *("a32", "e01", "f01", "f02"),  # probed
        *("c01", "c02", "c03", "c04"),  # read whole: c01 and c02 were created above
    ]
    again = await imported(app, client, world, _csv(lines, "New"))
    created = {"zz1", "b01", "c01", "c02", "d01", "d02", "e01", "f01", "f02", "c03", "c04"}
    assert (again["created"], again["updated"], again["rejected"]) == (11, 13, 0)
    found = {p["email"].split("@")[0]: p["firstName"] for p in await profiles(client, world)}
    assert len(found) == 40 + len(created)  # no key got a second profile
    touched = set(lines)
    checked = 0
    for name in stored + sorted(created):
        assert found[name] == ("New" if name in touched else "Old"), name
        checked += 1
    assert checked == 51
