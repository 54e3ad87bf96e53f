#!/usr/bin/env bash
# kanaria local test cluster: a real etcd + kube-apiserver + kube-controller-manager +
# kube-scheduler, KWOK as the fake kubelet, Prometheus, moto (CloudWatch and STS fake) and a
# SigV4-checking proxy in front of Prometheus (sigv4_proxy.py: an Amazon Managed Service for
# Prometheus stand-in that verifies signatures with botocore), all bound to 127.0.0.1 on free
# ports, all started in the background by this script.
#
#   cluster.sh build              obtain/build every binary (idempotent), print where
#   cluster.sh up                 build if needed, start everything, wait until healthy,
#                                 write $KANARIA_CLUSTER_DIR/kubeconfig and /env
#   cluster.sh down               stop exactly the processes `up` started (idempotent)
#   cluster.sh status             show what runs (exit 0 when everything is up)
#   cluster.sh prometheus-stop    stop Prometheus only (to simulate an outage)
#   cluster.sh prometheus-start   start it again on the same port and data dir
#   cluster.sh controller-manager-stop   stop kube-controller-manager only (Deployments stall)
#   cluster.sh controller-manager-start  start it again as it was, and wait until it is healthy
#   cluster.sh third-party-crds   print the paths of the Gateway API / App Mesh / KEDA CRD files
#   cluster.sh chromium           install Debian's chromium if missing (browser tests), print its path
#   cluster.sh pin                regenerate test/cluster/go/*/go.mod+go.sum from versions.env
#   cluster.sh build-dataplane    build Traefik, podinfo, Flagger's load tester and hey (idempotent)
#   cluster.sh dataplane-possible exit 0 if this machine can run the data plane (root, a network
#                                 namespace can be made), else exit 1 and print why
#   cluster.sh exec -- CMD...     run CMD inside the data plane's network namespace, with the env file's
#                                 variables set (clusters with the data plane only)
#   cluster.sh apt-tool NAME      install a tool a test needs (e.g. tmux) with apt-get when missing
#
# Environment:
#   KANARIA_CLUSTER_DIR   state dir (default <repo>/.kanaria/cluster): kubeconfig, env,
#                         pids/, logs/, pki/, etcd/, prometheus/
#   KANARIA_CACHE_DIR     binary cache (default ~/.cache/kanaria), keyed by version
#   KUBEBUILDER_ASSETS    if it holds etcd + kube-apiserver (setup-envtest), those are used
#                         (and its kube-controller-manager/kube-scheduler when present)
#   kwok and prometheus on PATH are used instead of building/installing them;
#   KANARIA_MOTO_SERVER=/path/to/moto_server replaces our moto virtualenv
#   KANARIA_FAKE_NODES    number of fake nodes (default 2)
#   KANARIA_DATAPLANE     unset: `up` also starts a real data plane (see "Data plane" below) where
#                         a network namespace can be made (root), and says why not elsewhere;
#                         "traefik": it must (an error elsewhere); "off" or empty: never
#   KANARIA_CLUSTER_OWNER_PID  if set, `up` also starts a watchdog that runs `down` as
#                         soon as that process is gone (used by the vitest fixture, so a
#                         killed test run leaves nothing behind)
#
# Network ranges (nothing may dial outside 127.0.0.0/8):
#   * Every listener binds 127.0.0.1; every client URL is 127.0.0.1.
#   * Service CIDR 127.96.0.0/16 (SERVICE_CIDR below): ClusterIPs are only bookkeeping
#     here; there is no kube-proxy and nothing in our setup dials a ClusterIP, and even
#     if something did, the address is loopback.
#   * Pod IPs come from KWOK's --cidr 127.64.0.0/16 and node InternalIPs are 127.0.1.x:
#     KWOK only writes them into Pod/Node status, nothing connects to them (the apiserver
#     would only dial a node for logs/exec/port-forward, which nobody uses), and they are
#     loopback anyway. We never use 10/8, 172.16/12, 192.168/16 or public ranges.
#   * Consequence: Endpoints and EndpointSlices may not contain loopback addresses (API
#     validation), so Services never get endpoints here. The endpoints, endpointslice and
#     endpointslice-mirroring controllers are therefore off (they would only retry failing
#     writes forever), and so is the apiserver's own endpoint reconciler
#     (--endpoint-reconciler-type=none; clients use the kubeconfig URL, not the
#     default/kubernetes Service). Tests must not rely on Service endpoints.
#
# Data plane (by default where a network namespace can be made: root; KANARIA_DATAPLANE=off skips it):
#   * A network namespace of our own (`unshare -n`, held by a `sleep` process) whose loopback
#     carries 10.244.0.0/15 as local addresses (`ip route add local`). KWOK hands pod IPs out of
#     it (--cidr 10.244/16; 10.245/16 at random for podinfo pods) and the EndpointSlice controller
#     is on, so Services get endpoints. These addresses exist only inside the namespace: nothing
#     outside it dials a pod IP.
#   * Inside: Traefik (Gateway API provider, and ingress-nginx provider on IngressClass nginx;
#     KUBECONFIG), the pod runner (pod-runner.ts: one real
#     podinfo process per podinfo pod, bound to its pod IP) and Flagger's load tester (hey on PATH).
#   * The control plane stays on the host's 127.0.0.1. netns_bridge.py (one process) forwards the
#     API server's port into the namespace and Traefik's and the load tester's ports out of it,
#     each on the same port number on both sides, so the kubeconfig and the env file are valid in
#     and out, and nothing outside the namespace listens beyond 127.0.0.1.
#   * Prometheus (on the host) scrapes the pods through the same bridge's HTTP proxy
#     (POD_PROXY_PORT, `proxy_url` of the `kubernetes-pods` job), which dials pod IPs inside the
#     namespace only; the pod runner lists the targets (prometheus/pods/pods.json) with the labels
#     Kubernetes service discovery would give them.
set -euo pipefail
set +m

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
# shellcheck source=versions.env
source "$SCRIPT_DIR/versions.env"

CACHE_DIR="${KANARIA_CACHE_DIR:-$HOME/.cache/kanaria}"
STATE="${KANARIA_CLUSTER_DIR:-$REPO_ROOT/.kanaria/cluster}"
FAKE_NODES="${KANARIA_FAKE_NODES:-2}"
SERVICE_CIDR=127.96.0.0/16
POD_CIDR=127.64.0.1/16
NODE_IP_PREFIX=127.0.1.
# Startup/shutdown timeouts (seconds)
READY_TIMEOUT="${KANARIA_CLUSTER_READY_TIMEOUT:-90}"
STOP_GRACE="${KANARIA_CLUSTER_STOP_GRACE:-3}"

