-- A claim that stays cheap when the org set holds idle orgs, and claims that do not queue behind each other's
-- commits (issue 17).
--
-- 1. One active org among idle ones takes the one-org path.
-- quarry.queue_orgs holds every org with a queued job, also orgs whose queued jobs this claimer cannot take
-- (another kind, a run_at in the future, retries waiting for their backoff) - in production there are always some.
-- With two or more orgs in the set, every claim took the round-robin path: each org's next `room` candidates read
-- without locks, ranked, then each candidate looked up again by primary key and locked, one by one - and two
-- concurrent claims read the same candidates, so the second came back short (ClaimContentionTests). Now the claim
-- first probes each org for one claimable job (through its cursor, nothing locked); when only one org has any, it
-- claims from that org as the one-org path does: straight off jobs_claim_org_idx, locking as it reads, SKIP LOCKED
-- walking on past rows a concurrent claim holds. Two or more active orgs: round-robin as before, over their
-- candidates only. The one-org claim is quarry.claim_org (the one-org path of migration 0011, now a function).
-- `quarry bench queue --jobs 100000` on a durable cluster, interleaved, old/new: 18.3k/19.9k and 20.9k/22.8k jobs/s
-- with the org alone; 14.1k/19.8k and 15.1k/23.5k with 32 idle orgs beside it; 5.0k/20.8k and 6.3k/19.7k with 200
-- (docs/BENCHMARKS.md, "One busy org among idle ones").
--
-- 2. A cursor move does not wait for another claim's commit.
-- Every claim of an org moved the org's cursor row at its end, so a claim that ran beside another waited on the
-- cursor row's lock until the other committed - a durable commit, milliseconds - while holding its own batch's row
-- locks: pg_stat_statements showed 8.4 ms per cursor move in `quarry bench queue` (2 workers, 100k jobs). Now a
-- claim that finds the cursor row locked leaves it as it is: the concurrent claim is moving it, and the next claim
-- starts from there and walks past this claim's batch - at most one batch of entries per skipped move, bounded,
-- where the old snapshot problem was not. A full scan is done only by the claim that holds the cursor row from its
-- start (quarry.elect_full_scans), so its record is never skipped. No claim waits on a cursor row, so cursor rows
-- cannot deadlock either.
-- Invariants of migration 0011 hold: (1) cursors still only move forward (a skipped move moves nothing);
-- (2) stragglers are still found by a full scan about every 2 s (a cursor busy at the moment is scanned by a
-- later claim); (3) priority, round-robin and the org cap
-- are unchanged - one active org is round-robin's one-org case; (4) unchanged.
--
-- 3. The org cap counts an org's processing jobs after its lock is held.
-- The cap's advisory try-lock and the count were in one statement, whose snapshot predates the lock: a claim of the
-- same org that committed in between was not counted, and the org could get the cap twice (FairClaimTests'
-- aPerOrgCapHoldsAcrossConcurrentClaims caught it once the claim spent longer between its snapshot and the lock).
-- The locks are now taken in a statement of their own; the next statement's snapshot sees every earlier claim.

