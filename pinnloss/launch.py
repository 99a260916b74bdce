"""`python -m pinnloss.launch -n N script.py`: start N copies of a script as one JAX
multi-process job on this machine (implementation: `pinnloss/parallel/_launch.py`)."""

from __future__ import annotations

import sys

from .parallel._launch import main as main

if __name__ == "__main__":
    sys.exit(main())
