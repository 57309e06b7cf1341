-- Runs in a refresh's staging database: the current snapshot's typed tables (copied in
-- as base_*) and the delta queries' answers (raw_delta_*, catalog/delta.py) -> the typed
-- litmos_* tables a full sync of the same Litmos state would build. transform.sql's
-- c1_* blocks then run over them exactly as in a sync.
--
-- A delta record says how its record is now. Several records of one key (a record
-- changed twice, or seen again in the overlap) -> the newest UpdatedDate, then the last read.
-- Fields a delta shape lacks (a team's Description, a user's list-only fields) keep the
-- snapshot's value; a field a record leaves empty keeps it too (nothing documents
-- whether an empty field means "cleared" or "not sent").

-- name: delta_latest
CREATE OR REPLACE TEMP TABLE d_users AS FROM raw_delta_users
QUALIFY row_number() OVER (PARTITION BY id ORDER BY litmos_ts(updated_date) DESC NULLS LAST,
                                                    _seq DESC) = 1;
CREATE OR REPLACE TEMP TABLE d_teams AS FROM raw_delta_teams
QUALIFY row_number() OVER (PARTITION BY id ORDER BY litmos_ts(updated_date) DESC NULLS LAST,
                                                    _seq DESC) = 1;
CREATE OR REPLACE TEMP TABLE d_courses AS FROM raw_delta_courses
WHERE len($course_ids) = 0 OR list_contains($course_ids, id)
QUALIFY row_number() OVER (PARTITION BY id ORDER BY litmos_ts(updated_date) DESC NULLS LAST,
                                                    _seq DESC) = 1;
CREATE OR REPLACE TEMP TABLE d_team_users AS FROM raw_delta_team_users
QUALIFY row_number() OVER (PARTITION BY team_id, user_id
                           ORDER BY litmos_ts(updated_date) DESC NULLS LAST, _seq DESC) = 1;
CREATE OR REPLACE TEMP TABLE d_user_courses AS FROM raw_delta_user_courses
QUALIFY row_number() OVER (PARTITION BY course_id, user_id
                           ORDER BY litmos_ts(updated_date) DESC NULLS LAST, _seq DESC) = 1;
CREATE OR REPLACE TEMP TABLE d_logins AS
SELECT id, max(litmos_ts(last_login)) AS last_login FROM raw_delta_logins GROUP BY id;
CREATE OR REPLACE TEMP TABLE d_results AS FROM raw_delta_results
QUALIFY row_number() OVER (PARTITION BY course_id, user_id
                           ORDER BY litmos_ts(updated_date) DESC NULLS LAST, _seq DESC) = 1;

-- name: litmos_users
-- The user list carries neither LastLogin nor CreatedDate: they keep the snapshot's values
-- (a full sync reads the same list), so a refresh and a sync agree; a sign-in in the
-- window (d_logins) moves LastLogin on, as a sync's look-back would.
CREATE OR REPLACE TABLE litmos_users AS
WITH merged AS (
    SELECT b.* FROM base_users b ANTI JOIN d_users USING (id)
    UNION ALL
    SELECT d.id, coalesce(nonblank(d.user_name), b.user_name),
           coalesce(nonblank(d.first_name), b.first_name),
           coalesce(nonblank(d.last_name), b.last_name), coalesce(nonblank(d.email), b.email),
           coalesce(litmos_bool(d.active), b.active),
           coalesce(nonblank(d.access_level), b.access_level),
           coalesce(nonblank(d.brand), b.brand), b.last_login, b.created_date
    FROM d_users d LEFT JOIN base_users b USING (id)
)
SELECT m.* REPLACE (greatest(m.last_login, l.last_login) AS last_login)
FROM merged m LEFT JOIN d_logins l USING (id);

-- name: litmos_teams
-- A team record with Active=false is a deleted team: the team list no longer has it.
CREATE OR REPLACE TABLE litmos_teams AS
SELECT b.* FROM base_teams b ANTI JOIN d_teams USING (id)
UNION ALL
SELECT d.id, coalesce(nonblank(d.name), b.name), nonblank(d.parent_team_id),
       coalesce(nonblank(d.team_code), b.team_code), b.description
FROM d_teams d LEFT JOIN base_teams b USING (id)
WHERE coalesce(litmos_bool(d.active), true);

