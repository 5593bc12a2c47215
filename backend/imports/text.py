"""How an uploaded file's bytes become text: its compression (gzip), its encoding and, for a CSV,
its delimiter — given with the upload or detected from its first chunk, and kept on the import.

Detection is deterministic: UTF-8 (with or without a byte order mark) when the first chunk reads
as strict UTF-8 or mostly so (see :func:`detect_encoding`), cp1252 otherwise (it covers latin-1
but for five bytes it leaves undefined; latin-1 only when asked). The delimiter is the csv
module's ``Sniffer`` restricted to ``,`` ``;`` and tab. A line that does not decode is never
patched with a replacement character: it reaches the reader as :class:`Undecodable`, which
rejects its row naming the line.
"""

from __future__ import annotations

import codecs
import csv
import zlib
from collections.abc import AsyncIterator
from enum import StrEnum

UTF8, CP1252, LATIN1 = "utf-8", "cp1252", "latin-1"
# What the upload's ``delimiter`` option names, and the character it stands for.
DELIMITERS = {",": ",", ";": ";", "tab": "\t"}
AUTO = "auto"
GZIP = "gzip"


class EncodingOption(StrEnum):
    AUTO = AUTO
    UTF8 = UTF8
    CP1252 = CP1252
    LATIN1 = LATIN1


class DelimiterOption(StrEnum):
    AUTO = AUTO
    COMMA = ","
    SEMICOLON = ";"
    TAB = "tab"


_GZIP_MAGIC = b"\x1f\x8b"
# A gzip upload may grow this many times past its first 16 MiB: text compresses ~10x, a "zip
# bomb" thousands of times. Decompressed bytes also count against the import's byte limit.
MAX_RATIO = 200
_RATIO_FREE = 16 << 20
_STEP = 1 << 20  # decompressed bytes handed over at a time: memory stays bounded
_SNIFF = 64 << 10  # characters of the first chunk shown to the Sniffer


class Undecodable(str):
    """A line holding bytes its encoding does not define: shown with those bytes escaped
    (``\\xe9``), and the reason its row is rejected."""

    reason: str

    def __new__(cls, text: str, reason: str) -> Undecodable:
        line = super().__new__(cls, text)
        line.reason = reason
        return line


class Inflated(Exception):
    """A gzip stream decompressing past its limit (size or ratio)."""


class Corrupt(Exception):
    """A stream announced or recognised as gzip that is not a whole gzip file."""


def delimiter_name(delimiter: str) -> str:
    """How the API shows a delimiter (the option naming it)."""
    return "tab" if delimiter == "\t" else delimiter


def detect_encoding(first: bytes, *, whole: bool = False) -> str:
    """UTF-8 when the first chunk is strict UTF-8 (unless ``whole``, a sequence cut at its end is
    fine), or when
    its valid multi-byte characters outnumber its invalid bytes (a UTF-8 file with a few bad
    lines: those are rejected rather than the whole file read wrong); else cp1252."""
    try:
        codecs.getincrementaldecoder(UTF8)("strict").decode(first, final=whole)
    except UnicodeDecodeError:
        text = codecs.getincrementaldecoder(UTF8)("replace").decode(first, final=whole)
        invalid = text.count("\ufffd")
        valid = sum(1 for char in text if char > "\x7f") - invalid
        return UTF8 if valid > invalid else CP1252
    return UTF8


def head_text(first: bytes, encoding: str, *, whole: bool) -> tuple[str, bool]:
    """The first chunk's text up to its first byte the encoding does not define (the header line
    is in there), the byte order mark dropped; and whether that text is the whole file
    (``whole``: the chunk is)."""
    if encoding == UTF8 and first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8) :]
    try:
        return first.decode(encoding) if whole else _prefix(first, encoding), whole
    except UnicodeDecodeError as exc:
        return first[: exc.start].decode(encoding), False


def _prefix(data: bytes, encoding: str) -> str:
    """``data`` decoded, but for a character its end cuts."""
    return codecs.getincrementaldecoder(encoding)("strict").decode(data, final=False)


def detect_delimiter(text: str) -> str:
    """The Sniffer's pick among ``,`` ``;`` and tab on the file's first lines; when it has none,
    or picks one its header line lacks, the allowed delimiter the header line holds most of
    (``,`` for a one-column file)."""
    sample = text[:_SNIFF]
    if len(text) > _SNIFF and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    header = sample.split("\n", 1)[0]
    counts = {d: header.count(d) for d in DELIMITERS.values()}
    try:
        found = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS.values())).delimiter
    except csv.Error:
        found = ""
    if counts.get(found):
        return found
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def decode_lines(data: bytes, encoding: str) -> list[str]:
    """``data`` (whole lines, the last maybe unended) as lines with their ends; a line that does
    not decode comes as :class:`Undecodable`. The whole block is tried first: the usual case
    costs one decode."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        parts = data.split(b"\n")
        last = parts.pop()
        lines = [_line(part + b"\n", encoding) for part in parts]
        if last:
            lines.append(_line(last, encoding))
        return lines
    parts_text = text.split("\n")
    tail = parts_text.pop()
    lines = [part + "\n" for part in parts_text]
    if tail:
        lines.append(tail)
    return lines


def _line(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        reason = (
            f"the line is not valid {encoding} text: byte 0x{data[exc.start]:02x} at byte "
            f"{exc.start + 1} of the line (choose the file's encoding with `encoding`)"
        )
        return Undecodable(data.decode(encoding, errors="backslashreplace"), reason)


class Gunzip:
    """The stream decompressed when it is gzip (``announced`` by ``Content-Encoding``, or
    starting with gzip's magic bytes), else unchanged; ``gzip`` tells which, once iterated.
    Raises :class:`Inflated` past ``limit`` decompressed bytes or ``MAX_RATIO``,
    :class:`Corrupt` for a broken gzip file."""

    def __init__(self, stream: AsyncIterator[bytes], *, announced: bool, limit: int) -> None:
        self.stream, self.announced, self.limit = stream, announced, limit
        self.gzip = announced

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._run()

    async def _run(self) -> AsyncIterator[bytes]:
        head = b""
        async for part in self.stream:
            head += part
            if len(head) >= len(_GZIP_MAGIC):
                break
        self.gzip = self.announced or head.startswith(_GZIP_MAGIC)
        async for piece in _gunzip(head, self.stream, gzip=self.gzip, limit=self.limit):
            yield piece


async def _gunzip(
    head: bytes, stream: AsyncIterator[bytes], *, gzip: bool, limit: int
) -> AsyncIterator[bytes]:
    if not gzip:
        if head:
            yield head
        async for part in stream:
            yield part
        return
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    sent = received = 0
    begun = False  # the current gzip member has been fed bytes
    members = 0  # gzip members read to their end

    def inflate(data: bytes) -> list[bytes]:
        nonlocal inflater, sent, begun, members
        out: list[bytes] = []
        while data:
            begun = True
            try:
                piece = inflater.decompress(data, _STEP)
            except zlib.error as exc:
                raise Corrupt(str(exc)) from None
            sent += len(piece)
            if sent > limit or (sent > _RATIO_FREE and sent > MAX_RATIO * received):
                raise Inflated
            if piece:
                out.append(piece)
            if inflater.eof:  # a member ended: another may follow (concatenated gzip files)
                data, members, begun = inflater.unused_data, members + 1, False
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                data = inflater.unconsumed_tail
        return out

    received = len(head)
    for piece in inflate(head):
        yield piece
    async for part in stream:
        received += len(part)
        for piece in inflate(part):
            yield piece
    if begun or not members:
        raise Corrupt("the gzip stream is cut short")
