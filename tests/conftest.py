import os

os.environ.setdefault("RAY_DEDUP_LOGS", "0")
