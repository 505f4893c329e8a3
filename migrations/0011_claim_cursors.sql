-- Claims that do not decay under old snapshots (issue 17).
--
-- The problem: a claim turns a queued row into a processing one, so the row's entry in the claim indexes
-- (jobs_claim_idx, jobs_claim_org_idx: partial, status = 'queued') points at a dead row version. While any
-- transaction holds an older snapshot (a long report, an idle-in-transaction client, a replication slot),
-- PostgreSQL can neither vacuum those entries nor mark them dead on the way (kill_prior_tuple), and a claim that
-- scans the index from its start walks every one of them: O(jobs claimed since the snapshot) per claim.
--
-- The design: a claim starts where the last claim stopped. A *cursor* (quarry.claim_cursors) is the claim-order
-- key (priority DESC, run_at, id) of the last job of an org claimed by claimers of one sorted kind list (so a
-- worker never moves a cursor past jobs of kinds it does not take). Claims read the orgs of quarry.queue_orgs
-- instead of finding them by a loose index scan (which would walk the dead entries too), and every read of queued
-- jobs goes through jobs_claim_org_idx with its org fixed: the global jobs_claim_idx is dropped. With it, the
-- planner sometimes read the global index filtered by org for an org's candidates (every org's queued entries
-- walked, per org, per claim) - and it was one index entry more per enqueued job. One org queued: its jobs are
-- read and locked straight off the index around its cursor; several: each org's candidates through its cursor,
-- taken round-robin (or, with p_fair = false, in the global order).
-- Within the cursor's priority band a claim seeks straight to (run_at, id) > cursor in the index (O(log n)),
-- so it never reads the entries of jobs claimed before. Bands of higher priority are read from their start,
-- bands of lower priority from theirs.
--
-- Invariants:
-- 1. Cursors only move forward in claim order (greatest key wins), whatever order concurrent claims commit in.
-- 2. A job whose key is behind its cursor when it becomes claimable (its enqueue or requeue committed after a
--    later job was already claimed - a commit-order race - or it was enqueued with a run_at in the past, or a
--    concurrent claim that skipped it rolled back) is a *straggler*: it is found by the next full scan, which
--    every cursor does at most `full scan interval` (2 s) after the last: stragglers wait at most ~2 s. The full
--    scan is the old claim (from the index start), so its cost is bounded to once per interval per cursor.
-- 3. Fairness and priority are unchanged (migration 0007's invariants): the fair claim reads each org's
--    candidates through that org's cursor, then ranks them round-robin within each priority.
-- 4. quarry.queue_orgs holds every org that has a queued job (an insert trigger on jobs adds the org in the same
--    transaction, so it is there before the job can be seen). Rows of orgs without queued jobs are pruned by the
--    janitor (quarry.prune_queue_orgs); an advisory lock shared by enqueuers and taken exclusively by the pruner
--    keeps a pruning from removing an org whose enqueue is in flight.
-- VACUUM: nothing here needs vacuum to stay fast; cursor rows are updated once per claim (HOT, fillfactor 20)
-- and jobs' dead index entries are left for autovacuum, which removes them once the old snapshot ends.

-- One cursor per (org, kinds): kinds is the claimer's sorted kind list, so a worker that claims other kinds never
-- moves a cursor past jobs it skipped. (scope holds the org id.)
CREATE TABLE quarry.claim_cursors (
    scope        uuid NOT NULL,
    kinds        text[] NOT NULL,
    priority     integer,
    run_at       timestamptz,
    id           uuid,
    full_scan_at timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (scope, kinds)
) WITH (fillfactor = 20);

CREATE TABLE quarry.queue_orgs (org_id uuid PRIMARY KEY);
DROP INDEX quarry.jobs_claim_idx;

-- One index entry less per claimed job: an org's processing jobs (the ORG_MAX_RUNNING count) are found through
-- jobs_org_status_created_idx (org_id, status, …) as well.
DROP INDEX quarry.jobs_processing_org_idx;
INSERT INTO quarry.queue_orgs (org_id) SELECT DISTINCT org_id FROM quarry.jobs WHERE status = 'queued';

-- Every job that becomes queued registers its org (one statement-level insert per enqueue statement; a per-row
-- trigger for the rare requeues by update: retry, release, recovery).
-- Registers one org, under the advisory lock the pruner takes exclusively (invariant 4).
CREATE FUNCTION quarry.add_queue_org(p_org uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7176, hashtext(p_org::text));
    INSERT INTO quarry.queue_orgs (org_id) VALUES (p_org) ON CONFLICT DO NOTHING;
END $$;

CREATE FUNCTION quarry.register_queue_orgs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM quarry.add_queue_org(o.org_id)
    FROM (SELECT DISTINCT n.org_id FROM new_jobs n WHERE n.status = 'queued' ORDER BY 1) o;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_register_queue_orgs AFTER INSERT ON quarry.jobs
    REFERENCING NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION quarry.register_queue_orgs();

CREATE FUNCTION quarry.register_queue_org() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM quarry.add_queue_org(NEW.org_id);
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_register_queue_org AFTER UPDATE OF status ON quarry.jobs
    FOR EACH ROW WHEN (NEW.status = 'queued' AND OLD.status IS DISTINCT FROM 'queued')
    EXECUTE FUNCTION quarry.register_queue_org();

-- Removes the orgs that have no queued job left (janitor). Locks first, then looks with a fresh snapshot, so an
-- enqueue that held the shared lock has committed (and is seen) by the time its org is judged.
CREATE FUNCTION quarry.prune_queue_orgs() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_locked uuid[]; n integer;
BEGIN
    SELECT array_agg(q.org_id) INTO v_locked FROM (
        SELECT q.org_id FROM quarry.queue_orgs q ORDER BY q.org_id FOR UPDATE SKIP LOCKED
    ) q WHERE pg_try_advisory_xact_lock(7176, hashtext(q.org_id::text));
    IF v_locked IS NULL THEN RETURN 0; END IF;
    DELETE FROM quarry.queue_orgs q
    WHERE q.org_id = ANY(v_locked)
      AND NOT EXISTS (SELECT 1 FROM quarry.jobs j WHERE j.org_id = q.org_id AND j.status = 'queued');
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM quarry.claim_cursors c
    WHERE c.scope = ANY(v_locked)
      AND NOT EXISTS (SELECT 1 FROM quarry.queue_orgs q WHERE q.org_id = c.scope);
    RETURN n;
END $$;

-- The next p_limit claimable jobs of one org in claim order after the org's cursor (jobs_claim_org_idx), without
-- locking them, in no particular order (callers sort).
-- Three index ranges, read lazily in turn until p_limit rows are found: bands of higher priority than the cursor
-- from their start; the cursor's band from just after the cursor (an index seek: the entries of jobs claimed
-- before are never read); bands of lower priority from their start. p_full (or no cursor yet) is the full scan of
-- invariant 2: the cursor is taken as "before everything".
CREATE FUNCTION quarry.claim_candidates(p_org uuid, p_kinds text[], p_limit integer, p_priority integer,
                                        p_run_at timestamptz, p_id uuid, p_full boolean)
