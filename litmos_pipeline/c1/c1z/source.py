"""What the c1z writer reads: a C1 model's records, in key order (`C1zSource`).

The writer knows no database: the warehouse implements this protocol over its c1_*
tables (litmos_pipeline.warehouse.c1z_source) and hands it to `write_c1z`. Small records
come as rows of Python values; grants, millions of them, come as Arrow streams whose
``data`` column the source has already laid out (see `GRANT_FIELDS`), so no Python object
is made per grant on either side.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from litmos_pipeline.c1.c1z.errors import C1zInputError

# The record kinds, as `C1zSource.check` counts them and `C1zSummary.counts` reports them.
RECORD_KINDS = ("resource_types", "resources", "entitlements", "grants")

# A grant's ``data`` is the deterministic encoding of c1.connector.v2.Grant, which a source
# assembles from the entitlement's pre-encoded field 1 (`encoding.grant_entitlement_field`)
# and length-delimited fields (tag byte, varint length, bytes), nested as below:
#   Grant:      entitlement_field || principal(0x12) || id(0x1A, grant_id)
#   principal:  Resource { id(0x0A, resource_id) }
#   resource_id: ResourceId { resource_type(0x0A, principal_type_id), resource(0x12, principal_id) }
# Tests hold the result byte-for-byte to `encoding.grant_message(...).SerializeToString`.
GRANT_FIELDS = {"principal": 0x12, "id": 0x1A, "resource.id": 0x0A,
                "resource_id.resource_type": 0x0A, "resource_id.resource": 0x12}
# The columns of every grant stream, named as in v1_grants (appended by column name).
GRANT_STREAM_COLUMNS = ("resource_type_id", "resource_id", "entitlement_id",
                        "principal_resource_type_id", "principal_resource_id", "external_id",
                        "data", "sync_id", "discovered_at")

ResourceTypeRow = tuple[str, str | None, Sequence[int] | None, str | None]
# entitlement_id, resource_type_id, resource_id, the resource's display name, slug,
# display_name, description, purpose, grantable_to (resource type ids)
EntitlementRow = tuple[str, str, str, str | None, str, str | None, str | None, int | None,
                       Sequence[str] | None]


class C1zSource(Protocol):
    """A C1 model the writer can read. Every method may raise C1zInputError."""

    def check(self) -> dict[str, int]:
        """Validate the input (ids present, well formed, grants' entitlements known);
        return the rows of each kind in `RECORD_KINDS`, to check what was written."""
        ...

    def resource_types(self) -> list[ResourceTypeRow]:
        """Every resource type, sorted by id."""
        ...

    def entitlements(self) -> Iterator[Sequence[EntitlementRow]]:
        """Batches of entitlements, sorted by entitlement id."""
        ...

    def resources(self) -> Iterator[Sequence[tuple[Any, ...]]]:
        """Batches of resources (`encoding.RESOURCE_COLUMNS` order), sorted by external id."""
        ...

    def grant_streams(self, entitlement_ids: list[str], entitlement_fields: list[bytes],
                      sync_id: str, discovered_at: str) -> Iterator[object]:
        """Arrow C streams (the PyCapsule interface) of every grant, in grant id order, with
        `GRANT_STREAM_COLUMNS`. A generator: the writer appends each stream whole before it
        asks for the next, and closes it when done or failed."""
        ...

    def low_memory(self) -> AbstractContextManager[None]:
        """While held, the big reads are over: the source gives back what it can."""
        ...

    def duplicate_error(self, table: str) -> C1zInputError:
        """An error naming a duplicate key behind a failed UNIQUE index on `table`."""
        ...

