"""Brand isolation, both walls, on every tenant table and every brand route.

Wall one (every dialect): the tenant-scoped session filters and stamps ``tenant_id``.
Wall two (PostgreSQL): row-level security, enabled and forced, binds even raw SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import DBAPIError, ProgrammingError

from backend.campaigns.models import (
    AbTestMode,
    Campaign,
    CampaignOccurrence,
    CampaignRecipient,
    CampaignStatus,
    CampaignVariant,
    OccurrenceKind,
    OccurrenceStatus,
    RecipientState,
    ScheduleKind,
)
from backend.connectors.models import Connector, ConnectorType, InboundDelivery, InboundStatus
from backend.content.coupons.models import CouponCode, CouponPool
from backend.content.models import ContentTemplate, Snippet, TemplateChannel, TemplateVersion
from backend.core.db import Base, utcnow
from backend.core.ids import new_id
from backend.core.tenancy import TenantScopeError, tenant_tables
from backend.events.models import Cart, CartStatus, Event, EventSettings, EventType
from backend.imports.models import (
    ImportChunk,
    ImportFormat,
    ImportJob,
    ImportKind,
    ImportMode,
    ImportRejection,
    ImportStatus,
)
from backend.messaging.accounts.models import ProviderAccount, SenderIdentityRecord
from backend.messaging.devices.models import DeviceKind, PushDevice
from backend.messaging.inbound.models import InboundSms, KeywordAction
from backend.messaging.models import (
    Message,
    MessageChannel,
    MessageEvent,
    MessageHold,
    MessageKey,
    MessagePriority,
    MessageStatus,
    PressurePolicy,
    SourceKind,
)
from backend.messaging.providers.base import ProviderKind
from backend.messaging.providers.models import CapturedMessage, FeedbackToken
from backend.messaging.tracking.models import MessageSighting, SoftBounceRun
from backend.profiles.models import (
    AttributeType,
    ConsentChange,
    ConsentState,
    ConsentTopic,
    ExportChunk,
    ExportFormat,
    ExportStatus,
    LinkedRow,
    LinkedRowOperation,
    LinkedRowVersion,
    LinkedTable,
    Order,
    OrderLine,
    Profile,
    ProfileAttribute,
    ProfileExport,
    ProfileIdentity,
    ProfileMerge,
    ProfileUniqueValue,
    Suppression,
)
from backend.profiles.models import Channel as MessagingChannel
from backend.programs.models import Program, ProgramStatus
from backend.programs.vocabulary import LifecycleStage
from backend.rfm.models import (
    RfmKind,
    RfmMethod,
    RfmRun,
    RfmRunStatus,
    RfmScore,
    RfmSettings,
)
from backend.scenarios.models import (
    Journey,
    JourneyState,
    JourneyStep,
    Scenario,
    ScenarioEntry,
    ScenarioEntryKey,
    ScenarioVersion,
)
from backend.segments.models import (
    EvaluationCause,
    Segment,
    SegmentKind,
    SegmentMember,
    SegmentSize,
    SegmentTransition,
    TransitionKind,
)
from backend.tenancy.models import BrandSettings
from backend.triggers.models import (
    TriggerCart,
    TriggerDefinition,
    TriggerKind,
    TriggerOccurrence,
    TriggerWatermark,
)
from backend.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from tests.conftest import embedded_only
from tests.factories import make_brand, make_world, session_of


@dataclass(frozen=True)
class Parents:
    """The ids a brand's rows point to (their parents are made first, in table order)."""

    profile_id: UUID = field(default_factory=uuid4)
    order_id: UUID = field(default_factory=uuid4)
    linked_table_id: UUID = field(default_factory=uuid4)
    linked_row_id: UUID = field(default_factory=uuid4)
    export_id: UUID = field(default_factory=uuid4)
    import_id: UUID = field(default_factory=uuid4)
    connector_id: UUID = field(default_factory=uuid4)
    endpoint_id: UUID = field(default_factory=uuid4)
    event_id: UUID = field(default_factory=uuid4)
    delivery_id: UUID = field(default_factory=uuid4)
    trigger_definition_id: UUID = field(default_factory=uuid4)
    rfm_run_id: UUID = field(default_factory=uuid4)
    segment_id: UUID = field(default_factory=uuid4)
    template_id: UUID = field(default_factory=uuid4)
    coupon_pool_id: UUID = field(default_factory=uuid4)
    campaign_id: UUID = field(default_factory=uuid4)
    occurrence_id: UUID = field(default_factory=uuid4)
    scenario_id: UUID = field(default_factory=uuid4)
    scenario_version_id: UUID = field(default_factory=uuid4)
    journey_id: UUID = field(default_factory=uuid4)


