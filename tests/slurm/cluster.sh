#!/usr/bin/env bash
# A real single-node SLURM for the test suite: `cluster.sh up` / `cluster.sh down` (as root, no systemd).
#
# Debian's slurm-wlm 22.05 + munge + slurmdbd on a local MariaDB (so sacct works), daemons started directly.
# Partitions as on Biowulf: norm (default), quick (4 h) and gpu; the node declares fake GPUs of type
# $GPU_TYPE (device files are links to /dev/null) and an lscratch count GRES, so `--gres=gpu:TYPE:1`,
# `--gpus=TYPE:1` and `--gres=lscratch:N` are scheduled as on the real cluster. Time limits are enforced quickly
# (OverTimeLimit=0, KillWait=5) so the time-limit test does not wait long.
set -euo pipefail

GPU_TYPE=${GPU_TYPE:-p100}
RUN=/run/dlbio-slurm
CONF=/etc/slurm
DB_PASS=dlbio-slurm-ci
export DEBIAN_FRONTEND=noninteractive

log() { printf '[slurm %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
wait_for() {  # wait_for WHAT COMMAND...: up to 60 s
  local what=$1 end=$((SECONDS + 60)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $end ] || die "$what did not come up"; sleep 0.2; done
  log "$what ready"
}
start() {  # start NAME PIDFILE COMMAND...: run a daemon and remember it for `down`
  local name=$1 pidfile=$2; shift 2
  "$@" </dev/null >/dev/null 2>&1
  echo "$name $pidfile" >>"$RUN/started"
}

down() {
  [ -s "$RUN/started" ] || return 0
  scancel --user=root >/dev/null 2>&1 || true
  tac "$RUN/started" | while read -r name pidfile; do
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
      kill -TERM "$pid"
      for _ in $(seq 100); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      log "stopped $name"
    fi
  done
  rm -f "$RUN/started"
  # with no controller, `scontrol` (which the slurm plugin of every later Snakemake start asks) gives up at once
  # instead of after MessageTimeout's 10 s; `up` writes the config anew
  [ -f "$CONF/slurm.conf" ] && sed -i '/^MessageTimeout=/d; $a MessageTimeout=1' "$CONF/slurm.conf"
}

install_packages() {
  local missing=() p
  for p in slurm-wlm munge slurmdbd mariadb-server; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

write_configs() {
  local hw mem
  hw=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //; s/ RealMemory=.*//; s/ UpTime=.*//')
  mem=$(slurmd -C | head -1 | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  mkdir -p "$CONF" "$RUN/dev"
  ln -sf /dev/null "$RUN/dev/gpu0"
  cat >"$CONF/slurm.conf" <<EOF
ClusterName=dlbio
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu,gres/lscratch
JobAcctGatherType=jobacct_gather/linux
AccountingStoreFlags=job_comment
MinJobAge=600
OverTimeLimit=0
KillWait=5
GresTypes=gpu,lscratch
NodeName=localhost NodeAddr=127.0.0.1 $hw RealMemory=$((mem * 85 / 100)) Gres=gpu:$GPU_TYPE:1,lscratch:100 State=UNKNOWN
PartitionName=norm Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=quick Nodes=localhost MaxTime=04:00:00 State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF
  cat >"$CONF/gres.conf" <<EOF
Name=gpu Type=$GPU_TYPE File=$RUN/dev/gpu0
Name=lscratch Count=100 Flags=CountOnly
EOF
  install -m 0600 -o slurm -g slurm /dev/stdin "$CONF/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurm/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
}

up() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  install_packages
  down
  mkdir -p "$RUN"
  write_configs
  install -d -o slurm -g slurm /run/slurm /var/spool/slurmctld /var/log/slurm
  install -d /var/spool/slurmd
  install -d -o munge -g munge /run/munge
  install -d -o mysql /run/mysqld

  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || start munged /run/munge/munged.pid runuser -u munge -- /usr/sbin/munged
  wait_for munged sh -c 'munge -n | unmunge'

  if ! mariadb-admin ping >/dev/null 2>&1; then
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    setsid /usr/sbin/mariadbd --user=mysql --skip-networking --pid-file=/run/mysqld/mysqld.pid \
      --socket=/run/mysqld/mysqld.sock --log-error=/var/log/slurm/mariadb.log </dev/null >/dev/null 2>&1 &
    echo "mariadbd /run/mysqld/mysqld.pid" >>"$RUN/started"
  fi
  wait_for mariadb mariadb-admin ping
  mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

  start slurmdbd /run/slurm/slurmdbd.pid /usr/sbin/slurmdbd
  wait_for slurmdbd sacctmgr -n list cluster
  sacctmgr -n -P list cluster format=cluster | grep -qx dlbio || sacctmgr -i add cluster dlbio >/dev/null

  start slurmctld /run/slurm/slurmctld.pid /usr/sbin/slurmctld
  wait_for slurmctld sh -c 'scontrol ping | grep -q UP'
  start slurmd /run/slurm/slurmd.pid /usr/sbin/slurmd -N localhost
  # a node state saved by an earlier run (drained, down) is cleared
  scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
  wait_for "node localhost" sh -c '[ "$(sinfo -h -n localhost -o %T | head -1)" = idle ]'
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
