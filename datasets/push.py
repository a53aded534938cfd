"""``flywheel dataset push PATH REPO_ID``: upload a finished dataset to the Hugging Face Hub.

Through ``huggingface_hub`` (the optional extra ``flywheel[hub]``, imported only here; log in first with
``hf auth login`` or ``HF_TOKEN``). Before anything leaves the machine the dataset is validated (a broken
dataset on the Hub costs every downloader), its card written if it has none (so the Hub's viewer and
``datasets.load_dataset`` find the rows), and its lock held, so no writer changes it mid-upload. The lock
file, a staging area and temporary files are not uploaded. The upload is tagged with the codebase version
(``v3.0``), which is the revision LeRobot asks the Hub for.
"""
from __future__ import annotations

import os
from pathlib import Path

from . import schema
from ._io import DatasetError
from .card import CARD_PATH, write_card
from .export_minari import OptionalDependencyError
from .lock import LOCK_NAME, DatasetLock

IGNORE = [LOCK_NAME, f"{schema.STAGING_DIR}/**", ".tmp-*", "**/.tmp-*"]


def _hub():
    try:
        import huggingface_hub
    except ImportError:
        raise OptionalDependencyError("push needs huggingface_hub: pip install 'flywheel[hub]'") from None
    return huggingface_hub


def push(root: str | os.PathLike, repo_id: str, *, private: bool = False, branch: str | None = None) -> str:
    """Upload the dataset at ``root`` to the dataset repository ``repo_id``; returns its URL."""
    from .reader import open as open_dataset
    from .validate import validate

    root = Path(root)
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"REPO_ID must be owner/name, got {repo_id!r}")
    hub = _hub()
    ds = open_dataset(root)
    problems = validate(root)
    if problems:
        raise DatasetError(problems[0].path, f"{problems[0].message} ({len(problems)} problem(s) in all: run "
                                             f"`flywheel dataset validate {root}`; nothing was uploaded)")
    with DatasetLock(root, "flywheel dataset push"):
        if not (root / CARD_PATH).exists():
            write_card(root, ds.info, ds.tasks)
        api = hub.HfApi()
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if branch:
            api.create_branch(repo_id, branch=branch, repo_type="dataset", exist_ok=True)
        api.upload_folder(folder_path=str(root), repo_id=repo_id, repo_type="dataset", revision=branch,
                          ignore_patterns=IGNORE, commit_message=f"Upload {ds.robot_type} dataset with flywheel "
                                                                 f"({len(ds)} episodes)")
        api.create_tag(repo_id, tag=schema.CODEBASE_VERSION, repo_type="dataset", revision=branch, exist_ok=True)
    return f"https://huggingface.co/datasets/{repo_id}"