# One factory per tenant table: a new tenant table must add its own here (a test checks it).
# Each returns a new row *without* tenant_id, so the session has to stamp it.
ROW_FACTORIES: dict[str, Callable[[Parents], Any]] = {
    "push_devices": lambda p: PushDevice(
        profile_id=p.profile_id,
        kind=DeviceKind.FCM,
        token="isolation",
        token_key=uuid4().hex,
    ),
    "inbound_sms": lambda _: InboundSms(
        account_id=uuid4(),
        message_sid=uuid4().hex,
        from_phone="+32470000000",
        to_phone="+3225550100",
        action=KeywordAction.NONE,
        received_at=utcnow(),
    ),
    "brand_settings": lambda _: BrandSettings(sender_name="isolation"),
    "profile_attributes": lambda _: ProfileAttribute(
        key="isolation", label="Isolation", type=AttributeType.TEXT, required=False, unique=False
    ),
    "profiles": lambda p: Profile(id=p.profile_id, attributes={}, bounced=[], suppressed=[]),
    "profile_identities": lambda p: ProfileIdentity(
        kind="email", value="isolation@example.test", profile_id=p.profile_id
    ),
    "profile_unique_values": lambda p: ProfileUniqueValue(
        attribute="isolation", value="1", profile_id=p.profile_id
    ),
    "profile_merges": lambda p: ProfileMerge(
        survivor_id=p.profile_id, merged_id=uuid4(), reason="isolation", keys=[], merged_at=utcnow()
    ),
    "consent_topics": lambda _: ConsentTopic(key="isolation", label="Isolation"),
    "consent_changes": lambda p: ConsentChange(
        profile_id=p.profile_id,
        state=ConsentState.GRANTED,
        source="isolation",
        occurred_at=utcnow(),
    ),
    "orders": lambda p: Order(
        id=p.order_id,
        order_id="isolation",
        profile_id=p.profile_id,
        occurred_at=utcnow(),
        amount=Decimal("1.00"),
        currency="EUR",
    ),
    "order_lines": lambda p: OrderLine(
        order_uuid=p.order_id, product="isolation", quantity=Decimal(1), price=Decimal("1.00")
    ),
    "linked_tables": lambda p: LinkedTable(
        id=p.linked_table_id, key="isolation", label="Isolation", columns=[]
    ),
    "linked_rows": lambda p: LinkedRow(
        id=p.linked_row_id,
        table_id=p.linked_table_id,
        profile_id=p.profile_id,
        values={},
        version=1,
    ),
    "linked_row_versions": lambda p: LinkedRowVersion(
        row_id=p.linked_row_id,
        table_id=p.linked_table_id,
        profile_id=p.profile_id,
        version=1,
        operation=LinkedRowOperation.CREATED,
        values={},
        changed_at=utcnow(),
    ),
    "profile_exports": lambda p: ProfileExport(
        id=p.export_id,
        format=ExportFormat.CSV,
        filter={},
        fields=["id"],
        status=ExportStatus.QUEUED,
        row_count=0,
        byte_count=0,
        chunk_count=0,
    ),
    "export_chunks": lambda p: ExportChunk(export_id=p.export_id, seq=0, data=b"id\r\n"),
    "suppressions": lambda _: Suppression(
        kind="email", hash="0" * 64, reason="isolation", erased_at=utcnow()
    ),
    "imports": lambda p: ImportJob(
        id=p.import_id,
        kind=ImportKind.PROFILES,
        format=ImportFormat.CSV,
        mode=ImportMode.UPSERT,
        status=ImportStatus.QUEUED,
        mapping={},
        size_bytes=0,
        chunk_count=0,
        lines_done=0,
        rows_done=0,
        created_count=0,
        updated_count=0,
        rejected_count=0,
        attempts=0,
    ),
    "import_chunks": lambda p: ImportChunk(import_id=p.import_id, seq=0, data=b"email\n"),
    "import_rejections": lambda p: ImportRejection(
        import_id=p.import_id, line=2, reason="isolation", raw="x"
    ),
    "connectors": lambda p: Connector(
        id=p.connector_id,
        type=ConnectorType.QUALIFIO,
        name="isolation",
        secret_ciphertext="x",
        secret_hint="x",
        mapping={},
        event_name="form_submitted",
        enabled=True,
    ),
    "inbound_deliveries": lambda p: InboundDelivery(
        connector_id=p.connector_id,
        external_id="isolation",
        body=b"{}",
        status=InboundStatus.RECEIVED,
        attempts=0,
        received_at=utcnow(),
    ),
    "webhook_endpoints": lambda p: WebhookEndpoint(
        id=p.endpoint_id,
        url="https://isolation.example/h",
        event_types=["profile.created"],
        secret_ciphertext="x",
        secret_hint="x",
        enabled=True,
        consecutive_failures=0,
    ),
    "webhook_events": lambda p: WebhookEvent(id=p.event_id, type="profile.created", payload={}),
    "webhook_deliveries": lambda p: WebhookDelivery(
        id=p.delivery_id,
        endpoint_id=p.endpoint_id,
        event_id=p.event_id,
        event_type="profile.created",
        status=DeliveryStatus.PENDING,
        attempt_count=0,
        next_attempt_at=utcnow(),
    ),
    "webhook_attempts": lambda p: WebhookAttempt(
        delivery_id=p.delivery_id,
        attempted_at=utcnow(),
        succeeded=True,
        status_code=200,
        duration_ms=1,
    ),
    "event_settings": lambda _: EventSettings(
        create_unknown_profiles=True, require_declared_types=False, max_future_skew_seconds=600
    ),
    "event_types": lambda _: EventType(name="isolation", properties_schema={}),
    "events": lambda p: Event(
        event_id="isolation",
        name="isolation",
        profile_id=p.profile_id,
        occurred_at=utcnow(),
        source="isolation",
        properties={},
    ),
    "carts": lambda p: Cart(
        profile_id=p.profile_id,
        cart_id="isolation",
        items=[],
        status=CartStatus.OPEN,
        changed_at=utcnow(),
    ),
    "trigger_definitions": lambda p: TriggerDefinition(
        id=p.trigger_definition_id,
        key="isolation",
        label="Isolation",
        kind=TriggerKind.INACTIVITY,
        enabled=True,
        settings={"inactivity_days": 30},
    ),
    "trigger_watermarks": lambda p: TriggerWatermark(
        definition_id=p.trigger_definition_id, scanned_until=utcnow()
    ),
    "trigger_occurrences": lambda p: TriggerOccurrence(
        profile_id=p.profile_id,
        type="isolation",
        dedupe_key="isolation",
        occurred_at=utcnow(),
        payload={},
    ),
    "trigger_carts": lambda p: TriggerCart(
        cart_id="isolation", profile_id=p.profile_id, cart_updated_at=utcnow()
    ),
    "rfm_settings": lambda _: RfmSettings(
        purchase_window_days=365, engagement_window_days=365, engagement_events=[]
    ),
    "rfm_runs": lambda p: RfmRun(
        id=p.rfm_run_id,
        kind=RfmKind.PURCHASE,
        as_of=utcnow(),
        window_days=365,
        status=RfmRunStatus.SUCCEEDED,
        method=RfmMethod.QUINTILES,
    ),
    "rfm_scores": lambda p: RfmScore(
        run_id=p.rfm_run_id,
        profile_id=p.profile_id,
        recency_days=1,
        frequency=1,
        monetary=Decimal("1"),
        r=5,
        f=1,
        m=1,
        segment="New",
    ),
    "segments": lambda p: Segment(
        id=p.segment_id,
        key="isolation",
        name="Isolation",
        kind=SegmentKind.STATIC,
        refresh_every_minutes=None,
        member_count=1,
        version=1,
    ),
    "segment_members": lambda p: SegmentMember(
        segment_id=p.segment_id, profile_id=p.profile_id, entered_at=utcnow()
    ),
    "segment_transitions": lambda p: SegmentTransition(
        id=uuid4(),
        segment_id=p.segment_id,
        profile_id=p.profile_id,
        kind=TransitionKind.ENTERED,
        occurred_at=utcnow(),
        evaluation_id=uuid4(),
    ),
    "sender_identities": lambda _: SenderIdentityRecord(
        name="isolation", from_name="Isolation", from_address="isolation@example.test"
    ),
    "provider_accounts": lambda _: ProviderAccount(
        kind=ProviderKind.CAPTURE,
        channel=MessagingChannel.EMAIL,
        name="isolation",
        settings={},
        credentials_ciphertext="x",
        credential_fields=[],
    ),
    "captured_messages": lambda _: CapturedMessage(
        message_id=uuid4(), channel=MessagingChannel.EMAIL, recipient="i@example.test", payload={}
    ),
    "feedback_tokens": lambda _: FeedbackToken(provider="mailgun", token=uuid4().hex),
    "segment_sizes": lambda p: SegmentSize(
        id=uuid4(),
        segment_id=p.segment_id,
        measured_at=utcnow(),
        size=1,
        entered=1,
        exited=0,
        cause=EvaluationCause.UPLOAD,
    ),
    "messages": lambda p: Message(
        dedupe_key="isolation",
        source_kind=SourceKind.TRANSACTIONAL,
        source_key="isolation",
        profile_id=p.profile_id,
        channel=MessageChannel.EMAIL,
        priority=MessagePriority.TRANSACTIONAL,
        template_id=uuid4(),
        data={},
        status=MessageStatus.QUEUED,
    ),
    "message_events": lambda _: MessageEvent(message_id=new_id(), kind=MessageStatus.QUEUED),
    "message_keys": lambda _: MessageKey(dedupe_key="isolation", message_id=new_id()),
    "message_sightings": lambda _: MessageSighting(
        message_id=new_id(), key="opened", count=1, first_at=utcnow(), last_at=utcnow()
    ),
    "soft_bounce_runs": lambda p: SoftBounceRun(
        profile_id=p.profile_id, channel="email", count=1, last_at=utcnow()
    ),
    "pressure_policies": lambda _: PressurePolicy(per_week=3, channel_caps={}),
    "content_templates": lambda p: ContentTemplate(
        id=p.template_id,
        key="isolation",
        name="Isolation",
        channel=TemplateChannel.SMS,
        latest_version=1,
    ),
    "content_template_versions": lambda p: TemplateVersion(
        id=uuid4(),
        template_id=p.template_id,
        version=1,
        default_locale="en",
        variants={},
        compiled={},
        names=[],
        pools=[],
        snippets=[],
    ),
    "content_snippets": lambda _: Snippet(id=uuid4(), key="isolation", name="I", body="x"),
    "coupon_pools": lambda p: CouponPool(id=p.coupon_pool_id, key="ISOLATION", name="I"),
    "coupon_codes": lambda p: CouponCode(pool_id=p.coupon_pool_id, code="ISOLATION-1"),
    "programs": lambda p: Program(
        name="Isolation",
        objective="Isolation",
        stage=LifecycleStage.RETAIN,
        kpis=[],
        status=ProgramStatus.DRAFT,
        moments_of_truth=[],
        audience_segment_id=p.segment_id,
    ),
    "message_holds": lambda _: MessageHold(source_kind=SourceKind.CAMPAIGN, source_key="isolation"),
    "campaigns": lambda p: Campaign(
        id=p.campaign_id,
        name="Isolation",
        status=CampaignStatus.DRAFT,
        include_segment_ids=[],
        exclude_segment_ids=[],
        channel=MessageChannel.EMAIL,
        template_id=p.template_id,
        priority=MessagePriority.CAMPAIGN,
        schedule_kind=ScheduleKind.NOW,
        test_mode=AbTestMode.SPLIT,
    ),
    "campaign_variants": lambda p: CampaignVariant(
        campaign_id=p.campaign_id, key="a", position=0, weight=100
    ),
    "campaign_occurrences": lambda p: CampaignOccurrence(
        id=p.occurrence_id,
        campaign_id=p.campaign_id,
        kind=OccurrenceKind.SCHEDULED,
        planned_at=utcnow(),
        status=OccurrenceStatus.SENT,
        config={},
        started_at=utcnow(),
    ),
    "campaign_recipients": lambda p: CampaignRecipient(
        occurrence_id=p.occurrence_id, profile_id=p.profile_id, state=RecipientState.HOLDOUT
    ),
    "scenarios": lambda p: Scenario(id=p.scenario_id, name="Isolation", draft_version=1),
    "scenario_versions": lambda p: ScenarioVersion(
        id=p.scenario_version_id, scenario_id=p.scenario_id, number=1, graph={"nodes": []}
    ),
    "scenario_entries": lambda p: ScenarioEntry(
        scenario_id=p.scenario_id, profile_id=p.profile_id, last_entered_at=utcnow()
    ),
    "scenario_entry_keys": lambda p: ScenarioEntryKey(
        scenario_id=p.scenario_id, entry_key="isolation", created_at=utcnow()
    ),
    "scenario_journeys": lambda p: Journey(
        id=p.journey_id,
        scenario_id=p.scenario_id,
        version_id=p.scenario_version_id,
        profile_id=p.profile_id,
        state=JourneyState.READY,
        node_id="start",
        seq=0,
        entered_at=utcnow(),
        entry_key="isolation",
        data={},
    ),
    "scenario_steps": lambda p: JourneyStep(
        journey_id=p.journey_id,
        seq=1,
        version_id=p.scenario_version_id,
        node_id="start",
        kind="entry",
        started_at=utcnow(),
    ),
}