K8S_MINOR_VERSION="v0.${KUBERNETES_VERSION#v1.}"   # v1.37.2 -> v0.37.2
K8S_CACHE="$CACHE_DIR/k8s-$KUBERNETES_VERSION"
ETCD_CACHE="$CACHE_DIR/etcd-$ETCD_VERSION"
KWOK_CACHE="$CACHE_DIR/kwok-$KWOK_VERSION"
MOTO_CACHE="$CACHE_DIR/moto-$MOTO_VERSION"
TRAEFIK_CACHE="$CACHE_DIR/traefik-$TRAEFIK_VERSION"
PODINFO_CACHE="$CACHE_DIR/podinfo-$PODINFO_APP_VERSION-${PODINFO_VERSION##*-}"
LOADTESTER_CACHE="$CACHE_DIR/loadtester-$LOADTESTER_VERSION"
HEY_CACHE="$CACHE_DIR/hey-$HEY_VERSION"
# Unset: the data plane wherever a network namespace can be made; "traefik": required; "" or "off": none.
DATAPLANE="${KANARIA_DATAPLANE-auto}"
# Pod IPs of a data-plane cluster, local addresses inside its network namespace only: KWOK's pool
# (--cidr) for KWOK-only pods, a random address of 10.245.0.0/16 for pods with a podinfo process
# (kwok/process-start.yaml), so a deleted pod's address is not handed on while its process drains.
DATAPLANE_POD_CIDR=10.244.0.1/16
DATAPLANE_LOCAL_RANGE=10.244.0.0/15
# The Gateway Traefik serves (namespace/name) and its GatewayClass.
DATAPLANE_NAMESPACE=kanaria-dataplane
DATAPLANE_GATEWAY=traefik
DATAPLANE_GATEWAY_CLASS=traefik
# The IngressClass Traefik's ingress-nginx provider serves: ingress-nginx's own name and controller
# (the provider's defaults), so Ingresses written for ingress-nginx, and kanaria's nginx router's
# canary Ingresses, work unchanged.
DATAPLANE_INGRESS_CLASS=nginx
DATAPLANE_INGRESS_CONTROLLER=k8s.io/ingress-nginx
# Traefik's request-duration histogram buckets (seconds). Its default (0.1,0.3,1.2,5) puts a podinfo
# answer of about 1 ms in the first bucket, where histogram_quantile interpolates a p99 of 99 ms;
# these (the Prometheus client's default buckets) resolve milliseconds.
TRAEFIK_DURATION_BUCKETS=0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10
# The region the SigV4 proxy (the AMP stand-in) expects in the signing scope.
SIGV4_REGION=us-west-2
GO_DIR="$SCRIPT_DIR/go"

