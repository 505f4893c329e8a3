-- HTTP API: bearer tokens (stored only as SHA-256) and the audit log.

CREATE TABLE quarry.api_tokens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL REFERENCES quarry.organizations (id),
    name          text NOT NULL,
    token_sha256  bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    is_admin      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_org_idx ON quarry.api_tokens (org_id);

CREATE TABLE quarry.audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    org_id      uuid,
    token_id    uuid,
    action      text NOT NULL,
    target_id   text,
    details     jsonb,
    remote_addr text
);
CREATE INDEX audit_log_org_at_idx ON quarry.audit_log (org_id, at DESC);
CREATE INDEX audit_log_action_at_idx ON quarry.audit_log (action, at DESC);

-- Job listing by status within an org (the list endpoint's filter).
CREATE INDEX jobs_org_status_created_idx ON quarry.jobs (org_id, status, created_at DESC, id DESC);
