"""Parallel execution: many fits in one compiled call (`pl.sweep`), several processes
(`pl.distributed_initialize`, `python -m pinnloss.launch`) and checkpoints
(`pl.save_checkpoint`, `pl.load_checkpoint`, resumable solves and sweeps).

The modules here are private; their public names are re-exported by `pinnloss`. This file
imports nothing, so the driver can use the checkpoint format without loading the sweep.
"""
