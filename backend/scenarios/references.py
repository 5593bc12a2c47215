"""What a graph names in other domains, checked through their services: templates, segments,
the trigger a `trigger` entry names, webhook endpoints, attributes, consent topics, date fields.
A missing or unfit reference is a 422 naming its node (``/graph/nodes/4/templateId``).

At activation the entry is also bound to the trigger occurrences it listens to
(:func:`entry_type`), and the first sends are rendered once for a sample profile.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.content import service as content_service
from backend.content.schemas import TemplatePreviewIn
from backend.core.errors import InvalidInput, LevierError
from backend.core.pagination import PageRequest
from backend.core.tenancy import TenantId
from backend.profiles import attributes as profile_attributes
from backend.profiles import consents as profile_consents
from backend.profiles import service as profiles_service
from backend.profiles.models import AttributeType, Channel, ConsentState
from backend.scenarios import graph as g
from backend.segments import service as segments_service
from backend.segments.models import SegmentKind
from backend.triggers import service as triggers_service
from backend.triggers.models import TriggerKind
from backend.triggers.schemas import TriggerCreate, TriggerUpdate
from backend.webhooks import service as webhooks_service

RFM_CHANGED = "rfm.segment_changed"
FORM_SUBMITTED = "form_submitted"
DATE_TYPES = (AttributeType.DATE, AttributeType.DATETIME)


async def check(session: AsyncSession, graph: g.Graph) -> None:
    """Every reference of the graph exists and fits; 422 naming each node that does not."""
    errors = g.GraphErrors()
    attributes = await profile_attributes.definitions(session)
    topics = await _topics(session)
    segment_kinds: dict[UUID, SegmentKind | None] = {}

    async def segment(node_id: str, below: str, segment_id: UUID, static: bool = False) -> None:
        if segment_id not in segment_kinds:
            try:
                segment_kinds[segment_id] = (
                    await segments_service.get_segment(session, segment_id)
                ).kind
            except LevierError:
                segment_kinds[segment_id] = None
        kind = segment_kinds[segment_id]
        if kind is None:
            errors.add(graph.pointer(node_id, below), f"no segment {segment_id}", node_id)
        elif static and kind is not SegmentKind.STATIC:
            errors.add(graph.pointer(node_id, below), "not a static segment (a list)", node_id)

    for node in graph.nodes.values():
        here = node.id
        if isinstance(node, g.EntryNode):
            trigger = node.trigger
            if trigger.segment_id is not None:
                await segment(here, "trigger/segmentId", trigger.segment_id)
            if node.entry_segment_id is not None:
                await segment(here, "entrySegmentId", node.entry_segment_id)
            key = trigger.trigger_key
            if (
                trigger.kind is g.EntryKind.TRIGGER
                and key is not None
                and await triggers_service.definition_by_key(session, key) is None
            ):
                errors.add(graph.pointer(here, "trigger/triggerKey"), f"no trigger {key!r}", here)
            if trigger.date_field is not None:
                _date_field(
                    graph, here, "trigger/dateField", trigger.date_field, attributes, errors
                )
        elif isinstance(node, g.WaitNode) and node.until_date is not None:
            _date_field(graph, here, "untilDate/field", node.until_date.field, attributes, errors)
        elif isinstance(node, g.ConditionNode):
            try:
                await segments_service.parsed(session, node.rule)
            except InvalidInput as exc:
                for item in exc.errors or [{"pointer": "", "detail": exc.detail}]:
                    pointer = str(item.get("pointer") or "").rstrip("/")
                    message = str(item.get("detail") or item.get("message") or exc.detail)
                    errors.add(graph.pointer(here, "rule") + pointer, message, here)
        elif isinstance(node, g.SendNode):
            await _template(session, graph, here, "templateId", node.template_id, errors)
            if node.fallback is not None:
                await _template(
                    session, graph, here, "fallback/templateId", node.fallback.template_id, errors
                )
            if node.topic is not None and node.topic not in topics:
                errors.add(graph.pointer(here, "topic"), f"no consent topic {node.topic!r}", here)
        elif isinstance(node, g.UpdateNode):
            for key in node.attributes or {}:
                if key not in attributes:
                    errors.add(
                        graph.pointer(here, f"attributes/{key}"), f"no attribute {key!r}", here
                    )
            if node.add_to_list is not None:
                await segment(here, "addToList", node.add_to_list, static=True)
            if node.remove_from_list is not None:
                await segment(here, "removeFromList", node.remove_from_list, static=True)
            if node.consent is not None:
                _consent(graph, here, node.consent, topics, errors)
        elif isinstance(node, g.WebhookNode):
            try:
                await webhooks_service.get_endpoint(session, node.endpoint_id)
            except LevierError:
                errors.add(
                    graph.pointer(here, "endpointId"),
                    f"no webhook endpoint {node.endpoint_id}",
                    here,
                )
    errors.raise_if_any()


def _date_field(
    graph: g.Graph,
    node_id: str,
    below: str,
    name: str,
    attributes: dict[str, Any],
    errors: g.GraphErrors,
) -> None:
    if name == "birth_date":
        return
    definition = attributes.get(name)
    if definition is None or definition.type not in DATE_TYPES:
        errors.add(
            graph.pointer(node_id, below), "expected birth_date or a date attribute", node_id
        )


def _consent(
    graph: g.Graph, node_id: str, consent: g.ConsentUpdate, topics: set[str], errors: g.GraphErrors
) -> None:
    if consent.channel not in {c.value for c in Channel}:
        errors.add(graph.pointer(node_id, "consent/channel"), "not a channel", node_id)
    if consent.state not in {s.value for s in ConsentState}:
        errors.add(
            graph.pointer(node_id, "consent/state"),
            f"expected one of {', '.join(s.value for s in ConsentState)}",
            node_id,
        )
    if consent.topic is not None and consent.topic not in topics:
        errors.add(
            graph.pointer(node_id, "consent/topic"), f"no consent topic {consent.topic!r}", node_id
        )


async def _template(
    session: AsyncSession,
    graph: g.Graph,
    node_id: str,
    below: str,
    template_id: UUID,
    errors: g.GraphErrors,
) -> None:
    try:
        template = await content_service.get_template(session, template_id)
    except LevierError:
        errors.add(graph.pointer(node_id, below), f"no template {template_id}", node_id)
        return
    if template.archived_at is not None:
        errors.add(graph.pointer(node_id, below), "the template was deleted", node_id)


async def _topics(session: AsyncSession) -> set[str]:
    keys: set[str] = set()
    page: PageRequest | None = PageRequest(limit=200)
    while page is not None:
        items, cursor = await profile_consents.list_topics(session, page)
        keys.update(t.key for t in items)
        page = PageRequest(limit=200, after=items[-1].id) if cursor and items else None
    return keys


# Activation ------------------------------------------------------------------------------------


def _trigger_settings(trigger: g.EntryTrigger) -> tuple[TriggerKind, dict[str, Any]] | None:
    """The trigger definition an entry needs (kind, settings as the triggers API takes them);
    None for entries that name their occurrences otherwise."""
    kind = trigger.kind
    if kind is g.EntryKind.EVENT:
        return TriggerKind.EVENT, {
            "event_name": trigger.event_name,
            "property_equals": trigger.property_equals,
        }
    if kind is g.EntryKind.FORM_SUBMITTED:
        return TriggerKind.EVENT, {
            "event_name": trigger.event_name or FORM_SUBMITTED,
            "property_equals": trigger.property_equals,
        }
    if kind is g.EntryKind.RFM_DOWN:
        wanted = {"direction": "down", "kind": trigger.rfm_kind or "purchase"}
        return TriggerKind.EVENT, {"event_name": RFM_CHANGED, "property_equals": wanted}
    if kind is g.EntryKind.DATE_ATTRIBUTE:
        local = g.parse_time(trigger.local_time) if trigger.local_time else None
        return TriggerKind.DATE_ATTRIBUTE, {
            "date_field": trigger.date_field,
            "offset_days": trigger.offset_days or 0,
            "local_time": local,
            "yearly": trigger.yearly,
        }
    return None


async def entry_type(session: AsyncSession, graph: g.Graph) -> str | None:
    """The occurrence type the entry listens to, its trigger definition made (or switched back
    on) when the entry needs one: definitions are shared by equal entries (their key is a hash
    of their settings), and shown in the triggers API like any other."""
    trigger = graph.entry.trigger
    if trigger.kind in (g.EntryKind.SEGMENT_ENTERED, g.EntryKind.SEGMENT_EXITED):
        return (
            "segment.entered" if trigger.kind is g.EntryKind.SEGMENT_ENTERED else "segment.exited"
        )
    if trigger.kind is g.EntryKind.TRIGGER:
        return trigger.trigger_key
    if trigger.kind is g.EntryKind.API:
        return None
    wanted = _trigger_settings(trigger)
    assert wanted is not None
    kind, settings = wanted
    digest = json.dumps([kind.value, settings], sort_keys=True, default=str).encode()
    key = "scenario_" + hashlib.sha256(digest).hexdigest()[:20]
    existing = await triggers_service.definition_by_key(session, key)
    if existing is None:
        data = TriggerCreate(
            key=key,
            label=f"Scenario entry ({kind.value})",
            kind=kind,
            **{name: value for name, value in settings.items() if value is not None},
        )
        try:
            await triggers_service.create_definition(session, data)
        except InvalidInput as exc:
            raise InvalidInput(
                f"the entry's trigger is not valid: {exc.detail}",
                errors=[
                    {
                        "field": "trigger",
                        "pointer": graph.pointer(graph.entry.id, "trigger"),
                        "message": str(exc.detail),
                        "nodeId": graph.entry.id,
                    }
                ],
            ) from None
    elif not existing.enabled:
        await triggers_service.update_definition(session, existing.id, TriggerUpdate(enabled=True))
    return key


async def check_first_sends(
    session: AsyncSession, tenant: TenantId, settings: Settings, graph: g.Graph
) -> None:
    """The sends a journey meets first (no other send before them) render: each template has a
    published version, and renders for a sample profile of the brand (its first) when it has
    one. 422 naming the send node otherwise."""
    sample = await _sample_profile(session, tenant)
    errors = g.GraphErrors()
    for node in _first_sends(graph):
        templates = [("templateId", node.template_id)]
        if node.fallback is not None:
            templates.append(("fallback/templateId", node.fallback.template_id))
        for below, template_id in templates:
            template = await content_service.get_template(session, template_id)
            if template.current_version is None:
                errors.add(
                    graph.pointer(node.id, below), "the template has no published version", node.id
                )
                continue
            if sample is None:
                continue
            try:
                await content_service.preview(
                    session, tenant, settings, template_id, TemplatePreviewIn(profile_id=sample)
                )
            except InvalidInput as exc:
                errors.add(
                    graph.pointer(node.id, below),
                    f"the first send cannot render: {exc.detail}",
                    node.id,
                )
    errors.raise_if_any()


def _first_sends(graph: g.Graph) -> list[g.SendNode]:
    found: list[g.SendNode] = []
    seen: set[str] = set()
    stack = [graph.entry.id]
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        node = graph.nodes[node_id]
        if isinstance(node, g.SendNode):
            found.append(node)
            continue
        stack.extend(target for _, target in g.edges(node))
    return sorted(found, key=lambda n: graph.index[n.id])


async def _sample_profile(session: AsyncSession, tenant: TenantId) -> UUID | None:
    profiles, _ = await profiles_service.list_profiles(session, tenant, PageRequest(limit=1))
    return profiles[0].id if profiles else None
