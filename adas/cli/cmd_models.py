"""``adas models``: the detectors the stack knows, and any ONNX detector a user brings.

``list`` the registry with each file found or missing; ``fetch NAME`` downloads registry models
(checksum-verified, ``tools/fetch_models.py``); ``inspect FILE`` shows inputs, outputs,
metadata, the family identified and why, and the preprocessing that will be used with where
each value came from (:mod:`adas.detect.cards`); ``check FILE`` runs the model through the
stack on labelled frames and fails (exit 1) when it finds nearly nothing where the labels have
cars (:mod:`adas.evaluate.model_check`), and ``--fit-card`` writes the card that scores best.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from adas.cli.common import (
    HelpFormatter,
    UsageError,
    add_json_arg,
    check_input,
    check_output,
    emit_json,
    summary_stream,
)

MODELS_EXAMPLES = """\
examples:
  adas models list --json models.json
  adas models fetch yolox_nano --dest ~/.cache/adas/models
  adas models inspect my_detector.onnx
  adas models check my_detector.onnx --json check.json
  adas models check my_detector.onnx --fit-card   # writes my_detector.toml beside it"""


def add_parser(sub: Any) -> None:
    mp = sub.add_parser(
        "models",
        help="list, fetch, inspect and check detector models (any ONNX detector)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
        epilog=MODELS_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    ms = mp.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    ls = ms.add_parser("list", help="registry models, with files found or missing")
    ls.set_defaults(handler=list_models)
    add_json_arg(ls, "the list")
    fe = ms.add_parser("fetch", help="download registry models, sha256-checked")
    fe.set_defaults(handler=fetch)
    fe.add_argument("names", nargs="*", help="registry names (default: all)")
    fe.add_argument("--dest", type=Path, default=None, help="default $ADAS_MODEL_DIR or ~/.cache")
    fe.add_argument("--mirror", type=Path, default=None, help="local folder to copy from")
    ins = ms.add_parser(
        "inspect",
        help="inputs, outputs, metadata, family and preprocessing (with their origin)",
        formatter_class=HelpFormatter,
    )
    ins.set_defaults(handler=inspect)
    ins.add_argument("model", help="registry name or .onnx path")
    ins.add_argument("--model-card", type=Path, default=None, help="card TOML (default: beside)")
    add_json_arg(ins, "the inspection")
    ch = ms.add_parser(
        "check",
        help="recall/precision per class on labelled frames; exit 1 when the model fails",
        formatter_class=HelpFormatter,
    )
    ch.set_defaults(handler=check)
    ch.add_argument("model", help="registry name or .onnx path")
    ch.add_argument("--model-card", type=Path, default=None, help="card TOML (default: beside)")
    ch.add_argument(
        "--images",
        type=Path,
        action="append",
        default=None,
        help="KITTI object folder (image_2/, label_2/); repeat to pool (default: the shared "
        "kitti/object and kitti/object_val under ADAS_DATA_DIR)",
    )
    ch.add_argument(
        "--labels",
        action="store_true",
        help="accepted for clarity: the frames' labels (label_2/) are always used",
    )
    ch.add_argument(
        "--fit-card",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="try the plausible preprocessings, write the best card to PATH (default: beside "
        "the model, MODEL.toml), then check the model with it",
    )
    add_json_arg(ch, "the check report")


def list_models(args: argparse.Namespace) -> int:
    from adas.detect.registry import load_registry, resolve_model
    from adas.errors import ModelFormatError

    reg = load_registry()
    rows: list[dict[str, Any]] = []
    for name, spec in reg.models.items():
        try:
            path, _ = resolve_model(name, reg)
            where = str(path)
        except ModelFormatError:
            where = ""
        rows.append({"name": name, "default": name == reg.default, "family": spec.family,
                     "file": where, "found": bool(where), "source": spec.source,
                     "licence": spec.licence})  # fmt: skip
    out = summary_stream(args.json)
    for r in rows:
        mark = "*" if r["default"] else " "
        found = r["file"] or f"missing (adas models fetch {r['name']})"
        print(f"{mark} {r['name']:16s} {r['family']:12s} {found}", file=out)
    if args.json is not None:
        emit_json({"default": reg.default, "models": rows}, args.json)
    return 0


def fetch(args: argparse.Namespace) -> int:
    tool = Path(__file__).resolve().parents[2] / "tools" / "fetch_models.py"
    if not tool.is_file():
        msg = f"the fetch tool {tool} is not in this installation (it ships with the checkout)"
        raise UsageError(msg)
    spec = importlib.util.spec_from_file_location("adas_fetch_models", tool)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {tool}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = [*args.names]
    if args.dest is not None:
        argv += ["--dest", str(args.dest)]
    if args.mirror is not None:
        argv += ["--mirror", str(args.mirror)]
    status: int = module.main(argv)
    return status


def _session(model: str, card: Path | None) -> Any:
    from adas.detect.cards import card_input_size
    from adas.detect.registry import resolve_model
    from adas.detect.session import OnnxSession

    path, registry_spec = resolve_model(model)
    size = card_input_size(card, path)
    session = OnnxSession(path, providers=("cpu",), io_binding=False, warmup_runs=0, input_hw=size)
    return session, registry_spec


def inspect(args: argparse.Namespace) -> int:
    check_input(args.model_card, "model card")
    check_output(args.json, "--json")
    from adas.detect.cards import (
        SPEC_KEYS,
        ModelInfo,
        build_spec,
        card_path_for,
        card_template,
        spec_values,
    )
    from adas.detect.classes import label_table
    from adas.detect.heads import identify_family
    from adas.detect.heads.preprocessing import FAMILY_PREPROCESSING
    from adas.detect.registry import sha256_of
    from adas.errors import ModelFormatError
    from adas.types import ObjectClass

    session, registry_spec = _session(args.model, args.model_card)
    info = ModelInfo.of(session)
    try:
        spec = build_spec(info, registry_spec, args.model_card)
    except ModelFormatError:
        # Outputs of no known family: the shapes (in the error) and a card to fill in.
        print(card_template(info), end="")
        raise
    table = label_table(spec.classes)
    try:  # what the output shapes alone say, next to what the spec uses (and why)
        shapes_say = identify_family(info.output_names, info.output_shapes, info.input_wh)
    except ModelFormatError:
        shapes_say = None
    mapped = {
        ObjectClass(int(c)).name.lower(): [int(i) for i in (table == c).nonzero()[0]]
        for c in sorted(set(table.tolist()) - {-1})
    }
    values, origin = spec_values(spec)
    report: dict[str, Any] = {
        "model": str(info.path),
        "sha256": sha256_of(info.path),
        "registry": registry_spec.name if registry_spec is not None else None,
        "card": str(args.model_card or card_path_for(info.path))
        if (args.model_card or card_path_for(info.path).is_file())
        else None,
        "input": {"name": info.input_name, "shape": info.input_shape},
        "outputs": [
            {"name": n, "shape": s}
            for n, s in zip(info.output_names, info.output_shapes, strict=True)
        ],
        "metadata": info.metadata,
        "family_from_shapes": shapes_say,
        "spec": values,
        "origin": origin,
        "adas_classes": mapped,
        "family_source": FAMILY_PREPROCESSING.get(spec.family, {}).get("source", ""),
    }  # fmt: skip
    out = summary_stream(args.json)
    print(f"{report['model']}  (sha256 {report['sha256'][:12]}...)", file=out)
    print(f"input  {info.input_name} {info.input_shape}", file=out)
    for o in report["outputs"]:
        print(f"output {o['name']} {o['shape']}", file=out)
    for k, v in info.metadata.items():
        print(f"metadata {k} = {v[:100]}", file=out)
    print(f"output shapes read as family: {shapes_say or 'none known'}", file=out)
    for k in SPEC_KEYS:
        v = report["spec"][k]
        shown = v if k != "classes" or isinstance(v, str) else f"{len(v)} names"
        print(f"{k:14s} {json.dumps(shown)}  <- {report['origin'][k]}", file=out)
    print(f"adas classes   {json.dumps(mapped)}", file=out)
    if any(v.startswith("family default") for v in report["origin"].values()):
        print(f"family default from: {report['family_source']}", file=out)
    if args.json is not None:
        emit_json(report, args.json)
    return 0


def check(args: argparse.Namespace) -> int:
    check_input(args.model_card, "model card")
    for d in args.images or []:
        check_input(d, "--images", folder_ok=True)
    check_output(args.json, "--json")
    from adas.evaluate.model_check import check as run_check
    from adas.evaluate.model_check import fit_card

    out = summary_stream(args.json)
    roots = args.images
    card = args.model_card
    fitted: dict[str, Any] | None = None
    if args.fit_card is not None:
        from adas.detect.registry import resolve_model

        path, _ = resolve_model(args.model)
        card = Path(args.fit_card) if args.fit_card else path.with_suffix(".toml")
        check_output(card, "--fit-card")
        fitted = fit_card(args.model, roots=roots, out=card)
        print(f"fitted card {card}: {json.dumps(fitted['chosen'])}", file=out)
        for c in fitted["candidates"][:5]:
            print(f"  car F1 {c['f1']:.3f}  {c['channel_order']} {c['normalisation']} "
                  f"{c['resize']} {c['align']}", file=out)  # fmt: skip
    report = run_check(args.model, card=card, roots=roots)
    if fitted is not None:
        report["fit"] = fitted
    print(f"{report['model']} on {report['images']} labelled frames", file=out)
    for key in ("cars", "pedestrians", "cyclists"):
        c = report[key]
        print(f"  {key}: {c['tp']} of {c['gt']} found, {c['fp']} false: recall "
              f"{c['recall']}  precision {c['precision']}", file=out)  # fmt: skip
    if report["passed"]:
        print(f"passed: {report['reason']}", file=out)
    if args.json is not None:
        emit_json(report, args.json)
    if not report["passed"]:
        print(f"error: model check failed: {report['reason']}", file=sys.stderr)
    return 0 if report["passed"] else 1
