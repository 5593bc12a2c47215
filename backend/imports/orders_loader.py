"""Order rows of an import: validated like ``POST …/profiles/{id}/orders``, the profile found by
``profileId`` (a merged id means its survivor) or by an identity key (``email``, ``phone``,
``externalIds.<source>``), upserted set-based on ``(tenant_id, order_id)``. NDJSON rows may
carry ``lines``: they replace the order's lines; CSV rows have none (an order's stored lines are
then kept)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.ids import new_id
from backend.core.tenancy import TenantId
from backend.imports import repository
from backend.imports.mapping import Targets, identity_key_of
from backend.imports.models import ImportMode
from backend.imports.profiles_loader import Outcome
from backend.imports.reader import Record
from backend.profiles import lookup
from backend.profiles.orders import MAX_MONEY, MAX_QUANTITY
from backend.profiles.schemas import OrderIn

_CAMEL = dict(zip(OrderIn.__struct_fields__, OrderIn.__struct_encode_fields__, strict=True))


@dataclass
class OrderRow:
    line: int
    raw: str
    order: OrderIn
    profile_id: UUID | None
    keys: list[tuple[str, str]]
    has_lines: bool


class OrderLoader:
    def __init__(
        self, tenant: TenantId, mode: ImportMode, targets: Targets, region: str | None
    ) -> None:
        self.tenant = tenant
        self.mode = mode
        self.targets = targets
        self.region = region

    def validate(self, record: Record) -> OrderRow | str:
        if record.error:
            return record.error
        given: dict[str, Any] = {}
        keys: list[tuple[str, str]] = []
        profile_id: Any = None
        problems: list[str] = []
        for column, value in record.values.items():
            target = self.targets.of(column)
            if target is None or value is None:
                continue
            if isinstance(target, str):
                problems.append(f"{column}: {target}")
            elif target.name == "profile_id":
                profile_id = value
            elif (key := identity_key_of(target, value, self.region)) is not None:
                if isinstance(key, str):
                    problems.append(key)
                else:
                    keys.append(key)
            else:
                given[_CAMEL[target.name]] = value
        if problems:
            return "; ".join(problems)
        try:
            order = msgspec.convert(given, OrderIn, strict=False)
            uuid = None if profile_id is None else msgspec.convert(profile_id, UUID)
        except msgspec.ValidationError as exc:
            return str(exc).replace("`$.", "`")
        if order.occurred_at.tzinfo is None:
            return "occurredAt: expected a date and time with its UTC offset"
        if not (order.amount.is_finite() and abs(order.amount) < MAX_MONEY):
            return f"amount: expected a finite amount below {MAX_MONEY}"
        for index, line in enumerate(order.lines):
            if not (line.quantity.is_finite() and 0 < line.quantity < MAX_QUANTITY):
                return f"lines[{index}].quantity: expected a quantity above zero"
            if not (line.price.is_finite() and abs(line.price) < MAX_MONEY):
                return f"lines[{index}].price: expected a finite price below {MAX_MONEY}"
        if uuid is None and not keys:
            return "no profileId nor identity key (email, phone, external id) names the profile"
        return OrderRow(record.line, record.raw, order, uuid, keys, "lines" in given)

    async def write(self, session: AsyncSession, rows: list[OrderRow], outcome: Outcome) -> None:
        pending = rows
        while pending:
            # An orderId repeated in a batch waits for the next pass: the later row wins.
            seen: set[str] = set()
            current: list[OrderRow] = []
            later: list[OrderRow] = []
            for row in pending:
                (later if row.order.order_id in seen else current).append(row)
                seen.add(row.order.order_id)
            await self._write_pass(session, current, outcome)
            pending = later

    async def _write_pass(
        self, session: AsyncSession, rows: list[OrderRow], outcome: Outcome
    ) -> None:
        owners = await repository.owners_of_keys(
            session, self.tenant, [key for row in rows for key in row.keys]
        )
        # A merged id names its survivor (as everywhere else).
        current = await lookup.current_ids(
            session, [row.profile_id for row in rows if row.profile_id]
        )
        existing = await repository.existing_orders(
            session, self.tenant, [row.order.order_id for row in rows]
        )
        orders: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        for row in rows:
            found = {owners[key] for key in row.keys if key in owners}
            if row.profile_id is not None:
                survivor = current.get(row.profile_id)
                if survivor is None:
                    outcome.reject(row.line, "profileId: no such profile", row.raw)
                    continue
                found.add(survivor)
            if len(found) != 1:
                reason = (
                    "no profile has these identity keys"
                    if not found
                    else "the identity keys point to different profiles"
                )
                outcome.reject(row.line, reason, row.raw)
                continue
            order_uuid = existing.get(row.order.order_id)
            if order_uuid is not None and self.mode is ImportMode.CREATE:
                outcome.reject(row.line, "orderId: an order with this orderId exists", row.raw)
                continue
            if order_uuid is None and self.mode is ImportMode.UPDATE:
                outcome.reject(row.line, "orderId: no order has this orderId", row.raw)
                continue
            o = row.order
            orders.append(
                {
                    "id": order_uuid or new_id(),
                    "order_id": o.order_id,
                    "profile_id": next(iter(found)),
                    "occurred_at": o.occurred_at,
                    "amount": o.amount,
                    "currency": o.currency,
                    "store": o.store,
                    "channel": o.channel,
                    "has_lines": row.has_lines,
                }
            )
            lines += [
                {
                    "id": new_id(),
                    "order_id": o.order_id,
                    "product": line.product,
                    "category": line.category,
                    "quantity": line.quantity,
                    "price": line.price,
                }
                for line in o.lines
            ]
            if order_uuid is None:
                outcome.created += 1
            else:
                outcome.updated += 1
        await repository.write_orders(session, self.tenant, orders, lines)
