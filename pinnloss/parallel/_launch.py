"""Start n copies of a script as one JAX multi-process job on this machine.

    python -m pinnloss.launch -n 2 script.py [args ...]
    python -m pinnloss.launch -n 2 --devices-per-process 1 -m package.module [args ...]

Each copy gets `JAX_COORDINATOR_ADDRESS` (127.0.0.1 and a free port),
`PINNLOSS_NUM_PROCESSES` and `PINNLOSS_PROCESS_ID` in its environment; the script calls
`pl.distributed_initialize()` (which reads them) before touching a device, and `pl.sweep`
then spreads its fits over every process. Output lines are prefixed with the rank
(`[0] ...`); SIGINT and SIGTERM are forwarded to every copy; if one copy fails the others
are stopped and the launcher exits with the failed copy's status.

On a cluster, let the scheduler start the processes instead: under SLURM,
`srun --ntasks=N python script.py` and the same `pl.distributed_initialize()` call (JAX
reads SLURM's variables).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

__all__ = ["free_port", "main"]

# what each copy finds in its environment; JAX itself reads JAX_COORDINATOR_ADDRESS
ENV_ADDRESS = "JAX_COORDINATOR_ADDRESS"
ENV_COUNT = "PINNLOSS_NUM_PROCESSES"
ENV_ID = "PINNLOSS_PROCESS_ID"

_GRACE_S = 10.0  # after a copy fails, how long the others get to stop on SIGTERM


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


_VALUED = {"-n", "--nproc", "--host", "--port", "--devices-per-process"}


def _split(argv):
    """(launcher's arguments, the target and its arguments): the target starts at `-m` or
    at the first word that is not one of the launcher's options or their values."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-m" or not a.startswith("-"):
            return argv[:i], argv[i:]
        i += 2 if a in _VALUED else 1
    return argv, []


def _parse(argv):
    p = argparse.ArgumentParser(
        prog="python -m pinnloss.launch",
        usage="python -m pinnloss.launch -n N [options] (script.py | -m module) [args ...]",
        description="Run n copies of a script as one JAX multi-process job on this machine.",
    )
    p.add_argument("-n", "--nproc", type=int, required=True, help="number of processes")
    p.add_argument("--host", default="127.0.0.1", help="coordinator host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="coordinator port (default: free)")
    p.add_argument(
        "--devices-per-process",
        type=int,
        default=None,
        help="CPU devices per process (XLA_FLAGS=--xla_force_host_platform_device_count)",
    )
    ours, target = _split(argv)
    a = p.parse_args(ours)
    if a.nproc < 1:
        p.error(f"-n must be a positive integer; got {a.nproc}.")
    if a.devices_per_process is not None and a.devices_per_process < 1:
        p.error(f"--devices-per-process must be positive; got {a.devices_per_process}.")
    if not target or target == ["-m"]:
        p.error("give a script to run (or -m module).")
    a.module = target[1] if target[0] == "-m" else None
    a.script = None if a.module else target[0]
    a.args = target[2:] if a.module else target[1:]
    return a


def _pump(rank: int, stream, lock: threading.Lock) -> None:
    for line in iter(stream.readline, b""):
        text = line.decode(errors="replace").rstrip("\n")
        with lock:
            sys.stdout.write(f"[{rank}] {text}\n")
            sys.stdout.flush()
    stream.close()


def main(argv: list[str] | None = None) -> int:
    a = _parse(sys.argv[1:] if argv is None else argv)
    port = a.port if a.port is not None else free_port(a.host)
    target = ["-m", a.module] if a.module is not None else [a.script]
    base = dict(os.environ)
    base[ENV_ADDRESS] = f"{a.host}:{port}"
    base[ENV_COUNT] = str(a.nproc)
    base["PYTHONUNBUFFERED"] = "1"
    if a.devices_per_process is not None:
        flag = f"--xla_force_host_platform_device_count={a.devices_per_process}"
        base["XLA_FLAGS"] = (base.get("XLA_FLAGS", "") + " " + flag).strip()
    lock = threading.Lock()
    procs, pumps = [], []
    for rank in range(a.nproc):
        env = dict(base, **{ENV_ID: str(rank)})
        proc = subprocess.Popen(
            [sys.executable, *target, *a.args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        t = threading.Thread(target=_pump, args=(rank, proc.stdout, lock), daemon=True)
        t.start()
        pumps.append(t)

    def forward(signum, _frame):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        stop_at = None
        while True:
            codes = [p.poll() for p in procs]  # poll every copy (any() would stop early)
            if all(c is not None for c in codes):
                break
            failed = [c for c in codes if c not in (None, 0)]
            if failed and status == 0:
                status = failed[0]
                stop_at = time.monotonic() + _GRACE_S
                for p in procs:
                    if p.poll() is None:
                        p.terminate()
            if stop_at is not None and time.monotonic() > stop_at:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
            time.sleep(0.05)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    for t in pumps:
        t.join(timeout=5)
    if status == 0:
        failed = [p.returncode for p in procs if p.returncode != 0]
        status = failed[0] if failed else 0
    if status:
        bad = [i for i, p in enumerate(procs) if p.returncode != 0]
        sys.stderr.write(f"pinnloss.launch: process(es) {bad} exited with non-zero status\n")
    # a copy killed by a signal has a negative status; report it the way a shell does
    return status if status > 0 else (128 - status if status < 0 else 0)


if __name__ == "__main__":
    sys.exit(main())
