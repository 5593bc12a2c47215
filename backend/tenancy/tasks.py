"""Background work of the tenancy domain."""

from __future__ import annotations

from backend.core.jobs import TaskContext, task
from backend.tenancy import service


@task(service.PROVISION_BRAND_TASK)
async def provision_brand(ctx: TaskContext) -> None:
    """Create a new brand's default settings and mark it active."""
    assert ctx.tenant is not None
    await service.provision_brand(ctx.session, ctx.tenant)
