"""Behaviour cloning: fit a small MLP from dataset observations to actions and save it as one file.

    flywheel train DATASET... --out POLICY.npz [--features native|canonical] [--epochs N] [--hidden 256,256]

What is learned, per feature mode:

=============  ==========================================================  ==================================
mode           inputs (numeric ``observation.*`` present in every dataset)   target
=============  ==========================================================  ==================================
``native``     ``state``, ``ee``, ``base``, ``environment_state``            ``action`` (this robot's joints)
``canonical``  ``ee``, ``ee_mask``, ``environment_state``                    ``action.ee`` (end-effector deltas)
=============  ==========================================================  ==================================

Inputs are normalised with the mean/std of ``meta/stats.json`` (merged over the datasets, weighted by
frame count). Native joint-position targets are learned as residuals ``action - q`` for every action
whose joint appears in ``observation.state`` (one IK step is a small move from the current pose, so the
residual is what carries the information), and outputs are normalised with the targets' own mean/std.
``observation.environment_state`` holds the objects then the goal; datasets of flywheel format 1
(``observation.env_state`` and ``observation.goal``) are read as that one feature (`flywheel.datasets.legacy`).

The model is plain numpy (Adam, minibatches, cosine learning-rate decay), seeded and deterministic on a
given machine. The trainer is pluggable (``TRAINERS``; ``--trainer torch`` imports torch only when
chosen); every trainer returns the same list of weight matrices, so a saved policy always runs on numpy
alone (`flywheel.collectors.policies.learned`).

The saved file is a ``.npz`` holding the weights, the normalisation arrays and a JSON ``header`` (feature
names, normalisation, action names, robot name and hashes, the datasets trained on, the feature mode and
the training settings), readable without pickle.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from flywheel.canonical import ENV_STATE_KEY
from flywheel.collectors.learning.policy_file import POLICY_FORMAT, POLICY_FORMAT_VERSION, save_policy

FEATURE_MODES = ("native", "canonical")
NATIVE_INPUTS = ("observation.state", "observation.ee", "observation.base", ENV_STATE_KEY)
CANONICAL_INPUTS = ("observation.ee", "observation.ee_mask", ENV_STATE_KEY)
TARGETS = {"native": "action", "canonical": "action.ee"}
STATE_KEY = "observation.state"
MIN_STD = 1e-6  # a feature flatter than this (a mask, an absent hand) is centred but not scaled


class TrainError(ValueError):
    """Training data that cannot make a policy: incompatible datasets, missing features."""


# ---- configuration --------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    features: str = "native"  # native | canonical
    inputs: Sequence[str] | None = None  # observation features; None: the mode's defaults present in every dataset
    hidden: tuple[int, ...] = (256, 256)
    activation: str = "relu"  # relu | tanh
    epochs: int = 150
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    residual: bool = True  # native joint targets as action - q
    trainer: str = "numpy"
    blas_threads: int | None = 1  # small matrices: one BLAS thread is fastest (and fair to other processes); None: leave as is

    def check(self) -> None:
        """Every option checked before any data is read: a NaN learning rate would train a NaN policy."""
        if self.features not in FEATURE_MODES:
            raise TrainError(f"unknown feature mode {self.features!r}; use one of {', '.join(FEATURE_MODES)}")
        if self.activation not in ACTIVATIONS:
            raise TrainError(f"unknown activation {self.activation!r}; use one of {', '.join(ACTIVATIONS)}")

        def is_int(v) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        for name, low, high in (("epochs", 1, 1_000_000), ("batch_size", 1, 1 << 24), ("seed", 0, 2**63 - 1)):
            value = getattr(self, name)
            if not is_int(value) or not low <= value <= high:
                raise TrainError(f"--{name.replace('_', '-')} must be an integer from {low} to {high}, got {value!r}")
        if not self.hidden or not all(is_int(h) and 1 <= h <= 65536 for h in self.hidden):
            raise TrainError(f"--hidden must be layer sizes from 1 to 65536 (e.g. 256,256), got {self.hidden!r}")
        for name, low, high in (("lr", 0.0, 10.0), ("weight_decay", 0.0, 10.0)):
            value = getattr(self, name)
            ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or not (low < value <= high if name == "lr" else low <= value <= high):
                raise TrainError(f"--{name.replace('_', '-')} must be a finite number "
                                 f"{'in (0' if name == 'lr' else 'in [0'}, {high}], got {value!r}")


# ---- the model: a plain MLP, numpy forward pass shared by trainers and the deployed policy ---------
def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"relu": _relu, "tanh": np.tanh}


def mlp_forward(weights: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray, activation: str = "relu") -> np.ndarray:
    """``x`` (N, D_in) or (D_in,) through the MLP; the last layer is linear."""
    act = ACTIVATIONS[activation]
    h = x
    for W, b in weights[:-1]:
        h = act(h @ W + b)
    W, b = weights[-1]
    return h @ W + b


def init_mlp(sizes: Sequence[int], rng: np.random.Generator, activation: str) -> list[tuple[np.ndarray, np.ndarray]]:
    weights = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        gain = 2.0 if activation == "relu" and not last else 1.0
        W = rng.normal(0.0, np.sqrt(gain / n_in), size=(n_in, n_out))
        if last:
            W *= 0.1  # start near the mean action
        weights.append((W.astype(np.float32), np.zeros(n_out, np.float32)))
    return weights


@dataclass
class FitResult:
    weights: list[tuple[np.ndarray, np.ndarray]]
    losses: list[float]  # mean training loss per epoch (normalised units)


class NumpyTrainer:
    """MSE regression with Adam on minibatches, in float32 numpy; fully determined by ``config.seed``."""

    name = "numpy"

    def fit(self, x: np.ndarray, y: np.ndarray, config: TrainConfig, log: Callable[[str], None] | None = None) -> FitResult:
        rng = np.random.default_rng(config.seed)
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.float32)
        n = len(x)
        sizes = [x.shape[1], *config.hidden, y.shape[1]]
        weights = init_mlp(sizes, rng, config.activation)
        params = [p for layer in weights for p in layer]
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        b1, b2, eps = 0.9, 0.999, 1e-8
        batch = min(config.batch_size, n)
        steps_per_epoch = max(1, -(-n // batch))
        total_steps = config.epochs * steps_per_epoch
        relu = config.activation == "relu"
        losses: list[float] = []
        step = 0
        for epoch in range(config.epochs):
            order = rng.permutation(n)
            epoch_loss = 0.0
            for s in range(steps_per_epoch):
                idx = order[s * batch:(s + 1) * batch]
                xb, yb = x[idx], y[idx]
                # forward, keeping activations
                hs = [xb]
                for W, b in weights[:-1]:
                    z = hs[-1] @ W + b
                    hs.append(np.maximum(z, 0.0) if relu else np.tanh(z))
                W, b = weights[-1]
                out = hs[-1] @ W + b
                diff = out - yb
                epoch_loss += float(np.mean(diff * diff)) * len(idx)
                # backward
                grad = (2.0 / diff.size) * diff
                grads: list[np.ndarray] = []
                for layer in range(len(weights) - 1, -1, -1):
                    W, _ = weights[layer]
                    gW = hs[layer].T @ grad
                    gb = grad.sum(axis=0)
                    grads = [gW, gb] + grads
                    if layer:
                        grad = grad @ W.T
                        h = hs[layer]
                        grad = grad * (h > 0) if relu else grad * (1.0 - h * h)
                # Adam with cosine decay
                step += 1
                lr = float(config.lr * 0.5 * (1.0 + np.cos(np.pi * (step - 1) / total_steps)))
                c1, c2 = 1.0 - b1 ** step, 1.0 - b2 ** step
                for i, (p, g) in enumerate(zip(params, grads)):
                    if config.weight_decay and i % 2 == 0:
                        g = g + config.weight_decay * p
                    m[i] *= b1
                    m[i] += (1 - b1) * g
                    v[i] *= b2
                    v[i] += (1 - b2) * (g * g)
                    p -= (lr * (m[i] / c1) / (np.sqrt(v[i] / c2) + eps)).astype(np.float32)
            losses.append(epoch_loss / n)
            if log and (epoch + 1) % max(1, config.epochs // 10) == 0:
                log(f"epoch {epoch + 1}/{config.epochs}: loss {losses[-1]:.5f}")
        return FitResult([(params[2 * i], params[2 * i + 1]) for i in range(len(weights))], losses)


class TorchTrainer:
    """The same MLP and loss trained with torch (optional; torch is imported only when this trainer runs)."""

    name = "torch"

    def fit(self, x: np.ndarray, y: np.ndarray, config: TrainConfig, log: Callable[[str], None] | None = None) -> FitResult:
        try:
            import torch
        except ImportError:
            raise TrainError("--trainer torch needs PyTorch (pip install torch); the default numpy trainer does not") from None
        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(config.seed)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        act = torch.nn.ReLU if config.activation == "relu" else torch.nn.Tanh
        sizes = [x.shape[1], *config.hidden, y.shape[1]]
        layers: list[Any] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(act())
        model = torch.nn.Sequential(*layers).to(device)
        xt = torch.as_tensor(np.asarray(x, np.float32), device=device)
        yt = torch.as_tensor(np.asarray(y, np.float32), device=device)
        n, batch = len(xt), min(config.batch_size, len(xt))
        steps_per_epoch = max(1, -(-n // batch))
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs * steps_per_epoch)
        losses: list[float] = []
        for epoch in range(config.epochs):
            order = torch.randperm(n, generator=gen).to(device)
            total = 0.0
            for s in range(steps_per_epoch):
                idx = order[s * batch:(s + 1) * batch]
                loss = torch.nn.functional.mse_loss(model(xt[idx]), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss) * len(idx)
            losses.append(total / n)
            if log and (epoch + 1) % max(1, config.epochs // 10) == 0:
                log(f"epoch {epoch + 1}/{config.epochs}: loss {losses[-1]:.5f}")
        linear = [m for m in model if isinstance(m, torch.nn.Linear)]
        weights = [(m.weight.detach().cpu().numpy().T.astype(np.float32).copy(), m.bias.detach().cpu().numpy().astype(np.float32).copy())
                   for m in linear]
        return FitResult(weights, losses)


TRAINERS: dict[str, Callable[[], Any]] = {"numpy": NumpyTrainer, "torch": TorchTrainer}


def register_trainer(name: str, factory: Callable[[], Any]) -> None:
    """Add a trainer: ``factory()`` returns an object with ``fit(x, y, config, log) -> FitResult``."""
    TRAINERS[name] = factory


def get_trainer(name: str):
    if name not in TRAINERS:
        raise TrainError(f"unknown trainer {name!r}; available: {', '.join(TRAINERS)}")
    return TRAINERS[name]()


# ---- data ---------------------------------------------------------------------------------------
@dataclass
class TrainingData:
    x: np.ndarray  # (N, D_in) raw inputs, float32
    y: np.ndarray  # (N, D_out) raw targets (residuals where chosen), float32
    inputs: list[dict[str, Any]]  # per input feature: key, dim, names
    target: dict[str, Any]  # key, dim, names
    residual: list[tuple[int, int]]  # (action index, observation.state index) pairs
    obs_mean: np.ndarray
    obs_std: np.ndarray
    datasets: list[dict[str, Any]] = field(default_factory=list)
    robot: dict[str, Any] = field(default_factory=dict)
    task: str | None = None
    control_mode: str | None = None
    episodes: int = 0


def _pooled_stats(stats: list[dict[str, dict[str, np.ndarray]]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of ``key`` over several datasets' stats.json, weighted by frame count."""
    counts = np.array([float(np.asarray(s[key]["count"]).ravel()[0]) for s in stats])
    means = np.stack([np.asarray(s[key]["mean"], np.float64) for s in stats])
    stds = np.stack([np.asarray(s[key]["std"], np.float64) for s in stats])
    w = counts / counts.sum()
    mean = (w[:, None] * means).sum(axis=0)
    var = (w[:, None] * (stds ** 2 + (means - mean) ** 2)).sum(axis=0)
    return mean, np.sqrt(var)


