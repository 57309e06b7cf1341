-- Runs in a sync's staging database: raw_* (text as Litmos sent it) -> typed litmos_*
-- tables -> C1's model (c1_*). A record Litmos listed twice is kept once, as first seen
-- (lowest _seq): a GROUP BY, which spills to disk under a memory limit, where a window
-- function over 2M rows did not (measured at 96MB). Column sets of c1_* are the c1z writer's contract.
-- Id formats mirror litmos_pipeline/c1/ids.py (the c1_* macros are defined from there), and
-- the user display name is c1/messages.py's rule (c1_user_display_name, defined there).
-- Which raw and typed tables exist, the resource types and the entitlement slugs come
-- from litmos_pipeline/catalog/; each typed table is the block named after it.

-- name: macros
CREATE OR REPLACE TEMP MACRO litmos_bool(s) AS lower(trim(s)) IN ('true', '1', 'yes');
CREATE OR REPLACE TEMP MACRO litmos_ts(s) AS CASE
    WHEN s IS NULL OR trim(s) = '' THEN NULL
    WHEN s LIKE '/Date(%' THEN make_timestamp(
        TRY_CAST(regexp_extract(s, '/Date\((-?\d+)', 1) AS BIGINT) * 1000)
    ELSE TRY_CAST(TRY_CAST(s AS TIMESTAMPTZ) AS TIMESTAMP)
END;
CREATE OR REPLACE TEMP MACRO nonblank(s) AS nullif(trim(s), '');

-- name: login_tables
-- What a sync read of sign-ins (warehouse/logins.py), empty when it read none.
CREATE TABLE IF NOT EXISTS raw_delta_logins (_seq BIGINT, id VARCHAR, last_login VARCHAR);
CREATE TABLE IF NOT EXISTS known_logins (id VARCHAR, last_login TIMESTAMP);

-- name: litmos_users
-- The user list has no LastLogin: a user's is the newest of the record's own, the sign-ins
-- of the look-back (raw_delta_logins) and what the previous snapshot knew (known_logins).
CREATE OR REPLACE TABLE litmos_users AS
WITH logins AS (
    SELECT id, max(signed_in) AS signed_in FROM (
        SELECT id, litmos_ts(last_login) AS signed_in FROM raw_delta_logins
        UNION ALL SELECT id, last_login FROM known_logins
    ) GROUP BY id
)
SELECT u.id, u.user_name, nonblank(u.first_name) AS first_name,
       nonblank(u.last_name) AS last_name, nonblank(u.email) AS email,
       litmos_bool(u.active) AS active, u.access_level, u.brand,
       greatest(litmos_ts(u.last_login), l.signed_in) AS last_login,
       litmos_ts(u.created_date) AS created_date
FROM raw_users u LEFT JOIN logins l ON l.id = u.id
WHERE u._seq IN (SELECT min(_seq) FROM raw_users GROUP BY id)
ORDER BY u._seq;

-- name: litmos_teams
CREATE OR REPLACE TABLE litmos_teams AS
SELECT id, name, nonblank(parent_team_id) AS parent_team_id, team_code, description
FROM raw_teams
WHERE _seq IN (SELECT min(_seq) FROM raw_teams GROUP BY id);

-- name: litmos_courses
CREATE OR REPLACE TABLE litmos_courses AS
SELECT id, code, name, litmos_bool(active) AS active, description
FROM raw_courses
WHERE _seq IN (SELECT min(_seq) FROM raw_courses GROUP BY id);

-- name: litmos_modules
-- A module id is kept once, under the first course that listed it: it is one C1 resource.
CREATE OR REPLACE TABLE litmos_modules AS
SELECT id, course_id, nonblank(code) AS code, name, nonblank(description) AS description
FROM raw_modules
WHERE _seq IN (SELECT min(_seq) FROM raw_modules GROUP BY id);

-- name: litmos_learning_paths
CREATE OR REPLACE TABLE litmos_learning_paths AS
SELECT id, name, nonblank(description) AS description, litmos_bool(active) AS active
FROM raw_learning_paths
WHERE _seq IN (SELECT min(_seq) FROM raw_learning_paths GROUP BY id);

-- name: litmos_team_members
CREATE OR REPLACE TABLE litmos_team_members AS
SELECT team_id, role, user_id, user_name, first_name, last_name
FROM raw_team_members
WHERE _seq IN (SELECT min(_seq) FROM raw_team_members GROUP BY team_id, role, user_id);

-- name: litmos_course_enrollments
CREATE OR REPLACE TABLE litmos_course_enrollments AS
SELECT course_id, user_id, user_name, litmos_bool(completed) AS completed,
       TRY_CAST(percentage_complete AS DOUBLE) AS percentage_complete,
       litmos_ts(compliant_till) AS compliant_till, litmos_ts(due_date) AS due_date,
       litmos_ts(access_till_date) AS access_till_date
FROM raw_course_enrollments
WHERE _seq IN (SELECT min(_seq) FROM raw_course_enrollments GROUP BY course_id, user_id);

-- name: litmos_learning_path_users
CREATE OR REPLACE TABLE litmos_learning_path_users AS
SELECT learning_path_id, user_id, user_name
FROM raw_learning_path_users
WHERE _seq IN (SELECT min(_seq) FROM raw_learning_path_users
               GROUP BY learning_path_id, user_id);

-- name: c1_resource_types
-- From the catalog (litmos_pipeline/catalog/, staged by snapshot.stage_catalog).
CREATE OR REPLACE TABLE c1_resource_types AS
SELECT resource_type_id, display_name, traits, description FROM catalog_resource_types;

