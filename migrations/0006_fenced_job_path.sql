-- One fenced path for every job (issue 12).
--
-- A handler's writes and its job's completion commit together or not at all: the handler writes inside
-- its own transaction and, last, calls quarry.complete_in_tx with its lease token. That statement locks
-- the job row and checks (id, lease, 'processing'); when the lease is gone it raises SQLSTATE QL001 and
-- the caller's whole transaction rolls back, so a worker that lost its job changes nothing.

-- Complete one job inside the caller's transaction, fenced by its lease. Raises QL001 when the lease
-- is no longer held (requeued by the janitor, cancelled, completed by someone else).
CREATE FUNCTION quarry.complete_in_tx(p_id uuid, p_token uuid, p_result jsonb, p_rows bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM quarry.complete(ARRAY[p_id], ARRAY[p_token], ARRAY[p_result], ARRAY[p_rows])) THEN
        RAISE EXCEPTION 'job % is no longer held by this lease', p_id USING ERRCODE = 'QL001';
    END IF;
END $$;

-- Fails fast when a lease is already gone (a cheap check before a long write); raises QL001.
CREATE FUNCTION quarry.check_lease(p_id uuid, p_token uuid)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM quarry.jobs WHERE id = p_id AND lease_token = p_token AND status = 'processing') THEN
        RAISE EXCEPTION 'job % is no longer held by this lease', p_id USING ERRCODE = 'QL001';
    END IF;
END $$;

-- Claim: unchanged, plus one 'processing' event per 150 claimed jobs so live views see the transition.
CREATE OR REPLACE FUNCTION quarry.claim(p_worker text, p_kinds text[], p_limit integer)
RETURNS TABLE (id uuid, org_id uuid, kind text, payload jsonb, upload_id uuid, priority integer,
               attempt integer, max_attempts integer, lease_token uuid, created_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE v_token uuid := gen_random_uuid();
BEGIN
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
END $$;

-- Heartbeat answers per (id, lease): a worker may hold two runs of one job (a stale one it has not yet
-- stopped, and a fresh claim), and only the stale one is 'lost'. A lock wait never blocks it for long.
DROP FUNCTION quarry.heartbeat(text, uuid[], uuid[]);
CREATE FUNCTION quarry.heartbeat(p_worker text, p_ids uuid[], p_tokens uuid[])
RETURNS TABLE (id uuid, lease_token uuid, state text) LANGUAGE plpgsql SET lock_timeout = '5s' AS $$
BEGIN
    UPDATE quarry.workers w SET last_seen = now() WHERE w.id = p_worker;
    RETURN QUERY
    WITH held AS (SELECT * FROM unnest(p_ids, p_tokens) AS h(id, token)),
    touched AS (
        UPDATE quarry.jobs j SET heartbeat_at = now()
        FROM held WHERE j.id = held.id AND j.lease_token = held.token AND j.status = 'processing'
        RETURNING j.id, j.lease_token, j.cancel_requested
    )
    SELECT held.id, held.token, CASE WHEN t.id IS NULL THEN 'lost' WHEN t.cancel_requested THEN 'cancel' ELSE 'ok' END
    FROM held LEFT JOIN touched t ON t.id = held.id AND t.lease_token = held.token;
END $$;

ALTER FUNCTION quarry.progress(uuid, uuid, jsonb) SET lock_timeout = '5s';

-- A failed attempt. Cancel wins over a retry: a job whose cancel was requested ends 'cancelled' whatever
-- the error. Retryable errors with attempts left are rescheduled with backoff ('retry') and announced;
-- others go to the DLQ ('dead_lettered'). 'lost' when the lease is gone.
CREATE OR REPLACE FUNCTION quarry.fail(p_id uuid, p_token uuid, p_code text, p_message text, p_retryable boolean,
                            p_details jsonb DEFAULT NULL, p_base_ms integer DEFAULT 1000, p_max_ms integer DEFAULT 30000,
                            p_multiplier double precision DEFAULT 2, p_jitter double precision DEFAULT 0.1)
RETURNS TABLE (outcome text, run_at timestamptz, attempt integer) LANGUAGE plpgsql AS $$
DECLARE j quarry.jobs; v_delay integer;
BEGIN
    SELECT * INTO j FROM quarry.jobs WHERE id = p_id AND lease_token = p_token AND status = 'processing' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'lost'::text, NULL::timestamptz, NULL::integer; RETURN;
    END IF;
    IF j.cancel_requested THEN
        PERFORM quarry.finish_cancelled(p_id, p_token);
        RETURN QUERY SELECT 'cancelled'::text, NULL::timestamptz, j.attempt;
    ELSIF p_retryable AND j.attempt < j.max_attempts THEN
        v_delay := quarry.retry_delay_ms(j.attempt, p_base_ms, p_max_ms, p_multiplier, p_jitter);
        UPDATE quarry.jobs SET status = 'queued', worker_id = NULL, lease_token = NULL, heartbeat_at = NULL,
            run_at = now() + make_interval(secs => v_delay / 1000.0), updated_at = now(),
            error = jsonb_build_object('code', p_code, 'message', p_message, 'retryable', true, 'attempt', j.attempt)
        WHERE id = p_id;
        INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms, error_code, error_message)
        VALUES (j.id, j.org_id, j.kind, 'failed',
                greatest(0, extract(epoch FROM now() - j.started_at) * 1000)::integer, p_code, p_message);
        PERFORM pg_notify('quarry_events', p_id::text || ':retry');
        RETURN QUERY SELECT 'retry'::text, now() + make_interval(secs => v_delay / 1000.0), j.attempt;
    ELSE
        PERFORM quarry.dead_letter(p_id, p_code, p_message, p_details);
        RETURN QUERY SELECT 'dead_lettered'::text, NULL::timestamptz, j.attempt;
    END IF;
