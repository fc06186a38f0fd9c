"""The scan's stages, one module each (put together by app/library/scanner.py):

    plan.py     discover (walk the folders) and classify (unchanged / to read / gone)
    reader.py   read: tags, probe, fingerprint, decode + front ends; runs in worker processes
    pool.py     the worker processes: crash isolation, parent-death handling; or inline
    ears.py     the models the scan runs ("ears") behind one small interface
    infer.py    batched inference per ear across tracks
    store.py    track rows, moves, copies, output checks, analyses, errors
    missing.py  unchanged tracks seen, unreadable folders, tracks gone -> missing
    progress.py ScanProgress / ScanSummary
"""