RETURNS TABLE (id uuid, priority integer, run_at timestamptz)
LANGUAGE plpgsql STABLE SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$
DECLARE
    hp integer := CASE WHEN p_full OR p_priority IS NULL THEN 2147483647 ELSE p_priority END;
    hr timestamptz := CASE WHEN p_full OR p_priority IS NULL THEN '-infinity' ELSE p_run_at END;
    hid uuid := CASE WHEN p_full OR p_priority IS NULL THEN '00000000-0000-0000-0000-000000000000' ELSE p_id END;
BEGIN
    IF p_limit <= 0 THEN RETURN; END IF;
    RETURN QUERY SELECT c.* FROM (
            (SELECT j.id, j.priority, j.run_at FROM quarry.jobs j
             WHERE j.org_id = p_org AND j.status = 'queued' AND j.priority > hp AND j.run_at <= now()
               AND j.kind = ANY(p_kinds)
             ORDER BY j.priority DESC, j.run_at, j.id LIMIT p_limit)
            UNION ALL
            (SELECT j.id, j.priority, j.run_at FROM quarry.jobs j
             WHERE j.org_id = p_org AND j.status = 'queued' AND j.priority = hp AND (j.run_at, j.id) > (hr, hid)
               AND j.run_at <= now() AND j.kind = ANY(p_kinds)
             ORDER BY j.priority DESC, j.run_at, j.id LIMIT p_limit)
            UNION ALL
            (SELECT j.id, j.priority, j.run_at FROM quarry.jobs j
             WHERE j.org_id = p_org AND j.status = 'queued' AND j.priority < hp AND j.run_at <= now()
               AND j.kind = ANY(p_kinds)
             ORDER BY j.priority DESC, j.run_at, j.id LIMIT p_limit)
        ) c LIMIT p_limit;
