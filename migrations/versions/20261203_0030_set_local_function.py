"""Citus-ready transaction settings: ``levier_set_local(setting, value)`` runs ``SET LOCAL``
(PostgreSQL; nothing on SQLite).

The brand of a transaction (``levier.tenant_id``, read by every row-level security policy) and the
planner settings of whole-brand statements were set with ``set_config(..., true)``. On Citus the
policies are evaluated on the worker that holds the brand's shard, and Citus forwards only
``SET LOCAL`` statements to the workers (``citus.propagate_set_commands = 'local'``), never a
``set_config()`` call: there the brand would be unset and every row invisible. A ``SET LOCAL``
cannot take a bound parameter, and one statement text per brand would churn the driver's
prepared-statement cache; this function keeps one prepared ``SELECT levier_set_local($1, $2)``
and runs the ``SET LOCAL`` inside (measured: ~2 µs of server time a call, against ~0.4 µs for
``set_config``). It has no ``SET`` clause of its own, so the setting outlives the call and ends
with the transaction, as ``SET LOCAL`` does; it is not SECURITY DEFINER (callers set only what
they may set themselves).

Revision ID: 0030
Revises: 0028
Create Date: 2026-12-03 18:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | tuple[str, ...] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREATE = r"""
CREATE FUNCTION levier_set_local(setting text, value text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  -- The name is spliced into the statement: only plain (optionally dotted) setting names.
  IF setting !~ '^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$' THEN
    RAISE EXCEPTION 'levier_set_local: invalid setting name %', setting
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  EXECUTE format('SET LOCAL %s = %L', setting, value);
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION levier_set_local(text, text)")
