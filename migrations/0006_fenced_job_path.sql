-- One fenced path for every job (issue 12).
--
-- A handler's writes and its job's completion commit together or not at all: the handler writes inside
-- its own transaction and, last, calls quarry.complete_in_tx with its lease token. That statement locks
-- the job row and checks (id, lease, 'processing'); when the lease is gone it raises SQLSTATE QL001 and
-- the caller's whole transaction rolls back, so a worker that lost its job changes nothing.
--
-- The claim's 'processing' event is in 0007 (which redefines the claim), the per-lease heartbeat and the
-- stalled recovery's 'queued' event in 0009 (which redefines both): each function is written once.

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

-- A lock wait never blocks a progress write (it doubles as a heartbeat) for long.
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

-- Results written before this migration were not fenced: drop those whose job did not complete, so the
-- commit route and the cache only ever see results of completed jobs. Expiring them lets the janitor's
-- cleanup remove them together with their rows.
UPDATE quarry.extraction_results r SET expires_at = now() - interval '1 second'
WHERE EXISTS (SELECT 1 FROM quarry.jobs j WHERE j.id = r.job_id AND j.status <> 'completed');
