"""`fmtune`: a thin front end. It parses arguments, calls the library, prints; heavy imports are lazy."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fmtune.catalog import all_cards
from fmtune.errors import ConfigError, UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fmtune",
        description="Fine-tune foundation models on your own data, on your own machine.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    remote = server_flags()
    evaluate = commands.add_parser("evaluate", help="score a finished job's model and its base on held-out rows, "
                                                    "or a model alone (a job of its own; report: eval/report.html)")
    evaluate.add_argument("job", metavar="JOB|MODEL", help="job name or folder; or a model (catalog id, folder, hub "
                                                          "id) with --data")
    evaluate.add_argument("--data", metavar="PATH", help="rows to score, in the job's data format (default: the "
                                                        "job's own validation rows); a model: required")
    evaluate.add_argument("--metrics", help="comma-separated generation metrics, e.g. rougeL,bleu (default: all)")
    evaluate.add_argument("--max-samples", type=int, help="rows the models answer (default 32)")
    evaluate.add_argument("--max-new-tokens", type=int, help="longest answer, in tokens (default 128)")
    evaluate.add_argument("--compare-base", action=argparse.BooleanOptionalAction, default=None,
                          help="also score the base model the job was tuned from (default: yes)")
    evaluate.add_argument("--judge-url", metavar="URL", help="an OpenAI-compatible server (…/v1) whose model rates "
                                                            "each answer 1-10; key from $OPENAI_API_KEY")
    evaluate.add_argument("--judge-model", metavar="NAME", help="the judge's model name (default: the server's first)")
    evaluate.add_argument("--lm-eval-include", metavar="DIR", help="lm-evaluation-harness task YAMLs over local files, "
                                                                  "run for both models (pip install 'fmtune[lm-eval]')")
    evaluate.add_argument("--lm-eval-tasks", metavar="T1,T2", help="which of its tasks (default: all)")
    evaluate.add_argument("-H", "--hyperparameter", dest="hyperparameters", action="append", default=[],
                          metavar="KEY=VALUE", help="a model's data format: -H instruction_tuned=True or -H "
                                                    "chat_dataset=True (repeatable)")
    evaluate.add_argument("--accept-eula", action="store_true", help="a model with a license to accept (a job's "
                                                                     "was accepted when it was trained)")
    evaluate.add_argument("--job-name", help="the evaluation job's name (default: <job>-eval-<time>)")
    evaluate.add_argument("--detach", action="store_true", help="run in the background")
    report = commands.add_parser("report", help="where a job's evaluation report is (eval/report.html): base vs tuned")
    report.add_argument("job", help="job name or folder")
    report.add_argument("--open", action="store_true", help="open it in the web browser")
    train = commands.add_parser("train", help="fine-tune a model on a training channel", parents=[remote])
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
    train.add_argument("--tiny-random", action="store_true",
                       help="instead of the real weights, build a tiny model (2 layers, hidden 64) of the catalog "
                            "model's architecture with RANDOM weights: the result is only a test of the pipeline")
    train.add_argument("--detach", action="store_true",
                       help="run in the background: print the job name and return at once")
    train.add_argument("--trust-remote-code", action="store_true",
                       help="allow a brought model's own Python code (off by default; needs --revision)")
    train.add_argument("--revision", help="commit sha that pins the model repo (required with --trust-remote-code)")
    dist = train.add_argument_group("distributed (enable_fsdp=True): torchrun processes, FSDP2")
    dist.add_argument("--nproc", type=int, default=1, help="processes on this machine (one per GPU; gloo on CPU)")
    dist.add_argument("--nnodes", type=int, default=1, help="machines taking part (run the same command on each)")
    dist.add_argument("--node-rank", type=int, default=0, help="this machine's rank, 0 .. nnodes-1")
    dist.add_argument("--master-addr", default="127.0.0.1", help="address of the node-rank 0 machine")
    dist.add_argument("--master-port", type=int, default=29500, help="a free TCP port on the master")

    models = commands.add_parser("models", help="list the model catalog, or show one model")
    models.add_argument("action", nargs="?", choices=["show"], help="show one model")
    models.add_argument("model_id", nargs="?")
    models.add_argument("--json", action="store_true")
    models.add_argument("--task", choices=sorted({card.task for card in all_cards()}))
    models.add_argument("--search", metavar="TEXT")

    hyper = commands.add_parser(
        "hyperparameters", help="a model's default hyperparameters (JumpStart retrieve_default)"
    )
    hyper.add_argument("model_id")
    hyper.add_argument("--json", action="store_true")

    jobs = commands.add_parser("jobs", help="list, inspect, follow, stop, resume and delete training jobs")
    actions = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    jobs_list = actions.add_parser("list", help="all jobs, newest first", parents=[remote])
    jobs_list.add_argument("--json", action="store_true")
    describe = actions.add_parser("describe", help="a job's status, paths, settings and latest metrics",
                                  parents=[remote])
    describe.add_argument("name")
    describe.add_argument("--json", action="store_true")
    logs = actions.add_parser("logs", help="print a job's log", parents=[remote])
    logs.add_argument("name")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends")
    stop = actions.add_parser("stop", help="stop a job: it writes a checkpoint and ends as Stopped", parents=[remote])
    stop.add_argument("name")
    stop.add_argument("--grace", type=float, default=None, metavar="SECONDS",
                      help="how long the job may take to checkpoint before it is killed (default 120)")
    resume = actions.add_parser("resume", help="continue a Failed or Stopped job from its last checkpoint",
                                parents=[remote])
    resume.add_argument("name")
    resume.add_argument("--detach", action="store_true", help="run in the background")
    delete = actions.add_parser("delete", help="remove a job and its folder (not while it runs)", parents=[remote])
    delete.add_argument("name")

    gen = commands.add_parser("generate", help="generate text (or, for a text-to-image model, an image) with a tuned "
                                               "model, a model folder or a model id")
    gen.add_argument("model", help="job name, job folder, model folder or model id")
    gen.add_argument("prompt")
    gen.add_argument("--max-new-tokens", type=int, default=64)
    gen.add_argument("--temperature", type=float, default=0.0)
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--seed", type=int)
    image = gen.add_argument_group("text-to-image models")
    image.add_argument("--output", type=Path, default=Path("image.png"), help="where the image goes (default: "
                                                                              "image.png)")
    image.add_argument("--size", type=int, help="width and height in pixels (default: the trained resolution)")
    image.add_argument("--steps", type=int, default=50, help="denoising steps (default: 50)")
    image.add_argument("--guidance-scale", type=float, default=7.5)
    image.add_argument("--negative-prompt")

    add_deploy_parsers(commands, remote)
    studio = commands.add_parser("studio", help="the web UI and REST API: pick a model, bring data, tune, watch, "
                                                "deploy, compare")
    studio.add_argument("--host", default="127.0.0.1", help="address to listen on (any but loopback needs a token)")
    studio.add_argument("--port", type=int, default=8000)
    studio.add_argument("--token", help="required to use Studio (default: $FMTUNE_STUDIO_TOKEN; none: loopback only)")
    studio.add_argument("--data-root", dest="data_roots", action="append", default=[], metavar="DIR",
                        help="a folder jobs may read local data from (repeatable; default: the working directory "
                             "and FMTUNE_HOME)")
    studio.add_argument("--max-upload-mb", type=float, default=1024, help="largest upload (a zip: what it extracts to)")
    return parser


def server_flags() -> argparse.ArgumentParser:
    """--server: run the command on a remote Studio (the GPU box, the team's server) through its REST API."""
    flags = argparse.ArgumentParser(add_help=False)
    group = flags.add_argument_group("remote Studio")
    group.add_argument("--server", metavar="URL", help="run this on the fmtune Studio at URL instead of this machine "
                                                      "(default: $FMTUNE_SERVER)")
    group.add_argument("--server-token", metavar="TOKEN", help="that Studio's token (default: $FMTUNE_STUDIO_TOKEN)")
    return flags


def remote_studio(args: argparse.Namespace) -> Any:
    """The remote Studio the command runs on (--server or $FMTUNE_SERVER), else None: this machine."""
    from fmtune.studio.remote import SERVER_ENV, RemoteStudio

    url = args.server or os.environ.get(SERVER_ENV)
    return RemoteStudio(url, args.server_token) if url else None


def add_deploy_parsers(commands: argparse._SubParsersAction, remote: argparse.ArgumentParser) -> None:
    from fmtune.serve.settings import API_KEY_ENV, ServeSettings

    d = ServeSettings()
    deploy = commands.add_parser(
        "deploy", parents=[remote], help="serve a tuned model (and LoRA adapters on it) as an HTTP endpoint",
        description="JumpStart /invocations and an OpenAI-compatible API (/v1/completions, /v1/chat/completions, "
                    "/v1/models), plus /health and /metrics. Ctrl-C stops it.",
    )
    deploy.add_argument("model", help="job name, job folder, model folder or model id")
    deploy.add_argument("--adapter", dest="adapters", action="append", default=[], metavar="NAME=PATH",
                        help="a LoRA adapter served on the same base, picked by the request's `model` field; PATH: "
                             "adapter folder, job folder or job name (repeatable)")
    deploy.add_argument("--host", default=d.host, help=f"address to listen on (default: {d.host}, this machine only)")
    deploy.add_argument("--port", type=int, default=d.port, help=f"default: {d.port}; 0 picks a free port")
    deploy.add_argument("--api-key", help=f"require this key on every route but /health (default: ${API_KEY_ENV})")
    deploy.add_argument("--name", help="endpoint name in `fmtune endpoints` (default: <model>-<port>)")
    deploy.add_argument("--detach", action="store_true", help="run in the background; print the URL and return")
    limits = deploy.add_argument_group("limits")
    limits.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes, help="larger requests get 413")
    limits.add_argument("--max-new-tokens-cap", type=int, default=d.max_new_tokens_cap,
                        help="requests asking for more new tokens get 400")
    limits.add_argument("--default-max-new-tokens", type=int, default=d.default_max_new_tokens,
                        help="when a request names no limit")
    limits.add_argument("--max-batch-size", type=int, default=d.max_batch_size,
                        help="requests generated together in one batch")
    limits.add_argument("--max-queue", type=int, default=d.max_queue,
                        help="requests waiting beyond the batch; more get 429")
    limits.add_argument("--batch-wait-ms", type=float, default=d.batch_wait_ms,
                        help="how long a new batch waits for more requests")
    limits.add_argument("--max-model-len", type=int, help="context length (default: the model's)")
    limits.add_argument("--served-model-name", help="the base model's name in `model` fields (default: from MODEL)")
    limits.add_argument("--messages-api", action="store_true",
                        help="/invocations also takes {\"messages\": [...]} (JumpStart's MESSAGES_API_ENABLED)")
    images = deploy.add_argument_group("limits of text-to-image endpoints (Stable Diffusion)")
    images.add_argument("--max-image-side", type=int, default=d.max_image_side,
                        help="wider or taller requests get 400 (pixels)")
    images.add_argument("--max-inference-steps", type=int, default=d.max_inference_steps,
                        help="requests asking for more denoising steps get 400")
    images.add_argument("--max-images", type=int, default=d.max_images,
                        help="requests asking for more images (prompts x num_images_per_prompt) get 400")

    endpoints = commands.add_parser("endpoints", help="list or stop the endpoints running on this machine")
    endpoints.add_argument("action", nargs="?", choices=["list", "stop"], default="list")
    endpoints.add_argument("names", nargs="*", metavar="NAME", help="endpoints to stop")
    endpoints.add_argument("--all", action="store_true", help="stop every running endpoint")
    endpoints.add_argument("--json", action="store_true")


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
    from fmtune.jobs.config import Launch
    from fmtune.jobs.start import JobRequest, prepare_job, start_job

    channels = {"training": args.training}
    if args.validation:
        channels["validation"] = args.validation
    hyperparameters, malformed = parse_key_values(args.hyperparameters)
    request = JobRequest(
        args.model or DEFAULT_MODEL_ID, channels, hyperparameters, job_name=args.job_name,
        output_dir=args.output_dir, accept_eula=args.accept_eula, tiny_random=args.tiny_random,
        trust_remote_code=args.trust_remote_code, revision=args.revision,
        launch=Launch(args.nproc, args.nnodes, args.node_rank, args.master_addr, args.master_port),
    )

    remote = remote_studio(args)
    if remote is not None:
        return remote_train(remote, request, malformed, args)
    if malformed:  # never starts; reported together with every other problem the request has
        try:
            prepare_job(request)
        except ConfigError as err:
            raise ConfigError([*malformed, *err.details]) from None
        raise ConfigError(malformed)

    def announce(job) -> None:
        if job.tiny_random:
            print("--tiny-random: the weights are RANDOM (a tiny model of this architecture); the result is only "
                  "a test of the pipeline, not a useful model.", file=sys.stderr, flush=True)
        if args.detach:  # a foreground job's log shows them
            for notice in job.notices:
                print(f"note: {notice}", file=sys.stderr)
        else:
            print(f"job {job.job_name} → {job.job_dir}", flush=True)

    job = start_job(request, detach=args.detach, announce=announce)
    if args.detach:
        print(job.name, flush=True)
        print(f"started in the background → {job.config.job_dir}\nfollow it: fmtune jobs logs {job.name} "
              "--follow", file=sys.stderr)
        return 0
    if job.exit_code == 0:
        print(f"done. Try it: fmtune generate {job.config.job_dir} \"...\"")
    return job.exit_code or 0


