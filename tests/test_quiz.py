"""The best.pt quiz: an honest submission built for real passes; forged ones fail with both numbers."""
import json
import os
import shutil

import pytest
import torch

from grader.batch.job import check_in_box
from grader.spec import load_spec
from reference import get_network


def variant(honest, tmp_path):
    sub, _, _ = honest
    target = tmp_path / "forged"
    shutil.copytree(sub, target)
    return target


def check(folder):
    report = check_in_box(load_spec("mycnn"), folder)
    return report, {c.name: c for c in report.checks}


@pytest.mark.slow
def test_honest_submission_passes(honest):
    report, checks = check(honest[0])
    assert report.passed, "\n".join(c.message for c in report.checks)
    assert "epoch 2" in checks["epoch"].message and "ToTensor" in checks["reeval"].message


@pytest.mark.slow
def test_checkpoint_from_another_epoch(honest, tmp_path):
    folder = variant(honest, tmp_path)
    state = torch.load(honest[1][1], weights_only=True)
    state["epoch"] = 2  # epoch-1 weights, labelled as the best epoch
    torch.save(state, folder / "best.pt")
    report, checks = check(folder)
    assert checks["reeval"].status == "fail"
    assert f"{honest[2][0]:.4f}" in checks["reeval"].message and "epoch-1 value" in checks["reeval"].message


@pytest.mark.slow
def test_curves_edited(honest, tmp_path):
    folder = variant(honest, tmp_path)
    doc = json.loads((folder / "curves.json").read_text())
    doc["val_loss"][1] = doc["val_loss"][1] * 0.8
    (folder / "curves.json").write_text(json.dumps(doc))
    report, checks = check(folder)
    assert checks["reeval"].status == "fail" and f"{doc['val_loss'][1]:.4f}" in checks["reeval"].message
    assert "disagrees" in checks["curves"].message  # the plots still carry the original data


@pytest.mark.slow
def test_epoch_field_wrong(honest, tmp_path):
    folder = variant(honest, tmp_path)
    state = torch.load(folder / "best.pt", weights_only=True)
    state["epoch"] = 7
    torch.save(state, folder / "best.pt")
    _, checks = check(folder)
    assert checks["epoch"].status == "fail" and "says epoch 7" in checks["epoch"].message


@pytest.mark.slow
def test_saved_every_epoch_last_instead_of_best(honest, tmp_path):
    folder = variant(honest, tmp_path)
    shutil.copy(honest[1][3], folder / "best.pt")
    _, checks = check(folder)
    assert checks["epoch"].status == "fail" and "last epoch" in checks["epoch"].message
    assert "lowest at epoch 2" in checks["epoch"].message and checks["reeval"].status == "fail"


def test_curves_missing(honest, tmp_path):
    folder = variant(honest, tmp_path)
    for name in ("curves.json", "val_loss.png", "val_acc.png"):
        (folder / name).unlink()
    _, checks = check(folder)
    assert checks["curves"].status == "fail" and "No validation curves" in checks["curves"].message


def test_unusable_curves_fail_whatever_the_words(honest, tmp_path):
    # an unreadable curves.json (and no other source) is an error of the curves, never a crash or a pass
    folder = variant(honest, tmp_path)
    for name in ("val_loss.png", "val_acc.png"):
        (folder / name).unlink()
    (folder / "curves.json").write_text("{not json")
    report, checks = check(folder)
    assert not report.fatal and checks["curves"].status == "fail", checks["curves"].message
    assert "curves.json is not valid JSON" in checks["curves"].message


def test_curve_sources_are_ranked_and_judged_by_kind(tmp_path):
    from grader.quiz.curves import read_curves, write_curves

    write_curves(tmp_path, [0.5, 0.4], [0.81, 0.85])  # accuracy as a fraction: a note, not an error
    (tmp_path / "curves.csv").write_text("val_loss,val_accuracy\n0.5,81\n0.3,85\n")
    files = sorted(tmp_path.iterdir())
    curves = read_curves(files)
    assert (curves.kind, curves.source) == ("json", "curves.json") and not curves.errors
    assert curves.val_accuracy == [81.0, 85.0] and curves.notes == ["accuracy was given as a fraction; read as percent"]
    assert curves.disagreements == ["curves.csv disagrees with curves.json"]
    (tmp_path / "curves.json").unlink()
    curves = read_curves(sorted(tmp_path.iterdir()), min_epochs=3)
    assert curves.kind == "csv" and curves.errors == ["2 epochs recorded; the assignment asks for at least 3"]
    (tmp_path / "curves.csv").unlink()
    curves = read_curves(sorted(tmp_path.iterdir()))
    assert (curves.kind, curves.source) == ("png", "the data stored in val_acc.png")


