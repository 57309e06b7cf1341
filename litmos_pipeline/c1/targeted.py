"""A targeted (partial) sync task: which resources C1 wants read again, and what to skip.

C1 sends a `sync_full` task naming resources (`targeted_sync_resources`) after a change
to them, to connectors that advertise targeted sync. The SDK (addendum section 7) then
reads just those, each with its entitlements and grants, into a c1z of sync type
`partial`. `sync_resource_type_ids` filters the targets, and duplicates are dropped.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from litmos_pipeline import catalog
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.litmos.ids import check_id


@dataclass(frozen=True)
class TargetedSync:
    """The resources of a targeted sync task, by type, in the task's order."""

    targets: tuple[tuple[str, str], ...]  # (resource type id, Litmos id)
    skipped: tuple[str, ...]  # targets no type of ours can read alone, as C1 named them
    skip_entitlements_and_grants: bool
    skip_grants: bool

    def ids(self, type_id: str) -> list[str]:
        return [rid for t, rid in self.targets if t == type_id]

    @property
    def type_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for t, _ in self.targets))

    def within(self, type_id: str, allowed: Collection[str]) -> TargetedSync:
        """Targets of `type_id` outside `allowed` (a sync filter such as LITMOS_COURSE_IDS)
        skipped: a partial sync must not publish what the full sync leaves out."""
        if not allowed:
            return self
        keep = tuple(t for t in self.targets if t[0] != type_id or t[1] in allowed)
        dropped = tuple(f"{t}:{i}" for t, i in self.targets if (t, i) not in keep)
        return replace(self, targets=keep, skipped=self.skipped + dropped)


def is_targeted(task: baton.Task) -> bool:
    return task.WhichOneof("task_type") == "sync_full" and bool(
        task.sync_full.targeted_sync_resources)


def targeted_sync(task: baton.Task) -> TargetedSync:
    """The task's targets; ids are held to the Litmos id rule (they go into URL paths).

    A target of a type we cannot read alone (a module) or do not know is skipped, as the
    SDK skips a resource whose Get answers NotFound or Unimplemented.
    """
    sync = task.sync_full
    wanted_types = set(sync.sync_resource_type_ids)
    targets: dict[tuple[str, str], None] = {}
    skipped = []
    for resource in sync.targeted_sync_resources:
        type_id, rid = resource.id.resource_type, resource.id.resource
        if wanted_types and type_id not in wanted_types:
            continue
        rt = catalog.resource_type(type_id)
        if rt is None or not rt.targetable:
            skipped.append(f"{type_id}:{rid}")
            continue
        targets[(type_id, check_id(rid, f"{type_id} id"))] = None
    return TargetedSync(tuple(targets), tuple(skipped),
                        sync.skip_entitlements_and_grants, sync.skip_grants)
