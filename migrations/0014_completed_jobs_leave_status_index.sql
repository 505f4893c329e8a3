-- Fewer index entries per job (issue 17: "the fewest row versions and index entries per job that keep the
-- guarantees").
--
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
