"""Connects every domain's receivers to the signal registry, once per process.

Called where a process starts running services: ``create_app``, the worker's and scheduler's task
loading (``workers.run.load_tasks``) and the CLI's sessions. Tests get a wired registry through a
fixture. The order below is the order receivers run in (a profile's merge re-points events first,
then linked rows, scores, occurrences and memberships, which evaluate the survivor again).
"""

from __future__ import annotations

from backend.audit import recorder
from backend.billing import service as billing_service
from backend.campaigns import service as campaigns_service
from backend.core.signals import Signals, signals
from backend.core.write_gates import brand_write_gates
from backend.events import service as events_service
from backend.imports import retention as imports_retention
from backend.messaging import service as messaging_service
from backend.messaging.devices import service as messaging_devices
from backend.messaging.inbound import service as messaging_inbound
from backend.messaging.providers import service as messaging_captured
from backend.profiles.linked import service as profiles_linked
from backend.programs import service as programs_service
from backend.rfm import service as rfm_service
from backend.scenarios import sources as scenarios_sources
from backend.segments import membership as segments_membership
from backend.segments import sources as segments_sources
from backend.triggers import service as triggers_service
from backend.triggers import sources as triggers_sources
from backend.webhooks import sources as webhooks_sources

DOMAIN_CONNECTS = (
    # Billing first: it may refuse a brand's creation or deletion before others do any work.
    billing_service.connect,
    events_service.connect,
    profiles_linked.connect,
    rfm_service.connect,
    triggers_service.connect,
    segments_membership.connect,
    messaging_service.connect,
    campaigns_service.connect,
    imports_retention.connect,
    messaging_devices.connect,
    messaging_inbound.connect,
    messaging_captured.connect,
    segments_sources.connect,
    triggers_sources.connect,
    webhooks_sources.connect,
    programs_service.connect,
    scenarios_sources.connect,
)


def connect_domains(registry: Signals = signals) -> Signals:
    """Connect every domain's receivers to ``registry`` and mark it wired; a registry already
    wired is returned as it is (each process may reach this from several entry points)."""
    recorder.install()
    # A canceled subscription makes its brands read-only (REST and GraphQL brand writes).
    brand_write_gates.install(billing_service.brand_write_gate)
    if registry.wired:
        return registry
    for connect in DOMAIN_CONNECTS:
        connect(registry)
    registry.mark_wired()
    return registry
