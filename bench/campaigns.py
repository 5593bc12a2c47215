"""Benchmark: a campaign's fan-out on PostgreSQL — the audience snapshot and the release of N
recipients as messages of the ledger (what the workers do before delivering; delivering is
``bench.messaging``'s) — against hand-written SQL writing the same rows, in the same run.

Data is generated in SQL (untimed): N profiles with an email and an email consent, all members
of a static segment. Timed, through the campaigns code a worker runs (``fanout.start``, then
``fanout.snapshot`` and ``fanout.release`` task by task, each in its transaction):

- snapshot: pages of 2,000 audience ids (one query a page) written as recipient rows with their
  variant (a 50/50 split), one ``INSERT … ON CONFLICT DO NOTHING`` a page;
- release: chunks of 500 — the ledger's keys, messages and timeline rows
  (``messaging.record_many``), the recipients marked released, a delivery queued;
- progress: one ``get_progress`` read of the finished occurrence.

The floor: the same rows written by hand in one statement per table (recipients from the
segment's members, then keys, messages and timeline rows from them) into tables made
``LIKE`` the real ones (their indexes included). The ratio floor/ours is the figure.

    DB=127.0.0.1:5432/levier_bench_campaigns
    LEVIER_BENCH_DATABASE_URL=postgresql+asyncpg://levier_test_app@$DB \\
    LEVIER_BENCH_MIGRATION_DATABASE_URL=postgresql+asyncpg://levier_test@$DB \\
    python -m bench.campaigns [--recipients N] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import time
from uuid import UUID, uuid4

import asyncpg
import msgspec

from backend.auth.models import User
from backend.campaigns import fanout, repository
from backend.campaigns import service as campaigns_service
from backend.campaigns.schemas import CampaignCreate
from backend.config import Settings
from backend.content import service as content_service
from backend.content.schemas import TemplateCreate
from backend.core import schema
from backend.core.db import create_engine
from backend.core.tenancy import TenantId, make_session_factory, open_session
from backend.messaging import service as messaging_service
from backend.messaging.schemas import PressurePolicyUpdate
from backend.segments import service as segments_service
from backend.segments.models import SegmentKind
from backend.segments.schemas import SegmentCreate
from backend.tenancy import service as tenancy_service
from backend.tenancy.schemas import AgencyCreate, BrandCreate
from workers.run import load_tasks

GENERATE = [
    """INSERT INTO profiles (tenant_id, id, email, first_name, attributes, bounced, suppressed)
       SELECT $1::uuid, gen_random_uuid(), 'p' || n || '@example.com', 'P' || n,
           '{}'::jsonb, '[]'::jsonb, '[]'::jsonb
       FROM generate_series(0, $2::int - 1) AS n""",
    """INSERT INTO consent_changes (tenant_id, id, profile_id, channel, state, source,
           occurred_at)
       SELECT $1::uuid, gen_random_uuid(), id, 'email', 'granted', 'bench', now()
       FROM profiles WHERE tenant_id = $1::uuid""",
    """INSERT INTO segment_members (tenant_id, segment_id, profile_id, entered_at)
       SELECT $1::uuid, $2::uuid, id, now() FROM profiles WHERE tenant_id = $1::uuid""",
]
GENERATE_ARGS = ("tenant, count", "tenant", "tenant, segment")
# The floor: every row the fan-out writes, by hand, one statement per table.
FLOOR = [
    "CREATE TEMPORARY TABLE r_like (LIKE campaign_recipients INCLUDING ALL)",
    "CREATE TEMPORARY TABLE k_like (LIKE message_keys INCLUDING ALL)",
    "CREATE TEMPORARY TABLE m_like (LIKE messages INCLUDING DEFAULTS)",
    "CREATE TEMPORARY TABLE e_like (LIKE message_events INCLUDING DEFAULTS)",
]
FLOOR_TIMED = [
    """INSERT INTO r_like (tenant_id, occurrence_id, profile_id, variant, state, created_at,
           updated_at)
       SELECT $1::uuid, $2::uuid, profile_id, CASE WHEN hashtext(profile_id::text) % 2 = 0
           THEN 'a' ELSE 'b' END, 'waiting', now(), now()
       FROM segment_members WHERE tenant_id = $1::uuid AND segment_id = $3::uuid""",
    """INSERT INTO k_like (tenant_id, dedupe_key, message_id, created_at, updated_at)
       SELECT tenant_id, 'campaign:' || occurrence_id || ':' || profile_id || ':email',
           gen_random_uuid(), now(), now() FROM r_like""",
    """INSERT INTO m_like (tenant_id, id, dedupe_key, source_kind, source_key, profile_id,
           channel, priority, "deferrable", template_id, data, status, attempts, created_at,
           updated_at)
       SELECT k.tenant_id, k.message_id, k.dedupe_key, 'campaign',
           r.occurrence_id || ':' || r.variant, r.profile_id, 'email', 'campaign', true,
           $1::uuid, '{}'::jsonb, 'queued', 0, now(), now()
       FROM r_like r JOIN k_like k
         ON k.dedupe_key = 'campaign:' || r.occurrence_id || ':' || r.profile_id || ':email'""",
    """INSERT INTO e_like (tenant_id, message_id, id, kind, occurred_at, created_at, updated_at)
       SELECT tenant_id, id, gen_random_uuid(), 'queued', now(), now(), now() FROM m_like""",
    "UPDATE r_like SET state = 'released', released_at = now()",
]
FLOOR_ARGS = ("tenant, occurrence, segment", "", "template", "", "")


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def setup(settings: Settings, recipients: int) -> tuple[TenantId, UUID, UUID]:
    """A brand, its profiles and consents, a static segment of them all, a template, a
    campaign scheduled `now` (untimed)."""
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine, secret_key=settings.secret_key)
    async with open_session(factory) as session:
        user = User(email=f"bench-{uuid4().hex[:8]}@example.com", password_hash="x")  # noqa: S106
        session.add(user)
        await session.flush()
        agency = await tenancy_service.create_agency(session, AgencyCreate(name="Bench"), user.id)
        brand = await tenancy_service.create_brand(
            session, None, agency.id, BrandCreate(name="Bench campaigns", time_zone="UTC")
        )
        await session.commit()
    tenant = TenantId(brand.id)
    async with open_session(factory, tenant) as session:
        await tenancy_service.provision_brand(session, tenant)
        await messaging_service.update_policy(
            session, tenant, PressurePolicyUpdate(per_week=None, quiet_hours_start=None,
                                                  quiet_hours_end=None)
        )  # fmt: skip
        segment = await segments_service.create_segment(
            session, tenant, SegmentCreate(key="bench", name="Bench", kind=SegmentKind.STATIC)
        )
        body = {
            "key": "bench",
            "name": "Bench",
            "channel": "email",
            "defaultLocale": "en",
            "variants": {"en": {"subject": "Hi {{ first_name }}", "body": "<p>Hello</p>"}},
        }
        template = await content_service.create_template(
            session, tenant, msgspec.convert(body, TemplateCreate)
        )
        await session.commit()
    owner = await asyncpg.connect(dsn(settings.migration_url))
    try:
        await owner.execute("SELECT set_config('levier.tenant_id', $1, false)", str(tenant))
        named = {"tenant": str(tenant), "count": recipients, "segment": segment.id}
        for statement, names in zip(GENERATE, GENERATE_ARGS, strict=True):
            await owner.execute(statement, *(named[n] for n in names.split(", ")))
        for table in ("profiles", "consent_changes", "segment_members"):
            await owner.execute(f"ANALYZE {table}")
    finally:
        await owner.close()
    async with open_session(factory, tenant) as session:
        create = {
            "name": "Bench",
            "audience": {"include": [str(segment.id)]},
            "channel": "email",
            "templateId": str(template.id),
            "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        }
        campaign, _ = await campaigns_service.create_campaign(
            session, tenant, msgspec.convert(create, CampaignCreate)
        )
        await campaigns_service.schedule_campaign(session, tenant, settings, campaign.id)
        await session.commit()
    await engine.dispose()
    return tenant, campaign.id, segment.id


async def fan_out(
    settings: Settings, tenant: TenantId, campaign_id: UUID
) -> tuple[float, float, float, UUID]:
    """(snapshot seconds, release seconds, progress read seconds, occurrence id)."""
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine, secret_key=settings.secret_key)
    async with open_session(factory, tenant) as session:
        campaign = await repository.get_campaign(session, campaign_id)
        assert campaign is not None
        assert campaign.next_run_at is not None
        planned = campaign.next_run_at
    started = time.perf_counter()
    async with open_session(factory, tenant) as session:
        occurrence_id = await fanout.start(session, tenant, campaign_id, planned)
        await session.commit()
    assert occurrence_id is not None
    prepared = False
    while not prepared:
        async with open_session(factory, tenant) as session:
            await fanout.snapshot(session, tenant, occurrence_id)
            await session.commit()
            occurrence = await repository.get_occurrence(session, occurrence_id)
            assert occurrence is not None
            prepared = occurrence.prepared_at is not None
    snapshot = time.perf_counter() - started
    started = time.perf_counter()
    released = 1
    while released:
        async with open_session(factory, tenant) as session:
            released = await fanout.release(session, tenant, occurrence_id)
            await session.commit()
    release = time.perf_counter() - started
    started = time.perf_counter()
    async with open_session(factory, tenant) as session:
        progress = await campaigns_service.get_progress(session, campaign_id)
    read = time.perf_counter() - started
    assert progress.released == progress.targeted, progress
    await engine.dispose()
    return snapshot, release, read, occurrence_id


async def floor(settings: Settings, tenant: TenantId, segment_id: UUID, template_id: UUID) -> float:
    owner = await asyncpg.connect(dsn(settings.migration_url))
    try:
        await owner.execute("SELECT set_config('levier.tenant_id', $1, false)", str(tenant))
        for statement in FLOOR:
            await owner.execute(statement)
        named = {
            "tenant": str(tenant),
            "occurrence": uuid4(),
            "segment": segment_id,
            "template": template_id,
        }
        started = time.perf_counter()
        async with owner.transaction():
            for statement, names in zip(FLOOR_TIMED, FLOOR_ARGS, strict=True):
                await owner.execute(statement, *(named[n] for n in names.split(", ") if n))
        return time.perf_counter() - started
    finally:
        await owner.close()


async def template_of(settings: Settings, tenant: TenantId, campaign_id: UUID) -> UUID:
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine)
    async with open_session(factory, tenant) as session:
        campaign = await repository.get_campaign(session, campaign_id)
        assert campaign is not None
        template = campaign.template_id
    await engine.dispose()
    return template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--smoke", action="store_true", help="a tiny size: that it runs (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.recipients = 300
    settings = Settings(
        database_url=os.environ["LEVIER_BENCH_DATABASE_URL"],
        migration_database_url=os.environ.get("LEVIER_BENCH_MIGRATION_DATABASE_URL"),
        log_level="WARNING",
    )
    schema.upgrade(settings)
    load_tasks()
    count = args.recipients
    tenant, campaign_id, segment_id = asyncio.run(setup(settings, count))
    print(f"brand={tenant} recipients={count:,}")
    snapshot, release, read, _ = asyncio.run(fan_out(settings, tenant, campaign_id))
    template = asyncio.run(template_of(settings, tenant, campaign_id))
    by_hand = asyncio.run(floor(settings, tenant, segment_id, template))
    ours = snapshot + release
    print(f"snapshot (pages of {fanout.PAGE:,})            {count / snapshot:10,.0f} recipients/s")
    print(f"release (chunks of {fanout.CHUNK}, ledger writes) {count / release:10,.0f} messages/s")
    print(f"fan-out, snapshot + release              {count / ours:10,.0f} recipients/s")
    print(f"floor: the same rows by hand, 5 statements {count / by_hand:10,.0f} recipients/s")
    print(f"ratio floor/fan-out                      {by_hand / ours:10.1%}")
    print(f"progress read of the occurrence          {read * 1000:10,.1f} ms")
    print(f"at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    main()
