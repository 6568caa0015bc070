"""CPU time of the parts of a benchmark run, read from Linux /proc.

- a process tree (the server: uvicorn's supervisor and its workers), before and after;
- PostgreSQL's backends of given databases: the server is shared with other work, so only the
  backends whose process title names one of the run's databases count. Backends come and go
  (pgbench's connections end with pgbench), so a thread samples them every `interval` seconds
  and keeps each one's last reading; a backend that exits loses at most its last interval.

On other systems every figure is 0 (and `available()` says so).
"""

from __future__ import annotations

import glob
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available() -> bool:
    return Path("/proc/self/stat").exists()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ...


def process_cpu(pid: int) -> float | None:
    """utime + stime of `pid` in seconds (None when it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc/<pid>/task/<tid>/children)."""
    found: list[int] = []
    for tid_dir in glob.glob(f"/proc/{pid}/task/*"):
        try:
            found += [int(child) for child in Path(tid_dir, "children").read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    found = [pid]
    for child in children(pid):
        found += process_tree(child)
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by `pid` and its living descendants."""
    return sum(process_cpu(each) or 0.0 for each in process_tree(pid))


def find_postmaster() -> int | None:
    """The PostgreSQL postmaster: a process named postgres whose parent is not one."""
    names: dict[int, str] = {}
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            names[int(entry.name)] = (entry / "comm").read_text().strip()
        except OSError:
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            parents[int(entry.name)] = int(fields[1])
    for pid, name in names.items():
        if name == "postgres" and names.get(parents.get(pid, 0)) != "postgres":
            return pid
    return None


def _title_words(pid: int) -> set[str]:
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return set()
    return set(title.replace(b"\0", b" ").decode("utf-8", "replace").split())


class PostgresSampler:
    """CPU of the PostgreSQL backends serving `databases`, over a window.

    `start()` takes the baseline and starts sampling; `stop()` takes a last sample and
    returns the CPU seconds those backends used in between (backends born in the window
    count from zero). `own_cpu` is what the sampling thread itself cost (to be subtracted
    from the client process's CPU, which it runs in)."""

    def __init__(self, databases: Iterable[str], interval: float = 0.1) -> None:
        self.databases = set(databases)
        self.interval = interval
        self.postmaster = find_postmaster() if available() else None
        self.excluded: set[int] = set()
        self._ours: dict[int, bool] = {}
        self._baseline: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.own_cpu = 0.0

    @property
    def works(self) -> bool:
        return self.postmaster is not None

    def _is_ours(self, pid: int) -> bool:
        known = self._ours.get(pid)
        if known is None:
            words = _title_words(pid)
            known = bool(self.databases & words)
            if words:  # a backend just forked may not have its title yet: ask again later
                self._ours[pid] = known
        return known

    def _sample(self) -> dict[int, float]:
        if self.postmaster is None:
            return {}
        readings: dict[int, float] = {}
        for pid in children(self.postmaster):
            if pid in self.excluded or not self._is_ours(pid):
                continue
            cpu = process_cpu(pid)
            if cpu is not None:
                readings[pid] = cpu
        return readings

    def start(self) -> None:
        self._baseline = self._sample()
        self._last = dict(self._baseline)
        self._stop.clear()
        self.own_cpu = 0.0
        self._thread = threading.Thread(target=self._run, name="pg-cpu-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = time.thread_time()
        while not self._stop.wait(self.interval):
            self._last.update(self._sample())
        self.own_cpu = time.thread_time() - started

    def stop(self) -> float:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._last.update(self._sample())
        return sum(cpu - self._baseline.get(pid, 0.0) for pid, cpu in self._last.items())
