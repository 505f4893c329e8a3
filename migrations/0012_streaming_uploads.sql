-- Issue 13 parts 2-3: uploads read while they arrive.
--
-- A job may follow an upload that is still arriving (POST /api/uploads?extract=true): the worker reads each
-- chunk once it is committed and ends only at a complete upload whose size and sha256 match what it read.
-- `failure` is set by the api when it gives an upload up (client gone, too large, wrong content): the chunks
-- are deleted and a job following the upload fails with UPLOAD_FAILED instead of waiting for bytes that will
-- never come. `expected_bytes` is the client's Content-Length, for the progress of a job reading early.
ALTER TABLE quarry.uploads
    ADD COLUMN failure        text,
    ADD COLUMN expected_bytes bigint;
