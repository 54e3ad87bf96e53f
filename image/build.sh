#!/usr/bin/env bash
# `make image`: kanaria's controller image as an OCI archive, built without a Docker engine.
#
# The root filesystem holds only what `kanaria controller` runs on:
#   /usr/local/bin/node     Node 24, from the npm `node` package (the devDependency; its binary)
#   /app                    package.json and dist/bundle: the controller and its production
#                           dependencies bundled by `make build` (image/bundle.config.mjs); no node_modules
#   glibc, libgcc, libstdc++  the shared libraries Node links against, from Debian's packages
#                           (apt-get download + dpkg-deb -x; versions in the image labels)
#   /etc/passwd, /etc/group  user nonroot (65532); /tmp (the chart mounts an emptyDir there)
# umoci (Debian's package, installed with apt-get when missing) writes it as one layer with the
# config: user 65532, entrypoint `node --max-semi-space-size=2 --memory-saver-mode /app/dist/bundle/main.js controller`.
# The Dockerfile next to this script builds the same layout for Docker users.
#
#   image/build.sh [OUT]    default OUT: .kanaria/image/kanaria-<version>.oci.tar
#                           (tag <version>: skopeo copy oci-archive:OUT:<version> docker://...)
# Needs dist/bundle to be built (make build). KANARIA_CACHE_DIR (default ~/.cache/kanaria) keeps the .debs.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE="$REPO/node_modules/node/bin/node"
CACHE_DIR="${KANARIA_CACHE_DIR:-$HOME/.cache/kanaria}"
log() { printf '[kanaria-image] %s\n' "$*" >&2; }
die() { printf '[kanaria-image] ERROR: %s\n' "$*" >&2; exit 1; }

[ -x "$NODE" ] || die "$NODE missing: run make install (the npm node package provides Node 24)"
[ -f "$REPO/dist/bundle/main.js" ] || die "dist/bundle is not built: run make build"
VERSION="$("$NODE" -p 'require(process.argv[1]).version' "$REPO/package.json")"
NODE_VERSION="$("$NODE" --version)"
case "$NODE_VERSION" in v24.*) ;; *) die "the node package gives $NODE_VERSION, the image needs Node 24" ;; esac
OUT="${1:-$REPO/.kanaria/image/kanaria-$VERSION.oci.tar}"
WORK="$(dirname "$OUT")/work"
ARCH="$(dpkg --print-architecture)"
case "$ARCH" in amd64 | arm64) ;; *) die "unsupported architecture $ARCH" ;; esac

ensure_tools() {
  command -v dpkg-deb >/dev/null && command -v apt-get >/dev/null || die "needs a Debian/Ubuntu host (apt-get, dpkg-deb)"
  command -v umoci >/dev/null && return 0
  log "installing Debian's umoci package ..."
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends umoci >/dev/null 2>&1 ||
    { $sudo apt-get update -q >/dev/null 2>&1 || true; DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends umoci >/dev/null; } ||
    die "apt-get install umoci failed"
}

# The libraries Node links against, from Debian's packages (not the host's files).
DEBS=(libc6 libgcc-s1 libstdc++6)
debian_libs() {
  local rootfs="$1" dir="$CACHE_DIR/image-debs/$ARCH" pkg deb
  mkdir -p "$dir"
  for pkg in "${DEBS[@]}"; do
    deb="$(ls "$dir/${pkg}_"*"_$ARCH.deb" 2>/dev/null | head -1 || true)"
    if [ -z "$deb" ]; then
      (cd "$dir" && apt-get download -q "$pkg:$ARCH" >/dev/null 2>&1) ||
        { apt-get update -q >/dev/null 2>&1 || true; (cd "$dir" && apt-get download -q "$pkg:$ARCH" >/dev/null); } ||
        die "apt-get download $pkg failed"
      deb="$(ls "$dir/${pkg}_"*"_$ARCH.deb" | head -1)"
    fi
    dpkg-deb -x "$deb" "$rootfs"
    printf '%s=%s ' "$pkg" "$(dpkg-deb -f "$deb" Version)"
  done
  # Documentation and locales are not needed to run Node.
  rm -rf "$rootfs/usr/share/doc" "$rootfs/usr/share/lintian" "$rootfs/usr/share/locale" "$rootfs/usr/share/gcc"
}

# package.json (the CLI reads its version there) and the bundle, which holds every dependency.
stage_app() {
  local app="$1"
  mkdir -p "$app/dist"
  cp "$REPO/package.json" "$app/"
  cp -r "$REPO/dist/bundle" "$app/dist/bundle"
}

build_rootfs() {
  local rootfs="$1"
  mkdir -p "$rootfs"/{etc,tmp,usr/local/bin,home/nonroot}
  chmod 1777 "$rootfs/tmp"
  LIBS="$(debian_libs "$rootfs")"
  install -m 0755 "$NODE" "$rootfs/usr/local/bin/node"
  stage_app "$rootfs/app"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
  chown 65532:65532 "$rootfs/home/nonroot"
}

main() {
  local t0; t0="$(date +%s)"
  ensure_tools
  rm -rf "$WORK"; mkdir -p "$WORK"
  log "building kanaria $VERSION ($NODE_VERSION, $ARCH) in $WORK ..."
  umoci init --layout "$WORK/oci"
  umoci new --image "$WORK/oci:$VERSION"
  umoci unpack --image "$WORK/oci:$VERSION" "$WORK/bundle" >/dev/null
  build_rootfs "$WORK/bundle/rootfs"
  log "root filesystem ready after $(( $(date +%s) - t0 ))s; writing the layer ..."
  umoci repack --image "$WORK/oci:$VERSION" --history.created_by "image/build.sh (make image)" "$WORK/bundle"
  umoci config --image "$WORK/oci:$VERSION" \
    --os linux --architecture "$ARCH" \
    --config.user 65532:65532 \
    --config.workingdir /app \
    --config.env NODE_ENV=production \
    --config.env MALLOC_ARENA_MAX=2 \
    --config.entrypoint /usr/local/bin/node --config.entrypoint=--max-semi-space-size=2 \
    --config.entrypoint=--memory-saver-mode \
    --config.entrypoint /app/dist/bundle/main.js --config.entrypoint controller \
    --config.label "org.opencontainers.image.title=kanaria" \
    --config.label "org.opencontainers.image.version=$VERSION" \
    --config.label "org.opencontainers.image.licenses=Apache-2.0" \
    --config.label "dev.kanaria.node-version=$NODE_VERSION" \
    --config.label "dev.kanaria.debian-packages=${LIBS% }" \
    --history.created_by "umoci config (user, entrypoint, labels)"
  umoci gc --layout "$WORK/oci"
  mkdir -p "$(dirname "$OUT")"
  tar -C "$WORK/oci" --sort=name --owner=0 --group=0 --numeric-owner -cf "$OUT.tmp" .
  mv "$OUT.tmp" "$OUT"
  rm -rf "$WORK"
  log "wrote $OUT ($(du -h "$OUT" | cut -f1), tag $VERSION) in $(( $(date +%s) - t0 ))s"
}

main
