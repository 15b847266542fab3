-- Providers, OAuth clients, sources, users' tokens, repository listings and tracked repositories.
-- One schema for SQLite and PostgreSQL: both accept this SQL (TEXT, BIGINT, BOOLEAN).
-- Tokens and secrets are TEXT: Bitbucket tokens exceed 2,500 characters since 2026.
CREATE TABLE providers (
    name TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    authorize_url TEXT NOT NULL,
    token_url TEXT NOT NULL,
    api_url TEXT NOT NULL,
    pkce BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE clients (
    provider TEXT NOT NULL REFERENCES providers (name),
    purpose TEXT NOT NULL,
    key TEXT NOT NULL,
    secret TEXT NOT NULL,
    scopes TEXT NOT NULL,
    PRIMARY KEY (provider, purpose)
);

CREATE TABLE sources (
    provider TEXT PRIMARY KEY NOT NULL REFERENCES providers (name),
    display_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    api_url TEXT NOT NULL
);

CREATE TABLE tokens (
    provider TEXT NOT NULL,
    purpose TEXT NOT NULL,
    account_uuid TEXT NOT NULL,
    account_id TEXT,
    nickname TEXT,
    display_name TEXT,
    access_token TEXT NOT NULL,
    refresh_token TEXT,
    expires_at BIGINT,
    scopes TEXT NOT NULL,
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    refreshed_at BIGINT,
    last_error TEXT,
    lease_until BIGINT,
    PRIMARY KEY (provider, purpose, account_uuid),
    FOREIGN KEY (provider, purpose) REFERENCES clients (provider, purpose) ON DELETE CASCADE
);

CREATE TABLE repositories (
    source TEXT NOT NULL REFERENCES sources (provider) ON DELETE CASCADE,
    account_uuid TEXT NOT NULL,
    uuid TEXT NOT NULL,
    full_name TEXT NOT NULL,
    workspace TEXT NOT NULL,
    name TEXT NOT NULL,
    is_private BOOLEAN NOT NULL,
    main_branch TEXT,
    html_url TEXT,
    updated_on TEXT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    gone_since BIGINT,
    PRIMARY KEY (source, account_uuid, uuid)
);

CREATE INDEX repositories_by_workspace ON repositories (source, account_uuid, workspace);

CREATE TABLE tracked_repositories (
    source TEXT NOT NULL REFERENCES sources (provider) ON DELETE CASCADE,
    uuid TEXT NOT NULL,
    full_name TEXT NOT NULL,
    hook_uuid TEXT,
    hook_url TEXT,
    hook_secret TEXT,
    hook_events TEXT,
    checked_at BIGINT,
    PRIMARY KEY (source, uuid)
);