-- name: litmos_courses
-- Active is a course's attribute (the course list holds inactive courses too), not a
-- removal; a deleted course is seen by the next full sync.
CREATE OR REPLACE TABLE litmos_courses AS
SELECT b.* FROM base_courses b ANTI JOIN d_courses USING (id)
UNION ALL
SELECT d.id, coalesce(nonblank(d.code), b.code), coalesce(nonblank(d.name), b.name),
       coalesce(litmos_bool(d.active), b.active), coalesce(nonblank(d.description), b.description)
FROM d_courses d LEFT JOIN base_courses b USING (id)
WHERE b.id IS NOT NULL OR len($course_ids) = 0;

-- name: litmos_team_members
-- A team assignment record gives the pair's roles now: Active = a member, IsTeamLeader,
-- IsTeamAdmin. Litmos' member list (GET /teams/{id}/users) holds active users only, so a
-- user deactivated in the window leaves the member lists, as a sync would see it.
-- Only the roles this deployment syncs ($roles, LITMOS_SYNC_TEAM_ROLES) are kept.
CREATE OR REPLACE TABLE litmos_team_members AS
WITH roles AS (
    SELECT d.team_id, r.role, d.user_id FROM d_team_users d,
        (VALUES ('member'), ('leader'), ('admin')) r(role)
    WHERE list_contains($roles, r.role) AND CASE r.role
        WHEN 'member' THEN litmos_bool(d.active)
        WHEN 'leader' THEN litmos_bool(d.is_team_leader)
        ELSE litmos_bool(d.is_team_admin) END
)
SELECT m.* FROM base_team_members m ANTI JOIN d_team_users USING (team_id, user_id)
WHERE m.role <> 'member'
    OR m.user_id NOT IN (SELECT id FROM d_users WHERE NOT coalesce(litmos_bool(active), true))
UNION ALL
SELECT r.team_id, r.role, r.user_id, u.user_name, u.first_name, u.last_name
FROM roles r JOIN litmos_users u ON u.id = r.user_id
WHERE r.role <> 'member' OR u.active;

-- name: litmos_course_enrollments
-- A pair is assigned as its newest course-assignment record says (else its result
-- record's Active); its progress comes from its result record, else the snapshot's.
-- AccessTillDate is in neither published delta shape: taken from a result record that
-- carries it, else the snapshot's value stays.
CREATE OR REPLACE TABLE litmos_course_enrollments AS
WITH changed AS (
    SELECT course_id, user_id,
           coalesce(litmos_bool(a.active), litmos_bool(r.active), true) AS assigned,
           r.user_id IS NOT NULL AS has_result, litmos_bool(r.completed) AS completed,
           TRY_CAST(r.percentage_complete AS DOUBLE) AS percentage_complete,
           litmos_ts(r.compliant_till) AS compliant_till, litmos_ts(r.due_date) AS due_date,
           litmos_ts(r.access_till_date) AS access_till_date
    FROM d_user_courses a FULL OUTER JOIN d_results r USING (course_id, user_id)
)
SELECT e.* FROM base_course_enrollments e ANTI JOIN changed USING (course_id, user_id)
UNION ALL
SELECT c.course_id, c.user_id, coalesce(u.user_name, b.user_name),
       CASE WHEN c.has_result THEN coalesce(c.completed, false) ELSE coalesce(b.completed, false) END,
       CASE WHEN c.has_result THEN c.percentage_complete ELSE b.percentage_complete END,
       CASE WHEN c.has_result THEN c.compliant_till ELSE b.compliant_till END,
       CASE WHEN c.has_result THEN c.due_date ELSE b.due_date END,
       coalesce(c.access_till_date, b.access_till_date)
FROM changed c
LEFT JOIN base_course_enrollments b USING (course_id, user_id)
LEFT JOIN litmos_users u ON u.id = c.user_id
WHERE c.assigned;

-- name: delta_figures
-- What the refresh read and what it changed, for the run's metadata.
SELECT (SELECT count(*) FROM d_users) AS users_changed,
       (SELECT count(*) FROM d_users WHERE NOT litmos_bool(active)) AS users_inactive,
       (SELECT count(*) FROM d_teams) AS teams_changed,
       (SELECT count(*) FROM d_courses) AS courses_changed,
       (SELECT count(*) FROM d_team_users) AS team_assignments_changed,
       (SELECT count(*) FROM d_team_users WHERE NOT litmos_bool(active)) AS team_removals_reported,
       (SELECT count(*) FROM d_user_courses) AS course_assignments_changed,
       (SELECT count(*) FROM d_user_courses WHERE NOT litmos_bool(active))
           AS course_removals_reported,
       (SELECT count(*) FROM d_results) AS results_changed,
       (SELECT count(*) FROM d_logins) AS users_signed_in;
