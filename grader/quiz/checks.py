"""The Week 4 quiz: cross-check the submitted best.pt against the submitted curves by re-evaluating it.

Checks (enabled by the spec's ``[quiz]`` table): ``checkpoint`` (loads safely and strictly into the student's own
class, all finite), ``optimizer`` (its state fits the model), ``curves`` (found and sane), ``epoch`` (the saved
epoch is the minimum of the loss curve: "save only when validation loss is minimum"), ``reeval`` (the checkpoint,
re-evaluated on the 10,000 validation images, gives the curve's minimum loss and its accuracy at that epoch).

Tolerances (spec ``[quiz]``): ``loss_rel_tol`` (default 0.002, relative) on the loss, compared with both the
per-image mean and the mean of batch means at common batch sizes; ``correct_tol`` (default 3) images on accuracy.
"""
from __future__ import annotations

import json
from dataclasses import asdict

import torch
import torch.nn.functional as F

from grader.data import to_float
from grader.data.cifar import MEAN as CIFAR_MEAN
from grader.data.cifar import STD as CIFAR_STD
from grader.data.cifar import load_cifar10, split_indices
from grader.data.mnist import Split, load_mnist
from grader.files import sha256_file
from grader.i18n import N_, _
from grader.quiz.checkpoint import CheckpointError, byte_limit, find_checkpoints, load_checkpoint_file, step_count
from grader.quiz.curves import read_curves
from grader.quiz.evaluate import PROBE_IMAGES, VAL_BATCH_SIZE, inference_forward
from grader.quiz.sketch import sketch_state
from grader.report import Cause, CheckpointDetails, CheckResult, CurvesDetails, ReevalDetails
from grader.spec import Spec

NORMALIZE_VARIANTS = {"ToTensor": (0.0, 1.0), "Normalize((0.1307,), (0.3081,))": (0.1307, 0.3081),
                      "Normalize((0.5,), (0.5,))": (0.5, 0.5)}
CIFAR_NORMALIZE_VARIANTS = {
    "ToTensor": (0.0, 1.0),
    "Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "Normalize(({}), ({}))".format(*(", ".join(f"{v:.4f}" for v in t) for t in (CIFAR_MEAN, CIFAR_STD))):
        (CIFAR_MEAN, CIFAR_STD),
}
BATCH_MEAN_SIZES = (64, 32, 100, 128, 256, 1000, 1)


def _result(spec: Spec, name: str, status: str, message: str, required: bool = True,
            details: dict | None = None, cause: str = "") -> CheckResult:
    """A quiz check result; ``required=False`` for a skip the spec allows (a bare state_dict has no epoch).

    ``details`` carries data the batch grader reuses (curves, recomputed point, checkpoint hash); ``cause``, the
    typed cause of a failure (a code of :data:`grader.report.CAUSES`).
    """
    points = spec.quiz["points"][name]
    return CheckResult(name, status, points if status == "pass" else 0.0, points, message, required, details,
                       causes=[Cause(cause)] if cause else [])


def _curve_details(curves) -> dict:
    return asdict(CurvesDetails(list(curves.val_loss), list(curves.val_accuracy), curves.source, curves.best_epoch))


def validation_split(spec: Spec, files) -> tuple:
    """(the images the quiz re-evaluates on, their name) for the spec's dataset.

    MNIST: the packaged t10k split. CIFAR-10: the validation fifth of the training images for the ``split_seed``
    recorded in the submitted curves.json (raises ValueError when it is missing).
    """
    if spec.dataset == "cifar10":
        seed = _split_seed(files)
        if seed is None:
            raise ValueError(_("curves.json records no split_seed, so the validation images cannot be rebuilt: "
                               "write the seed of your 40,000 / 10,000 split as \"split_seed\" in curves.json."))
        train = load_cifar10(True)
        _train_idx, val_idx = split_indices(len(train), seed)

        return Split(train.images[val_idx], train.labels[val_idx], f"split_seed {seed}"), f"split_seed {seed}"

    return load_mnist(False), "MNIST t10k"


def _split_seed(files) -> int | None:
    for path in files:
        if path.name == "curves.json":
            try:
                seed = json.loads(path.read_text()).get("split_seed")
            except (OSError, ValueError, AttributeError):
                return None
            return seed if isinstance(seed, int) and not isinstance(seed, bool) else None
    return None


