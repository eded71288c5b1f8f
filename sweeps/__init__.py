"""Sweeps: a grid over task parameters, model size, method, training pool and seeds; each cell trains and probes
(grid.py: the grid and its cells; cell.py: one cell; run.py: running them, resumably; experiments.py: the named
presets that turn the arguments about mesa-optimization into sweeps)."""