log() { printf '[kanaria-cluster] %s\n' "$*" >&2; }
die() { printf '[kanaria-cluster] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------

need_go() {
  command -v go >/dev/null || die "go is required to build the cluster binaries (or set KUBEBUILDER_ASSETS / put kwok on PATH)"
}

# Check that a wrapper go.mod requires MODULE at VERSION (versions.env is the source of truth).
check_gomod() {
  local dir="$1" module="$2" version="$3"
  grep -Eq "^[[:space:]]*(require[[:space:]]+)?$module $version( |\$)" "$GO_DIR/$dir/go.mod" ||
    die "$GO_DIR/$dir/go.mod does not require $module $version (versions.env). Run: $0 pin"
}

k8s_ldflags() {
  local v="$KUBERNETES_VERSION" major minor date ld="-s -w"
  major="$(echo "${v#v}" | cut -d. -f1)"
  minor="$(echo "${v#v}" | cut -d. -f2)"
  # buildDate: the tag's time as published by the module proxy (reproducible).
  date="$(cd "$GO_DIR/k8s" && go list -m -json "k8s.io/kubernetes" | sed -n 's/.*"Time": "\(.*\)".*/\1/p' | head -1)"
  [ -n "$date" ] || date=1970-01-01T00:00:00Z
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    # gitCommit is unknown when building from the module zip: all zeros says so.
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ld+=" -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  printf '%s' "$ld"
}

# go build PKGS into CACHE/bin atomically; CACHE/.complete records the recipe.
go_build_into() {
  local cache="$1" moddir="$2" ldflags="$3"; shift 3
  local recipe
  recipe="go-build $(go env GOVERSION) $ldflags $*"
  if [ -f "$cache/.complete" ] && [ "$(cat "$cache/.complete")" = "$recipe" ]; then return 0; fi
  local tmp="$cache/bin.tmp.$$" t0; t0="$(now)"
  rm -rf "$tmp"; mkdir -p "$tmp"
  log "building $* (this takes a while the first time) ..."
  ( cd "$GO_DIR/$moddir" && GOFLAGS="-buildvcs=false -mod=readonly" go build -trimpath -ldflags "$ldflags" -o "$tmp/" "$@" ) ||
    { rm -rf "$tmp"; die "go build failed in $GO_DIR/$moddir"; }
  rm -rf "${cache:?}/bin"; mv "$tmp" "$cache/bin"
  printf '%s' "$recipe" > "$cache/.complete"
  log "built $* in $(elapsed "$t0")s -> $cache/bin"
}

build_k8s() {
  need_go
  check_gomod k8s k8s.io/kubernetes "$KUBERNETES_VERSION"
  go_build_into "$K8S_CACHE" k8s "$(k8s_ldflags)" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
}

build_etcd() {
  need_go
  check_gomod etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  go_build_into "$ETCD_CACHE" etcd "-s -w" .
  [ -x "$ETCD_CACHE/bin/etcd" ] || die "etcd binary missing after build"
}

build_kwok() {
  need_go
  check_gomod kwok sigs.k8s.io/kwok "$KWOK_VERSION"
  go_build_into "$KWOK_CACHE" kwok "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" sigs.k8s.io/kwok/cmd/kwok
}

# The data plane's binaries (KANARIA_DATAPLANE=traefik). Sets TRAEFIK_BIN PODINFO_BIN LOADTESTER_BIN HEY_BIN.
build_dataplane() {
  need_go
  check_gomod traefik github.com/traefik/traefik/v3 "$TRAEFIK_VERSION"
  grep -q "github.com/abbot/go-http-auth => github.com/containous/go-http-auth $TRAEFIK_HTTP_AUTH_FORK\$" "$GO_DIR/traefik/go.mod" ||
    die "$GO_DIR/traefik/go.mod does not replace go-http-auth with the fork at $TRAEFIK_HTTP_AUTH_FORK (versions.env). Run: $0 pin"
  { grep -q "github.com/traefik/traefik/dynamic/ext => ./dynamic-ext\$" "$GO_DIR/traefik/go.mod" &&
    [ -f "$GO_DIR/traefik/dynamic-ext/ext.go" ]; } ||
    die "$GO_DIR/traefik lacks Traefik's nested module dynamic/ext (dynamic-ext/ and its replace). Run: $0 pin"
  check_gomod podinfo github.com/stefanprodan/podinfo "$PODINFO_VERSION"
  check_gomod loadtester github.com/fluxcd/flagger "$LOADTESTER_VERSION"
  check_gomod hey github.com/rakyll/hey "$HEY_VERSION"
  grep -q "VERSION = \"$PODINFO_APP_VERSION\"" "$(mod_dir github.com/stefanprodan/podinfo "$PODINFO_VERSION")/pkg/version/version.go" ||
    die "github.com/stefanprodan/podinfo@$PODINFO_VERSION is not podinfo $PODINFO_APP_VERSION: fix PODINFO_* in versions.env"
  go_build_into "$TRAEFIK_CACHE" traefik "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" \
    github.com/traefik/traefik/v3/cmd/traefik
  go_build_into "$PODINFO_CACHE" podinfo "-s -w -X github.com/stefanprodan/podinfo/pkg/version.REVISION=${PODINFO_VERSION##*-}" \
    github.com/stefanprodan/podinfo/cmd/podinfo
  go_build_into "$LOADTESTER_CACHE" loadtester "-s -w" github.com/fluxcd/flagger/cmd/loadtester
  go_build_into "$HEY_CACHE" hey "-s -w" github.com/rakyll/hey
  TRAEFIK_BIN="$TRAEFIK_CACHE/bin/traefik" PODINFO_BIN="$PODINFO_CACHE/bin/podinfo"
  LOADTESTER_BIN="$LOADTESTER_CACHE/bin/loadtester" HEY_BIN="$HEY_CACHE/bin/hey"
}

cmd_build_dataplane() {
  local t0; t0="$(now)"
  build_dataplane
  printf 'traefik:    %s\npodinfo:    %s\nloadtester: %s\nhey:        %s\n' "$TRAEFIK_BIN" "$PODINFO_BIN" "$LOADTESTER_BIN" "$HEY_BIN"
  log "data plane build done in $(elapsed "$t0")s (cache: $CACHE_DIR)"
}

# Directory of MODULE@VERSION in the Go module cache (downloads it if needed).
mod_dir() {
  local out dir
  out="$(cd / && GOFLAGS="" go mod download -json "$1@$2")" || die "go mod download $1@$2 failed: $out"
  dir="$(printf '%s' "$out" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download $1@$2 gave no Dir: $out"
  printf '%s' "$dir"
}

# KWOK stage YAMLs, taken from the kwok module (not copied into the repo); they are
# copied into the cache so `up` does not need Go when kwok comes from PATH.
kwok_stages() {
  local dst="$KWOK_CACHE/stages"
  if [ ! -f "$dst/.complete" ]; then
    need_go
    local src; src="$(mod_dir sigs.k8s.io/kwok "$KWOK_VERSION")/kustomize/stage"
    mkdir -p "$dst"
    # node-initialize + node-heartbeat-with-lease, pod-ready + pod-complete + pod-delete
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      [ -f "$src/$f" ] || die "kwok stage $src/$f not found in sigs.k8s.io/kwok@$KWOK_VERSION"
      cp "$src/$f" "$dst/$(basename "$f")"; chmod u+w "$dst/$(basename "$f")"
    done
    touch "$dst/.complete"
  fi
  printf '%s' "$dst"
}

# Installs a Debian package (--no-install-recommends) unless `binary` is already there: the
# project's way to get tools Debian ships (Prometheus; Chromium for the dashboard's browser tests).
install_debian() {
  local package="$1" binary="$2"
  command -v "$binary" >/dev/null && return 0
  [ -x "/usr/bin/$binary" ] && return 0
  command -v apt-get >/dev/null || die "$binary not found and apt-get unavailable: install $package and put $binary on PATH"
  log "installing Debian's $package package (--no-install-recommends) ..."
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  # Keep a package's own service from being started: we run our own Prometheus.
  local policy=/usr/sbin/policy-rc.d created=0 apt_log="$CACHE_DIR/apt-$package.log"
  mkdir -p "$CACHE_DIR"
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && created=1
  fi
  local ok=0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$package" >"$apt_log" 2>&1 && ok=1
  if [ $ok = 0 ]; then
    $sudo apt-get update -q >>"$apt_log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$package" >>"$apt_log" 2>&1 && ok=1
  fi
  [ $created = 1 ] && $sudo rm -f "$policy"
  [ $ok = 1 ] || { tail -20 "$apt_log" >&2; die "apt-get install $package failed (log: $apt_log)"; }
}

install_prometheus() { install_debian prometheus prometheus; }

# The dashboard's browser tests drive Debian's Chromium (playwright's own browser downloads are
# not reachable here); prints its path.
cmd_chromium() {
  install_debian chromium chromium
  command -v chromium || echo /usr/bin/chromium
}

# A command-line tool a test drives (tmux for the terminal views), from Debian's package of that name.
cmd_apt_tool() {
  local tool=${1:-}
  [ -n "$tool" ] || die "usage: $0 apt-tool NAME"
  install_debian "$tool" "$tool"
}

install_moto() {
  if [ -x "$MOTO_CACHE/venv/bin/moto_server" ] && [ -f "$MOTO_CACHE/.complete" ]; then return 0; fi
  command -v python3 >/dev/null || die "python3 is required for moto"
  log "creating virtualenv with moto[server]==$MOTO_VERSION ..."
  rm -rf "$MOTO_CACHE"; mkdir -p "$MOTO_CACHE"
  python3 -m venv "$MOTO_CACHE/venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$MOTO_CACHE/venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >"$MOTO_CACHE/pip.log" 2>&1 ||
    { tail -20 "$MOTO_CACHE/pip.log" >&2; die "pip install moto[server]==$MOTO_VERSION failed"; }
  touch "$MOTO_CACHE/.complete"
}

# Resolve every binary: user-provided ones first, our cache otherwise (building it).
# Sets ETCD_BIN KUBE_APISERVER_BIN KUBE_CONTROLLER_MANAGER_BIN KUBE_SCHEDULER_BIN
#      KWOK_BIN PROMETHEUS_BIN MOTO_BIN KWOK_STAGES
resolve_bins() {
  mkdir -p "$CACHE_DIR"
  ETCD_BIN="" KUBE_APISERVER_BIN="" KUBE_CONTROLLER_MANAGER_BIN="" KUBE_SCHEDULER_BIN=""
  local kba="${KUBEBUILDER_ASSETS:-}"
  if [ -n "$kba" ] && [ -x "$kba/etcd" ] && [ -x "$kba/kube-apiserver" ]; then
    ETCD_BIN="$kba/etcd"; KUBE_APISERVER_BIN="$kba/kube-apiserver"
    [ -x "$kba/kube-controller-manager" ] && KUBE_CONTROLLER_MANAGER_BIN="$kba/kube-controller-manager"
    [ -x "$kba/kube-scheduler" ] && KUBE_SCHEDULER_BIN="$kba/kube-scheduler"
  fi
  if [ -z "$KUBE_APISERVER_BIN" ] || [ -z "$KUBE_CONTROLLER_MANAGER_BIN" ] || [ -z "$KUBE_SCHEDULER_BIN" ]; then
    build_k8s
    : "${KUBE_APISERVER_BIN:=$K8S_CACHE/bin/kube-apiserver}"
    : "${KUBE_CONTROLLER_MANAGER_BIN:=$K8S_CACHE/bin/kube-controller-manager}"
    : "${KUBE_SCHEDULER_BIN:=$K8S_CACHE/bin/kube-scheduler}"
  fi
  if [ -z "$ETCD_BIN" ]; then build_etcd; ETCD_BIN="$ETCD_CACHE/bin/etcd"; fi
  if command -v kwok >/dev/null; then KWOK_BIN="$(command -v kwok)"; else build_kwok; KWOK_BIN="$KWOK_CACHE/bin/kwok"; fi
  KWOK_STAGES="$(kwok_stages)"
  install_prometheus
  PROMETHEUS_BIN="$(command -v prometheus || echo /usr/bin/prometheus)"
  # moto: our own virtualenv (a moto_server on PATH may be a pyenv shim or another version);
  # KANARIA_MOTO_SERVER=/path/to/moto_server overrides.
  if [ -n "${KANARIA_MOTO_SERVER:-}" ]; then MOTO_BIN="$KANARIA_MOTO_SERVER"; else install_moto; MOTO_BIN="$MOTO_CACHE/venv/bin/moto_server"; fi
  # The SigV4 proxy runs on the Python next to moto_server: botocore comes with moto.
  MOTO_PYTHON="$(dirname "$MOTO_BIN")/python"
  [ -x "$MOTO_PYTHON" ] || die "no python next to $MOTO_BIN (the SigV4 proxy needs moto's Python, which has botocore)"
  command -v openssl >/dev/null || die "openssl is required (apt-get install openssl)"
  command -v curl >/dev/null || die "curl is required (apt-get install curl)"
  if dataplane_on; then build_dataplane; fi
}

cmd_build() {
  local t0; t0="$(now)"
  resolve_bins
  cat <<EOF
etcd:                    $ETCD_BIN
kube-apiserver:          $KUBE_APISERVER_BIN
kube-controller-manager: $KUBE_CONTROLLER_MANAGER_BIN
kube-scheduler:          $KUBE_SCHEDULER_BIN
kwok:                    $KWOK_BIN
kwok stages:             $KWOK_STAGES
prometheus:              $PROMETHEUS_BIN
moto_server:             $MOTO_BIN
EOF
  log "build done in $(elapsed "$t0")s (cache: $CACHE_DIR)"
}

# ---------------------------------------------------------------------------------------
# pin: regenerate the wrapper modules from versions.env
# ---------------------------------------------------------------------------------------

cmd_pin() {
  need_go
  local gomod staging
  # k8s.io/kubernetes replaces its staging modules with ./staging/... paths and requires
  # them at v0.0.0; replace each with its published twin at v0.MINOR.PATCH.
  gomod="$(cd / && GOFLAGS="" go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [ -f "$gomod" ] || die "cannot download k8s.io/kubernetes@$KUBERNETES_VERSION"
  staging="$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod")"
  mkdir -p "$GO_DIR/k8s" "$GO_DIR/etcd" "$GO_DIR/kwok"
  {
    echo "// Wrapper module: builds kube-apiserver, kube-controller-manager and kube-scheduler"
    echo "// from k8s.io/kubernetes. Generated by test/cluster/cluster.sh pin from versions.env."
    echo "module kanaria.test/cluster/k8s"; echo; echo "go 1.26.0"; echo
    echo "tool ("
    for c in kube-apiserver kube-controller-manager kube-scheduler; do printf '\tk8s.io/kubernetes/cmd/%s\n' "$c"; done
    echo ")"; echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"; echo
    echo "replace ("
    for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$K8S_MINOR_VERSION"; done
    echo ")"
  } > "$GO_DIR/k8s/go.mod"
  {
    echo "// Wrapper module: builds an etcd server binary from go.etcd.io/etcd/server/v3."
    echo "// Generated by test/cluster/cluster.sh pin from versions.env."
    echo "module kanaria.test/cluster/etcd"; echo; echo "go 1.26.0"; echo
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  } > "$GO_DIR/etcd/go.mod"
  {
    echo "// Wrapper module: builds the kwok fake kubelet from sigs.k8s.io/kwok."
    echo "// Generated by test/cluster/cluster.sh pin from versions.env."
    echo "module kanaria.test/cluster/kwok"; echo; echo "go 1.26.0"; echo
    echo "tool sigs.k8s.io/kwok/cmd/kwok"; echo
    echo "require sigs.k8s.io/kwok $KWOK_VERSION"
  } > "$GO_DIR/kwok/go.mod"
  for d in k8s etcd kwok; do
    rm -f "$GO_DIR/$d/go.sum"
    (cd "$GO_DIR/$d" && go mod tidy) || die "go mod tidy failed in $GO_DIR/$d"
  done
  log "regenerated $GO_DIR/{k8s,etcd,kwok}/go.mod and go.sum"
  pin_dataplane
}

# pin_tool DIR MODULE VERSION TOOL-PACKAGE WHAT [REPLACE-LINES [EXCLUDE]]: one data-plane wrapper module.
pin_tool() {
  local dir="$1" module="$2" version="$3" pkg="$4" what="$5" replaces="${6:-}" exclude="${7:-}"
  mkdir -p "$GO_DIR/$dir"
  {
    echo "// Wrapper module: builds $what."
    echo "// Generated by test/cluster/cluster.sh pin from versions.env."
    echo "module kanaria.test/cluster/$dir"; echo; echo "go 1.26.0"; echo
    echo "tool $pkg"; echo
    echo "require $module $version"
    if [ -n "$replaces" ]; then echo; echo "replace ("; printf '%s\n' "$replaces"; echo ")"; fi
    if [ -n "$exclude" ]; then echo; echo "exclude $exclude"; fi
  } > "$GO_DIR/$dir/go.mod"
  rm -f "$GO_DIR/$dir/go.sum"
  (cd "$GO_DIR/$dir" && go mod tidy) || die "go mod tidy failed in $GO_DIR/$dir"
}

pin_dataplane() {
  # Traefik's nested module github.com/traefik/traefik/dynamic/ext (pkg/config/dynamic/ext): its
  # go.mod replaces it with that local path, which its module zip lacks (a nested module is never
  # part of its parent's zip), and the proxy cannot serve it (the module path does not match the
  # directory). It is OSS Traefik's routing-configuration extension point: two empty structs that
  # dynamic.HTTP and dynamic.Router embed. The wrapper carries the same two files, byte for byte as
  # they read in Traefik's repository (v3.7.9 to the v3.7 branch's head), under dynamic-ext/.
  mkdir -p "$GO_DIR/traefik/dynamic-ext"
  printf '%s\n' "module github.com/traefik/traefik/dynamic/ext" "" "go 1.26.0" > "$GO_DIR/traefik/dynamic-ext/go.mod"
  printf '%s\n' "package ext" "" "// HTTP is a dynamic.HTTP extension." "type HTTP struct{}" "" \
    "// Router is a dynamic.Router extension." "type Router struct{}" > "$GO_DIR/traefik/dynamic-ext/ext.go"
  # Traefik's own replace directives (a dependency's replaces do not apply to the main module).
  pin_tool traefik github.com/traefik/traefik/v3 "$TRAEFIK_VERSION" github.com/traefik/traefik/v3/cmd/traefik \
    "Traefik (the data plane's proxy) from github.com/traefik/traefik/v3" \
    "$(printf '\t%s\n' \
      "github.com/traefik/traefik/dynamic/ext => ./dynamic-ext" \
      "github.com/abbot/go-http-auth => github.com/containous/go-http-auth $TRAEFIK_HTTP_AUTH_FORK" \
      "github.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59")" \
    "github.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible"
  pin_tool podinfo github.com/stefanprodan/podinfo "$PODINFO_VERSION" github.com/stefanprodan/podinfo/cmd/podinfo \
    "podinfo (the app the pod runner starts, one process per pod)"
  pin_tool loadtester github.com/fluxcd/flagger "$LOADTESTER_VERSION" github.com/fluxcd/flagger/cmd/loadtester \
    "Flagger's load tester (the rollout webhook that runs hey)"
  pin_tool hey github.com/rakyll/hey "$HEY_VERSION" github.com/rakyll/hey "hey (the load generator the load tester runs)"
  log "regenerated $GO_DIR/{traefik,podinfo,loadtester,hey}/go.mod and go.sum"
}

# ---------------------------------------------------------------------------------------
# third-party CRDs
# ---------------------------------------------------------------------------------------

cmd_third_party_crds() {
  need_go
  local gw am
  gw="$(mod_dir sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION")/config/crd/standard"
  am="$(mod_dir "$APP_MESH_CRDS_MODULE" "$APP_MESH_CRDS_MODULE_VERSION")/stable/appmesh-controller"
  grep -q "^appVersion: v\{0,1\}${APP_MESH_CONTROLLER_VERSION#v}\$" "$am/Chart.yaml" ||
    die "$am/Chart.yaml is not App Mesh controller $APP_MESH_CONTROLLER_VERSION: fix APP_MESH_* in versions.env"
  local f
  for f in "$gw"/gateway.networking.k8s.io_*.yaml; do
    case "$f" in *_vap_*) ;; *) echo "$f" ;; esac   # skip the ValidatingAdmissionPolicy
  done
  echo "$am/crds/crds.yaml"
  echo "$(mod_dir github.com/kedacore/keda/v2 "$KEDA_VERSION")/config/crd/bases/keda.sh_scaledobjects.yaml"
}

