#!/usr/bin/env bash
# Quick start. Two modes:
#
#   ./quickstart.sh                 offline, no Bitbucket account needed: builds, starts the mock
#                                   Bitbucket (`gemnasium-bitbucket mock-server`) and the service
#                                   example, runs `configure` against the mock, signs Jane in through
#                                   the service, syncs, installs webhooks, delivers a push, and ends
#                                   with `synced N repositories; push <X-Request-UUID> received`.
#                                   Store: target/quickstart/gemnasium.db (fresh each run).
#
#   BB_KEY=… BB_SECRET=… [BB_HOMEPAGE=https://gemnasium.example.com] ./quickstart.sh
#                                   the real set-up: Gemnasium's documented commands verbatim into
#                                   the SQLite store ./gemnasium.db, then lists it (safe to re-run).
#
# Needs cargo and curl. Reads no standard input. Background processes stop on exit.
set -euo pipefail
cd "$(dirname "$0")"
# The dev profile (dependencies optimised, see Cargo.toml) builds faster than release on 2 cores.
PROFILE="${QUICKSTART_PROFILE:-dev}"
OUT="target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"

say() { printf '\n==> %s\n' "$*"; }

if [ -n "${BB_KEY:-}" ] || [ -n "${BB_SECRET:-}" ]; then
  : "${BB_KEY:?set BB_KEY to the consumer's Key}" "${BB_SECRET:?set BB_SECRET to the consumer's Secret}"
  cargo build --profile "$PROFILE" --quiet -p gemnasium-bitbucket-cli --bin gemnasium-bitbucket
  "$OUT/gemnasium-bitbucket" links bin
  export PATH="$PWD/bin:$PATH"
  export GEMNASIUM_STORE="sqlite://$PWD/gemnasium.db"
  auth provider create bitbucket.org bitbucket https://bitbucket.org/site/oauth2/authorize https://bitbucket.org/site/oauth2/access_token
  printf %s "$BB_SECRET" | auth clients create bitbucket.org login "$BB_KEY" - account,email
  printf %s "$BB_SECRET" | auth clients create bitbucket.org sync "$BB_KEY" - repository,webhook
  repo-syncer sources create bitbucket.org "Bitbucket Cloud" bitbucket https://api.bitbucket.org
  if [ -n "${BB_HOMEPAGE:-}" ]; then
    auth provider update bitbucket.org --homepage "$BB_HOMEPAGE"
  fi
  echo
  auth provider list
  echo
  auth clients list
  echo
  repo-syncer sources list
  exit 0
fi

command -v curl >/dev/null || { echo "error: quickstart needs curl" >&2; exit 1; }

say "building gemnasium-bitbucket and the service example ($PROFILE)"
cargo build --profile "$PROFILE" --quiet -p gemnasium-bitbucket-cli -p gemnasium-bitbucket-examples \
  --bin gemnasium-bitbucket --bin service
BIN="$PWD/$OUT"
"$BIN/gemnasium-bitbucket" links bin >/dev/null
export PATH="$PWD/bin:$PATH"

WORK="$PWD/target/quickstart"
rm -rf "$WORK"
mkdir -p "$WORK"
export GEMNASIUM_STORE="sqlite://$WORK/gemnasium.db"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# Waits up to 10 s for a line starting with $2 in file $1; prints the rest of that line.
wait_line() {
  for _ in $(seq 1 100); do
    if line=$(grep -m1 "^$2" "$1" 2>/dev/null); then printf '%s\n' "${line#"$2"}"; return 0; fi
    sleep 0.1
  done
  echo "error: no '$2' line in $1 within 10 s:" >&2
  cat "$1" "$1.err" >&2 2>/dev/null || true
  return 1
}

say "starting the service example (sign-in, webhooks) on a free port"
"$BIN/service" --listen 127.0.0.1:0 --sync-interval 0 >"$WORK/service.out" 2>"$WORK/service.out.err" &
PIDS+=($!)
SERVICE=$(wait_line "$WORK/service.out" "service listening on " | cut -d' ' -f1)
echo "service: $SERVICE"

say "starting the mock Bitbucket (Jane signed in, her consumer's callback on the service)"
"$BIN/gemnasium-bitbucket" mock-server --port 0 --workspaces acme:12,beta:3 --signed-in jdoe \
  --callback "$SERVICE/auth/auth/bitbucket.org" >"$WORK/mock.out" 2>"$WORK/mock.out.err" &
PIDS+=($!)
MOCK=$(wait_line "$WORK/mock.out" "mock Bitbucket listening on ")
sed -n '2,8p' "$WORK/mock.out"
KEY=$(wait_line "$WORK/mock.out" "  consumer key:    ")

say "configure, against the mock"
BB_SECRET=mock-consumer-secret configure --homepage "$SERVICE" --site-url "$MOCK" --api-url "$MOCK" \
  --key "$KEY" --secret-env BB_SECRET --yes

say "signing Jane in through the service (the browser's redirects, followed by curl)"
JAR="$WORK/cookies.txt"
curl -fsS -c "$JAR" -b "$JAR" -L "$SERVICE/auth/auth/bitbucket.org" -o "$WORK/signed-in.html"
grep -o 'Signed in as <b>[^<]*</b> ([^)]*)' "$WORK/signed-in.html" | sed 's/<[^>]*>//g'
say "authorizing repository access (the sync client) through the service"
curl -fsS -c "$JAR" -b "$JAR" -L "$SERVICE/auth/auth/bitbucket.org/sync" -o "$WORK/repositories.html"
auth tokens list

say "repo-syncer sync: list every workspace's repositories"
repo-syncer sync bitbucket.org | tee "$WORK/sync.txt"
SYNCED=$(sed -n 's/^repositories: \([0-9][0-9]*\) listed.*/\1/p' "$WORK/sync.txt")

say "track acme/r00, then sync again with --hooks-url to install its webhook"
repo-syncer track bitbucket.org acme/r00
repo-syncer sync bitbucket.org --hooks-url "$SERVICE/hooks/bitbucket"

say "a push to acme/r00 on the mock: Bitbucket delivers a signed repo:push to the service"
curl -fsS -X POST "$MOCK/_mock/push?repo=acme/r00" -o "$WORK/push.json"
echo "mock: $(cat "$WORK/push.json")"
REQUEST=$(sed -n 's/.*"request_uuid":"\([^"]*\)".*/\1/p' "$WORK/push.json")
STATUS=$(sed -n 's/.*"status":\([0-9]*\).*/\1/p' "$WORK/push.json")
[ -n "$REQUEST" ] || { echo "error: the mock delivered nothing" >&2; exit 1; }
curl -fsS "$SERVICE/events" -o "$WORK/events.html"
if ! grep -q "$REQUEST" "$WORK/events.html"; then
  echo "error: the service did not list push $REQUEST (it answered HTTP $STATUS)" >&2
  cat "$WORK/service.out.err" >&2
  exit 1
fi
echo "service answered HTTP $STATUS and lists it at $SERVICE/events"
echo
echo "Store: $GEMNASIUM_STORE (try: GEMNASIUM_STORE=$GEMNASIUM_STORE bin/auth tokens list)"
echo "synced $SYNCED repositories; push $REQUEST received"
