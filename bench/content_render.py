"""Benchmark: rendering a personalised MJML e-mail per recipient, the way a send does.

One brand, P profiles (``--profiles``) with attributes and a linked table of R rows each
(``--rows``, prices and dates differing per profile), and a template compiled at save (MJML, CSS
inlined, text part) whose body greets the profile, prints a date and an amount with the
profile's locale and loops over the linked rows. Measured, over the profiles in turn:

1. ``render_for`` end to end, one request at a time (the published version read, the profile,
   its linked rows loaded through the profiles service, the context built, the version rendered
   within its budgets);
2. ``render_many`` over batches of B requests (``--batch``): the same, with the version, the
   profiles and their rows read once per batch;
3. the render alone on a context built once (compiled templates are cached per version): the
   ceiling of the two above.

Prints renders/s of each, the ratio render_many / render alone, and the machine's load average
(a shared machine: read the figures with it). Runs on SQLite by default (the sandbox's cost is
the same on either database); ``LEVIER_BENCH_DATABASE_URL`` points it at PostgreSQL.

    python -m bench.content_render [--renders 2000] [--rows 20] [--profiles 500]
        [--batch 500] [--no-gc-freeze] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from uuid import UUID, uuid4

import msgspec

from backend.config import Settings
from backend.content import service
from backend.content.rendering import RenderedMessage, RenderRequest
from backend.content.schemas import TemplateCreate
from backend.core import schema
from backend.core.db import create_engine
from backend.core.ids import new_id
from backend.core.tenancy import TenantId, make_session_factory, open_session
from backend.profiles import attributes
from backend.profiles import service as profile_service
from backend.profiles.linked import service as linked
from backend.profiles.linked.schemas import LinkedColumn, LinkedTableCreate
from backend.profiles.models import AttributeType
from backend.profiles.schemas import AttributeCreate, ProfileCreate
from backend.tenancy import service as tenancy_service
from backend.tenancy.schemas import AgencyCreate, BrandCreate
from workers.run import load_tasks

MJML = """<mjml>
<mj-head><mj-style inline="inline">.lead { color: #1a1a1a; font-size: 18px; }
.row td { padding: 4px; border-bottom: 1px solid #eee; }</mj-style></mj-head>
<mj-body><mj-section><mj-column>
<mj-text css-class="lead">Bonjour {{ first_name | default("") }} {{ last_name | default("") }},
</mj-text>
<mj-text>Votre solde au {{ date(now, "long") }} : {{ money(attributes.balance, "EUR") }}</mj-text>
<mj-table css-class="row">
{% for item in linked.purchases %}<tr><td>{{ item.product }}</td>
<td>{{ money(item.price, "EUR") }}</td><td>{{ date(item.bought_on) }}</td></tr>{% endfor %}
</mj-table>
<mj-button href="https://shop.example.com/?u={{ profile.id }}">Voir la boutique</mj-button>
</mj-column></mj-section></mj-body></mjml>"""


async def setup(settings: Settings, rows: int, profiles: int) -> tuple[UUID, UUID, list[UUID]]:
    """The brand, its template (published) and ``profiles`` profiles with ``rows`` linked rows
    each."""
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine)
    async with open_session(factory) as session:
        agency = await tenancy_service.create_agency(
            session, AgencyCreate(name=f"Bench {uuid4().hex[:6]}"), None
        )
        brand = await tenancy_service.create_brand(
            session,
            None,
            agency.id,
            BrandCreate(name="Bench content", time_zone="Europe/Brussels", locale="fr-BE"),
        )
        await session.commit()
    tenant = TenantId(brand.id)
    async with open_session(factory, tenant) as session:
        await tenancy_service.provision_brand(session, tenant)
        await linked.create_table(
            session,
            LinkedTableCreate(
                key="purchases",
                label="Purchases",
                columns=[
                    LinkedColumn(key="product", label="Product", type=AttributeType.TEXT),
                    LinkedColumn(key="price", label="Price", type=AttributeType.NUMBER),
                    LinkedColumn(key="bought_on", label="Bought on", type=AttributeType.DATE),
                ],
            ),
        )
        await attributes.create_attribute(
            session, AttributeCreate(key="balance", label="Balance", type=AttributeType.NUMBER)
        )
        profile_ids: list[UUID] = []
        for p in range(profiles):
            profile, _ = await profile_service.create_profile(
                session,
                tenant,
                ProfileCreate(
                    email=f"lea{p}@example.com",
                    first_name="Léa",
                    last_name=f"Martin {p}",
                    locale=("fr-BE", "fr", "nl-BE", "en")[p % 4],
                    time_zone="Europe/Brussels",
                    attributes={"balance": 1234.5 + 17 * p},
                ),
            )
            profile_ids.append(profile.id)
        table = await linked.get_table(session, "purchases")
        writes = [
            linked.RowWrite(
                line=p * rows + i,
                key=None,
                profile_id=profile_id,
                values={
                    "product": f"Article {i}",
                    "price": 10 + (p * 7 + i) % 90 + 0.5,
                    "bought_on": f"2026-{1 + (p + i) % 12:02d}-{1 + (p * 3 + i) % 28:02d}",
                },
            )
            for p, profile_id in enumerate(profile_ids)
            for i in range(rows)
        ]
        outcome = await linked.write_rows(session, table, writes, create=True, update=False)
        assert not outcome.rejected, outcome.rejected
        body = {
            "key": "statement",
            "name": "Statement",
            "channel": "email",
            "defaultLocale": "fr",
            "variants": {
                "fr": {"subject": "Votre relevé, {{ first_name }}", "body": MJML, "format": "mjml"}
            },
        }
        template = await service.create_template(
            session, tenant, msgspec.convert(body, TemplateCreate)
        )
        await session.commit()
    await engine.dispose()
    return brand.id, template.id, profile_ids


async def measure(
    settings: Settings, ids: tuple[UUID, UUID, list[UUID]], renders: int, batch: int
) -> None:
    brand, template_id, profile_ids = ids
    tenant = TenantId(brand)
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine)
    load = os.getloadavg()
    async with open_session(factory, tenant) as session:
        # Warm-up: the compiled templates enter the cache, babel loads its locale data.
        warm = [RenderRequest(template_id, p, new_id()) for p in profile_ids]
        first, *_ = await service.render_many(session, tenant, settings, warm)
        assert isinstance(first, RenderedMessage), first
        started = time.perf_counter()
        for n in range(renders):
            await service.render_for(
                session, tenant, settings,
                template_id=template_id, profile_id=profile_ids[n % len(profile_ids)],
                message_id=new_id(),
            )  # fmt: skip
        one_by_one = renders / (time.perf_counter() - started)

        batches = max(1, renders // batch)
        started = time.perf_counter()
        for b in range(batches):
            requests = [
                RenderRequest(
                    template_id, profile_ids[(b * batch + n) % len(profile_ids)], new_id()
                )
                for n in range(batch)
            ]
            results = await service.render_many(session, tenant, settings, requests)
            assert all(isinstance(r, RenderedMessage) for r in results), results[:1]
        many = batches * batch / (time.perf_counter() - started)

        version = await service.get_version(session, template_id, first.version)
        profile = await profile_service.get_profile(session, profile_ids[0])
        context = await service.render_context(session, tenant, version, profile, first.locale)
        started = time.perf_counter()
        for _ in range(renders):
            service.render_version(settings, version, first.channel, first.locale, context)
        alone = renders / (time.perf_counter() - started)
    await engine.dispose()
    html = getattr(first.content, "html", "")
    database = settings.database_url.split("+")[0]
    after = os.getloadavg()
    print(
        f"database={database} renders={renders} profiles={len(profile_ids)} html={len(html)} "
        f"chars gc frozen={gc.get_freeze_count() > 0} "
        f"load average {load[0]:.2f} before, {after[0]:.2f} after"
    )
    print(f"render_for (context loaded each time)  {one_by_one:10.0f} renders/s")
    print(f"render_many (batches of {batch:>5})       {many:10.0f} renders/s")
    print(f"render alone (context built once)      {alone:10.0f} renders/s")
    print(f"ratio render_many/render alone         {many / alone:10.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--renders", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=20, help="linked rows looped over")
    parser.add_argument("--profiles", type=int, default=500, help="recipients rendered in turn")
    parser.add_argument("--batch", type=int, default=500, help="requests per render_many")
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="leave the collector as it is: by default gc.freeze() once set up, as the app does "
        "at startup (settings.gc_freeze), so that the collector no longer walks the modules' "
        "objects each time a batch's rows fill its young generations",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a few seconds at a tiny size: that it runs and prints its figures (CI)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.renders, args.profiles, args.batch = 20, 4, 10
    folder = tempfile.mkdtemp(prefix="levier-bench-")
    settings = Settings(
        database_url=os.environ.get(
            "LEVIER_BENCH_DATABASE_URL", f"sqlite+aiosqlite:///{folder}/bench.db"
        ),
        migration_database_url=os.environ.get("LEVIER_BENCH_MIGRATION_DATABASE_URL"),
        log_level="WARNING",
    )
    schema.upgrade(settings)
    load_tasks()
    ids = asyncio.run(setup(settings, args.rows, args.profiles))
    if settings.gc_freeze and not args.no_gc_freeze:
        gc.collect()
        gc.freeze()
    asyncio.run(measure(settings, ids, args.renders, args.batch))


if __name__ == "__main__":
    main()