class Marker:
    path = ""

    def __reduce__(self):
        return (os.mkdir, (self.path,))


@pytest.mark.parametrize("kind", ["whole_model", "reduce_writes_file", "truncated", "random", "empty", "wrong_keys",
                                  "nan", "other_architecture"])
def test_bad_checkpoints(honest, tmp_path, kind):
    folder = variant(honest, tmp_path)
    best = folder / "best.pt"
    marker = tmp_path / "pwned"
    if kind == "whole_model":
        model = get_network("mycnn").build()
        model.load_state_dict(torch.load(best, weights_only=True)["model"])
        torch.save(model, best)
    elif kind == "reduce_writes_file":
        evil = Marker()
        evil.path = str(marker)
        torch.save({"model": evil, "epoch": 2}, best)
    elif kind == "truncated":
        best.write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    elif kind == "random":
        best.write_bytes(os.urandom(5000))
    elif kind == "empty":
        best.write_bytes(b"")
    elif kind == "wrong_keys":
        state = torch.load(best, weights_only=True)
        torch.save({"weights": state["model"], "epoch": 2}, best)
    elif kind == "nan":
        state = torch.load(best, weights_only=True)
        state["model"]["fc2.weight"][0, 0] = float("nan")
        torch.save(state, best)
    elif kind == "other_architecture":
        torch.save({"model": get_network("simple-cnn").build().state_dict(), "epoch": 2}, best)
    report, checks = check(folder)
    message = checks["checkpoint"].message
    assert checks["checkpoint"].status == "fail", message
    expected = {"whole_model": "state_dict", "reduce_writes_file": "cannot be loaded safely", "truncated": "truncated",
                "random": "not a PyTorch checkpoint", "empty": "empty", "wrong_keys": "none holds the model's weights",
                "nan": "NaN", "other_architecture": "different architecture"}[kind]
    assert expected in message
    assert not marker.exists()
    assert checks["shapes"].status == "pass"  # the rest of the report still runs


@pytest.mark.slow
def test_bare_state_dict_and_prefixes_are_accepted(honest, tmp_path):
    folder = variant(honest, tmp_path)
    state = torch.load(folder / "best.pt", weights_only=True)["model"]
    torch.save({f"module.{k}": v for k, v in state.items()}, folder / "best.pt")
    report, checks = check(folder)
    assert checks["checkpoint"].status == "pass" and "bare state_dict" in checks["checkpoint"].message
    assert checks["epoch"].status == checks["optimizer"].status == "skip" and not checks["epoch"].required
    assert checks["reeval"].status == "pass" and report.passed


@pytest.mark.slow
def test_unchanged_submission_is_answered_from_the_cache(honest, tmp_path):
    from tests.conftest import run_cli

    folder = variant(honest, tmp_path)
    first = json.loads(run_cli("check", folder, "-a", "mycnn", "--json").stdout)
    second = json.loads(run_cli("check", folder, "-a", "mycnn", "--json").stdout)
    assert "cached" not in first["timings"] and second["timings"]["cached"] is True
    assert second["checks"] == first["checks"] and second["passed"]
    state = torch.load(folder / "best.pt", weights_only=True)
    state["epoch"] = 7
    torch.save(state, folder / "best.pt")  # a changed checkpoint is checked again
    third = json.loads(run_cli("check", folder, "-a", "mycnn", "--json").stdout)
    assert "cached" not in third["timings"] and not third["passed"]
    fresh = json.loads(run_cli("check", folder, "-a", "mycnn", "--json", "--no-cache").stdout)
    assert "cached" not in fresh["timings"]


@pytest.mark.slow
def test_adam_step_count_warns_when_it_does_not_fit_the_batch_size(honest, tmp_path):
    folder = variant(honest, tmp_path)
    (folder / "model.py").write_text((folder / "model.py").read_text() + "\nbatch_size = 64\n")
    _, checks = check(folder)
    message = checks["optimizer"].message
    assert checks["optimizer"].status == "pass" and "Warning: with batch_size = 64" in message
    assert "epoch 2 means 1,876 steps, not 38" in message  # honest fixture: 1,200 images, so 19 steps per epoch


@pytest.mark.slow
def test_a_student_who_normalized_is_recognised(honest, tmp_path):
    from grader.data.mnist import load_mnist
    from grader.quiz.evaluate import validate
    folder = variant(honest, tmp_path)
    model = get_network("mycnn").build()
    model.load_state_dict(torch.load(folder / "best.pt", weights_only=True)["model"])
    loss, _, acc = validate(model, load_mnist(False), mean=0.1307, std=0.3081)
    # curves recorded with Normalize((0.1307,), (0.3081,)), lowest at epoch 2 as best.pt says
    (folder / "curves.json").write_text(json.dumps({"val_loss": [loss * 1.5, loss, loss * 1.2],
                                                    "val_accuracy": [acc - 2, acc, acc - 1]}))
    for png in folder.glob("*.png"):
        png.unlink()
    _, checks = check(folder)
    assert checks["reeval"].status == "pass", checks["reeval"].message
    assert "Your preprocessing was Normalize((0.1307,), (0.3081,))" in checks["reeval"].message