def _model(table: Table) -> type[Any]:
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return mapper.class_
    raise AssertionError(f"no model for {table.name}")


def brand_tables() -> list[Table]:
    """The tenant tables, never none: a loop over them that ran for no table would pass."""
    tables = tenant_tables()
    assert len(tables) >= 20, [table.name for table in tables]
    return tables


def test_every_tenant_table_has_a_row_factory() -> None:
    assert {table.name for table in tenant_tables()} == set(ROW_FACTORIES)


def test_every_key_of_a_tenant_table_leads_with_tenant_id() -> None:
    for table in brand_tables():
        assert table.primary_key.columns.values()[0].name == "tenant_id", table.name
        for index in table.indexes:
            assert index.columns.values()[0].name == "tenant_id", (table.name, index.name)
        for constraint in table.constraints:
            columns = getattr(constraint, "columns", None)
            if columns is not None and constraint.__class__.__name__ == "UniqueConstraint":
                assert columns.values()[0].name == "tenant_id", (table.name, constraint.name)


async def _two_brands_with_rows(app: Litestar) -> tuple[UUID, UUID]:
    """Two unprovisioned brands of one agency, each with one row in every tenant table."""
    world = await make_world(app)
    brand_a = await make_brand(app, world.agency_a.id, "Isolated A", provision=False)
    brand_b = await make_brand(app, world.agency_a.id, "Isolated B", provision=False)
    for brand in (brand_a, brand_b):
        parents = Parents()
        async with session_of(app, brand.id) as session:
            # Parents before children: tenant_tables() follows the foreign keys.
            for table in brand_tables():
                session.add(ROW_FACTORIES[table.name](parents))
                await session.flush()
            await session.commit()
    return brand_a.id, brand_b.id


