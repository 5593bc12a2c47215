"""REST routes for an agency's OAuth clients (agency owners and admins)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.auth import clients as service
from backend.auth.guards import AGENCY_ACCESS_OPT, agency_guard, caller_of
from backend.auth.schemas import ClientCreate, ClientOut, ClientPage, ClientSecret, ClientUpdate
from backend.auth.scopes import needs
from backend.core.access import Access
from backend.core.api import READ_ERRORS, WRITE_ERRORS
from backend.core.dependencies import DbSession, Paging
from backend.core.idempotency import SHOWS_SECRET

ADMIN = {AGENCY_ACCESS_OPT: Access.ADMIN}


class ClientController(Controller):
    """OAuth clients: SPAs (public, authorization code + PKCE) and partners (confidential,
    client credentials), each bound to its agency and to the brands it is granted."""

    path = "/v1/agencies/{agency_id:uuid}/clients"
    tags = ["oauth clients"]
    guards = [agency_guard]

    @post(
        "/",
        operation_id="createClient",
        summary="Create an OAuth client",
        **needs("agencies:write", opt={**ADMIN, SHOWS_SECRET: True}),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_client(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        data: JSONBody[ClientCreate],
    ) -> ClientSecret:
        """Register a client. A confidential client's secret is in this answer and never again;
        without `scopes` it may hold every brand scope (public clients: every scope, cut down
        to each user's role)."""
        view, secret = await service.create_client(db_session, caller_of(request), agency_id, data)
        return ClientSecret.shown(view, secret)

    @get(
        "/",
        operation_id="listClients",
        summary="List an agency's OAuth clients",
        **needs("agencies:read", opt=ADMIN),
        responses=READ_ERRORS,
    )
    async def list_clients(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        page: Paging,
    ) -> ClientPage:
        """The agency's clients, oldest first (secrets are never shown, only their prefix)."""
        views, cursor = await service.list_clients(db_session, caller_of(request), agency_id, page)
        return ClientPage([ClientOut.of_view(v) for v in views], cursor)

    @get(
        "/{client_id:uuid}",
        operation_id="getClient",
        summary="Read an OAuth client",
        **needs("agencies:read", opt=ADMIN),
        responses=READ_ERRORS,
    )
    async def get_client(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        client_id: FromPath[UUID],
    ) -> ClientOut:
        """One client of the agency."""
        view = await service.get_client(db_session, caller_of(request), agency_id, client_id)
        return ClientOut.of_view(view)

    @patch(
        "/{client_id:uuid}",
        operation_id="updateClient",
        summary="Change an OAuth client",
        **needs("agencies:write", opt=ADMIN),
        responses=WRITE_ERRORS,
    )
    async def update_client(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        client_id: FromPath[UUID],
        data: JSONBody[ClientUpdate],
    ) -> ClientOut:
        """Rename, re-grant brands or scopes, change redirect URIs, mark first-party, or
        disable. Its tokens follow at once: fewer brands or scopes, or none when disabled."""
        view = await service.update_client(
            db_session, caller_of(request), agency_id, client_id, data
        )
        return ClientOut.of_view(view)

    @post(
        "/{client_id:uuid}/secret",
        operation_id="rotateClientSecret",
        summary="Issue a new client secret",
        **needs("agencies:write", opt={**ADMIN, SHOWS_SECRET: True}),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def rotate_secret(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        client_id: FromPath[UUID],
    ) -> ClientSecret:
        """A new secret, shown once; the previous one stops working now."""
        view, secret = await service.rotate_secret(
            db_session, caller_of(request), agency_id, client_id
        )
        return ClientSecret.shown(view, secret)

    @delete(
        "/{client_id:uuid}",
        operation_id="deleteClient",
        summary="Delete an OAuth client",
        **needs("agencies:write", opt=ADMIN),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_client(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        client_id: FromPath[UUID],
    ) -> None:
        """Delete the client; every token it holds stops working now."""
        await service.delete_client(db_session, caller_of(request), agency_id, client_id)
