"""Every ```python block of README.md runs as written, and every `$ pinnloss ...` line of its
console block runs and prints what the README shows: a newcomer's first copy-paste works."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
PYTHON = re.findall(r"```python\n(.*?)```", README, re.S)
CONSOLE = re.findall(r"```console\n(.*?)```", README, re.S)


def test_the_readme_has_snippets():
    assert len(PYTHON) >= 3 and CONSOLE


@pytest.mark.parametrize("i", range(len(PYTHON)))
def test_python_block_runs_as_written(i, tmp_path):
    """Each block in a fresh interpreter, in an empty folder, exactly as printed."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=ROOT)
    env.pop("PINNLOSS_SMOKE", None)
    proc = subprocess.run(
        [sys.executable, "-c", PYTHON[i]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"README python block {i} failed:\n{proc.stderr[-3000:]}"


def _commands():
    """(command, the output lines the README shows under it) for each `$ ` line."""
    out = []
    for block in CONSOLE:
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:].split("  #")[0].strip(), []))
            elif out:
                out[-1][1].append(line)
    return out


@pytest.mark.parametrize("cmd", [c for c, _ in _commands()])
def test_console_line_runs_and_prints_what_the_readme_shows(cmd, tmp_path):
    shown = dict(_commands())[cmd]
    exe = os.path.join(os.path.dirname(sys.executable), "pinnloss")
    args = cmd.split()
    assert args[0] == "pinnloss"
    proc = subprocess.run(
        [exe if os.path.exists(exe) else "pinnloss", *args[1:]],
        cwd=tmp_path,
        env=dict(os.environ, MPLBACKEND="Agg"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    for line in shown:
        assert line.rstrip() in proc.stdout, f"README shows {line!r}; got:\n{proc.stdout}"
    for flag, name in (("--json", "out.json"), ("--plot", "out.png")):
        if flag in args:
            assert (tmp_path / name).stat().st_size > 0
