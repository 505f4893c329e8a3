-- The supplier workflow (issue 16): a catalog diff computed once, in the worker's classification step, a price
-- guard with a review, and supplier profiles.
--
-- One definition of "what the commit would do": quarry.classify_rows writes each result row's `change`
-- (new | updated | unchanged | held, NULL = the commit ignores the row: invalid, no SKU, or an earlier duplicate
-- of its SKU), and quarry.commit_result applies exactly the rows whose change is new or updated, plus held rows
-- approved in review. Both compare a row with its catalog product through quarry.product_changed. The diff route
-- only reads what classify_rows stored, so the preview and the commit read the same column.

-- Per result row: the change it makes, the catalog currency it replaces, and the review decision of a held row.
ALTER TABLE quarry.result_rows
    ADD COLUMN change text CHECK (change IN ('new','updated','unchanged','held')),
    ADD COLUMN old_currency text,
    ADD COLUMN decision text CHECK (decision IN ('approved','rejected')),
    -- An invalid row's cells as the reader delivered them, in source column order (the reject file).
    ADD COLUMN source jsonb;
-- Keyset pages of the diff per change, so a rare change (a few held rows among a million) pages as fast as a
-- common one. COPY writes valid rows with a SKU as 'new', so the COPY maintains it too (one more btree insert per row).
CREATE INDEX result_rows_change_idx ON quarry.result_rows (job_id, change, row_number) WHERE change IS NOT NULL;

-- Per result: the supplier the rows were classified against (the job's, or the matched profile's), the price
-- guard in effect, and the review state: NULL (nothing held), 'held' (held rows, share within the bound: they
-- are skipped unless approved), 'needs_review' (share over the bound: the commit is refused until every held
-- row is decided), 'reviewed' (every held row decided).
ALTER TABLE quarry.extraction_results
    ADD COLUMN supplier_id text,
    ADD COLUMN price_guard jsonb,
    ADD COLUMN review_state text CHECK (review_state IN ('held','needs_review','reviewed')),
    ADD COLUMN reviewed_by uuid,
    ADD COLUMN reviewed_at timestamptz;
-- The catalog version a diff was computed against (quarry.catalog_versions; NULL = not tracked).
ALTER TABLE quarry.extraction_results ADD COLUMN catalog_version bigint;
-- Every commit into an (org, supplier) catalog bumps its version. A diff records the version it read; a commit
-- whose diff was computed against an older version is refused (409 DIFF_STALE), so a commit never applies a
-- preview that the catalog has moved away from. The row lock also serialises commits of one supplier.
CREATE TABLE quarry.catalog_versions (
    org_id      uuid NOT NULL,
    supplier_id text NOT NULL,
    version     bigint NOT NULL,
    PRIMARY KEY (org_id, supplier_id)
);
CREATE INDEX extraction_results_supplier_idx ON quarry.extraction_results (org_id, supplier_id) WHERE supplier_id IS NOT NULL;

-- Catalog products of the supplier that the file does not name (any row, valid or not, with that SKU counts
-- as naming it). Reported by the diff as `removed`; deleted only by a commit with remove_missing.
CREATE TABLE quarry.result_removed (
    job_id   uuid NOT NULL,
    sku      text NOT NULL,
    name     text,
    price    numeric(18,4),
    currency text,
    PRIMARY KEY (job_id, sku)
);

