"""python -m pinnloss.launch: environment per copy, rank prefixes, exit status, signals.

The copies here are plain Python scripts (no JAX), so these tests take a second or two.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT)


def launch(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "pinnloss.launch", *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def script(tmp_path, body, name="s.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_each_copy_gets_its_rank_and_one_coordinator(tmp_path):
    s = script(
        tmp_path,
        """
        import os, sys
        print(os.environ["PINNLOSS_PROCESS_ID"], os.environ["PINNLOSS_NUM_PROCESSES"],
              os.environ["JAX_COORDINATOR_ADDRESS"], os.environ.get("XLA_FLAGS", ""), sys.argv[1:],
              sep="|")
        """,
    )
    out = launch("-n", "3", "--devices-per-process", "2", s, "a", "--b")
    assert out.returncode == 0, out.stderr
    lines = sorted(out.stdout.splitlines())
    assert len(lines) == 3
    addresses = set()
    for rank, line in enumerate(lines):
        prefix, rest = line.split(" ", 1)
        got_rank, count, address, flags, argv = rest.split("|")
        assert prefix == f"[{rank}]" and got_rank == str(rank) and count == "3"
        # added to the flags the launcher was given (the test suite sets its own)
        inherited = ENV.get("XLA_FLAGS", "")
        assert flags == (inherited + " --xla_force_host_platform_device_count=2").strip()
        assert argv == "['a', '--b']"
        addresses.add(address)
    (address,) = addresses
    host, port = address.rsplit(":", 1)
    assert host == "127.0.0.1" and 0 < int(port) < 65536


def test_a_failing_copy_stops_the_others_and_fails_the_launch(tmp_path):
    s = script(
        tmp_path,
        """
        import os, sys, time
        if os.environ["PINNLOSS_PROCESS_ID"] == "1":
            print("failing", flush=True)
            sys.exit(3)
        time.sleep(120)
        """,
    )
    t0 = time.perf_counter()
    out = launch("-n", "2", s)
    assert out.returncode == 3
    assert time.perf_counter() - t0 < 30  # rank 0 was stopped, not waited for
    assert "[1] failing" in out.stdout
    assert "process(es) [0, 1] exited with non-zero status" in out.stderr


def test_signals_reach_every_copy(tmp_path):
    s = script(
        tmp_path,
        """
        import os, signal, sys, time
        def stop(signum, frame):
            print("got", signum, flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        print("ready", flush=True)
        time.sleep(60)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinnloss.launch", "-n", "2", s],
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    ready = 0
    while ready < 2:
        line = proc.stdout.readline()
        assert line, "the launcher ended before its copies were ready"
        ready += line.endswith("ready\n")
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert sorted(ln for ln in rest.splitlines() if "got" in ln) == [
        f"[0] got {int(signal.SIGTERM)}",
        f"[1] got {int(signal.SIGTERM)}",
    ]


@pytest.mark.parametrize(
    "args, message",
    [(["-n", "0", "x.py"], "-n must be a positive integer"), (["-n", "2"], "give a script")],
)
def test_bad_arguments_are_refused(args, message):
    out = launch(*args)
    assert out.returncode == 2 and message in out.stderr


def test_arguments_after_the_target_belong_to_it():
    # `-n 3` and `--help` after the target are the target's, not the launcher's
    out = launch("-n", "1", "-m", "json.tool", "--help", "-n", "3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("[0] usage: python -m json.tool")
