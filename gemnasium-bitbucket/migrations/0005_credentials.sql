-- Stored sync credentials that are not OAuth grants (`auth credentials add`): workspace, project
-- or repository access tokens (kind 'access_token', bound to `workspace`) and API tokens (kind
-- 'api_token': HTTP Basic with `email`, optionally limited to `workspace`). One per (provider,
-- name); deleting a provider deletes them only with cascade, like its clients and sources.
-- `token` is a secret: sealed like every other secret when the store has a key.
-- `scope_family` is 'oauth' or 'api'; `scopes` are that family's words, comma-separated, verbatim.
-- Times are unix seconds, as in `tokens`. Kinds and families are checked when a row is read, not
-- by CHECK constraints, so that a later kind needs no table rebuild on SQLite.
CREATE TABLE credentials (
    provider TEXT NOT NULL REFERENCES providers (name),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    workspace TEXT,
    email TEXT,
    token TEXT NOT NULL,
    scope_family TEXT NOT NULL,
    scopes TEXT NOT NULL,
    account_uuid TEXT NOT NULL,
    identity TEXT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (provider, name)
);
