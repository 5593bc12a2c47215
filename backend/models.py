"""Every table of Levier, imported in one place so the metadata (and Alembic) sees them all."""

import backend.audit.recorder  # noqa: F401  (registers the audit hook on every session)
from backend.audit.models import AuditEvent
from backend.auth.models import (
    AccessToken,
    AuthorizationCode,
    OAuthClient,
    OAuthClientBrand,
    OAuthConsent,
    User,
    WebSession,
)
from backend.core.db import Base
from backend.core.due_work import DueTask
from backend.core.idempotency import IdempotencyRecord
from backend.core.outbox import OutboxMessage
from backend.imports.models import ImportChunk, ImportJob, ImportRejection
from backend.profiles.models import (
    ConsentChange,
    ConsentTopic,
    Order,
    OrderLine,
    Profile,
    ProfileAttribute,
    ProfileIdentity,
    ProfileMerge,
    ProfileUniqueValue,
)
from backend.tenancy.models import Agency, AgencyMember, Brand, BrandGrant, BrandSettings

__all__ = [
    "AccessToken",
    "Agency",
    "AgencyMember",
    "AuditEvent",
    "AuthorizationCode",
    "Base",
    "Brand",
    "BrandGrant",
    "BrandSettings",
    "ConsentChange",
    "ConsentTopic",
    "DueTask",
    "IdempotencyRecord",
    "ImportChunk",
    "ImportJob",
    "ImportRejection",
    "OAuthClient",
    "OAuthClientBrand",
    "OAuthConsent",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "Profile",
    "ProfileAttribute",
    "ProfileIdentity",
    "ProfileMerge",
    "ProfileUniqueValue",
    "User",
    "WebSession",
]
