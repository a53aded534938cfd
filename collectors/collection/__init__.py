"""Collection: the driver that runs seeded episodes on Ray actors and streams them into a dataset.

`collect` writes a new dataset (or resumes one), `replay` re-simulates a stored one; both share the driver,
the episode ledger, the actor pool and the episode recorder. Ray is imported only when they are called.
"""
