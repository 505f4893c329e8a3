-- Issue 13 part 1: result rows stored in blocks of about a thousand rows per table row.
--
-- One PostgreSQL row per result row cost a heap tuple, a primary-key entry and a change-index entry per row
-- (~1.6x the physical floor just loading 1M rows). A block is one tuple: the rows as an array of the composite
-- quarry.result_row (TOAST-compressed with lz4), plus summaries that let every reader skip the blocks it does not
-- need without detoasting them.
--
-- Invariants (every writer keeps them; ARCHITECTURE.md "Result storage"):
--   * a job's blocks have disjoint row ranges [first_row, last_row]; the rows inside a block are sorted by
--     row_number, so (first_row, row_number) is the row order and keyset pages walk the primary key;
--   * the summaries are exactly what the rows say: the worker computes them for its binary COPY, every other
--     write (INSERT without summaries, any UPDATE of `rows`) has them recomputed by quarry.result_block_summarize;
--   * a row's review decision lives in result_decisions (a held row's only mutable state after classification).
--
-- Existing rows are dropped as expired cache: an extraction result is re-derivable from its upload, and results
-- are kept for hours (EXTRACTION_RESULT_TTL_HOURS). Uncommitted tabular results expire now, so a new job
-- re-extracts the file instead of reading an empty result.

CREATE TYPE quarry.result_row AS (
    row_number     integer,
    valid          boolean,
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
    classification text,           -- seed meaning (price only): new | updated | unchanged
    old_price      numeric(18,4),
    old_currency   text,
    change         text,           -- new | updated | unchanged | held | NULL (the commit ignores the row)
    extra          jsonb,
    issues         jsonb,
    source         jsonb           -- the row's source cells (reject file)
);

CREATE TABLE quarry.result_blocks (
    job_id        uuid NOT NULL,
    first_row     integer NOT NULL,
    last_row      integer NOT NULL,
    row_count     integer NOT NULL,
    valid_count   integer NOT NULL,
    invalid_count integer NOT NULL,
    n_new         integer NOT NULL,
    n_updated     integer NOT NULL,
    n_unchanged   integer NOT NULL,
    n_held        integer NOT NULL,
    -- Distinct issue codes of the block's rows (errors and warnings).
    issue_codes   text[] NOT NULL,
    rows          quarry.result_row[] NOT NULL,
    PRIMARY KEY (job_id, first_row)
);
-- lz4 where the server is built with it (PostgreSQL 14+, --with-lz4; the dev server is), else the default pglz.
DO $$
BEGIN
    ALTER TABLE quarry.result_blocks ALTER COLUMN rows SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available: result blocks are compressed with pglz';
END $$;
ALTER TABLE quarry.result_blocks ALTER COLUMN rows SET STORAGE EXTENDED;

-- A held row's review decision (POST …/review).
CREATE TABLE quarry.result_decisions (
    job_id     uuid NOT NULL,
    row_number integer NOT NULL,
    decision   text NOT NULL CHECK (decision IN ('approved','rejected')),
    PRIMARY KEY (job_id, row_number)
);

-- The summaries of a block, from its rows: the one definition every rewrite shares.
CREATE FUNCTION quarry.result_block_summarize() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT min(r.row_number), max(r.row_number), count(*), count(*) FILTER (WHERE r.valid), count(*) FILTER (WHERE NOT r.valid),
           count(*) FILTER (WHERE r.change = 'new'), count(*) FILTER (WHERE r.change = 'updated'),
           count(*) FILTER (WHERE r.change = 'unchanged'), count(*) FILTER (WHERE r.change = 'held'),
           coalesce((SELECT array_agg(DISTINCT i->>'code' ORDER BY i->>'code')
                     FROM unnest(NEW.rows) x, jsonb_array_elements(coalesce(x.issues, '[]'::jsonb)) i), '{}')
    INTO NEW.first_row, NEW.last_row, NEW.row_count, NEW.valid_count, NEW.invalid_count,
         NEW.n_new, NEW.n_updated, NEW.n_unchanged, NEW.n_held, NEW.issue_codes
    FROM unnest(NEW.rows) r;
    RETURN NEW;