END $$;

-- Moves a cursor forward to (p_priority, p_run_at, p_id) if that is later in claim order (never backwards:
-- invariant 1), and records a full scan. Creates the cursor on first use.
CREATE FUNCTION quarry.advance_cursor(p_scope uuid, p_kinds text[], p_priority integer, p_run_at timestamptz,
                                      p_id uuid, p_full boolean)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO quarry.claim_cursors AS k (scope, kinds, priority, run_at, id, full_scan_at)
    VALUES (p_scope, p_kinds, p_priority, p_run_at, p_id, CASE WHEN p_full THEN clock_timestamp() ELSE '-infinity' END)
    ON CONFLICT (scope, kinds) DO UPDATE SET
        (priority, run_at, id) = (
            SELECT CASE WHEN fwd THEN EXCLUDED.priority ELSE k.priority END,
                   CASE WHEN fwd THEN EXCLUDED.run_at ELSE k.run_at END,
                   CASE WHEN fwd THEN EXCLUDED.id ELSE k.id END
            FROM (SELECT EXCLUDED.priority IS NOT NULL AND (k.priority IS NULL
                         OR (-k.priority, k.run_at, k.id) < (-EXCLUDED.priority, EXCLUDED.run_at, EXCLUDED.id)) AS fwd) f),
        full_scan_at = greatest(k.full_scan_at, EXCLUDED.full_scan_at)
$$;

-- The one claim (signature of migration 0007), now through the cursors.
CREATE OR REPLACE FUNCTION quarry.claim(p_worker text, p_kinds text[], p_limit integer, p_fair boolean DEFAULT true,
                                        p_org_max_running integer DEFAULT NULL)
