"""Records every ORM write as an audit event, in the same flush as the write itself.

Hooked on the application's session class (by :func:`install`, which
``backend.wiring.connect_domains`` calls), so no service has to remember it. Set-based
statements (bulk INSERT/UPDATE/DELETE) bypass the unit of work and are not recorded here.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from backend.audit.models import AuditEvent
from backend.core.db import IdMixin
from backend.core.ids import new_id
from backend.core.tenancy import (
    ACTOR_INFO_KEY,
    REQUEST_ID_INFO_KEY,
    LevierSession,
    session_tenant,
)

# Machinery, not business objects: recording them would only add noise.
NOT_AUDITED = frozenset(
    {"audit_events", "outbox_messages", "due_tasks", "idempotency_records", "access_tokens"}
)
# Bookkeeping columns that change with every write.
_IGNORED_FIELDS = frozenset({"updated_at"})


def _scope_of(obj: Any, tenant: UUID | None) -> tuple[UUID | None, UUID | None]:
    """(agency id, brand id) an object belongs to, read from its own columns."""
    table = obj.__table__.name
    if table == "agencies":
        return obj.id, None
    if table == "brands":
        return obj.agency_id, obj.id
    brand = getattr(obj, "brand_id", None) or getattr(obj, "tenant_id", None) or tenant
    return getattr(obj, "agency_id", None), brand


def _object_id(obj: Any) -> str:
    identity = inspect(obj).identity
    if identity:
        return ",".join(str(part) for part in identity)
    mapper = inspect(obj).mapper
    return ",".join(str(getattr(obj, column.key)) for column in mapper.primary_key)


def _changed_fields(obj: Any) -> list[str]:
    state = inspect(obj)
    return sorted(
        attr.key
        for attr in state.attrs
        if attr.key not in _IGNORED_FIELDS and attr.history.has_changes()
    )


def install() -> None:
    """Record the writes of every session of the application's class (once per process)."""
    if not event.contains(LevierSession, "before_flush", _record_writes):
        event.listen(LevierSession, "before_flush", _record_writes)


def _record_writes(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    actor = session.info.get(ACTOR_INFO_KEY, "system")
    request_id = session.info.get(REQUEST_ID_INFO_KEY)
    tenant = session_tenant(session)
    events: list[AuditEvent] = []
    for action, objects in (
        ("created", list(session.new)),
        ("updated", list(session.dirty)),
        ("deleted", list(session.deleted)),
    ):
        for obj in objects:
            table = getattr(obj, "__table__", None)
            if table is None or table.name in NOT_AUDITED:
                continue
            if isinstance(obj, IdMixin) and obj.id is None:
                obj.id = new_id()  # the event names the object before the flush assigns it
            fields: list[str] = []
            if action == "updated":
                fields = _changed_fields(obj)
                if not fields:
                    continue  # touched, not changed
            elif action == "created":
                fields = sorted(k for k in inspect(obj).dict if not k.startswith("_"))
            agency_id, brand_id = _scope_of(obj, tenant)
            events.append(
                AuditEvent(
                    actor=actor,
                    action=action,
                    object_type=table.name,
                    object_id=_object_id(obj),
                    agency_id=agency_id,
                    brand_id=brand_id,
                    changes={"fields": fields},
                    request_id=request_id,
                )
            )
    session.add_all(events)