def _names(ds, key: str) -> list[str] | None:
    names = ds.features[key].get("names")
    return list(names) if names is not None else None


def spec_sha256(spec: dict[str, Any], model_hash: str | None = None) -> str:
    """A hash of a robot spec's content (``RobotSpec.to_dict()``: joints, limits, gains, end-effectors...) and
    of its model file, so a policy can tell that a robot of the same name has changed."""
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(f"{text}\n{model_hash or ''}".encode()).hexdigest()


def robot_hashes(spec) -> dict[str, str | None]:
    """``spec_sha256`` and ``model_sha256`` of a live `RobotSpec` (what `load_policy` compares)."""
    try:
        model = spec.model_hash()
    except OSError:
        model = None
    spec_dict = json.loads(json.dumps(spec.to_dict(), default=str))
    return {"spec_sha256": spec_sha256(spec_dict, model), "model_sha256": model}


def _robot_record(datasets: list, mode: str) -> dict[str, Any]:
    """What the policy remembers about the robot(s) it learned from (from meta/flywheel.json)."""
    names = sorted({ds.robot_type or "?" for ds in datasets})
    record: dict[str, Any] = {"name": names[0] if len(names) == 1 else None, "trained_on": names,
                              "spec_sha256": None, "model_sha256": None}
    if len(names) == 1:
        meta = datasets[0].flywheel.get("robot", {}) if isinstance(datasets[0].flywheel, dict) else {}
        model = meta.get("model_hash") or meta.get("model_sha256")
        record["model_sha256"] = model
        if isinstance(meta.get("spec"), dict):
            record["spec_sha256"] = spec_sha256(meta["spec"], model)
    return record


