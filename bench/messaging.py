"""Benchmark: the send pipeline per worker process, against the bare render of the same template
(its ceiling), and the SMTP adapter's pool against a bare aiosmtplib loop.

1. **Pipeline.** One brand, N profiles (first name, email, two rows each in a linked table
   ``purchases``), a coupon pool of N codes, and an MJML email template using profile fields, a
   ``{% for %}`` over ``linked.purchases`` and ``coupon("BENCH")``, created through the content
   service. N transactional messages are recorded (``messaging.service.record``), then one
   process delivers them with the functions the ``messaging.deliver_batch`` task calls, in its
   transactions: ``delivery.prepare_batch`` (one claim statement for up to ``--batch``
   messages, the set-based gate, ``render_for`` with its coupon claim, tracking's link
   instrumentation and List-Unsubscribe, ``provider_for`` once per channel, the set-based write
   back) — commit — ``delivery.hand_over`` — ``delivery.record_outcomes`` (``sent``, timeline,
   events in one ingest, webhooks) — commit; batch after batch until all are sent. The
   provider is a *discard* provider defined here (answers at once). Prints messages/s.
2. **Bare render** of the same version for the same profiles: the compiled template rendered
   with a context built once per profile beforehand (no database), in a loop: renders/s, the
   ceiling. The ratio pipeline/bare render is the figure (target ≥ 50 %).
3. **SMTP**: M emails through the SMTP adapter (its pool) to a local aiosmtpd sink that accepts
   and drops, vs a bare ``aiosmtplib`` loop on one connection sending the same bytes (target
   ≥ 70 %).

PostgreSQL + Redis (Redis is not on the timed path: deliveries run in this process).

    DB=127.0.0.1:5432/levier_bench_messaging
    LEVIER_BENCH_DATABASE_URL=postgresql+asyncpg://levier_test_app@$DB \
    LEVIER_BENCH_MIGRATION_DATABASE_URL=postgresql+asyncpg://levier_test@$DB \
    python -m bench.messaging [--messages N] [--concurrency C] [--smtp M] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import gc
import os
import socket
import time
from typing import Any
from uuid import UUID, uuid4

import aiosmtplib
import msgspec
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.content import service as content_service
from backend.content.coupons import service as coupons
from backend.content.coupons.schemas import CouponCodesUpload, CouponPoolCreate
from backend.content.schemas import TemplateCreate
from backend.core import schema
from backend.core.db import create_engine, utcnow
from backend.core.ids import new_id
from backend.core.tenancy import TenantId, make_session_factory, open_session
from backend.events import repository as events_repository
from backend.messaging import delivery, repository, service
from backend.messaging.models import MessageChannel, MessagePriority, MessageStatus, SourceKind
from backend.messaging.providers.base import Outgoing, ProviderKind, SenderIdentity, SendResult
from backend.messaging.providers.smtp import (
    SmtpCredentials,
    SmtpProvider,
    SmtpSecurity,
    SmtpSettings,
    build_message,
)
from backend.profiles import service as profiles_service
from backend.profiles.linked import service as linked_service
from backend.profiles.linked.schemas import LinkedColumn, LinkedRowCreate, LinkedTableCreate
from backend.profiles.models import AttributeType
from backend.profiles.schemas import ProfileCreate
from backend.tenancy import service as tenancy_service
from backend.tenancy.schemas import AgencyCreate, BrandCreate
from workers.run import load_tasks

MJML = """<mjml><mj-head><mj-style inline="inline">.lead { color: #c00; }</mj-style></mj-head>
<mj-body><mj-section><mj-column>
<mj-text css-class="lead">Hello {{ first_name }}, thanks for shopping with us.</mj-text>
<mj-text>{% for row in linked.purchases %}{{ row.product }}: {{ row.price }} EUR<br>
{% endfor %}</mj-text>
<mj-text>Your code: {{ coupon("BENCH") }}</mj-text>
<mj-button href="https://shop.example/offers?u={{ id }}">Shop</mj-button>
<mj-text><a href="https://shop.example/account">Account</a> ·
<a href="levier:unsubscribe">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>"""


class DiscardProvider:
    """Takes every message and keeps nothing (the bench's null provider)."""

    kind = ProviderKind.CAPTURE

    async def send(self, message: Outgoing) -> SendResult:
        return SendResult(provider_message_id=f"discard-{message.message_id}")

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


DISCARD = DiscardProvider()


async def setup(settings: Settings, count: int) -> tuple[TenantId, UUID, list[UUID]]:
    """A brand, its profiles with linked rows, a coupon pool and the template (untimed)."""
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine)
    async with open_session(factory) as session:
        agency = await tenancy_service.create_agency(
            session, AgencyCreate(name=f"Bench {uuid4().hex[:6]}"), None
        )
        brand = await tenancy_service.create_brand(
            session, None, agency.id, BrandCreate(name="Bench messaging", time_zone="UTC")
        )
        await session.commit()
    tenant = TenantId(brand.id)
    async with open_session(factory, tenant) as session:
        await tenancy_service.provision_brand(session, tenant)
        columns = [
            LinkedColumn(key="product", label="Product", type=AttributeType.TEXT),
            LinkedColumn(key="price", label="Price", type=AttributeType.NUMBER),
        ]
        await linked_service.create_table(
            session, LinkedTableCreate(key="purchases", label="Purchases", columns=columns)
        )
        pool = await coupons.create_pool(session, CouponPoolCreate(key="BENCH", name="Bench"))
        await coupons.add_codes(
            session, tenant, pool.id, CouponCodesUpload(codes=[f"B-{n:07d}" for n in range(count)])
        )
        body = {
            "key": "bench",
            "name": "Bench",
            "channel": "email",
            "defaultLocale": "en",
            "variants": {"en": {"subject": "Hi {{ first_name }}", "body": MJML, "format": "mjml"}},
        }
        template = await content_service.create_template(
            session, tenant, msgspec.convert(body, TemplateCreate)
        )
        await session.commit()
        profiles: list[UUID] = []
        for n in range(count):
            profile, _ = await profiles_service.create_profile(
                session, tenant, ProfileCreate(email=f"p{n}@example.com", first_name=f"P{n}")
            )
            for item in range(2):
                await linked_service.create_row(
                    session,
                    tenant,
                    "purchases",
                    LinkedRowCreate(
                        profile_id=profile.id, values={"product": f"Shoe {item}", "price": 59.9}
                    ),
                )
            profiles.append(profile.id)
            if n % 500 == 499:
                await session.commit()
        await session.commit()
    await engine.dispose()
    return tenant, template.id, profiles


async def record(
    factory: async_sessionmaker[AsyncSession],
    tenant: TenantId,
    template: UUID,
    profiles: list[UUID],
    prefix: str = "bench",
) -> list[UUID]:
    ids = []
    async with open_session(factory, tenant) as session:
        for n, profile in enumerate(profiles):
            message, _ = await service.record(
                session,
                tenant,
                source_kind=SourceKind.TRANSACTIONAL,
                source_key=f"{prefix}-{n}",
                profile_id=profile,
                channel=MessageChannel.EMAIL,
                template_id=template,
                priority=MessagePriority.TRANSACTIONAL,
            )
            ids.append(message.id)
        await session.commit()
    return ids


async def deliver_batch(
    factory: async_sessionmaker[AsyncSession], tenant: TenantId, settings: Settings, limit: int
) -> int:
    """What the `messaging.deliver_batch` task does (the same functions, in the same
    transactions), the provider swapped for the discard one: how many messages were claimed."""
    async with open_session(factory, tenant, actor="task:messaging.deliver_batch") as session:
        claimed, prepared = await delivery.prepare_batch(session, tenant, settings, limit=limit)
        await session.commit()
        if len(prepared) != claimed:
            raise RuntimeError(f"{claimed - len(prepared)} of {claimed} messages not sendable")
        handed = await delivery.hand_over(
            [dataclasses.replace(p, provider=DISCARD) for p in prepared]
        )
        await delivery.record_outcomes(session, tenant, handed)
        await session.commit()
    return claimed


async def pipeline(
    settings: Settings, tenant: TenantId, template: UUID, profiles: list[UUID], batch: int
) -> float:
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine, secret_key=settings.secret_key)
    try:
        await record(factory, tenant, template, profiles)
        started = time.perf_counter()
        done = 0
        while done < len(profiles):
            claimed = await deliver_batch(factory, tenant, settings, batch)
            if not claimed:
                raise RuntimeError(f"only {done} of {len(profiles)} messages delivered")
            done += claimed
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def ledger_floor(
    settings: Settings, tenant: TenantId, template: UUID, profiles: list[UUID], batch: int
) -> float:
    """The floor of the ledger's writes alone, with no gate, render or provider: for N fresh
    message rows (inserted untimed), per batch the statements a batch cannot do without, in the
    pipeline's two transactions — the claim and the write-back of the claimed state (its
    pressure slot), commit; the write-back of the outcome, the timeline rows and the profile
    events (one statement each), commit."""
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine, secret_key=settings.secret_key)
    try:
        await record(factory, tenant, template, profiles, prefix="floor")
        started = time.perf_counter()
        done = 0
        while done < len(profiles):
            async with open_session(factory, tenant) as session:
                now = utcnow()
                claimed = await repository.claim_batch(
                    session, now, dt.timedelta(seconds=20), batch
                )
                if not claimed:
                    raise RuntimeError(f"nothing to claim after {done}")
                for message in claimed:
                    message.counted_at = now
                await repository.write_back(session, claimed, now)
                await session.commit()
                for message in claimed:
                    message.status = MessageStatus.SENT
                    message.sent_at = now
                await repository.write_back(session, claimed, now)
                rows = [
                    {
                        "tenant_id": tenant,
                        "message_id": m.id,
                        "id": new_id(),
                        "kind": MessageStatus.SENT,
                        "detail": None,
                        "until": None,
                        "url": None,
                        "occurred_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for m in claimed
                ]
                await repository.insert_events(session, rows)
                await events_repository.insert_events(
                    session,
                    [
                        {
                            "tenant_id": tenant,
                            "id": new_id(),
                            "event_id": f"floor:{m.id}",
                            "name": "message_sent",
                            "profile_id": m.profile_id,
                            "occurred_at": now,
                            "created_at": now,
                            "updated_at": now,
                            "source": "messaging",
                            "properties": {"messageId": str(m.id)},
                        }
                        for m in claimed
                    ],
                )
                await session.commit()
                done += len(claimed)
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def bare_render(
    settings: Settings, tenant: TenantId, template_id: UUID, profiles: list[UUID]
) -> float:
    """The same version rendered for the same profiles from contexts built beforehand."""
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine, secret_key=settings.secret_key)
    contexts = []
    async with open_session(factory, tenant) as session:
        template = await content_service.get_template(session, template_id)
        assert template.current_version is not None
        version = await content_service.get_version(session, template.id, template.current_version)
        for profile_id in profiles:
            profile = await profiles_service.get_profile(session, profile_id)
            contexts.append(
                await content_service.render_context(
                    session,
                    tenant,
                    version,
                    profile,
                    "en",
                    codes={"BENCH": "B-0000000"},
                    data=None,
                    source=None,
                )
            )
    await engine.dispose()
    started = time.perf_counter()
    for context in contexts:
        content_service.render_version(settings, version, template.channel, "en", context)
    return time.perf_counter() - started


