"""Bulk imports of profiles and orders. Services never commit: the request's unit of work
commits an upload; the task commits after each batch this module yields.

An upload is streamed into ``import_chunks`` in the request's transaction together with the job
row and the outbox row of its task: a refused or broken upload leaves nothing behind. The task
reads the file back in batches; each batch's rows, rejections and checkpoint are written in one
transaction, so a job killed midway restarts after its last committed batch and replays nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.core.errors import InvalidInput, LevierError, NotFound
from backend.core.jobs import enqueue
from backend.core.tenancy import TenantId
from backend.imports import reader, repository, storage
from backend.imports.mapping import Targets, parse_mapping
from backend.imports.models import ImportFormat, ImportJob, ImportKind, ImportMode, ImportStatus
from backend.imports.orders_loader import OrderLoader
from backend.imports.profiles_loader import Outcome, ProfileLoader
from backend.imports.reader import Record
from backend.profiles import attributes as attribute_rules
from backend.profiles.fields import region_of_locale
from backend.tenancy import service as tenancy_service

RUN_TASK = "imports.run"

# (session, job): other domains learn that an import ended (succeeded or failed for good).
FinishHook = Callable[[AsyncSession, ImportJob], Awaitable[None]]
_FINISH_HOOKS: list[FinishHook] = []


def on_finish(hook: FinishHook) -> FinishHook:
    """Register a domain's reaction to an import that ended, run in the transaction ending it."""
    _FINISH_HOOKS.append(hook)
    return hook


async def _finished(session: AsyncSession, job: ImportJob) -> None:
    for hook in _FINISH_HOOKS:
        await hook(session, job)


MEDIA_TYPES = {
    "text/csv": ImportFormat.CSV,
    "application/x-ndjson": ImportFormat.NDJSON,
}


class UnsupportedMediaType(LevierError):
    status, slug, title = (
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
    )


class PayloadTooLarge(LevierError):
    status, slug, title = HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload-too-large", "Too large"


