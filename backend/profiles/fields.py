"""Normalisation and validation of the standard profile fields: each error names its field."""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import Any

import phonenumbers
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from backend.core.errors import InvalidInput

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+\Z")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?\Z")
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}\Z")
_E164 = re.compile(r"^\+([1-9][0-9]{6,14})\Z")
MAX_EMAIL = 320
# The ISO 3166-1 alpha-2 codes that phone numbering knows (every inhabited country).
COUNTRIES = frozenset(phonenumbers.SUPPORTED_REGIONS)


class FieldErrors:
    """Collects every violation of one write, so a client sees them all at once."""

    def __init__(self, prefix: str = "") -> None:
        self.errors: list[dict[str, Any]] = []
        self.prefix = prefix  # names the fields of a nested object: ``consents[0].``

    def add(self, field: str, message: str) -> None:
        self.errors.append({"field": self.prefix + field, "message": message})

    def raise_if_any(self) -> None:
        if self.errors:
            fields = ", ".join(e["field"] for e in self.errors)
            raise InvalidInput(f"invalid value for {fields}", errors=self.errors)


def normalise_email(value: str) -> str | None:
    """The address lower-cased, or None when it is not an address."""
    email = value.strip().lower()
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        return None
    return email


def region_of_locale(locale: str | None) -> str | None:
    """``fr-BE`` → ``BE``: the region a brand's locale names, if any."""
    if locale and "-" in locale:
        region = locale.rsplit("-", 1)[1].upper()
        return region if region in COUNTRIES else None
    return None


def _from_e164(digits: str) -> phonenumbers.PhoneNumber | None:
    """A number written ``+<country code><national number>`` without the general parser (the
    common case of bulk files, and a third of the parser's cost); None when unsure."""
    for size in (1, 2, 3):
        if int(digits[:size]) in COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            if national.startswith("0"):  # Italian leading zeros: the parser knows them
                return None
            return phonenumbers.PhoneNumber(
                country_code=int(digits[:size]), national_number=int(national)
            )
    return None


def normalise_phone(value: str, region: str | None) -> str | None:
    """The number in E.164, read in ``region`` unless it starts with ``+``; None if not valid."""
    text = value.strip()
    if (
        (written := _E164.match(text))
        and (quick := _from_e164(written[1])) is not None
        and phonenumbers.is_valid_number(quick)
        and phonenumbers.format_number(quick, phonenumbers.PhoneNumberFormat.E164) == text
    ):
        return text  # anything less certain goes through the parser below
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def can_receive_sms(e164: str) -> bool:
    """Whether a stored number may be a mobile (fixed lines cannot receive SMS)."""
    number = phonenumbers.parse(e164, None)
    return phonenumbers.number_type(number) in {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }


def normalise_country(value: str) -> str | None:
    country = value.strip().upper()
    return country if country in COUNTRIES else None


@functools.lru_cache(maxsize=1024)  # a file repeats a handful of zones a million times
def valid_time_zone(value: str) -> bool:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def valid_locale(value: str) -> bool:
    return bool(_LOCALE.match(value))


def valid_source(value: str) -> bool:
    return bool(_SOURCE.match(value))


def normalise_standard_fields(
    given: dict[str, Any], errors: FieldErrors, default_region: str | None
) -> dict[str, Any]:
    """Normalised standard fields of a write (``None`` clears one); errors name the field. The
    one rule set of REST, GraphQL and imports."""
    changes = dict(given)
    if given.get("email") is not None:
        changes["email"] = normalise_email(given["email"])
        if changes["email"] is None:
            errors.add("email", "not a valid email address")
    if given.get("country") is not None:
        changes["country"] = normalise_country(given["country"])
        if changes["country"] is None:
            errors.add("country", "not an ISO 3166-1 alpha-2 country code")
    if given.get("phone") is not None:
        region = changes.get("country") or default_region
        changes["phone"] = normalise_phone(given["phone"], region)
        if changes["phone"] is None:
            bare = not region and not given["phone"].strip().startswith("+")
            hint = " (give it as +<country code>…, or give the country)" if bare else ""
            errors.add("phone", f"not a valid phone number{hint}")
    if given.get("locale") is not None and not valid_locale(given["locale"]):
        errors.add("locale", "expected a language tag such as fr or fr-BE")
    if given.get("time_zone") is not None and not valid_time_zone(given["time_zone"]):
        errors.add("timeZone", "unknown time zone")
    return changes
