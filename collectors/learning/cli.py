"""`flywheel train`, `flywheel eval` and `flywheel loop`: behaviour cloning on datasets, held-out evaluation of a
policy, and the collect-train-deploy flywheel."""
from __future__ import annotations

import argparse


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x) for x in text.replace("x", ",").split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes layer sizes like 256,256, not {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("--hidden needs at least one positive layer size")
    return sizes


def _add_model_args(p: argparse.ArgumentParser, loop: bool = False) -> None:
    from flywheel.collectors.learning.train import TrainConfig

    d = TrainConfig()
    p.add_argument("--features", choices=("native", "canonical"), default="native",
                   help="native: joint state in, this robot's actions out; canonical: end-effector features in, "
                        "action.ee out (deployable on any robot in ee_delta control)")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"passes over the data (default {d.epochs})")
    p.add_argument("--hidden", type=_hidden, default=d.hidden, help="hidden layer sizes (default 256,256)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (cosine-decayed to 0)")
    p.add_argument("--trainer", default=d.trainer, help="numpy (default) or torch (needs PyTorch installed)")
    if not loop:
        p.add_argument("--seed", type=int, default=d.seed, help="initialisation and shuffling seed")


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("train", help="fit a policy (behaviour cloning) on one or more datasets",
                              description="Fit a small MLP from observation features to actions; saves one .npz file "
                                          "that `flywheel collect --policy FILE` deploys.")
    p.add_argument("datasets", nargs="+", metavar="DATASET", help="dataset folders (LeRobot v3.0, flywheel format)")
    p.add_argument("--out", required=True, metavar="POLICY", help="policy file to write (.npz)")
    _add_model_args(p)
    p.add_argument("--inputs", default=None,
                   help="comma-separated observation features (default: the feature mode's, present in every dataset)")
    p.add_argument("--activation", choices=("relu", "tanh"), default="relu")
    p.add_argument("--no-residual", action="store_true",
                   help="learn absolute joint targets instead of targets minus the current joint positions")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(handler=_train)

    p = subparsers.add_parser("eval", help="held-out success rate of a policy alone, with a 95% interval",
                              description="Run POLICY alone on N held-out seeds per task (seed S+k; default S = 10000000, "
                                          "disjoint from training seeds) on Ray workers, and report the success rate with "
                                          "a 95%% Wilson interval, per task and pooled. Dropped episodes count as failures.")
    p.add_argument("policy", metavar="POLICY", help="a policy file (flywheel train), or expert / random")
    p.add_argument("--task", default=None, help="task, or tasks separated by commas (default: the policy's task)")
    p.add_argument("--robot", default=None, help="robot name or spec .toml (default: the policy's robot)")
    p.add_argument("--episodes", "-n", type=int, default=100, help="held-out episodes per task (default 100)")
    p.add_argument("--workers", "-w", type=int, default=2)
    p.add_argument("--seed", type=int, default=None, help="first held-out seed (default 10000000)")
    p.add_argument("--control-mode", choices=("joint_pos", "ee_delta"), default=None,
                   help="default: the policy's (joint_pos for native features, ee_delta for canonical)")
    p.add_argument("--out", default=None, metavar="DIR", help="keep the evaluation episodes there (default: deleted)")
    p.add_argument("--address", default=None, help="Ray cluster to join (default: a local Ray)")
    p.add_argument("--json", action="store_true", help="print a JSON object as the last line")
    p.set_defaults(handler=_eval)

    p = subparsers.add_parser("loop", help="the flywheel: collect expert data, train, deploy with relabelling, retrain",
                              description="Round 0 collects expert episodes; each round trains on everything so far, "
                                          "evaluates the policy alone on held-out seeds, and deploys it with the expert "
                                          "labelling the states it visits (DAgger). Writes loop.json, loop.md, loop.png.")
    p.add_argument("--task", required=True)
    p.add_argument("--robot", required=True)
    p.add_argument("--rounds", type=int, default=3, help="training rounds after the expert round 0 (default 3)")
    p.add_argument("--episodes-per-round", type=int, default=100)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--eval-episodes", type=int, default=100, help="held-out evaluation episodes per round")
    p.add_argument("--seed", type=int, default=0, help="round r, episode k runs from seed + r * episodes-per-round + k")
    p.add_argument("--eval-seed", type=int, default=None, help="first held-out seed (default 10000000)")
    p.add_argument("--beta", type=float, default=0.0,
                   help="round 1's probability that the expert's action drives a step (default 0: the learner drives)")
    p.add_argument("--beta-decay", type=float, default=0.5, help="beta of round r = beta * decay^(r-1)")
    p.add_argument("--control-mode", choices=("joint_pos", "ee_delta"), default=None,
                   help="default: joint_pos for native features, ee_delta for canonical")
    p.add_argument("--noise", type=float, default=0.0, help="expert noise in round 0")
    p.add_argument("--resume", action="store_true", help="continue a loop in DIR, reusing what is finished")
    p.add_argument("--address", default=None, help="Ray cluster to join (default: a local Ray)")
    _add_model_args(p, loop=True)
    p.set_defaults(handler=_loop)


def _train(args) -> int:
    from flywheel.collectors.learning.train import TrainConfig, train

    config = TrainConfig(features=args.features, hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size,
                         lr=args.lr, seed=args.seed, trainer=args.trainer, activation=args.activation,
                         residual=not args.no_residual,
                         inputs=[x.strip() for x in args.inputs.split(",") if x.strip()] if args.inputs else None)
    header = train(args.datasets, args.out, config, log=None if args.quiet else print)
    if args.quiet:
        print(args.out)
    else:
        ins = ", ".join(f["key"] for f in header["inputs"])
        print(f"policy: {header['features']} features ({ins}) -> {header['target']['key']}; robot {header['robot']['name']}")
    return 0


def _eval(args) -> int:
    import json

    from flywheel.collectors.learning.evaluate import EVAL_SEED, evaluate

    result = evaluate(args.policy, args.task, args.robot, args.episodes, workers=args.workers,
                      seed=EVAL_SEED if args.seed is None else args.seed, control_mode=args.control_mode,
                      out=args.out, address=args.address, quiet=True)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print("\n".join(result.lines()))
    return 0


def _loop(args) -> int:
    from flywheel.collectors.learning.loop import EVAL_SEED, LoopConfig, markdown_table, run_loop

    cfg = LoopConfig(task=args.task, robot=args.robot, rounds=args.rounds, episodes_per_round=args.episodes_per_round,
                     out=args.out, workers=args.workers, eval_episodes=args.eval_episodes, seed=args.seed,
                     eval_seed=EVAL_SEED if args.eval_seed is None else args.eval_seed, beta=args.beta,
                     beta_decay=args.beta_decay, features=args.features, control_mode=args.control_mode,
                     epochs=args.epochs, hidden=args.hidden, batch_size=args.batch_size, lr=args.lr,
                     trainer=args.trainer, noise=args.noise, resume=args.resume, address=args.address)
    doc = run_loop(cfg, log=lambda msg: print(msg, flush=True))
    print()
    print(markdown_table(doc))
    print(f"\n{cfg.out}/loop.json, loop.md, loop.png ({doc['seconds']:.0f} s)")
    return 0
