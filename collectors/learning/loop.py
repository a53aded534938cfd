"""The data flywheel: collect -> train -> deploy -> relabel -> retrain, round after round.

    flywheel loop --task reach --robot panda --rounds 3 --episodes-per-round 100 --out runs/reach_panda

Round 0 collects expert demonstrations (through `collect`, Ray workers). Every round r >= 1 then

1. trains a policy on every dataset collected so far (`flywheel.collectors.learning.train`),
2. evaluates that policy *alone* on held-out seeds (``eval_seed``... , disjoint from every training seed) with
   `flywheel.collectors.learning.evaluate` (what ``flywheel eval`` runs: same seeds, same numbers), collected by
   the same Ray workers into ``eval/round-RRR`` so the success rate is on disk and re-checkable (``flywheel replay``),
3. deploys it with DAgger relabelling to collect the next dataset: the learned policy drives (the expert
   with probability beta_r = beta * beta_decay^(r-1)), the scripted expert labels every visited state, and
   the dataset stores the expert's label as ``action``,

and the next round aggregates. Seeds: round r's episode k runs from ``seed + r * episodes_per_round + k``;
evaluation episode k from ``eval_seed + k``.

Output folder::

    data/round-000/ ...          one LeRobot v3 dataset per round (round 0: expert; then relabelled)
    policies/round-001.npz ...   the policy trained in each round
    eval/round-001/ ...          the held-out evaluation episodes of each round's policy
    loop.json                    per round: success_rate, episodes, frames, dataset, policy, ... (written after every round)
    loop.md, loop.png            the table and the chart (matplotlib, when installed)
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from flywheel.collectors.learning.train import TrainConfig

from flywheel.collectors.learning.evaluate import EVAL_SEED  # noqa: F401 - the loop's default, defined once there


class LoopError(ValueError):
    """Bad loop settings or an output folder that would be overwritten."""


@dataclass
class LoopConfig:
    task: str = "reach"
    robot: str = "panda"
    rounds: int = 3
    episodes_per_round: int = 100
    out: str = "flywheel_loop"
    workers: int = 2
    eval_episodes: int = 100
    seed: int = 0
    eval_seed: int = EVAL_SEED
    beta: float = 0.0
    beta_decay: float = 0.5
    features: str = "native"
    control_mode: str | None = None  # None: joint_pos for native features, ee_delta for canonical
    epochs: int = 150
    hidden: tuple[int, ...] = (256, 256)
    batch_size: int = 128
    lr: float = 1e-3
    trainer: str = "numpy"
    noise: float = 0.0  # expert noise in round 0
    resume: bool = False
    address: str | None = None
    quiet: bool = True

    def check(self) -> None:
        from flywheel.collectors.collection.config import MAX_SEED
        from flywheel.collectors.learning.train import FEATURE_MODES, TrainError

        def is_int(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        for name in ("rounds", "episodes_per_round", "eval_episodes", "workers", "seed", "eval_seed"):
            value = getattr(self, name)
            if not is_int(value) or not 0 <= value <= MAX_SEED:
                raise LoopError(f"--{name.replace('_', '-')} must be a non-negative integer, got {value!r}")
        for name in ("beta", "beta_decay", "noise"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise LoopError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {value!r}")
        try:
            self.train_config().check()
        except TrainError as err:
            raise LoopError(str(err)) from None
        if self.rounds < 1:
            raise LoopError("--rounds must be >= 1 (round 0 collects expert data, rounds 1.. train and deploy)")
        if self.episodes_per_round < 1 or self.eval_episodes < 1 or self.workers < 1:
            raise LoopError("--episodes-per-round, --eval-episodes and --workers must be >= 1")
        if self.features not in FEATURE_MODES:
            raise LoopError(f"--features must be one of {', '.join(FEATURE_MODES)}")
        if not 0.0 <= self.beta <= 1.0 or not 0.0 <= self.beta_decay <= 1.0:
            raise LoopError("--beta and --beta-decay must be in [0, 1]")
        if self.mode() == "joint_pos" and self.features == "canonical":
            raise LoopError("canonical features drive end-effector deltas: use --control-mode ee_delta (the default for them)")
        last_train_seed = self.seed + (self.rounds + 1) * self.episodes_per_round
        if self.seed < self.eval_seed + self.eval_episodes and self.eval_seed < last_train_seed:
            raise LoopError(f"evaluation seeds {self.eval_seed}..{self.eval_seed + self.eval_episodes - 1} overlap the "
                            f"training seeds {self.seed}..{last_train_seed - 1}; choose another --seed or --eval-seed")

    def train_config(self, round_index: int = 1) -> "TrainConfig":
        """The training options of round ``round_index`` (its own seed)."""
        from flywheel.collectors.learning.train import TrainConfig

        return TrainConfig(features=self.features, hidden=tuple(self.hidden), epochs=self.epochs,
                           batch_size=self.batch_size, lr=self.lr, seed=self.seed + round_index, trainer=self.trainer)

    def mode(self) -> str:
        return self.control_mode or ("ee_delta" if self.features == "canonical" else "joint_pos")

    def beta_for(self, r: int) -> float:
        return float(self.beta * self.beta_decay ** (r - 1)) if r >= 1 else 1.0


# ---- deployment with relabelling -------------------------------------------------------------------
def collect_relabelled(cfg: LoopConfig, policy_path: Path, out: Path, seed: int, beta: float) -> dict[str, Any]:
    """Deploy ``policy_path`` with expert relabelling into the dataset ``out`` (Ray workers); what `collect` reports."""
    from flywheel.collectors.collection.collect import collect

    s = collect(cfg.task, cfg.robot, cfg.episodes_per_round, out=out, workers=cfg.workers, seed=seed,
                policy=str(policy_path), relabel="expert", beta=beta, control_mode=cfg.mode(),
                resume=cfg.resume and out.exists(), quiet=cfg.quiet)
    return {"collector": "ray", "success_rate": s.success_rate, "seconds": s.elapsed}


def held_out(cfg: LoopConfig, policy: str, path: Path):
    """The policy alone on the loop's held-out seeds, kept in ``path``: `evaluate`, the code of ``flywheel eval``."""
    from flywheel.collectors.learning.evaluate import evaluate

    return evaluate(policy, cfg.task, cfg.robot, cfg.eval_episodes, workers=cfg.workers, seed=cfg.eval_seed,
                    control_mode=cfg.mode(), out=path, resume=cfg.resume, address=cfg.address, quiet=cfg.quiet)


