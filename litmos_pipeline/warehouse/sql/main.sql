-- The main warehouse file: the current snapshot (copied in by one swap per sync), the
-- sync log, grant history as changes, and the provisioning audit trail.

-- name: schema
CREATE TABLE IF NOT EXISTS sync_runs (
    sync_id VARCHAR PRIMARY KEY,
    run_id VARCHAR,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    previous_sync_id VARCHAR,
    users BIGINT, teams BIGINT, courses BIGINT,
    resources BIGINT, entitlements BIGINT, grants BIGINT,
    grants_added BIGINT, grants_removed BIGINT
);
-- A refresh (warehouse/refresh.py) is a snapshot too: its kind, and the delta window it read.
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS kind VARCHAR DEFAULT 'sync';
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS window_since TIMESTAMP;
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS window_to TIMESTAMP;
CREATE TABLE IF NOT EXISTS grant_changes (
    sync_id VARCHAR,            -- the sync that saw the change, or the one current at provisioning
    changed_at TIMESTAMP,
    change VARCHAR,             -- 'added' | 'removed'
    source VARCHAR,             -- 'sync' | 'refresh' | 'provisioning'
    task_id VARCHAR,
    grant_id VARCHAR, entitlement_id VARCHAR, resource_type_id VARCHAR, resource_id VARCHAR,
    principal_type_id VARCHAR, principal_id VARCHAR
);
CREATE TABLE IF NOT EXISTS provisioning_audit (
    task_id VARCHAR, task_kind VARCHAR, run_id VARCHAR,
    requested_at TIMESTAMP, finished_at TIMESTAMP,
    entitlement_id VARCHAR, principal_id VARCHAR, grant_id VARCHAR,
    outcome VARCHAR,            -- 'succeeded' | 'failed' | 'dry_run'
    retryable BOOLEAN, litmos_calls VARCHAR, message VARCHAR
);
CREATE TABLE IF NOT EXISTS c1_resource_types (
    resource_type_id VARCHAR, display_name VARCHAR, traits INTEGER[], description VARCHAR);
CREATE TABLE IF NOT EXISTS c1_resources (
    resource_type_id VARCHAR, resource_id VARCHAR, external_id VARCHAR,
    parent_resource_type_id VARCHAR, parent_resource_id VARCHAR, display_name VARCHAR,
    description VARCHAR, trait VARCHAR, user_status INTEGER, user_login VARCHAR,
    user_email VARCHAR, user_given_name VARCHAR, user_family_name VARCHAR,
    user_last_login TIMESTAMP, user_created_at TIMESTAMP, profile VARCHAR);
CREATE TABLE IF NOT EXISTS c1_entitlements (
    entitlement_id VARCHAR, resource_type_id VARCHAR, resource_id VARCHAR, slug VARCHAR,
    display_name VARCHAR, description VARCHAR, purpose INTEGER, grantable_to VARCHAR[]);
CREATE TABLE IF NOT EXISTS c1_grants (
    grant_id VARCHAR, entitlement_id VARCHAR, resource_type_id VARCHAR, resource_id VARCHAR,
    principal_type_id VARCHAR, principal_id VARCHAR);

-- name: provisioning_since
SELECT count(*) FROM grant_changes WHERE source = 'provisioning' AND changed_at >= $started_at;

-- name: overlay_provisioning
-- Provisioning that landed while this sync was reading Litmos may be missing from what it
-- read: replay it on the staged grants, so the swap never undoes a fresh grant or revoke.
DELETE FROM stage.c1_grants WHERE grant_id IN (
    SELECT grant_id FROM grant_changes
    WHERE source = 'provisioning' AND changed_at >= $started_at
    QUALIFY row_number() OVER (PARTITION BY grant_id ORDER BY changed_at DESC) = 1
        AND change = 'removed');
INSERT INTO stage.c1_grants
SELECT grant_id, entitlement_id, resource_type_id, resource_id, principal_type_id, principal_id
FROM grant_changes g
WHERE source = 'provisioning' AND changed_at >= $started_at
    AND g.entitlement_id IN (SELECT entitlement_id FROM stage.c1_entitlements)
    AND g.principal_id IN (SELECT resource_id FROM stage.c1_resources
                           WHERE resource_type_id = 'user')
    AND grant_id NOT IN (SELECT grant_id FROM stage.c1_grants)
QUALIFY row_number() OVER (PARTITION BY grant_id ORDER BY changed_at DESC) = 1
    AND change = 'added';

-- name: carried_provisioning
-- A refresh carries the learning-path assignments over from the snapshot (no delta query is
-- read for them): replay on them what provisioning did since the last full sync read
-- Litmos, or the refresh would undo a fresh grant or revoke until the next full sync.
CREATE OR REPLACE TEMP TABLE provisioned_paths AS
SELECT resource_id, principal_id, change FROM grant_changes
WHERE source = 'provisioning' AND resource_type_id = 'learning_path' AND changed_at >= (
    SELECT max(started_at) FROM sync_runs WHERE coalesce(kind, 'sync') = 'sync')
QUALIFY row_number() OVER (PARTITION BY grant_id ORDER BY changed_at DESC) = 1;
DELETE FROM stage.base_learning_path_users u WHERE EXISTS (
    SELECT 1 FROM provisioned_paths p WHERE p.change = 'removed'
        AND p.resource_id = u.learning_path_id AND p.principal_id = u.user_id);