async def test_scoped_session_stamps_new_rows_with_its_brand(app: Litestar) -> None:
    _, brand_b = await _two_brands_with_rows(app)
    for table in brand_tables():
        model = _model(table)
        async with session_of(app, brand_b) as session:
            rows = (await session.scalars(select(model))).all()
        assert [row.tenant_id for row in rows] == [brand_b], table.name


async def test_scoped_session_reads_updates_and_deletes_only_its_brand(app: Litestar) -> None:
    brand_a, brand_b = await _two_brands_with_rows(app)
    # Children before parents: deleting a profile would take its rows with it.
    for table in reversed(brand_tables()):
        model = _model(table)
        async with session_of(app, brand_b) as session:
            count = await session.scalar(select(func.count()).select_from(model))
            assert count == 1, table.name
            touched = await session.execute(update(model).values(updated_at=func.now()))
            assert touched.rowcount == 1, table.name  # type: ignore[attr-defined]
            deleted = await session.execute(sql_delete(model))
            assert deleted.rowcount == 1, table.name  # type: ignore[attr-defined]
            await session.commit()
        async with session_of(app, brand_a) as session:
            survivors = (await session.scalars(select(model))).all()
        assert [row.tenant_id for row in survivors] == [brand_a], table.name


async def test_scoped_session_refuses_a_row_of_another_brand(app: Litestar) -> None:
    brand_a, brand_b = await _two_brands_with_rows(app)
    for factory in ROW_FACTORIES.values():
        async with session_of(app, brand_b) as session:
            row = factory(Parents())
            row.tenant_id = brand_a
            session.add(row)
            with pytest.raises(TenantScopeError):
                await session.flush()