def load_training_data(paths: Sequence[str | os.PathLike], config: TrainConfig) -> TrainingData:
    """Every frame of the datasets at ``paths`` as (inputs, targets), checked for compatibility."""
    from flywheel import datasets as fd

    if not paths:
        raise TrainError("no datasets given")
    from flywheel.datasets.legacy import CurrentView

    dss = [CurrentView(fd.open(p)) for p in paths]  # older flywheel formats read as the current one
    try:
        return _load(dss, config)
    finally:
        for ds in dss:
            ds.close()


def _load(dss: list, config: TrainConfig) -> TrainingData:
    mode = config.features
    target_key = TARGETS[mode]
    for ds in dss:
        if target_key not in ds.features:
            raise TrainError(f"dataset {ds.root} has no {target_key!r} feature, needed for --features {mode}")
    robots_seen = sorted({ds.robot_type or "?" for ds in dss})
    if mode == "native" and len(robots_seen) > 1:
        raise TrainError(f"datasets of different robots ({', '.join(robots_seen)}) share no native joint space; "
                         "train on the cross-embodiment features with --features canonical")
    if config.inputs:
        inputs = [k if k.startswith("observation.") else f"observation.{k}" for k in config.inputs]
        for ds in dss:
            missing = [k for k in inputs if k not in ds.features]
            if missing:
                raise TrainError(f"dataset {ds.root} has no feature(s) {', '.join(missing)}")
    else:
        defaults = NATIVE_INPUTS if mode == "native" else CANONICAL_INPUTS
        inputs = [k for k in defaults if all(k in ds.features for ds in dss)]
    if not inputs:
        raise TrainError("no observation features to learn from")
    for ds in dss:
        bad = [k for k in inputs if ds.features[k]["dtype"] in ("image", "bool") or len(ds.features[k]["shape"]) != 1]
        if bad:
            raise TrainError(f"only numeric vector observations can be inputs; {', '.join(bad)} are not")
    # every dataset must agree on what each input and the target mean
    first = dss[0]
    for key in [*inputs, target_key]:
        want = (first.features[key]["shape"], first.features[key].get("names"))
        for ds in dss[1:]:
            got = (ds.features[key]["shape"], ds.features[key].get("names"))
            if got != want:
                raise TrainError(f"feature {key!r} differs between {first.root} ({want[0]}, names {want[1]}) and "
                                 f"{ds.root} ({got[0]}, names {got[1]})")
    residual: list[tuple[int, int]] = []
    if mode == "native" and config.residual and STATE_KEY in first.features:
        state_names = _names(first, STATE_KEY) or []
        index = {n: i for i, n in enumerate(state_names)}
        for a, name in enumerate(_names(first, target_key) or []):
            if f"q.{name}" in index:
                residual.append((a, index[f"q.{name}"]))
    columns = sorted(set(inputs) | {target_key} | ({STATE_KEY} if residual else set()))
    xs, ys = [], []
    episodes = 0
    for ds in dss:
        for ep in ds.iter_episodes(columns):
            x = np.concatenate([np.asarray(ep[k], np.float32).reshape(len(ep[k]), -1) for k in inputs], axis=1)
            y = np.asarray(ep[target_key], np.float32).reshape(len(x), -1).copy()
            if residual:
                a_idx, s_idx = map(list, zip(*residual))
                y[:, a_idx] -= np.asarray(ep[STATE_KEY], np.float32)[:, s_idx]
            xs.append(x)
            ys.append(y)
            episodes += 1
    if not xs:
        raise TrainError("the datasets hold no episodes")
    x, y = np.concatenate(xs), np.concatenate(ys)
    stats = [ds.stats for ds in dss]
    means, stds = [], []
    for key in inputs:
        try:
            mean, std = _pooled_stats(stats, key)
        except KeyError:
            raise TrainError(f"meta/stats.json of a dataset has no mean/std/count for {key!r}") from None
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            bad = next(ds.root for ds, st in zip(dss, stats) if not all(
                np.isfinite(np.asarray(st[key][f], np.float64)).all() for f in ("mean", "std", "count")))
            raise TrainError(f"{bad}/meta/stats.json: field {key!r} holds NaN or inf; the stats are damaged: "
                             "recompute them (flywheel dataset validate names the problem) before training")
        means.append(mean)
        stds.append(std)
    obs_mean = np.concatenate(means).astype(np.float32)
    obs_std = np.concatenate(stds).astype(np.float32)
    modes = {ds.flywheel.get("config", {}).get("control_mode") for ds in dss if isinstance(ds.flywheel.get("config"), dict)}
    modes.discard(None)
    if mode == "native" and len(modes) > 1:
        raise TrainError(f"datasets were collected with different control modes ({', '.join(sorted(modes))}); "
                         "their native actions mean different things")
    task_names = sorted({t for ds in dss for t in ds.tasks})
    meta_task = {ds.flywheel.get("task", {}).get("name") for ds in dss if isinstance(ds.flywheel.get("task"), dict)}
    return TrainingData(
        x=x, y=y,
        inputs=[{"key": k, "dim": int(first.features[k]["shape"][0]), "names": _names(first, k)} for k in inputs],
        target={"key": target_key, "dim": int(first.features[target_key]["shape"][0]), "names": _names(first, target_key)},
        residual=residual, obs_mean=obs_mean, obs_std=obs_std,
        datasets=[{"path": str(Path(ds.root).resolve()), "robot": ds.robot_type, "tasks": ds.tasks,
                   "episodes": len(ds), "frames": ds.num_frames} for ds in dss],
        robot=_robot_record(dss, mode),
        task=meta_task.pop() if len(meta_task) == 1 else (task_names[0] if len(task_names) == 1 else None),
        control_mode=modes.pop() if len(modes) == 1 else None,
        episodes=episodes,
    )


