#!/usr/bin/env bash
# Issue #13 benchmark: ProxyJump through ward-gateway vs through a stock
# OpenSSH sshd used as the jump host, side by side in one run, every
# component real (release builds):
#   1. `ssh -J JUMP root@TARGET true` login time (RUNS each, interleaved;
#      median and p90);
#   2. bytes/s of SIZE_MIB MiB piped through `ssh -J JUMP root@TARGET
#      'cat >/dev/null'` (REPEATS each, interleaved; best and median);
#   3. terminating mode (`ssh -o User=root%web-01 GATEWAY`) vs a direct
#      `ssh root@TARGET`: login time (RUNS each) and SIZE_MIB MiB piped
#      through (REPEATS each), interleaved. The target presents a host
#      certificate from ward's SSH host CA (the gateway requires one).
# The same stock sshd on loopback is the target in both cases (and the
# stock jump host); the client authenticates with the same ward
# certificate everywhere; the client picks the same cipher for both
# (OpenSSH's default order: chacha20-poly1305 first, which ward-gateway
# also prefers). Needs root (sshd).
#
#   bench/scripts/gateway.sh [RUNS] [SIZE_MIB] [REPEATS]
#   defaults:                30     1024       3
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-30}
SIZE_MIB=${2:-1024}
REPEATS=${3:-3}
[ "$(id -u)" = 0 ] || { echo "gateway.sh: needs root (sshd)" >&2; exit 1; }
cargo build --release -q -p ward-ca -p ward-cli -p ward-gateway
REL=$(realpath "${CARGO_TARGET_DIR:-target}/release")
DIR=$(mktemp -d /tmp/ward-bench-gw.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
mkdir -p /run/sshd "$DIR"/{home,keys,state,sshd}
export HOME=$DIR/home
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
echo "machine: $(nproc) cores; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- ward-ca, a user, a policy allowing host:Connect.
CA_PORT=$(free_port)
"$REL/ward-ca" serve --dev --data-dir "$DIR/ca" --listen "127.0.0.1:$CA_PORT" >"$DIR/ca.out" 2>"$DIR/ca.log" &
PIDS+=($!)
for _ in $(seq 1 300); do grep -q WARD_SECRET_ACCESS_KEY "$DIR/ca.out" 2>/dev/null && break; sleep 0.1; done
eval "$(grep '^ *export WARD_' "$DIR/ca.out")"
W="$REL/ward"
for _ in $(seq 1 100); do "$W" user list >/dev/null 2>&1 && break; sleep 0.2; done
cat >"$DIR/connect.json" <<'JSON'
{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"host:Connect","Resource":"arn:ward:host::*:host/*",
  "Condition":{"StringEquals":{"ward:ResourceTag/env":"bench"}}},
 {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
  "Condition":{"StringEquals":{"ward:ResourceTag/env":"bench","host:Service":"gateway"}}},
 {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}
JSON
"$W" user create alice >/dev/null
"$W" policy create connect --document "$DIR/connect.json" >/dev/null
"$W" policy attach connect --user alice >/dev/null
KEY_JSON=$("$W" --output json access-key create alice)
AK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accessKeyId"])' "$KEY_JSON")
SK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secretAccessKey"])' "$KEY_JSON")
WARD_ACCESS_KEY_ID=$AK WARD_SECRET_ACCESS_KEY=$SK "$W" ssh login --no-agent --extension permit-port-forwarding --out "$DIR/keys" >/dev/null

# --- the target (and stock jump host): one stock sshd trusting ward's user CA.
T_PORT=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$DIR/sshd/host_key"
"$W" host register web-01 --tag env=bench >/dev/null
"$W" host certificate web-01 --public-key "$DIR/sshd/host_key.pub" --out "$DIR/sshd/host_key-cert.pub" >/dev/null
"$W" ssh trusted-user-ca-keys >"$DIR/sshd/ca.pub"
mkdir -p "$DIR/sshd/principals"; echo alice >"$DIR/sshd/principals/root"
cat >"$DIR/sshd/sshd_config" <<CFG
ListenAddress 127.0.0.1
HostKey $DIR/sshd/host_key
HostCertificate $DIR/sshd/host_key-cert.pub
PidFile $DIR/sshd/pid
TrustedUserCAKeys $DIR/sshd/ca.pub
AuthorizedPrincipalsFile $DIR/sshd/principals/%u
AuthorizedKeysFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100:30:200
MaxSessions 100
CFG
/usr/sbin/sshd -D -f "$DIR/sshd/sshd_config" -p "$T_PORT" -E "$DIR/sshd/log" &
PIDS+=($!)

# --- ward-gateway, enrolled with a --gateway token; web-01 registered.
"$W" host update web-01 --address "127.0.0.1:$T_PORT" >/dev/null
GW_PORT=$(free_port)
cat >"$DIR/gateway.toml" <<TOML
listen = "127.0.0.1:$GW_PORT"
state_dir = "$DIR/state"
dangerous_allow_loopback_targets = true
TOML
TOKEN=$("$W" --output json host join-token gw-01 --gateway | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
echo "$TOKEN" | "$REL/ward-gateway" --config "$DIR/gateway.toml" join "$WARD_ENDPOINT" - --ca-bundle "$WARD_CA_BUNDLE" >/dev/null
"$REL/ward-gateway" --config "$DIR/gateway.toml" run 2>"$DIR/gateway.log" &
PIDS+=($!)
for _ in $(seq 1 300); do [ -e "$DIR/state/snapshot.json" ] && grep -q listening "$DIR/gateway.log" && break; sleep 0.1; done

cat >"$DIR/ssh_config" <<CFG
Host gw
  HostName 127.0.0.1
  Port $GW_PORT
  User alice
Host stockjump
  HostName 127.0.0.1
  Port $T_PORT
  User root
Host target
  HostName 127.0.0.1
  Port $T_PORT
  User root
Host *
  IdentityFile $DIR/keys/ward
  CertificateFile $DIR/keys/ward-cert.pub
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile /dev/null
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking no
  BatchMode yes
  LogLevel ERROR
  ControlMaster no
  ControlPath none
CFG
via_gw()    { ssh -F "$DIR/ssh_config" -J gw root@web-01 "$@"; }
via_stock() { ssh -F "$DIR/ssh_config" -J stockjump target "$@"; }
via_term()  { ssh -F "$DIR/ssh_config" -o User=root%web-01 gw "$@"; }
via_direct() { ssh -F "$DIR/ssh_config" target "$@"; }
via_term true || { echo "terminating path fails:"; tail -20 "$DIR/gateway.log"; exit 1; }
via_gw true || { echo "gateway path fails:"; tail -20 "$DIR/gateway.log"; exit 1; }
via_stock true || { echo "stock jump path fails:"; tail -20 "$DIR/sshd/log"; exit 1; }

now_ns() { date +%s%N; }
echo "== 1. ssh -J … true login time ($RUNS runs each, interleaved)"
: >"$DIR/t_gw"; : >"$DIR/t_stock"
for _ in $(seq 1 "$RUNS"); do
  a=$(now_ns); via_gw true; b=$(now_ns); echo $(( (b-a)/1000 )) >>"$DIR/t_gw"
  a=$(now_ns); via_stock true; b=$(now_ns); echo $(( (b-a)/1000 )) >>"$DIR/t_stock"
done
stats() { sort -n "$1" | awk '{v[NR]=$1} END {printf "%.1f %.1f", v[int((NR+1)/2)]/1000, v[int(NR*0.9+0.5)]/1000}'; }
read -r GW_P50 GW_P90 <<<"$(stats "$DIR/t_gw")"
read -r ST_P50 ST_P90 <<<"$(stats "$DIR/t_stock")"
printf "%-28s p50 %8s ms   p90 %8s ms\n" "via ward-gateway" "$GW_P50" "$GW_P90"
printf "%-28s p50 %8s ms   p90 %8s ms\n" "via stock sshd jump" "$ST_P50" "$ST_P90"
python3 -c "import sys; print('login time ratio gateway/stock (p50): %.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$GW_P50" "$ST_P50"

echo "== 2. $SIZE_MIB MiB through the jump ($REPEATS runs each, interleaved)"
: >"$DIR/b_gw"; : >"$DIR/b_stock"
for _ in $(seq 1 "$REPEATS"); do
  for kind in gw stock; do
    a=$(now_ns)
    head -c $((SIZE_MIB*1024*1024)) /dev/zero | "via_$kind" 'cat >/dev/null'
    b=$(now_ns)
    python3 -c "import sys; print('%.1f' % (float(sys.argv[1])*1e9/float(sys.argv[2])))" "$SIZE_MIB" "$((b-a))" >>"$DIR/b_$kind"
  done
done
bstats() { sort -n "$1" | awk '{v[NR]=$1} END {printf "%s %s", v[NR], v[int((NR+1)/2)]}'; }
read -r GW_BEST GW_MED <<<"$(bstats "$DIR/b_gw")"
read -r ST_BEST ST_MED <<<"$(bstats "$DIR/b_stock")"
printf "%-28s best %8s MiB/s   median %8s MiB/s\n" "via ward-gateway" "$GW_BEST" "$GW_MED"
printf "%-28s best %8s MiB/s   median %8s MiB/s\n" "via stock sshd jump" "$ST_BEST" "$ST_MED"
python3 -c "import sys; print('throughput ratio gateway/stock (median): %.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$GW_MED" "$ST_MED"

echo "== 3. terminating mode vs direct ssh: login ($RUNS runs each) and $SIZE_MIB MiB ($REPEATS runs each), interleaved"
: >"$DIR/t_term"; : >"$DIR/t_direct"
for _ in $(seq 1 "$RUNS"); do
  a=$(now_ns); via_term true; b=$(now_ns); echo $(( (b-a)/1000 )) >>"$DIR/t_term"
  a=$(now_ns); via_direct true; b=$(now_ns); echo $(( (b-a)/1000 )) >>"$DIR/t_direct"
done
read -r TE_P50 TE_P90 <<<"$(stats "$DIR/t_term")"
read -r DI_P50 DI_P90 <<<"$(stats "$DIR/t_direct")"
printf "%-28s p50 %8s ms   p90 %8s ms\n" "terminating via gateway" "$TE_P50" "$TE_P90"
printf "%-28s p50 %8s ms   p90 %8s ms\n" "direct ssh" "$DI_P50" "$DI_P90"
python3 -c "import sys; print('login time ratio terminating/direct (p50): %.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$TE_P50" "$DI_P50"
: >"$DIR/b_term"; : >"$DIR/b_direct"
for _ in $(seq 1 "$REPEATS"); do
  for kind in term direct; do
    a=$(now_ns)
    head -c $((SIZE_MIB*1024*1024)) /dev/zero | "via_$kind" 'cat >/dev/null'
    b=$(now_ns)
    python3 -c "import sys; print('%.1f' % (float(sys.argv[1])*1e9/float(sys.argv[2])))" "$SIZE_MIB" "$((b-a))" >>"$DIR/b_$kind"
  done
done
read -r TE_BEST TE_MED <<<"$(bstats "$DIR/b_term")"
read -r DI_BEST DI_MED <<<"$(bstats "$DIR/b_direct")"
printf "%-28s best %8s MiB/s   median %8s MiB/s\n" "terminating via gateway" "$TE_BEST" "$TE_MED"
printf "%-28s best %8s MiB/s   median %8s MiB/s\n" "direct ssh" "$DI_BEST" "$DI_MED"
python3 -c "import sys; print('throughput ratio terminating/direct (median): %.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$TE_MED" "$DI_MED"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
