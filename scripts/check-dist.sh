#!/usr/bin/env bash
# Rebuilds dist/ and fails when it differs from what is committed: a stale bundle never lands.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
if ! git diff --quiet --exit-code -- dist || [ -n "$(git ls-files --others --exclude-standard -- dist)" ]; then
  echo "dist/ is not what the sources build: run 'npm run build' and commit dist/." >&2
  git --no-pager diff --stat -- dist >&2 || true
  git ls-files --others --exclude-standard -- dist >&2 || true
  exit 1
fi
echo "dist/ is up to date."