# ---- the loop ---------------------------------------------------------------------------------------
@dataclass
class LoopState:
    config: dict[str, Any]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    expert_success_rate: float | None = None
    started: str = ""
    seconds: float = 0.0


def _finished(path: Path) -> bool:
    return (path / "meta" / "info.json").exists()


def _dataset_figures(path: Path) -> dict[str, Any]:
    from flywheel import datasets as fd

    ds = fd.open(path)
    try:
        return {"episodes": len(ds), "frames": ds.num_frames, "success_rate": ds.success_rate}
    finally:
        ds.close()


def run_loop(cfg: LoopConfig, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the flywheel; returns the content of ``loop.json`` (also written after every round)."""
    from flywheel.collectors.collection import actor_pool
    from flywheel.collectors.collection.collect import collect
    from flywheel.collectors.learning.train import train

    cfg.check()
    log = log or (lambda msg: None)
    out = Path(cfg.out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise LoopError(f"--out {out} is a file; the loop writes a folder of datasets and policies: choose another path")
    if out.exists() and any(out.iterdir()) and not cfg.resume:
        raise LoopError(f"{out} is not empty; pass --resume to continue the loop there, or choose another --out")
    previous = out / "loop.json"
    if cfg.resume and previous.exists():
        before = json.loads(previous.read_text()).get("config", {})
        now = {**asdict(cfg), "control_mode": cfg.mode()}
        fixed = ("task", "robot", "episodes_per_round", "seed", "eval_seed", "eval_episodes", "features", "control_mode")
        changed = [k for k in fixed if k in before and before[k] != now[k]]
        if changed:
            raise LoopError(f"--resume: {', '.join(f'{k} was {before[k]!r}, now {now[k]!r}' for k in changed)}; "
                            f"a resumed loop must keep them (or use another --out)")
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    state = LoopState(config={**asdict(cfg), "out": str(out), "control_mode": cfg.mode()},
                      started=time.strftime("%Y-%m-%dT%H:%M:%S"))
    N = cfg.episodes_per_round
    started_ray = actor_pool.connect(cfg.address, workers=cfg.workers)  # one Ray for every collect call of the loop
    try:
        def run_collect(path: Path, **kw) -> None:
            if _finished(path):
                return  # --resume: this step was done
            collect(cfg.task, cfg.robot, out=path, workers=cfg.workers, control_mode=cfg.mode(),
                    resume=path.exists(), quiet=cfg.quiet, **kw)

        # round 0: expert demonstrations, and the expert's own success on the held-out seeds (the ceiling)
        t0 = time.time()
        data0 = out / "data" / "round-000"
        run_collect(data0, episodes=N, seed=cfg.seed, policy="expert", noise=cfg.noise)
        eval0 = out / "eval" / "expert"
        state.expert_success_rate = held_out(cfg, "expert", eval0).success_rate
        figures = _dataset_figures(data0)
        state.rounds.append({"round": 0, "policy": None, "driver": "expert", "success_rate": None, "beta": 1.0,
                             "dataset": str(data0), "episodes": figures["episodes"], "frames": figures["frames"],
                             "collect_success_rate": figures["success_rate"], "seeds": [cfg.seed, cfg.seed + N - 1],
                             "total_episodes": figures["episodes"], "total_frames": figures["frames"],
                             "seconds": round(time.time() - t0, 2)})
        log(f"round 0: {figures['episodes']} expert episodes ({figures['frames']} frames), expert held-out success "
            f"{state.expert_success_rate:.0%}")
        _write_outputs(out, state, t_start)
        datasets = [data0]
        for r in range(1, cfg.rounds + 1):
            t0 = time.time()
            policy_path = out / "policies" / f"round-{r:03d}.npz"
            if not (cfg.resume and policy_path.exists()):
                header = train([str(d) for d in datasets], policy_path, cfg.train_config(r))
            else:
                from flywheel.collectors.learning.policy_file import read_policy

                header = read_policy(policy_path)[0]
            t_train = time.time() - t0
            eval_path = out / "eval" / f"round-{r:03d}"
            ev = held_out(cfg, str(policy_path), eval_path)
            data_path = out / "data" / f"round-{r:03d}"
            beta = cfg.beta_for(r)
            seed_r = cfg.seed + r * N
            if _finished(data_path):
                collected = {"collector": "resumed", "success_rate": None}
            else:
                collected = collect_relabelled(cfg, policy_path, data_path, seed_r, beta)
            figures = _dataset_figures(data_path)
            datasets.append(data_path)
            tr = header["training"]
            state.rounds.append({
                "round": r, "policy": str(policy_path), "driver": "learned + expert labels", "beta": beta,
                "success_rate": ev.success_rate, "success_interval": [round(x, 4) for x in ev.interval],
                "eval_episodes": ev.episodes, "eval_dataset": str(eval_path),
                "eval_seeds": [cfg.eval_seed, cfg.eval_seed + cfg.eval_episodes - 1],
                "trained_on": {"datasets": len(header["datasets"]), "episodes": tr["episodes"], "frames": tr["frames"],
                               "final_loss": tr["final_loss"], "seconds": round(t_train, 2)},
                "dataset": str(data_path), "episodes": figures["episodes"], "frames": figures["frames"],
                "collect_success_rate": figures["success_rate"], "collector": collected["collector"],
                "seeds": [seed_r, seed_r + N - 1],
                "total_episodes": sum(x["episodes"] for x in state.rounds) + figures["episodes"],
                "total_frames": sum(x["frames"] for x in state.rounds) + figures["frames"],
                "seconds": round(time.time() - t0, 2),
            })
            log(f"round {r}: policy trained on {tr['episodes']} episodes ({tr['frames']} frames) -> held-out success "
                f"{ev.success_rate:.0%} [{ev.interval[0]:.0%}, {ev.interval[1]:.0%}] ({ev.episodes} seeds); deployed with beta {beta:g}: "
                f"{figures['episodes']} relabelled episodes ({figures['frames']} frames)")
            _write_outputs(out, state, t_start)
    finally:
        if started_ray:
            import ray

            ray.shutdown()
    return _write_outputs(out, state, t_start)


# ---- reports ----------------------------------------------------------------------------------------
def _write_outputs(out: Path, state: LoopState, t_start: float) -> dict[str, Any]:
    state.seconds = round(time.time() - t_start, 2)
    doc = asdict(state)
    tmp = out / f".loop.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, out / "loop.json")
    (out / "loop.md").write_text(markdown_table(doc) + "\n")
    chart(doc, out / "loop.png")
    return doc


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def markdown_table(doc: dict[str, Any]) -> str:
    cfg = doc["config"]
    lines = [
        f"Flywheel: task `{cfg['task']}`, robot `{cfg['robot']}`, {cfg['features']} features, "
        f"{cfg['episodes_per_round']} episodes per round, held-out seeds from {cfg['eval_seed']} "
        f"({cfg['eval_episodes']} episodes); expert on the same seeds: {_pct(doc.get('expert_success_rate'))}.",
        "",
        "| round | trained on (episodes / frames) | held-out success (learned policy alone) [95% interval] | beta | collected episodes | frames | success while collecting | total frames |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in doc["rounds"]:
        trained = row.get("trained_on")
        lines.append("| {r} | {t} | {s} | {b} | {e} | {f} | {c} | {tf} |".format(
            r=row["round"], t=f"{trained['episodes']} / {trained['frames']}" if trained else "- (expert)",
            s=_pct(row["success_rate"]) + (" [{:.0%}, {:.0%}]".format(*row["success_interval"])
                                            if row.get("success_interval") else ""), b=f"{row['beta']:g}" if row["round"] else "expert", e=row["episodes"],
            f=row["frames"], c=_pct(row.get("collect_success_rate")), tf=row["total_frames"]))
    return "\n".join(lines)


def chart(doc: dict[str, Any], path: Path) -> bool:
    """Success rate per round (learned policy alone, held-out seeds) and data sizes; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rounds = [row["round"] for row in doc["rounds"]]
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=100)
    ax2 = ax.twinx()
    trained = [(row.get("trained_on") or {}).get("frames", 0) for row in doc["rounds"]]
    ax2.bar(rounds, trained, color="0.6", width=0.5, label="frames trained on")
    ax2.bar(rounds, [row["frames"] for row in doc["rounds"]], bottom=trained, color="0.85", width=0.5,
            label="frames collected in the round")
    ax2.set_ylabel("frames")
    learned = [(row["round"], row["success_rate"]) for row in doc["rounds"] if row["success_rate"] is not None]
    if learned:
        ax.plot(*zip(*learned), "o-", color="tab:blue", label="learned policy (held-out seeds)")
    if doc.get("expert_success_rate") is not None:
        ax.axhline(doc["expert_success_rate"], color="tab:green", ls="--", label="expert (same seeds)")
    ax.set_ylim(0, 1.05)
    ax.set_xticks(rounds)
    ax.set_xlabel("round")
    ax.set_ylabel("success rate")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    cfg = doc["config"]
    ax.set_title(f"flywheel: {cfg['task']} / {cfg['robot']} ({cfg['features']} features)")
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], loc="upper center", bbox_to_anchor=(0.5, -0.15),
              ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
