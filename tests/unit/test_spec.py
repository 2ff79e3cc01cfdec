"""Unit layer: assignment specs are validated whole, with the file and the key in every error."""
import pytest

from grader.spec import SpecError, list_assignments, load_spec, parse_spec
from tests.conftest import ROOT

CIFAR_ASSIGNMENTS = [name for name in list_assignments() if name.startswith("cifar-")]


def test_bad_spec_names_file_and_field(tmp_path):
    good = (ROOT / "assignments" / "mycnn" / "spec.toml").read_text()
    bad = tmp_path / "broken" / "spec.toml"
    bad.parent.mkdir()
    bad.write_text(good.replace('shape = ["B", 32, 26, 26]', 'shape = ["B", 32, -26, 26]'))
    with pytest.raises(SpecError, match=r"broken/spec.toml: field 'rows\[0\].shape' entry 2"):
        load_spec(bad)
    with pytest.raises(SpecError, match="field 'title' is missing"):
        parse_spec({"input_shape": [1, 28, 28]}, bad)
    with pytest.raises(SpecError, match="unknown assignment 'nope'; valid names: cifar-cnn1, cifar-vgg11, .*, cnn-5x5, lenet-320"):
        load_spec("nope")


@pytest.mark.parametrize("change,message", [
    (("loss_rel_tol = 0.002", "loss_rel_tolerance = 0.002"),
     "unknown field 'quiz.loss_rel_tolerance': did you mean 'loss_rel_tol'?"),
    (("[points]", "[points]\nshape = 6"), "unknown field 'points.shape': did you mean 'shapes'?"),
    (("reeval = 3", "re_eval = 3"), "unknown field 'quiz.points.re_eval': did you mean 'reeval'?"),
    (("weight_cosine = 0.999", "weight_cosin = 0.999"),
     "unknown field 'integrity.weight_cosin': did you mean 'weight_cosine'?"),
    (('title = "', 'titel = "x"\ntitle = "'), "unknown field 'titel': did you mean 'title'?"),
    (('shape = ["B", 32, 26, 26]', 'shape = ["B", 32, 26, 26], param = 320'),
     r"unknown field 'rows\[0\].param': did you mean 'params'?"),
    (("min_epochs = 1", "min_epochs = 1\ntrain_size = 0"), "field 'quiz.train_size' must be a positive integer"),
])
def test_a_spec_with_an_unknown_or_bad_key_is_an_error_naming_file_and_key(tmp_path, change, message):
    good = (ROOT / "assignments" / "mycnn" / "spec.toml").read_text()
    assert change[0] in good
    bad = tmp_path / "typo" / "spec.toml"
    bad.parent.mkdir()
    bad.write_text(good.replace(change[0], change[1], 1))
    with pytest.raises(SpecError, match="typo/spec.toml: " + message):
        load_spec(bad)


def test_the_training_set_size_follows_the_dataset():
    # the optimizer check's step count: MNIST trains on 60,000 images, the course's CIFAR-10 split on 40,000
    assert load_spec("mycnn").train_size == 60000
    assert all(load_spec(name).train_size == 40000 for name in CIFAR_ASSIGNMENTS)


