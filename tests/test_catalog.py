"""The catalog of resource types is the one declaration the sync, the transform, Hello and
provisioning read: each entry is complete, and the transform publishes exactly it."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from litmos_pipeline import catalog
from litmos_pipeline.c1.client import default_connector_metadata
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.settings import LitmosSettings
from litmos_pipeline.warehouse import snapshot, store
from tests.warehouse.test_transform import stage


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("rt", catalog.CATALOG, ids=lambda rt: rt.id)
def test_every_entry_names_its_lists_tables_and_verbs(rt: catalog.ResourceType) -> None:
    assert rt.records.fields[0] == (catalog.ID_FIELD, "id")
    if rt.parent is None:
        assert rt.list_path.startswith("/") and not _fields(rt.list_path)
        assert _fields(rt.one_path) == {"id"} and _fields(rt.one_what) == {"id"}
    else:  # read through one of its parent type's lists
        assert not rt.list_path and not rt.entitlements
        assert rt.records in catalog.child_specs(catalog.BY_ID[rt.parent])
    for listing in rt.children:
        assert _fields(listing.path) == {"id"} and _fields(listing.what) == {"id"}
        # The extract fills `<type>_id` with the parent's id, the listing the rest.
        assert listing.records.context == (f"{rt.id}_id", *listing.context)
        assert listing.option is None or listing.option in LitmosSettings.model_fields
        assert listing.records.fields[0][0] == catalog.ID_FIELD
    for spec in (rt.records, *catalog.child_specs(rt)):
        assert spec.table.startswith("raw_") and spec.description
        assert f"FROM {spec.table}" in spec.preview
        assert spec.typed in store.named_sql("transform.sql")  # its typed table's block
    for entitlement in rt.entitlements:
        assert entitlement.grantable_to == ("user",)
        if entitlement.state:
            assert entitlement.grant is None and entitlement.revoke is None
        if entitlement.grant or entitlement.revoke:
            assert entitlement.provisionable and entitlement.holds is not None
            for verb in (entitlement.grant, entitlement.revoke):
                assert verb is not None and _fields(verb.describe) <= {"resource", "user", "msg"}


def test_tables_follow_the_catalog_order() -> None:
    assert catalog.RAW_TABLES == ("raw_users", "raw_teams", "raw_courses", "raw_modules",
                                  "raw_learning_paths", "raw_team_members",
                                  "raw_course_enrollments", "raw_learning_path_users")
    assert snapshot.TYPED_TABLES == tuple(t.replace("raw_", "litmos_")
                                          for t in catalog.RAW_TABLES)


def _catalog_slugs(*, team_roles: bool) -> set[tuple[str, str, int, tuple[str, ...]]]:
    return {(rt.id, e.slug, int(e.purpose), e.grantable_to) for rt in catalog.CATALOG
            for e in rt.entitlements if team_roles or not e.team_roles_only}


@pytest.mark.parametrize("team_roles", [True, False])
def test_transform_publishes_exactly_the_catalog(tmp_path: Path, team_roles: bool) -> None:
    path = tmp_path / "stage.duckdb"
    stage(path)
    with store.opened(path) as con:
        snapshot.build_model(con, sync_team_roles=team_roles)
        types = con.execute("SELECT resource_type_id, display_name, traits, description "
                            "FROM c1_resource_types").fetchall()
        slugs = {(t, s, p, tuple(g)) for t, s, p, g in con.execute(
            "SELECT DISTINCT resource_type_id, slug, purpose, grantable_to "
            "FROM c1_entitlements").fetchall()}
        resource_types = {r[0] for r in con.execute(
            "SELECT DISTINCT resource_type_id FROM c1_resources").fetchall()}
        granted = {(t, s) for t, s in con.execute(
            "SELECT DISTINCT g.resource_type_id, e.slug FROM c1_grants g "
            "JOIN c1_entitlements e USING (entitlement_id)").fetchall()}
    assert types == [(rt.id, rt.display_name, list(rt.traits), rt.description)
                     for rt in catalog.CATALOG]
    assert slugs == _catalog_slugs(team_roles=team_roles)
    assert resource_types == set(catalog.BY_ID)
    assert granted <= {(t, s) for t, s, _, _ in slugs}


def test_hello_announces_the_catalog() -> None:
    caps = default_connector_metadata().capabilities.resource_type_capabilities
    # Sorted by id, as the SDK sends them.
    assert [(c.resource_type.id, c.resource_type.display_name, list(c.resource_type.traits))
            for c in caps] == sorted((rt.id, rt.display_name, list(rt.traits))
                                     for rt in catalog.CATALOG)
    provisioned = {c.resource_type.id for c in caps if v2.CAPABILITY_PROVISION in c.capabilities}
    assert provisioned == {rt.id for rt in catalog.CATALOG if rt.provisionable} \
        == {"team", "course", "learning_path"}


def test_entitlement_patterns_name_every_slug() -> None:
    assert catalog.entitlement_patterns() == (
        "team:<id>:member|leader|admin, course:<id>:assigned|completed|in_progress, "
        "learning_path:<id>:assigned")


def test_new_types_reach_the_c1z(tmp_path: Path) -> None:
    """Modules under their course, and learning paths with their assignment entitlement
    and grant, as C1 reads them from the c1z of the golden stage."""
    from litmos_pipeline.c1 import c1z
    from litmos_pipeline.warehouse.c1z_source import write_c1z
    from tests.c1.test_c1z import ENDED, STARTED, SYNC_ID

    path = tmp_path / "stage.duckdb"
    stage(path)
    with store.opened(path) as con:
        snapshot.build_model(con, sync_team_roles=True)
        summary = write_c1z(tmp_path / "sync.c1z", con, SYNC_ID, STARTED, ENDED)
    with c1z.read_c1z(summary.path) as contents:
        resources = dict(contents.resources())
        entitlements = dict(contents.entitlements())
        grants = dict(contents.grants())
    module = resources["module:m1"]
    assert (module.parent_resource_id.resource_type, module.parent_resource_id.resource) == (
        "course", "c1")
    assert resources["learning_path:lp1"].display_name == "Onboarding"
    assigned = entitlements["learning_path:lp1:assigned"]
    assert assigned.purpose == v2.Entitlement.PURPOSE_VALUE_ASSIGNMENT
    assert [t.id for t in assigned.grantable_to] == ["user"]
    assert assigned.display_name == "Onboarding Assigned"
    assert assigned.description == "Assigned to the Litmos learning path Onboarding"
    grant = grants["learning_path:lp1:assigned:user:u2"]
    assert grant.principal.id.resource == "u2"
    assert not any(e.startswith("module:") for e in entitlements)
