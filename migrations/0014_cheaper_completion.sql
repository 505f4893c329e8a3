-- Cheaper completion (issue 17: "the fewest row versions and index entries per job that keep the guarantees").
--
-- 1. Completed versions leave jobs_org_status_created_idx.
-- A completion rewrites the job row (status is part of partial index predicates, so it cannot be a HOT update) and
-- every index whose predicate the new version matches gets an entry. jobs_org_status_created_idx (org_id, status,
-- created_at DESC, id DESC) served the job list filtered by status; completed jobs are the bulk of any org's
-- history, and a list of an org's completed jobs is served as well by jobs_org_created_idx (org_id, created_at
-- DESC, id DESC) with `status = 'completed'` as a filter: nearly every entry it reads passes. So completed
-- versions no longer enter this index: one index insertion less per job, ~2 µs of database CPU per job in
-- `quarry bench queue` (durable, 100k jobs: 36.1 → 33.5–34.0 µs).
--
-- Plans (EXPLAIN, 200k jobs of one org, 0.1 % failed): status = 'failed' → index-only scan of this index, 24
-- buffers for a page of 21; status = 'completed' → jobs_org_created_idx with a filter, 20 buffers; no status →
-- jobs_org_created_idx, 21 buffers.
--
-- The index is rebuilt in the migration's transaction (CREATE INDEX CONCURRENTLY cannot run in one): on a large
-- jobs table, run this migration in a maintenance window, or create the partial index concurrently by hand first
-- under another name, drop the old one, and rename.
DROP INDEX IF EXISTS quarry.jobs_org_status_created_idx;
CREATE INDEX jobs_org_status_created_idx ON quarry.jobs (org_id, status, created_at DESC, id DESC)
    WHERE status <> 'completed';

-- 2. The batched completion updates its rows in one statement instead of locking each row first (SELECT … FOR
-- UPDATE) and then updating it: the lock was a second write of every row (its xmax, and a WAL record), ~3.5 µs of
-- database CPU per job in `quarry bench queue` (durable, 100k: 37.0–37.3 → 33.2–33.6 µs). The lease fence is the
-- same: a row is updated only while it is processing under the caller's token, and an UPDATE that meets a row a
-- concurrent transaction changed re-checks these conditions on the new version (EvalPlanQual). The lock-first
-- form existed for a plan (migration 0011): with `j.status = 'processing'` in the WHERE clause, statistics taken
-- while nothing was processing made the planner scan jobs_processing_idx for every job of the batch. The status
-- test is written `(j.status || '') = 'processing'`, which no partial index predicate matches, so the plan is the
-- batch's ids against the primary key whatever the statistics say (QueuePlanTests reads the index counters).
CREATE OR REPLACE FUNCTION quarry.complete(p_ids uuid[], p_tokens uuid[], p_results jsonb[], p_rows bigint[])
RETURNS SETOF uuid LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    RETURN QUERY
    WITH d AS MATERIALIZED (
        SELECT * FROM unnest(p_ids, p_tokens, p_results, p_rows) AS d(id, token, result, rows_processed)
    ), done AS (
        UPDATE quarry.jobs j
        SET status = 'completed', completed_at = now(), updated_at = now(), result = d.result,
            worker_id = NULL, lease_token = NULL, error = NULL,
            progress = CASE WHEN j.progress IS NULL THEN NULL
                            ELSE j.progress || jsonb_build_object('percent_complete', 100) END
        FROM d
        WHERE j.id = d.id AND j.lease_token = d.token AND (j.status || '') = 'processing'
        RETURNING j.id, j.org_id, j.kind, j.started_at, d.rows_processed
    ), metrics AS (
        INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms, rows_processed)
        SELECT done.id, done.org_id, done.kind, 'completed',
               greatest(0, (extract(epoch FROM now() - done.started_at) * 1000))::integer, coalesce(done.rows_processed, 0)
        FROM done
    ), notified AS (
        SELECT pg_notify('quarry_events', string_agg(g.id::text || ':completed', ','))
        FROM (SELECT done.id, (row_number() OVER ()) / 150 AS grp FROM done) g GROUP BY g.grp
    )
    SELECT done.id FROM done WHERE (SELECT count(*) FROM notified) >= 0;
END $$;
