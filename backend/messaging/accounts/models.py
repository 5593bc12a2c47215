"""Sender identities and provider accounts of a brand.

Credentials and DKIM private keys are sealed (Fernet, keys derived from the deployment's secret
key and its previous ones: :mod:`backend.messaging.accounts.sealing`); they are never answered
back, only the names of the credential fields that are set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKeyConstraint, Index, PrimaryKeyConstraint, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum
from backend.messaging.providers import dkim
from backend.messaging.providers.base import ProviderKind
from backend.profiles.models import Channel, TenantKeyMixin


@dataclass(frozen=True)
class DkimRecord:
    domain: str
    selector: str
    dns_name: str
    dns_type: str
    dns_value: str


class SenderIdentityRecord(TenantKeyMixin, TimestampMixin, Base):
    """Who the brand's messages come from; for email, optionally a DKIM key of its domain."""

    __tablename__ = "sender_identities"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        # One default identity per brand; the unique key decides between racing writers.
        Index(
            "uq_sender_identities_default",
            "tenant_id",
            unique=True,
            postgresql_where=text("is_default"),
            sqlite_where=text("is_default"),
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    from_name: Mapped[str] = mapped_column(String(200))
    from_address: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    sms_sender_id: Mapped[str | None] = mapped_column(String(20))
    push_app_id: Mapped[str | None] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(default=False)
    dkim_domain: Mapped[str | None] = mapped_column(String(253))
    dkim_selector: Mapped[str | None] = mapped_column(String(63))
    dkim_private_key_ciphertext: Mapped[str | None] = mapped_column(Text)
    # The public half, as published in DNS (base64 DER): shown back as the TXT record.
    dkim_public_key: Mapped[str | None] = mapped_column(Text)

    @property
    def dkim(self) -> DkimRecord | None:
        """The DKIM key's DNS record to publish (never the private key)."""
        if not (self.dkim_domain and self.dkim_selector and self.dkim_public_key):
            return None
        return DkimRecord(
            domain=self.dkim_domain,
            selector=self.dkim_selector,
            dns_name=dkim.dns_name(self.dkim_domain, self.dkim_selector),
            dns_type="TXT",
            dns_value=dkim.dns_value(self.dkim_public_key),
        )


class ProviderAccount(TenantKeyMixin, TimestampMixin, Base):
    """One account at a provider: its kind, the channel it serves, non-secret settings and
    sealed credentials. The default account of a channel is the one messages go through."""

    __tablename__ = "provider_accounts"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "identity_id"],
            ["sender_identities.tenant_id", "sender_identities.id"],
            ondelete="RESTRICT",
        ),
        Index(
            "uq_provider_accounts_default",
            "tenant_id",
            "channel",
            unique=True,
            postgresql_where=text("is_default"),
            sqlite_where=text("is_default"),
        ),
    )

    kind: Mapped[ProviderKind] = mapped_column(string_enum(ProviderKind, "provider_kind"))
    channel: Mapped[Channel] = mapped_column(string_enum(Channel, "provider_channel"))
    name: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    credentials_ciphertext: Mapped[str] = mapped_column(Text)
    # Names of the credential fields that are set (shown; their values never are).
    credential_fields: Mapped[list[str]] = mapped_column(JSONType, default=list)
    identity_id: Mapped[UUID | None]