async def test_unscoped_session_refuses_tenant_tables(app: Litestar) -> None:
    await _two_brands_with_rows(app)
    for table in brand_tables():
        model = _model(table)
        async with session_of(app) as session:
            with pytest.raises(TenantScopeError):
                await session.scalars(select(model))
            session.add(ROW_FACTORIES[table.name](Parents()))
            with pytest.raises(TenantScopeError):
                await session.flush()


def _postgres_only(stack: str) -> None:
    if stack != "postgres":
        pytest.skip("row-level security is PostgreSQL's")


async def test_row_level_security_is_enabled_and_forced_on_every_tenant_table(
    app: Litestar, stack: str
) -> None:
    _postgres_only(stack)
    async with app.state.engine.connect() as connection:
        for table in brand_tables():
            flags = (
                await connection.execute(
                    text(
                        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                        "WHERE relname = :name"
                    ),
                    {"name": table.name},
                )
            ).one()
            assert tuple(flags) == (True, True), table.name
            policies = (
                await connection.execute(
                    text("SELECT qual, with_check FROM pg_policies WHERE tablename = :name"),
                    {"name": table.name},
                )
            ).all()
            assert len(policies) == 1, table.name
            assert "levier.tenant_id" in policies[0][0], table.name
            assert "levier.tenant_id" in policies[0][1], table.name