def test_a_spec_extends_an_assignment_and_changes_only_what_it_says(tmp_path):
    from grader.spec import parse_spec_text, spec_texts
    shipped = load_spec(ROOT / "assignments" / "mycnn")
    demo = load_spec(ROOT / "examples" / "mycnn-demo", root=ROOT / "assignments")
    assert shipped.quiz["min_val_accuracy"] == 97.0 and demo.quiz["min_val_accuracy"] == 70.0
    assert demo.rows == shipped.rows and demo.quiz["points"] == shipped.quiz["points"] and demo.name == "mycnn-demo"
    assert demo.sources == (ROOT / "assignments" / "mycnn" / "spec.toml", ROOT / "examples" / "mycnn-demo" / "spec.toml")
    again = parse_spec_text(spec_texts(demo), "mycnn-demo")  # what a cluster worker reads
    assert again.quiz == demo.quiz and again.rows == demo.rows
    (tmp_path / "loop").mkdir()
    (tmp_path / "loop" / "spec.toml").write_text('extends = "loop"\n')
    with pytest.raises(SpecError, match="'extends' names 'loop', which is not another assignment"):
        load_spec(tmp_path / "loop", root=tmp_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "spec.toml").write_text('extends = "mycnn"\n[quiz]\nmin_val_accuracy = 140\n')
    with pytest.raises(SpecError, match="quiz.min_val_accuracy' must be a percent from 0 to 100, found 140"):
        load_spec(tmp_path / "bad", root=ROOT / "assignments")


@pytest.mark.parametrize("table,message", [
    ("similarity = 3\n", "field 'similarity' must be a table"),
    ("[similarity]\nmin_shares = 0.5\n", "unknown field 'similarity.min_shares': did you mean 'min_share'?"),
    ("[similarity]\nkgram = 2\n", "field 'similarity.kgram' must be an integer from 4 to 100, found 2"),
    ("[similarity]\nwindow = 6.5\n", "field 'similarity.window' must be an integer from 1 to 100, found 6.5"),
    ("[similarity]\nmin_share = 1.5\n", "field 'similarity.min_share' must be a share from 0.01 to 1, found 1.5"),
    ("[similarity]\nmin_share = true\n", "field 'similarity.min_share' must be a share from 0.01 to 1, found True"),
    ("[similarity]\nmin_tokens = -1\n", "field 'similarity.min_tokens' must be an integer from 0 to 1000000"),
    ("[similarity]\nmax_common = 1\n", "field 'similarity.max_common' must be an integer from 2 to 1000, found 1"),
    ("[similarity]\ncompare_models = \"yes\"\n", "field 'similarity.compare_models' must be true or false"),
    ("[similarity]\nboilerplate = \"tutorial.py\"\n", "field 'similarity.boilerplate' must be a list of paths "
     "relative to the assignment's folder"),
    ("[similarity]\nboilerplate = [\"ok.py\", 3]\n", "field 'similarity.boilerplate' must be a list of paths"),
    ("[similarity]\nboilerplate = [\" \"]\n", "field 'similarity.boilerplate' must be a list of paths"),
])
def test_a_bad_similarity_table_is_an_error_naming_file_and_key(tmp_path, table, message):
    good = (ROOT / "assignments" / "mycnn" / "spec.toml").read_text()
    bad = tmp_path / "sim" / "spec.toml"
    bad.parent.mkdir()
    # a top-level key goes before the first table, a table at the end
    bad.write_text(table + good if not table.startswith("[") else good + "\n" + table)
    with pytest.raises(SpecError, match="sim/spec.toml: " + message):
        load_spec(bad)


def test_the_similarity_table_keeps_every_default_the_spec_does_not_change(tmp_path):
    from grader.spec import SIMILARITY_DEFAULTS
    assert load_spec("mycnn").similarity == SIMILARITY_DEFAULTS
    changed = tmp_path / "changed" / "spec.toml"
    changed.parent.mkdir()
    changed.write_text((ROOT / "assignments" / "mycnn" / "spec.toml").read_text()
                       + "\n[similarity]\nmin_share = 1\nmin_tokens = 400\ncompare_models = true\n"
                       + 'boilerplate = ["tutorial/mnist_main.py", "handout"]\n')
    table = load_spec(changed).similarity
    assert table == {**SIMILARITY_DEFAULTS, "min_share": 1.0, "min_tokens": 400, "compare_models": True,
                     "boilerplate": ["tutorial/mnist_main.py", "handout"]}
    assert SIMILARITY_DEFAULTS["boilerplate"] == []  # a spec's list is its own, never the defaults' one
    assert isinstance(table["min_share"], float)