class _Drop:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 2.0.0 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def smtp(settings: Settings, count: int) -> tuple[float, float]:
    """(adapter seconds, bare aiosmtplib seconds) for ``count`` emails to a local sink."""
    port = _free_port()
    controller = Controller(_Drop(), hostname="127.0.0.1", port=port)
    controller.start()
    sender = SenderIdentity(id=None, from_name="Bench", from_address="news@bench.example")
    outgoing = [_email(n) for n in range(count)]  # the same messages both ways
    try:
        config = SmtpSettings(host="127.0.0.1", port=port, security=SmtpSecurity.NONE)
        provider = SmtpProvider(settings, config, SmtpCredentials(), sender)
        started = time.perf_counter()
        await asyncio.gather(*(provider.send(m) for m in outgoing))
        adapter = time.perf_counter() - started
        await provider.aclose()
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False, start_tls=False)
        await client.connect()
        started = time.perf_counter()
        for message in outgoing:
            raw, _ = build_message(message, None)
            await client.sendmail(message.from_address, [message.to_address], raw)
        bare = time.perf_counter() - started
        await client.quit()
    finally:
        controller.stop()
    return adapter, bare


def _email(n: int) -> Any:
    from backend.messaging.providers.base import OutgoingEmail

    return OutgoingEmail(
        message_id=uuid4(),
        tenant_id=uuid4(),
        from_name="Bench",
        from_address="news@bench.example",
        to_address=f"p{n}@example.com",
        subject=f"Hello P{n}",
        html=f"<p>Hello P{n}</p>" + "<p>Lorem ipsum dolor sit amet.</p>" * 40,
        text=f"Hello P{n}",
        headers={"List-Unsubscribe": "<https://levier.example/u/t>"},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=delivery.BATCH_SIZE)
    parser.add_argument("--smtp", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="a tiny size: that it runs (CI)")
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="leave the collector as it is: by default gc.freeze() once set up, as `levier "
        "worker` does once started",
    )
    args = parser.parse_args()
    if args.smoke:
        args.messages, args.smtp = 40, 40
    settings = Settings(
        database_url=os.environ["LEVIER_BENCH_DATABASE_URL"],
        migration_database_url=os.environ.get("LEVIER_BENCH_MIGRATION_DATABASE_URL"),
        log_level="WARNING",
        webhook_allow_private_targets=True,
    )
    schema.upgrade(settings)
    load_tasks()
    tenant, template, profiles = asyncio.run(setup(settings, args.messages))
    if settings.gc_freeze and not args.no_gc_freeze:
        # As `levier worker` does once started (workers/run.py): what loading built is moved out
        # of the collector's reach, so a batch's full collections do not walk every module.
        gc.collect()
        gc.freeze()
    print(f"brand={tenant} messages={args.messages:,} batch={args.batch}")
    seconds = asyncio.run(pipeline(settings, tenant, template, profiles, args.batch))
    rate = args.messages / seconds
    render_seconds = asyncio.run(bare_render(settings, tenant, template, profiles))
    render_rate = args.messages / render_seconds
    print(f"pipeline (gate, render, ledger, discard) {rate:10,.0f} msg/s  (target >= 2,000)")
    print(f"bare render of the same template          {render_rate:10,.0f} renders/s")
    print(f"ratio pipeline/bare render                {rate / render_rate:10.1%}  (target >= 50%)")
    floor = args.messages / asyncio.run(
        ledger_floor(settings, tenant, template, profiles, args.batch)
    )
    print(f"floor: the ledger's writes alone          {floor:10,.0f} msg/s  (no gate/render/send)")
    adapter, bare = asyncio.run(smtp(settings, args.smtp))
    print(f"smtp adapter (pool)                       {args.smtp / adapter:10,.0f} msg/s")
    print(f"bare aiosmtplib loop                      {args.smtp / bare:10,.0f} msg/s")
    print(f"ratio adapter/bare smtp                   {bare / adapter:10.1%}  (target >= 70%)")


if __name__ == "__main__":
    main()
