"""The uploaded file, kept in the database as ~1 MiB chunks, and read back as lines.

Chunks go through Core inserts (``tenant_id`` stamped here) so a 2 GiB upload never sits in the
session's identity map, nor in memory: at most one chunk is held at a time.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.tenancy import TenantId
from backend.imports.models import ImportChunk

CHUNK_BYTES = 1 << 20


class TooLarge(Exception):
    """The stream went past the byte limit."""


async def store_stream(
    session: AsyncSession,
    tenant: TenantId,
    import_id: UUID,
    stream: AsyncIterator[bytes],
    limit: int,
) -> tuple[int, int, bytes]:
    """Write the stream as chunks of the import; (bytes, chunks, first chunk)."""
    buffer = bytearray()
    size = seq = 0
    first = b""

    async def flush(data: bytes) -> None:
        nonlocal seq, first
        if seq == 0:
            first = data
        await session.execute(
            insert(ImportChunk).values(tenant_id=tenant, import_id=import_id, seq=seq, data=data)
        )
        seq += 1

    async for part in stream:
        size += len(part)
        if size > limit:
            raise TooLarge
        buffer += part
        while len(buffer) >= CHUNK_BYTES:
            await flush(bytes(buffer[:CHUNK_BYTES]))
            del buffer[:CHUNK_BYTES]
    if buffer:
        await flush(bytes(buffer))
    return size, seq, first


async def first_chunk(session: AsyncSession, import_id: UUID) -> bytes:
    """The file's first chunk (where its CSV header is)."""
    data = await session.scalar(
        select(ImportChunk.data).where(ImportChunk.import_id == import_id, ImportChunk.seq == 0)
    )
    return data or b""


async def read_lines(session: AsyncSession, import_id: UUID) -> AsyncIterator[list[str]]:
    """The file's lines (line ends kept), a block per chunk; one chunk in memory at a time."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    pending = ""
    seq = 0
    while True:
        data = await session.scalar(
            select(ImportChunk.data).where(
                ImportChunk.import_id == import_id, ImportChunk.seq == seq
            )
        )
        final = data is None
        text = pending + decoder.decode(data or b"", final=final)
        # Split on "\n" only (as the csv module reads lines); the unfinished tail waits.
        parts = text.split("\n")
        pending = parts.pop()
        lines = [part + "\n" for part in parts]
        if final and pending:
            lines.append(pending)
        if lines:
            yield lines
        if final:
            return
        seq += 1