# ---------------------------------------------------------------------------------------
# process handling
# ---------------------------------------------------------------------------------------

# /proc start time of PID (field 22), to tell our process from a recycled PID.
proc_start() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null || true; }

# pid file: "PID STARTTIME"
pid_alive() {
  local f="$STATE/pids/$1.pid" pid st
  [ -f "$f" ] || return 1
  read -r pid st < "$f" || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(proc_start "$pid")" = "$st" ]
}
pid_of() { local pid _; read -r pid _ < "$STATE/pids/$1.pid"; echo "$pid"; }

# start NAME CMD...: own session/process group (setsid), logs appended to logs/NAME.log,
# command line saved to cmd/NAME so it can be restarted as is.
start() {
  local name="$1"; shift
  mkdir -p "$STATE/pids" "$STATE/logs" "$STATE/cmd"
  printf '%q ' "$@" > "$STATE/cmd/$name"
  echo "=== $(date -u +%FT%TZ) starting $name: $*" >> "$STATE/logs/$name.log"
  setsid "$@" >> "$STATE/logs/$name.log" 2>&1 < /dev/null &
  local pid=$!
  local st=""; for _ in 1 2 3 4 5 6 7 8 9 10; do st="$(proc_start "$pid")"; [ -n "$st" ] && break; sleep 0.01; done
  echo "$pid $st" > "$STATE/pids/$name.pid"
}

restart_saved() {
  local name="$1" cmdline
  [ -f "$STATE/cmd/$name" ] || die "no saved command for $name in $STATE/cmd (was the cluster started with 'up'?)"
  cmdline="$(cat "$STATE/cmd/$name")"
  eval "start $name $cmdline"
}

