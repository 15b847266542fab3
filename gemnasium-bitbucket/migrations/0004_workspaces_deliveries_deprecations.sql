-- Sign-in limited to workspaces: the slugs, comma-separated; NULL or '' lets anyone sign in.
-- Webhook deliveries seen recently, by X-Request-UUID (identical across Bitbucket's retries),
-- so that a redelivery is recognised; rows older than the retention are pruned on insert.
-- Deprecations Bitbucket announced with a 410 naming a CHANGE-NNNN, for doctor to report.
-- Times here are unix milliseconds: doctor compares them with its own last run.
ALTER TABLE providers ADD COLUMN allowed_workspaces TEXT;

CREATE TABLE webhook_deliveries (
    request_uuid TEXT PRIMARY KEY NOT NULL,
    received_ms BIGINT NOT NULL
);

CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (received_ms);

CREATE TABLE deprecation_notices (
    change_ref TEXT PRIMARY KEY NOT NULL,
    announcement TEXT,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    seen_count BIGINT NOT NULL
);
