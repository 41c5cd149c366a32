# A one-node Slurm in a directory of its own, for tests/test-slurm.sh and
# bench/batch.sh (DESIGN.md's recipe): munged, slurmctld and slurmd
# started as root with every path in the directory and ports of their
# own, stopped by PID.  Source it, then:
#   slurm_start DIR     start (calls slurm_die with the reason on failure)
#   slurm_submit ARGS   sbatch --parsable ARGS; prints the job id
#   slurm_wait ID [S]   until no task of job ID is queued or running (at
#                       most S seconds, default 900)
#   slurm_stop          stop the daemons (safe to call twice)
# slurm_die MSG is the caller's (the test's fail); this default exits.
declare -F slurm_die > /dev/null || slurm_die () { echo "slurm: $*" >&2; exit 1; }
_slurm_dir=

_slurm_daemon_fail () {
  echo "--- $1 log:" >&2
  tail -n 20 "$2" >&2 2>/dev/null || true
  slurm_die "$1 did not start"
}

slurm_stop () {
  local s=$_slurm_dir p f
  [ -n "$s" ] || return 0
  for f in slurmd slurmctld munged; do
    [ -s "$s/$f.pid" ] && p=$(cat "$s/$f.pid") && kill "$p" 2>/dev/null || true
  done
  for f in slurmd slurmctld munged; do
    [ -s "$s/$f.pid" ] || continue
    p=$(cat "$s/$f.pid")
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  _slurm_dir=
}

slurm_start () {
  local s=$1 t
  for t in munged slurmctld slurmd sbatch squeue scancel sinfo; do
    command -v "$t" > /dev/null || slurm_die "$t is not installed (setup.sh installs slurmctld slurmd slurm-client munge)"
  done
  [ "$(id -u)" = 0 ] || slurm_die "the one-node Slurm runs its daemons as root (SlurmUser=root); run as root"
  mkdir -p "$s/state" "$s/spool" "$s/log"
  # munged wants every directory above its socket searchable by all.
  local d=$s
  while [ "$d" != / ] && [ -n "$d" ]; do chmod a+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
  _slurm_dir=$s
  dd if=/dev/urandom of="$s/munge.key" bs=1024 count=1 status=none
  chmod 400 "$s/munge.key"
  munged --key-file "$s/munge.key" --socket "$s/munge.sock" --pid-file "$s/munged.pid" \
    --log-file "$s/munged.log" --seed-file "$s/munge.seed" || _slurm_daemon_fail munged "$s/munged.log"
  # Ports of this run: two runs on one host must not meet.
  local port=$((20000 + ($$ % 10000) * 2)) host
  host=$(hostname -s)
  cat > "$s/slurm.conf" <<EOC
ClusterName=winseal-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$s/munge.sock
CredType=cred/munge
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$s/state
SlurmdSpoolDir=$s/spool
SlurmctldPidFile=$s/slurmctld.pid
SlurmdPidFile=$s/slurmd.pid
SlurmctldLogFile=$s/log/slurmctld.log
SlurmdLogFile=$s/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait=30
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOC
  export SLURM_CONF=$s/slurm.conf
  slurmctld -f "$SLURM_CONF" || _slurm_daemon_fail slurmctld "$s/log/slurmctld.log"
  slurmd -f "$SLURM_CONF" || _slurm_daemon_fail slurmd "$s/log/slurmd.log"
  for _ in $(seq 1 60); do
    sinfo -h -o %T 2>/dev/null | grep -qx idle && return 0
    sleep 0.5
  done
  sinfo >&2 || true
  _slurm_daemon_fail "slurmd (the node is not idle)" "$s/log/slurmd.log"
}

slurm_submit () {
  sbatch --parsable "$@" | cut -d';' -f1
}

slurm_wait () {
  local limit=${2:-900}
  for _ in $(seq 1 "$limit"); do
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
    sleep 1
  done
  squeue >&2 || true
  slurm_die "job $1 still runs after $limit s"
}