@pytest.mark.slow
def test_a_last_epoch_checkpoint_is_named_without_trying_other_preprocessings(honest, tmp_path):
    folder = variant(honest, tmp_path)
    shutil.copy(honest[1][3], folder / "best.pt")  # epoch 3's weights (lr 0.05): a much higher loss
    _, checks = check(folder)
    message = checks["reeval"].message
    assert checks["reeval"].status == "fail" and f"Re-evaluated with ToTensor, best.pt gives loss {honest[2][2]:.4f}" \
        in message
    assert "which is your epoch-3 value" in message and "it holds the weights of epoch 3" in message
    assert "Tried also" not in message  # ToTensor reproduced epoch 3: the curves were made with ToTensor
    assert checks["reeval"].details["epoch"] == 3  # the report draws the point on epoch 3


@pytest.mark.slow
def test_other_preprocessings_stop_once_their_loss_is_provably_too_high(honest, tmp_path):
    folder = variant(honest, tmp_path)
    shutil.copy(honest[1][3], folder / "best.pt")
    doc = json.loads((folder / "curves.json").read_text())
    doc["val_loss"][2] = doc["val_loss"][2] * 0.5  # now no epoch of the curve is what best.pt gives
    (folder / "curves.json").write_text(json.dumps(doc))
    for png in folder.glob("*.png"):
        png.unlink()
    _, checks = check(folder)
    message = checks["reeval"].message
    assert checks["reeval"].status == "fail" and f"{honest[2][2]:.4f} with ToTensor" in message
    assert "Tried also" in message and "already from the first" in message


@pytest.mark.slow
def test_a_forward_that_returns_logits_is_re_evaluated_by_cross_entropy(honest, tmp_path):
    folder = variant(honest, tmp_path)
    code = (folder / "model.py").read_text()
    assert "return F.log_softmax(x, dim=1)" in code
    (folder / "model.py").write_text(code.replace("return F.log_softmax(x, dim=1)", "return x"))
    _, checks = check(folder)
    assert checks["output"].status == "fail"  # the one mistake is reported once, by the output check
    assert checks["reeval"].status == "pass", checks["reeval"].message
    assert "cross-entropy" in checks["reeval"].message and "not log-probabilities" in checks["reeval"].message


def test_nll_of_raw_outputs_is_still_recognised():
    from grader.data.mnist import Split, load_mnist
    from grader.quiz.checks import _loss_variants, per_image_losses
    val = load_mnist(False)
    val = Split(val.images[:300], val.labels[:300], val.source)
    torch.manual_seed(0)
    logits = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 26 * 26, 10))
    losses, _, raw = per_image_losses(logits, True, 0.0, 1.0, val)
    with torch.no_grad():
        out = logits(val.images.float().div(255).unsqueeze(1))
    assert torch.allclose(raw, -out.gather(1, val.labels.view(-1, 1)).squeeze(1), atol=1e-5)
    assert torch.allclose(losses, torch.nn.functional.cross_entropy(out, val.labels, reduction="none"), atol=1e-5)
    values = _loss_variants(losses, raw)
    assert values["mean over images, NLL of your outputs as they are"] == pytest.approx(raw.mean().item())
    assert values["mean over images, cross-entropy: log_softmax applied to your outputs"] == pytest.approx(
        losses.mean().item())


def test_loss_lower_bound_never_exceeds_a_loss_variant():
    from grader.quiz.checks import _loss_lower_bound, _loss_variants
    generator = torch.Generator().manual_seed(0)
    for n in (10000, 1000, 77):
        losses = torch.rand(n, generator=generator) ** 4 * 5
        variants = _loss_variants(losses)
        bounds = [_loss_lower_bound(list(losses[:seen].split(64)), n) for seen in (1, 64, 500, n)]
        assert max(bounds) <= min(variants.values()) + 1e-9  # so a variant that could match is never cut short
        assert bounds == sorted(bounds)  # and it only tightens as images come in
        assert bounds[-1] == pytest.approx(min(variants.values()))  # with every image seen, it is exact