END $$;
-- The worker's COPY brings its summaries (row_count set); an INSERT without them, and every rewrite, is summarised.
CREATE TRIGGER result_blocks_summarize_insert BEFORE INSERT ON quarry.result_blocks
    FOR EACH ROW WHEN (NEW.row_count IS NULL) EXECUTE FUNCTION quarry.result_block_summarize();
CREATE TRIGGER result_blocks_summarize_update BEFORE UPDATE OF rows ON quarry.result_blocks
    FOR EACH ROW EXECUTE FUNCTION quarry.result_block_summarize();
-- NOT NULL is checked after BEFORE triggers; the INSERT trigger fills them.

-- The rows of a job, one SQL row per result row: for set-based SQL over a whole job and for ad-hoc queries.
-- A filter on job_id reaches the blocks' primary key; nothing else is pushed into the blocks, so paged readers
-- use the block summaries directly (quarry.result_page, the diff route).
DROP TABLE quarry.result_rows;
CREATE VIEW quarry.result_rows AS
    SELECT b.job_id, r.row_number, r.valid, r.sku, r.name, r.description, r.price, r.currency, r.quantity, r.unit, r.category,
           r.brand, r.barcode, r.classification, r.old_price, r.extra, r.issues, r.change, r.old_currency, d.decision, r.source
    FROM quarry.result_blocks b CROSS JOIN LATERAL unnest(b.rows) r
    LEFT JOIN quarry.result_decisions d ON d.job_id = b.job_id AND d.row_number = r.row_number;

-- Hand-written rows (fixtures, repairs) through the view: each becomes a one-row block. The worker never uses this.
CREATE FUNCTION quarry.result_rows_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO quarry.result_blocks (job_id, first_row, rows)
    VALUES (NEW.job_id, NEW.row_number, ARRAY[ROW(NEW.row_number, NEW.valid, NEW.sku, NEW.name, NEW.description, NEW.price,
        NEW.currency, NEW.quantity, NEW.unit, NEW.category, NEW.brand, NEW.barcode, NEW.classification, NEW.old_price,
        NEW.old_currency, NEW.change, NEW.extra, NEW.issues, NEW.source)::quarry.result_row]);
    IF NEW.decision IS NOT NULL THEN
        INSERT INTO quarry.result_decisions (job_id, row_number, decision) VALUES (NEW.job_id, NEW.row_number, NEW.decision);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER result_rows_insert INSTEAD OF INSERT ON quarry.result_rows
    FOR EACH ROW EXECUTE FUNCTION quarry.result_rows_insert();

