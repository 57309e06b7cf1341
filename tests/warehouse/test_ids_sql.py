import duckdb

from litmos_pipeline.c1 import ids


def test_sql_macros_build_the_same_ids_as_python() -> None:
    con = duckdb.connect()
    for statement in ids.DUCKDB_MACROS:
        con.execute(statement)
    samples = [("team", "mVN_K4Q9yuQ1", "member", "user", "u-42"),
               ("course", "Zx9_é", "in_progress", "user", "ÅBC")]
    for rtype, rid, slug, ptype, pid in samples:
        ent = ids.entitlement_id(rtype, rid, slug)
        row = con.execute(
            "SELECT c1_resource_key(?, ?), c1_entitlement_id(?, ?, ?), "
            "c1_grant_id(c1_entitlement_id(?, ?, ?), ?, ?)",
            [rtype, rid, rtype, rid, slug, rtype, rid, slug, ptype, pid]).fetchone()
        assert row == (ids.resource_external_id(rtype, rid), ent, ids.grant_id(ent, ptype, pid))
    assert row[2] == "course:Zx9_é:in_progress:user:ÅBC"
