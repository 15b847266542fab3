-- Gemnasium's homepage with its provider (sign-in and verification derive the callback URL from
-- it); a version per configuration row (it counts the changing updates); the repository fields
-- a dependency-monitoring service uses; a lease per tracked repository so that concurrent runs
-- never both change its webhooks; the installation id that marks our webhooks as ours.
ALTER TABLE providers ADD COLUMN homepage TEXT;
ALTER TABLE providers ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE clients ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE sources ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE repositories ADD COLUMN created_on TEXT;
ALTER TABLE repositories ADD COLUMN scm TEXT;
ALTER TABLE repositories ADD COLUMN project_key TEXT;
ALTER TABLE repositories ADD COLUMN language TEXT;
ALTER TABLE repositories ADD COLUMN clone_https TEXT;
ALTER TABLE repositories ADD COLUMN fork_of TEXT;
ALTER TABLE tracked_repositories ADD COLUMN lease_holder TEXT;
ALTER TABLE tracked_repositories ADD COLUMN lease_until BIGINT;
CREATE INDEX tracked_repositories_by_hook ON tracked_repositories (hook_uuid);
CREATE TABLE store_meta (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
