"""``/dev/outbox``: the latest emails the capture provider kept, across brands, shown as their
recipient would see them. Never served in production (404 there)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.core.errors import NotFound
from backend.core.idempotency import KEY_IGNORED
from backend.core.tenancy import TenantId, open_session
from backend.messaging.providers import service as captured_service
from backend.messaging.tracking import pages
from backend.tenancy import service as tenancy_service

OUTBOX_SIZE = 30


async def latest_emails(
    factory: async_sessionmaker[AsyncSession], limit: int = OUTBOX_SIZE
) -> list[pages.OutboxItem]:
    """The ``limit`` latest captured emails of every brand, newest first (one session per
    brand: captured messages are a brand's rows)."""
    async with open_session(factory) as session:
        brand_ids = await tenancy_service.all_brand_ids(session)
    items: list[pages.OutboxItem] = []
    for brand_id in brand_ids:
        tenant = TenantId(brand_id)
        async with open_session(factory, tenant) as session:
            captured = await captured_service.latest_emails(session, limit)
            if not captured:
                continue
            brand = await tenancy_service.get_brand(session, tenant)
        for row in captured:
            payload: dict[str, Any] = row.payload
            items.append(
                pages.OutboxItem(
                    message_id=row.message_id,
                    brand=brand.name,
                    subject=str(payload.get("subject", "")),
                    recipient=row.recipient,
                    sender=f"{payload.get('from_name', '')} <{payload.get('from_address', '')}>",
                    at=row.created_at,
                    html=str(payload.get("html", "")),
                    text=str(payload.get("text", "")),
                )
            )
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]


class OutboxController(Controller):
    """The development outbox (HTML)."""

    path = "/dev/outbox"
    include_in_schema = False
    opt = {KEY_IGNORED: True}

    @get("/")
    async def outbox(self, request: Request[Any, Any, Any], state: State) -> Response[str]:
        """The latest captured emails, each in a sandboxed frame; 404 in production."""
        if state.settings.is_production:
            raise NotFound("not found")
        html = pages.outbox_page(await latest_emails(state.session_factory))
        headers = {
            "Content-Security-Policy": pages.OUTBOX_CSP,
            "Cache-Control": "no-store",
        }
        return Response(html, media_type="text/html; charset=utf-8", headers=headers)