async def test_row_level_security_binds_raw_sql(app: Litestar, stack: str) -> None:
    """Even SQL that forgets the brand sees and writes only the brand set for the transaction."""
    _postgres_only(stack)
    brand_a, brand_b = await _two_brands_with_rows(app)
    set_brand = text("SELECT set_config('levier.tenant_id', :tenant, true)")
    for table in brand_tables():
        count_all = text(f"SELECT count(*) FROM {table.name}")  # noqa: S608
        async with app.state.engine.connect() as connection:
            async with connection.begin():
                assert await connection.scalar(count_all) == 0, "no brand set: nothing visible"
            async with connection.begin():
                await connection.execute(set_brand, {"tenant": str(brand_b)})
                assert await connection.scalar(count_all) == 1, table.name
                tenants = await connection.scalars(text(f"SELECT tenant_id FROM {table.name}"))  # noqa: S608
                assert list(tenants) == [brand_b], table.name
            # A row for brand A written while brand B is set is refused by the policy.
            row = ROW_FACTORIES[table.name](Parents())
            values = {
                column.key: getattr(row, column.key)
                for column in table.columns
                if getattr(row, column.key, None) is not None
            }
            values["tenant_id"] = brand_a
            async with connection.begin() as transaction:
                await connection.execute(set_brand, {"tenant": str(brand_b)})
                with pytest.raises((DBAPIError, ProgrammingError), match="row-level security"):
                    await connection.execute(insert(table).values(values))
                await transaction.rollback()


def _brand_routes(app: Litestar) -> list[tuple[str, str]]:
    routes = []
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith("/v1/brands/{brand_id"):
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                routes.append((method, route.path))
    return routes


def _fill(path: str, brand_id: str) -> str:
    path = re.sub(r"\{brand_id(:\w+)?\}", brand_id, path)
    return re.sub(r"\{\w+(:\w+)?\}", str(uuid4()), path)


@embedded_only  # the guard answers before any database work
async def test_every_brand_route_answers_404_for_a_brand_out_of_reach(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    routes = _brand_routes(app)
    assert ("PATCH", "/v1/brands/{brand_id:uuid}/settings") in routes  # the walk is not empty
    out_of_reach = [str(world.brand_b.id), str(uuid4()), "not-a-uuid"]
    for method, path in routes:
        for brand_id in out_of_reach:
            # Whatever the body, even unparseable: the guard answers before anything is read.
            for body in (b"{not json", b'{"name": "x"}'):
                response = await client.request(
                    method,
                    _fill(path, brand_id),
                    content=body,
                    headers={**world.owner_a.headers, "content-type": "application/json"},
                )
                assert response.status_code == 404, (method, path, brand_id, response.text)
                assert response.headers["content-type"].startswith("application/problem+json")


async def test_brand_data_of_another_brand_is_never_returned(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    mine = await client.get(
        f"/v1/brands/{world.brand_a.id}/settings", headers=world.owner_a.headers
    )
    assert mine.status_code == 200
    assert mine.json()["brandId"] == str(world.brand_a.id)
    assert mine.json()["senderName"] == "Brand A"
