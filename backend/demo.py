"""The demo data `levier demo` loads: an agency, a brand, a signed-in user ready to call, and a
first-party SPA client to try the OAuth code flow with."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import clients
from backend.auth import service as auth_service
from backend.auth.schemas import ClientCreate
from backend.config import Settings
from backend.tenancy import repository as tenancy_repository
from backend.tenancy import service as tenancy_service
from backend.tenancy.schemas import AgencyCreate, BrandCreate

DEMO_AGENCY = "Demo Agency"
DEMO_BRAND = "Match Demo"
DEMO_SPA = "Demo SPA"
DEMO_SPA_REDIRECT = "http://127.0.0.1:5173/callback"


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
        spa, _ = await clients.create_client(
            session,
            None,
            agency_id,
            ClientCreate(
                name=DEMO_SPA,
                brand_ids=[brand_id],
                public=True,
                first_party=True,
                redirect_uris=[DEMO_SPA_REDIRECT],
            ),
        )
        spa_id: UUID | None = spa.client.id
    else:
        caller = await auth_service.load_caller(session, user)
        agency_id = next(iter(caller.agency_access))
        brands = await tenancy_repository.brands_of_agencies(session, [agency_id])
        brand_id = brands[0][0]
        spa_id = await clients.client_id_by_name(session, agency_id, DEMO_SPA)
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
        "spa_client_id": spa_id,
        "spa_redirect_uri": DEMO_SPA_REDIRECT,
    }