def remote_train(remote: Any, request: Any, malformed: list, args: argparse.Namespace) -> int:
    """The job on a remote Studio: local data uploaded, the server's checks (the same as here), its log followed."""
    local_only = [flag for flag, used in (("--output-dir", args.output_dir), ("--trust-remote-code",
                  args.trust_remote_code), ("--nproc/--nnodes", args.nproc != 1 or args.nnodes != 1)) if used]
    if local_only:
        raise UserError(f"{', '.join(local_only)}: not with --server (the server decides where and how its jobs run); "
                        "start Studio there with what you need, or leave these out.")
    if malformed:
        raise ConfigError(malformed)
    job = remote.create_job(request.model, request.channels, request.hyperparameters, job_name=request.job_name,
                            accept_eula=request.accept_eula, tiny_random=request.tiny_random)
    print(job["name"], flush=True)
    if args.detach:
        print(f"started on {remote.url} → follow it: fmtune jobs logs {job['name']} --follow --server {remote.url}",
              file=sys.stderr)
        return 0
    ended = remote.follow(job["name"], sys.stdout)
    return {"Completed": 0, "Stopped": 0}.get(ended["status"], 1)


def cmd_models(args: argparse.Namespace) -> int:
    from fmtune.catalog import get_card, search_cards
    from fmtune.models.memory import card_memory_estimate

    if args.action == "show":
        if not args.model_id:
            raise UserError("usage: fmtune models show MODEL_ID")
        card = get_card(args.model_id)
        memory = card_memory_estimate(card, card.default_hyperparameters)
        if args.json:
            print(json.dumps({**card.to_dict(), "estimated_peak_memory": memory}, indent=2))
        else:
            for key, value in card.to_dict().items():
                print(f"{key:>24}: {value}")
            print(f"{'estimated_peak_memory':>24}: {memory}")
        return 0
    cards = search_cards(args.search, args.task)
    if args.json:
        print(json.dumps([c.to_dict() for c in cards], indent=2))
        return 0
    for card in cards:
        eula = " (EULA)" if card.eula_required else ""
        print(f"{card.model_id:<66} {card.display_name:<40} {card.task}{eula}")
    return 0


