"""REST routes for profiles, their attributes, identity lookups, merges and consents.

Every route lives under ``/v1/brands/{brand_id}``: the brand guard answers 404 for a brand out of
reach, then 403 for a role or scope that falls short (reads: viewer, writes: manager).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from uuid import UUID

from litestar import Request, Response, delete, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.auth.scopes import needs
from backend.core.api import (
    PROFILE_READ_ERRORS,
    PROFILE_WRITE_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    BrandController,
)
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.core.errors import Problem, problem_response
from backend.profiles import attributes, consents, orders, service
from backend.profiles.schemas import (
    AttributeCreate,
    AttributeOut,
    AttributePage,
    AttributeUpdate,
    ConsentChangeIn,
    ConsentOut,
    ConsentPage,
    ConsentsOut,
    MergeOut,
    MergePage,
    MergeRequest,
    OrderIn,
    OrderOut,
    OrderPage,
    ProfileCreate,
    ProfileOut,
    ProfilePage,
    ProfileUpdate,
    TopicCreate,
    TopicOut,
    TopicPage,
    TopicUpdate,
    WriteMode,
)
from backend.profiles.service import ProfileMerged


def merged_redirect(request: Request[Any, Any, Any], exc: ProfileMerged) -> Response[Problem]:
    """308 to the same URL with the survivor's id: the method and body may be sent again."""
    location = request.url.path.replace(str(exc.merged_id), str(exc.survivor_id), 1)
    if request.url.query:
        location += f"?{request.url.query}"
    return problem_response(
        request,
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        headers={"Location": location},
    )


# The app answers `ProfileMerged` with `merged_redirect` wherever a route names a profile.
MERGED_HANDLERS: dict[type[Exception] | int, Any] = {ProfileMerged: merged_redirect}


