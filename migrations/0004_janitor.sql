-- Janitor: leader record, hourly metric aggregates, health-check history, alert state and log.

-- Which janitor replica currently acts (the one holding the advisory lock). One row at most;
-- the leader upserts it when it wins and bumps heartbeat_at every tick, so the monitor can tell a
-- live leader (fresh heartbeat) from a stale record.
CREATE TABLE quarry.janitor_leader (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    instance_id  text NOT NULL,
    host         text NOT NULL,
    pid          integer NOT NULL,
    since        timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Raw job_metrics older than the raw retention are rolled into these hourly buckets (read by the
-- monitor's hourly-stats view). error_code is '' for rows without one, so it can be in the key.
CREATE TABLE quarry.job_metrics_hourly (
    hour              timestamptz NOT NULL,
    kind              text NOT NULL,
    status            text NOT NULL,
    error_code        text NOT NULL DEFAULT '',
    jobs              integer NOT NULL,
    total_duration_ms bigint NOT NULL,
    max_duration_ms   integer NOT NULL,
    rows_processed    bigint NOT NULL,
    PRIMARY KEY (hour, kind, status, error_code)
);

-- Roll up to p_batch raw rows older than p_older_than into job_metrics_hourly and delete them, in
-- one statement (one transaction): a crash loses nothing and never counts a row twice. SKIP LOCKED
-- lets two janitors run it at once on disjoint rows. Returns the raw rows rolled up; call again
-- while it returns p_batch.
CREATE FUNCTION quarry.rollup_job_metrics(p_older_than interval, p_batch integer DEFAULT 50000)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
    WITH picked AS MATERIALIZED (
        SELECT m.metric_id FROM quarry.job_metrics m
        WHERE m.created_at < now() - p_older_than
        ORDER BY m.created_at
        LIMIT p_batch
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM quarry.job_metrics m USING picked WHERE m.metric_id = picked.metric_id
        RETURNING m.created_at, m.kind, m.status, m.error_code, m.duration_ms, m.rows_processed
    ), rolled AS (
        INSERT INTO quarry.job_metrics_hourly AS h
            (hour, kind, status, error_code, jobs, total_duration_ms, max_duration_ms, rows_processed)
        SELECT date_trunc('hour', g.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', g.kind, g.status,
               coalesce(g.error_code, ''), count(*), sum(g.duration_ms), max(g.duration_ms), sum(g.rows_processed)
        FROM gone g
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (hour, kind, status, error_code) DO UPDATE
        SET jobs = h.jobs + excluded.jobs,
            total_duration_ms = h.total_duration_ms + excluded.total_duration_ms,
            max_duration_ms = greatest(h.max_duration_ms, excluded.max_duration_ms),
            rows_processed = h.rows_processed + excluded.rows_processed
    )
    SELECT count(*) INTO n FROM gone;
    RETURN n;
END $$;

-- One row per health check (seed 000's ExtractionMonitor health), 7 days kept by the janitor.
CREATE TABLE quarry.health_checks (
    id             bigserial PRIMARY KEY,
    checked_at     timestamptz NOT NULL DEFAULT now(),
    status         text NOT NULL,
    queue_ok       boolean NOT NULL,
    performance_ok boolean NOT NULL,
    dlq_ok         boolean NOT NULL,
    workers_ok     boolean NOT NULL,
    issues         jsonb NOT NULL,
    details        jsonb NOT NULL
);
CREATE INDEX health_checks_checked_idx ON quarry.health_checks (checked_at DESC);

-- Per-condition alert state, so a new leader continues where the old one stopped (no re-page).
CREATE TABLE quarry.alert_state (
    key           text PRIMARY KEY,
    active        boolean NOT NULL DEFAULT false,
    consecutive   integer NOT NULL DEFAULT 0,
    first_seen    timestamptz,
    last_notified timestamptz,
    last_value    jsonb,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- What was sent, to whom, and how each notifier fared.
CREATE TABLE quarry.alert_log (
    id       bigserial PRIMARY KEY,
    key      text NOT NULL,
    action   text NOT NULL,
    severity text NOT NULL,
    summary  text NOT NULL,
    sent_at  timestamptz NOT NULL DEFAULT now(),
    outcomes jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX alert_log_sent_idx ON quarry.alert_log (sent_at DESC);
CREATE INDEX alert_log_key_idx ON quarry.alert_log (key, sent_at DESC);