CREATE OR REPLACE FUNCTION quarry.advance_cursor(p_scope uuid, p_kinds text[], p_priority integer, p_run_at timestamptz,
                                                 p_id uuid, p_full boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM quarry.claim_cursors k WHERE k.scope = p_scope AND k.kinds = p_kinds FOR UPDATE SKIP LOCKED;
    -- Locked by a concurrent claim, which moves it; or not there yet, and created below.
    IF NOT FOUND AND EXISTS (SELECT 1 FROM quarry.claim_cursors k WHERE k.scope = p_scope AND k.kinds = p_kinds) THEN
        RETURN;
    END IF;
    INSERT INTO quarry.claim_cursors AS k (scope, kinds, priority, run_at, id, full_scan_at)
    VALUES (p_scope, p_kinds, p_priority, p_run_at, p_id, CASE WHEN p_full THEN clock_timestamp() ELSE '-infinity' END)
    ON CONFLICT (scope, kinds) DO UPDATE SET
        (priority, run_at, id) = (
            SELECT CASE WHEN fwd THEN EXCLUDED.priority ELSE k.priority END,
                   CASE WHEN fwd THEN EXCLUDED.run_at ELSE k.run_at END,
                   CASE WHEN fwd THEN EXCLUDED.id ELSE k.id END
            FROM (SELECT EXCLUDED.priority IS NOT NULL AND (k.priority IS NULL
                         OR (-k.priority, k.run_at, k.id) < (-EXCLUDED.priority, EXCLUDED.run_at, EXCLUDED.id)) AS fwd) f),
        full_scan_at = greatest(k.full_scan_at, EXCLUDED.full_scan_at);
END $$;

-- Which of these orgs' cursors (for one sorted kind list) are due a full scan, and this claim's to do: each one
-- locked for the rest of the transaction (SKIP LOCKED: a cursor locked by another claim - its full scan, or its
-- cursor move - is left to it, and its full scan waits for a later claim). The claim that holds the row is the one
-- that records the full scan, so exactly one claim scans a cursor in full per interval. Before, every claim that
-- saw the interval pass scanned in full, and its record was skipped whenever a concurrent claim held the row -
-- under an old snapshot, with two workers, nearly always: every claim walked every entry claimed since the snapshot
-- (ratio_to_clean 0.23-0.31 with idle orgs in the set). Orgs without a cursor are scanned in full by whoever comes.
CREATE FUNCTION quarry.elect_full_scans(p_orgs uuid[], p_sorted_kinds text[]) RETURNS uuid[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(s.scope ORDER BY s.scope), '{}') FROM (
        SELECT k.scope FROM quarry.claim_cursors k
        WHERE k.scope = ANY(p_orgs) AND k.kinds = p_sorted_kinds
          AND k.full_scan_at < clock_timestamp() - interval '2 seconds'
        ORDER BY k.scope FOR UPDATE SKIP LOCKED
    ) s
$$;

-- Claims up to p_limit claimable jobs of one org, in claim order, locking them as it reads (three ranges of
-- jobs_claim_org_idx around the org's cursor: higher priority bands from their start, the cursor's band from just
-- after it, lower bands from their start), then moves the org's cursor. Returns the ids in claim order; the caller
-- updates them. (The one-org path of migration 0011's quarry.claim.)
CREATE FUNCTION quarry.claim_org(p_org uuid, p_kinds text[], p_sorted_kinds text[], p_limit integer, p_full boolean)
RETURNS uuid[] LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$
DECLARE
    cur quarry.claim_cursors;
    v_full boolean;
    hp integer; hr timestamptz; hid uuid;
    v_ids uuid[] := '{}'; v_prios integer[] := '{}'; v_runs timestamptz[] := '{}';
    a_ids uuid[]; a_prios integer[]; a_runs timestamptz[]; n integer := 0;
BEGIN
    IF p_limit <= 0 THEN RETURN v_ids; END IF;
    SELECT * INTO cur FROM quarry.claim_cursors k WHERE k.scope = p_org AND k.kinds = p_sorted_kinds;
    v_full := p_full OR cur.priority IS NULL;
    hp := CASE WHEN v_full THEN 2147483647 ELSE cur.priority END;
    hr := CASE WHEN v_full THEN '-infinity' ELSE cur.run_at END;
    hid := CASE WHEN v_full THEN '00000000-0000-0000-0000-000000000000' ELSE cur.id END;
    SELECT array_agg(s.id), array_agg(s.priority), array_agg(s.run_at) INTO a_ids, a_prios, a_runs FROM (
        SELECT j.id, j.priority, j.run_at FROM quarry.jobs j
        WHERE j.org_id = p_org AND j.status = 'queued' AND j.priority > hp AND j.run_at <= now() AND j.kind = ANY(p_kinds)
        ORDER BY j.priority DESC, j.run_at, j.id LIMIT p_limit FOR UPDATE SKIP LOCKED) s;
    v_ids := v_ids || coalesce(a_ids, '{}'); v_prios := v_prios || coalesce(a_prios, '{}');
    v_runs := v_runs || coalesce(a_runs, '{}');
    n := cardinality(v_ids);
    IF n < p_limit THEN
        SELECT array_agg(s.id), array_agg(s.priority), array_agg(s.run_at) INTO a_ids, a_prios, a_runs FROM (
            SELECT j.id, j.priority, j.run_at FROM quarry.jobs j
            WHERE j.org_id = p_org AND j.status = 'queued' AND j.priority = hp AND (j.run_at, j.id) > (hr, hid)
              AND j.run_at <= now() AND j.kind = ANY(p_kinds)
            ORDER BY j.priority DESC, j.run_at, j.id LIMIT p_limit - n FOR UPDATE SKIP LOCKED) s;
        v_ids := v_ids || coalesce(a_ids, '{}'); v_prios := v_prios || coalesce(a_prios, '{}');
        v_runs := v_runs || coalesce(a_runs, '{}');
        n := cardinality(v_ids);
    END IF;
    IF n < p_limit THEN
        SELECT array_agg(s.id), array_agg(s.priority), array_agg(s.run_at) INTO a_ids, a_prios, a_runs FROM (
            SELECT j.id, j.priority, j.run_at FROM quarry.jobs j
            WHERE j.org_id = p_org AND j.status = 'queued' AND j.priority < hp AND j.run_at <= now() AND j.kind = ANY(p_kinds)
            ORDER BY j.priority DESC, j.run_at, j.id LIMIT p_limit - n FOR UPDATE SKIP LOCKED) s;
        v_ids := v_ids || coalesce(a_ids, '{}'); v_prios := v_prios || coalesce(a_prios, '{}');
        v_runs := v_runs || coalesce(a_runs, '{}');
        n := cardinality(v_ids);
    END IF;
    -- Move the cursor to the last job taken (never backwards); note the full scan.
    IF n > 0 THEN
        PERFORM quarry.advance_cursor(p_org, p_sorted_kinds, v_prios[n], v_runs[n], v_ids[n], v_full);
    ELSIF v_full THEN
        -- A full scan that found nothing: no job these kinds can take was due when this claim began, so the
        -- cursor may stand at (0, now()) - else a queue holding only jobs this claimer cannot take (other kinds,
        -- future run_at) would be read in full on every claim.
        PERFORM quarry.advance_cursor(p_org, p_sorted_kinds, 0, now(), '00000000-0000-0000-0000-000000000000', true);
    END IF;
    RETURN v_ids;
END $$;

-- The one claim (signature of migration 0007).
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
        -- 0011), nothing locked.
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
            SELECT e.*, e.room > 0 AND (
                       (SELECT j.id FROM quarry.jobs j
                        WHERE j.org_id = e.org_id AND j.status = 'queued' AND j.priority > e.hp
                          AND j.run_at <= now() AND j.kind = ANY(p_kinds)
                        ORDER BY j.priority DESC, j.run_at, j.id LIMIT 1) IS NOT NULL
                       OR (SELECT j.id FROM quarry.jobs j
                           WHERE j.org_id = e.org_id AND j.status = 'queued' AND j.priority = e.hp
                             AND (j.run_at, j.id) > (e.hr, e.hid) AND j.run_at <= now() AND j.kind = ANY(p_kinds)
                           ORDER BY j.priority DESC, j.run_at, j.id LIMIT 1) IS NOT NULL
                       OR (SELECT j.id FROM quarry.jobs j
                           WHERE j.org_id = e.org_id AND j.status = 'queued' AND j.priority < e.hp
                             AND j.run_at <= now() AND j.kind = ANY(p_kinds)
                           ORDER BY j.priority DESC, j.run_at, j.id LIMIT 1) IS NOT NULL
                   ) AS active
            FROM (
                SELECT e.*,
                       CASE WHEN e.full THEN 2147483647 ELSE e.priority END AS hp,
                       CASE WHEN e.full THEN '-infinity' ELSE e.run_at END AS hr,
                       CASE WHEN e.full THEN v_nil ELSE e.id END AS hid
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
            ) e
            OFFSET 0
        ) e;
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