END $$;

-- Graceful release, announced per job (as 'queued') so live views see it.
CREATE OR REPLACE FUNCTION quarry.release(p_ids uuid[], p_tokens uuid[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE n integer; v_ids text;
BEGIN
    WITH released AS (
        UPDATE quarry.jobs j SET status = 'queued', attempt = greatest(j.attempt - 1, 0), worker_id = NULL,
            lease_token = NULL, heartbeat_at = NULL, run_at = now(), updated_at = now()
        FROM unnest(p_ids, p_tokens) AS r(id, token)
        WHERE j.id = r.id AND j.lease_token = r.token AND j.status = 'processing'
        RETURNING j.id
    )
    SELECT count(*), string_agg(released.id::text || ':queued', ',') INTO n, v_ids FROM released;
    IF n > 0 THEN
        PERFORM pg_notify('quarry_jobs', 'released');
        PERFORM pg_notify('quarry_events', v_ids);
    END IF;
    RETURN n;
END $$;

-- Stalled recovery: unchanged, plus a 'queued' event per requeued job.
CREATE OR REPLACE FUNCTION quarry.recover_stalled(p_stalled_after_ms integer)
RETURNS TABLE (id uuid, org_id uuid, worker_id text, outcome text) LANGUAGE plpgsql AS $$
DECLARE j record;
BEGIN
    FOR j IN
        SELECT s.id, s.org_id, s.worker_id, s.attempt, s.max_attempts, s.cancel_requested, s.kind FROM quarry.jobs s
        WHERE s.status = 'processing' AND s.heartbeat_at < now() - make_interval(secs => p_stalled_after_ms / 1000.0)
        ORDER BY s.heartbeat_at
        FOR UPDATE SKIP LOCKED
    LOOP
        IF j.cancel_requested THEN
            UPDATE quarry.jobs u SET status = 'cancelled', completed_at = now(), updated_at = now(), worker_id = NULL,
                lease_token = NULL,
                error = jsonb_build_object('code', 'CANCELLED', 'message', 'cancelled; its worker stopped', 'retryable', false)
            WHERE u.id = j.id;
            INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms, error_code)
            VALUES (j.id, j.org_id, j.kind, 'cancelled', 0, 'CANCELLED');
            PERFORM pg_notify('quarry_events', j.id::text || ':cancelled');
            RETURN QUERY SELECT j.id, j.org_id, j.worker_id, 'cancelled'::text;
        ELSIF j.attempt >= j.max_attempts THEN
            PERFORM quarry.dead_letter(j.id, 'STALLED',
                format('worker %s stopped heartbeating; attempts exhausted', j.worker_id),
                jsonb_build_object('worker_id', j.worker_id));
            RETURN QUERY SELECT j.id, j.org_id, j.worker_id, 'dead_lettered'::text;
        ELSE
            UPDATE quarry.jobs u SET status = 'queued', worker_id = NULL, lease_token = NULL, heartbeat_at = NULL,
                run_at = now(), updated_at = now(),
                error = jsonb_build_object('code', 'STALLED', 'message',
                        format('worker %s stopped heartbeating', j.worker_id), 'retryable', true, 'attempt', j.attempt)
            WHERE u.id = j.id;
            INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms, error_code)
            VALUES (j.id, j.org_id, j.kind, 'failed', 0, 'STALLED');
            PERFORM pg_notify('quarry_events', j.id::text || ':queued');
            RETURN QUERY SELECT j.id, j.org_id, j.worker_id, 'requeued'::text;
        END IF;
    END LOOP;
    IF FOUND THEN PERFORM pg_notify('quarry_jobs', 'recovered'); END IF;
END $$;

-- Results written before this migration were not fenced: drop those whose job did not complete, so the
-- commit route and the cache only ever see results of completed jobs. Expiring them lets the janitor's
-- cleanup remove them together with their rows.
UPDATE quarry.extraction_results r SET expires_at = now() - interval '1 second'
WHERE EXISTS (SELECT 1 FROM quarry.jobs j WHERE j.id = r.job_id AND j.status <> 'completed');
