-- Sync at scale (issue 13): per-workspace listing state, so that a re-sync can list only what
-- changed since the last complete listing; when a webhook last proved itself with a signed
-- delivery; and the request budget of a consumer, shared by accounts and processes.

-- One row per (source, account, workspace): when its last complete listing started, when its
-- last full listing started (the incremental path falls back to a full one past an age), and
-- how many repositories Bitbucket counted then.
CREATE TABLE workspace_listings (
    source TEXT NOT NULL REFERENCES sources (provider) ON DELETE CASCADE,
    account_uuid TEXT NOT NULL,
    workspace TEXT NOT NULL,
    complete_at BIGINT NOT NULL,
    full_at BIGINT NOT NULL,
    repositories BIGINT NOT NULL,
    PRIMARY KEY (source, account_uuid, workspace)
);

-- The last time a delivery signed with the hook's secret arrived (NULL: never).
ALTER TABLE tracked_repositories ADD COLUMN proven_at BIGINT;

-- Requests taken from a consumer's budget, per slot (a fraction of the window) and account. The
-- row with slot -1 and account '' is a per-consumer lock row: reservations upsert it first, so
-- concurrent reservations on PostgreSQL queue behind its row lock.
CREATE TABLE consumer_budget (
    consumer TEXT NOT NULL,
    slot BIGINT NOT NULL,
    account TEXT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (consumer, slot, account)
);
