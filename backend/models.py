"""Every table of Levier, imported in one place so the metadata (and Alembic) sees them all."""

import backend.audit.recorder  # registers the audit hook on every session
import backend.events.service  # registers the events' merge and delete hooks
import backend.imports.retention  # purges stored import files naming an erased person
import backend.profiles.linked  # registers the linked rows' merge and delete hooks
import backend.segments.membership  # registers the memberships' merge and delete hooks
import backend.segments.sources  # keeps segments current after writes, events and imports
import backend.triggers.service  # registers the occurrences' merge and delete hooks
import backend.triggers.sources  # raises triggers from accepted events and their carts
import backend.webhooks.sources  # noqa: F401  (publishes profile, consent and import events)
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
from backend.connectors.models import Connector, HookRoute, InboundDelivery
from backend.core.db import Base
from backend.core.due_work import DueTask
from backend.core.idempotency import IdempotencyRecord
from backend.core.outbox import OutboxMessage
from backend.events.models import Cart, Event, EventSettings, EventType
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
from backend.rfm.models import RfmRun, RfmScore, RfmSettings
from backend.segments.models import Segment, SegmentMember, SegmentSize, SegmentTransition
from backend.tenancy.models import Agency, AgencyMember, Brand, BrandGrant, BrandSettings
from backend.triggers.models import (
    TriggerCart,
    TriggerDefinition,
    TriggerOccurrence,
    TriggerWatermark,
)
from backend.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

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
    "Cart",
    "Connector",
    "ConsentChange",
    "ConsentTopic",
    "DueTask",
    "Event",
    "EventSettings",
    "EventType",
    "ExportChunk",
    "HookRoute",
    "IdempotencyRecord",
    "ImportChunk",
    "ImportJob",
    "ImportRejection",
    "InboundDelivery",
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
    "RfmRun",
    "RfmScore",
    "RfmSettings",
    "Segment",
    "SegmentMember",
    "SegmentSize",
    "SegmentTransition",
    "Suppression",
    "TriggerCart",
    "TriggerDefinition",
    "TriggerOccurrence",
    "TriggerWatermark",
    "User",
    "WebSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