def format_of(content_type: str | None) -> ImportFormat:
    """The import format a ``Content-Type`` names (415 for any other)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    fmt = MEDIA_TYPES.get(media_type)
    if fmt is None:
        raise UnsupportedMediaType(
            f"send the file as {' or '.join(MEDIA_TYPES)}, not {media_type or 'nothing'}"
        )
    return fmt


async def create_import(
    session: AsyncSession,
    tenant: TenantId,
    *,
    kind: ImportKind,
    content_type: str | None,
    mode: ImportMode,
    mapping: str | None,
    body: AsyncIterator[bytes],
    content_length: int | None,
    max_bytes: int,
    actor: str | None,
) -> ImportJob:
    """Store an uploaded file and queue its import (202). Malformed mapping, unknown targets,
    an empty body, a wrong content type (415) or a body above ``max_bytes`` (413) refuse it
    whole."""
    fmt = format_of(content_type)
    if content_length is not None and content_length > max_bytes:
        raise PayloadTooLarge(f"an import holds at most {max_bytes} bytes")
    columns = parse_mapping(mapping)
    definitions = await attribute_rules.definitions(session)
    targets = Targets(kind, columns, definitions)
    targets.check([])
    job = ImportJob(
        kind=kind,
        format=fmt,
        mode=mode,
        status=ImportStatus.QUEUED,
        mapping=columns,
        created_by=actor,
    )
    session.add(job)
    await session.flush()
    try:
        size, chunks, first = await storage.store_stream(session, tenant, job.id, body, max_bytes)
    except storage.TooLarge:
        raise PayloadTooLarge(f"an import holds at most {max_bytes} bytes") from None
    if not first.strip():
        raise InvalidInput("the file is empty", errors=[{"field": "body", "message": "empty"}])
    if fmt is ImportFormat.CSV:
        header = reader.csv_header(first)
        if not header:
            raise InvalidInput(
                "the CSV file has no readable header line",
                errors=[{"field": "body", "message": "no header line"}],
            )
        targets.check(header)
    job.size_bytes = size
    job.chunk_count = chunks
    await session.flush()
    await enqueue(session, RUN_TASK, import_id=str(job.id))
    return job


async def get_import(session: AsyncSession, import_id: UUID) -> ImportJob:
    job = await repository.get_job(session, import_id)
    if job is None:
        raise NotFound("import not found")
    return job


async def list_rejections(
    session: AsyncSession, import_id: UUID, after_line: int, limit: int
) -> tuple[list[Any], int | None]:
    """Rejected rows in line order, and the line to continue after (None on the last page)."""
    await get_import(session, import_id)
    items = await repository.list_rejections(session, import_id, after_line, limit + 1)
    if len(items) > limit:
        return items[:limit], items[limit - 1].line
    return items, None


async def iter_rejections(
    session: AsyncSession, import_id: UUID, page: int = 1000
) -> AsyncIterator[Any]:
    after = 0
    while True:
        items = await repository.list_rejections(session, import_id, after, page)
        for item in items:
            yield item
        if len(items) < page:
            return
        after = items[-1].line


# Running ---------------------------------------------------------------------------------------


async def start(session: AsyncSession, import_id: UUID) -> bool:
    """Mark the job running (another attempt); False when it has nothing left to do."""
    job = await repository.get_job(session, import_id)
    if job is None or job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
        return False
    job.status = ImportStatus.RUNNING
    job.attempts += 1
    if job.started_at is None:
        job.started_at = utcnow()
    await session.flush()
    return True


async def run_batches(
    session: AsyncSession,
    tenant: TenantId,
    import_id: UUID,
    *,
    batch_size: int,
) -> AsyncIterator[int]:
    """Import the file from its checkpoint; yields after each written batch (its row count),
    for the caller to commit, and once more after marking the job succeeded."""
    if not await repository.hold(session, import_id, None):
        raise NotFound("import not found")
    job = await get_import(session, import_id)
    fmt, kind, mode, lines_done = job.format, job.kind, job.mode, job.lines_done
    definitions = await attribute_rules.definitions(session)
    targets = Targets(kind, job.mapping or {}, definitions)
    region = region_of_locale((await tenancy_service.get_brand(session, tenant)).locale)
    validate: Callable[[Record], Any]
    loader: ProfileLoader | OrderLoader
    if kind is ImportKind.PROFILES:
        loader = ProfileLoader(tenant, mode, targets, definitions, region)
    else:
        loader = OrderLoader(tenant, mode, targets, region)
    validate = loader.validate
    async for batch in reader.batches(
        session, import_id, fmt, skip_lines=lines_done, batch_size=batch_size
    ):
        outcome = Outcome()
        valid: list[Any] = []
        for record in batch.records:
            checked = validate(record)
            if isinstance(checked, str):
                outcome.reject(record.line, checked, record.raw)
            else:
                valid.append(checked)
        await loader.write(session, valid, outcome)
        await repository.add_rejections(session, tenant, import_id, outcome.rejections)
        await repository.record_progress(
            session,
            import_id,
            lines_done=batch.lines_done,
            rows=len(batch.records),
            created=outcome.created,
            updated=outcome.updated,
            rejected=len(outcome.rejections),
        )
        yield len(batch.records)
        if not await repository.hold(session, import_id, batch.lines_done):
            return
    job = await get_import(session, import_id)
    job.status = ImportStatus.SUCCEEDED
    job.finished_at = utcnow()
    await session.flush()
    await _finished(session, job)
    yield 0


async def record_failure(
    session: AsyncSession, import_id: UUID, error: str, *, final: bool
) -> None:
    """Note why an attempt failed; the last attempt marks the job failed (and finished)."""
    job = await get_import(session, import_id)
    job.error = error[:2000]
    if final:
        job.status = ImportStatus.FAILED
        job.finished_at = utcnow()
    await session.flush()
    if final:
        await _finished(session, job)
