"""Every table of Levier, imported in one place so the metadata (and Alembic) sees them all.

Models only: the domains' receivers of each other's signals are connected by
``backend.wiring.connect_domains``, explicitly, where a process starts."""

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
from backend.billing.models import (
    BillingAccount,
    BillingPrice,
    BrandMeter,
    MeterReport,
    StripeEvent,
    UsageWarning,
)
from backend.campaigns.models import (
    Campaign,
    CampaignOccurrence,
    CampaignRecipient,
    CampaignVariant,
)
from backend.connectors.models import Connector, HookRoute, InboundDelivery
from backend.content.coupons.models import CouponCode, CouponPool
from backend.content.models import ContentTemplate, Snippet, TemplateVersion
from backend.core.db import Base
from backend.core.due_work import DueTask
from backend.core.idempotency import IdempotencyRecord
from backend.core.outbox import OutboxMessage
from backend.events.models import Cart, Event, EventSettings, EventType
from backend.imports.models import ImportChunk, ImportJob, ImportRejection
from backend.messaging.accounts.models import ProviderAccount, SenderIdentityRecord
from backend.messaging.devices.models import PushDevice
from backend.messaging.inbound.models import InboundSms
from backend.messaging.models import (
    Message,
    MessageEvent,
    MessageHold,
    MessageKey,
    PressurePolicy,
)
from backend.messaging.providers.models import CapturedMessage, FeedbackToken
from backend.messaging.tracking.models import (
    MessageSighting,
    MessagingHookRoute,
    SoftBounceRun,
)
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
from backend.programs.models import Program
from backend.rfm.models import RfmRun, RfmScore, RfmSettings
from backend.scenarios.models import (
    Journey,
    JourneyStep,
    Scenario,
    ScenarioEntry,
    ScenarioEntryKey,
    ScenarioVersion,
)
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
    "BillingAccount",
    "BillingPrice",
    "Brand",
    "BrandGrant",
    "BrandMeter",
    "BrandSettings",
    "Campaign",
    "CampaignOccurrence",
    "CampaignRecipient",
    "CampaignVariant",
    "CapturedMessage",
    "Cart",
    "Connector",
    "ConsentChange",
    "ConsentTopic",
    "ContentTemplate",
    "CouponCode",
    "CouponPool",
    "DueTask",
    "Event",
    "EventSettings",
    "EventType",
    "ExportChunk",
    "FeedbackToken",
    "HookRoute",
    "IdempotencyRecord",
    "ImportChunk",
    "ImportJob",
    "ImportRejection",
    "InboundDelivery",
    "InboundSms",
    "Journey",
    "JourneyStep",
    "LinkedRow",
    "LinkedRowVersion",
    "LinkedTable",
    "Message",
    "MessageEvent",
    "MessageHold",
    "MessageKey",
    "MessageSighting",
    "MessagingHookRoute",
    "MeterReport",
    "OAuthClient",
    "OAuthClientBrand",
    "OAuthConsent",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "PressurePolicy",
    "Profile",
    "ProfileAttribute",
    "ProfileExport",
    "ProfileIdentity",
    "ProfileMerge",
    "ProfileUniqueValue",
    "Program",
    "ProviderAccount",
    "PushDevice",
    "RfmRun",
    "RfmScore",
    "RfmSettings",
    "Scenario",
    "ScenarioEntry",
    "ScenarioEntryKey",
    "ScenarioVersion",
    "Segment",
    "SegmentMember",
    "SegmentSize",
    "SegmentTransition",
    "SenderIdentityRecord",
    "Snippet",
    "SoftBounceRun",
    "StripeEvent",
    "Suppression",
    "TemplateVersion",
    "TriggerCart",
    "TriggerDefinition",
    "TriggerOccurrence",
    "TriggerWatermark",
    "UsageWarning",
    "User",
    "WebSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
