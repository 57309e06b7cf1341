-- Provisioning outcomes, written to the main file right after Litmos confirmed the change,
-- so the grant tables show it without waiting for the next sync. Idempotent: a task run
-- twice leaves one grant and one change row.

-- name: grant
INSERT INTO c1_grants
SELECT $grant_id, $entitlement_id, $resource_type_id, $resource_id, 'user', $principal_id
WHERE $grant_id NOT IN (SELECT grant_id FROM c1_grants);
-- A new course assignment is in progress until Litmos says it is completed.
INSERT INTO c1_grants
SELECT c1_grant_id(c1_entitlement_id('course', $resource_id, 'in_progress'), 'user',
                   $principal_id),
       c1_entitlement_id('course', $resource_id, 'in_progress'), 'course', $resource_id,
       'user', $principal_id
WHERE $resource_type_id = 'course'
  AND NOT EXISTS (SELECT 1 FROM c1_grants WHERE resource_type_id = 'course'
                  AND resource_id = $resource_id AND principal_id = $principal_id
                  AND entitlement_id IN (
                      c1_entitlement_id('course', $resource_id, 'in_progress'),
                      c1_entitlement_id('course', $resource_id, 'completed')));

-- name: revoke
-- Unassigning a course also ends its completed / in-progress state for that user.
DELETE FROM c1_grants
WHERE principal_type_id = 'user' AND principal_id = $principal_id AND (
    grant_id = $grant_id
    OR ($resource_type_id = 'course' AND resource_type_id = 'course'
        AND resource_id = $resource_id));

-- name: record_change
INSERT INTO grant_changes
SELECT (SELECT sync_id FROM sync_runs ORDER BY finished_at DESC LIMIT 1), $now, $change,
       'provisioning', $task_id, $grant_id, $entitlement_id, $resource_type_id, $resource_id,
       'user', $principal_id
WHERE NOT EXISTS (SELECT 1 FROM grant_changes WHERE task_id = $task_id
                  AND grant_id = $grant_id);

-- name: create_user
INSERT INTO c1_resources (resource_type_id, resource_id, external_id, display_name, trait,
                          user_status, user_login, user_email, user_given_name,
                          user_family_name)
SELECT 'user', $user_id, c1_resource_key('user', $user_id), $display_name, 'user', 1,
       $login, $email, $given_name, $family_name
WHERE $user_id NOT IN (SELECT resource_id FROM c1_resources WHERE resource_type_id = 'user');

-- name: audit
INSERT INTO provisioning_audit VALUES (
    $task_id, $task_kind, $run_id, $requested_at, $now, $entitlement_id, $principal_id,
    $grant_id, $outcome, $retryable, $litmos_calls, $message);

-- name: prior_success
-- A task served again (its earlier run died, or C1 never heard its FinishTask): did an
-- earlier run already change Litmos for it?
SELECT count(*) > 0 FROM provisioning_audit
WHERE task_id = $task_id AND outcome = 'succeeded';

-- name: set_user_status
-- A user disabled or enabled by a C1 action: the published user shows it at once
-- (1 enabled, 2 disabled, as C1's ResourceStatus), not only after the next sync.
UPDATE c1_resources SET user_status = $user_status
WHERE resource_type_id = 'user' AND resource_id = $user_id;
