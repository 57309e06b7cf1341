-- A targeted (partial) sync's model, built in its own small staging file from the targets
-- read afresh (warehouse/targeted.py); the blocks run between transform.sql's.

-- name: id_only_rows
-- The SDK fetches no principals for a partial sync, nor a team's parent: the grants name
-- their users and a team its parent by id. Id-only rows let transform.sql's joins keep
-- them (a grant's principal must be a user row, a parent a team row); they are not
-- written, only the targets are (keep_targets). A parent id is taken as Litmos gave it.
INSERT INTO litmos_users (id)
SELECT DISTINCT user_id FROM (
    SELECT user_id FROM litmos_team_members
    UNION ALL SELECT user_id FROM litmos_course_enrollments
    UNION ALL SELECT user_id FROM litmos_learning_path_users
) m ANTI JOIN litmos_users u ON u.id = m.user_id;
INSERT INTO litmos_teams (id)
SELECT DISTINCT t.parent_team_id FROM litmos_teams t
WHERE nonblank(t.parent_team_id) IS NOT NULL
  AND t.parent_team_id NOT IN (SELECT id FROM litmos_teams);

-- name: keep_targets
-- Only the targets, their entitlements and their grants (the skip flags as C1 set them).
CREATE OR REPLACE TEMP TABLE targets AS
SELECT unnest($types::VARCHAR[]) AS resource_type_id, unnest($ids::VARCHAR[]) AS resource_id;
DELETE FROM c1_resources r WHERE NOT EXISTS (
    SELECT 1 FROM targets t
    WHERE t.resource_type_id = r.resource_type_id AND t.resource_id = r.resource_id);
DELETE FROM c1_entitlements e WHERE $skip_entitlements OR NOT EXISTS (
    SELECT 1 FROM targets t
    WHERE t.resource_type_id = e.resource_type_id AND t.resource_id = e.resource_id);
DELETE FROM c1_grants g WHERE $skip_grants OR NOT EXISTS (
    SELECT 1 FROM c1_entitlements e WHERE e.entitlement_id = g.entitlement_id);
SELECT (SELECT count(*) FROM c1_resources), (SELECT count(*) FROM c1_entitlements),
       (SELECT count(*) FROM c1_grants);
