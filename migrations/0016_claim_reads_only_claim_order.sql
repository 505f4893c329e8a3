-- The claim's reads never sort (issue 17).
--
-- Each of the claim's index ranges (quarry.claim's per-org probe, quarry.claim_org, quarry.claim_candidates) asks for
-- one org's queued jobs in claim order, LIMIT n: jobs_claim_org_idx returns them in that order and stops after n.
-- With statistics taken when the queue was empty (after a drain, until autovacuum analyzes again: quarry.jobs holds
-- a few rows and org_id looks unique, so "one org's jobs" is estimated at one row) every index that starts with
-- org_id costs the same, and the planner picked whichever looked smaller on disk: after a queue of mixed priorities
-- had drained, jobs_claim_org_idx is the more bloated one (its inserts land all over the priority bands), so the
-- claim read the org through jobs_org_created_idx - every row of the org, queued or long finished - and sorted it,
-- on every claim: 150k-450k buffers per claim at 200,000 queued on the bench cluster (auto_explain), the
-- `quarry bench queue --parked-orgs 32 --old-snapshot` drains at 0.17-0.41 of the clean one. (The old snapshot only
-- made it visible: the bench analyzes before each drain, and the first drain's statistics were of an empty table.)
--
-- With sorting off for these reads the only plan left for each range is the one that reads in claim order
-- (jobs_claim_org_idx, the only index that returns one org's queued jobs in that order): the plan no longer depends
-- on the statistics or on index bloat. claim_org and claim_candidates are nothing but such reads and run with
-- sorting off; quarry.claim turns it off around its probe only - with it off for the whole function, the last
-- statement (the batch returned in claim order) was planned as a nested loop that compared every claimed row with
-- every id (250,000 comparisons for 500 jobs: the clean drain fell from 22k to 16k jobs/s), not a hash join and a sort.
-- ClaimContentionTests.aDrainedQueueOfMixedPrioritiesDoesNotMakeAClaimReadTheOrgsHistory.
--
-- Also: an org due a full scan is probed from its cursor first, and from the index start only when nothing is
-- claimable after the cursor. The full scan is claim_org's (or claim_candidates'); probed from the start as well,
-- the org was walked twice per full scan, and under an old snapshot a walk from the start reads every entry claimed
-- since the snapshot (the claims that do it are the claim p99).
ALTER FUNCTION quarry.claim_org(uuid, text[], text[], integer, boolean) SET enable_sort = off;
ALTER FUNCTION quarry.claim_candidates(uuid, text[], integer, integer, timestamptz, uuid, boolean) SET enable_sort = off;

-- The one claim (signature of migration 0007), as in migration 0015 but for the probe's sorting.
CREATE OR REPLACE FUNCTION quarry.claim(p_worker text, p_kinds text[], p_limit integer, p_fair boolean DEFAULT true,
                                        p_org_max_running integer DEFAULT NULL)
RETURNS TABLE (id uuid, org_id uuid, kind text, payload jsonb, upload_id uuid, priority integer,
               attempt integer, max_attempts integer, lease_token uuid, created_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$
DECLARE
    v_token uuid := gen_random_uuid();
    v_ids uuid[]; v_orgs uuid[]; v_prios integer[]; v_runs timestamptz[];
    e_orgs uuid[]; e_prios integer[]; e_runs timestamptz[]; e_ids uuid[]; e_fulls boolean[]; e_rooms integer[];
    e_active boolean[];
    v_full_orgs uuid[]; v_empty_orgs uuid[];
    v_kinds text[] := ARRAY(SELECT DISTINCT k FROM unnest(p_kinds) AS k ORDER BY 1);
    v_nil uuid := '00000000-0000-0000-0000-000000000000';
    v_org uuid;
    v_room integer;
    v_capped uuid[];
    v_elected uuid[];
    v_sort text;
    n integer;
BEGIN
    SELECT count(*), min(q.org_id::text)::uuid INTO n, v_org FROM (SELECT q.org_id FROM quarry.queue_orgs q LIMIT 2) q;
    IF n = 0 THEN RETURN; END IF;  -- every queued job's org is in queue_orgs (migration 0011, invariant 4)
    IF p_org_max_running IS NULL AND n = 1 THEN
        -- One org queued: round-robin has nothing to share.
        v_ids := quarry.claim_org(v_org, p_kinds, v_kinds, p_limit,
                                  v_org = ANY(quarry.elect_full_scans(ARRAY[v_org], v_kinds)));
    ELSE
        IF p_org_max_running IS NOT NULL THEN
            -- The org cap: claims of one capped org are serialised by a transaction-level advisory try-lock (a busy
            -- org is skipped, not waited for). Taken in a statement of its own, so the next statement's snapshot,
            -- which counts the org's processing jobs, is taken after the lock: it sees every claim of the org that
            -- committed before the lock was free. (Counted in the locking statement, a claim that committed between
            -- that statement's snapshot and its lock was missed, and the org got the cap twice.)
            v_capped := ARRAY(SELECT o.org_id FROM quarry.queue_orgs o
                              WHERE pg_try_advisory_xact_lock(7175, hashtext(o.org_id::text)));
        END IF;
        v_elected := quarry.elect_full_scans(
            CASE WHEN p_org_max_running IS NULL THEN ARRAY(SELECT o.org_id FROM quarry.queue_orgs o) ELSE v_capped END, v_kinds);
        -- Which orgs have a job this claimer can take now: one probe per org through its cursor (migration
        -- 0011), nothing locked. Sorting is off for the probe only (see the header): each range is then read in
        -- claim order, off jobs_claim_org_idx; the rest of the claim keeps its sorts (its last statement orders
        -- the batch with a hash join and a sort, which with sorting off became a nested loop over the batch twice).
        v_sort := current_setting('enable_sort');
        PERFORM set_config('enable_sort', 'off', true);
        SELECT array_agg(e.org_id ORDER BY e.org_id), array_agg(e.priority ORDER BY e.org_id),
               array_agg(e.run_at ORDER BY e.org_id), array_agg(e.id ORDER BY e.org_id),
               array_agg(e.full ORDER BY e.org_id), array_agg(e.room ORDER BY e.org_id),
               array_agg(e.active ORDER BY e.org_id),
               array_agg(e.org_id ORDER BY e.org_id) FILTER (WHERE e.full AND e.room > 0),
               array_agg(e.org_id ORDER BY e.org_id) FILTER (WHERE e.full AND e.room > 0 AND NOT e.active)
        INTO e_orgs, e_prios, e_runs, e_ids, e_fulls, e_rooms, e_active, v_full_orgs, v_empty_orgs
        FROM (
            -- The probe is quarry.claim_candidates' three index ranges written inline (a function call per org,
            -- with its settings switched in and out, cost more than the probe itself), each a scalar subquery in
            -- claim order with LIMIT 1: as EXISTS, with statistics taken before a backlog arrived, the planner read
            -- the range through jobs_org_status_created_idx - every queued entry of the org, 123,524 buffers and
            -- 87 ms per probe at 200,000 queued (ClaimContentionTests). OFFSET 0: evaluated once per org
            -- (flattened, the probe ran once per reference to `active`).
            -- An org due a full scan is first probed from its cursor like the others, and read from the index
            -- start only when nothing is claimable after the cursor: the full scan itself is claim_org's (or
            -- claim_candidates'), and under an old snapshot every read from the start walks every entry claimed
            -- since the snapshot - probed from the start too, the org was walked twice per full scan.
            SELECT e.*, e.room > 0 AND (
                       (SELECT j.id FROM quarry.jobs j
                        WHERE j.org_id = e.org_id AND j.status = 'queued' AND j.priority > e.priority
                          AND j.run_at <= now() AND j.kind = ANY(p_kinds)
                        ORDER BY j.priority DESC, j.run_at, j.id LIMIT 1) IS NOT NULL
                       OR (SELECT j.id FROM quarry.jobs j
                           WHERE j.org_id = e.org_id AND j.status = 'queued' AND j.priority = e.priority
                             AND (j.run_at, j.id) > (e.run_at, e.id) AND j.run_at <= now() AND j.kind = ANY(p_kinds)
                           ORDER BY j.priority DESC, j.run_at, j.id LIMIT 1) IS NOT NULL
                       OR (SELECT j.id FROM quarry.jobs j
                           WHERE j.org_id = e.org_id AND j.status = 'queued' AND j.priority < e.priority
                             AND j.run_at <= now() AND j.kind = ANY(p_kinds)
                           ORDER BY j.priority DESC, j.run_at, j.id LIMIT 1) IS NOT NULL
                       OR (e.full AND (SELECT j.id FROM quarry.jobs j
                           WHERE j.org_id = e.org_id AND j.status = 'queued' AND j.run_at <= now() AND j.kind = ANY(p_kinds)
                           ORDER BY j.priority DESC, j.run_at, j.id LIMIT 1) IS NOT NULL)
                   ) AS active
            FROM (
                SELECT o.org_id, k.priority, k.run_at, k.id,
                       k.priority IS NULL OR o.org_id = ANY(v_elected) AS full,
                       CASE WHEN p_org_max_running IS NULL THEN p_limit
                            ELSE least(p_limit, greatest(0, p_org_max_running - (
                                SELECT count(*) FROM quarry.jobs r WHERE r.org_id = o.org_id AND r.status = 'processing'))::integer)
                       END AS room
                FROM quarry.queue_orgs o
                LEFT JOIN quarry.claim_cursors k ON k.scope = o.org_id AND k.kinds = v_kinds
                WHERE p_org_max_running IS NULL OR o.org_id = ANY(v_capped)
            ) e
            OFFSET 0
        ) e;
        PERFORM set_config('enable_sort', v_sort, true);
        -- A full scan that found nothing for an org: its cursor may stand at (0, now()) (see quarry.claim_org).
        PERFORM quarry.advance_cursor(e.org_id, v_kinds, 0, now(), v_nil, true)
        FROM unnest(coalesce(v_empty_orgs, '{}')) AS e(org_id) ORDER BY e.org_id;
        SELECT count(*), min(e.org_id::text)::uuid, min(e.room) INTO n, v_org, v_room
        FROM unnest(e_orgs, e_rooms, e_active) AS e(org_id, room, active) WHERE e.active;
        IF n = 1 THEN
            -- One org has claimable jobs: claim from it as the one-org path does, locking as it reads.
            v_ids := quarry.claim_org(v_org, p_kinds, v_kinds, v_room, v_org = ANY(coalesce(v_full_orgs, '{}')));
        ELSIF n > 1 THEN
            -- The active orgs' candidates (up to each org's room), ranked round-robin within each priority (or,
            -- with p_fair = false, in the global order), each locked by primary key in that order until the
            -- batch is full.
            WITH ranked AS MATERIALIZED (
                SELECT k.id, k.priority, k.run_at, e.org_id,
                       row_number() OVER (PARTITION BY e.org_id, k.priority ORDER BY k.run_at, k.id) AS rn
                FROM unnest(e_orgs, e_prios, e_runs, e_ids, e_fulls, e_rooms, e_active)
                     AS e(org_id, priority, run_at, id, is_full, room, active)
                CROSS JOIN LATERAL quarry.claim_candidates(e.org_id, p_kinds, e.room, e.priority, e.run_at, e.id, e.is_full) k
                WHERE e.active
            ), picked AS MATERIALIZED (
                SELECT r.id, r.org_id, r.priority, r.run_at, r.ord
                FROM (SELECT r.*, row_number() OVER (ORDER BY r.priority DESC, CASE WHEN p_fair THEN r.rn ELSE 0 END,
                                                              r.run_at, r.id) AS ord
                      FROM ranked r) r
                -- Locked by primary key, status checked on the locked row: with the status in the lock's WHERE
                -- clause the planner read the partial claim index for each candidate, on `id` (not its leading
                -- column). LIMIT 1 keeps the outer status check from being pushed back into the subquery.
                CROSS JOIN LATERAL (
                    SELECT j.id, j.status FROM quarry.jobs j WHERE j.id = r.id LIMIT 1 FOR UPDATE SKIP LOCKED
                ) l
                WHERE l.status = 'queued'
                ORDER BY r.ord
                LIMIT p_limit
            )
            SELECT array_agg(p.id ORDER BY p.ord), array_agg(p.org_id ORDER BY p.ord),
                   array_agg(p.priority ORDER BY p.ord), array_agg(p.run_at ORDER BY p.ord)
            INTO v_ids, v_orgs, v_prios, v_runs FROM picked p;
            -- Each org's cursor to the last of its jobs taken, and the full scans noted (also of orgs whose
            -- candidates were all left for the next claim), in org order.
            PERFORM quarry.advance_cursor(o.org_id, v_kinds, l.priority, l.run_at, l.id,
                                          o.org_id = ANY(coalesce(v_full_orgs, '{}')))
            FROM (SELECT DISTINCT u AS org_id FROM unnest(coalesce(v_orgs, '{}') || coalesce(v_full_orgs, '{}')) AS u
                  WHERE NOT u = ANY(coalesce(v_empty_orgs, '{}'))) o
            LEFT JOIN LATERAL (
                SELECT u.priority, u.run_at, u.id
                FROM unnest(v_orgs, v_prios, v_runs, v_ids) AS u(org_id, priority, run_at, id)
                WHERE u.org_id = o.org_id
                ORDER BY u.priority ASC, u.run_at DESC, u.id DESC LIMIT 1
            ) l ON true
            ORDER BY o.org_id;
        END IF;
    END IF;
    v_ids := coalesce(v_ids, '{}');
    IF cardinality(v_ids) = 0 THEN RETURN; END IF;

    -- Claim what was picked (the rows are locked by this transaction): one statement for every path.
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