RETURNS TABLE (id uuid, org_id uuid, kind text, payload jsonb, upload_id uuid, priority integer,
               attempt integer, max_attempts integer, lease_token uuid, created_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$
DECLARE
    v_token uuid := gen_random_uuid();
    v_ids uuid[]; v_orgs uuid[]; v_prios integer[]; v_runs timestamptz[];
    v_full_orgs uuid[]; v_empty_orgs uuid[];
    cur quarry.claim_cursors;
    v_kinds text[] := ARRAY(SELECT DISTINCT k FROM unnest(p_kinds) AS k ORDER BY 1);
    v_nil uuid := '00000000-0000-0000-0000-000000000000';
    v_org uuid;
    v_full boolean;
    hp integer; hr timestamptz; hid uuid;
    a_ids uuid[]; a_prios integer[]; a_runs timestamptz[]; n integer;
BEGIN
    SELECT count(*), min(q.org_id::text)::uuid INTO n, v_org FROM (SELECT q.org_id FROM quarry.queue_orgs q LIMIT 2) q;
    IF n = 0 THEN RETURN; END IF;  -- every queued job's org is in queue_orgs (invariant 4)
    IF p_org_max_running IS NULL AND n = 1 THEN
        -- One org queued: round-robin has nothing to share. Three ranges of jobs_claim_org_idx around the org's
        -- cursor, each locked as it is read (SKIP LOCKED walks on past rows other claims hold).
        SELECT * INTO cur FROM quarry.claim_cursors k WHERE k.scope = v_org AND k.kinds = v_kinds;
        v_full := cur.priority IS NULL OR cur.full_scan_at < clock_timestamp() - interval '2 seconds';
        hp := CASE WHEN v_full THEN 2147483647 ELSE cur.priority END;
        hr := CASE WHEN v_full THEN '-infinity' ELSE cur.run_at END;
        hid := CASE WHEN v_full THEN '00000000-0000-0000-0000-000000000000' ELSE cur.id END;
        v_ids := '{}'; v_prios := '{}'; v_runs := '{}';
        SELECT array_agg(s.id), array_agg(s.priority), array_agg(s.run_at) INTO a_ids, a_prios, a_runs FROM (
            SELECT j.id, j.priority, j.run_at FROM quarry.jobs j
            WHERE j.org_id = v_org AND j.status = 'queued' AND j.priority > hp AND j.run_at <= now() AND j.kind = ANY(p_kinds)
            ORDER BY j.priority DESC, j.run_at, j.id LIMIT p_limit FOR UPDATE SKIP LOCKED) s;
        v_ids := v_ids || coalesce(a_ids, '{}'); v_prios := v_prios || coalesce(a_prios, '{}');
        v_runs := v_runs || coalesce(a_runs, '{}');
        n := cardinality(v_ids);
        IF n < p_limit THEN
            SELECT array_agg(s.id), array_agg(s.priority), array_agg(s.run_at) INTO a_ids, a_prios, a_runs FROM (
                SELECT j.id, j.priority, j.run_at FROM quarry.jobs j
                WHERE j.org_id = v_org AND j.status = 'queued' AND j.priority = hp AND (j.run_at, j.id) > (hr, hid) AND j.run_at <= now()
                  AND j.kind = ANY(p_kinds)
                ORDER BY j.priority DESC, j.run_at, j.id LIMIT p_limit - n FOR UPDATE SKIP LOCKED) s;
            v_ids := v_ids || coalesce(a_ids, '{}'); v_prios := v_prios || coalesce(a_prios, '{}');
            v_runs := v_runs || coalesce(a_runs, '{}');
            n := cardinality(v_ids);
        END IF;
        IF n < p_limit THEN
            SELECT array_agg(s.id), array_agg(s.priority), array_agg(s.run_at) INTO a_ids, a_prios, a_runs FROM (
                SELECT j.id, j.priority, j.run_at FROM quarry.jobs j
                WHERE j.org_id = v_org AND j.status = 'queued' AND j.priority < hp AND j.run_at <= now() AND j.kind = ANY(p_kinds)
                ORDER BY j.priority DESC, j.run_at, j.id LIMIT p_limit - n FOR UPDATE SKIP LOCKED) s;
            v_ids := v_ids || coalesce(a_ids, '{}'); v_prios := v_prios || coalesce(a_prios, '{}');
            v_runs := v_runs || coalesce(a_runs, '{}');
            n := cardinality(v_ids);
        END IF;
        -- Move the cursor to the last job taken (never backwards: invariant 1); note the full scan.
        IF n > 0 OR v_full THEN
            PERFORM quarry.advance_cursor(v_org, v_kinds, v_prios[n], v_runs[n], v_ids[n], v_full);
        END IF;
        IF v_full AND n = 0 THEN
            -- A full scan that found nothing: no job these kinds can take was due when this claim began, so the
            -- cursor may stand at (0, now()) - else a queue holding only jobs this claimer cannot take (other
            -- kinds, future run_at) would be read in full on every claim.
            PERFORM quarry.advance_cursor(v_org, v_kinds, 0, now(), v_nil, v_full);
        END IF;
    ELSE
        -- Round-robin across the orgs of quarry.queue_orgs (migration 0007's invariants), each org's candidates
        -- read through its cursor; with p_fair = false the same candidates are taken in the global order.
        WITH eligible AS MATERIALIZED (
            SELECT o.org_id, k.priority, k.run_at, k.id,
                   k.priority IS NULL OR k.full_scan_at < clock_timestamp() - interval '2 seconds' AS full,
                   CASE WHEN p_org_max_running IS NULL THEN p_limit
                        ELSE least(p_limit, greatest(0, p_org_max_running - (
                            SELECT count(*) FROM quarry.jobs r WHERE r.org_id = o.org_id AND r.status = 'processing'))::integer)
                   END AS room
            FROM quarry.queue_orgs o
            LEFT JOIN quarry.claim_cursors k ON k.scope = o.org_id AND k.kinds = v_kinds
            WHERE p_org_max_running IS NULL OR pg_try_advisory_xact_lock(7175, hashtext(o.org_id::text))
        ), ranked AS MATERIALIZED (
            SELECT k.id, k.priority, k.run_at, e.org_id,
                   row_number() OVER (PARTITION BY e.org_id, k.priority ORDER BY k.run_at, k.id) AS rn
            FROM eligible e
            CROSS JOIN LATERAL quarry.claim_candidates(e.org_id, p_kinds, e.room, e.priority, e.run_at, e.id, e.full) k
            WHERE e.room > 0
        ), picked AS MATERIALIZED (
            SELECT r.id, r.org_id, r.priority, r.run_at, r.ord
            FROM (SELECT r.*, row_number() OVER (ORDER BY r.priority DESC, CASE WHEN p_fair THEN r.rn ELSE 0 END, r.run_at, r.id) AS ord
                  FROM ranked r) r
            -- Locked by primary key, status checked on the locked row: with the status in the lock's WHERE clause
            -- the planner read the partial jobs_claim_idx for each candidate, on `id` (not its leading column) -
            -- O(queue) per candidate, 160 buffers each at a 50,000-job backlog. LIMIT 1 keeps the outer status
            -- check from being pushed back into the subquery.
            CROSS JOIN LATERAL (
                SELECT j.id, j.status FROM quarry.jobs j WHERE j.id = r.id LIMIT 1 FOR UPDATE SKIP LOCKED
            ) l
            WHERE l.status = 'queued'
            ORDER BY r.ord
            LIMIT p_limit
        )
        SELECT array_agg(p.id ORDER BY p.ord), array_agg(p.org_id ORDER BY p.ord), array_agg(p.priority ORDER BY p.ord),
               array_agg(p.run_at ORDER BY p.ord),
               (SELECT array_agg(e.org_id) FROM eligible e WHERE e.full AND e.room > 0),
               (SELECT array_agg(e.org_id) FROM eligible e
                WHERE e.full AND e.room > 0 AND NOT EXISTS (SELECT 1 FROM ranked r WHERE r.org_id = e.org_id))
        INTO v_ids, v_orgs, v_prios, v_runs, v_full_orgs, v_empty_orgs FROM picked p;
        v_ids := coalesce(v_ids, '{}');
        -- Cursors are moved in org order (two claims never wait on each other's cursor rows in a cycle).
        -- A full scan that found nothing for an org: its cursor may stand at (0, now()) (see the global path).
        PERFORM quarry.advance_cursor(x.org_id, v_kinds, x.priority, x.run_at, x.id, x.org_id = ANY(coalesce(v_full_orgs, '{}')))
        FROM (
            SELECT o.org_id,
                   CASE WHEN o.org_id = ANY(coalesce(v_empty_orgs, '{}')) THEN 0 ELSE l.priority END AS priority,
                   CASE WHEN o.org_id = ANY(coalesce(v_empty_orgs, '{}')) THEN now() ELSE l.run_at END AS run_at,
                   CASE WHEN o.org_id = ANY(coalesce(v_empty_orgs, '{}')) THEN v_nil ELSE l.id END AS id
            FROM (SELECT DISTINCT u FROM unnest(coalesce(v_orgs, '{}') || coalesce(v_full_orgs, '{}')) AS u) o(org_id)
            LEFT JOIN LATERAL (
                SELECT u.priority, u.run_at, u.id
                FROM unnest(v_orgs, v_prios, v_runs, v_ids) AS u(org_id, priority, run_at, id)
                WHERE u.org_id = o.org_id
                ORDER BY u.priority ASC, u.run_at DESC, u.id DESC LIMIT 1
            ) l ON true
            ORDER BY o.org_id
        ) x;
    END IF;
    IF cardinality(v_ids) = 0 THEN RETURN; END IF;

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

-- The batched completion finds its rows by primary key. Written as an UPDATE … FROM unnest(…) with
-- `status = 'processing'` in the WHERE clause, the planner (statistics taken while nothing was processing say the
-- partial jobs_processing_idx holds one row) scanned every processing row for each job of the batch: 1.25 M join
-- comparisons and 0.5 s for a batch of 500 at 2,500 in flight. The rows are now locked by id first (LIMIT 1 keeps
-- the status check out of the lookup), then updated by id.
CREATE OR REPLACE FUNCTION quarry.complete(p_ids uuid[], p_tokens uuid[], p_results jsonb[], p_rows bigint[])
RETURNS SETOF uuid LANGUAGE plpgsql SET jit = off AS $$
DECLARE v_ids uuid[];
BEGIN
    SELECT array_agg(d.id) INTO v_ids
    FROM unnest(p_ids, p_tokens) AS d(id, token)
    CROSS JOIN LATERAL (SELECT j.status, j.lease_token FROM quarry.jobs j WHERE j.id = d.id LIMIT 1 FOR UPDATE) l
    WHERE l.status = 'processing' AND l.lease_token = d.token;
    IF v_ids IS NULL THEN RETURN; END IF;
    RETURN QUERY
    WITH done AS (
        UPDATE quarry.jobs j
        SET status = 'completed', completed_at = now(), updated_at = now(), result = d.result,
            worker_id = NULL, lease_token = NULL, error = NULL,
            progress = CASE WHEN j.progress IS NULL THEN NULL
                            ELSE j.progress || jsonb_build_object('percent_complete', 100) END
        FROM unnest(p_ids, p_results, p_rows) AS d(id, result, rows_processed)
        WHERE j.id = ANY(v_ids) AND j.id = d.id
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
