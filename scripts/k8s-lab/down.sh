#!/usr/bin/env bash
# down.sh [--purge] - stop what up.sh started (and only that), then remove its state.
# Logs are kept in $K8S_LAB_STATE/logs (pass --purge to remove them and the state
# dir itself).  Safe to run after an up.sh that failed half-way, and twice.
#
# Env: K8S_LAB_CACHE (binaries, default /var/cache/k8s-lab)
#      K8S_LAB_STATE (the state dir given to up.sh, default /var/lib/k8s-lab)
set -uo pipefail

CACHE="${K8S_LAB_CACHE:-/var/cache/k8s-lab}"
STATE="${K8S_LAB_STATE:-/var/lib/k8s-lab}"
BIN="$CACHE/bin"
NAME=k8slab
PIDS="$STATE/pids"
export KWOK_WORKDIR="$STATE/kwok"
export KWOK_KUBECTL_BINARY="$BIN/kubectl"
export KUBECONFIG="$STATE/kubeconfig"
KUBECTL="$BIN/kubectl"
SOCK="$STATE/containerd/containerd.sock"
PURGE=0; [[ "${1:-}" == --purge ]] && PURGE=1

T0=$(date +%s.%N)
log() { printf '[down %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# Running (a zombie is not: our daemons' parent, up.sh, is gone, and whoever
# adopted them may reap them late).
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1; [[ $s != Z* ]]; }
stop_pid() { # NAME: TERM, wait up to 15 s, then KILL - only the PID we recorded
  local f="$PIDS/$1.pid" pid i
  [[ -f "$f" ]] || return 0
  pid=$(cat "$f")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 75); do alive "$pid" || break; sleep 0.2; done
    alive "$pid" && { log "$1 ($pid) ignored TERM, sending KILL"; kill -KILL "$pid"; }
  fi
  rm -f "$f"; log "stopped $1 ($pid)"
}

if [[ -f "$PIDS/kubelet.pid" ]]; then
  # Let the kubelet tear pods down properly (CNI DEL, unmounts) before it stops:
  # cordon, delete every pod, wait until containerd has no running task.
  if "$KUBECTL" get --raw /readyz >/dev/null 2>&1; then
    "$KUBECTL" cordon k8slab-node >/dev/null 2>&1
    "$KUBECTL" delete pods --all -A --grace-period=1 --wait=false >/dev/null 2>&1
    for i in $(seq 1 60); do
      n=$(ctr --address "$SOCK" -n k8s.io tasks ls -q 2>/dev/null | wc -l)
      [[ "$n" == 0 ]] && break; sleep 0.5
    done
    log "pods drained (running tasks left: ${n:-?})"
  fi
  stop_pid kubelet
fi

# The site registry (up.sh --real-node); its data, CA and certificates are in
# $STATE/registry and go with the state dir below.
stop_pid registry