def test_early_stop_only_for_log_probabilities():
    from grader.data.mnist import Split, load_mnist
    from grader.quiz.checks import per_image_losses
    val = load_mnist(False)
    val = Split(val.images[:2000], val.labels[:2000], val.source)
    torch.manual_seed(0)
    logits = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 26 * 26, 10))
    log_probs = torch.nn.Sequential(logits, torch.nn.LogSoftmax(dim=1))
    stopped, _, raw = per_image_losses(log_probs, True, 0.0, 1.0, val, stop_above=1e-6)
    assert len(stopped) == 512 and raw is None  # checked every 8 batches of 64: the first 512 images prove it
    full, _, _ = per_image_losses(log_probs, True, 0.0, 1.0, val)
    assert len(full) == 2000 and torch.equal(full[:512], stopped)
    # raw logits read as log-probabilities: their NLL may be negative, so nothing is proved and the pass is whole
    losses, _, raw = per_image_losses(logits, True, 0.0, 1.0, val, stop_above=1e-6)
    assert len(losses) == len(raw) == 2000


@pytest.mark.slow
def test_a_checkpoint_handed_in_under_another_name_without_an_epoch_is_named_as_it_is(honest, tmp_path):
    folder = variant(honest, tmp_path)
    (folder / "best.pt").unlink()
    torch.save(torch.load(honest[1][3], weights_only=True)["model"], folder / "model_best.pth")  # epoch 3, bare
    _, checks = check(folder)
    message = checks["reeval"].message
    assert checks["reeval"].status == "fail", message
    assert "model_best.pth stores no epoch" in message and "it holds the weights of epoch 3" in message
    assert "None" not in message and "best.pt says" not in message
    assert "model_best.pth stores no epoch" in checks["epoch"].message


@pytest.mark.slow
def test_a_normalizing_student_is_told_first_what_their_checkpoint_reproduces(honest, tmp_path):
    from grader.data.mnist import load_mnist
    from grader.quiz.evaluate import validate
    folder = variant(honest, tmp_path)
    curves = {"val_loss": [], "val_accuracy": []}
    for epoch in (1, 2, 3):  # the student's curves, recorded with Normalize((0.1307,), (0.3081,))
        model = get_network("mycnn").build()
        model.load_state_dict(torch.load(honest[1][epoch], weights_only=True)["model"])
        loss, _, acc = validate(model, load_mnist(False), mean=0.1307, std=0.3081)
        curves["val_loss"].append(loss)
        curves["val_accuracy"].append(acc)
    (folder / "curves.json").write_text(json.dumps(curves))
    for png in folder.glob("*.png"):
        png.unlink()
    shutil.copy(honest[1][3], folder / "best.pt")  # the last epoch's weights, not the minimum's
    _, checks = check(folder)
    message = checks["reeval"].message
    assert checks["reeval"].status == "fail", message
    lead = "Re-evaluated with Normalize((0.1307,), (0.3081,)) (your preprocessing: it reproduces your own curve)"
    assert message.startswith(lead), message
    assert f"{curves['val_loss'][2]:.4f}" in message and "your epoch-3 value" in message
    assert message.index("epoch-3 value") < message.index("lowest at epoch 2")


@pytest.mark.slow
def test_the_shipped_floor_requires_a_trained_model(honest, tmp_path):
    """The shipped mycnn needs 97% re-evaluated (the tests' own copy lowers it): a briefly trained checkpoint that
    reproduces its curve, and an untrained one with after-the-fact curves, both fail 'reeval' and say why."""
    from grader.data.mnist import load_mnist
    from grader.quiz.evaluate import validate
    from reference.checkpoint import save_checkpoint
    from tests.conftest import SHIPPED_ASSIGNMENTS

    shipped = load_spec(SHIPPED_ASSIGNMENTS / "mycnn", root=SHIPPED_ASSIGNMENTS)
    assert shipped.quiz["min_val_accuracy"] == 97.0
    reeval = {c.name: c for c in check_in_box(shipped, honest[0]).checks}["reeval"]
    assert reeval.status == "fail" and "reproduces your curve" in reeval.message, reeval.message
    assert "at least 97% of the validation images correct" in reeval.message
    untrained = variant(honest, tmp_path)
    torch.manual_seed(5)
    model = get_network("mycnn").build()
    loss, _, acc = validate(model, load_mnist(False))
    (untrained / "curves.json").write_text(json.dumps({"val_loss": [loss], "val_accuracy": [acc]}))
    for png in untrained.glob("*.png"):
        png.unlink()
    save_checkpoint(untrained / "best.pt", model, torch.optim.Adam(model.parameters()), 1)
    checks = {c.name: c for c in check_in_box(shipped, untrained).checks}
    assert checks["reeval"].status == "fail" and "needs a trained model" in checks["reeval"].message
    assert checks["curves"].status == "pass"  # the after-the-fact curves are self-consistent: the floor is what fails
