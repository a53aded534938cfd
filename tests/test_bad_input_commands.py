"""Bad input to the collection, training and loop commands: exit 2, one line naming what is wrong, no traceback,
nothing changed on disk (the folder's tree and bytes hash the same before and after).

Every case here fails before any Ray worker starts, so the table runs in a few seconds in-process.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from flywheel.cli import main as cli_main
from flywheel.datasets.synthetic import write_synthetic_dataset


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_symlink():
            h.update(b"->" + os.readlink(path).encode())
        elif path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


def run(capsys, *argv: str) -> tuple[int, str]:
    rc = cli_main([str(a) for a in argv])
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """Files the cases point at: a dataset, a file in the way, a symlink loop, damaged policy files."""
    root = tmp_path_factory.mktemp("bad")
    write_synthetic_dataset(root / "ds", "arm7", range(3))
    nan_stats = root / "ds_nan_stats"
    write_synthetic_dataset(nan_stats, "arm7", range(3))
    stats = json.loads((nan_stats / "meta" / "stats.json").read_text())
    key = next(k for k in stats if k.startswith("observation.state"))
    stats[key]["mean"][0] = float("nan")
    (nan_stats / "meta" / "stats.json").write_text(json.dumps(stats))
    (root / "a_file").write_text("not a folder\n")
    (root / "user_meta" / "meta").mkdir(parents=True)  # looks like an interrupted create, but the file is the user's
    (root / "user_meta" / "staging").mkdir()
    (root / "user_meta" / "meta" / "flywheel.json").write_text('{"mine": true}\n')
    (root / "loop").symlink_to(root / "loop")
    (root / "random.npz").write_bytes(np.random.default_rng(0).bytes(512))
    (root / "text.npz").write_text("hello\n")

    def policy(name: str, header) -> None:
        np.savez(root / name, header=np.frombuffer(json.dumps(header).encode(), np.uint8), W0=np.zeros((2, 2), np.float32))

    policy("list_header.npz", [1, 2, 3])
    policy("no_features.npz", {"format": "flywheel-policy", "format_version": 1, "robot": {}})
    policy("future.npz", {"format": "flywheel-policy", "format_version": 99, "features": {}, "robot": {}})
    policy("other_format.npz", {"format": "something-else"})
    np.savez(root / "nan_weights.npz", header=np.frombuffer(json.dumps(
        {"format": "flywheel-policy", "format_version": 1, "features": {}, "robot": {}}).encode(), np.uint8),
        W0=np.full((2, 2), np.nan, np.float32))
    return root


@pytest.fixture(scope="module")
def not_ray():
    """A TCP port that answers like a web server, not like Ray (ray.init would retry it for minutes)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()


