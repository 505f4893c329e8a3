-- File store, extraction results and the product catalog.

-- Uploaded files, stored in PostgreSQL so any worker on any node can read any upload.
-- Bytes live in upload_chunks (1 MiB rows), written and read as streams.
CREATE TABLE quarry.uploads (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL,
    file_name    text NOT NULL,
    content_type text,
    size_bytes   bigint NOT NULL DEFAULT 0,
    sha256       text,
    format       text,
    complete     boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '30 days'
);
CREATE INDEX uploads_org_idx ON quarry.uploads (org_id, created_at DESC);
CREATE INDEX uploads_expires_idx ON quarry.uploads (expires_at);

CREATE TABLE quarry.upload_chunks (
    upload_id uuid NOT NULL REFERENCES quarry.uploads (id) ON DELETE CASCADE,
    seq       integer NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (upload_id, seq)
);
ALTER TABLE quarry.upload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;  -- already-compressed files: skip pglz

-- One row per extraction job that produced output (seed 000's extraction_results).
CREATE TABLE quarry.extraction_results (
    job_id       uuid PRIMARY KEY,
    org_id       uuid NOT NULL,
    upload_id    uuid,
    cache_key    text NOT NULL,            -- sha256 of file + canonical config
    kind         text NOT NULL DEFAULT 'tabular' CHECK (kind IN ('tabular','document')),
    summary      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    committed_at timestamptz,
    commit_summary jsonb
);
CREATE INDEX extraction_results_cache_idx ON quarry.extraction_results (org_id, cache_key, created_at DESC);
CREATE INDEX extraction_results_expires_idx ON quarry.extraction_results (expires_at);

-- Extracted rows, canonical typed columns plus the unmapped rest; written with COPY.
CREATE TABLE quarry.result_rows (
    job_id         uuid NOT NULL,
    row_number     integer NOT NULL,
    valid          boolean NOT NULL,
    sku            text,
    name           text,
    description    text,
    price          numeric(18,4),
    currency       text,
    quantity       numeric(18,4),
    unit           text,
    category       text,
    brand          text,
    barcode        text,
    classification text CHECK (classification IN ('new','updated','unchanged')),
    old_price      numeric(18,4),
    extra          jsonb,
    issues         jsonb,
    PRIMARY KEY (job_id, row_number)
);
CREATE INDEX result_rows_invalid_idx ON quarry.result_rows (job_id, row_number) WHERE NOT valid;

-- Document text by page/section.
CREATE TABLE quarry.result_sections (
    job_id     uuid NOT NULL,
    index      integer NOT NULL,
    title      text,
    text       text NOT NULL,
    word_count integer NOT NULL,
    PRIMARY KEY (job_id, index)
);

-- The org's current catalog per supplier, against which rows are classified new/updated/unchanged
-- and into which a result is committed.
CREATE TABLE quarry.products (
    org_id      uuid NOT NULL,
    supplier_id text NOT NULL DEFAULT '',
    sku         text NOT NULL,
    name        text,
    price       numeric(18,4),
    currency    text,
    quantity    numeric(18,4),
    unit        text,
    extra       jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    last_job_id uuid,
    PRIMARY KEY (org_id, supplier_id, sku)
);

-- Seed 000's cleanup(): delete expired results (and their rows) in bounded batches.
CREATE FUNCTION quarry.cleanup_expired_extraction_results(p_batch integer DEFAULT 1000)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
    WITH gone AS (
        DELETE FROM quarry.extraction_results r
        WHERE r.job_id IN (SELECT job_id FROM quarry.extraction_results WHERE expires_at < now()
                           ORDER BY expires_at LIMIT p_batch FOR UPDATE SKIP LOCKED)
        RETURNING r.job_id
    ), rows_gone AS (
        DELETE FROM quarry.result_rows rr USING gone WHERE rr.job_id = gone.job_id
    ), sections_gone AS (
        DELETE FROM quarry.result_sections rs USING gone WHERE rs.job_id = gone.job_id
    )
    SELECT count(*) INTO n FROM gone;
    RETURN n;
END $$;
