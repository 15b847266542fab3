#!/usr/bin/env bash
# Builds gemnasium-bitbucket, links `auth`, `repo-syncer` and `configure` into ./bin, and runs
# Gemnasium's documented Bitbucket Cloud set-up verbatim against the embedded SQLite store
# ./gemnasium.db, then lists what was stored. Safe to re-run: everything reports `unchanged`.
#
# Use your consumer's values with: BB_KEY=… BB_SECRET=… ./quickstart.sh
set -euo pipefail
cd "$(dirname "$0")"

KEY="${BB_KEY:-OAUTH_CONSUMER_KEY}"
SECRET="${BB_SECRET:-OAUTH_CONSUMER_SECRET}"

cargo build --release --quiet -p gemnasium-bitbucket-cli
./target/release/gemnasium-bitbucket links bin
export PATH="$PWD/bin:$PATH"
export GEMNASIUM_STORE="sqlite://$PWD/gemnasium.db"

auth provider create bitbucket.org bitbucket https://bitbucket.org/site/oauth2/authorize https://bitbucket.org/site/oauth2/access_token
auth clients create bitbucket.org login "$KEY" "$SECRET" account,email
auth clients create bitbucket.org sync "$KEY" "$SECRET" repository,webhook
repo-syncer sources create bitbucket.org "Bitbucket Cloud" bitbucket https://api.bitbucket.org

echo
auth provider list
echo
auth clients list
echo
repo-syncer sources list
