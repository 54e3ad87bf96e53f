#!/usr/bin/env bash
# The Go text/template oracle for kanaria's query rendering (test/metrics/go-template-oracle.test.ts):
# go/template-oracle, standard library only, so it builds in seconds with the Go on PATH.
#
#   template-oracle.sh build   print the path of the binary,
#                              ~/.cache/kanaria/template-oracle-<go version>/bin/template-oracle
#                              (built once per Go version and source; idempotent)
#
# Environment: KANARIA_CACHE_DIR (default ~/.cache/kanaria).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOD_DIR="$SCRIPT_DIR/go/template-oracle"

die() { printf '[kanaria-template-oracle] ERROR: %s\n' "$*" >&2; exit 1; }

cmd_build() {
  command -v go >/dev/null || die "go is required to build the template oracle"
  local version; version="$(go env GOVERSION)"
  local cache="${KANARIA_CACHE_DIR:-$HOME/.cache/kanaria}/template-oracle-$version"
  # The source is part of the recipe, so an edited main.go rebuilds.
  local recipe; recipe="go-build $version $(cat "$MOD_DIR/go.mod" "$MOD_DIR/main.go" | sha256sum | cut -d' ' -f1)"
  if [ -x "$cache/bin/template-oracle" ] && [ "$(cat "$cache/.complete" 2>/dev/null)" = "$recipe" ]; then
    printf '%s\n' "$cache/bin/template-oracle"; return 0
  fi
  local tmp="$cache/bin.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  ( cd "$MOD_DIR" && CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" go build -trimpath -o "$tmp/template-oracle" . ) ||
    { rm -rf "$tmp"; die "go build failed in $MOD_DIR"; }
  rm -rf "${cache:?}/bin"; mv "$tmp" "$cache/bin"
  printf '%s' "$recipe" > "$cache/.complete"
  printf '%s\n' "$cache/bin/template-oracle"
}

case "${1:-}" in
  build) cmd_build ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
