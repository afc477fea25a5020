#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine (Debian/Ubuntu, root, no systemd needed), for
# testing `--executor slurm`: installs slurm-wlm and munge when missing, writes a minimal
# slurm.conf (node `localhost`, partition `debug`), starts munged, slurmctld and slurmd, and waits
# until the node is idle. Idempotent and quick when everything already runs.
#   bash scripts/slurm_local.sh         # set up / start, then print one status line
#   bash scripts/slurm_local.sh stop    # stop the three daemons
set -euo pipefail

CONF=/etc/slurm/slurm.conf
STATE=/var/spool/slurm-local
LOGS=/var/log/slurm-local

die() { echo "slurm_local: $*" >&2; exit 1; }
running() { pgrep -x "$1" >/dev/null 2>&1; }

stop_daemons() {
    local name pid
    for name in slurmd slurmctld munged; do
        for pid in $(pgrep -x "$name" || true); do kill "$pid" 2>/dev/null || true; done
    done
    for _ in $(seq 50); do
        running slurmd || running slurmctld || running munged || return 0
        sleep 0.2
    done
    die "daemons still running after 10 s"
}

if [[ "${1:-}" == stop ]]; then
    stop_daemons
    echo "slurm_local: stopped"
    exit 0
fi
[[ $# -eq 0 ]] || die "usage: $0 [stop]"
[[ $(id -u) -eq 0 ]] || die "needs root (installs packages, writes /etc/slurm, starts daemons)"

# 1. Packages (the daemons, sbatch/squeue/scancel, munge).
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
        || die "apt-get install slurm-wlm munge failed"
fi

# 2. Munge key and runtime folders (munged runs as the `munge` user the package creates).
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key >/dev/null 2>&1 \
        || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

# 3. slurm.conf: this machine's CPUs and memory (less 5% headroom, as slurmd measures it).
install -d -m 0755 /etc/slurm "$STATE/ctld" "$STATE/d" "$LOGS"
cpus=$(nproc)
mem_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 95 / 100 ))
host=$(hostname -s)
conf=$(cat <<EOF
# Written by langmill's scripts/slurm_local.sh: a one-node test cluster.
ClusterName=langmill-local
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
# Schedule often (tests wait on chains of dependent jobs); cancel jobs whose dependency failed.
SchedulerParameters=sched_interval=1,bf_interval=1
DependencyParameters=kill_invalid_depend
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=60
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
)
changed=0
if [[ ! -f $CONF ]] || [[ "$(cat "$CONF")" != "$conf" ]]; then
    printf '%s\n' "$conf" > "$CONF"
    changed=1
fi

# 4. Daemons: restarted when the configuration changed, started when not running.
started=()
if (( changed )) && { running slurmctld || running slurmd; }; then
    for name in slurmd slurmctld; do
        for pid in $(pgrep -x "$name" || true); do kill "$pid" 2>/dev/null || true; done
    done
    for _ in $(seq 50); do running slurmd || running slurmctld || break; sleep 0.2; done
fi
if ! running munged; then
    runuser -u munge -- munged >/dev/null 2>&1 || die "munged did not start (see /var/log/munge/munged.log)"
    started+=(munged)
fi
for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || die "munge does not answer"
if ! running slurmctld; then
    slurmctld || die "slurmctld did not start (see $LOGS/slurmctld.log)"
    started+=(slurmctld)
fi
if ! running slurmd; then
    slurmd -N localhost || die "slurmd did not start (see $LOGS/slurmd.log)"
    started+=(slurmd)
fi

# 5. Wait until the node takes jobs (a node left down/drained by an earlier run is resumed).
state=""
for i in $(seq 150); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null | head -1 || true)
    case "$state" in
        idle|mixed|allocated|completing) break ;;
        down*|drain*|fail*) scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
done
case "$state" in
    idle|mixed|allocated|completing) ;;
    *) die "node localhost is '${state:-unknown}' after 30 s (see $LOGS/)" ;;
esac
echo "slurm_local: ${started[*]:+started ${started[*]}; }node localhost $state, partition debug, $cpus CPUs, $mem_mb MB (logs: $LOGS)"
