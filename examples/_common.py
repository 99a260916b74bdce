"""Small shared bits of the examples: the smoke-size switch, figure paths, the command line."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable


def smoke_from_env() -> bool:
    """True when `PINNLOSS_SMOKE` is set to anything but "" or "0" (small, fast sizes)."""
    return os.environ.get("PINNLOSS_SMOKE", "0") not in ("", "0")


#: Where figures go when neither `--out` nor `$PINNLOSS_FIGURES` says (named in .gitignore).
DEFAULT_DIR = "figures"


def figure_path(out: str | os.PathLike | None, default_name: str) -> str:
    """Where to save a figure, creating its folder: `out` (a file, or a folder to put
    `default_name` in: an existing one or a path ending in "/"), else the folder
    `$PINNLOSS_FIGURES`, else `./figures/`; never the current directory itself."""
    if out is None:
        out = os.environ.get("PINNLOSS_FIGURES") or DEFAULT_DIR
        out = os.path.join(os.fspath(out), "")
    out = os.fspath(out)
    if os.path.isdir(out) or out.endswith(("/", os.sep)):
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
    parser.add_argument(
        "--out",
        default=None,
        metavar="PATH",
        help="figure file, or folder (existing, or ending in /) to put it in "
        f"(default: $PINNLOSS_FIGURES, else ./{DEFAULT_DIR}/)",
    )
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