def _loss_lower_bound(losses: list[torch.Tensor], n: int) -> float:
    """The least any of the loss variants (see ``_loss_variants``) over all ``n`` images can be, knowing only the
    per-image losses of the first images (the rest are at least 0)."""
    done = torch.cat(losses)
    bounds = [done.sum().item() / n]
    for size in BATCH_MEAN_SIZES:
        if size > 1 and n % size:
            batches = -(-n // size)
            sums = F.pad(done, (0, -len(done) % size)).view(-1, size).sum(dim=1)  # seen losses per batch so far
            sizes = torch.full_like(sums, size)
            if len(sums) == batches:
                sizes[-1] = n - (batches - 1) * size  # the last, smaller batch
            bounds.append((sums / sizes).sum().item() / batches)
    return min(bounds)


def per_image_losses(model, log_probs: bool, mean, std, val=None,
                     stop_above: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(loss per validation image, whether each is classified correctly, raw losses) for ``model`` in eval mode.

    ``val`` defaults to the MNIST validation split; ``mean``/``std`` are floats or per-channel tuples. The losses
    are the NLL of log-probabilities: the model's own outputs when they are log-probabilities, else log_softmax of
    them (cross-entropy, as CrossEntropyLoss computes it). ``raw`` is None unless ``log_probs`` (the assignment's
    model ends in log_softmax) and the outputs are not log-probabilities (their exponentials do not sum to 1):
    then it is the NLL of the outputs as given, which is what ``F.nll_loss`` in the student's own loop computed.

    The forward pass is reference.train's :func:`inference_forward`: an inference-optimized copy when it
    reproduces the model's own outputs, the model itself otherwise. With ``stop_above``, the pass stops as soon as
    the images so far prove that every loss variant over the whole split exceeds it (the tensors returned are
    then shorter than the split). That proof needs losses that are never negative, so it is not made when there
    are raw losses.
    """

    val = load_mnist(False) if val is None else val
    forward = inference_forward(model, to_float(val.images[:VAL_BATCH_SIZE], mean, std))
    losses, raw, correct = [], [], []
    all_log_probs = True
    with torch.inference_mode():
        for number, start in enumerate(range(0, len(val), VAL_BATCH_SIZE)):
            out = forward(to_float(val.images[start:start + VAL_BATCH_SIZE], mean, std))
            y = val.labels[start:start + VAL_BATCH_SIZE]
            if log_probs:
                raw.append(F.nll_loss(out, y, reduction="none"))
                all_log_probs = all_log_probs and torch.allclose(out.logsumexp(dim=1), torch.zeros(()), atol=1e-3)
            losses.append(F.nll_loss(F.log_softmax(out, dim=1), y, reduction="none"))
            correct.append(out.argmax(dim=1) == y)
            if (stop_above is not None and all_log_probs and number % 8 == 7
                    and _loss_lower_bound(losses, len(val)) > stop_above):
                break
    if log_probs and all_log_probs:
        return torch.cat(raw), torch.cat(correct), None  # the model's own log-probabilities, exactly
    return torch.cat(losses), torch.cat(correct), torch.cat(raw) if log_probs else None


# The names of the loss variants: English keys (the code tells cross-entropy by its key), shown translated.
MEAN_OVER_IMAGES = N_("mean over images")
MEAN_OF_BATCH_MEANS = N_("mean of batch means (batch {size})")
CROSS_ENTROPY_VARIANT = N_("{variant}, cross-entropy: log_softmax applied to your outputs")
RAW_NLL_VARIANT = N_("{variant}, NLL of your outputs as they are")


def _loss_variants(losses: torch.Tensor, raw: torch.Tensor | None = None) -> dict[str, float]:
    """The ways a training loop may have averaged ``losses`` (per-image mean, mean of batch means), by name; with
    ``raw`` (outputs that are not log-probabilities) the same for the raw NLL and for the cross-entropy. The names
    are English (:func:`_variant_text` shows one in the current language)."""
    if raw is not None:
        return {**{CROSS_ENTROPY_VARIANT.format(variant=name): value for name, value in _loss_variants(losses).items()},
                **{RAW_NLL_VARIANT.format(variant=name): value for name, value in _loss_variants(raw).items()}}
    variants = {MEAN_OVER_IMAGES: losses.mean().item()}
    for size in BATCH_MEAN_SIZES:
        if size > 1 and len(losses) % size:
            variants[MEAN_OF_BATCH_MEANS.format(size=size)] = torch.stack(
                [chunk.mean() for chunk in losses.split(size)]).mean().item()
    return variants


def _variant_text(name: str) -> str:
    """A name of :func:`_loss_variants` in the current language."""
    for template in (CROSS_ENTROPY_VARIANT, RAW_NLL_VARIANT):
        suffix = template.format(variant="")
        if name.endswith(suffix):
            return _(template, variant=_variant_text(name[:-len(suffix)]))
    for size in BATCH_MEAN_SIZES:
        if name == MEAN_OF_BATCH_MEANS.format(size=size):
            return _(MEAN_OF_BATCH_MEANS, size=size)
    return _(name)


def _curves_check(spec: Spec, curves) -> CheckResult:
    if curves is None:
        return _result(spec, "curves", "fail", _(
            "No validation curves found. Hand in curves.json ({example}, one value per epoch), or curves.csv, or the "
            "plots written by the course's plotting helper.", example='{"val_loss": [...], "val_accuracy": [...]}'),
            cause="curves_missing")
    if curves.errors:
        return _result(spec, "curves", "fail", _("Curves read from {source}: {problems}", source=curves.source,
                                                 problems="; ".join(curves.errors + curves.notes)),
                       details=_curve_details(curves), cause="curves_invalid")
    extra = "".join("\n" + _("Note: {note}.", note=p) for p in curves.notes + curves.disagreements)
    status = "fail" if curves.disagreements else "pass"
    return _result(spec, "curves", status, _(
        "Curves read from {source}: {epochs} epochs, lowest validation loss {loss:.4f} at epoch {epoch}.",
        source=curves.source, epochs=len(curves.val_loss), loss=min(curves.val_loss), epoch=curves.best_epoch)
        + extra, details=_curve_details(curves), cause="curves_disagree" if curves.disagreements else "")


def run_quiz_checks(spec: Spec, sub, make_model, class_name: str,
                    batch_size: int | None = None) -> list[CheckResult]:
    """The quiz checks for a submission whose model ``make_model()`` builds afresh (None when it could not be built).

    ``make_model`` builds the student's class in this process, or the judge's graph of it
    (:class:`grader.judge.graph.GraphModel`); ``class_name`` names it in the feedback. best.pt and the curves are
    read from ``sub``'s files. ``batch_size`` is the training batch size read from the student's code (None when it
    defines none).
    """
    files = sub.other_files + sub.code_files
    curves = read_curves(files, int(spec.quiz["min_epochs"]))
    results = [_curves_check(spec, curves)]
    # Disagreeing sources fail 'curves' but the preferred source is still cross-checked.
    usable_curves = curves if curves is not None and curves.val_loss and len(curves.val_accuracy) == len(
        curves.val_loss) and (results[-1].status == "pass" or curves.disagreements) else None

    paths = find_checkpoints(files)
    ckpt, model = None, None
    if not paths:
        results.append(_result(spec, "checkpoint", "fail", _("No best.pt (or other .pt/.pth file) in the "
                                                             "submission."), cause="checkpoint_missing"))
    else:
        try:
            ckpt = load_checkpoint_file(paths[0], byte_limit(spec.params_total or spec.params_max))
        except CheckpointError as exc:
            results.append(_result(spec, "checkpoint", "fail", str(exc), cause="checkpoint_unloadable"))
    if ckpt is not None:
        weights = sketch_state(ckpt.state_dict)
        ckpt_details = asdict(CheckpointDetails(sub.relative(ckpt.path), sha256_file(ckpt.path),
                                                *((weights.signature, weights.weights_sha256, weights.sketch)
                                                  if weights else ())))
        if make_model is None:
            results.append(_result(spec, "checkpoint", "skip", _("Skipped: your model class could not be built."),
                                   details=ckpt_details))
        else:
            model = make_model()
            code, problems = _state_problems(model, ckpt.state_dict)
            if problems:
                results.append(_result(spec, "checkpoint", "fail", "\n".join(
                    [_("{file} ({layout}) does not fit {class_name}:", file=ckpt.path.name, layout=ckpt.layout,
                       class_name=class_name), *problems]), details=ckpt_details, cause=code))
                model = None
            else:
                model.load_state_dict(ckpt.state_dict, strict=True)
                results.append(_result(spec, "checkpoint", "pass", _(
                    "{file} loads safely ({layout}) and strictly into {class_name}; every tensor is finite.",
                    file=ckpt.path.name, layout=ckpt.layout, class_name=class_name), details=ckpt_details))
    results.append(_optimizer_check(spec, ckpt, model, batch_size))
    results.append(_epoch_check(spec, ckpt, usable_curves))
    results.append(_reeval_check(spec, ckpt, model, usable_curves, files))
    return results


def _state_problems(model, state: dict) -> tuple[str, list[str]]:
    """Why ``state`` does not fit ``model``: its cause (``checkpoint_architecture``, ``checkpoint_not_finite``) and
    the lines that say so; ``("", [])`` when it fits."""
    own = model.state_dict()
    problems = []
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shaped = [_("{key}: checkpoint {found}, your model {expected}", key=k, found=list(state[k].shape),
                expected=list(own[k].shape)) for k in own if k in state and state[k].shape != own[k].shape]
    if missing:
        problems.append(_("missing keys: {keys}", keys=", ".join(missing[:8])))
    if unexpected:
        problems.append(_("unexpected keys: {keys}", keys=", ".join(unexpected[:8])))
    if shaped:
        problems.append(_("mis-shaped: {shapes}", shapes="; ".join(shaped[:8])))
    if problems:
        problems.append(_("The checkpoint was saved from a different architecture than the class you submitted."))
        return "checkpoint_architecture", problems
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        return "checkpoint_not_finite", [_("NaN or infinite values in: {keys} (training diverged before this save)",
                                           keys=", ".join(bad[:8]))]
    return "", []


def _optimizer_check(spec: Spec, ckpt, model, batch_size: int | None) -> CheckResult:
    if ckpt is None or model is None:
        return _result(spec, "optimizer", "skip", _("Skipped: no usable checkpoint."))
    if ckpt.optimizer is None:
        return _result(spec, "optimizer", "skip", _("Skipped: {file} has no optimizer state ({layout}).",
                                                    file=ckpt.path.name, layout=ckpt.layout), required=False)
    opt = ckpt.optimizer
    params = list(model.parameters())
    indices = [i for group in opt.get("param_groups", []) for i in group.get("params", [])]
    if sorted(indices) != list(range(len(params))):
        return _result(spec, "optimizer", "fail", _(
            "The optimizer state covers {slots} parameter slots, your model has {params} parameters: it was saved "
            "for another model.", slots=len(indices), params=len(params)), cause="optimizer_mismatch")
    wrong = []
    steps = set()
    for index, state in opt.get("state", {}).items():
        slot = int(index) if isinstance(index, int | str) and str(index).isdigit() else -1
        param = params[slot] if 0 <= slot < len(params) else None  # the student's file: any key
        for key, value in state.items():
            if key == "step":
                if (count := step_count(value)) is not None:
                    steps.add(count)
            elif isinstance(value, torch.Tensor) and value.dim() > 0 and (param is None or value.shape != param.shape):
                wrong.append(_("slot {index} '{key}': {found} vs parameter {expected}", index=index, key=key,
                               found=list(value.shape), expected=list(param.shape) if param is not None else []))
    if wrong:
        return _result(spec, "optimizer", "fail", _("Optimizer state does not match the parameters: {problems}",
                                                    problems="; ".join(wrong[:5])), cause="optimizer_mismatch")
    message = _("The optimizer state fits all {params} parameters.", params=len(params))
    if steps and isinstance(ckpt.epoch, int) and not isinstance(ckpt.epoch, bool):
        step = max(steps)
        message += " " + _("Adam-style step count: {step:.0f} ({per_epoch:.0f} per epoch for epoch {epoch}).",
                           step=step, per_epoch=step / max(ckpt.epoch, 1), epoch=ckpt.epoch)
        train_size = spec.train_size
        if batch_size:
            per_epoch = -(-train_size // batch_size)
            expected = {ckpt.epoch * per_epoch, (ckpt.epoch + 1) * per_epoch}  # 1- or 0-based epoch
            if int(step) not in expected:
                message += "\n" + _(
                    "Warning: with batch_size = {batch_size} (from your code) and {train_size:,} training images, "
                    "epoch {epoch} means {steps:,} steps, not {step:.0f}: was this optimizer state saved at another "
                    "epoch, or trained on a subset?", batch_size=batch_size, train_size=train_size,
                    epoch=ckpt.epoch, steps=ckpt.epoch * per_epoch, step=step)
    return _result(spec, "optimizer", "pass", message)


def _says_epoch(ckpt) -> str:
    """'best.pt says epoch 3', or 'model_best.pth stores no epoch': the file the student handed in, by its name."""
    if ckpt.epoch is None:
        return _("{file} stores no epoch", file=ckpt.path.name)
    return _("{file} says epoch {epoch}", file=ckpt.path.name, epoch=ckpt.epoch)


def _epoch_check(spec: Spec, ckpt, curves) -> CheckResult:
    if ckpt is None:
        return _result(spec, "epoch", "skip", _("Skipped: no usable checkpoint."))
    if ckpt.epoch is None:
        return _result(spec, "epoch", "skip", _("Skipped: {file} stores no epoch ({layout}).", file=ckpt.path.name,
                                                layout=ckpt.layout), required=False)
    if isinstance(ckpt.epoch, bool) or not isinstance(ckpt.epoch, int):
        return _result(spec, "epoch", "fail", _("'epoch' in {file} is {value}; save it as an int.",
                                                file=ckpt.path.name, value=repr(ckpt.epoch)), cause="epoch_type")
    if curves is None:
        return _result(spec, "epoch", "skip", _("Skipped: no usable curves to compare with."))
    best = curves.best_epoch
    fields = {"file": ckpt.path.name, "epoch": ckpt.epoch, "best": best, "loss": min(curves.val_loss)}
    if ckpt.epoch == best:
        return _result(spec, "epoch", "pass", _("{file} says epoch {epoch}, where your loss curve is lowest "
                                                "({loss:.4f}): saved only when validation loss is minimum.", **fields))
    if ckpt.epoch == best - 1:
        return _result(spec, "epoch", "pass", _("{file} says epoch {epoch}, which counting from 0 is epoch {best}, "
                                                "where your loss curve is lowest ({loss:.4f}).", **fields))
    last = len(curves.val_loss)
    hint = (" " + _("That is your last epoch: was best.pt saved every epoch, or after the loop, instead of only on "
                    "a new minimum?") if ckpt.epoch in (last, last - 1) else "")
    return _result(spec, "epoch", "fail", _("{file} says epoch {epoch}; your loss curve is lowest at epoch {best} "
                                            "({loss:.4f}).", **fields) + hint, cause="epoch_not_best")


def _reproduced(spec: Spec, ckpt, curves, label: str, values: dict, raw, losses, got_correct: int,
                text: str) -> CheckResult | None:
    """The reeval result when preprocessing ``label`` reproduces the curve's minimum (a pass, or a fail below the
    accuracy floor or on the count correct) or another epoch of it (a fail naming that epoch); None otherwise."""
    rel_tol, correct_tol = float(spec.quiz["loss_rel_tol"]), int(spec.quiz["correct_tol"])
    best = curves.best_epoch
    want_loss, want_acc = min(curves.val_loss), curves.val_accuracy[best - 1]
    n = len(losses)
    want_correct = round(want_acc * n / 100)
    mean_loss = losses.mean().item()
    match = _matching(values, want_loss, rel_tol)
    if match is not None:
        point = asdict(ReevalDetails(best, values[match], 100.0 * got_correct / n, label))
        fields = {"label": label, "loss": values[match], "best": best, "want_loss": want_loss, "correct": got_correct,
                  "n": n, "want_acc": want_acc}
        if abs(got_correct - want_correct) > correct_tol:
            return _result(spec, "reeval", "fail", _(
                "Re-evaluated with {label}: loss {loss:.4f} matches your epoch-{best} minimum ({want_loss:.4f}), but "
                "{correct}/{n} images are correct where your accuracy curve says {want_acc:.2f}% ({want_correct}/{n}).",
                want_correct=want_correct, **fields), cause="accuracy_mismatch")
        floor = float(spec.quiz.get("min_val_accuracy") or 0.0)
        if 100.0 * got_correct / n < floor:
            return _result(spec, "reeval", "fail", _(
                "Re-evaluated on {n} validation images with {label}: {file} reproduces your curve (loss {loss:.4f}, "
                "{correct}/{n} correct, {accuracy:.2f}%), but this assignment needs a trained model: at least "
                "{floor:g}% of the validation images correct. Train on the whole training set until your validation "
                "accuracy passes it, then hand in that best.pt and its curves.", file=ckpt.path.name,
                accuracy=100.0 * got_correct / n, floor=floor, **fields), details=point, cause="accuracy_below_floor")
        note = "" if label == "ToTensor" else " " + _("Your preprocessing was {label}, not the assignment's ToTensor.",
                                                      label=label)
        if raw is not None and "cross-entropy" in match:
            note += " " + _("Your outputs are not log-probabilities (see the output check): this loss is their "
                            "cross-entropy, as nn.CrossEntropyLoss computes it.")
        return _result(spec, "reeval", "pass", _(
            "Re-evaluated on {n} validation images with {label}: loss {loss:.4f} ({variant}) vs your curve's minimum "
            "{want_loss:.4f} at epoch {best}; {correct}/{n} correct vs your {want_acc:.2f}%.",
            variant=_variant_text(match), **fields) + note, details=point)
    epoch = _other_epoch(curves, values, got_correct, n, best, rel_tol, correct_tol)
    if epoch is not None:
        # This preprocessing reproduces another epoch, loss and accuracy: that identifies both the preprocessing
        # the curves were made with and the weights in best.pt, so nothing else is tried. It leads the message.
        yours = "" if label == "ToTensor" else " " + _("(your preprocessing: it reproduces your own curve)")
        return _result(spec, "reeval", "fail", _(
            "Re-evaluated with {label}{yours}, {file} gives loss {result} ({correct}/{n} correct), which is your "
            "epoch-{epoch} value ({epoch_loss:.4f}, {epoch_acc:.2f}%). But your loss curve is lowest at epoch {best} "
            "({want_loss:.4f}), and {says}: it holds the weights of epoch {epoch}, not those of your lowest "
            "validation loss. Save it only when the validation loss reaches a new minimum.", label=label,
            yours=yours, file=ckpt.path.name, result=text, correct=got_correct, n=n, epoch=epoch,
            epoch_loss=curves.val_loss[epoch - 1], epoch_acc=curves.val_accuracy[epoch - 1], best=best,
            want_loss=want_loss, says=_says_epoch(ckpt)),
            details=asdict(ReevalDetails(epoch, mean_loss, 100.0 * got_correct / n, label)),
            cause="checkpoint_other_epoch")
    return None


def _reeval_check(spec: Spec, ckpt, model, curves, files=()) -> CheckResult:
    if model is None or curves is None:
        return _result(spec, "reeval", "skip", _("Skipped: needs a checkpoint that loads and usable curves."))
    rel_tol = float(spec.quiz["loss_rel_tol"])
    log_probs = spec.output == "log_probs"
    try:
        val, _name = validation_split(spec, files)
    except ValueError as exc:
        return _result(spec, "reeval", "fail", str(exc), cause="split_seed_missing")
    except Exception as exc:  # noqa: BLE001 - DataError: the grader's machine lacks the data
        return _result(spec, "reeval", "skip", _("Not checked: the validation data is not available on the "
                                                 "grading machine ({error}).", error=exc))
    variants = CIFAR_NORMALIZE_VARIANTS if spec.dataset == "cifar10" else NORMALIZE_VARIANTS
    tried: list[tuple[str, float | None, int | None, str]] = []  # (preprocessing, loss, correct, text)
    for label, (mean, std) in variants.items():
        # The assignment's own preprocessing is always evaluated in full (a failure quotes its loss); the others
        # stop as soon as their loss provably exceeds the curve's minimum.
        stop_above = None if not tried else max(curves.val_loss) * (1 + rel_tol)
        try:
            losses, correct, raw = per_image_losses(model, log_probs, mean, std, val, stop_above)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the student's forward may raise anything

            last = len(val) % VAL_BATCH_SIZE
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            return _result(spec, "reeval", "fail", _(
                "Re-evaluating best.pt on the validation images (batches of {batch}, the last one {last} images, "
                "after a first look at {probe} and {few} of them) crashed in your forward(): {error}. If it names a "
                "size of {batch} against a smaller batch, your forward() assumes a fixed batch size: flatten with "
                "torch.flatten(x, 1) or x.view(x.size(0), -1).", batch=VAL_BATCH_SIZE, last=last, probe=PROBE_IMAGES,
                few=3, error=error),
                cause="reeval_crash")
        if len(losses) < len(val):
            tried.append((label, None, None, _("over {highest:.4f} (your curve's highest) already from the first "
                                               "{n:,} images", highest=max(curves.val_loss), n=len(losses))))
            continue
        values = _loss_variants(losses, raw)
        got_correct = int(correct.sum())
        mean_loss = losses.mean().item()
        text = f"{mean_loss:.4f}" + ("" if raw is None else " " + _(
            "(cross-entropy; {raw:.4f} as the NLL of your outputs as they are, which are not log-probabilities)",
            raw=raw.mean().item()))
        tried.append((label, mean_loss, got_correct, text))
        found = _reproduced(spec, ckpt, curves, label, values, raw, losses, got_correct, text)
        if found is not None:
            return found
    return _mismatch(spec, ckpt, curves, tried, len(val))


def _mismatch(spec: Spec, ckpt, curves, tried: list, n: int) -> CheckResult:
    """The reeval failure when no preprocessing reproduced the curve's minimum: what the assignment's own
    preprocessing (``tried[0]``) gave, and what the others did."""
    label, first_loss, first_correct, text = tried[0]
    assert first_loss is not None and first_correct is not None  # the first preprocessing always runs whole
    loss, got_correct = first_loss, first_correct
    closest = min(range(len(curves.val_loss)), key=lambda i: abs(curves.val_loss[i] - loss)) + 1
    fields = {"says": _says_epoch(ckpt), "best": curves.best_epoch, "want_loss": min(curves.val_loss),
              "result": text, "label": label, "correct": got_correct, "n": n, "closest": closest,
              "closest_loss": curves.val_loss[closest - 1],
              "tried": ", ".join(f"{lab}: {tried_text}" for lab, _loss, _correct, tried_text in tried[1:])}
    if abs(curves.val_loss[closest - 1] - loss) <= float(spec.quiz["loss_rel_tol"]) * 5 * abs(loss):
        message = _("{says}; your loss curve is lowest at epoch {best} ({want_loss:.4f}); the checkpoint re-evaluates "
                    "to {result} with {label}, which is your epoch-{closest} value ({closest_loss:.4f}) ({correct}/{n} "
                    "correct). Tried also: {tried}.", **fields)
    else:
        message = _("{says}; your loss curve is lowest at epoch {best} ({want_loss:.4f}); the checkpoint re-evaluates "
                    "to {result} with {label} ({correct}/{n} correct). Tried also: {tried}.", **fields)
    return _result(spec, "reeval", "fail", message,
                   details=asdict(ReevalDetails(ckpt.epoch if isinstance(ckpt.epoch, int) else None, loss,
                                                100.0 * got_correct / n, label)), cause="reeval_mismatch")

def _matching(values: dict[str, float], want: float, rel_tol: float) -> str | None:
    """The first loss variant in ``values`` within ``rel_tol`` of ``want``, or None."""
    return next((name for name, v in values.items() if abs(v - want) <= rel_tol * max(abs(want), 1e-8)), None)


def _other_epoch(curves, values: dict[str, float], got_correct: int, n: int, best: int, rel_tol: float,
                 correct_tol: int) -> int | None:
    """The epoch other than ``best`` whose loss and accuracy the re-evaluation reproduces (same tolerances as the
    check itself), or None."""
    for epoch, (loss, accuracy) in enumerate(zip(curves.val_loss, curves.val_accuracy, strict=False), start=1):
        if (epoch != best and _matching(values, loss, rel_tol) is not None
                and abs(got_correct - round(accuracy * n / 100)) <= correct_tol):
            return epoch
    return None
