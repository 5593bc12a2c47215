"""What an import keeps of the people in its file, and for how long.

The uploaded file (``import_chunks``) and the rejected rows (``import_rejections``) hold the
people the file names. Both are deleted — the import and its counts stay, ``purged_at`` says
when — in two cases:

* ``import_retention_days`` after the import ended (``imports.purge_expired``, hourly, fanned
  out per brand);
* when a person is erased (GDPR), for every import of the brand whose stored file names one of
  their identifiers: the email and external ids as written (ASCII case ignored), the phone
  number by its national digits whatever the spacing. A stored file is read whole to decide;
  files live ``import_retention_days`` at most, so that is what an erasure reads. An import
  still queued or running when its file goes fails (its error says why): the rest of its file
  is gone. Matching errs towards purging: a file that merely contains the digits is purged.

Rejected rows come from the file, so a file that does not name the person has no rejected row
that does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from uuid import UUID

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.core.signals import Signals
from backend.core.tenancy import TenantId
from backend.imports import repository, service, storage, text
from backend.profiles import service as profiles_service

PERSON_ERASED = "the import stopped: its file was purged because a person it names was erased"
# Characters written between a phone number's digits, dropped before looking for them.
_PHONE_SEPARATORS = b" .-()/\t"
_MIN_PHONE_DIGITS = 6  # shorter national numbers would match any file with figures


async def purge(session: AsyncSession, import_ids: Sequence[UUID], *, reason: str) -> None:
    """Delete the files and rejected rows of these imports; one still queued or running fails
    with ``reason``."""
    if not import_ids:
        return
    for job in await repository.unfinished(session, import_ids):
        await service.stop(session, job, reason)
    await repository.purge_files(session, import_ids, utcnow())


async def purge_expired(session: AsyncSession, retention: dt.timedelta) -> int:
    """Purge the files of the brand's imports that ended more than ``retention`` ago; how many."""
    ids = await repository.ended_with_files(session, utcnow() - retention)
    if ids:
        await repository.purge_files(session, ids, utcnow())
    return len(ids)


def _needles(keys: Sequence[tuple[str, str]]) -> tuple[list[str], list[bytes]]:
    """What to look for: texts (lower-cased), and phone numbers' national digits."""
    texts: list[str] = []
    digits: list[bytes] = []
    for kind, value in keys:
        if kind == profiles_service.PHONE:
            try:
                number = phonenumbers.parse(value, None)
            except phonenumbers.NumberParseException:
                continue
            national = str(number.national_number)
            if len(national) >= _MIN_PHONE_DIGITS:
                digits.append(national.encode())
        elif value:
            texts.append(value.lower())
    return texts, digits


async def _names_any(
    session: AsyncSession, import_id: UUID, encoding: str, texts: list[str], digits: list[bytes]
) -> bool:
    """Whether the stored file holds any needle, one chunk in memory at a time (a needle cut by
    a chunk's end is found through the tail kept from the chunk before)."""
    wanted = [t.encode(encoding, errors="ignore") for t in texts]
    wanted = [w for w in wanted if w]
    keep = max((len(n) for n in [*wanted, *digits]), default=0)
    if not keep:
        return False
    tail = squeezed_tail = b""
    async for chunk in storage.chunks(session, import_id):
        lowered = tail + chunk.lower()
        squeezed = squeezed_tail + chunk.translate(None, _PHONE_SEPARATORS)
        if any(w in lowered for w in wanted) or any(d in squeezed for d in digits):
            return True
        tail, squeezed_tail = lowered[-keep:], squeezed[-keep:]
    return False


async def purge_naming(
    session: AsyncSession, _tenant: TenantId, keys: Sequence[tuple[str, str]]
) -> None:
    """Purge the stored files (and rejected rows) of the brand's imports naming the erased
    person (see the module docstring)."""
    texts, digits = _needles(keys)
    if not texts and not digits:
        return
    named = [
        import_id
        for import_id, encoding in await repository.with_files(session)
        if await _names_any(session, import_id, encoding or text.UTF8, texts, digits)
    ]
    await purge(session, named, reason=PERSON_ERASED)


def connect(signals: Signals) -> None:
    """Connect the retention's receiver: an erasure purges the stored files naming the person."""
    signals.connect(profiles_service.PROFILE_ERASED, purge_naming)