def cmd_hyperparameters(args: argparse.Namespace) -> int:
    from fmtune.catalog import get_card
    from fmtune.tasks import find_task

    card = get_card(args.model_id)
    defaults = card.default_hyperparameters
    if args.json:
        print(json.dumps(defaults, indent=2))
        return 0
    task = find_task(card.task)
    rows = {row["name"]: row for row in task.schema.describe()} if task else {}
    for name, value in defaults.items():
        row = rows.get(name)
        meaning = f"{row['description']} ({row['accepted']})" if row else ""
        print(f"{name:>34} = {value:<8} {meaning}")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    import fmtune.evaluation.task  # noqa: F401  (evaluation jobs resume too)
    from fmtune.jobs import runner
    from fmtune.jobs.store import JobStore
    from fmtune.jobs.views import describe_job, stream_logs

    store, remote, action = JobStore(), remote_studio(args), args.jobs_command
    if action == "list":
        jobs = remote.jobs() if remote else [describe_job(r) for r in store.list_jobs()]
        if args.json:
            print(json.dumps(jobs, indent=2))
            return 0
        width = max((len(j["name"]) for j in jobs), default=4)
        if not jobs:
            print("no jobs yet; `fmtune train --training PATH` starts one", file=sys.stderr)
        else:
            print(f"{'NAME':<{width}}  {'STATUS':<10}  {'CREATED':<19}  {'ENDED':<19}  MODEL")
        for j in jobs:
            print(f"{j['name']:<{width}}  {j['status']:<10}  {_short_time(j['created']):<19}  "
                  f"{_short_time(j['ended']):<19}  {j['model']}")
        return 0
    if action == "describe":
        summary = remote.job(args.name) if remote else describe_job(store.require(args.name))
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            for key, value in summary.items():
                shown = json.dumps(value) if isinstance(value, dict | list) else value
                print(f"{key:>16}: {'' if value is None else shown}")
        return 0
    if action == "logs":
        if remote and args.follow:
            status = remote.follow(args.name, sys.stdout)["status"]
        elif remote:
            sys.stdout.write(remote.logs(args.name))
            status = None
        else:
            status = stream_logs(args.name, follow=args.follow).status
        return 1 if args.follow and status == "Failed" else 0
    if action == "stop":
        grace = runner.STOP_GRACE_S if args.grace is None else args.grace
        if remote is None and store.require(args.name).active:
            print(f"stopping {args.name} (it writes a checkpoint; killed after {grace:g} s)...", file=sys.stderr,
                  flush=True)
        status = remote.stop(args.name)["status"] if remote else runner.stop(args.name, grace=grace).status
        print(f"{args.name}: {status}. Continue it with: fmtune jobs resume {args.name}")
        return 0
    if action == "resume":
        if remote is not None:
            remote.resume(args.name)  # a remote job always runs in the background
        elif args.detach:
            runner.resume(args.name, detach=True)
        if remote is not None or args.detach:
            print(args.name)
            return 0
        return runner.resume(args.name)
    if action == "delete":
        folder = remote.delete(args.name) if remote else runner.delete(args.name)
        print(f"deleted job {args.name}" + (f" and {folder}" if folder else f" on {remote.url}"))
        return 0
    raise AssertionError(action)