-- name: c1_resources
CREATE OR REPLACE TABLE c1_resources AS
SELECT 'user' AS resource_type_id, id AS resource_id, c1_resource_key('user', id) AS external_id,
       NULL::VARCHAR AS parent_resource_type_id, NULL::VARCHAR AS parent_resource_id,
       c1_user_display_name(first_name, last_name, user_name, id) AS display_name,
       NULL::VARCHAR AS description, 'user' AS trait,
       CASE WHEN active THEN 1 ELSE 2 END AS user_status,
       user_name AS user_login, email AS user_email,
       first_name AS user_given_name, last_name AS user_family_name,
       last_login AS user_last_login, created_date AS user_created_at,
       json_object('user_id', id, 'username', user_name, 'first_name', first_name,
                   'last_name', last_name, 'email', email, 'access_level', access_level,
                   'brand', brand, 'active', active)::VARCHAR AS profile
FROM litmos_users
UNION ALL
SELECT 'team', t.id, c1_resource_key('team', t.id),
       CASE WHEN p.id IS NOT NULL THEN 'team' END, p.id,
       coalesce(nonblank(t.name), t.id), nonblank(t.description), 'group',
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       json_object('team_id', t.id, 'name', t.name, 'team_code', t.team_code,
                   'parent_team_id', t.parent_team_id)::VARCHAR
FROM litmos_teams t LEFT JOIN litmos_teams p ON p.id = t.parent_team_id
UNION ALL
SELECT 'course', id, c1_resource_key('course', id), NULL, NULL,
       coalesce(nonblank(name), id), nonblank(description), NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       json_object('course_id', id, 'code', code, 'name', name, 'active', active)::VARCHAR
FROM litmos_courses
UNION ALL
-- Modules (LITMOS_SYNC_MODULES) under their course; none of a course not synced.
SELECT 'module', m.id, c1_resource_key('module', m.id), 'course', m.course_id,
       coalesce(nonblank(m.name), m.code, m.id), m.description, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       json_object('module_id', m.id, 'course_id', m.course_id, 'code', m.code,
                   'name', m.name)::VARCHAR
FROM litmos_modules m SEMI JOIN litmos_courses c ON c.id = m.course_id
UNION ALL
SELECT 'learning_path', id, c1_resource_key('learning_path', id), NULL, NULL,
       coalesce(nonblank(name), id), description, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       json_object('learning_path_id', id, 'name', name, 'active', active)::VARCHAR
FROM litmos_learning_paths;

-- name: c1_entitlements
CREATE OR REPLACE TABLE c1_entitlements AS
-- Slugs, names, purpose and grantable-to come from the catalog (snapshot.stage_catalog).
WITH slugs AS (FROM catalog_entitlements),
targets AS (
    SELECT 'team' AS resource_type_id, id, name FROM litmos_teams
    UNION ALL SELECT 'course', id, name FROM litmos_courses
    UNION ALL SELECT 'learning_path', id, name FROM litmos_learning_paths
)
SELECT c1_entitlement_id(t.resource_type_id, t.id, s.slug) AS entitlement_id,
       t.resource_type_id, t.id AS resource_id, s.slug,
       coalesce(nonblank(t.name), t.id) || ' ' || s.label AS display_name,
       s.verb || ' the Litmos ' || replace(t.resource_type_id, '_', ' ') || ' '
           || coalesce(nonblank(t.name), t.id) AS description,
       s.purpose, s.grantable_to
FROM targets t JOIN slugs s USING (resource_type_id)
WHERE NOT s.roles_only OR getvariable('sync_team_roles');

-- name: c1_grants
CREATE OR REPLACE TABLE c1_grants AS
WITH memberships AS (
    SELECT 'team' AS resource_type_id, m.team_id AS resource_id, m.role AS slug, m.user_id
    FROM litmos_team_members m SEMI JOIN litmos_teams t ON t.id = m.team_id
    WHERE m.role = 'member' OR getvariable('sync_team_roles')
    UNION ALL
    SELECT 'course', e.course_id, 'assigned', e.user_id
    FROM litmos_course_enrollments e SEMI JOIN litmos_courses c ON c.id = e.course_id
    UNION ALL
    SELECT 'course', e.course_id, CASE WHEN e.completed THEN 'completed' ELSE 'in_progress' END,
           e.user_id
    FROM litmos_course_enrollments e SEMI JOIN litmos_courses c ON c.id = e.course_id
    UNION ALL
    SELECT 'learning_path', a.learning_path_id, 'assigned', a.user_id
    FROM litmos_learning_path_users a SEMI JOIN litmos_learning_paths p
        ON p.id = a.learning_path_id
)
SELECT c1_grant_id(c1_entitlement_id(m.resource_type_id, m.resource_id, m.slug), 'user',
                   m.user_id) AS grant_id,
       c1_entitlement_id(m.resource_type_id, m.resource_id, m.slug) AS entitlement_id,
       m.resource_type_id, m.resource_id, 'user' AS principal_type_id,
       m.user_id AS principal_id
FROM memberships m SEMI JOIN litmos_users u ON u.id = m.user_id;

-- name: skipped_principals
SELECT count(*) FROM (
    SELECT user_id FROM litmos_team_members
    UNION ALL SELECT user_id FROM litmos_course_enrollments
    UNION ALL SELECT user_id FROM litmos_learning_path_users
) m ANTI JOIN litmos_users u ON u.id = m.user_id;
