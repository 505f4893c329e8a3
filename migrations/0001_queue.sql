-- Quarry queue: jobs, dead-letter queue, per-job metrics, worker registry.
-- Every state change is a function below; workers never UPDATE jobs directly.
CREATE SCHEMA IF NOT EXISTS quarry;

CREATE TABLE quarry.organizations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- The org that operator-enqueued jobs (quarry enqueue, benchmarks) belong to.
INSERT INTO quarry.organizations (id, name) VALUES ('00000000-0000-0000-0000-000000000000', 'system');

-- The hot table. Claiming only ever touches the narrow partial index on queued rows,
-- so finished history does not slow it down; the janitor prunes finished rows.
CREATE TABLE quarry.jobs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL,
    kind             text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}',
    upload_id        uuid,
    priority         integer NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued','processing','completed','failed','cancelled','dead_lettered')),
    attempt          integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_at           timestamptz NOT NULL DEFAULT now(),
    worker_id        text,
    lease_token      uuid,
    heartbeat_at     timestamptz,
    cancel_requested boolean NOT NULL DEFAULT false,
    progress         jsonb,
    error            jsonb,
    result           jsonb,
    reprocessed_from uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    completed_at     timestamptz
) WITH (fillfactor = 85, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

CREATE INDEX jobs_claim_idx ON quarry.jobs (priority DESC, run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_processing_idx ON quarry.jobs (heartbeat_at) WHERE status = 'processing';
CREATE INDEX jobs_org_created_idx ON quarry.jobs (org_id, created_at DESC, id DESC);
CREATE INDEX jobs_finished_idx ON quarry.jobs (completed_at) WHERE status IN ('completed','failed','cancelled','dead_lettered');

CREATE TABLE quarry.dead_letter_jobs (
    dlq_id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id              uuid NOT NULL,
    org_id              uuid NOT NULL,
    kind                text NOT NULL,
    payload             jsonb NOT NULL,
    upload_id           uuid,
    priority            integer NOT NULL,
    retry_count         integer NOT NULL,
    error_code          text NOT NULL,
    error_message       text NOT NULL,
    error_details       jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    reprocessed_at      timestamptz,
    reprocessed_by      text,
    reprocess_notes     text,
    reprocessed_job_id  uuid
);
CREATE INDEX dead_letter_jobs_pending_idx ON quarry.dead_letter_jobs (created_at) WHERE reprocessed_at IS NULL;
CREATE INDEX dead_letter_jobs_org_idx ON quarry.dead_letter_jobs (org_id, created_at DESC);
CREATE UNIQUE INDEX dead_letter_jobs_job_idx ON quarry.dead_letter_jobs (job_id);

-- Raw per-job outcomes (seed 000's extraction_metrics); rolled up hourly by the janitor.
CREATE TABLE quarry.job_metrics (
    metric_id      bigserial PRIMARY KEY,
    job_id         uuid NOT NULL,
    org_id         uuid NOT NULL,
    kind           text NOT NULL,
    status         text NOT NULL,
    duration_ms    integer NOT NULL,
    rows_processed bigint NOT NULL DEFAULT 0,
    error_code     text,
    error_message  text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_metrics_created_idx ON quarry.job_metrics (created_at);

CREATE TABLE quarry.workers (
    id           text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    version      text NOT NULL,
    kinds        text[] NOT NULL,
    concurrency  integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);

-- Exponential backoff with jitter: min(base * mult^(attempt-1), max) plus up to jitter*delay.
CREATE FUNCTION quarry.retry_delay_ms(p_attempt integer, p_base_ms integer, p_max_ms integer,
                                      p_multiplier double precision DEFAULT 2, p_jitter double precision DEFAULT 0.1)
RETURNS integer LANGUAGE sql VOLATILE AS $$
    SELECT (d + d * p_jitter * random())::integer
    FROM (SELECT least(p_base_ms * power(p_multiplier, greatest(p_attempt - 1, 0)), p_max_ms::double precision) AS d) s
$$;

-- Enqueue one job; wakes idle workers through NOTIFY.
CREATE FUNCTION quarry.enqueue(p_org uuid, p_kind text, p_payload jsonb DEFAULT '{}', p_priority integer DEFAULT 0,
                               p_max_attempts integer DEFAULT 3, p_run_at timestamptz DEFAULT NULL,
                               p_upload_id uuid DEFAULT NULL)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE v_id uuid;
BEGIN
    INSERT INTO quarry.jobs (org_id, kind, payload, priority, max_attempts, run_at, upload_id)
    VALUES (p_org, p_kind, coalesce(p_payload, '{}'), p_priority, p_max_attempts, coalesce(p_run_at, now()), p_upload_id)
    RETURNING id INTO v_id;
    PERFORM pg_notify('quarry_jobs', p_kind);
    RETURN v_id;
END $$;

-- Enqueue many jobs of one kind in one statement (one NOTIFY).
CREATE FUNCTION quarry.enqueue_bulk(p_org uuid, p_kind text, p_payloads jsonb[], p_priority integer DEFAULT 0,
                                    p_max_attempts integer DEFAULT 3)
RETURNS SETOF uuid LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    INSERT INTO quarry.jobs (org_id, kind, payload, priority, max_attempts)
    SELECT p_org, p_kind, coalesce(p, '{}'), p_priority, p_max_attempts FROM unnest(p_payloads) AS p
    RETURNING id;
    PERFORM pg_notify('quarry_jobs', p_kind);
END $$;

-- Claim up to p_limit runnable jobs of the given kinds for one worker, highest priority first,
-- then oldest run_at, then id. The MATERIALIZED CTE is a fence: the LIMIT subquery runs once.
-- Every claimed job gets this call's lease token; later updates must present it.
CREATE FUNCTION quarry.claim(p_worker text, p_kinds text[], p_limit integer)
RETURNS TABLE (id uuid, org_id uuid, kind text, payload jsonb, upload_id uuid, priority integer,
               attempt integer, max_attempts integer, lease_token uuid, created_at timestamptz)
-- Statistics lag right after a bulk enqueue; a sequential scan + sort over the whole table would
-- then be chosen and cost 10x. The claim index always serves this query, so force it.
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
    )
    UPDATE quarry.jobs j
    SET status = 'processing', worker_id = p_worker, lease_token = v_token, attempt = j.attempt + 1,
        heartbeat_at = now(), started_at = now(), updated_at = now()
    FROM picked WHERE j.id = picked.id
    RETURNING j.id, j.org_id, j.kind, j.payload, j.upload_id, j.priority, j.attempt, j.max_attempts,
              j.lease_token, j.created_at;
END $$;

-- Heartbeat every job a worker holds in one statement, and the worker's registry row.
-- Returns one row per job passed in: 'ok', 'cancel' (cancel requested) or 'lost' (lease gone).
CREATE FUNCTION quarry.heartbeat(p_worker text, p_ids uuid[], p_tokens uuid[])
RETURNS TABLE (id uuid, state text) LANGUAGE plpgsql AS $$
BEGIN
    UPDATE quarry.workers w SET last_seen = now() WHERE w.id = p_worker;
    RETURN QUERY
    WITH held AS (SELECT * FROM unnest(p_ids, p_tokens) AS h(id, token)),
    touched AS (
        UPDATE quarry.jobs j SET heartbeat_at = now()
        FROM held WHERE j.id = held.id AND j.lease_token = held.token AND j.status = 'processing'
        RETURNING j.id, j.cancel_requested
    )
    SELECT held.id, CASE WHEN t.id IS NULL THEN 'lost' WHEN t.cancel_requested THEN 'cancel' ELSE 'ok' END
    FROM held LEFT JOIN touched t ON t.id = held.id;
END $$;

-- Complete a batch of jobs; each must still hold its lease. Returns the ids completed.
CREATE FUNCTION quarry.complete(p_ids uuid[], p_tokens uuid[], p_results jsonb[], p_rows bigint[])
RETURNS SETOF uuid LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH done AS (
        UPDATE quarry.jobs j
        SET status = 'completed', completed_at = now(), updated_at = now(), result = d.result,
            worker_id = NULL, lease_token = NULL, error = NULL,
            progress = CASE WHEN j.progress IS NULL THEN NULL
                            ELSE j.progress || jsonb_build_object('percent_complete', 100) END
        FROM unnest(p_ids, p_tokens, p_results, p_rows) AS d(id, token, result, rows_processed)
        WHERE j.id = d.id AND j.lease_token = d.token AND j.status = 'processing'
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

-- Move a job (already locked by the caller) to the dead-letter queue.
CREATE FUNCTION quarry.dead_letter(p_id uuid, p_code text, p_message text, p_details jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE j quarry.jobs;
BEGIN
    UPDATE quarry.jobs SET status = 'dead_lettered', completed_at = now(), updated_at = now(),
        worker_id = NULL, lease_token = NULL,
        error = jsonb_build_object('code', p_code, 'message', p_message, 'retryable', false) ||
                CASE WHEN p_details IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('details', p_details) END
    WHERE id = p_id RETURNING * INTO j;
    INSERT INTO quarry.dead_letter_jobs (job_id, org_id, kind, payload, upload_id, priority, retry_count,
                                         error_code, error_message, error_details)
    VALUES (j.id, j.org_id, j.kind, j.payload, j.upload_id, j.priority, j.attempt, p_code, p_message, p_details)
    ON CONFLICT (job_id) DO NOTHING;
    INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms, error_code, error_message)
    VALUES (j.id, j.org_id, j.kind, 'dead_lettered',
            greatest(0, extract(epoch FROM now() - coalesce(j.started_at, now())) * 1000)::integer, p_code, p_message);
    PERFORM pg_notify('quarry_events', j.id::text || ':dead_lettered');
END $$;

-- A worker reports a failed attempt. Retryable errors with attempts left are rescheduled with
-- backoff ('retry'); others go to the DLQ ('dead_lettered'). 'lost' when the lease is gone.
CREATE FUNCTION quarry.fail(p_id uuid, p_token uuid, p_code text, p_message text, p_retryable boolean,
                            p_details jsonb DEFAULT NULL, p_base_ms integer DEFAULT 1000, p_max_ms integer DEFAULT 30000,
                            p_multiplier double precision DEFAULT 2, p_jitter double precision DEFAULT 0.1)
RETURNS TABLE (outcome text, run_at timestamptz, attempt integer) LANGUAGE plpgsql AS $$
DECLARE j quarry.jobs; v_delay integer;
BEGIN
    SELECT * INTO j FROM quarry.jobs WHERE id = p_id AND lease_token = p_token AND status = 'processing' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'lost'::text, NULL::timestamptz, NULL::integer; RETURN;
    END IF;
    IF p_retryable AND j.attempt < j.max_attempts AND NOT j.cancel_requested THEN
        v_delay := quarry.retry_delay_ms(j.attempt, p_base_ms, p_max_ms, p_multiplier, p_jitter);
        UPDATE quarry.jobs SET status = 'queued', worker_id = NULL, lease_token = NULL, heartbeat_at = NULL,
            run_at = now() + make_interval(secs => v_delay / 1000.0), updated_at = now(),
            error = jsonb_build_object('code', p_code, 'message', p_message, 'retryable', true, 'attempt', j.attempt)
        WHERE id = p_id;
        INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms, error_code, error_message)
        VALUES (j.id, j.org_id, j.kind, 'failed',
                greatest(0, extract(epoch FROM now() - j.started_at) * 1000)::integer, p_code, p_message);
        RETURN QUERY SELECT 'retry'::text, now() + make_interval(secs => v_delay / 1000.0), j.attempt;
    ELSE
        PERFORM quarry.dead_letter(p_id, p_code, p_message, p_details);
        RETURN QUERY SELECT 'dead_lettered'::text, NULL::timestamptz, j.attempt;
    END IF;
END $$;

-- Report progress (fenced by the lease); NOTIFY lets live views update without polling.
CREATE FUNCTION quarry.progress(p_id uuid, p_token uuid, p_progress jsonb)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE quarry.jobs SET progress = p_progress, heartbeat_at = now()
    WHERE id = p_id AND lease_token = p_token AND status = 'processing';
    IF NOT FOUND THEN RETURN false; END IF;
    PERFORM pg_notify('quarry_events', p_id::text || ':progress');
    RETURN true;
END $$;

-- Cancel: a queued job is cancelled at once; a running job is flagged and its worker told.
-- Returns 'cancelled', 'cancelling', 'not_found' or the final status it already had.
CREATE FUNCTION quarry.cancel(p_id uuid, p_org uuid DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE j quarry.jobs;
BEGIN
    SELECT * INTO j FROM quarry.jobs WHERE id = p_id AND (p_org IS NULL OR org_id = p_org) FOR UPDATE;
    IF NOT FOUND THEN RETURN 'not_found'; END IF;
    IF j.status = 'queued' THEN
        UPDATE quarry.jobs SET status = 'cancelled', completed_at = now(), updated_at = now(),
            error = jsonb_build_object('code', 'CANCELLED', 'message', 'cancelled before it ran', 'retryable', false)
        WHERE id = p_id;
        INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms, error_code)
        VALUES (j.id, j.org_id, j.kind, 'cancelled', 0, 'CANCELLED');
        PERFORM pg_notify('quarry_events', p_id::text || ':cancelled');
        RETURN 'cancelled';
    ELSIF j.status = 'processing' THEN
        UPDATE quarry.jobs SET cancel_requested = true, updated_at = now() WHERE id = p_id;
        PERFORM pg_notify('quarry_cancel', p_id::text || ':' || coalesce(j.worker_id, ''));
        RETURN 'cancelling';
    END IF;
    RETURN j.status;
END $$;

-- The worker acknowledges a cancellation it carried out.
CREATE FUNCTION quarry.finish_cancelled(p_id uuid, p_token uuid)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE j quarry.jobs;
BEGIN
    UPDATE quarry.jobs SET status = 'cancelled', completed_at = now(), updated_at = now(), worker_id = NULL,
        lease_token = NULL,
        error = jsonb_build_object('code', 'CANCELLED', 'message', 'cancelled while running', 'retryable', false)
    WHERE id = p_id AND lease_token = p_token AND status = 'processing' RETURNING * INTO j;
    IF NOT FOUND THEN RETURN false; END IF;
    INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms, error_code)
    VALUES (j.id, j.org_id, j.kind, 'cancelled',
            greatest(0, extract(epoch FROM now() - j.started_at) * 1000)::integer, 'CANCELLED');
    PERFORM pg_notify('quarry_events', p_id::text || ':cancelled');
    RETURN true;
END $$;

-- Graceful shutdown: hand jobs back without charging the attempt.
CREATE FUNCTION quarry.release(p_ids uuid[], p_tokens uuid[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
    UPDATE quarry.jobs j SET status = 'queued', attempt = greatest(j.attempt - 1, 0), worker_id = NULL,
        lease_token = NULL, heartbeat_at = NULL, run_at = now(), updated_at = now()
    FROM unnest(p_ids, p_tokens) AS r(id, token)
    WHERE j.id = r.id AND j.lease_token = r.token AND j.status = 'processing';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN PERFORM pg_notify('quarry_jobs', 'released'); END IF;
    RETURN n;
END $$;

-- Requeue jobs whose heartbeat is older than the threshold (their worker died or hung).
-- The attempt was charged at claim; jobs out of attempts go to the DLQ as STALLED. The old
-- lease is voided, so the old worker can no longer complete or fail them. SKIP LOCKED makes
-- two concurrent recoveries take disjoint sets.
CREATE FUNCTION quarry.recover_stalled(p_stalled_after_ms integer)
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
            -- Its worker died before acting on a cancel: the cancel wins.
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
            SELECT j.id, j.org_id, q.kind, 'failed', 0, 'STALLED' FROM quarry.jobs q WHERE q.id = j.id;
            RETURN QUERY SELECT j.id, j.org_id, j.worker_id, 'requeued'::text;
        END IF;
    END LOOP;
    IF FOUND THEN PERFORM pg_notify('quarry_jobs', 'recovered'); END IF;
END $$;

-- Turn a DLQ entry into a new queued job, recording who and why. Fails if already reprocessed.
CREATE FUNCTION quarry.reprocess_dlq(p_dlq_id uuid, p_by text, p_notes text, p_org uuid DEFAULT NULL,
                                     p_payload jsonb DEFAULT NULL)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE d quarry.dead_letter_jobs; v_id uuid;
BEGIN
    SELECT * INTO d FROM quarry.dead_letter_jobs
    WHERE dlq_id = p_dlq_id AND (p_org IS NULL OR org_id = p_org) FOR UPDATE;
    IF NOT FOUND THEN RAISE EXCEPTION 'dead-letter entry % not found', p_dlq_id USING ERRCODE = 'P0002'; END IF;
    IF d.reprocessed_at IS NOT NULL THEN
        RAISE EXCEPTION 'dead-letter entry % was already reprocessed as job %', p_dlq_id, d.reprocessed_job_id
            USING ERRCODE = 'P0003';
    END IF;
    INSERT INTO quarry.jobs (org_id, kind, payload, upload_id, priority, reprocessed_from)
    VALUES (d.org_id, d.kind, coalesce(p_payload, d.payload), d.upload_id, d.priority, d.job_id)
    RETURNING id INTO v_id;
    UPDATE quarry.dead_letter_jobs SET reprocessed_at = now(), reprocessed_by = p_by, reprocess_notes = p_notes,
        reprocessed_job_id = v_id WHERE dlq_id = p_dlq_id;
    PERFORM pg_notify('quarry_jobs', d.kind);
    RETURN v_id;
END $$;

-- Worker registry.
CREATE FUNCTION quarry.register_worker(p_id text, p_host text, p_pid integer, p_version text, p_kinds text[],
                                       p_concurrency integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO quarry.workers (id, host, pid, version, kinds, concurrency)
    VALUES (p_id, p_host, p_pid, p_version, p_kinds, p_concurrency)
    ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version,
        kinds = excluded.kinds, concurrency = excluded.concurrency, last_seen = now(), stopped_at = NULL
$$;

CREATE FUNCTION quarry.deregister_worker(p_id text)
RETURNS void LANGUAGE sql AS $$
    UPDATE quarry.workers SET stopped_at = now(), last_seen = now() WHERE id = p_id
$$;
