"""People who sign in, their browser sessions, OAuth clients, and the tokens they all call the API
with. Every secret (token, refresh token, client secret, authorization code, session id) is stored
as its SHA-256 only."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, IdMixin, JSONType, TimestampMixin, utcnow


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(default=False)
    # (Sign-in failures are counted per account and address in backend.auth.backoff, not here.)
    password_changed_at: Mapped[dt.datetime | None]


class OAuthClient(IdMixin, TimestampMixin, Base):
    """An application of an agency: a SPA (public, code + PKCE) or a partner (confidential,
    client credentials). Its ``id`` is the OAuth ``client_id``."""

    __tablename__ = "oauth_clients"
    __table_args__ = (Index("ix_oauth_clients_agency_id", "agency_id"),)

    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    public: Mapped[bool] = mapped_column(default=False)
    # First-party clients (the agency's own SPA) skip the consent screen.
    first_party: Mapped[bool] = mapped_column(default=False)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    secret_prefix: Mapped[str | None] = mapped_column(String(16))
    redirect_uris: Mapped[list[str]] = mapped_column(JSONType, default=list)
    scopes: Mapped[str] = mapped_column(Text, default="")  # the most its tokens may carry
    disabled_at: Mapped[dt.datetime | None]


class OAuthClientBrand(Base):
    """A brand a client may work on (its tokens reach these brands, and no other)."""

    __tablename__ = "oauth_client_brands"
    __table_args__ = (Index("ix_oauth_client_brands_brand_id", "brand_id"),)

    client_id: Mapped[UUID] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), primary_key=True
    )
    brand_id: Mapped[UUID] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AccessToken(IdMixin, Base):
    """A bearer token (and its refresh token, if any) for a user, a client, or a user through a
    client. Rotation chains tokens in a ``family``: a refresh token presented twice revokes it."""

    __tablename__ = "access_tokens"
    __table_args__ = (
        Index("ix_access_tokens_user_id", "user_id"),
        Index("ix_access_tokens_client_id", "client_id"),
        Index("ix_access_tokens_family_id", "family_id"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE")
    )
    scopes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    refresh_expires_at: Mapped[dt.datetime | None]
    # Set when the refresh token was exchanged for the next one in the family.
    rotated_at: Mapped[dt.datetime | None]
    family_id: Mapped[UUID | None]


class AuthorizationCode(IdMixin, Base):
    """A single-use, short-lived authorization code bound to its client, redirect URI and PKCE
    challenge. Kept after use (``used_at``) so that a replay revokes what it issued."""

    __tablename__ = "oauth_authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[UUID] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text, default="")
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    family_id: Mapped[UUID] = mapped_column()  # the token family the code was exchanged for


class OAuthConsent(IdMixin, TimestampMixin, Base):
    """Scopes a user granted a third-party client: asked once, asked again for more."""

    __tablename__ = "oauth_consents"
    __table_args__ = (UniqueConstraint("user_id", "client_id"),)

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[UUID] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    scopes: Mapped[str] = mapped_column(Text, default="")


class WebSession(IdMixin, Base):
    """A signed-in browser: the cookie holds a random id, the table its hash."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user_id", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
