"""Small shared bits of the examples: the smoke-size switch, figure paths, the command line."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable


def smoke_from_env() -> bool:
    """True when `PINNLOSS_SMOKE` is set to anything but "" or "0" (small, fast sizes)."""
    return os.environ.get("PINNLOSS_SMOKE", "0") not in ("", "0")


def figure_path(out: str | os.PathLike | None, default_name: str) -> str:
    """Where to save a figure: `out` (a file, or a directory to put `default_name` in),
    else the directory `$PINNLOSS_FIGURES`, else the current directory."""
    if out is None:
        out = os.environ.get("PINNLOSS_FIGURES", os.getcwd())
    out = os.fspath(out)
    if os.path.isdir(out):
        out = os.path.join(out, default_name)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    return out


def save_figure(fig, out: str | os.PathLike | None, default_name: str, *, dpi: int = 120) -> str:
    """Save `fig` where `figure_path` says, close it if pyplot holds it, return the path."""
    path = figure_path(out, default_name)
    fig.savefig(path, dpi=dpi)
    if getattr(fig.canvas, "manager", None) is not None:  # made by pyplot: free it
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def run_cli(main: Callable[..., dict], doc: str | None, x64: bool = True) -> dict:
    """Parse `--out` / `--smoke`, enable float64 (the script's choice), run `main`, print it."""
    import jax

    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    parser.add_argument("--out", default=None, help="figure file or directory")
    parser.add_argument("--smoke", action="store_true", help="small sizes (or PINNLOSS_SMOKE=1)")
    args = parser.parse_args()
    if x64:
        jax.config.update("jax_enable_x64", True)
    result = main(smoke=args.smoke or smoke_from_env(), out=args.out)
    print(result["headline"])
    for k, v in result.items():
        if k not in ("headline", "figure"):
            print(f"  {k} = {v:.6g}" if isinstance(v, float) else f"  {k} = {v}")
    print(f"figure: {result['figure']}")
    return result