COLLECT = ["collect", "--task", "reach", "--robot", "panda"]
# (case, argv (with {root} and {not_ray} filled in), words the one line must contain)
CASES = [
    ("seed beyond int64", COLLECT + ["-n", "3", "--out", "{root}/o", "--seed", str(2**63)], ["--seed", "2^63-1"]),
    ("seed near int64 max", COLLECT + ["-n", "3", "--out", "{root}/o", "--seed", str(2**63 - 2)], ["--seed"]),
    ("negative seed", COLLECT + ["-n", "3", "--out", "{root}/o", "--seed", "-1"], ["--seed"]),
    ("a trillion episodes", COLLECT + ["-n", "1000000000000", "--out", "{root}/o"], ["--episodes"]),
    ("zero episodes", COLLECT + ["-n", "0", "--out", "{root}/o"], ["--episodes"]),
    ("zero workers", COLLECT + ["-n", "3", "--workers", "0", "--out", "{root}/o"], ["--workers"]),
    ("noise nan", COLLECT + ["-n", "3", "--noise", "nan", "--out", "{root}/o"], ["--noise", "finite"]),
    ("noise inf", COLLECT + ["-n", "3", "--noise", "inf", "--out", "{root}/o"], ["--noise", "finite"]),
    ("negative noise", COLLECT + ["-n", "3", "--noise", "-0.1", "--out", "{root}/o"], ["--noise"]),
    ("beta above 1", COLLECT + ["-n", "3", "--relabel", "expert", "--beta", "2", "--out", "{root}/o"], ["--beta"]),
    ("beta nan", COLLECT + ["-n", "3", "--relabel", "expert", "--beta", "nan", "--out", "{root}/o"], ["--beta"]),
    ("zero max steps", COLLECT + ["-n", "3", "--max-steps", "0", "--out", "{root}/o"], ["--max-steps"]),
    ("zero episode timeout", COLLECT + ["-n", "3", "--episode-timeout", "0", "--out", "{root}/o"], ["episode_timeout"]),
    ("nan episode timeout", COLLECT + ["-n", "3", "--episode-timeout", "nan", "--out", "{root}/o"], ["episode_timeout"]),
    ("zero episodes per file", COLLECT + ["-n", "3", "--episodes-per-file", "0", "--out", "{root}/o"], ["episodes_per_file"]),
    ("unknown task", ["collect", "--task", "fly", "-n", "3", "--out", "{root}/o"], ["unknown task 'fly'"]),
    ("unknown robot", ["collect", "--task", "reach", "--robot", "r2d2", "-n", "3", "--out", "{root}/o"], ["r2d2"]),
    ("missing spec file", ["collect", "--task", "reach", "--robot", "{root}/nope.toml", "-n", "3", "--out", "{root}/o"],
     ["nope.toml"]),
    ("task the robot cannot do", ["collect", "--task", "balance", "--robot", "panda", "-n", "3", "--out", "{root}/o"],
     ["balance"]),
    ("unknown camera", COLLECT + ["-n", "3", "--camera", "nosuch", "--out", "{root}/o"], ["nosuch"]),
    ("out under a file", COLLECT + ["-n", "3", "--out", "{root}/a_file/ds"], ["a_file"]),
    ("out is a file", COLLECT + ["-n", "3", "--out", "{root}/a_file"], ["a_file"]),
    ("out through a symlink loop", COLLECT + ["-n", "3", "--out", "{root}/loop/ds"], ["loop"]),
    ("address that is not Ray", COLLECT + ["-n", "3", "--out", "{root}/o", "--address", "{not_ray}"],
     ["not a Ray cluster"]),
    ("address nobody listens on", COLLECT + ["-n", "3", "--out", "{root}/o", "--address", "127.0.0.1:1"],
     ["cannot reach the Ray cluster"]),
    ("address that is not host:port", COLLECT + ["-n", "3", "--out", "{root}/o", "--address", "ray://"], ["address"]),
    ("missing policy file", COLLECT + ["-n", "3", "--out", "{root}/o", "--policy", "{root}/none.npz"], ["none.npz"]),
    ("random-bytes policy", COLLECT + ["-n", "3", "--out", "{root}/o", "--policy", "{root}/random.npz"],
     ["random.npz", "not a flywheel policy file"]),
    ("text policy", COLLECT + ["-n", "3", "--out", "{root}/o", "--policy", "{root}/text.npz"],
     ["text.npz", "not a flywheel policy file"]),
    ("policy header is a list", COLLECT + ["-n", "3", "--out", "{root}/o", "--policy", "{root}/list_header.npz"],
     ["list_header.npz", "JSON list"]),
    ("policy header without features", COLLECT + ["-n", "3", "--out", "{root}/o", "--policy", "{root}/no_features.npz"],
     ["no_features.npz", "'features'"]),
    ("policy from the future", COLLECT + ["-n", "3", "--out", "{root}/o", "--policy", "{root}/future.npz"],
     ["future.npz", "format_version"]),
    ("policy of another format", COLLECT + ["-n", "3", "--out", "{root}/o", "--policy", "{root}/other_format.npz"],
     ["other_format.npz", "'format'"]),
    ("policy with NaN weights", COLLECT + ["-n", "3", "--out", "{root}/o", "--policy", "{root}/nan_weights.npz"],
     ["nan_weights.npz", "W0"]),
    ("resume where nothing is", COLLECT + ["-n", "3", "--out", "{root}/ds", "--resume"], ["finished dataset"]),
    ("collect into a finished dataset", COLLECT + ["-n", "3", "--out", "{root}/ds"], ["finished dataset"]),
    ("collect over a user's meta/flywheel.json", COLLECT + ["-n", "3", "--out", "{root}/user_meta"], ["not empty"]),
    ("train lr nan", ["train", "{root}/ds", "--out", "{root}/p.npz", "--lr", "nan"], ["--lr", "finite"]),
    ("train lr inf", ["train", "{root}/ds", "--out", "{root}/p.npz", "--lr", "inf"], ["--lr"]),
    ("train lr zero", ["train", "{root}/ds", "--out", "{root}/p.npz", "--lr", "0"], ["--lr"]),
    ("train lr negative", ["train", "{root}/ds", "--out", "{root}/p.npz", "--lr", "-1"], ["--lr"]),
    ("train zero epochs", ["train", "{root}/ds", "--out", "{root}/p.npz", "--epochs", "0"], ["--epochs"]),
    ("train zero batch", ["train", "{root}/ds", "--out", "{root}/p.npz", "--batch-size", "0"], ["--batch-size"]),
    ("train stats with NaN", ["train", "{root}/ds_nan_stats", "--out", "{root}/p.npz", "--epochs", "1"],
     ["stats.json", "observation.state.mean[0]"]),
    ("train from a non-dataset", ["train", "{root}/a_file", "--out", "{root}/p.npz"], ["a_file"]),
    ("train out under a file", ["train", "{root}/ds", "--out", "{root}/a_file/p.npz", "--epochs", "1", "--hidden", "4"],
     ["a_file"]),
    ("loop out is a file", ["loop", "--task", "reach", "--robot", "panda", "--out", "{root}/a_file"], ["a_file"]),
    ("loop lr nan", ["loop", "--task", "reach", "--robot", "panda", "--out", "{root}/l", "--lr", "nan"], ["--lr"]),
    ("loop zero rounds", ["loop", "--task", "reach", "--robot", "panda", "--out", "{root}/l", "--rounds", "0"],
     ["--rounds"]),
    ("loop beta nan", ["loop", "--task", "reach", "--robot", "panda", "--out", "{root}/l", "--beta", "nan"],
     ["--beta"]),
    ("loop overlapping eval seeds", ["loop", "--task", "reach", "--robot", "panda", "--out", "{root}/l",
                                    "--eval-seed", "0"], ["overlap"]),
    ("replay of a file", ["replay", "{root}/a_file"], ["a_file"]),
    ("replay bad episode range", ["replay", "{root}/ds", "--episodes", "x:y"], ["x:y"]),
]


@pytest.mark.parametrize("case, argv, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(material, not_ray, capsys, case, argv, words):
    argv = [a.format(root=material, not_ray=not_ray) for a in argv]
    before = tree_hash(material)
    rc, err = run(capsys, *argv)
    assert rc == 2, (case, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word.format(root=material) in err, (word, err)
    assert tree_hash(material) == before, "the command changed files on disk"
