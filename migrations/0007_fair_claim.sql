-- Fair claiming across tenants (issue 15), inside the one claim function.
--
-- Invariants:
-- 1. Priority first: a claim never takes a job while a claimable job of higher priority is left out of it
--    (up to SKIP LOCKED: rows another claim holds at that instant are skipped, as before).
-- 2. Round-robin within a priority: inside one priority, each org's oldest claimable job ranks 1, its second
--    ranks 2, and so on; a claim takes the lowest ranks first (then the oldest run_at). An org's backlog
--    therefore delays another org's first job by at most one claim batch, however deep the backlog.
-- 3. Optional per-org cap (p_org_max_running, the workers' ORG_MAX_RUNNING): a claim gives an org at most
--    cap − (its jobs now processing). Claims that touch the same capped org are serialised by a
--    transaction-level advisory lock taken with try-lock: a concurrent claim skips that org instead of
--    waiting, so the cap is exact and claims never block each other.
-- Cost: one probe of jobs_claim_org_idx per org with claimable jobs (a loose index scan), then up to
-- 2 × p_limit index entries per org; the 2× lets concurrent claimers fill their batches past rows another
-- claim has just locked. p_fair = false keeps the old global order (one index scan), for comparison.
CREATE INDEX jobs_claim_org_idx ON quarry.jobs (org_id, priority DESC, run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_processing_org_idx ON quarry.jobs (org_id) WHERE status = 'processing';

DROP FUNCTION quarry.claim(text, text[], integer);
CREATE FUNCTION quarry.claim(p_worker text, p_kinds text[], p_limit integer, p_fair boolean DEFAULT true,
                             p_org_max_running integer DEFAULT NULL)
RETURNS TABLE (id uuid, org_id uuid, kind text, payload jsonb, upload_id uuid, priority integer,
               attempt integer, max_attempts integer, lease_token uuid, created_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE v_token uuid := gen_random_uuid();
BEGIN
    IF NOT p_fair AND p_org_max_running IS NULL THEN
        RETURN QUERY
        WITH picked AS MATERIALIZED (
            SELECT j.id FROM quarry.jobs j
            WHERE j.status = 'queued' AND j.run_at <= now() AND j.kind = ANY(p_kinds)
            ORDER BY j.priority DESC, j.run_at, j.id
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE quarry.jobs j
            SET status = 'processing', worker_id = p_worker, lease_token = v_token, attempt = j.attempt + 1,
                heartbeat_at = now(), started_at = now(), updated_at = now()
            FROM picked WHERE j.id = picked.id
            RETURNING j.id, j.org_id, j.kind, j.payload, j.upload_id, j.priority, j.attempt, j.max_attempts,
                      j.lease_token, j.created_at
        ), notified AS (
            SELECT pg_notify('quarry_events', string_agg(g.id::text || ':processing', ','))
            FROM (SELECT c.id, (row_number() OVER ()) / 150 AS grp FROM claimed c) g GROUP BY g.grp
        )
        SELECT c.* FROM claimed c WHERE (SELECT count(*) FROM notified) >= 0;
        RETURN;
    END IF;

    RETURN QUERY
    WITH RECURSIVE orgs(org_id) AS (
        (SELECT q.org_id FROM quarry.jobs q WHERE q.status = 'queued' ORDER BY q.org_id LIMIT 1)
        UNION ALL
        SELECT (SELECT q.org_id FROM quarry.jobs q WHERE q.status = 'queued' AND q.org_id > o.org_id
                ORDER BY q.org_id LIMIT 1)
        FROM orgs o WHERE o.org_id IS NOT NULL
    ), eligible AS MATERIALIZED (
        SELECT o.org_id,
               CASE WHEN p_org_max_running IS NULL THEN p_limit * 2
                    ELSE least(p_limit * 2, greatest(0, p_org_max_running - (
                        SELECT count(*) FROM quarry.jobs r WHERE r.org_id = o.org_id AND r.status = 'processing'))::integer)
               END AS room
        FROM orgs o
        WHERE o.org_id IS NOT NULL
          AND (p_org_max_running IS NULL OR pg_try_advisory_xact_lock(7175, hashtext(o.org_id::text)))
    ), ranked AS MATERIALIZED (
        SELECT c.id, c.priority, c.rn, c.run_at
        FROM eligible e CROSS JOIN LATERAL (
            SELECT j.id, j.priority, j.run_at, j.org_id,
                   row_number() OVER (PARTITION BY j.priority ORDER BY j.run_at, j.id) AS rn
            FROM quarry.jobs j
            WHERE j.org_id = e.org_id AND j.status = 'queued' AND j.run_at <= now() AND j.kind = ANY(p_kinds)
            ORDER BY j.priority DESC, j.run_at, j.id
            LIMIT e.room
        ) c
        WHERE e.room > 0
    ), picked AS MATERIALIZED (
        -- ranked holds at most `room` jobs per org, so the cap holds whatever is picked.
        SELECT j.id FROM quarry.jobs j JOIN ranked r ON r.id = j.id
        WHERE j.status = 'queued'
        ORDER BY r.priority DESC, r.rn, r.run_at, j.id
        LIMIT p_limit
        FOR UPDATE OF j SKIP LOCKED
    ), claimed AS (
        UPDATE quarry.jobs j
        SET status = 'processing', worker_id = p_worker, lease_token = v_token, attempt = j.attempt + 1,
            heartbeat_at = now(), started_at = now(), updated_at = now()
        FROM picked WHERE j.id = picked.id
        RETURNING j.id, j.org_id, j.kind, j.payload, j.upload_id, j.priority, j.attempt, j.max_attempts,
                  j.lease_token, j.created_at
    ), notified AS (
        SELECT pg_notify('quarry_events', string_agg(g.id::text || ':processing', ','))
        FROM (SELECT c.id, (row_number() OVER ()) / 150 AS grp FROM claimed c) g GROUP BY g.grp
    )
    SELECT c.* FROM claimed c WHERE (SELECT count(*) FROM notified) >= 0;
END $$;