def _short_time(stamp: str | None) -> str:
    return stamp[:19].replace("T", " ") if stamp else "-"


def cmd_generate(args: argparse.Namespace) -> int:
    from fmtune.jobs.artifacts import load_for_generation, model_dir
    from fmtune.models.generate import generate
    from fmtune.models.source import is_pipeline

    folder = model_dir(args.model)
    if is_pipeline(folder):
        return generate_image(folder, args)
    loaded = load_for_generation(args.model)
    print(generate(loaded, args.prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                   top_p=args.top_p, seed=args.seed))
    return 0


def generate_image(folder: Path, args: argparse.Namespace) -> int:
    import io
    import random

    from fmtune.models.diffusion import generate, load_pipeline, quiet_diffusers, trained_size
    from fmtune.models.loading import training_device

    if args.size is not None and (args.size < 8 or args.size % 8):
        raise UserError(f"--size {args.size}: must be a positive multiple of 8 (the VAE works on 8x8 blocks).")
    if args.steps < 1:
        raise UserError(f"--steps {args.steps}: must be at least 1.")
    if args.output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UserError(f"--output {args.output}: name a .png, .jpg or .jpeg file.")
    quiet_diffusers()
    pipeline = load_pipeline(folder, training_device())
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    image, = generate(pipeline, args.prompt, [seed], args.size or trained_size(folder, pipeline), steps=args.steps,
                      guidance_scale=args.guidance_scale, negative_prompt=args.negative_prompt)
    from fmtune.atomic import write_file_atomically

    data = io.BytesIO()  # written whole: a stop mid-write leaves no truncated image behind
    image.save(data, format="PNG" if args.output.suffix.lower() == ".png" else "JPEG", quality=95)
    write_file_atomically(args.output, data.getvalue())
    print(f"{args.output} ({image.width}x{image.height}, seed {seed})")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from fmtune.serve.settings import ServeSettings, api_key_from_env

    adapters = parse_adapters(args.adapters)
    remote = remote_studio(args)
    if remote is not None:  # the server's endpoint, reached through Studio (it listens on the server's loopback)
        endpoint = remote.deploy(model=args.model, adapters=adapters, name=args.name)
        print(f"endpoint {endpoint['name']} on {remote.url}: serves {', '.join(endpoint['models'])}")
        print(f"call it at {remote.endpoint_url(endpoint['name'])}/invocations (and /v1/chat/completions, "
              "/v1/completions) with the Studio token; stop it in Studio's Endpoints page")
        return 0
    settings = ServeSettings(
        host=args.host, port=args.port, api_key=api_key_from_env(args.api_key),
        max_body_bytes=args.max_body_bytes, max_new_tokens_cap=args.max_new_tokens_cap,
        default_max_new_tokens=args.default_max_new_tokens, max_batch_size=args.max_batch_size,
        max_queue=args.max_queue, batch_wait_ms=args.batch_wait_ms, max_model_len=args.max_model_len,
        served_model_name=args.served_model_name, messages_api=args.messages_api,
        max_image_side=args.max_image_side, max_inference_steps=args.max_inference_steps, max_images=args.max_images,
    ).check()
    if args.detach:
        from fmtune.serve import start_endpoint

        endpoint = start_endpoint(args.model, adapters=adapters, name=args.name, host=settings.host,
                                  port=settings.port, api_key=settings.api_key, settings=settings)
        print(f"endpoint {endpoint.name}: {endpoint.url} (pid {endpoint.pid}, log {endpoint.log_path})")
        if settings.api_key is None:
            print(f"API key (made for this endpoint): {endpoint.api_key}")
        print(f"stop it with: fmtune endpoints stop {endpoint.name}")
        return 0
    from fmtune.serve.server import serve_forever

    return serve_forever(args.model, adapters, settings, name=args.name)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from fmtune.evaluation.task import evaluation_request
    from fmtune.jobs.layout import JobLayout
    from fmtune.jobs.start import start_job

    given, malformed = parse_key_values(args.hyperparameters)
    if malformed:
        raise ConfigError(malformed)
    settings = {**given, "evaluation_samples": args.max_samples, "evaluation_max_new_tokens": args.max_new_tokens,
                "metrics": args.metrics, "compare_base": args.compare_base, "judge_url": args.judge_url,
                "judge_model": args.judge_model, "lm_eval_include": args.lm_eval_include,
                "lm_eval_tasks": args.lm_eval_tasks}
    request = evaluation_request(args.job, args.data, settings, args.job_name, args.accept_eula)
    job = start_job(request, detach=args.detach)
    if args.detach:
        print(job.name, flush=True)
        return 0
    if job.exit_code == 0:
        print(f"report: {JobLayout(Path(job.config.job_dir)).report}")
    return job.exit_code or 0


