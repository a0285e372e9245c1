"""For benchmarks: name the CPU, and keep cores busy the way a meeting app does.

Figures from different machines only compare when the CPU is named beside them (AVX2
laptops and AVX-512/AMX servers differ 2x in int8 throughput), and a teacher's laptop
is never idle: Zoom, Meet or Teams decode and encode video on the same cores.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import platform
from collections.abc import Iterator
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name and the instruction sets that change our timings."""
    name, flags = platform.processor() or platform.machine(), set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name in ("", platform.machine(), platform.processor()):
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    isa = [label for flag, label in (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_vnni", "AVX512-VNNI"),
                                     ("avx_vnni", "AVX-VNNI"), ("amx_int8", "AMX")) if flag in flags]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name} ({', '.join(isa) or 'no AVX2'}), {cores} cores"


def _spin(core: int | None) -> None:
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    x = 0
    while True:  # pure Python: one core at 100%, like a busy video call's encoder thread
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF


@contextlib.contextmanager
def busy_cores(count: int) -> Iterator[list[int]]:
    """Run ``count`` processes that each keep one core at 100% (pinned to the last cores,
    where they exist) until the block ends; yields their pids."""
    if count <= 0:
        yield []
        return
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_spin, args=(cores[-1 - i] if i < len(cores) else None,), daemon=True)
             for i in range(count)]
    for p in procs:
        p.start()
    try:
        yield [p.pid for p in procs if p.pid is not None]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)