-- Supplier profiles: per org and supplier, a config (validated by the worker's ExtractionConfig decoder) and
-- the header fingerprint (normalised header cells) by which a file without supplier_id is recognised.
CREATE TABLE quarry.supplier_profiles (
    org_id             uuid NOT NULL,
    supplier_id        text NOT NULL,
    config             jsonb NOT NULL,
    header_fingerprint text,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    updated_by         uuid,
    PRIMARY KEY (org_id, supplier_id)
);
CREATE INDEX supplier_profiles_fingerprint_idx ON quarry.supplier_profiles (org_id, header_fingerprint)
    WHERE header_fingerprint IS NOT NULL;

-- Expired results take their diff with them.
CREATE OR REPLACE FUNCTION quarry.cleanup_result_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM quarry.result_removed WHERE job_id = OLD.job_id;
    RETURN OLD;
END $$;
CREATE TRIGGER extraction_results_removed_cleanup AFTER DELETE ON quarry.extraction_results
    FOR EACH ROW EXECUTE FUNCTION quarry.cleanup_result_removed();

-- Whether writing these values would change the catalog product: the one comparison classify and commit share.
CREATE FUNCTION quarry.product_changed(
    p quarry.products, p_name text, p_price numeric, p_currency text, p_quantity numeric, p_unit text, p_extra jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (p.name, p.price, p.currency, p.quantity, p.unit, p.extra)
           IS DISTINCT FROM (p_name, p_price::numeric(18,4), p_currency, p_quantity::numeric(18,4), p_unit, p_extra)
$$;

-- Whether a price change is beyond the guard: {"max_increase_pct", "max_decrease_pct"} (each optional; a NULL
-- guard holds nothing). A change of currency is held whenever a guard is set: the prices are not comparable.
-- A product without a price (or priced 0) has no percent change and is never held for its price.
CREATE FUNCTION quarry.price_held(p_old numeric, p_new numeric, p_old_currency text, p_new_currency text, p_guard jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_guard IS NOT NULL AND (
        (p_old_currency IS NOT NULL AND p_new_currency IS NOT NULL AND p_old_currency <> p_new_currency)
        OR (p_old > 0 AND p_new IS NOT NULL AND (
            (p_guard ? 'max_increase_pct' AND (p_new - p_old) / p_old * 100 > (p_guard->>'max_increase_pct')::numeric)
            OR (p_guard ? 'max_decrease_pct' AND (p_old - p_new) / p_old * 100 > (p_guard->>'max_decrease_pct')::numeric))))
$$;

-- Classifies one batch of a job's valid rows (row_number > p_after, at most p_limit) against the catalog and
-- returns the last row number of the batch (NULL when there is none). Rows arrive with change 'new' (or NULL
-- when the commit ignores them); a row whose SKU is in the catalog becomes unchanged, updated or held.
-- `classification` / `old_price` keep their seed meaning (price only).
CREATE FUNCTION quarry.classify_rows(p_job uuid, p_org uuid, p_supplier text, p_guard jsonb, p_after integer, p_limit integer)
RETURNS integer LANGUAGE sql AS $$
    WITH batch AS (
        SELECT row_number, sku FROM quarry.result_rows
        WHERE job_id = p_job AND valid AND row_number > p_after ORDER BY row_number LIMIT p_limit
    ), pairs AS (
        -- One index probe per row (LIMIT 1 keeps the lateral a nested loop: a function's generic plan would
        -- otherwise hash the supplier's whole catalog for every batch).
        SELECT b.row_number, m.p FROM batch b
        CROSS JOIN LATERAL (
            SELECT p FROM quarry.products p WHERE p.org_id = p_org AND p.supplier_id = p_supplier AND p.sku = b.sku LIMIT 1
        ) m
    ), matched AS (
        UPDATE quarry.result_rows r
        SET classification = CASE WHEN (x.p).price IS DISTINCT FROM r.price THEN 'updated' ELSE 'unchanged' END,
            old_price = CASE WHEN (x.p).price IS DISTINCT FROM r.price THEN (x.p).price END,
            old_currency = (x.p).currency,
            change = CASE
                WHEN r.change IS NULL THEN NULL
                WHEN NOT quarry.product_changed(x.p, r.name, r.price, r.currency, r.quantity, r.unit, r.extra) THEN 'unchanged'
                WHEN quarry.price_held((x.p).price, r.price, (x.p).currency, r.currency, p_guard) THEN 'held'
                ELSE 'updated' END
        FROM pairs x
        WHERE r.job_id = p_job AND r.row_number = x.row_number
        RETURNING 1
    )
    SELECT max(row_number) FROM batch  -- a data-modifying CTE always runs to completion
$$;

-- After the batches: earlier duplicates of a SKU are ignored by the commit (the last valid row wins), and the
-- supplier's catalog products the file does not name are recorded as removed.
CREATE FUNCTION quarry.finish_diff(p_job uuid, p_org uuid, p_supplier text, p_has_duplicates boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_has_duplicates THEN
        UPDATE quarry.result_rows r SET change = NULL
        FROM (SELECT row_number FROM (
                SELECT row_number, row_number() OVER (PARTITION BY sku ORDER BY row_number DESC) AS k
                FROM quarry.result_rows WHERE job_id = p_job AND change IS NOT NULL) s
              WHERE k > 1) d
        WHERE r.job_id = p_job AND r.row_number = d.row_number;
    END IF;
    DELETE FROM quarry.result_removed WHERE job_id = p_job;
    INSERT INTO quarry.result_removed (job_id, sku, name, price, currency)
    SELECT p_job, p.sku, p.name, p.price, p.currency FROM quarry.products p
    WHERE p.org_id = p_org AND p.supplier_id = p_supplier
      AND NOT EXISTS (SELECT 1 FROM quarry.result_rows r WHERE r.job_id = p_job AND r.sku = p.sku);
END $$;

-- The diff summary: counts per change and the distribution of price changes (percent, over rows whose price
-- changed against a positive catalog price).
CREATE FUNCTION quarry.diff_summary(p_job uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH c AS (
        SELECT count(*) FILTER (WHERE change = 'new') AS new,
               count(*) FILTER (WHERE change = 'updated') AS updated,
               count(*) FILTER (WHERE change = 'unchanged') AS unchanged,
               count(*) FILTER (WHERE change = 'held') AS held,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY (price - old_price) / old_price * 100)
                   FILTER (WHERE old_price > 0 AND price IS NOT NULL AND change IN ('updated','held')) AS median,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY abs(price - old_price) / old_price * 100)
                   FILTER (WHERE old_price > 0 AND price IS NOT NULL AND change IN ('updated','held')) AS p95,
               max(abs(price - old_price) / old_price * 100)
                   FILTER (WHERE old_price > 0 AND price IS NOT NULL AND change IN ('updated','held')) AS max
        FROM quarry.result_rows WHERE job_id = p_job AND change IS NOT NULL
    )
    SELECT jsonb_build_object('new', c.new, 'updated', c.updated, 'unchanged', c.unchanged, 'held', c.held,
        'removed', (SELECT count(*) FROM quarry.result_removed WHERE job_id = p_job),
        'price_change_pct', jsonb_build_object('median', round(c.median::numeric, 2), 'p95_abs', round(c.p95::numeric, 2),
            'max_abs', round(c.max::numeric, 2)))
    FROM c
$$;

-- The commit: applies the job's new and updated rows and its approved held rows to the catalog (and, with
-- p_remove_missing, deletes the products the diff reported removed). Returns what it changed.
CREATE FUNCTION quarry.commit_result(p_job uuid, p_org uuid, p_supplier text, p_remove_missing boolean)
RETURNS TABLE (inserted bigint, updated bigint, removed bigint) LANGUAGE plpgsql AS $$
DECLARE
    n_inserted bigint;
    n_updated bigint;
    n_removed bigint := 0;
BEGIN
    WITH up AS (
        INSERT INTO quarry.products AS p (org_id, supplier_id, sku, name, price, currency, quantity, unit, extra, updated_at, last_job_id)
        SELECT p_org, p_supplier, r.sku, r.name, r.price, r.currency, r.quantity, r.unit, r.extra, now(), p_job
        FROM quarry.result_rows r
        WHERE r.job_id = p_job AND (r.change IN ('new','updated') OR (r.change = 'held' AND r.decision = 'approved'))
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

-- Results written before this migration have no diff (change is NULL on every row), so their commit would apply
-- nothing: the uncommitted ones expire now, and a new job re-extracts the file.
UPDATE quarry.extraction_results SET expires_at = now() - interval '1 second' WHERE committed_at IS NULL AND kind = 'tabular';
