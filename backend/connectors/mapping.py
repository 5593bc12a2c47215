"""From a partner's payload to a profile write and an event, by the connector's mapping."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import msgspec
from jsonpointer import JsonPointer, JsonPointerException

from backend.connectors.models import ConnectorType
from backend.connectors.schemas import QualifioMapping, StandardWebhooksMapping
from backend.core.errors import InvalidInput

# Profile fields a mapping may target, by their API name.
PROFILE_FIELDS = (
    "email",
    "phone",
    "firstName",
    "lastName",
    "birthDate",
    "locale",
    "timeZone",
    "country",
    "preferredStore",
)
ATTRIBUTE_PREFIX = "attributes."
# Qualifio form field types that name a profile field by themselves.
QUALIFIO_TYPES = {
    "EMAIL": "email",
    "PHONE": "phone",
    "MOBILE": "phone",
    "FIRSTNAME": "firstName",
    "LASTNAME": "lastName",
    "BIRTHDATE": "birthDate",
}
_TRUE = {"true", "1", "yes", "on", "y"}


class MappingFailed(Exception):
    """The payload does not fit the mapping: the delivery is kept as failed with this reason."""


@dataclass
class Mapped:
    """What a delivery becomes: profile values (API names), consents, event properties."""

    profile: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    consents: list[dict[str, Any]] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    occurred_at: dt.datetime | None = None


def _check_target(target: str, where: str) -> None:
    if target in PROFILE_FIELDS:
        return
    if target.startswith(ATTRIBUTE_PREFIX) and len(target) > len(ATTRIBUTE_PREFIX):
        return
    raise InvalidInput(
        f"{target!r} is neither a profile field ({', '.join(PROFILE_FIELDS)}) nor attributes.<key>",
        errors=[{"field": where, "message": "unknown target"}],
    )


def check_mapping(kind: ConnectorType, mapping: dict[str, Any]) -> dict[str, Any]:
    """The mapping, validated for the connector type (422 naming the field otherwise)."""
    schema: type[QualifioMapping | StandardWebhooksMapping] = (
        QualifioMapping if kind is ConnectorType.QUALIFIO else StandardWebhooksMapping
    )
    try:
        parsed = msgspec.convert(mapping, schema)
    except msgspec.ValidationError as exc:
        raise InvalidInput(
            f"invalid mapping: {exc}", errors=[{"field": "mapping", "message": str(exc)}]
        ) from None
    if isinstance(parsed, QualifioMapping):
        for name, target in parsed.fields.items():
            _check_target(target, f"mapping.fields.{name}")
    else:
        for target in parsed.fields:
            _check_target(target, f"mapping.fields.{target}")
    return mapping


def _put(mapped: Mapped, target: str, value: Any) -> None:
    if target.startswith(ATTRIBUTE_PREFIX):
        mapped.attributes[target.removeprefix(ATTRIBUTE_PREFIX)] = value
    else:
        mapped.profile[target] = value


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def _datetime(value: Any, where: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MappingFailed(f"{where}: {value!r} is not an ISO 8601 date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _qualifio_date(value: str) -> str:
    """Qualifio birth dates come as ISO dates or as day/month/year."""
    day, _, rest = value.partition("/")
    month, _, year = rest.partition("/")
    if year:
        return f"{year.zfill(4)}-{month.zfill(2)}-{day.zfill(2)}"
    return value


def map_qualifio(raw: dict[str, Any], mapping: dict[str, Any], connector_id: str) -> Mapped:
    """A Qualifio participation (Webhook 2.0): identity and form fields to the profile, opt-ins
    to consents (with their wording as proof), answers to the event's properties."""
    rules = msgspec.convert(mapping, QualifioMapping)
    participation = raw.get("id")
    if not isinstance(participation, (str, int)):
        raise MappingFailed("the participation has no id")
    mapped = Mapped()
    completed = raw.get("completedAt") or raw.get("startedAt")
    mapped.occurred_at = _datetime(completed, "completedAt") if completed else None
    answers: dict[str, Any] = {}
    for item in raw.get("form") or []:
        values = [r.get("value") for r in item.get("responses") or [] if r.get("value") is not None]
        if not values:
            continue
        value = values[0] if len(values) == 1 else values
        name = item.get("variable") or item.get("label") or str(item.get("id"))
        answers[name] = value
        target = rules.fields.get(item.get("variable") or "") or rules.fields.get(
            item.get("type") or ""
        )
        target = target or QUALIFIO_TYPES.get(str(item.get("type") or "").upper())
        if target is not None:
            if target == "birthDate" and isinstance(value, str):
                value = _qualifio_date(value)
            _put(mapped, target, value)
    for item in raw.get("questionnaire") or []:
        values = [r.get("value") for r in item.get("responses") or []]
        name = item.get("variable") or item.get("label") or str(item.get("id"))
        answers[name] = values[0] if len(values) == 1 else values
    for optin in raw.get("optins") or []:
        rule = rules.optins.get(optin.get("variable") or "") or rules.optins.get(
            str(optin.get("id"))
        )
        if rule is None:
            continue
        mapped.consents.append(
            {
                "channel": rule.channel,
                "topic": rule.topic,
                "state": "granted" if _truthy(optin.get("response")) else "denied",
                "source": "qualifio",
                "occurredAt": mapped.occurred_at.isoformat() if mapped.occurred_at else None,
                "proof": {
                    "partner": "qualifio",
                    "connectorId": connector_id,
                    "participationId": str(participation),
                    "campaign": (raw.get("campaign") or {}).get("name"),
                    "url": raw.get("url"),
                    "optin": {
                        "id": optin.get("id"),
                        "label": optin.get("label"),
                        "description": optin.get("description"),
                        "response": optin.get("response"),
                    },
                },
            }
        )
    campaign = raw.get("campaign") or {}
    mapped.properties = {
        "partner": "qualifio",
        "participationId": str(participation),
        "campaign": {"id": campaign.get("id"), "name": campaign.get("name")},
        "answers": answers,
    }
    return mapped


def _resolve(raw: Any, pointer: str, where: str) -> Any:
    try:
        return JsonPointer(pointer).resolve(raw)
    except JsonPointerException:
        raise MappingFailed(f"{where}: nothing at {pointer!r} in the payload") from None


def map_standard(raw: Any, mapping: dict[str, Any], received_at: dt.datetime) -> Mapped:
    """A Standard Webhooks payload through JSON pointers (see ``StandardWebhooksMapping``)."""
    rules = msgspec.convert(mapping, StandardWebhooksMapping)
    mapped = Mapped()
    for target, pointer in rules.fields.items():
        _put(mapped, target, _resolve(raw, pointer, f"fields.{target}"))
    for index, consent in enumerate(rules.consents):
        value = _resolve(raw, consent.pointer, f"consents[{index}]")
        mapped.consents.append(
            {
                "channel": consent.channel,
                "topic": consent.topic,
                "state": "granted" if _truthy(value) else "denied",
                "source": "standard_webhooks",
            }
        )
    if rules.properties:
        mapped.properties = {
            name: _resolve(raw, pointer, f"properties.{name}")
            for name, pointer in rules.properties.items()
        }
    else:
        mapped.properties = raw if isinstance(raw, dict) else {"payload": raw}
    mapped.occurred_at = (
        _datetime(_resolve(raw, rules.occurred_at, "occurredAt"), "occurredAt")
        if rules.occurred_at
        else received_at
    )
    return mapped