# ---- train and save -------------------------------------------------------------------------------
def _safe_std(std: np.ndarray) -> np.ndarray:
    std = np.asarray(std, np.float32)
    return np.where(std > MIN_STD, std, 1.0).astype(np.float32)


class blas_threads:
    """Context manager: run with ``n`` BLAS threads (None or 0: leave them as they are).

    Through threadpoolctl, which finds every BLAS/OpenMP runtime loaded in the process (OpenBLAS, MKL, BLIS,
    on Linux, macOS and Windows) and restores the previous limits on exit; it replaced reading
    ``/proc/self/maps`` and calling OpenBLAS's setters through ctypes, which knew only OpenBLAS on Linux.
    """

    def __init__(self, n: int | None):
        self.n = n
        self._limits = None

    def __enter__(self):
        if self.n:
            from threadpoolctl import threadpool_limits

            self._limits = threadpool_limits(limits=int(self.n), user_api="blas")
        return self

    def __exit__(self, *exc) -> None:
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None


def train(paths: Sequence[str | os.PathLike], out: str | os.PathLike, config: TrainConfig | None = None,
          log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fit a policy on the datasets at ``paths`` and save it to ``out``; returns the saved header."""
    config = config or TrainConfig()
    config.check()
    trainer = get_trainer(config.trainer)
    start = time.perf_counter()
    data = load_training_data(paths, config)
    obs_std = _safe_std(data.obs_std)
    act_mean = data.y.mean(axis=0).astype(np.float32)
    act_std = _safe_std(data.y.std(axis=0))
    xn = (data.x - data.obs_mean) / obs_std
    yn = (data.y - act_mean) / act_std
    if log:
        log(f"training on {len(data.x)} frames from {data.episodes} episodes ({len(data.datasets)} dataset(s)), "
            f"{xn.shape[1]} inputs -> {yn.shape[1]} outputs, {config.features} features, trainer {trainer.name}")
    with blas_threads(config.blas_threads):
        fit = trainer.fit(xn, yn, config, log)
    header = {
        "format": POLICY_FORMAT,
        "format_version": POLICY_FORMAT_VERSION,
        "model": {"kind": "mlp", "layers": [int(xn.shape[1]), *map(int, config.hidden), int(yn.shape[1])],
                  "activation": config.activation},
        "features": config.features,
        "inputs": data.inputs,
        "target": data.target,
        "residual": [list(p) for p in data.residual],
        "normalisation": "inputs: mean/std from meta/stats.json (pooled); outputs: mean/std of the training targets",
        "robot": data.robot,
        "task": data.task,
        "control_mode": data.control_mode if config.features == "native" else "ee_delta",
        "datasets": data.datasets,
        "training": {"trainer": trainer.name, "epochs": config.epochs, "hidden": list(config.hidden),
                     "batch_size": config.batch_size, "lr": config.lr, "weight_decay": config.weight_decay,
                     "seed": config.seed, "frames": int(len(data.x)), "episodes": data.episodes,
                     "final_loss": fit.losses[-1], "loss_curve": [round(v, 6) for v in fit.losses[:: max(1, len(fit.losses) // 50)]],
                     "seconds": round(time.perf_counter() - start, 2)},
        "code_version": _code_version(),
    }
    # The range of the targets seen in training, widened by a quarter: the deployed policy clips its outputs to it,
    # so a state far from the data cannot make it command a joint jump the expert never made (that flung cubes
    # metres away in pick_place); a target mean or residual outside the data is extrapolation, not skill.
    low, high = data.y.min(axis=0), data.y.max(axis=0)
    margin = 0.25 * (high - low) + 1e-3
    arrays = {"obs_mean": data.obs_mean, "obs_std": obs_std, "act_mean": act_mean, "act_std": act_std,
              "out_low": (low - margin).astype(np.float32), "out_high": (high + margin).astype(np.float32)}
    save_policy(out, header, fit.weights, arrays)
    if log:
        log(f"saved {out} (final loss {fit.losses[-1]:.5f}, {header['training']['seconds']} s)")
    return header


def _code_version() -> str:
    try:
        from importlib import metadata

        return metadata.version("flywheel")
    except Exception:
        return "0.0.0+local"
