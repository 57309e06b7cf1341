-- The access risks a reviewer wants flagged, over the current snapshot and its history in
-- the main file (defs/risks.py). Each row names its risk, its reason in words, and the
-- user and resource concerned; risk_key identifies it across snapshots, so a risk is
-- "new" the first time a snapshot shows it.

-- name: schema
CREATE TABLE IF NOT EXISTS access_risk_history (
    risk_key VARCHAR PRIMARY KEY, first_seen_sync_id VARCHAR, first_seen_at TIMESTAMP);

-- name: access_risks
CREATE OR REPLACE TABLE access_risks AS
WITH users AS (
    SELECT resource_id AS user_id, display_name AS user_name, user_login, user_status,
           user_last_login
    FROM c1_resources WHERE resource_type_id = 'user'
),
-- Access, not status: course completion and progress are states Litmos sets.
access AS (
    SELECT g.*, e.display_name AS entitlement_name FROM c1_grants g
    JOIN c1_entitlements e USING (entitlement_id)
    WHERE e.slug NOT IN ('completed', 'in_progress')
),
disabled AS (
    SELECT 'disabled_user_holds_access' AS risk, u.user_id, u.user_name, u.user_login,
           NULL AS resource_type_id, NULL AS resource_id, NULL AS resource_name,
           'inactive in Litmos, still holds ' || count(*) || ' grant(s): '
               || string_agg(a.entitlement_name, ', ' ORDER BY a.entitlement_name)
               AS reason
    FROM access a JOIN users u ON u.user_id = a.principal_id
    WHERE u.user_status = 2
    GROUP BY ALL
),
-- Only once last logins are synced (a snapshot with none says nothing about anyone).
idle_roles AS (
    SELECT 'team_role_without_recent_login', u.user_id, u.user_name, u.user_login,
           'team', a.resource_id, r.display_name,
           CASE WHEN u.user_last_login IS NULL THEN 'no sign-in seen yet'
                ELSE 'last logged in ' || strftime(u.user_last_login, '%Y-%m-%d') END
               || ', holds ' || a.entitlement_name
    FROM access a JOIN users u ON u.user_id = a.principal_id
    JOIN c1_resources r ON r.resource_type_id = 'team' AND r.resource_id = a.resource_id
    JOIN c1_entitlements e ON e.entitlement_id = a.entitlement_id
    WHERE e.slug IN ('leader', 'admin')
        AND (SELECT count(user_last_login) FROM users) > 0
        AND (u.user_last_login IS NULL
             OR u.user_last_login < $now - to_days(CAST($idle_days AS INTEGER)))
),
inactive_courses AS (
    SELECT 'inactive_course_with_learners', NULL, NULL, NULL, 'course', r.resource_id,
           r.display_name, 'inactive in Litmos, ' || count(*) || ' learner(s) assigned'
    FROM access a JOIN c1_resources r ON r.resource_type_id = 'course'
        AND r.resource_id = a.resource_id
    WHERE a.resource_type_id = 'course' AND NOT coalesce(
        TRY_CAST(json_extract_string(r.profile, '$.active') AS BOOLEAN), true)
    GROUP BY ALL
),
-- Granted in Litmos, not through C1: the grant's newest change came from a sync or a
-- refresh (not provisioning), after the first snapshot (the baseline records no changes).
outside_c1 AS (
    SELECT 'granted_outside_c1', u.user_id, u.user_name, u.user_login, a.resource_type_id,
           a.resource_id, r.display_name,
           a.entitlement_name || ' appeared in Litmos ' || strftime(c.changed_at, '%Y-%m-%d %H:%M')
               || ' UTC without a C1 request'
    FROM access a
    JOIN (SELECT grant_id, source, change, changed_at FROM grant_changes
          QUALIFY row_number() OVER (PARTITION BY grant_id ORDER BY changed_at DESC) = 1) c
        ON c.grant_id = a.grant_id
    JOIN users u ON u.user_id = a.principal_id
    LEFT JOIN c1_resources r ON r.resource_type_id = a.resource_type_id
        AND r.resource_id = a.resource_id
    WHERE c.change = 'added' AND c.source IN ('sync', 'refresh')
),
risks AS (
    FROM disabled UNION ALL FROM idle_roles UNION ALL FROM inactive_courses
    UNION ALL FROM outside_c1
)
SELECT risk, reason, user_id, user_name, user_login, resource_type_id, resource_id,
       resource_name,
       risk || ':' || coalesce(user_id, '') || ':' || coalesce(resource_type_id, '') || ':'
           || coalesce(resource_id, '') || CASE WHEN risk = 'granted_outside_c1'
           OR risk = 'team_role_without_recent_login' THEN ':' || md5(reason) ELSE '' END
           AS risk_key
FROM risks
ORDER BY risk, user_id, resource_id;

-- name: record_risks
-- First sightings: a risk that goes away and comes back counts as new again.
DELETE FROM access_risk_history WHERE risk_key NOT IN (SELECT risk_key FROM access_risks);
INSERT INTO access_risk_history
SELECT risk_key, $sync_id, $now FROM access_risks
WHERE risk_key NOT IN (SELECT risk_key FROM access_risk_history);

-- name: figures
SELECT r.risk, count(*) AS risks,
       count(*) FILTER (h.first_seen_sync_id = $sync_id) AS new_risks
FROM access_risks r JOIN access_risk_history h USING (risk_key)
GROUP BY r.risk ORDER BY r.risk;
