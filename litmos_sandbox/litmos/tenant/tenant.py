"""A deterministic, synthetic Litmos tenant: users, teams, courses and enrollments.

The tenant is the state behind the Litmos sandbox server. It is generated from a
``TenantSpec`` (same spec, same seed -> the same tenant, byte for byte through the
API) and is mutable through the write methods, which the server's write endpoints
call. All public methods take the tenant's lock, so the object is safe to share
between server threads and a test that inspects it.

``Tenant`` is assembled from its parts: the store (``store.py``), generation,
object reads, API rows and pages, the delta queries (``history.py``, over the change
log of ``changes.py``), user/enrollment writes, team writes and random
changes (``mutate.py``), learning paths (``learning_paths.py``), one module each.
"""

from __future__ import annotations

from dataclasses import fields

from litmos_sandbox.litmos.tenant.generate import GeneratorMixin
from litmos_sandbox.litmos.tenant.history import HistoryMixin
from litmos_sandbox.litmos.tenant.learning_paths import LearningPathsMixin
from litmos_sandbox.litmos.tenant.model import Enrollment
from litmos_sandbox.litmos.tenant.mutate import MutateMixin
from litmos_sandbox.litmos.tenant.reads import ReadsMixin
from litmos_sandbox.litmos.tenant.rows import RowsMixin


class Tenant(GeneratorMixin, ReadsMixin, HistoryMixin, RowsMixin, LearningPathsMixin,
             MutateMixin):
    """The whole tenant. Build with ``Tenant.generate(spec)``."""


def enrollment_fields() -> tuple[str, ...]:
    """Attribute names of ``Enrollment`` (for tests that tabulate them)."""
    return tuple(f.name for f in fields(Enrollment))