-- Paged readers. A page of p_limit rows after row p_after reads only the blocks it needs, whatever plan the
-- planner picks: quarry.page_blocks chooses them from the summaries alone (no detoasting) — the blocks after the
-- cursor with at least one wanted row (`wanted`: that block's count of wanted rows), up to the first block by which
-- p_limit wanted rows are certain — and only those are unpacked with unnest and sorted.
CREATE FUNCTION quarry.page_blocks(p_job uuid, p_after integer, p_limit integer, p_kind text)
RETURNS TABLE (first_row integer, rows quarry.result_row[]) LANGUAGE sql STABLE AS $$
    SELECT s.first_row, s.rows FROM (
        SELECT w.first_row, w.rows,
               sum(w.wanted) OVER (ORDER BY w.first_row ROWS UNBOUNDED PRECEDING) - w.wanted AS before,
               first_value(w.wanted) OVER (ORDER BY w.first_row) AS first_wanted,
               first_value(w.first_row) OVER (ORDER BY w.first_row) AS first_first
        FROM (
            SELECT b.first_row, b.rows, CASE p_kind
                WHEN 'valid' THEN b.valid_count
                WHEN 'invalid' THEN b.invalid_count
                WHEN 'new' THEN b.n_new WHEN 'updated' THEN b.n_updated WHEN 'unchanged' THEN b.n_unchanged WHEN 'held' THEN b.n_held
                WHEN 'diff' THEN b.n_new + b.n_updated + b.n_unchanged + b.n_held
                -- Invalid rows and held rows rejected in review (a decision exists only for a held row).
                WHEN 'rejects' THEN b.invalid_count + CASE WHEN b.n_held > 0 THEN (
                    SELECT count(*)::integer FROM quarry.result_decisions d
                    WHERE d.job_id = p_job AND d.decision = 'rejected' AND d.row_number BETWEEN b.first_row AND b.last_row) ELSE 0 END
                ELSE b.row_count END AS wanted
            FROM quarry.result_blocks b WHERE b.job_id = p_job AND b.last_row > p_after
        ) w WHERE w.wanted > 0
    ) s
    -- The first block may hold wanted rows before the cursor: when it holds the cursor, count from the next block.
    WHERE CASE WHEN s.first_first > p_after THEN s.before ELSE s.before - s.first_wanted END < p_limit
$$;

-- A keyset page of a job's rows after p_after (row order), optionally only valid or only invalid rows.
CREATE FUNCTION quarry.result_page(p_job uuid, p_valid boolean, p_after integer, p_limit integer)
RETURNS SETOF quarry.result_row LANGUAGE sql STABLE AS $$
    SELECT r.* FROM quarry.page_blocks(p_job, p_after, p_limit, CASE p_valid WHEN true THEN 'valid' WHEN false THEN 'invalid' END) b
    CROSS JOIN LATERAL unnest(b.rows) r
    WHERE (p_valid IS NULL OR r.valid = p_valid) AND r.row_number > p_after
    ORDER BY b.first_row, r.row_number
    LIMIT p_limit
$$;

-- Rows of the diff after p_after: with p_change, the rows of that change; without, every row the commit considers.
CREATE FUNCTION quarry.diff_page(p_job uuid, p_change text, p_after integer, p_limit integer)
RETURNS SETOF quarry.result_row LANGUAGE sql STABLE AS $$
    SELECT r.* FROM quarry.page_blocks(p_job, p_after, p_limit, coalesce(p_change, 'diff')) b
    CROSS JOIN LATERAL unnest(b.rows) r
    WHERE (r.change = p_change OR (p_change IS NULL AND r.change IS NOT NULL)) AND r.row_number > p_after
    ORDER BY b.first_row, r.row_number
    LIMIT p_limit
$$;

-- Rows of the reject file after p_after: invalid rows and held rows rejected in review.
CREATE FUNCTION quarry.reject_page(p_job uuid, p_after integer, p_limit integer)
RETURNS SETOF quarry.result_row LANGUAGE sql STABLE AS $$
    SELECT r.* FROM quarry.page_blocks(p_job, p_after, p_limit, 'rejects') b
    CROSS JOIN LATERAL unnest(b.rows) r
    WHERE (NOT r.valid OR EXISTS (
          SELECT 1 FROM quarry.result_decisions d WHERE d.job_id = p_job AND d.row_number = r.row_number AND d.decision = 'rejected'))
      AND r.row_number > p_after
    ORDER BY b.first_row, r.row_number
    LIMIT p_limit
$$;

-- A job's held rows (review), from the blocks that have any.
CREATE FUNCTION quarry.held_rows(p_job uuid) RETURNS TABLE (row_number integer, sku text) LANGUAGE sql STABLE AS $$
    SELECT r.row_number, r.sku FROM quarry.result_blocks b CROSS JOIN LATERAL unnest(b.rows) r
    WHERE b.job_id = p_job AND b.n_held > 0 AND r.change = 'held'
$$;

-- The first rows of the blocks holding any of p_rows (one primary-key probe per row number).
CREATE FUNCTION quarry.blocks_of(p_job uuid, p_rows integer[]) RETURNS SETOF integer LANGUAGE sql STABLE AS $$
    SELECT DISTINCT x.first_row FROM unnest(p_rows) n(n)
    CROSS JOIN LATERAL (
        SELECT b.first_row FROM quarry.result_blocks b WHERE b.job_id = p_job AND b.first_row <= n.n
        ORDER BY b.first_row DESC LIMIT 1) x
$$;

-- A row with another change / one more issue (whole-row rewrites of the few rows a pass touches).
CREATE FUNCTION quarry.result_row_set(r quarry.result_row, p_change text, p_issue jsonb)
RETURNS quarry.result_row LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_issue IS NULL THEN
        r.change := p_change;
    ELSE
        r.issues := coalesce(r.issues, '[]'::jsonb) || jsonb_build_array(p_issue);
    END IF;
    RETURN r;
END $$;

-- Adds a DUPLICATE_SKU warning to each of p_rows (every occurrence of a SKU after its first): rewrites only the
-- blocks that hold them.
CREATE FUNCTION quarry.flag_duplicates(p_job uuid, p_rows integer[], p_code text) RETURNS void LANGUAGE sql AS $$
    WITH fresh AS (
        SELECT b.first_row,
               array_agg(CASE WHEN h.n IS NULL THEN r ELSE quarry.result_row_set(r, NULL, jsonb_build_object(
                   'column', 'sku', 'code', p_code,
                   'message', 'SKU ''' || left(r.sku, 100) || ''' appears more than once', 'severity', 'warning')) END
                   ORDER BY r.row_number) AS rows
        FROM quarry.blocks_of(p_job, p_rows) t(first_row)
        JOIN quarry.result_blocks b ON b.job_id = p_job AND b.first_row = t.first_row
        CROSS JOIN LATERAL unnest(b.rows) r
        LEFT JOIN unnest(p_rows) h(n) ON h.n = r.row_number
        GROUP BY b.first_row
    )
    UPDATE quarry.result_blocks b SET rows = f.rows FROM fresh f WHERE b.job_id = p_job AND b.first_row = f.first_row
$$;

-- Copies another job's rows into p_job (a cached result, or the accepted rows of a retried job), merged with the
-- rows p_job already has and cut into blocks of 1,000 again, so the block invariants hold whatever was there.
-- p_only_valid keeps the accepted rows only; p_reset writes valid rows as classification 'new' (to be classified
-- against today's catalog). The catalog change is always reset (classification recomputes it). Returns the number
-- of rows copied.
CREATE FUNCTION quarry.copy_result_rows(p_job uuid, p_from uuid, p_only_valid boolean, p_reset boolean)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    SELECT coalesce(sum(CASE WHEN p_only_valid THEN valid_count ELSE row_count END), 0) INTO n
    FROM quarry.result_blocks WHERE job_id = p_from;
    WITH gone AS (
        DELETE FROM quarry.result_blocks WHERE job_id = p_job RETURNING rows
    ), every AS (
        SELECT r FROM gone CROSS JOIN LATERAL unnest(gone.rows) r
        UNION ALL
        SELECT ROW(r.row_number, r.valid, r.sku, r.name, r.description, r.price, r.currency, r.quantity, r.unit, r.category,
                   r.brand, r.barcode,
                   CASE WHEN p_reset THEN CASE WHEN r.valid THEN 'new' END ELSE r.classification END,
                   CASE WHEN p_reset THEN NULL ELSE r.old_price END, NULL,
                   CASE WHEN r.valid AND r.sku <> '' THEN 'new' END, r.extra, r.issues, r.source)::quarry.result_row
        FROM quarry.result_blocks b CROSS JOIN LATERAL unnest(b.rows) r
        WHERE b.job_id = p_from AND (NOT p_only_valid OR (b.valid_count > 0 AND r.valid))
    ), numbered AS (
        SELECT e.r, (row_number() OVER (ORDER BY (e.r).row_number) - 1) / 1000 AS k FROM every e
    )
    INSERT INTO quarry.result_blocks (job_id, first_row, rows)
    SELECT p_job, min((x.r).row_number), array_agg(x.r ORDER BY (x.r).row_number) FROM numbered x GROUP BY x.k;
    RETURN n;
END $$;

-- Classification over blocks: one batch of up to p_limit blocks after first_row p_after (blocks with valid rows),
-- each block rewritten once (one tuple per 1,000 rows) when any of its rows is in the catalog. Same rules as
-- migration 0010's classify_rows: a row whose SKU is in the catalog becomes unchanged, updated or held (change),
-- and `classification` / `old_price` keep their seed meaning (price only). Returns the batch's last first_row.
CREATE FUNCTION quarry.classify_blocks(p_job uuid, p_org uuid, p_supplier text, p_guard jsonb, p_after integer, p_limit integer)
RETURNS integer LANGUAGE sql AS $$
    WITH batch AS (
        SELECT first_row FROM quarry.result_blocks
        WHERE job_id = p_job AND first_row > p_after AND valid_count > 0 ORDER BY first_row LIMIT p_limit
    ), fresh AS (
        SELECT b.first_row, array_agg(CASE WHEN m.p IS NULL THEN r ELSE ROW(
                   r.row_number, r.valid, r.sku, r.name, r.description, r.price, r.currency, r.quantity, r.unit, r.category,
                   r.brand, r.barcode,
                   CASE WHEN (m.p).price IS DISTINCT FROM r.price THEN 'updated' ELSE 'unchanged' END,
                   CASE WHEN (m.p).price IS DISTINCT FROM r.price THEN (m.p).price END,
                   (m.p).currency,
                   CASE
                       WHEN r.change IS NULL THEN NULL
                       WHEN NOT quarry.product_changed(m.p, r.name, r.price, r.currency, r.quantity, r.unit, r.extra) THEN 'unchanged'
                       WHEN quarry.price_held((m.p).price, r.price, (m.p).currency, r.currency, p_guard) THEN 'held'
                       ELSE 'updated' END,
                   r.extra, r.issues, r.source)::quarry.result_row END
                   ORDER BY r.row_number) AS rows,
               count(m.p) AS matched
        FROM batch x JOIN quarry.result_blocks b ON b.job_id = p_job AND b.first_row = x.first_row
        CROSS JOIN LATERAL unnest(b.rows) r
        -- One index probe per valid row (LIMIT 1 keeps the lateral a nested loop).
        LEFT JOIN LATERAL (
            SELECT p FROM quarry.products p WHERE p.org_id = p_org AND p.supplier_id = p_supplier AND p.sku = r.sku LIMIT 1
        ) m ON r.valid
        GROUP BY b.first_row
    ), done AS (
        UPDATE quarry.result_blocks b SET rows = f.rows FROM fresh f
        WHERE b.job_id = p_job AND b.first_row = f.first_row AND f.matched > 0
        RETURNING 1
    )
    SELECT max(first_row) FROM batch  -- a data-modifying CTE always runs to completion
$$;

-- Migration 0010's row-numbered entry point, over blocks: classifies the blocks holding the next p_limit rows
-- after row p_after (whole blocks: classifying a row again gives the same result) and returns the last row number
-- they cover (NULL when there is none).
CREATE OR REPLACE FUNCTION quarry.classify_rows(p_job uuid, p_org uuid, p_supplier text, p_guard jsonb, p_after integer, p_limit integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    f integer;
    l integer;
    n integer;
BEGIN
    SELECT min(c.first_row), max(c.last_row), count(*) INTO f, l, n FROM (
        SELECT first_row, last_row, sum(row_count) OVER (ORDER BY first_row) - row_count AS before
        FROM quarry.result_blocks WHERE job_id = p_job AND last_row > p_after AND valid_count > 0) c
    WHERE c.before < p_limit;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM quarry.classify_blocks(p_job, p_org, p_supplier, p_guard, f - 1, n);
    RETURN l;
END $$;

-- After the batches: earlier duplicates of a SKU are ignored by the commit (the last valid row wins), and the
-- supplier's catalog products the file does not name are recorded as removed.
CREATE OR REPLACE FUNCTION quarry.finish_diff(p_job uuid, p_org uuid, p_supplier text, p_has_duplicates boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    earlier integer[];
BEGIN
    IF p_has_duplicates THEN
        SELECT array_agg(s.row_number) INTO earlier FROM (
            SELECT r.row_number, row_number() OVER (PARTITION BY r.sku ORDER BY r.row_number DESC) AS k
            FROM quarry.result_blocks b CROSS JOIN LATERAL unnest(b.rows) r
            WHERE b.job_id = p_job AND b.n_new + b.n_updated + b.n_unchanged + b.n_held > 0 AND r.change IS NOT NULL) s
        WHERE s.k > 1;
        IF earlier IS NOT NULL THEN
            WITH fresh AS (
                SELECT b.first_row,
                       array_agg(CASE WHEN h.n IS NULL THEN r ELSE quarry.result_row_set(r, NULL, NULL) END ORDER BY r.row_number) AS rows
                FROM quarry.blocks_of(p_job, earlier) t(first_row)
                JOIN quarry.result_blocks b ON b.job_id = p_job AND b.first_row = t.first_row
                CROSS JOIN LATERAL unnest(b.rows) r
                LEFT JOIN unnest(earlier) h(n) ON h.n = r.row_number
                GROUP BY b.first_row
            )
            UPDATE quarry.result_blocks b SET rows = f.rows FROM fresh f WHERE b.job_id = p_job AND b.first_row = f.first_row;
        END IF;
    END IF;
    DELETE FROM quarry.result_removed WHERE job_id = p_job;
    INSERT INTO quarry.result_removed (job_id, sku, name, price, currency)
    SELECT p_job, p.sku, p.name, p.price, p.currency FROM quarry.products p
    WHERE p.org_id = p_org AND p.supplier_id = p_supplier
      AND NOT EXISTS (SELECT 1 FROM quarry.result_blocks b CROSS JOIN LATERAL unnest(b.rows) r
                      WHERE b.job_id = p_job AND r.sku = p.sku);
END $$;

-- The diff summary: counts per change from the block summaries; the distribution of price changes from the
-- blocks with updated or held rows only.
CREATE OR REPLACE FUNCTION quarry.diff_summary(p_job uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH c AS (
        SELECT coalesce(sum(n_new), 0) AS new, coalesce(sum(n_updated), 0) AS updated,
               coalesce(sum(n_unchanged), 0) AS unchanged, coalesce(sum(n_held), 0) AS held
        FROM quarry.result_blocks WHERE job_id = p_job
    ), d AS (
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY (r.price - r.old_price) / r.old_price * 100) AS median,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY abs(r.price - r.old_price) / r.old_price * 100) AS p95,
               max(abs(r.price - r.old_price) / r.old_price * 100) AS max
        FROM quarry.result_blocks b CROSS JOIN LATERAL unnest(b.rows) r
        WHERE b.job_id = p_job AND b.n_updated + b.n_held > 0
          AND r.old_price > 0 AND r.price IS NOT NULL AND r.change IN ('updated','held')
    )
    SELECT jsonb_build_object('new', c.new, 'updated', c.updated, 'unchanged', c.unchanged, 'held', c.held,
        'removed', (SELECT count(*) FROM quarry.result_removed WHERE job_id = p_job),
        'price_change_pct', jsonb_build_object('median', round(d.median::numeric, 2), 'p95_abs', round(d.p95::numeric, 2),
            'max_abs', round(d.max::numeric, 2)))
    FROM c, d
$$;

-- The commit over blocks: the rows of blocks with new, updated or held rows; the rest is migration 0010's.
CREATE OR REPLACE FUNCTION quarry.commit_result(p_job uuid, p_org uuid, p_supplier text, p_remove_missing boolean)
RETURNS TABLE (inserted bigint, updated bigint, removed bigint) LANGUAGE plpgsql AS $$
DECLARE
    n_inserted bigint;
    n_updated bigint;
    n_removed bigint := 0;
BEGIN
    WITH up AS (
        INSERT INTO quarry.products AS p (org_id, supplier_id, sku, name, price, currency, quantity, unit, extra, updated_at, last_job_id)
        SELECT p_org, p_supplier, r.sku, r.name, r.price, r.currency, r.quantity, r.unit, r.extra, now(), p_job
        FROM quarry.result_blocks b CROSS JOIN LATERAL unnest(b.rows) r
        WHERE b.job_id = p_job AND b.n_new + b.n_updated + b.n_held > 0
          AND (r.change IN ('new','updated') OR (r.change = 'held' AND EXISTS (
              SELECT 1 FROM quarry.result_decisions d
              WHERE d.job_id = p_job AND d.row_number = r.row_number AND d.decision = 'approved')))
        ON CONFLICT (org_id, supplier_id, sku) DO UPDATE
        SET name = excluded.name, price = excluded.price, currency = excluded.currency, quantity = excluded.quantity,
            unit = excluded.unit, extra = excluded.extra, updated_at = now(), last_job_id = excluded.last_job_id
        WHERE quarry.product_changed(p, excluded.name, excluded.price, excluded.currency, excluded.quantity, excluded.unit, excluded.extra)
        RETURNING (xmax = 0) AS ins
    )
    SELECT count(*) FILTER (WHERE ins), count(*) FILTER (WHERE NOT ins) INTO n_inserted, n_updated FROM up;
    INSERT INTO quarry.catalog_versions AS v (org_id, supplier_id, version) VALUES (p_org, p_supplier, 1)
    ON CONFLICT (org_id, supplier_id) DO UPDATE SET version = v.version + 1;
    IF p_remove_missing THEN
        DELETE FROM quarry.products p USING quarry.result_removed x
        WHERE x.job_id = p_job AND p.org_id = p_org AND p.supplier_id = p_supplier AND p.sku = x.sku;
        GET DIAGNOSTICS n_removed = ROW_COUNT;
    END IF;
    RETURN QUERY SELECT n_inserted, n_updated, n_removed;
END $$;

-- The commit's counts from the block summaries and the decisions.
CREATE FUNCTION quarry.commit_counts(p_job uuid)
RETURNS TABLE (applied bigint, unchanged bigint, held_approved bigint, held_skipped bigint) LANGUAGE sql STABLE AS $$
    WITH c AS (
        SELECT coalesce(sum(n_new + n_updated), 0) AS nu, coalesce(sum(n_unchanged), 0) AS unchanged, coalesce(sum(n_held), 0) AS held
        FROM quarry.result_blocks WHERE job_id = p_job
    ), a AS (
        SELECT count(*) AS approved FROM quarry.held_rows(p_job) h
        JOIN quarry.result_decisions d ON d.job_id = p_job AND d.row_number = h.row_number AND d.decision = 'approved'
    )
    SELECT c.nu + a.approved, c.unchanged, a.approved, c.held - a.approved FROM c, a
$$;

-- Expired results take their blocks and decisions with them (seed 000's cleanup, bounded batches).
CREATE OR REPLACE FUNCTION quarry.cleanup_expired_extraction_results(p_batch integer DEFAULT 1000)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    WITH gone AS (
        DELETE FROM quarry.extraction_results
        WHERE job_id IN (SELECT job_id FROM quarry.extraction_results WHERE expires_at < now()
                         ORDER BY expires_at LIMIT p_batch FOR UPDATE SKIP LOCKED)
        RETURNING job_id
    ), blocks_gone AS (
        DELETE FROM quarry.result_blocks rb USING gone WHERE rb.job_id = gone.job_id
    ), decisions_gone AS (
        DELETE FROM quarry.result_decisions rd USING gone WHERE rd.job_id = gone.job_id
    ), sections_gone AS (
        DELETE FROM quarry.result_sections rs USING gone WHERE rs.job_id = gone.job_id
    )
    SELECT count(*) INTO n FROM gone;
    RETURN n;
END $$;

UPDATE quarry.extraction_results SET expires_at = now() - interval '1 second' WHERE committed_at IS NULL AND kind = 'tabular';
