"""Exports of a brand's profiles (all, or those a filter keeps) as CSV or NDJSON, written by a job.

A request stores the export (``queued``) and enqueues ``profiles.export``. The job reads profiles
in keyset batches (never all in memory), encodes them and stores the file in ``export_chunks``
pieces of about 1 MiB, handing control back after each piece so its caller can commit; a download
streams the pieces back one query at a time. Running the job again starts the file over, so a
retried or duplicated message never leaves a mixed file.

Files hold personal data, so they do not stay: a written export expires ``export_ttl_hours``
after it was written (a due task, ``profiles.expire_export``, purges its chunks and marks it
``expired``; downloads answer 410 from that time on, even before the task ran), and erasing a
person expires at once every export written or being written until then, since it may hold them.
CSV cells that a spreadsheet would run as a formula are neutralised (OWASP CSV injection).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.core import due_work
from backend.core.db import utcnow
from backend.core.errors import Conflict, InvalidInput, LevierError, NotFound
from backend.core.jobs import enqueue
from backend.core.pagination import PageRequest
from backend.core.spreadsheet import neutralised
from backend.core.tenancy import TenantId, open_session, required_tenant
from backend.profiles import attributes as attribute_rules
from backend.profiles import service
from backend.profiles.exports import repository
from backend.profiles.exports.schemas import TTL_PASSED, ExportCreate, ExportFilter, is_expired
from backend.profiles.fields import FieldErrors
from backend.profiles.models import ExportFormat, ExportStatus, ProfileExport
from backend.profiles.service import ProfileView

EXPORT_TASK = "profiles.export"
EXPIRE_TASK = "profiles.expire_export"
DEFAULT_TTL = dt.timedelta(hours=72)
PERSON_ERASED = "a person it may hold was erased"


class Gone(LevierError):
    status, slug, title = HTTPStatus.GONE, "gone", "Gone"


CHUNK_BYTES = 1024 * 1024
BATCH = 1000
ATTRIBUTE = "attributes."
MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.NDJSON: "application/x-ndjson",
}

# Wire name → how to read it off a profile view.
_STANDARD: dict[str, Callable[[ProfileView], Any]] = {
    "id": lambda v: v.profile.id,
    "email": lambda v: v.profile.email,
    "phone": lambda v: v.profile.phone,
    "firstName": lambda v: v.profile.first_name,
    "lastName": lambda v: v.profile.last_name,
    "birthDate": lambda v: v.profile.birth_date,
    "locale": lambda v: v.profile.locale,
    "timeZone": lambda v: v.profile.time_zone,
    "country": lambda v: v.profile.country,
    "preferredStore": lambda v: v.profile.preferred_store,
    "channelAppetency": lambda v: v.profile.channel_appetency,
    "externalIds": lambda v: [{"source": e.source, "id": e.id} for e in v.external_ids],
    "createdAt": lambda v: v.profile.created_at,
    "updatedAt": lambda v: v.profile.updated_at,
}


# Requesting ------------------------------------------------------------------------------------


def _filter_kwargs(stored: dict[str, Any]) -> dict[str, Any]:
    given = msgspec.convert(stored, ExportFilter)
    return {
        "email": given.email,
        "phone": given.phone,
        "external_id": given.external_id,
        "country": given.country,
        "preferred_store": given.preferred_store,
        "updated_since": given.updated_since,
    }


async def _resolve_fields(session: AsyncSession, given: Sequence[str] | None) -> list[str]:
    """The export's columns: wire names, ``attributes`` expanded to every attribute's key."""
    keys = sorted(await attribute_rules.definitions(session))
    every_attribute = [ATTRIBUTE + k for k in keys]
    if given is None:
        return [*_STANDARD, *every_attribute]
    errors = FieldErrors()
    fields: list[str] = []
    for index, name in enumerate(given):
        if name == "attributes":
            fields += every_attribute
        elif name in _STANDARD or (name.startswith(ATTRIBUTE) and name[len(ATTRIBUTE) :] in keys):
            fields.append(name)
        else:
            errors.add(f"fields[{index}]", f"unknown field {name!r}")
    errors.raise_if_any()
    return list(dict.fromkeys(fields))  # in order, once each


async def request_export(
    session: AsyncSession, tenant: TenantId, data: ExportCreate
) -> ProfileExport:
    """Store an export (``queued``) and enqueue the job that writes it; the filter is checked
    now (422 naming ``filter.<field>``), as are the fields (``fields[i]``)."""
    stored_filter = msgspec.to_builtins(data.filter)
    try:  # the profile list's own checks, on an empty page
        await service.list_profiles(
            session, tenant, PageRequest(limit=1), **_filter_kwargs(stored_filter)
        )
    except InvalidInput as exc:
        errors = [{**e, "field": f"filter.{e.get('field')}"} for e in exc.errors or []]
        raise InvalidInput(exc.detail, errors=errors) from None
    export = ProfileExport(
        format=data.format,
        filter=stored_filter,
        fields=await _resolve_fields(session, data.fields),
        status=ExportStatus.QUEUED,
        row_count=0,
        byte_count=0,
        chunk_count=0,
    )
    session.add(export)
    await session.flush()
    await enqueue(session, EXPORT_TASK, export_id=str(export.id))
    return export


async def list_exports(
    session: AsyncSession, page: PageRequest
) -> tuple[list[ProfileExport], str | None]:
    return await repository.exports_page(session, page)


async def count_exports(session: AsyncSession) -> int:
    return await repository.count_exports(session)


async def get_export(session: AsyncSession, export_id: UUID) -> ProfileExport:
    export = await repository.export_by_id(session, export_id)
    if export is None:
        raise NotFound("export not found")
    return export


# Writing (the job) -----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def _record(view: ProfileView, fields: Sequence[str]) -> dict[str, Any]:
    """The profile as an NDJSON object: chosen attributes nested under ``attributes``."""
    record: dict[str, Any] = {}
    attributes = view.profile.attributes or {}
    for name in fields:
        if name.startswith(ATTRIBUTE):
            key = name[len(ATTRIBUTE) :]
            record.setdefault("attributes", {})[key] = attributes.get(key)
        else:
            record[name] = _plain(_STANDARD[name](view))
    return record


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):  # external ids: source:id;source:id
        return neutralised(";".join(f"{e['source']}:{e['id']}" for e in value))
    if isinstance(value, str):
        return neutralised(value)
    return str(_plain(value))


class _Encoder:
    def __init__(self, export_format: ExportFormat, fields: Sequence[str]) -> None:
        self.format = export_format
        self.fields = list(fields)

    def header(self) -> bytes:
        return self._csv([self.fields]) if self.format is ExportFormat.CSV else b""

    def rows(self, views: Sequence[ProfileView]) -> bytes:
        if self.format is ExportFormat.NDJSON:
            return b"".join(msgspec.json.encode(_record(v, self.fields)) + b"\n" for v in views)
        lines = []
        for view in views:
            attributes = view.profile.attributes or {}
            lines.append(
                [
                    _cell(attributes.get(f[len(ATTRIBUTE) :]))
                    if f.startswith(ATTRIBUTE)
                    else _cell(_STANDARD[f](view))
                    for f in self.fields
                ]
            )
        return self._csv(lines)

    @staticmethod
    def _csv(lines: list[list[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(lines)
        return buffer.getvalue().encode()


async def run_export(
    session: AsyncSession,
    export_id: UUID,
    checkpoint: Callable[[], Awaitable[None]],
    *,
    ttl: dt.timedelta = DEFAULT_TTL,
) -> None:
    """Write the export's file from the start, calling ``checkpoint`` (the job commits there)
    after marking it running and after each stored chunk, then schedule its expiry ``ttl``
    later. A finished or expired export is left alone; one that a person's erasure expired
    while it was written keeps no file."""
    tenant = required_tenant(session)  # exports are written in a brand's session
    export = await repository.export_by_id(session, export_id)
    if export is None or export.status in (ExportStatus.SUCCEEDED, ExportStatus.EXPIRED):
        return
    await repository.delete_chunks(session, export_id)
    filters = _filter_kwargs(export.filter)
    export.status, export.started_at, export.error = ExportStatus.RUNNING, utcnow(), None
    export.row_count = export.byte_count = export.chunk_count = 0
    # How many the filter keeps now: the total its progress is told against (profiles created
    # or deleted meanwhile may make the final count differ a little).
    export.total_rows = await service.count_profiles(session, tenant, **filters)
    await session.flush()
    await checkpoint()

    encoder = _Encoder(export.format, export.fields)
    buffer = bytearray(encoder.header())
    rows = size = chunks = 0
    after: UUID | None = None

    async def store(data: bytes) -> None:
        nonlocal chunks, size
        await repository.insert_chunk(session, tenant, export_id, chunks, data)
        chunks, size = chunks + 1, size + len(data)

    while True:
        page = PageRequest(limit=BATCH, after=after)
        profiles, cursor = await service.list_profiles(session, tenant, page, **filters)
        if profiles:
            views = await service.views(session, profiles)
            buffer += encoder.rows(views)
            rows += len(profiles)
            after = profiles[-1].id
            for view in views:  # a batch at a time in memory, never the whole brand
                session.expunge(view.profile)
                for identity in view.identities:
                    session.expunge(identity)
        while len(buffer) >= CHUNK_BYTES:
            await store(bytes(buffer[:CHUNK_BYTES]))
            del buffer[:CHUNK_BYTES]
            # Progress, committed with the chunk (rows encoded so far, bytes stored so far).
            export.row_count, export.byte_count, export.chunk_count = rows, size, chunks
            await session.flush()
            await checkpoint()
        if cursor is None:
            break
    if buffer:
        await store(bytes(buffer))
    export = await _fresh(session, export_id)
    if export.status is ExportStatus.EXPIRED:  # a person was erased meanwhile
        await _purge(session, export, export.expired_reason or PERSON_ERASED)
        return
    now = utcnow()
    export.status, export.finished_at, export.expires_at = ExportStatus.SUCCEEDED, now, now + ttl
    export.row_count, export.byte_count, export.chunk_count = rows, size, chunks
    await session.flush()
    await due_work.schedule(
        session,
        EXPIRE_TASK,
        export.expires_at,
        tenant=tenant,
        dedupe_key=f"{EXPIRE_TASK}:{export_id}",
        export_id=str(export_id),
    )


async def _fresh(session: AsyncSession, export_id: UUID) -> ProfileExport:
    """The export as stored now (another transaction may have expired it)."""
    export = await repository.export_by_id(session, export_id, fresh=True)
    if export is None:
        raise NotFound("export not found")
    return export


async def _purge(session: AsyncSession, export: ProfileExport, reason: str) -> None:
    await repository.delete_chunks(session, export.id)
    export.status, export.expired_reason = ExportStatus.EXPIRED, reason
    export.chunk_count = 0
    if export.expires_at is None or export.expires_at > utcnow():
        export.expires_at = utcnow()
    await session.flush()


async def expire_export(session: AsyncSession, export_id: UUID) -> bool:
    """Purge the export's file once its time to live passed; safe to run twice (False when it
    had nothing to do)."""
    export = await repository.export_by_id(session, export_id)
    if export is None or export.status is not ExportStatus.SUCCEEDED:
        return False
    if not is_expired(export):
        return False
    await _purge(session, export, TTL_PASSED)
    return True


async def expire_for_erasure(session: AsyncSession) -> int:
    """Expire every export written or being written (the erased person may be in it): their
    files go now; a running one keeps none when it ends. Answers how many."""
    found = await repository.exports_with_status(
        session, [ExportStatus.SUCCEEDED, ExportStatus.RUNNING]
    )
    for export in found:
        await _purge(session, export, PERSON_ERASED)
    return len(found)


async def mark_failed(session: AsyncSession, export_id: UUID, reason: str) -> None:
    """Record that the job gave up: the chunks written so far go, the reason stays."""
    await repository.delete_chunks(session, export_id)
    export = await repository.export_by_id(session, export_id)
    if export is not None:
        export.status, export.finished_at, export.error = ExportStatus.FAILED, utcnow(), reason
        await session.flush()


# Reading the file ------------------------------------------------------------------------------


async def ready_export(session: AsyncSession, export_id: UUID) -> ProfileExport:
    """The export, when its file is complete (409 while queued or running, or if it failed;
    410 once expired)."""
    export = await get_export(session, export_id)
    if is_expired(export):
        raise Gone(f"the export expired ({export.expired_reason or TTL_PASSED}): request another")
    if export.status is not ExportStatus.SUCCEEDED:
        raise Conflict(f"the export is {export.status.value}, not ready to download")
    return export


async def stream_file(
    factory: async_sessionmaker[AsyncSession], tenant: TenantId, export: ProfileExport
) -> AsyncIterator[bytes]:
    """The export's file, one chunk (one short read) at a time."""
    for seq in range(export.chunk_count):
        async with open_session(factory, tenant) as session:
            data = await repository.chunk_data(session, export.id, seq)
        if data is None:  # deleted meanwhile (a rerun): end rather than send a mixed file
            return
        yield data


def file_name(export: ProfileExport) -> str:
    return f"profiles-{export.id}.{export.format.value}"