# stop NAMES...: SIGTERM to each process group, SIGKILL after STOP_GRACE seconds.
stop() {
  local names=() pids=() n pid
  for n in "$@"; do
    if pid_alive "$n"; then
      pid="$(pid_of "$n")"
      if [ "$pid" != "$$" ]; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        names+=("$n"); pids+=("$pid")
      fi
    fi
  done
  local deadline; deadline=$(( $(date +%s) + STOP_GRACE ))
  local i alive
  while :; do
    alive=0
    for i in "${!names[@]}"; do pid_alive "${names[$i]}" && alive=1; done
    [ $alive = 0 ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      local killed=""
      for i in "${!names[@]}"; do
        if pid_alive "${names[$i]}"; then
          killed+=" ${names[$i]}"
          kill -KILL -- "-${pids[$i]}" 2>/dev/null || kill -KILL "${pids[$i]}" 2>/dev/null || true
        fi
      done
      log "SIGKILL after ${STOP_GRACE}s:$killed"
      sleep 0.2; break
    fi
    sleep 0.1
  done
  for n in "$@"; do
    # also make sure no member of the group survived its leader
    if [ -f "$STATE/pids/$n.pid" ]; then
      pid="$(pid_of "$n")"
      [ "$pid" != "$$" ] && kill -KILL -- "-$pid" 2>/dev/null || true
      rm -f "$STATE/pids/$n.pid"
    fi
  done
}

ALL_COMPONENTS=(watchdog kwok kube-scheduler kube-controller-manager kube-apiserver etcd prometheus moto sigv4-proxy
                netns netns-bridge traefik pod-runner loadtester)

cmd_down() {
  [ -d "$STATE/pids" ] || { log "nothing to stop in $STATE"; return 0; }
  # All at once: the state is thrown away on the next `up` anyway, and kube-apiserver's
  # graceful shutdown alone can take longer than the grace period.
  stop watchdog kwok kube-scheduler kube-controller-manager kube-apiserver prometheus moto sigv4-proxy etcd \
    pod-runner traefik loadtester netns-bridge netns
  rm -f "$STATE/env"
  log "stopped cluster in $STATE"
}

# ---------------------------------------------------------------------------------------
# data plane (KANARIA_DATAPLANE=traefik; see "Data plane" at the top)
# ---------------------------------------------------------------------------------------

# 0 when this machine can make the data plane's network namespace; otherwise 1, with the reason in
# DATAPLANE_IMPOSSIBLE. The one place that decides it: `up` and `dataplane-possible` (which `make demo`
# asks to choose real traffic or the simulator) both read it.
dataplane_possible() {
  DATAPLANE_IMPOSSIBLE=""
  if [ "$(id -u)" != 0 ]; then
    DATAPLANE_IMPOSSIBLE="no network namespace: the data plane needs root (it makes one with unshare -n and enters it with nsenter), and this runs as uid $(id -u)"
    return 1
  fi
  local t
  for t in unshare nsenter ip; do
    command -v "$t" >/dev/null ||
      { DATAPLANE_IMPOSSIBLE="no network namespace: $t is missing (Debian: util-linux, iproute2)"; return 1; }
  done
  # Root in a container without CAP_SYS_ADMIN (Docker's default) cannot make one: try it.
  local err
  if ! err="$(unshare --net true 2>&1)"; then
    DATAPLANE_IMPOSSIBLE="no network namespace: unshare --net failed here (${err:-no message}); a container needs CAP_SYS_ADMIN for it"
    return 1
  fi
}

# dataplane-possible: exit 0 when a data plane can run here, else exit 1 and print why on stdout.
cmd_dataplane_possible() {
  if dataplane_possible; then echo "yes"; return 0; fi
  echo "$DATAPLANE_IMPOSSIBLE"
  return 1
}

# 0 when this cluster gets the data plane: KANARIA_DATAPLANE=traefik (an error where it cannot run), or
# unset and this machine can make a network namespace (said once where it cannot).
DATAPLANE_SAID=""
dataplane_on() {
  case "$DATAPLANE" in
    "" | off) return 1 ;;
    auto)
      if ! dataplane_possible; then
        [ -n "$DATAPLANE_SAID" ] || log "no real data plane: $DATAPLANE_IMPOSSIBLE (KANARIA_DATAPLANE=off skips this check)"
        DATAPLANE_SAID=1
        return 1
      fi
      ;;
    traefik)
      dataplane_possible ||
        die "KANARIA_DATAPLANE=traefik: $DATAPLANE_IMPOSSIBLE. Set KANARIA_DATAPLANE=off to run without the data plane."
      ;;
    *) die "KANARIA_DATAPLANE must be traefik, off or empty, or unset for the data plane where it can run (got \"$DATAPLANE\")" ;;
  esac
  node_bin >/dev/null
}

# The Node.js that runs the pod runner: the project's own (node_modules/.bin/node) when installed.
node_bin() {
  if [ -x "$REPO_ROOT/node_modules/.bin/node" ]; then echo "$REPO_ROOT/node_modules/.bin/node"; return 0; fi
  command -v node || die "KANARIA_DATAPLANE=traefik needs Node.js for the pod runner (run npm ci)"
}

netns_path() { echo "/proc/$(pid_of netns)/ns/net"; }

# Inside the namespace: `in_netns CMD...`.
in_netns() { nsenter --net="$(netns_path)" -- "$@"; }

