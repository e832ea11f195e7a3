"""`fmtune`: a thin front end. It parses arguments, calls the library, prints; heavy imports are lazy."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict

from fmtune.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fmtune",
        description="Fine-tune foundation models on your own data, on your own machine.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="fine-tune a model on a training channel")
    train.add_argument("model", nargs="?", default=None,
                       help="JumpStart model id, local model folder or HF repo id (default: the embedded model)")
    train.add_argument("--training", "--train", dest="training", required=True, metavar="PATH",
                       help="training data: a file or a folder")
    train.add_argument("--validation", metavar="PATH", help="validation data (else split off training)")
    train.add_argument("-H", "--hyperparameter", dest="hyperparameters", action="append", default=[],
                       metavar="KEY=VALUE", help="JumpStart hyperparameter, e.g. -H epoch=3 (repeatable)")
    train.add_argument("--job-name", help="unique name (default: <model>-<timestamp>)")
    train.add_argument("--output-dir", help="job folder (default: $FMTUNE_HOME/jobs/<job-name>)")
    train.add_argument("--accept-eula", action="store_true", help="accept the model's license (Llama 2, Gemma, ...)")

    models = commands.add_parser("models", help="list the model catalog, or show one model")
    models.add_argument("action", nargs="?", choices=["show"], help="show one model")
    models.add_argument("model_id", nargs="?")
    models.add_argument("--json", action="store_true")
    models.add_argument("--task", choices=["text-generation", "text2text", "text-to-image"])
    models.add_argument("--search", metavar="TEXT")

    hyper = commands.add_parser(
        "hyperparameters", help="a model's default hyperparameters (JumpStart retrieve_default)"
    )
    hyper.add_argument("model_id")
    hyper.add_argument("--json", action="store_true")

    gen = commands.add_parser("generate", help="generate text with a tuned model, a model folder or a model id")
    gen.add_argument("model", help="job name, job folder, model folder or model id")
    gen.add_argument("prompt")
    gen.add_argument("--max-new-tokens", type=int, default=64)
    gen.add_argument("--temperature", type=float, default=0.0)
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--seed", type=int)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `fmtune models | head`
        sys.stderr.close()
        return 0


def cmd_train(args: argparse.Namespace) -> int:
    from fmtune.catalog import DEFAULT_MODEL_ID
    from fmtune.config.job import build_job
    from fmtune.jobs.runner import check_job_data, run_job

    channels = {"training": args.training}
    if args.validation:
        channels["validation"] = args.validation
    job = build_job(
        args.model or DEFAULT_MODEL_ID,
        channels,
        parse_key_values(args.hyperparameters),
        job_name=args.job_name,
        output_dir=args.output_dir,
        accept_eula=args.accept_eula,
    )
    check_job_data(job)
    print(f"job {job.job_name} → {job.job_dir}", flush=True)
    code = run_job(job)
    if code == 0:
        print(f"done. Try it: fmtune generate {job.job_dir} \"...\"")
    return code


def cmd_models(args: argparse.Namespace) -> int:
    from fmtune.catalog import get_card, search_cards

    if args.action == "show":
        if not args.model_id:
            raise UserError("usage: fmtune models show MODEL_ID")
        card = get_card(args.model_id)
        if args.json:
            print(json.dumps(asdict(card), indent=2))
        else:
            for key, value in asdict(card).items():
                print(f"{key:>24}: {value}")
        return 0
    cards = search_cards(args.search, args.task)
    if args.json:
        print(json.dumps([asdict(c) for c in cards], indent=2))
        return 0
    for card in cards:
        eula = " (EULA)" if card.eula_required else ""
        print(f"{card.model_id:<66} {card.display_name:<40} {card.task}{eula}")
    return 0


def cmd_hyperparameters(args: argparse.Namespace) -> int:
    from fmtune.catalog import get_card
    from fmtune.config.hyperparameters import describe

    card = get_card(args.model_id)
    defaults = card.default_hyperparameters
    if args.json:
        print(json.dumps(defaults, indent=2))
        return 0
    rows = {row["name"]: row for row in describe()}
    for name, value in defaults.items():
        row = rows.get(name)
        meaning = f"{row['description']} ({row['accepted']})" if row else ""
        print(f"{name:>34} = {value:<8} {meaning}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from fmtune.models.generate import generate, load_for_generation

    loaded = load_for_generation(args.model)
    print(generate(loaded, args.prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                   top_p=args.top_p, seed=args.seed))
    return 0


def parse_key_values(items: Sequence[str]) -> dict[str, str]:
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"-H {item!r}: expected KEY=VALUE, e.g. -H epoch=3")
        values[key.strip()] = value.strip()
    return values


COMMANDS = {
    "train": cmd_train,
    "models": cmd_models,
    "hyperparameters": cmd_hyperparameters,
    "generate": cmd_generate,
}

if __name__ == "__main__":
    sys.exit(main())
