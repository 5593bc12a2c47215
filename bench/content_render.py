"""Benchmark: rendering a personalised MJML e-mail for one recipient, the way a send does.

One brand, one profile with attributes and a linked table of R rows (``--rows``), and a
template compiled at save (MJML, CSS inlined, text part) whose body greets the profile, prints
a date and an amount with the profile's locale and loops over the linked rows. Measured:

1. ``render_for`` end to end (the published version read, the profile, its linked rows loaded
   through the profiles service, the context built, the version rendered within its budgets);
2. the render alone on a context built once (compiled templates are cached per version), the
   ceiling a batch send sharing one context load per recipient could reach.

Prints renders/s of each. Runs on SQLite by default (the sandbox's cost is the same on either
database); ``LEVIER_BENCH_DATABASE_URL`` points it at PostgreSQL.

    python -m bench.content_render [--renders 2000] [--rows 20] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from uuid import UUID, uuid4

import msgspec

from backend.config import Settings
from backend.content import service
from backend.content.schemas import TemplateCreate
from backend.core import schema
from backend.core.db import create_engine
from backend.core.ids import new_id
from backend.core.tenancy import TenantId, make_session_factory, open_session
from backend.profiles import attributes
from backend.profiles import service as profile_service
from backend.profiles.linked import service as linked
from backend.profiles.linked.schemas import LinkedColumn, LinkedRowCreate, LinkedTableCreate
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


async def setup(settings: Settings, rows: int) -> tuple[UUID, UUID, UUID]:
    """The brand, its template (published) and a profile with ``rows`` linked rows."""
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
        profile, _ = await profile_service.create_profile(
            session,
            tenant,
            ProfileCreate(
                email="lea@example.com",
                first_name="Léa",
                last_name="Martin",
                locale="fr-BE",
                time_zone="Europe/Brussels",
                attributes={"balance": 1234.5},
            ),
        )
        for i in range(rows):
            values = {
                "product": f"Article {i}",
                "price": 10 + i + 0.5,
                "bought_on": f"2026-10-{1 + i % 28:02d}",
            }
            await linked.create_row(
                session,
                tenant,
                "purchases",
                LinkedRowCreate(values=values, profile_id=profile.id),
            )
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
    return brand.id, template.id, profile.id


async def measure(settings: Settings, ids: tuple[UUID, UUID, UUID], renders: int) -> None:
    brand, template_id, profile_id = ids
    tenant = TenantId(brand)
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine)
    async with open_session(factory, tenant) as session:
        # Warm-up: the compiled templates enter the cache, babel loads its locale data.
        first = await service.render_for(
            session, tenant, settings,
            template_id=template_id, profile_id=profile_id, message_id=new_id(),
        )  # fmt: skip
        started = time.perf_counter()
        for _ in range(renders):
            await service.render_for(
                session, tenant, settings,
                template_id=template_id, profile_id=profile_id, message_id=new_id(),
            )  # fmt: skip
        end_to_end = renders / (time.perf_counter() - started)
        version = await service.get_version(session, template_id, first.version)
        profile = await profile_service.get_profile(session, profile_id)
        context = await service.render_context(session, tenant, version, profile, first.locale)
        started = time.perf_counter()
        for _ in range(renders):
            service.render_version(settings, version, first.channel, first.locale, context)
        alone = renders / (time.perf_counter() - started)
    await engine.dispose()
    html = getattr(first.content, "html", "")
    database = settings.database_url.split("+")[0]
    print(f"database={database} renders={renders} html={len(html)} chars")
    print(f"render_for (context loaded each time) {end_to_end:10.0f} renders/s")
    print(f"render alone (context built once)     {alone:10.0f} renders/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--renders", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=20, help="linked rows looped over")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a few seconds at a tiny size: that it runs and prints its figures (CI)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.renders = 20
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
    ids = asyncio.run(setup(settings, args.rows))
    asyncio.run(measure(settings, ids, args.renders))


if __name__ == "__main__":
    main()
