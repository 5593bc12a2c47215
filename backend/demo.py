"""The demo data `levier demo` loads: an agency, a brand and a signed-in user, ready to call."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import service as auth_service
from backend.config import Settings
from backend.tenancy import repository as tenancy_repository
from backend.tenancy import service as tenancy_service
from backend.tenancy.schemas import AgencyCreate, BrandCreate

DEMO_AGENCY = "Demo Agency"
DEMO_BRAND = "Match Demo"


async def load_demo(
    session: AsyncSession, settings: Settings, email: str, password: str
) -> dict[str, Any]:
    """Create the demo once; on later runs reuse it. Returns ids and a fresh access token."""
    user = await auth_service.find_user_by_email(session, email)
    if user is None:
        agency = await tenancy_service.create_agency(session, AgencyCreate(name=DEMO_AGENCY), None)
        user = await tenancy_service.onboard_user(
            session, agency.id, email=email, password=password, role="agency_owner", name="Demo"
        )
        brand = await tenancy_service.create_brand(
            session,
            None,
            agency.id,
            BrandCreate(name=DEMO_BRAND, time_zone="Europe/Brussels", locale="fr-BE"),
        )
        agency_id, brand_id = agency.id, brand.id
    else:
        caller = await auth_service.load_caller(session, user)
        agency_id = next(iter(caller.agency_access))
        brands = await tenancy_repository.brands_of_agencies(session, [agency_id])
        brand_id = brands[0][0]
    token, row = await auth_service.issue_access_token(
        session, user.id, ttl=dt.timedelta(minutes=settings.access_token_ttl_minutes)
    )
    return {
        "agency_id": agency_id,
        "brand_id": brand_id,
        "user_id": user.id,
        "email": email,
        "password": password,
        "access_token": token,
        "expires_at": row.expires_at.isoformat(),
    }
