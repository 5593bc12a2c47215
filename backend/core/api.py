"""The REST edge every brand route shares: one base controller and the documented errors.

A controller under ``/v1/brands/{brand_id}`` inherits :class:`BrandController`: the brand guard
(404 for a brand out of reach, then 403 for a role or scope that falls short), the ``tenant``
dependency, and the problem responses a route declares with ``READ_ERRORS``/``WRITE_ERRORS``.
Every 422 has one shape (``errors: [{field, pointer, message}]``), answered app-wide.
"""

from __future__ import annotations

from litestar import Controller
from litestar.di import Provide

from backend.auth.guards import brand_guard
from backend.core.dependencies import provide_tenant
from backend.core.errors import problem_responses

READ_ERRORS = problem_responses(401, 403, 404, 422)
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 422)
# Routes naming a profile answer 308 to the survivor when it was merged.
PROFILE_READ_ERRORS = {**READ_ERRORS, **problem_responses(308)}
PROFILE_WRITE_ERRORS = {**WRITE_ERRORS, **problem_responses(308)}


class BrandController(Controller):
    """Routes of one brand: guarded, with the brand as the ``tenant`` dependency."""

    guards = [brand_guard]
    dependencies = {"tenant": Provide(provide_tenant, sync_to_thread=False)}
