"""Collection across a real two-node Ray cluster on one machine (two raylets on loopback, token authentication on):
both nodes make episodes, the per-worker figures name each worker's node, and the dataset equals a single-node run
of the same seeds, byte for byte."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flywheel import datasets

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))
N, SEED = 24, 4242


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_cpus(address: str, env: dict) -> float:
    probe = ("import ray, logging; ray.init(address=%r, logging_level=logging.ERROR, log_to_driver=False); "
             "print(ray.cluster_resources().get('CPU', 0)); ray.shutdown()" % address)
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    try:
        return float(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0.0


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    if not os.path.exists(RAY):
        pytest.skip("the ray command is not installed beside this Python")
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats", "--block"]
    nodes = [subprocess.Popen([RAY, "start", "--head", "--port", str(port), "--include-dashboard=false", *common],
                              env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 120
        while cluster_cpus(address, env) < 1:  # state, not time: the head answers and has its CPU
            assert time.monotonic() < deadline and nodes[0].poll() is None, "the head node did not start"
        nodes.append(subprocess.Popen([RAY, "start", "--address", address, *common], env=env, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        while cluster_cpus(address, env) < 2:  # the second raylet has joined
            assert time.monotonic() < deadline and nodes[1].poll() is None, "the second node did not join"
        yield address, env
    finally:
        for node in reversed(nodes):
            try:
                os.killpg(node.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for node in reversed(nodes):
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()


def collect(env: dict, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flywheel", "collect", "--task", "reach", "--robot", "panda", "-n", str(N),
                           "--seed", str(SEED), "--workers", "2", "--out", str(out), "--quiet", *extra],
                          capture_output=True, text=True, env=env, timeout=600)


def data_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "data").rglob("*.parquet"))}


def test_collection_spreads_over_two_nodes_and_equals_a_single_node_run(two_nodes, tmp_path):
    address, env = two_nodes
    spread = tmp_path / "two_nodes"
    r = collect(env, spread, "--address", address)
    assert r.returncode == 0, r.stderr[-2000:]
    assert datasets.validate(spread) == []
    workers = json.loads((spread / "meta" / "flywheel.json").read_text())["runs"][-1]["workers"]
    per_node: dict[str, int] = {}
    for w in workers:
        assert w["node_id"] and w["host"], w
        per_node[w["node_id"]] = per_node.get(w["node_id"], 0) + w["episodes"]
    assert len(per_node) == 2 and all(n > 0 for n in per_node.values()), per_node

    local_env = {k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN"}
    single = tmp_path / "one_node"
    r = collect(local_env, single)
    assert r.returncode == 0, r.stderr[-2000:]
    assert data_digest(spread) == data_digest(single)


def test_more_workers_than_the_cluster_can_place_is_refused_at_once(two_nodes, tmp_path):
    address, env = two_nodes
    out = tmp_path / "too_many"
    r = subprocess.run([sys.executable, "-m", "flywheel", "collect", "--task", "reach", "-n", "4", "--workers", "3",
                        "--address", address, "--out", str(out), "--quiet"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 2
    assert "--workers 3 needs 3 CPUs, and the Ray cluster at" in r.stderr and "has 2" in r.stderr
    assert not out.exists()  # nothing was left behind
