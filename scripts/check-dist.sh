#!/usr/bin/env bash
# Rebuilds dist/ and fails when it, or the build stamp, differs from what is committed: a stale
# bundle (or a stamp that vouches for one) never lands.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
if ! git diff --quiet --exit-code -- dist scripts/dist-stamp.json || [ -n "$(git ls-files --others --exclude-standard -- dist scripts/dist-stamp.json)" ]; then
  echo "dist/ is not what the sources build: run 'npm run build' and commit dist/ and scripts/dist-stamp.json." >&2
  git --no-pager diff --stat -- dist scripts/dist-stamp.json >&2 || true
  git ls-files --others --exclude-standard -- dist scripts/dist-stamp.json >&2 || true
  exit 1
fi
echo "dist/ is up to date."