def cmd_report(args: argparse.Namespace) -> int:
    from fmtune.evaluation.report import write_report
    from fmtune.jobs.layout import job_layout

    layout = job_layout(args.job)
    if layout is None:
        raise UserError(f"'{args.job}' is not a job (name or folder); `fmtune jobs list` shows them.")
    if not (layout.evaluation / "metrics.json").exists():
        raise UserError(f"job {layout.root.name} has no evaluation yet (it runs at the end of training, with "
                        "evaluation_samples > 0): `fmtune jobs describe` says where the job stands.")
    path = write_report(layout)  # drawn again from the job's files: always current
    print(path)
    if args.open:
        import webbrowser

        webbrowser.open(path.as_uri())
    return 0


def cmd_studio(args: argparse.Namespace) -> int:
    import uvicorn

    from fmtune.studio.app import studio_app
    from fmtune.studio.settings import StudioSettings, token_from_env

    settings = StudioSettings(host=args.host, port=args.port, token=token_from_env(args.token),
                              data_roots=tuple(Path(r) for r in args.data_roots),
                              max_upload_bytes=int(args.max_upload_mb * (1 << 20))).check()
    app = studio_app(settings)
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    access = "token required" if settings.token else "no token: this machine only"
    roots = ", ".join(str(r) for r in settings.data_roots)
    print(f"fmtune Studio: http://{shown}:{settings.port}/ ({access}; data roots: {roots})", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def cmd_endpoints(args: argparse.Namespace) -> int:
    from fmtune.serve import list_endpoints, stop_endpoint

    if args.action == "list":
        if args.names or args.all:
            raise UserError("usage: fmtune endpoints list [--json]  (names and --all go with `stop`)")
        records = list_endpoints()
        if args.json:
            print(json.dumps([asdict(r) for r in records], indent=2))
        elif not records:
            print("no endpoints running (start one with `fmtune deploy MODEL`)")
        for r in records if not args.json else []:
            adapters = f" adapters: {', '.join(r.adapters)}" if r.adapters else ""
            print(f"{r.name:<40} {r.url:<28} pid {r.pid:<8} {r.model}{adapters}")
        return 0
    if not args.names and not args.all:
        raise UserError("usage: fmtune endpoints stop NAME [NAME ...] or --all")
    names = [r.name for r in list_endpoints()] if args.all else args.names
    missing = [name for name in names if not stop_endpoint(name)]
    for name in names:
        if name not in missing:
            print(f"stopped {name}")
    if missing:
        raise UserError(f"no running endpoint named {', '.join(repr(n) for n in missing)}; "
                        "`fmtune endpoints list` shows the running ones.")
    return 0


def parse_adapters(items: Sequence[str]) -> dict[str, str]:
    adapters: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise UserError(f"--adapter {item!r}: expected NAME=PATH, e.g. --adapter support-bot=jobs/support/adapter")
        if name in adapters:
            raise UserError(f"--adapter {name}=...: the name is given twice; each adapter needs its own name.")
        adapters[name] = path
    return adapters


def parse_key_values(items: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """-H KEY=VALUE items as a dict, and a problem for each malformed one (reported with all the others)."""
    values, malformed = {}, []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            malformed.append(f"-H {item!r}: expected KEY=VALUE, e.g. -H epoch=3")
            continue
        values[key.strip()] = value.strip()
    return values, malformed


COMMANDS = {
    "train": cmd_train,
    "models": cmd_models,
    "hyperparameters": cmd_hyperparameters,
    "generate": cmd_generate,
    "jobs": cmd_jobs,
    "deploy": cmd_deploy,
    "endpoints": cmd_endpoints,
    "studio": cmd_studio,
    "report": cmd_report,
    "evaluate": cmd_evaluate,
}

if __name__ == "__main__":
    sys.exit(main())