class ProfileAttributeController(BrandController):
    """The brand's profile attributes (its profile schema beyond the standard fields)."""

    path = "/v1/brands/{brand_id:uuid}/profile-attributes"
    tags = ["profiles"]

    @get(
        "/",
        operation_id="listProfileAttributes",
        summary="List profile attributes",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def list_attributes(self, db_session: DbSession, page: Paging) -> AttributePage:
        """The attributes the brand defined on its profiles, in creation order."""
        items, cursor = await attributes.list_attributes(db_session, page)
        return AttributePage(AttributeOut.many(items), cursor)

    @post(
        "/",
        operation_id="createProfileAttribute",
        summary="Define a profile attribute",
        **needs("profiles:write"),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_attribute(
        self, db_session: DbSession, data: JSONBody[AttributeCreate]
    ) -> AttributeOut:
        """Define a typed attribute (text, number, boolean, date, datetime, enum), optionally
        required, unique or with a default. Its `key` names its values in `attributes`."""
        return AttributeOut.of(await attributes.create_attribute(db_session, data))

    @get(
        "/{attribute_id:uuid}",
        operation_id="getProfileAttribute",
        summary="Read a profile attribute",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def get_attribute(
        self, db_session: DbSession, attribute_id: FromPath[UUID]
    ) -> AttributeOut:
        """One attribute definition."""
        return AttributeOut.of(await attributes.get_attribute(db_session, attribute_id))

    @patch(
        "/{attribute_id:uuid}",
        operation_id="updateProfileAttribute",
        summary="Change a profile attribute",
        **needs("profiles:write"),
        responses=WRITE_ERRORS,
    )
    async def update_attribute(
        self, db_session: DbSession, attribute_id: FromPath[UUID], data: JSONBody[AttributeUpdate]
    ) -> AttributeOut:
        """Change an attribute's label, required flag, default or enum options (its key, type
        and uniqueness are fixed)."""
        return AttributeOut.of(await attributes.update_attribute(db_session, attribute_id, data))

    @delete(
        "/{attribute_id:uuid}",
        operation_id="deleteProfileAttribute",
        summary="Delete a profile attribute",
        **needs("profiles:write"),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_attribute(self, db_session: DbSession, attribute_id: FromPath[UUID]) -> None:
        """Delete the attribute and every profile's value of it."""
        await attributes.delete_attribute(db_session, attribute_id)


class ConsentTopicController(BrandController):
    """The brand's subscription topics (newsletter, offers…)."""

    path = "/v1/brands/{brand_id:uuid}/consent-topics"
    tags = ["profiles"]

    @get(
        "/",
        operation_id="listConsentTopics",
        summary="List consent topics",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def list_topics(self, db_session: DbSession, page: Paging) -> TopicPage:
        """The brand's subscription topics, in creation order."""
        items, cursor = await consents.list_topics(db_session, page)
        return TopicPage(TopicOut.many(items), cursor)

    @post(
        "/",
        operation_id="createConsentTopic",
        summary="Create a consent topic",
        **needs("profiles:write"),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_topic(self, db_session: DbSession, data: JSONBody[TopicCreate]) -> TopicOut:
        """Add a topic profiles can subscribe to on a channel."""
        return TopicOut.of(await consents.create_topic(db_session, data))

    @get(
        "/{topic_id:uuid}",
        operation_id="getConsentTopic",
        summary="Read a consent topic",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def get_topic(self, db_session: DbSession, topic_id: FromPath[UUID]) -> TopicOut:
        """One topic."""
        return TopicOut.of(await consents.get_topic(db_session, topic_id))

    @patch(
        "/{topic_id:uuid}",
        operation_id="updateConsentTopic",
        summary="Rename a consent topic",
        **needs("profiles:write"),
        responses=WRITE_ERRORS,
    )
    async def update_topic(
        self, db_session: DbSession, topic_id: FromPath[UUID], data: JSONBody[TopicUpdate]
    ) -> TopicOut:
        """Change a topic's label (its key is fixed: history refers to it)."""
        return TopicOut.of(await consents.update_topic(db_session, topic_id, data))

    @delete(
        "/{topic_id:uuid}",
        operation_id="deleteConsentTopic",
        summary="Delete a consent topic",
        **needs("profiles:write"),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_topic(self, db_session: DbSession, topic_id: FromPath[UUID]) -> None:
        """Delete a topic that has no consent history (409 otherwise)."""
        await consents.delete_topic(db_session, topic_id)


class ProfileController(BrandController):
    """Profiles: create, upsert by identity key, read, update, delete, merge, consents.

    A merged profile's id answers 308 with the survivor's URL in `Location`.
    """

    path = "/v1/brands/{brand_id:uuid}/profiles"
    tags = ["profiles"]

    @post(
        "/",
        operation_id="createProfile",
        summary="Create (or upsert) a profile",
        **needs("profiles:write"),
        status_code=HTTP_201_CREATED,
        responses={
            HTTP_200_OK: ResponseSpec(
                data_container=ProfileOut, description="Upsert: an existing profile was updated"
            ),
            **WRITE_ERRORS,
        },
    )
    async def create_profile(
        self,
        db_session: DbSession,
        tenant: Tenant,
        data: JSONBody[ProfileCreate],
        mode: Annotated[
            WriteMode,
            QueryParameter(
                description=(
                    "`create` (default) answers 409 when an identity key (email, phone, "
                    "external id) is known; `upsert` updates the profile the keys point to "
                    "(200), merging profiles when they point to several (the older survives)."
                )
            ),
        ] = WriteMode.CREATE,
    ) -> Response[ProfileOut]:
        """Create a profile (201 with its `id`), validated against the brand's attributes;
        email lower-cased, phone stored in E.164 (read in the profile's country, else the
        brand locale's region)."""
        profile, created = await service.create_profile(db_session, tenant, data, mode)
        body = ProfileOut.of(await service.view(db_session, profile))
        return Response(body, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get(
        "/",
        operation_id="listProfiles",
        summary="List or look up profiles",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def list_profiles(
        self,
        db_session: DbSession,
        tenant: Tenant,
        page: Paging,
        email: Annotated[str | None, QueryParameter(description="Identity key lookup.")] = None,
        phone: Annotated[str | None, QueryParameter(description="Identity key lookup.")] = None,
        external_id: Annotated[
            str | None,
            QueryParameter(name="externalId", description="`source:value` identity lookup."),
        ] = None,
        country: Annotated[str | None, QueryParameter()] = None,
        preferred_store: Annotated[str | None, QueryParameter(name="preferredStore")] = None,
        updated_since: Annotated[
            dt.datetime | None,
            QueryParameter(name="updatedSince", description="Changed at or after (ISO 8601)."),
        ] = None,
    ) -> ProfilePage:
        """Profiles in creation order (keyset pages), filtered; `email`, `phone` and
        `externalId` find a profile by any identity key it holds, merged-in keys included."""
        items, cursor = await service.list_profiles(
            db_session,
            tenant,
            page,
            email=email,
            phone=phone,
            external_id=external_id,
            country=country,
            preferred_store=preferred_store,
            updated_since=updated_since,
        )
        return ProfilePage(ProfileOut.many(await service.views(db_session, items)), cursor)

    @get(
        "/{profile_id:uuid}",
        operation_id="getProfile",
        summary="Read a profile",
        **needs("profiles:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def get_profile(self, db_session: DbSession, profile_id: FromPath[UUID]) -> ProfileOut:
        """One profile with its identity keys; a merged id answers 308 to the survivor."""
        profile = await service.get_profile(db_session, profile_id)
        return ProfileOut.of(await service.view(db_session, profile))

    @patch(
        "/{profile_id:uuid}",
        operation_id="updateProfile",
        summary="Update a profile",
        **needs("profiles:write"),
        responses=PROFILE_WRITE_ERRORS,
    )
    async def update_profile(
        self,
        db_session: DbSession,
        tenant: Tenant,
        profile_id: FromPath[UUID],
        data: JSONBody[ProfileUpdate],
    ) -> ProfileOut:
        """Change some fields: absent ones are kept, `null` clears one; attributes merge key by
        key; external ids are added. A key held by another profile answers 409."""
        profile = await service.update_profile(db_session, tenant, profile_id, data)
        return ProfileOut.of(await service.view(db_session, profile))

    @delete(
        "/{profile_id:uuid}",
        operation_id="deleteProfile",
        summary="Delete a profile",
        **needs("profiles:write"),
        status_code=HTTP_204_NO_CONTENT,
        responses=PROFILE_WRITE_ERRORS,
    )
    async def delete_profile(
        self, db_session: DbSession, tenant: Tenant, profile_id: FromPath[UUID]
    ) -> None:
        """Delete the profile with its identity keys, consent history and merge redirects."""
        await service.delete_profile(db_session, tenant, profile_id)

    @post(
        "/{profile_id:uuid}/merge",
        operation_id="mergeProfiles",
        summary="Merge two profiles",
        **needs("profiles:write"),
        status_code=HTTP_200_OK,
        responses=PROFILE_WRITE_ERRORS,
    )
    async def merge(
        self,
        db_session: DbSession,
        tenant: Tenant,
        profile_id: FromPath[UUID],
        data: JSONBody[MergeRequest],
    ) -> ProfileOut:
        """Merge `otherId` and this profile into one: the older survives and is answered; the
        other id then redirects to it."""
        profile = await service.merge_profiles(
            db_session, tenant, profile_id, data.other_id, data.reason
        )
        return ProfileOut.of(await service.view(db_session, profile))

    @get(
        "/{profile_id:uuid}/history",
        operation_id="listProfileMerges",
        summary="List a profile's merge history",
        **needs("profiles:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def merges(
        self, db_session: DbSession, profile_id: FromPath[UUID], page: Paging
    ) -> MergePage:
        """The profiles merged into this one: when, why and by which keys."""
        items, cursor = await service.list_merges(db_session, profile_id, page)
        return MergePage(MergeOut.many(items), cursor)

    @get(
        "/{profile_id:uuid}/consents",
        operation_id="getProfileConsents",
        summary="Read a profile's consents",
        **needs("profiles:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def get_consents(self, db_session: DbSession, profile_id: FromPath[UUID]) -> ConsentsOut:
        """The current state of each channel and topic (its latest change; no channel means
        all channels) and the contactability of every channel with its reasons."""
        return await consents.overview(db_session, profile_id)

    @post(
        "/{profile_id:uuid}/consents",
        operation_id="recordProfileConsent",
        summary="Record a consent change",
        **needs("profiles:write"),
        status_code=HTTP_201_CREATED,
        responses=PROFILE_WRITE_ERRORS,
    )
    async def record_consent(
        self, db_session: DbSession, profile_id: FromPath[UUID], data: JSONBody[ConsentChangeIn]
    ) -> ConsentOut:
        """Append a change (granted, denied, unsubscribed) with its source and proof. Without
        channel and topic it applies to every channel: a global unsubscribe."""
        return ConsentOut.of(await consents.record_change(db_session, profile_id, data))

    @get(
        "/{profile_id:uuid}/consents/history",
        operation_id="listProfileConsentHistory",
        summary="List a profile's consent history",
        **needs("profiles:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def consent_history(
        self, db_session: DbSession, profile_id: FromPath[UUID], page: Paging
    ) -> ConsentPage:
        """Every consent change ever recorded for the profile, in recording order."""
        items, cursor = await consents.history(db_session, profile_id, page)
        return ConsentPage(ConsentOut.many(items), cursor)

    @post(
        "/{profile_id:uuid}/orders",
        operation_id="createProfileOrder",
        summary="Record an order",
        **needs("profiles:write"),
        status_code=HTTP_201_CREATED,
        responses=PROFILE_WRITE_ERRORS,
    )
    async def create_order(
        self, db_session: DbSession, profile_id: FromPath[UUID], data: JSONBody[OrderIn]
    ) -> OrderOut:
        """Record an order (transaction) of the profile with its lines; `orderId` is unique in
        the brand (409 when it exists)."""
        return OrderOut.of(await orders.create_order(db_session, profile_id, data))

    @get(
        "/{profile_id:uuid}/orders",
        operation_id="listProfileOrders",
        summary="List a profile's orders",
        **needs("profiles:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def list_orders(
        self, db_session: DbSession, profile_id: FromPath[UUID], page: Paging
    ) -> OrderPage:
        """The profile's orders with their lines, in recording order (merged-in orders too)."""
        items, cursor = await orders.list_orders(db_session, profile_id, page)
        return OrderPage(OrderOut.many(items), cursor)