# kube-proxy leaves its iptables rules behind when it exits.  `kube-proxy
# --cleanup` removes the ones it knows; then any KUBE-* chain (and every rule
# jumping to it) that was not in up.sh's snapshot of the host firewall is
# removed, in filter, nat, mangle and raw, for IPv4 and IPv6.
remove_new_kube_chains() { # CMD SNAPSHOT
  local ipt=$1 before=$2 tbl chains c rule
  for tbl in filter nat mangle raw; do
    chains=$($ipt -t "$tbl" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^KUBE-/ {print $2}' \
             | while read -r c; do grep -qx ":$c .*" "$before" 2>/dev/null || echo "$c"; done)
    [[ -n "$chains" ]] || continue
    # Rules in other chains that jump to one of these chains.
    $ipt -t "$tbl" -S 2>/dev/null | grep '^-A ' | while read -r rule; do
      c=$(awk '{print $2}' <<<"$rule"); grep -qx "$c" <<<"$chains" && continue
      for t in $(grep -o -- '-j KUBE-[A-Za-z0-9_-]*' <<<"$rule" | awk '{print $2}'); do
        if grep -qx "$t" <<<"$chains"; then eval "$ipt -t $tbl ${rule/-A /-D }" && break; fi
      done
    done
    for c in $chains; do $ipt -t "$tbl" -F "$c" 2>/dev/null; done
    for c in $chains; do $ipt -t "$tbl" -X "$c" 2>/dev/null; done
    log "removed leftover chains ($ipt -t $tbl):" $chains
  done
}
# With the nf_tables backend, ip6tables/iptables also register empty base
# chains (policy accept) in tables that had none, e.g. ip6 nat PREROUTING.
# Delete those that are new since up.sh and empty (nft refuses non-empty ones).
nft_chain_list() { awk '$1=="table"{t=$2" "$3} $1=="chain"{print t" "$2}' "$@"; }
remove_new_base_chains() { # SNAPSHOT (output of `nft list chains`)
  command -v nft >/dev/null || return 0
  local f t c
  nft list chains 2>/dev/null | nft_chain_list /dev/stdin | while read -r f t c; do
    case "$f $t" in ip\ filter|ip\ nat|ip\ mangle|ip\ raw|ip6\ filter|ip6\ nat|ip6\ mangle|ip6\ raw) ;; *) continue ;; esac
    case "$c" in INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) ;; *) continue ;; esac
    nft_chain_list "$1" | grep -qx "$f $t $c" && continue
    nft delete chain "$f" "$t" "$c" 2>/dev/null && log "removed new empty nftables base chain $f $t $c"
  done
  # ... and the tables that held them, when new since up.sh and now without chains.
  nft list tables 2>/dev/null | while read -r _ f t; do
    case "$f $t" in ip\ filter|ip\ nat|ip\ mangle|ip\ raw|ip6\ filter|ip6\ nat|ip6\ mangle|ip6\ raw) ;; *) continue ;; esac
    grep -qx "table $f $t {" "$1" && continue
    nft list table "$f" "$t" 2>/dev/null | grep -q '^[[:space:]]*chain ' && continue
    nft delete table "$f" "$t" 2>/dev/null && log "removed new empty nftables table $f $t"
  done
}
if [[ -f "$PIDS/kube-proxy.pid" || -f "$STATE/iptables.before.v4" ]]; then
  stop_pid kube-proxy
  if [[ -x "$BIN/kube-proxy" ]]; then
    "$BIN/kube-proxy" --cleanup --v=1 > "$STATE/logs/kube-proxy-cleanup.log" 2>&1 \
      && log "kube-proxy --cleanup done" || log "kube-proxy --cleanup rc=$? (see logs/kube-proxy-cleanup.log)"
  fi
  [[ -f "$STATE/iptables.before.v4" ]] && remove_new_kube_chains iptables "$STATE/iptables.before.v4"
  [[ -f "$STATE/iptables.before.v6" ]] && remove_new_kube_chains ip6tables "$STATE/iptables.before.v6"
  [[ -f "$STATE/nft-chains.before" ]] && remove_new_base_chains "$STATE/nft-chains.before"
  rm -f "$STATE/iptables.before.v4" "$STATE/iptables.before.v6" "$STATE/nft-chains.before"
fi

if [[ -f "$PIDS/containerd.pid" ]]; then
  # Kill any task that is still running, then containerd, then the shims it
  # started for our socket (identified by that socket path, by PID).
  for t in $(ctr --address "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
    ctr --address "$SOCK" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1
    ctr --address "$SOCK" -n k8s.io tasks delete -f "$t" >/dev/null 2>&1
  done
  stop_pid containerd
  for p in $(pgrep -f "containerd-shim.*-address $SOCK" 2>/dev/null); do
    log "killing leftover shim $p"; kill -KILL "$p" 2>/dev/null
  done
  ip link show k8slab0 >/dev/null 2>&1 && ip link del k8slab0 && log "deleted bridge k8slab0"
  if [[ -f "$STATE/ip_forward.before" ]]; then
    sysctl -qw net.ipv4.ip_forward="$(cat "$STATE/ip_forward.before")" && log "restored net.ipv4.ip_forward=$(cat "$STATE/ip_forward.before")"
  fi
fi

if [[ -d "$KWOK_WORKDIR/clusters/$NAME" ]]; then
  "$BIN/kwokctl" delete cluster --name "$NAME" >"$STATE/logs/kwokctl-delete.log" 2>&1 \
    && log "kwokctl deleted cluster $NAME" || { log "kwokctl delete failed:"; tail -5 "$STATE/logs/kwokctl-delete.log"; }
fi

# Unmount anything still mounted under the state dir (deepest first), then remove it.
if [[ -d "$STATE" ]]; then
  findmnt -rn -o TARGET | grep -F "$STATE/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null && log "unmounted $m"; done
  find "$STATE" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf --one-file-system {} +
  [[ $PURGE == 1 ]] && rm -rf --one-file-system "$STATE"
fi
log "down in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s"