INSERT INTO stage.base_learning_path_users (learning_path_id, user_id)
SELECT resource_id, principal_id FROM provisioned_paths p
WHERE p.change = 'added' AND NOT EXISTS (
    SELECT 1 FROM stage.base_learning_path_users u
    WHERE p.resource_id = u.learning_path_id AND p.principal_id = u.user_id);

-- name: record_changes
-- One full join finds both directions (two anti joins over millions of ids took twice as long).
INSERT INTO grant_changes
SELECT $sync_id, $now, CASE WHEN o.grant_id IS NULL THEN 'added' ELSE 'removed' END, $source,
       NULL, coalesce(n.grant_id, o.grant_id), coalesce(n.entitlement_id, o.entitlement_id),
       coalesce(n.resource_type_id, o.resource_type_id), coalesce(n.resource_id, o.resource_id),
       coalesce(n.principal_type_id, o.principal_type_id),
       coalesce(n.principal_id, o.principal_id)
FROM stage.c1_grants n FULL OUTER JOIN c1_grants o ON n.grant_id = o.grant_id
WHERE $has_previous AND (n.grant_id IS NULL OR o.grant_id IS NULL);

-- name: removal_guard
-- The mass-revocation guard's figures (warehouse/guard.py), in the swap's transaction
-- right after record_changes: the removed grants are the rows its full join just wrote,
-- so the guard adds no second join over millions of grant ids. The user ids are few.
SELECT (SELECT count(*) FROM c1_grants),
       (SELECT count(*) FROM stage.c1_grants),
       (SELECT count(*) FROM grant_changes
        WHERE sync_id = $sync_id AND source = $source AND change = 'removed'),
       (SELECT count(*) FROM c1_resources WHERE resource_type_id = 'user'),
       (SELECT count(*) FROM stage.c1_resources WHERE resource_type_id = 'user'),
       (SELECT count(*) FROM c1_resources o
        WHERE o.resource_type_id = 'user' AND o.resource_id NOT IN (
            SELECT resource_id FROM stage.c1_resources WHERE resource_type_id = 'user'));

-- name: replace_snapshot
CREATE OR REPLACE TABLE litmos_users AS FROM stage.litmos_users;
CREATE OR REPLACE TABLE litmos_teams AS FROM stage.litmos_teams;
CREATE OR REPLACE TABLE litmos_courses AS FROM stage.litmos_courses;
CREATE OR REPLACE TABLE litmos_modules AS FROM stage.litmos_modules;
CREATE OR REPLACE TABLE litmos_learning_paths AS FROM stage.litmos_learning_paths;
CREATE OR REPLACE TABLE litmos_team_members AS FROM stage.litmos_team_members;
CREATE OR REPLACE TABLE litmos_course_enrollments AS FROM stage.litmos_course_enrollments;
CREATE OR REPLACE TABLE litmos_learning_path_users AS FROM stage.litmos_learning_path_users;
CREATE OR REPLACE TABLE c1_resource_types AS FROM stage.c1_resource_types;
CREATE OR REPLACE TABLE c1_resources AS FROM stage.c1_resources;
CREATE OR REPLACE TABLE c1_entitlements AS FROM stage.c1_entitlements;
CREATE OR REPLACE TABLE c1_grants AS FROM stage.c1_grants;

-- name: record_sync
INSERT INTO sync_runs
SELECT $sync_id, $run_id, $started_at, $now, $previous_sync_id,
       (SELECT count(*) FROM litmos_users), (SELECT count(*) FROM litmos_teams),
       (SELECT count(*) FROM litmos_courses), (SELECT count(*) FROM c1_resources),
       (SELECT count(*) FROM c1_entitlements), (SELECT count(*) FROM c1_grants),
       (SELECT count(*) FROM grant_changes WHERE sync_id = $sync_id AND change = 'added'),
       (SELECT count(*) FROM grant_changes WHERE sync_id = $sync_id AND change = 'removed'),
       $kind, $window_since, $window_to;

-- name: apply_retention
-- History is kept for the last $keep full syncs and every snapshot since the oldest of
-- them: refreshes every 15 minutes would otherwise push the syncs' changes out in hours.
DELETE FROM grant_changes WHERE sync_id NOT IN (
    SELECT sync_id FROM sync_runs WHERE finished_at >= (
        SELECT min(finished_at) FROM (
            SELECT finished_at FROM sync_runs WHERE coalesce(kind, 'sync') = 'sync'
            ORDER BY finished_at DESC LIMIT $keep)));

-- name: access_changes
-- What an access reviewer wants first: grants added and removed by the newest sync, named.
CREATE OR REPLACE TABLE access_changes AS
SELECT g.change, g.changed_at, g.source, g.task_id, g.grant_id,
       g.entitlement_id, e.display_name AS entitlement_name,
       g.resource_type_id, g.resource_id, r.display_name AS resource_name,
       g.principal_id AS user_id, u.display_name AS user_name, u.user_login, g.sync_id
FROM grant_changes g
LEFT JOIN c1_entitlements e USING (entitlement_id)
LEFT JOIN c1_resources r ON r.resource_type_id = g.resource_type_id
    AND r.resource_id = g.resource_id
LEFT JOIN c1_resources u ON u.resource_type_id = 'user' AND u.resource_id = g.principal_id
WHERE g.sync_id = (SELECT sync_id FROM sync_runs ORDER BY finished_at DESC LIMIT 1)
ORDER BY g.change, g.resource_type_id, g.resource_id, g.principal_id;
