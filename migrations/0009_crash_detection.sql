-- Crash detection in seconds (issue 17): each worker's heartbeat session is recorded in quarry.workers
-- (backend pid and start time). When that session is gone from pg_stat_activity the worker process died
-- (or lost the network): its jobs are requeued at once, instead of after the stall threshold. A worker that is
-- alive but silent (SIGSTOP, long GC) keeps its session, so only the stall threshold recovers it. A worker cut
-- off by a partition is requeued as soon as PostgreSQL drops its session; when it comes back its lease is gone
-- and the fence (migration 0006) rejects whatever it tries to write.
-- Right after a server restart every session is new: sessions recorded before the restart are not judged
-- until their worker attaches again (its next heartbeat), so a restart falls back to the stall threshold.
ALTER TABLE quarry.workers ADD COLUMN session_pid integer, ADD COLUMN session_started timestamptz;

-- Heartbeat answers per (id, lease): a worker may hold two runs of one job (a stale one it has not yet
-- stopped, and a fresh claim), and only the stale one is 'lost'. A lock wait never blocks it for long.
DROP FUNCTION quarry.heartbeat(text, uuid[], uuid[]);
CREATE FUNCTION quarry.heartbeat(p_worker text, p_ids uuid[], p_tokens uuid[])
RETURNS TABLE (id uuid, lease_token uuid, state text) LANGUAGE plpgsql SET lock_timeout = '5s' AS $$
BEGIN
    UPDATE quarry.workers w SET last_seen = now(), stopped_at = NULL, session_pid = pg_backend_pid(),
        session_started = (SELECT a.backend_start FROM pg_stat_activity a WHERE a.pid = pg_backend_pid())
    WHERE w.id = p_worker;
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

-- Recover one processing job (already locked by the caller) whose worker is gone: cancelled if a cancel was
-- asked, dead-lettered as STALLED when out of attempts, else requeued. Returns the outcome.
CREATE FUNCTION quarry.recover_job(p_id uuid, p_reason text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE j quarry.jobs;
BEGIN
    SELECT * INTO j FROM quarry.jobs WHERE id = p_id;
    IF j.cancel_requested THEN
        UPDATE quarry.jobs u SET status = 'cancelled', completed_at = now(), updated_at = now(), worker_id = NULL,
            lease_token = NULL,
            error = jsonb_build_object('code', 'CANCELLED', 'message', 'cancelled; its worker stopped', 'retryable', false)
        WHERE u.id = p_id;
        INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms, error_code)
        VALUES (j.id, j.org_id, j.kind, 'cancelled', 0, 'CANCELLED');
        PERFORM pg_notify('quarry_events', p_id::text || ':cancelled');
        RETURN 'cancelled';
    ELSIF j.attempt >= j.max_attempts THEN
        PERFORM quarry.dead_letter(p_id, 'STALLED', format('worker %s %s; attempts exhausted', j.worker_id, p_reason),
            jsonb_build_object('worker_id', j.worker_id));
        RETURN 'dead_lettered';
    END IF;
    UPDATE quarry.jobs u SET status = 'queued', worker_id = NULL, lease_token = NULL, heartbeat_at = NULL,
        run_at = now(), updated_at = now(),
        error = jsonb_build_object('code', 'STALLED', 'message', format('worker %s %s', j.worker_id, p_reason),
                                   'retryable', true, 'attempt', j.attempt)
    WHERE u.id = p_id;
    INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms, error_code)
    VALUES (j.id, j.org_id, j.kind, 'failed', 0, 'STALLED');
    PERFORM pg_notify('quarry_events', p_id::text || ':queued');
    RETURN 'requeued';
END $$;

CREATE OR REPLACE FUNCTION quarry.recover_stalled(p_stalled_after_ms integer)
RETURNS TABLE (id uuid, org_id uuid, worker_id text, outcome text) LANGUAGE plpgsql AS $$
DECLARE j record;
BEGIN
    FOR j IN
        SELECT s.id, s.org_id, s.worker_id FROM quarry.jobs s
        WHERE s.status = 'processing' AND s.heartbeat_at < now() - make_interval(secs => p_stalled_after_ms / 1000.0)
        ORDER BY s.heartbeat_at
        FOR UPDATE SKIP LOCKED
    LOOP
        RETURN QUERY SELECT j.id, j.org_id, j.worker_id, quarry.recover_job(j.id, 'stopped heartbeating');
    END LOOP;
    IF FOUND THEN PERFORM pg_notify('quarry_jobs', 'recovered'); END IF;
END $$;

-- Requeues at once the jobs of workers whose heartbeat session has ended, and marks those workers stopped.
CREATE FUNCTION quarry.recover_dead_workers()
RETURNS TABLE (id uuid, org_id uuid, worker_id text, outcome text) LANGUAGE plpgsql AS $$
DECLARE w record; j record; n integer := 0;
BEGIN
    FOR w IN
        SELECT k.id FROM quarry.workers k
        WHERE k.stopped_at IS NULL AND k.session_pid IS NOT NULL
          AND k.session_started > pg_postmaster_start_time()
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = k.session_pid AND a.backend_start = k.session_started)
        FOR UPDATE SKIP LOCKED
    LOOP
        UPDATE quarry.workers SET stopped_at = now() WHERE quarry.workers.id = w.id;
        FOR j IN
            SELECT s.id, s.org_id, s.worker_id FROM quarry.jobs s
            WHERE s.status = 'processing' AND s.worker_id = w.id
            FOR UPDATE SKIP LOCKED
        LOOP
            n := n + 1;
            RETURN QUERY SELECT j.id, j.org_id, j.worker_id, quarry.recover_job(j.id, 'session ended');
        END LOOP;
    END LOOP;
    IF n > 0 THEN PERFORM pg_notify('quarry_jobs', 'recovered'); END IF;
END $$;
