"""Training data and registry metadata out of the project: trajectories, task splits, ``server.json``."""
