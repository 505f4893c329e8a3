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
-- Cost: one probe of jobs_claim_org_idx per org with queued jobs (a loose index scan), then up to p_limit
-- index entries per org; the candidates are walked in claim order and locked one by one (SKIP LOCKED) until the
-- batch is full, so only the rows taken are locked. A claimer whose batch comes back short because a concurrent
-- claim holds some candidates claims again at once (QueueWorker). With one org queued (and no cap) the claim is
-- the global order: one scan of jobs_claim_idx after two cheap probes. p_fair = false always uses the global
-- order, for comparison. Measured (docs/BENCHMARKS.md): the fair path drains a two-org backlog at 0.4-0.75x the
-- global order's rate on this machine; the pickup of the small org's jobs drops from seconds to tens of ms.
CREATE INDEX jobs_claim_org_idx ON quarry.jobs (org_id, priority DESC, run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_processing_org_idx ON quarry.jobs (org_id) WHERE status = 'processing';

DROP FUNCTION quarry.claim(text, text[], integer);
CREATE FUNCTION quarry.claim(p_worker text, p_kinds text[], p_limit integer, p_fair boolean DEFAULT true,
                             p_org_max_running integer DEFAULT NULL)
RETURNS TABLE (id uuid, org_id uuid, kind text, payload jsonb, upload_id uuid, priority integer,
               attempt integer, max_attempts integer, lease_token uuid, created_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE v_token uuid := gen_random_uuid(); v_first uuid; v_many boolean; v_ids uuid[];
BEGIN
    -- One org with queued jobs: round-robin has nothing to share, so the global order is the fair one.
    -- The org of the next job in global order, then whether any other org has queued jobs: both probes read
    -- only other orgs' index entries, never the (possibly long, not yet vacuumed) run of this org's claimed ones.
    IF p_fair AND p_org_max_running IS NULL THEN
        v_first := (SELECT q.org_id FROM quarry.jobs q
                    WHERE q.status = 'queued' AND q.run_at <= now() AND q.kind = ANY(p_kinds)
                    ORDER BY q.priority DESC, q.run_at, q.id LIMIT 1);
        IF v_first IS NULL THEN RETURN; END IF;
        v_many := EXISTS (SELECT 1 FROM quarry.jobs q WHERE q.status = 'queued' AND q.org_id < v_first)
               OR EXISTS (SELECT 1 FROM quarry.jobs q WHERE q.status = 'queued' AND q.org_id > v_first);
    END IF;
    IF p_org_max_running IS NULL AND (NOT p_fair OR NOT v_many) THEN
        -- Global order: one scan of jobs_claim_idx.
        SELECT array_agg(p.id) INTO v_ids FROM (
            SELECT j.id FROM quarry.jobs j
            WHERE j.status = 'queued' AND j.run_at <= now() AND j.kind = ANY(p_kinds)
            ORDER BY j.priority DESC, j.run_at, j.id
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED
        ) p;
    ELSE
        -- Round-robin across orgs (invariants above).
        SELECT array_agg(p.id) INTO v_ids FROM (

    WITH RECURSIVE orgs(org_id) AS (
        (SELECT q.org_id FROM quarry.jobs q WHERE q.status = 'queued' ORDER BY q.org_id LIMIT 1)
        UNION ALL
        SELECT (SELECT q.org_id FROM quarry.jobs q WHERE q.status = 'queued' AND q.org_id > o.org_id
                ORDER BY q.org_id LIMIT 1)
        FROM orgs o WHERE o.org_id IS NOT NULL
    ), eligible AS MATERIALIZED (
        SELECT o.org_id,
               CASE WHEN p_org_max_running IS NULL THEN p_limit
                    ELSE least(p_limit, greatest(0, p_org_max_running - (
                        SELECT count(*) FROM quarry.jobs r WHERE r.org_id = o.org_id AND r.status = 'processing'))::integer)
               END AS room
        FROM orgs o
        WHERE o.org_id IS NOT NULL
          AND (p_org_max_running IS NULL OR pg_try_advisory_xact_lock(7175, hashtext(o.org_id::text)))
    ), ranked AS MATERIALIZED (
        -- Each org's next `room` claimable jobs straight off jobs_claim_org_idx (no sort), ranked within their
        -- priority after the limit, so only those rows are read.
        SELECT c.id, c.priority, c.rn, c.run_at
        FROM eligible e CROSS JOIN LATERAL (
            SELECT t.id, t.priority, t.run_at, row_number() OVER (PARTITION BY t.priority ORDER BY t.run_at, t.id) AS rn
            FROM (
                SELECT j.id, j.priority, j.run_at FROM quarry.jobs j
                WHERE j.org_id = e.org_id AND j.status = 'queued' AND j.run_at <= now() AND j.kind = ANY(p_kinds)
                ORDER BY j.priority DESC, j.run_at, j.id
                LIMIT e.room
            ) t
        ) c
        WHERE e.room > 0
    ), picked AS MATERIALIZED (
        -- Walk the candidates in claim order and lock each one, skipping rows another claim holds, until the
        -- batch is full: only the rows taken are locked. ranked holds at most `room` jobs per org, so the cap
        -- holds whatever is picked.
        SELECT l.id
        FROM (SELECT r.* FROM ranked r ORDER BY r.priority DESC, r.rn, r.run_at, r.id) r
        CROSS JOIN LATERAL (
            SELECT j.id FROM quarry.jobs j WHERE j.id = r.id AND j.status = 'queued' FOR UPDATE SKIP LOCKED
        ) l
        LIMIT p_limit
    )
    SELECT picked.id FROM picked
        ) p;
    END IF;

    -- Claim what was picked (the rows are locked by this transaction): one statement for both paths.
    RETURN QUERY
    WITH claimed AS (
        UPDATE quarry.jobs j
        SET status = 'processing', worker_id = p_worker, lease_token = v_token, attempt = j.attempt + 1,
            heartbeat_at = now(), started_at = now(), updated_at = now()
        WHERE j.id = ANY(v_ids)
        RETURNING j.id, j.org_id, j.kind, j.payload, j.upload_id, j.priority, j.attempt, j.max_attempts,
                  j.lease_token, j.created_at
    ), notified AS (
        SELECT pg_notify('quarry_events', string_agg(g.id::text || ':processing', ','))
        FROM (SELECT c.id, (row_number() OVER ()) / 150 AS grp FROM claimed c) g GROUP BY g.grp
    )
    -- Returned in claim order (priority, then round-robin rank or age), as the picking made them.
    SELECT c.* FROM claimed c JOIN unnest(v_ids) WITH ORDINALITY AS o(id, n) ON o.id = c.id
    WHERE (SELECT count(*) FROM notified) >= 0
    ORDER BY o.n;
END $$;
