#!/usr/bin/env bash
# up.sh - start an offline Kubernetes test cluster from binaries built by build.sh.
#
#   up.sh              level 1: etcd + kube-apiserver + kube-controller-manager +
#                      kube-scheduler + kwok-controller (via kwokctl --runtime binary)
#                      and one fake kwok node "kwok-node-0".
#   up.sh --real-node  level 2: same control plane, no fake node; instead a real
#                      node "k8slab-node" = kubelet + containerd (Debian) + runc +
#                      CNI bridge plugin, a TLS container registry (Debian's
#                      docker-registry, own site CA) the node pulls images from,
#                      and kube-proxy (iptables mode) so that Service ClusterIPs
#                      (including the in-cluster `kubernetes` Service) route.
#
# Env (all optional):
#   K8S_LAB_CACHE          binaries from build.sh (default /var/cache/k8s-lab)
#   K8S_LAB_STATE          runtime state, one cluster per dir (default /var/lib/k8s-lab)
#   K8S_LAB_APISERVER_PORT kube-apiserver port on 127.0.0.1 (default 16443)
#   K8S_LAB_FAKE_PF_PORT   level 1: where port-forward to fake pods goes (default 18000)
#   K8S_LAB_NODE_IP        --real-node: node IP (default: source address of the default route)
#   K8S_LAB_POD_SUBNET     --real-node: pod CIDR on bridge k8slab0 (default 10.244.0.0/24)
#   K8S_LAB_REGISTRY_PORT  --real-node: registry port on NODE_IP (default 15000)
#                          (level 1 with K8S_LAB_REGISTRY=1: on 127.0.0.1)
#   K8S_LAB_IMAGES         --real-node: space-separated podman images to import into
#                          containerd besides pause (default: none; push images to the
#                          registry instead)
#   K8S_LAB_PODMAN_CONF    CONTAINERS_CONF used for `podman save` of K8S_LAB_IMAGES
#   K8S_LAB_KUBE_PROXY=0   --real-node: do not start kube-proxy
#   K8S_LAB_REGISTRY=1     level 1: start the TLS registry too (as --real-node does), on
#                          127.0.0.1:K8S_LAB_REGISTRY_PORT (blockc pushes studio images
#                          there; fake pods never pull them)
#   K8S_LAB_AUDIT=1        kube-apiserver writes an audit log of every request (Metadata
#                          level, JSON, one event per line) to $K8S_LAB_STATE/logs/audit.log
#
# Writes $K8S_LAB_STATE/kubeconfig (admin) and prints its path last; with
# --real-node (or K8S_LAB_REGISTRY=1) also $K8S_LAB_STATE/registry.env
# (REGISTRY=HOST:PORT, REGISTRY_CA=/path/ca.crt).  Every process started is recorded in
# $K8S_LAB_STATE/pids; down.sh (same K8S_LAB_STATE) stops them, also after a
# failure half-way.
# Exit status: 0 up; 3 refused before starting anything (a cluster is already up
# in this state dir, or a port / the bridge is taken: do NOT run down.sh for it);
# anything else: failed half-way, run down.sh.
set -euo pipefail

REAL_NODE=0
for a in "$@"; do
  case "$a" in
    --real-node) REAL_NODE=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done

CACHE="${K8S_LAB_CACHE:-/var/cache/k8s-lab}"
STATE="${K8S_LAB_STATE:-/var/lib/k8s-lab}"
BIN="$CACHE/bin"
NAME=k8slab
APISERVER_PORT="${K8S_LAB_APISERVER_PORT:-16443}"
KUBECONFIG_OUT="$STATE/kubeconfig"
PIDS="$STATE/pids"
LOGS="$STATE/logs"
export KWOK_WORKDIR="$STATE/kwok"
export KWOK_KUBECTL_BINARY="$BIN/kubectl"
KWOKCTL="$BIN/kwokctl"
KUBECTL="$BIN/kubectl"
# Service network.  This is kube-apiserver's default range, made explicit; the
# `kubernetes` Service gets its first address, which is also added to the API
# server certificate so that in-cluster clients can verify it.
SERVICE_CIDR=10.0.0.0/24
KUBERNETES_SVC_IP=10.0.0.1
POD_SUBNET="${K8S_LAB_POD_SUBNET:-10.244.0.0/24}"
REGISTRY_PORT="${K8S_LAB_REGISTRY_PORT:-15000}"
KUBE_PROXY="${K8S_LAB_KUBE_PROXY:-1}"
NODE_NAME=k8slab-node
CNI_BIN=/usr/lib/cni
REGISTRY_BIN=/usr/bin/docker-registry
WITH_REGISTRY=$REAL_NODE
[[ "${K8S_LAB_REGISTRY:-0}" == 1 ]] && WITH_REGISTRY=1
AUDIT="${K8S_LAB_AUDIT:-0}"

