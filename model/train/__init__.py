"""Training engine for BBNN: data sets, mel cache, split protocols, the training loop, reports.

No Qt and no SQLite here: the CLI and the GUI pass in paths, labelled files and callbacks.
"""
