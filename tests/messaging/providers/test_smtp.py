"""The SMTP adapter against a real aiosmtpd server: STARTTLS with a certificate made for the
test, AUTH, a DKIM signature that verifies, connections reused and replaced, and replies
classified (4xx retryable, 5xx permanent with the server's reply)."""

from __future__ import annotations

import email
import email.policy
import uuid
from collections.abc import Iterator
from pathlib import Path

import dkim as dkimpy
import pytest

from backend.messaging.providers import dkim
from backend.messaging.providers.base import (
    DkimKey,
    OutgoingEmail,
    ProviderError,
    SenderIdentity,
)
from backend.messaging.providers.smtp import (
    SmtpCredentials,
    SmtpProvider,
    SmtpSecurity,
    SmtpSettings,
)
from tests.conftest import test_settings as deployment_settings
from tests.messaging.servers.smtp import SmtpSink, smtp_sink
from tests.messaging.servers.tls import SelfSigned, self_signed

LOGIN = ("relay-user", "relay-password")
SETTINGS = deployment_settings(webhook_allow_private_targets=True)
PRIVATE_KEY = dkim.generate_private_key()
KEY = DkimKey(domain="brand.example", selector="lv1", private_key_pem=PRIVATE_KEY)
SENDER = SenderIdentity(id=None, from_name="Brand", from_address="news@brand.example", dkim=KEY)
UNSUBSCRIBE = {
    "List-Unsubscribe": "<https://levier.example/u/tok>, <mailto:u@levier.example>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> SelfSigned:
    return self_signed(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def sink(certificate: SelfSigned) -> Iterator[SmtpSink]:
    with smtp_sink(security="starttls", tls=certificate.server_context(), login=LOGIN) as s:
        yield s


def provider(
    sink: SmtpSink,
    certificate: SelfSigned,
    *,
    security: SmtpSecurity = SmtpSecurity.STARTTLS,
    login: tuple[str, str] | None = LOGIN,
) -> SmtpProvider:
    config = SmtpSettings(
        host="127.0.0.1", port=sink.port, security=security, ca_pem=certificate.cert_pem
    )
    credentials = SmtpCredentials(
        username=login[0] if login else None, password=login[1] if login else None
    )
    return SmtpProvider(SETTINGS, config, credentials, SENDER)


def outgoing(to: str = "ada@example.org") -> OutgoingEmail:
    return OutgoingEmail(
        message_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        from_name="Brand",
        from_address="news@brand.example",
        reply_to="care@brand.example",
        to_address=to,
        subject="Welcome, Ada — your coupon",
        html="<p>Hello <b>Ada</b></p>",
        text="Hello Ada",
        headers=UNSUBSCRIBE,
    )


def dns(name: bytes, timeout: int = 5) -> bytes:
    # The TXT record the brand publishes: no DNS traffic leaves the test.
    assert name.rstrip(b".") == dkim.dns_name(KEY.domain, KEY.selector).encode()
    return dkim.dns_value(dkim.public_key_of(PRIVATE_KEY)).encode()


async def test_starttls_auth_and_dkim_signature_verifies_over_one_reused_connection(
    sink: SmtpSink, certificate: SelfSigned
) -> None:
    smtp = provider(sink, certificate)
    messages = [outgoing(f"person{i}@example.org") for i in range(3)]
    try:
        results = [await smtp.send(m) for m in messages]
    finally:
        await smtp.aclose()
    assert sink.connections == 1  # one connection carried the three messages
    assert len(sink.messages) == 3
    received = sink.messages[0]
    assert received.rcpt_tos == ["person0@example.org"]
    assert dkimpy.verify(received.content, dnsfunc=dns)
    signature = received.content.split(b"\r\n\r\n")[0].decode()
    signed = signature.split("h=", 1)[1].split(";", 1)[0].replace("\r\n", "").replace(" ", "")
    for name in (
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ):
        assert name in signed.lower().split(":"), signed
    parsed = email.message_from_bytes(received.content, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in parsed.iter_parts()]  # type: ignore[attr-defined]
    assert parts == ["text/plain", "text/html"]
    assert parsed["Message-ID"] == f"<{messages[0].message_id}@brand.example>"
    assert results[0].provider_message_id == f"{messages[0].message_id}@brand.example"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_a_tampered_message_no_longer_verifies(
    sink: SmtpSink, certificate: SelfSigned
) -> None:
    smtp = provider(sink, certificate)
    await smtp.send(outgoing())
    await smtp.aclose()
    tampered = sink.messages[0].content.replace(b"Hello Ada", b"Hello Eve")
    assert not dkimpy.verify(tampered, dnsfunc=dns)


@pytest.mark.parametrize(
    ("reply", "retryable", "gone"),
    [
        ("550 5.1.1 <ada@example.org>: Recipient address rejected", False, True),
        ("554 5.7.1 Message rejected as spam", False, False),
        ("451 4.3.0 Temporary local problem, try again", True, False),
    ],
)
async def test_replies_are_classified_and_the_connection_kept(
    sink: SmtpSink, certificate: SelfSigned, reply: str, retryable: bool, gone: bool
) -> None:
    sink.replies.append(reply)
    smtp = provider(sink, certificate)
    try:
        with pytest.raises(ProviderError) as refused:
            await smtp.send(outgoing())
        assert refused.value.retryable is retryable
        assert refused.value.gone is gone
        assert refused.value.reason.startswith(reply[:3])
        assert reply[4:] in refused.value.reason  # the server's own words
        await smtp.send(outgoing())  # the same connection carries the next message
    finally:
        await smtp.aclose()
    assert sink.connections == 1
    assert len(sink.messages) == 1


async def test_a_dropped_connection_is_replaced(certificate: SelfSigned) -> None:
    tls = certificate.server_context()
    with smtp_sink(security="starttls", tls=tls, login=LOGIN) as first:
        smtp = provider(first, certificate)
        await smtp.send(outgoing())
    # The server went away and came back on the same port: the pooled connection is dead.
    try:
        with smtp_sink(security="starttls", tls=tls, login=LOGIN, port=first.port) as second:
            await smtp.send(outgoing())
            assert second.connections == 1
            assert len(second.messages) == 1
    finally:
        await smtp.aclose()


async def test_wrong_password_fails_the_check_for_good(
    sink: SmtpSink, certificate: SelfSigned
) -> None:
    smtp = provider(sink, certificate, login=("relay-user", "wrong"))
    with pytest.raises(ProviderError) as refused:
        await smtp.check()
    await smtp.aclose()
    assert refused.value.retryable is False
    assert refused.value.reason.startswith("535")


async def test_a_closed_port_is_retryable(certificate: SelfSigned) -> None:
    with smtp_sink() as stopped:
        port = stopped.port
    smtp = provider(SmtpSink(port=port), certificate)
    with pytest.raises(ProviderError) as refused:
        await smtp.send(outgoing())
    assert refused.value.retryable is True


@pytest.mark.parametrize("security", ["tls", "none"])
async def test_implicit_tls_and_plain_relays(certificate: SelfSigned, security: str) -> None:
    context = certificate.server_context() if security == "tls" else None
    with smtp_sink(security=security, tls=context) as plain:
        smtp = provider(plain, certificate, security=SmtpSecurity(security), login=None)
        try:
            await smtp.check()
            await smtp.send(outgoing())
        finally:
            await smtp.aclose()
        assert plain.connections == 1
        assert dkimpy.verify(plain.messages[0].content, dnsfunc=dns)


async def test_a_private_relay_is_refused_unless_allowed(
    sink: SmtpSink, certificate: SelfSigned
) -> None:
    config = SmtpSettings(host="127.0.0.1", port=sink.port, ca_pem=certificate.cert_pem)
    smtp = SmtpProvider(deployment_settings(), config, SmtpCredentials(), SENDER)
    with pytest.raises(ProviderError) as refused:
        await smtp.check()
    assert refused.value.retryable is False
    assert "non-public" in refused.value.reason
    assert sink.connections == 0