T0=$(date +%s.%N)
log() { printf '[up %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
die() { echo "[up] ERROR: $*" >&2; exit 1; }
# Refused before anything was started: the caller must not run down.sh for it.
refuse() { echo "[up] REFUSED: $*" >&2; exit 3; }

# ------------------------------------------------------------ checks (nothing started yet)
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl; do
  [[ -x "$BIN/$b" ]] || refuse "$BIN/$b missing: run build.sh first (make k8s-tools)"
done
if [[ $REAL_NODE == 1 ]]; then
  [[ -x "$BIN/kubelet" ]] || refuse "$BIN/kubelet missing: run build.sh (without K8S_LAB_SKIP_NODE)"
  [[ "$KUBE_PROXY" == 0 || -x "$BIN/kube-proxy" ]] || refuse "$BIN/kube-proxy missing: run build.sh (without K8S_LAB_SKIP_NODE)"
  [[ -f "$CACHE/images/pause.tar" ]] || refuse "$CACHE/images/pause.tar missing: run build.sh"
  command -v containerd >/dev/null || refuse "containerd missing: apt-get install containerd"
  [[ -x $CNI_BIN/bridge ]] || refuse "CNI plugins missing: apt-get install containernetworking-plugins"
  command -v iptables-save >/dev/null || refuse "iptables missing: apt-get install iptables"
fi
if [[ $WITH_REGISTRY == 1 ]]; then
  [[ -x $REGISTRY_BIN ]] || refuse "$REGISTRY_BIN missing: apt-get install docker-registry"
  command -v openssl >/dev/null || refuse "openssl missing: apt-get install openssl"
fi
[[ $(id -u) == 0 ]] || refuse "must run as root"
# Never over a cluster that is up (or half up) in this state dir.
already_up() {
  [[ -f "$STATE/up.mode" ]] && refuse "a cluster is already up in $STATE ($STATE/up.mode: $(cat "$STATE/up.mode")); run K8S_LAB_STATE=$STATE down.sh first"
  return 0
}
already_up
# Fixed ports and the bridge are per machine: a cluster from another state dir
# (or one whose down.sh never ran) holds them.
port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
ports="$APISERVER_PORT"
[[ $REAL_NODE == 1 ]] && ports+=" 10250 10248"
[[ $WITH_REGISTRY == 1 ]] && ports+=" $REGISTRY_PORT"
[[ $REAL_NODE == 1 && "$KUBE_PROXY" != 0 ]] && ports+=" 10256 10249"
for p in $ports; do
  port_busy "$p" && refuse "port $p is in use (another k8s-lab cluster? see 'ss -ltnp sport = :$p')"
done
if [[ $REAL_NODE == 1 ]] && ip link show k8slab0 >/dev/null 2>&1; then
  refuse "bridge k8slab0 exists: another k8s-lab cluster is up (or its down.sh did not run)"
fi
# One up.sh at a time per state dir (the processes it starts inherit the lock).
mkdir -p "$STATE"
exec 9>"$STATE/up.lock"
flock -n 9 || refuse "another up.sh runs with state dir $STATE (or processes it started still do): run K8S_LAB_STATE=$STATE down.sh"
already_up
mkdir -p "$PIDS" "$LOGS"

# ------------------------------------------------------------ control plane
AUDIT_ARGS=""
if [[ $AUDIT == 1 ]]; then
  # Every request at Metadata level (who, verb, resource, user agent, status; no
  # bodies), each once its response is complete (or a watch has started).
  cat > "$STATE/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
EOF
  AUDIT_ARGS=$(printf '  - key: %s\n    value: %s\n' \
    audit-policy-file "$STATE/audit-policy.yaml" audit-log-path "$LOGS/audit.log")$'\n'
fi
cat > "$STATE/kwokctl.yaml" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  kubeApiserverPort: $APISERVER_PORT
  kubeApiserverBinary: $BIN/kube-apiserver
  kubeControllerManagerBinary: $BIN/kube-controller-manager
  kubeSchedulerBinary: $BIN/kube-scheduler
  kubectlBinary: $BIN/kubectl
  kwokControllerBinary: $BIN/kwok
  etcdBinary: $BIN/etcd
  cacheDir: $STATE/kwok/cache
  kubeApiserverCertSANs:
  - $KUBERNETES_SVC_IP
componentsPatches:
- name: kube-apiserver
  extraArgs:
  - key: service-cluster-ip-range
    value: $SERVICE_CIDR
  # Reach a real kubelet by its InternalIP; by default the apiserver tries the
  # node's Hostname address first, which does not resolve here.
  - key: kubelet-preferred-address-types
    value: InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP
${AUDIT_ARGS}- name: kwok-controller
  extraArgs:
  # Only nodes annotated kwok.x-k8s.io/node=fake are simulated; a real kubelet
  # node (--real-node) is left alone.
  - key: manage-all-nodes
    value: "false"
  - key: manage-nodes-with-annotation-selector
    value: kwok.x-k8s.io/node=fake
---
# exec on fake pods runs the command on this host (in /tmp) - level 1 only.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: k8slab-exec
spec:
  execs:
  - local:
      workDir: /tmp
---
# port-forward to any port of any fake pod reaches 127.0.0.1:<K8S_LAB_FAKE_PF_PORT>.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterPortForward
metadata:
  name: k8slab-port-forward
spec:
  forwards:
  - target:
      address: 127.0.0.1
      port: ${K8S_LAB_FAKE_PF_PORT:-18000}
EOF

log "creating control plane with kwokctl (runtime binary, apiserver port $APISERVER_PORT)"
echo "$([[ $REAL_NODE == 1 ]] && echo real-node || echo kwok)" > "$STATE/up.mode"
"$KWOKCTL" create cluster --name "$NAME" --config "$STATE/kwokctl.yaml" --wait 3m \
  > "$LOGS/kwokctl-create.log" 2>&1 || { cat "$LOGS/kwokctl-create.log" >&2; die "kwokctl create cluster failed"; }
CLUSTER_DIR="$KWOK_WORKDIR/clusters/$NAME"
cp "$CLUSTER_DIR/kubeconfig.yaml" "$KUBECONFIG_OUT"
export KUBECONFIG="$KUBECONFIG_OUT"
for i in $(seq 1 120); do
  "$KUBECTL" get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.5
done
"$KUBECTL" get --raw /readyz >/dev/null || die "API server not ready"
log "API server ready after $(elapsed)s"

# The default ServiceAccount is created by kube-controller-manager; pods need it.
for i in $(seq 1 120); do
  "$KUBECTL" -n default get serviceaccount default >/dev/null 2>&1 && break; sleep 0.5
done

wait_node_ready() { # NAME TIMEOUT_S
  local n=$1 t=$2 i
  for i in $(seq 1 $((t*2))); do
    [[ "$("$KUBECTL" get node "$n" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]] && return 0
    sleep 0.5
  done
  return 1
}

# ------------------------------------------------------------ TLS registry
# (--real-node: on the node's IP; level 1 with K8S_LAB_REGISTRY=1: on 127.0.0.1)
start_registry() { # on NODE_IP:REGISTRY_PORT; sets REG and REGISTRY
  # As on an air-gapped site: a site CA (its key never leaves $REG), a server
  # certificate for the node IP (and 127.0.0.1), Debian's docker-registry on
  # NODE_IP:REGISTRY_PORT, no auth.  containerd trusts the CA for that host only.
  REG="$STATE/registry"; REGISTRY="$NODE_IP:$REGISTRY_PORT"
  mkdir -p "$REG/data"; chmod 755 "$REG"
  SANS="IP:$NODE_IP"; [[ $NODE_IP == 127.0.0.1 ]] || SANS+=",IP:127.0.0.1"
  log "creating site CA and registry certificate (SANs $SANS)"
  (
    set -e; umask 077; cd "$REG"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 7 \
      -subj "/O=k8s-lab/CN=k8s-lab site CA $(date +%s)" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout ca.key -out ca.crt
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
      -subj "/O=k8s-lab/CN=$NODE_IP" -keyout server.key -out server.csr
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" "subjectAltName=$SANS" > server.ext
    openssl x509 -req -sha256 -days 7 -in server.csr -CA ca.crt -CAkey ca.key \
      -set_serial "0x$(openssl rand -hex 16)" -extfile server.ext -out server.crt
    chmod 644 ca.crt server.crt; rm -f server.csr
  ) > "$LOGS/openssl.log" 2>&1 || { cat "$LOGS/openssl.log" >&2; die "certificate generation failed"; }
  cat > "$REG/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $REG/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
  secret: $(openssl rand -hex 16)
  tls:
    certificate: $REG/server.crt
    key: $REG/server.key
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  log "starting registry https://$REGISTRY ($($REGISTRY_BIN --version | awk '{print $3}'))"
  setsid "$REGISTRY_BIN" serve "$REG/config.yml" > "$LOGS/registry.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/registry.pid"
  for i in $(seq 1 40); do
    curl -fs -o /dev/null --cacert "$REG/ca.crt" "https://$REGISTRY/v2/" && break
    kill -0 "$(cat "$PIDS/registry.pid")" 2>/dev/null || { tail -20 "$LOGS/registry.log" >&2; die "registry exited"; }
    sleep 0.25
  done
  curl -fsS -o /dev/null --cacert "$REG/ca.crt" "https://$REGISTRY/v2/" \
    || { tail -20 "$LOGS/registry.log" >&2; die "registry not answering on https://$REGISTRY/v2/"; }
  printf 'REGISTRY=%s\nREGISTRY_CA=%s\n' "$REGISTRY" "$REG/ca.crt" > "$STATE/registry.env"
}

if [[ $REAL_NODE == 0 ]]; then
  # ------------------------------------------------------------ fake node
  "$KUBECTL" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: kwok-node-0
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
EOF
  wait_node_ready kwok-node-0 60 || die "kwok node not Ready"
  log "node kwok-node-0 Ready after $(elapsed)s"
  if [[ $WITH_REGISTRY == 1 ]]; then NODE_IP=127.0.0.1; start_registry; fi
else
  # ------------------------------------------------------------ real node
  NODE_IP="${K8S_LAB_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')}"
  [[ -n "$NODE_IP" ]] || NODE_IP=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
  CTRD="$STATE/containerd"; SOCK="$CTRD/containerd.sock"
  # The CNI bridge plugin (isGateway) turns on IPv4 forwarding; down.sh restores it.
  sysctl -n net.ipv4.ip_forward > "$STATE/ip_forward.before"
  # Snapshot of the host firewall before anything of ours runs; down.sh removes
  # every KUBE-* chain and every new empty nftables base chain not listed here.
  if [[ "$KUBE_PROXY" != 0 ]]; then
    iptables-save > "$STATE/iptables.before.v4"
    ip6tables-save > "$STATE/iptables.before.v6" 2>/dev/null || true
    command -v nft >/dev/null && nft list chains > "$STATE/nft-chains.before" 2>/dev/null || true
  fi
  mkdir -p "$CTRD/root" "$CTRD/state" "$STATE/cni/net.d" "$STATE/cni/ipam" "$STATE/kubelet"

  start_registry

  # Own CNI config dir: podman's /etc/cni/net.d is never read or written.
  cat > "$STATE/cni/net.d/10-k8slab.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "k8slab",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "k8slab0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_SUBNET"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
  cat > "$CTRD/config.toml" <<EOF
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/k8slab/pause:local"
  # Root here lacks CAP_SYS_RESOURCE, so the sandbox's oom_score_adj=-998 makes
  # runc fail ("can't get final child's PID from pipe: EOF"); clamp it instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$STATE/cni/net.d"
  # The site registry: TLS verified against the site CA (pods pull from it).
  [plugins."io.containerd.grpc.v1.cri".registry.configs."$REGISTRY".tls]
    ca_file = "$REG/ca.crt"
EOF
  log "starting containerd ($(containerd --version | awk '{print $3}'))"
  setsid containerd --config "$CTRD/config.toml" > "$LOGS/containerd.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/containerd.pid"
  for i in $(seq 1 60); do ctr --address "$SOCK" version >/dev/null 2>&1 && break; sleep 0.5; done
  ctr --address "$SOCK" version >/dev/null || die "containerd did not come up (see $LOGS/containerd.log)"

  # Only the pause image (sandbox_image) is imported; studio images are pulled
  # from the registry.  K8S_LAB_IMAGES (default none) are imported as well.
  log "importing images into containerd (namespace k8s.io)"
  ctr --address "$SOCK" -n k8s.io images import "$CACHE/images/pause.tar" >/dev/null
  for img in ${K8S_LAB_IMAGES:-}; do
    if [[ -n "${K8S_LAB_PODMAN_CONF:-}" ]]; then export CONTAINERS_CONF="$K8S_LAB_PODMAN_CONF"; fi
    podman save --format docker-archive "$img" | ctr --address "$SOCK" -n k8s.io images import - >/dev/null
  done
  ctr --address "$SOCK" -n k8s.io images ls -q | sed 's/^/[up]   image: /'

  # kubelet: cgroupfs driver, swap tolerated, anonymous + AlwaysAllow on its own
  # port so that kube-apiserver (which kwokctl starts without a kubelet client
  # cert) can reach it for exec/logs/port-forward.  Lab use only.
  cat > "$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
address: $NODE_IP
port: 10250
readOnlyPort: 0
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
imageGCHighThresholdPercent: 100
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
serializeImagePulls: false
# Do not install KUBE-FIREWALL / KUBE-KUBELET-CANARY / KUBE-IPTABLES-HINT chains
# on the host (they would outlive the kubelet; KUBE-FIREWALL drops non-local
# traffic to 127.0.0.0/8).
makeIPTablesUtilChains: false
EOF
  log "starting kubelet (node $NODE_NAME, ip $NODE_IP)"
  setsid "$BIN/kubelet" --config "$STATE/kubelet/config.yaml" \
      --kubeconfig "$KUBECONFIG_OUT" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
      --root-dir "$STATE/kubelet/root" --cert-dir "$STATE/kubelet/pki" \
      --v=1 > "$LOGS/kubelet.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/kubelet.pid"
  wait_node_ready "$NODE_NAME" 120 || { tail -30 "$LOGS/kubelet.log" >&2; die "node $NODE_NAME not Ready"; }
  log "node $NODE_NAME Ready after $(elapsed)s"

  if [[ "$KUBE_PROXY" != 0 ]]; then
    # kube-proxy (iptables mode) makes Service ClusterIPs work, e.g. the
    # `kubernetes` Service that in-cluster clients use.  Its rules are not
    # removed when it exits; down.sh runs `kube-proxy --cleanup` and then
    # restores the firewall snapshot taken above (see down.sh).
    # Leave the host's sysctls alone: no conntrack table or timeout changes
    # (0 = leave as-is), and no route_localnet=1 (localhost NodePorts off).
    # Admin kubeconfig: fine for a test lab only.
    log "starting kube-proxy (iptables mode, cluster CIDR $POD_SUBNET)"
    setsid "$BIN/kube-proxy" --kubeconfig "$KUBECONFIG_OUT" --hostname-override "$NODE_NAME" \
        --proxy-mode iptables --cluster-cidr "$POD_SUBNET" \
        --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 \
        --conntrack-tcp-timeout-close-wait 0 --iptables-localhost-nodeports=false \
        --nodeport-addresses primary \
        --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 \
        --v=1 > "$LOGS/kube-proxy.log" 2>&1 < /dev/null &
    echo $! > "$PIDS/kube-proxy.pid"
    for i in $(seq 1 60); do
      curl -fs -o /dev/null http://127.0.0.1:10256/healthz && iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -q -- "-d $KUBERNETES_SVC_IP/32" && break
      kill -0 "$(cat "$PIDS/kube-proxy.pid")" 2>/dev/null || { tail -20 "$LOGS/kube-proxy.log" >&2; die "kube-proxy exited"; }
      sleep 0.5
    done
    iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -q -- "-d $KUBERNETES_SVC_IP/32" \
      || { tail -20 "$LOGS/kube-proxy.log" >&2; die "kube-proxy did not program the kubernetes Service ($KUBERNETES_SVC_IP)"; }
    log "kube-proxy synced after $(elapsed)s (kubernetes Service $KUBERNETES_SVC_IP:443)"
  fi
fi

"$KUBECTL" get nodes -o wide
if [[ $WITH_REGISTRY == 1 ]]; then log "registry https://$REGISTRY (CA $REG/ca.crt; $STATE/registry.env)"; fi
if [[ $AUDIT == 1 ]]; then log "audit log $LOGS/audit.log"; fi
log "cluster up in $(elapsed)s"
echo "export KUBECONFIG=$KUBECONFIG_OUT"
echo "$KUBECONFIG_OUT"
