"""Email over SMTP (any relay or ESP): aiosmtplib, STARTTLS, implicit TLS or plain (a local
relay), AUTH when credentials are given, a small pool of connections reused across sends (a
dropped one is replaced), and a DKIM signature per sender domain.

Replies classify the failure: 4xx and network errors are retried later, 5xx fail the message
with the server's reply. SMTP has no delivery callbacks: bounces come back later as DSN mail to
the envelope sender, which this adapter does not read (see docs/MESSAGING.md, "Providers")."""

from __future__ import annotations

import asyncio
import socket
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate
from enum import StrEnum
from typing import Annotated

import aiosmtplib
import msgspec

from backend.config import Settings
from backend.messaging.providers import dkim
from backend.messaging.providers.base import (
    DkimKey,
    Outgoing,
    OutgoingEmail,
    ProviderError,
    ProviderKind,
    SenderIdentity,
    SendResult,
)
from backend.webhooks.sending import TargetRefused, resolve


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # port 587: plain, then upgraded (required)
    TLS = "tls"  # port 465: TLS from the first byte
    NONE = "none"  # a local relay only: nothing is encrypted


class SmtpSettings(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    host: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 587
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    # A private relay's own CA (PEM), trusted in addition to the system's.
    ca_pem: str | None = None
    pool_size: Annotated[int, msgspec.Meta(ge=1, le=20)] = 4
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=120)] = 30.0
    local_hostname: str | None = None  # the name given in EHLO


class SmtpCredentials(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    username: str | None = None
    password: str | None = None


def build_message(message: OutgoingEmail, key: DkimKey | None) -> tuple[bytes, str]:
    """The RFC 5322 bytes (multipart/alternative text + html, DKIM-signed when the sender's
    domain has a key) and the Message-ID, which carries the ledger's message id."""
    domain = message.from_address.rpartition("@")[2].lower() or "levier.invalid"
    message_id = f"{message.message_id}@{domain}"
    mail = EmailMessage(policy=SMTP_POLICY)
    mail["From"] = formataddr((message.from_name, message.from_address))
    mail["To"] = message.to_address
    if message.reply_to:
        mail["Reply-To"] = message.reply_to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = f"<{message_id}>"
    for name, value in message.headers.items():
        mail[name] = value
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    data = mail.as_bytes(policy=SMTP_POLICY)
    if key is not None and (domain == key.domain or domain.endswith("." + key.domain)):
        data = dkim.sign(data, key)
    return data, message_id


def classify(exc: Exception) -> ProviderError:
    """4xx replies and network failures: retry later; 5xx: the message failed for good."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 400:
        reason = f"{exc.code} {exc.message}".strip()
        permanent = exc.code >= 500
        # 550/551/553 with an enhanced 5.1.x status: the mailbox does not exist.
        gone = permanent and exc.code in (550, 551, 553) and "5.1." in exc.message
        return ProviderError(reason, retryable=not permanent, gone=gone)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return ProviderError(f"the server does not support it: {exc}", retryable=False)
    return ProviderError(f"{type(exc).__name__}: {exc}"[:500], retryable=True)


class SmtpProvider:
    kind = ProviderKind.SMTP

    def __init__(
        self,
        settings: Settings,
        config: SmtpSettings,
        credentials: SmtpCredentials,
        sender: SenderIdentity,
    ) -> None:
        self.settings = settings
        self.config = config
        self.credentials = credentials
        self.sender = sender
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(config.pool_size)
        self._tls: ssl.SSLContext | None = None
        self.connections_opened = 0

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            context = ssl.create_default_context()
            if self.config.ca_pem:
                context.load_verify_locations(cadata=self.config.ca_pem)
            self._tls = context
        return self._tls

    async def _connect(self) -> aiosmtplib.SMTP:
        """A new authenticated connection to the checked address of the host (SSRF guard: the
        name is resolved once and every address checked, as for webhooks)."""
        config = self.config
        try:
            address = await resolve(
                config.host, config.port, allow_private=self.settings.webhook_allow_private_targets
            )
        except TargetRefused as exc:
            raise ProviderError(f"refused: {exc}", retryable=False) from None
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_connect(sock, (str(address), config.port)),
                config.timeout_seconds,
            )
        except (OSError, TimeoutError) as exc:
            sock.close()
            raise ProviderError(f"cannot connect to {config.host}: {exc}", retryable=True) from None
        secure = config.security is not SmtpSecurity.NONE
        client = aiosmtplib.SMTP(
            hostname=config.host,  # the name TLS verifies
            sock=sock,
            use_tls=config.security is SmtpSecurity.TLS,
            start_tls=config.security is SmtpSecurity.STARTTLS,
            tls_context=self._tls_context() if secure else None,
            timeout=config.timeout_seconds,
            local_hostname=config.local_hostname,
        )
        try:
            await client.connect()
            if self.credentials.username:
                await client.login(self.credentials.username, self.credentials.password or "")
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise classify(exc) from None
        self.connections_opened += 1
        return client

    async def _release(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            self._idle.append(client)

    async def send(self, message: Outgoing) -> SendResult:
        if not isinstance(message, OutgoingEmail):
            raise ProviderError("an SMTP account sends email only", retryable=False)
        data, message_id = build_message(message, self.sender.dkim)
        async with self._slots:
            # A pooled connection the server dropped meanwhile is replaced once, at once.
            while True:
                reused = bool(self._idle)
                client = self._idle.pop() if reused else await self._connect()
                try:
                    await client.sendmail(message.from_address, [message.to_address], data)
                except aiosmtplib.SMTPServerDisconnected:
                    client.close()
                    if reused:
                        continue
                    raise ProviderError(
                        "the server closed the connection", retryable=True
                    ) from None
                except (aiosmtplib.SMTPException, OSError) as exc:
                    await self._reset(client)
                    raise classify(exc) from None
                await self._release(client)
                return SendResult(provider_message_id=message_id)

    async def _reset(self, client: aiosmtplib.SMTP) -> None:
        """Keep a connection after a refused message only if it still answers RSET."""
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            client.close()
            return
        await self._release(client)

    async def check(self) -> None:
        """Connect, negotiate TLS, authenticate and NOOP; the connection joins the pool."""
        async with self._slots:
            client = await self._connect()
            try:
                await client.noop()
            except (aiosmtplib.SMTPException, OSError) as exc:
                client.close()
                raise classify(exc) from None
            await self._release(client)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
