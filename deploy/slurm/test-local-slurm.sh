#!/bin/bash
# End-to-end check on a real single-node Slurm (Debian's slurm-wlm + munge, on 127.0.0.1):
# makes test clips, submits the array job and the merge through submit.sh, and checks that the
# merged results equal a single run byte for byte. Needs root; not part of CI.
#   apt-get install -y slurm-wlm munge ffmpeg && cargo build --release -p vbench-cli
#   bash deploy/slurm/test-local-slurm.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${VBENCH_SCORE:-$repo/target/release/vbench-score}
[ -x "$BIN" ] || { echo "build first: cargo build --release -p vbench-cli"; exit 1; }
work=$(mktemp -d)
node=$(hostname -s)

# munge
[ -f /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged

# slurm, one node, loopback only
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=vbenchtest
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
pkill -x slurmctld || true; pkill -x slurmd || true; sleep 1
slurmctld -c && slurmd
for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed" && break; sleep 1; done
sinfo

# clips and a reference single run (temporal_flickering needs no weights or GPU)
mkdir -p "$work/videos"
for i in 0 1 2 3 4; do
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=96x64:rate=8" -frames:v $((3 + i)) -pix_fmt yuv420p \
    -c:v libx264 "$work/videos/clip $i-0.mp4"
done
"$BIN" "$work/videos" -d temporal_flickering --name run -o "$work/single" --quiet

export VIDEOS="$work/videos" OUT="$work/slurm" SHARDS=3 DIMENSIONS=temporal_flickering VBENCH_SCORE="$BIN"
bash "$repo/deploy/slurm/submit.sh" --gres=none --cpus-per-task=1 --mem=500M
for _ in $(seq 120); do
  [ -z "$(squeue -h)" ] && break; sleep 1
done
squeue; sacct 2>/dev/null | tail -n +1 || true
ls "$OUT" "$OUT/shards"
cat "$OUT"/vbench-merge-*.log
cmp "$work/single/run_eval_results.json" "$OUT/run_eval_results.json"
echo "OK: merged Slurm results are byte-identical to a single run ($work)"