# The KWOK stages: pods with a podinfo container get their own start and ready stages
# (kwok/process-*.yaml); KWOK's pod-ready stage keeps every other pod.
dataplane_stages() {
  local dst="$STATE/kwok/stages" f
  mkdir -p "$dst"
  for f in "$KWOK_STAGES"/*.yaml; do cp "$f" "$dst/"; done
  python3 - "$dst/pod-ready.yaml" <<'EOF'
import sys
path = sys.argv[1]
text = open(path).read()
anchor = "    matchExpressions:\n"
assert text.count(anchor) == 1, f"{path}: no single matchExpressions list to extend"
exclude = (
    "    - key: '[.spec.containers[].image | test(\"(^|/)podinfo(:|@|$)\")] | any'\n"
    "      operator: 'NotIn'\n"
    "      values: ['true']\n"
)
open(path, "w").write(text.replace(anchor, anchor + exclude))
EOF
  cp "$SCRIPT_DIR"/kwok/process-start.yaml "$SCRIPT_DIR"/kwok/process-ready.yaml "$dst/"
  echo "$dst"
}

start_netns() {
  start netns unshare --net sleep infinity
  local pid host; pid="$(pid_of netns)"; host="$(readlink /proc/self/ns/net)"
  # unshare has to run before the process is in its namespace; never configure the host's by mistake.
  wait_for netns "its own network namespace" bash -c "[ -e /proc/$pid/ns/net ] && [ \"\$(readlink /proc/$pid/ns/net)\" != '$host' ]"
  in_netns ip link set lo up
  # Every address of the pod range is local inside the namespace, so each process binds its pod IP.
  in_netns ip route add local "$DATAPLANE_LOCAL_RANGE" dev lo
}

write_dataplane_manifests() {
  cat > "$STATE/dataplane/gateway.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $DATAPLANE_NAMESPACE
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: $DATAPLANE_GATEWAY_CLASS
spec:
  controllerName: traefik.io/gateway-controller
---
# Traefik serves a Gateway listener on the entrypoint with the same port: PROXY_PORT.
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: $DATAPLANE_GATEWAY
  namespace: $DATAPLANE_NAMESPACE
spec:
  gatewayClassName: $DATAPLANE_GATEWAY_CLASS
  listeners:
  - name: web
    protocol: HTTP
    port: $PROXY_PORT
    allowedRoutes:
      namespaces:
        from: All
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: $DATAPLANE_INGRESS_CLASS
spec:
  controller: $DATAPLANE_INGRESS_CONTROLLER
EOF
  cat > "$STATE/prometheus/targets/traefik.json" <<EOF
[{"targets": ["127.0.0.1:$TRAEFIK_PORT"], "labels": {"job": "traefik"}}]
EOF
}

gateway_programmed() {
  kcurl "/apis/gateway.networking.k8s.io/v1/namespaces/$DATAPLANE_NAMESPACE/gateways/$DATAPLANE_GATEWAY" | python3 -c '
import json, sys
conds = json.load(sys.stdin).get("status", {}).get("conditions", [])
sys.exit(0 if any(c["type"] == "Programmed" and c["status"] == "True" for c in conds) else 1)'
}

start_dataplane() {
  mkdir -p "$STATE/dataplane" "$STATE/logs/pods"
  start_netns
  start netns-bridge python3 "$SCRIPT_DIR/netns_bridge.py" --netns "$(netns_path)" \
    --into "$APISERVER_PORT" --out "$PROXY_PORT" --out "$TRAEFIK_PORT" --out "$LOADTESTER_PORT" \
    --http-proxy "$POD_PROXY_PORT" --proxy-allow "$DATAPLANE_LOCAL_RANGE"
  write_dataplane_manifests
  local node gw_crds
  node="$(node_bin)"
  gw_crds="$(cmd_third_party_crds | grep '/gateway.networking.k8s.io_')"
  # shellcheck disable=SC2086 # one path per line, none with spaces (the Go module cache)
  "$node" "$SCRIPT_DIR/apply.ts" "$STATE/kubeconfig" $gw_crds >>"$STATE/logs/dataplane-apply.log" 2>&1 ||
    fail_start dataplane-apply "could not apply the Gateway API CRDs"
  "$node" "$SCRIPT_DIR/apply.ts" "$STATE/kubeconfig" "$STATE/dataplane/gateway.yaml" >>"$STATE/logs/dataplane-apply.log" 2>&1 ||
    fail_start dataplane-apply "could not apply $STATE/dataplane/gateway.yaml"
  local ns; ns="$(netns_path)"
  start traefik nsenter --net="$ns" -- env KUBECONFIG="$STATE/kubeconfig" "$TRAEFIK_BIN" \
    --global.checkNewVersion=false --global.sendAnonymousUsage=false \
    --entryPoints.web.address=":$PROXY_PORT" \
    --entryPoints.traefik.address="127.0.0.1:$TRAEFIK_PORT" \
    --ping=true --ping.entryPoint=traefik \
    --metrics.prometheus=true --metrics.prometheus.entryPoint=traefik \
    --metrics.prometheus.addServicesLabels=true --metrics.prometheus.addEntryPointsLabels=true \
    --metrics.prometheus.buckets="$TRAEFIK_DURATION_BUCKETS" \
    --providers.providersThrottleDuration=500ms \
    --accesslog=true --accesslog.format=json --accesslog.filepath="$STATE/logs/traefik-errors.log" \
    --accesslog.filters.statuscodes=500-599 \
    --providers.kubernetesGateway=true \
    --providers.kubernetesIngressNGINX=true \
    --providers.kubernetesIngressNGINX.ingressClass="$DATAPLANE_INGRESS_CLASS" \
    --providers.kubernetesIngressNGINX.controllerClass="$DATAPLANE_INGRESS_CONTROLLER" \
    --log.level=INFO
  start pod-runner nsenter --net="$ns" -- env KUBECONFIG="$STATE/kubeconfig" \
    "$node" "$SCRIPT_DIR/pod-runner.ts" "$PODINFO_BIN" "$STATE/logs/pods" "$STATE/prometheus/pods/pods.json"
  start loadtester nsenter --net="$ns" -- env PATH="$(dirname "$HEY_BIN"):$PATH" \
    "$LOADTESTER_BIN" -port="$LOADTESTER_PORT" -log-level=info -zap-encoding=console
  wait_for traefik "http://127.0.0.1:$TRAEFIK_PORT/ping" http_ok "http://127.0.0.1:$TRAEFIK_PORT/ping"
  wait_for traefik "Gateway $DATAPLANE_NAMESPACE/$DATAPLANE_GATEWAY Programmed" gateway_programmed
  wait_for loadtester "http://127.0.0.1:$LOADTESTER_PORT/healthz" http_ok "http://127.0.0.1:$LOADTESTER_PORT/healthz"
  wait_for pod-runner "its log says it watches pods" grep -q 'pod runner watching pods' "$STATE/logs/pod-runner.log"
}

# exec -- CMD...: CMD inside the namespace with the env file's variables exported.
cmd_exec() {
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || die "usage: $0 exec -- CMD [ARGS...]"
  [ -f "$STATE/env" ] && pid_alive netns || die "no data plane runs in $STATE (start one with KANARIA_DATAPLANE=traefik $0 up)"
  set -a
  # shellcheck disable=SC1091
  source "$STATE/env"
  set +a
  exec nsenter --net="$(netns_path)" -- "$@"
}

# ---------------------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------------------

free_ports() {
  # Bind N sockets to 127.0.0.1:0 at once so the ports are distinct, then release them.
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

gen_pki() {
  local d="$STATE/pki"
  mkdir -p "$d"; chmod 700 "$d"
  ( cd "$d"
    ec() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }
    ec ca.key
    openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=kanaria-test-ca" -out ca.crt 2>/dev/null
    sign() { # name subj ext
      ec "$1.key"
      openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
      printf '%s\n' "$3" > "$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    sign apiserver "/CN=kube-apiserver" "subjectAltName=IP:127.0.0.1,IP:${SERVICE_CIDR%.0/*}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment"
    # admin client: system:masters (full access) for tests, controllers, scheduler, kwok
    sign admin "/O=system:masters/CN=kanaria-admin" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
    # service-account token signing key (apiserver + controller-manager)
    ec sa.key
    openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
  ) || die "certificate generation with openssl failed"
}

write_kubeconfig() {
  local d="$STATE/pki"
  b64() { base64 -w0 < "$1"; }
  cat > "$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kanaria
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(b64 "$d/ca.crt")
users:
- name: kanaria-admin
  user:
    client-certificate-data: $(b64 "$d/admin.crt")
    client-key-data: $(b64 "$d/admin.key")
contexts:
- name: kanaria
  context:
    cluster: kanaria
    user: kanaria-admin
    namespace: default
current-context: kanaria
EOF
  chmod 600 "$STATE/kubeconfig"
}

kcurl() { # PATH [curl args...]
  local p="$1"; shift
  curl -sS --max-time 5 --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT$p" "$@"
}

# Print why COMPONENT failed with the tail of its log, and exit 1; when called during
# `up`, the EXIT trap then stops whatever was started.
fail_start() { # component message
  local name="$1"; shift
  echo >&2
  log "FAILED: $name $*"
  if [ -f "$STATE/logs/$name.log" ]; then
    log "last 40 lines of $STATE/logs/$name.log:"
    tail -n 40 "$STATE/logs/$name.log" | sed 's/^/    | /' >&2
  fi
  log "all logs: $STATE/logs/"
  exit 1
}

# wait_for COMPONENT DESCRIPTION TEST-COMMAND...
wait_for() {
  wait_until "$@" || fail_start "$1" "exited while waiting for: $2"
}

# wait_until COMPONENT DESCRIPTION TEST-COMMAND...: 0 once the test passes, 1 if the component exits.
wait_until() {
  local name="$1" desc="$2"; shift 2
  local deadline; deadline=$(( $(date +%s) + READY_TIMEOUT ))
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ -f "$STATE/pids/$name.pid" ] && ! pid_alive "$name"; then return 1; fi
    [ "$(date +%s)" -lt "$deadline" ] || fail_start "$name" "did not become ready within ${READY_TIMEOUT}s (waited for: $desc)"
    sleep 0.2
  done
}

# kwok v0.8.0 sometimes dies as it starts with "fatal error: concurrent map writes": its controllers
# build their stages' CEL environments on their own goroutines, and easycel v0.6.0 caches Go types in
# a global map without a lock (seen here on 2026-12-03). The race is rare, so that crash (and only
# that one) gets up to two more starts.
wait_for_kwok() {
  local desc="$1" try
  for try in 1 2 3; do
    wait_until kwok "$desc" nodes_ready && return 0
    [ "$try" -lt 3 ] && since_last_start kwok | grep 'fatal error: concurrent map writes' >/dev/null || break
    log "kwok crashed on its start-up race (concurrent map writes in easycel); starting it again ($try of 2)"
    restart_saved kwok
  done
  fail_start kwok "exited while waiting for: $desc"
}

# since_last_start COMPONENT: its log from the last "=== ... starting" line on.
since_last_start() {
  awk '/^=== .* starting /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$STATE/logs/$1.log"
}

http_ok() { [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$1")" = 200 ]; }
http_any() { local c; c="$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$1")"; [ "$c" != 000 ]; }
https_ok_insecure() { [ "$(curl -sk --max-time 2 "$1")" = ok ]; }
apiserver_ready() { [ "$(kcurl /readyz)" = ok ]; }
nodes_ready() {
  kcurl /api/v1/nodes?labelSelector=kanaria.dev/fake-node%3Dtrue | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
ready = [n for n in items if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]
sys.exit(0 if items and len(ready) == len(items) == int(sys.argv[1]) else 1)' "$FAKE_NODES"
}
default_sa_exists() { kcurl /api/v1/namespaces/default/serviceaccounts/default -o /dev/null -f; }

create_nodes() {
  local i name
  for i in $(seq 0 $((FAKE_NODES - 1))); do
    name="kanaria-node-$i"
    kcurl /api/v1/nodes -f -o /dev/null -X POST -H 'Content-Type: application/json' -d @- <<EOF || fail_start kube-apiserver "rejected fake node $name"
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$name",
 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"kanaria.dev/fake-node":"true","type":"kwok","kubernetes.io/hostname":"$name","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64"}},
 "spec":{},
 "status":{"allocatable":{"cpu":"64","memory":"256Gi","pods":"500"},
           "capacity":{"cpu":"64","memory":"256Gi","pods":"500"},
           "addresses":[{"type":"InternalIP","address":"${NODE_IP_PREFIX}$((i + 1))"},{"type":"Hostname","address":"$name"}]}}
EOF
  done
}

write_prometheus_config() {
  mkdir -p "$STATE/prometheus/targets" "$STATE/prometheus/data"
  cat > "$STATE/prometheus/prometheus.yml" <<EOF
# Generated by test/cluster/cluster.sh. Add scrape targets at runtime by writing
# Prometheus file_sd JSON files into $STATE/prometheus/targets/ , e.g.
#   [{"targets": ["127.0.0.1:12345"], "labels": {"job": "my-test"}}]
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: kanaria-file-sd
    file_sd_configs:
      - files: ["$STATE/prometheus/targets/*.json"]
        refresh_interval: 1s
EOF
  if dataplane_on; then
    mkdir -p "$STATE/prometheus/pods"
    # The data plane's pods: the pod runner writes their targets (pod IP and metrics port) with the
    # __meta_kubernetes_* labels of Kubernetes service discovery, relabeled as in the usual
    # kubernetes-pods job. Pod IPs exist only inside the namespace: the bridge's HTTP proxy dials them.
    cat >> "$STATE/prometheus/prometheus.yml" <<EOF
  - job_name: kubernetes-pods
    proxy_url: http://127.0.0.1:$POD_PROXY_PORT
    file_sd_configs:
      - files: ["$STATE/prometheus/pods/*.json"]
        refresh_interval: 1s
    relabel_configs:
      - action: labelmap
        regex: __meta_kubernetes_pod_label_(.+)
      - source_labels: [__meta_kubernetes_namespace]
        target_label: kubernetes_namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: kubernetes_pod_name
EOF
  fi
}

start_prometheus() {
  start prometheus "$PROMETHEUS_BIN" \
    --config.file="$STATE/prometheus/prometheus.yml" \
    --storage.tsdb.path="$STATE/prometheus/data" \
    --storage.tsdb.retention.time=1d \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    --log.level=warn
}

write_env() {
  local f="$STATE/env" pinned=""
  case "$KUBE_APISERVER_BIN" in "$K8S_CACHE"/*) pinned="$KUBERNETES_VERSION" ;; esac
  cat > "$f.tmp" <<EOF
KANARIA_CLUSTER_DIR=$STATE
KUBECONFIG=$STATE/kubeconfig
KUBE_APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
KUBE_APISERVER_PORT=$APISERVER_PORT
KUBE_APISERVER_BIN=$KUBE_APISERVER_BIN
KANARIA_KUBERNETES_VERSION=$pinned
ETCD_PORT=$ETCD_PORT
PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_PORT
PROMETHEUS_PORT=$PROMETHEUS_PORT
PROMETHEUS_TARGETS_DIR=$STATE/prometheus/targets
CLOUDWATCH_ENDPOINT=http://127.0.0.1:$MOTO_PORT
MOTO_PORT=$MOTO_PORT
SIGV4_PROMETHEUS_URL=http://127.0.0.1:$SIGV4_PORT
SIGV4_REGION=$SIGV4_REGION
KANARIA_FAKE_NODES=$(seq -s, -f 'kanaria-node-%g' 0 $((FAKE_NODES - 1)))
EOF
  if dataplane_on; then
    cat >> "$f.tmp" <<EOF
KANARIA_DATAPLANE=$DATAPLANE
PROXY_URL=http://127.0.0.1:$PROXY_PORT
GATEWAY=$DATAPLANE_NAMESPACE/$DATAPLANE_GATEWAY
GATEWAY_CLASS=$DATAPLANE_GATEWAY_CLASS
INGRESS_CLASS=$DATAPLANE_INGRESS_CLASS
TRAEFIK_METRICS_URL=http://127.0.0.1:$TRAEFIK_PORT/metrics
POD_PROXY_URL=http://127.0.0.1:$POD_PROXY_PORT
LOADTESTER_URL=http://127.0.0.1:$LOADTESTER_PORT/
EOF
  fi
  mv "$f.tmp" "$f"
}

cmd_up() {
  local t0; t0="$(now)"
  resolve_bins
  mkdir -p "$STATE"
  if [ -f "$STATE/env" ] && pid_alive kube-apiserver; then
    log "cluster already running in $STATE (use '$0 down' first to restart)"
    cat "$STATE/env"; return 0
  fi
  # stale state from a crashed run: stop leftovers, start from a clean dir
  cmd_down >/dev/null 2>&1 || true
  rm -rf "$STATE/etcd" "$STATE/pki" "$STATE/prometheus" "$STATE/kwok" "$STATE/cmd" "$STATE/pids" "$STATE/env" "$STATE/kubeconfig"
  mkdir -p "$STATE/logs"
  local t_build; t_build="$(elapsed "$t0")"

  read -r ETCD_PORT ETCD_PEER_PORT APISERVER_PORT CM_PORT SCHED_PORT KWOK_PORT PROMETHEUS_PORT MOTO_PORT SIGV4_PORT \
    PROXY_PORT TRAEFIK_PORT LOADTESTER_PORT POD_PROXY_PORT <<< "$(free_ports 13)"
  # Without the data plane, pod IPs are loopback bookkeeping and Services get no endpoints (see the
  # top); with it, pod IPs are real inside its namespace and the EndpointSlice controllers run.
  local pod_cidr="$POD_CIDR" controllers='*,-endpoints-controller,-endpointslice-controller,-endpointslice-mirroring-controller'
  local stages="$KWOK_STAGES"
  if dataplane_on; then pod_cidr="$DATAPLANE_POD_CIDR" controllers='*' stages="$(dataplane_stages)"; fi
  # From here on, any failure or interruption stops whatever was started.
  UP_DONE=0
  trap 'rc=$?; if [ "$UP_DONE" != 1 ]; then trap - EXIT; log "startup aborted, stopping what was started"; cmd_down >/dev/null 2>&1 || true; fi; exit $rc' EXIT
  trap 'exit 130' INT TERM
  printf 'ETCD_PORT=%s\nAPISERVER_PORT=%s\nPROMETHEUS_PORT=%s\nMOTO_PORT=%s\n' \
    "$ETCD_PORT" "$APISERVER_PORT" "$PROMETHEUS_PORT" "$MOTO_PORT" > "$STATE/ports"
  gen_pki
  write_kubeconfig
  write_prometheus_config

  if [ -n "${KANARIA_CLUSTER_OWNER_PID:-}" ]; then
    # Watchdog: when the owner (e.g. the vitest process) disappears, tear down.
    start watchdog bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" down' \
      kanaria-watchdog "$KANARIA_CLUSTER_OWNER_PID" "$SCRIPT_DIR/cluster.sh"
  fi

  start etcd "$ETCD_BIN" --name kanaria --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "kanaria=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level warn
  start_prometheus
  start moto "$MOTO_BIN" -H 127.0.0.1 -p "$MOTO_PORT"
  start sigv4-proxy "$MOTO_PYTHON" "$SCRIPT_DIR/sigv4_proxy.py" --port "$SIGV4_PORT" \
    --upstream "http://127.0.0.1:$PROMETHEUS_PORT" --moto "http://127.0.0.1:$MOTO_PORT" --region "$SIGV4_REGION"

  wait_for etcd "http://127.0.0.1:$ETCD_PORT/health" http_ok "http://127.0.0.1:$ETCD_PORT/health"

  start kube-apiserver "$KUBE_APISERVER_BIN" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --tls-cert-file="$STATE/pki/apiserver.crt" --tls-private-key-file="$STATE/pki/apiserver.key" \
    --client-ca-file="$STATE/pki/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$STATE/pki/sa.pub" --service-account-signing-key-file="$STATE/pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --endpoint-reconciler-type=none \
    --authorization-mode=RBAC \
    --allow-privileged=true \
    --v=1
  wait_for kube-apiserver "https://127.0.0.1:$APISERVER_PORT/readyz" apiserver_ready

  create_nodes
  start kube-controller-manager "$KUBE_CONTROLLER_MANAGER_BIN" \
    --kubeconfig="$STATE/kubeconfig" --authentication-kubeconfig="$STATE/kubeconfig" --authorization-kubeconfig="$STATE/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$CM_PORT" \
    --leader-elect=false \
    --service-account-private-key-file="$STATE/pki/sa.key" --root-ca-file="$STATE/pki/ca.crt" \
    --use-service-account-credentials=false \
    --controllers="$controllers" \
    --v=1
  start kube-scheduler "$KUBE_SCHEDULER_BIN" \
    --kubeconfig="$STATE/kubeconfig" --authentication-kubeconfig="$STATE/kubeconfig" --authorization-kubeconfig="$STATE/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" \
    --leader-elect=false --v=1
  mkdir -p "$STATE/kwok/home"
  local kwok_cfg=() f
  for f in "$stages"/*.yaml; do kwok_cfg+=(--config "$f"); done
  # HOME points into the state dir so a user's ~/.kwok/kwok.yaml is not merged in.
  start kwok env HOME="$STATE/kwok/home" "$KWOK_BIN" \
    --kubeconfig="$STATE/kubeconfig" \
    "${kwok_cfg[@]}" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --cidr="$pod_cidr" --node-ip="${NODE_IP_PREFIX}1" \
    --server-address="127.0.0.1:$KWOK_PORT" \
    --node-lease-duration-seconds=40

  wait_for_kwok "all $FAKE_NODES fake node(s) Ready"
  wait_for kube-controller-manager "https://127.0.0.1:$CM_PORT/healthz and ServiceAccount default/default" \
    bash -c "[ \"\$(curl -sk --max-time 2 https://127.0.0.1:$CM_PORT/healthz)\" = ok ] && curl -sS --max-time 5 -f -o /dev/null --cacert '$STATE/pki/ca.crt' --cert '$STATE/pki/admin.crt' --key '$STATE/pki/admin.key' https://127.0.0.1:$APISERVER_PORT/api/v1/namespaces/default/serviceaccounts/default"
  wait_for kube-scheduler "https://127.0.0.1:$SCHED_PORT/healthz" https_ok_insecure "https://127.0.0.1:$SCHED_PORT/healthz"
  wait_for prometheus "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" http_ok "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"
  wait_for moto "http://127.0.0.1:$MOTO_PORT/ answering" http_any "http://127.0.0.1:$MOTO_PORT/"
  wait_for sigv4-proxy "http://127.0.0.1:$SIGV4_PORT/_proxy/ready" http_ok "http://127.0.0.1:$SIGV4_PORT/_proxy/ready"
  if dataplane_on; then start_dataplane; fi
  write_env
  UP_DONE=1
  trap - EXIT INT TERM
  log "cluster up in $(elapsed "$t0")s (binaries ready after ${t_build}s); state: $STATE"
  cat "$STATE/env"
}

# ---------------------------------------------------------------------------------------
# status / prometheus restart
# ---------------------------------------------------------------------------------------

cmd_status() {
  local rc=0 n running=0
  [ -d "$STATE/pids" ] || { echo "no cluster in $STATE"; return 1; }
  for n in "${ALL_COMPONENTS[@]}"; do
    if pid_alive "$n"; then printf '%-24s running (pid %s)\n' "$n" "$(pid_of "$n")"; running=1
    elif [ -f "$STATE/cmd/$n" ]; then printf '%-24s STOPPED\n' "$n"; rc=1
    fi
  done
  [ $running = 1 ] || { echo "cluster in $STATE is not running"; return 1; }
  [ -f "$STATE/env" ] && { echo "--- $STATE/env"; cat "$STATE/env"; }
  return $rc
}

load_ports() {
  [ -f "$STATE/ports" ] || die "no cluster state in $STATE (run '$0 up' first)"
  # shellcheck disable=SC1091
  source "$STATE/ports"
}

cmd_prometheus_stop() { stop prometheus; log "prometheus stopped"; }

cmd_prometheus_start() {
  load_ports
  if pid_alive prometheus; then log "prometheus already running"; return 0; fi
  restart_saved prometheus
  wait_for prometheus "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" http_ok "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"
  log "prometheus started on 127.0.0.1:$PROMETHEUS_PORT"
}

cmd_controller_manager_stop() { stop kube-controller-manager; log "kube-controller-manager stopped"; }

cmd_controller_manager_start() {
  if pid_alive kube-controller-manager; then log "kube-controller-manager already running"; return 0; fi
  restart_saved kube-controller-manager
  # Its port is in the saved command line (it is not in $STATE/ports).
  local port; port="$(grep -o -- '--secure-port=[0-9]*' "$STATE/cmd/kube-controller-manager" | cut -d= -f2)"
  wait_for kube-controller-manager "https://127.0.0.1:$port/healthz" https_ok_insecure "https://127.0.0.1:$port/healthz"
  log "kube-controller-manager started on 127.0.0.1:$port"
}

main() {
  case "${1:-}" in
    build) cmd_build ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    prometheus-stop) cmd_prometheus_stop ;;
    prometheus-start) cmd_prometheus_start ;;
    controller-manager-stop) cmd_controller_manager_stop ;;
    controller-manager-start) cmd_controller_manager_start ;;
    third-party-crds) cmd_third_party_crds ;;
    pin) cmd_pin ;;
    build-dataplane) cmd_build_dataplane ;;
    dataplane-possible) cmd_dataplane_possible ;;
    exec) shift; cmd_exec "$@" ;;
    apt-tool) cmd_apt_tool "${2:-}" ;;
    chromium) cmd_chromium ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

# Everything above is only definitions; this one line runs it and exits, so editing the file
# while an earlier `cluster.sh up` is still running cannot make bash read changed lines.
main "$@"; exit $?
