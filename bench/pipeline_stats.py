"""bench/pipeline.py's accounting: where the CPU went, and where a batch's time went.

CpuMeter splits the machine's busy time between processing (the celery workers and their
PostgreSQL backends), ingest (the web server and its backends) and everything else (the bench, the
database's own processes, other users of the machine): the services connect with their own
PGAPPNAME, so their backends are found in pg_stat_activity. From one worker's share and
what the others leave, the ceiling a second worker can reach if processing is CPU-bound.

phase_summary() reads the per-batch phase timings the workers append to
TRIAGE_PROCESS_TRACE (bench/pipeline.py --trace; see triage.processing._Phases).
"""

import json
import os
import statistics
import threading
from pathlib import Path

APP_WORKER, APP_WEB = "bench-worker", "bench-web"
HZ = os.sysconf("SC_CLK_TCK")


def machine_ticks():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def process_ticks(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


class CpuMeter:
    """CPU seconds used by process groups, sampled every half second (a process that ends
    between samples loses at most its last half second)."""

    def __init__(self, db_url, groups):
        import psycopg

        self.conn = psycopg.connect(db_url, autocommit=True)
        self.groups = groups  # name → (callable giving pids, application_name or None)
        self.seen = {}  # pid → (group, ticks at its last sample)
        self.gone = dict.fromkeys(groups, 0)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _pids(self):
        apps = {app: name for name, (_, app) in self.groups.items() if app}
        backends = self.conn.execute(
            "SELECT pid, application_name FROM pg_stat_activity WHERE application_name = ANY(%s)",
            [list(apps)],
        ).fetchall()
        pids = {pid: apps[app] for pid, app in backends}
        for name, (pids_of, _) in self.groups.items():
            pids.update(dict.fromkeys(pids_of(), name))
        return pids

    def _sample(self):
        with self.lock:
            current = self._pids()
            for pid, (group, ticks) in list(self.seen.items()):
                now = process_ticks(pid)
                if now is None or pid not in current:
                    self.gone[group] += ticks if now is None else now
                    del self.seen[pid]
                else:
                    self.seen[pid] = (group, now)
            for pid, group in current.items():
                if pid not in self.seen and (ticks := process_ticks(pid)) is not None:
                    self.seen[pid] = (group, ticks)

    def _loop(self):
        while not self._stop.wait(0.5):
            try:
                self._sample()
            except Exception:  # the database restarting, a process racing away: next time
                pass

    def snapshot(self):
        """(machine busy, machine total, {group: ticks so far}) as of now."""
        self._sample()
        with self.lock:
            totals = dict(self.gone)
            for group, ticks in self.seen.values():
                totals[group] += ticks
        return (*machine_ticks(), totals)

    def close(self):
        self._stop.set()
        self._thread.join()
        self.conn.close()


def cpu_shares(start, end):
    """Cores used per group between two snapshots, "other" being the rest of the busy time,
    and the machine's busy fraction."""
    busy, total = end[0] - start[0], max(1, end[1] - start[1])
    cores = os.cpu_count()
    shares = {g: (end[2][g] - start[2][g]) / total * cores for g in end[2]}
    shares["other"] = max(0.0, busy / total * cores - sum(shares.values()))
    return shares, busy / total


def cpu_ceiling(shares):
    """The most two workers can process relative to one, if processing is CPU-bound: the
    cores the others leave over what one worker's processing used (at most 2×: a worker
    and its backend take turns, one core at most)."""
    used = shares["processing"]
    free = os.cpu_count() - shares["ingest"] - shares["other"]
    return min(2.0, free / used) if used > 0 else float("inf")


def phase_summary(path, windows):
    """Per worker count: the mean ms per batch of each phase (and of the worker's own CPU)
    over the full batches that started within that worker count's drain window."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return {}
    batches = [json.loads(line) for line in lines if line.strip()]
    out = {}
    for workers, (t0, t1) in windows.items():
        mine = [b for b in batches if t0 <= b["at"] - sum(b["ms"].values()) / 1000 <= t1]
        full = [b for b in mine if b["events"] >= max((x["events"] for x in mine), default=0) // 2]
        if not full:
            continue
        phases = {p: 0.0 for b in full for p in b["ms"]}
        for b in full:
            for p, ms in b["ms"].items():
                phases[p] += ms / len(full)
        out[workers] = {
            "batches": len(full),
            "events_per_batch": round(statistics.mean(b["events"] for b in full)),
            "ms_per_batch": {p: round(ms, 1) for p, ms in phases.items()},
            "total_ms": round(sum(phases.values()), 1),
            "worker_cpu_ms": round(statistics.mean(b["cpu_ms"] for b in full), 1),
        }
    return out
