-- Failed authentications are audited in aggregate (issue 15): one row per client address and minute with a
-- count, upserted by each api process every few seconds, instead of one row per refused request.
--
-- `count` is how many events a row stands for (1 for every ordinary row); `window_start` is the minute an
-- aggregated row covers (NULL for ordinary rows). The unique index is the upsert's arbiter, so replicas that
-- flush the same address in the same minute add to one row.
ALTER TABLE quarry.audit_log ADD COLUMN count integer NOT NULL DEFAULT 1;
ALTER TABLE quarry.audit_log ADD COLUMN window_start timestamptz;
CREATE UNIQUE INDEX audit_log_window_idx ON quarry.audit_log (action, (coalesce(remote_addr, '')), window_start)
    WHERE window_start IS NOT NULL;
-- The janitor prunes by age (AUDIT_RETENTION_DAYS).
CREATE INDEX audit_log_at_idx ON quarry.audit_log (at);
