"""Every table of Levier, imported in one place so the metadata (and Alembic) sees them all."""

import backend.audit.recorder  # registers the audit hook on every session
import backend.profiles.linked
import backend.triggers.service  # noqa: F401  (registers the occurrences' merge and delete hooks)
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
    ExportChunk,
    LinkedRow,
    LinkedRowVersion,
    LinkedTable,
    Order,
    OrderLine,
    Profile,
    ProfileAttribute,
    ProfileExport,
    ProfileIdentity,
    ProfileMerge,
    ProfileUniqueValue,
    Suppression,
)
from backend.tenancy.models import Agency, AgencyMember, Brand, BrandGrant, BrandSettings
from backend.triggers.models import (
    TriggerCart,
    TriggerDefinition,
    TriggerOccurrence,
    TriggerWatermark,
)

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
    "ExportChunk",
    "IdempotencyRecord",
    "ImportChunk",
    "ImportJob",
    "ImportRejection",
    "LinkedRow",
    "LinkedRowVersion",
    "LinkedTable",
    "OAuthClient",
    "OAuthClientBrand",
    "OAuthConsent",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "Profile",
    "ProfileAttribute",
    "ProfileExport",
    "ProfileIdentity",
    "ProfileMerge",
    "ProfileUniqueValue",
    "Suppression",
    "TriggerCart",
    "TriggerDefinition",
    "TriggerOccurrence",
    "TriggerWatermark",
    "User",
    "WebSession",
]
