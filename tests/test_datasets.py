"""tg.datasets: bundled and generated sets, splitting, and the CSV reader's rules."""

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.datasets import DataFileError, load, load_csv


@pytest.mark.parametrize(
    "name, shape, task",
    [
        ("iris", (150, 4), "classification"),
        ("digits", (1797, 64), "classification"),
        ("wine", (178, 13), "classification"),
        ("breast_cancer", (569, 30), "classification"),
        ("diabetes", (442, 10), "regression"),
        ("moons", (200, 2), "classification"),
        ("circles", (200, 2), "classification"),
        ("spirals", (300, 2), "classification"),
    ],
)
def test_named_sets(name, shape, task):
    ds = load(name)
    assert ds.X.shape == shape and ds.y.shape == (shape[0],) and ds.task == task
    assert ds.X.dtype == np.float64 and len(ds.feature_names) == shape[1]
    if task == "classification":
        assert ds.y.dtype == np.int64 and set(np.unique(ds.y)) == set(range(ds.n_classes))


def test_generated_sets_repeat_for_a_seed():
    a, b = tg.datasets.make_spirals(seed=3), tg.datasets.make_spirals(seed=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, tg.datasets.make_spirals(seed=4).X)
    assert np.bincount(tg.datasets.make_spirals(n_samples=10, n_classes=3).y).tolist() == [4, 3, 3]


def test_stratified_split_and_select():
    train, test = tg.datasets.load_iris().split(0.3, seed=0)
    assert np.bincount(test.y).tolist() == [15, 15, 15] and train.n_samples == 105
    sel = train.select(["petal width (cm)", 0])
    assert sel.feature_names == ("petal width (cm)", "sepal length (cm)")
    with pytest.raises(ValueError, match="no feature"):
        train.select(["nope"])


def test_csv_header_text_target_and_name(tmp_path):
    p = tmp_path / "flowers.csv"
    p.write_text("a,b,kind\n1,2,x\n3,4.5,y\n\n# comment\n5,6,x\n")
    ds = load_csv(p, target="kind")
    assert ds.feature_names == ("a", "b") and ds.target_names == ("x", "y")
    assert ds.y.tolist() == [0, 1, 0] and ds.task == "classification" and ds.name == "flowers"
    assert load(str(p)).target == "kind"


def test_csv_without_header_numeric_target_by_index(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("1.5,0,2\n2.5,1,3\n3.5,0,4\n")
    ds = load_csv(p, target=0)
    assert ds.task == "regression" and ds.feature_names == ("x1", "x2")
    np.testing.assert_array_equal(ds.y, [1.5, 2.5, 3.5])
    assert load_csv(p).task == "classification"  # last column: few whole numbers


@pytest.mark.parametrize(
    "text, match",
    [
        ("a,b,c\n1,2,3\n4,5\n", r"line 3: 2 columns, but line 1 has 3"),
        ("a,b,c\n1,2,3\n4,oops,6\n", r"line 3, column 2 \(b\): the value 'oops'"),
        ("a,b,c\n1,,3\n", r"line 2, column 2 \(b\): an empty cell"),
        ("", "no data rows"),
    ],
)
def test_csv_errors_name_the_line(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataFileError, match=match) as info:
        load_csv(p)
    assert "bad.csv" in str(info.value)


def test_csv_missing_target_and_file(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(DataFileError, match="no column named 'z'"):
        load_csv(p, target="z")
    with pytest.raises(FileNotFoundError):
        load_csv(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="unknown data set"):
        load("mnist")


def test_csv_features_only(tmp_path):
    p = tmp_path / "semi.csv"
    p.write_text("u;v\n1;2\n3.5;4\n# comment\n5;-6\n")
    ds = load_csv(p, target=None)
    assert ds.feature_names == ("u", "v") and ds.X.tolist() == [[1, 2], [3.5, 4], [5, -6]]
    assert ds.y is None and ds.task is None and not ds.labelled and ds.n_classes == 0
    assert "unlabelled" in repr(ds)
    train, test = ds.split(1 / 3, seed=0)  # unlabelled: a plain random split
    assert train.n_samples == 2 and test.n_samples == 1 and test.y is None
    with pytest.raises(ValueError, match="stratify=True needs class labels"):
        ds.split(0.5, stratify=True)
    one = tmp_path / "one.csv"
    one.write_text("1\n2\n")  # one column: enough for features only
    assert load_csv(one, target=None).X.shape == (2, 1)
    with pytest.raises(DataFileError, match=r"line 2, column 3 \(label\)"):
        load_csv(_write(tmp_path, "a,b,label\n1,2,x\n"), target=None)


def _write(tmp_path, text):
    p = tmp_path / "labelled.csv"
    p.write_text(text)
    return p


def test_csv_columns(tmp_path):
    p = _write(tmp_path, "a;b;kind\n1;2;x\n")
    assert tg.datasets.csv_columns(p) == ["a", "b", "kind"]
    assert tg.datasets.csv_columns(_write(tmp_path, "1,2,x\n3,4,y\n")) == ["x0", "x1", "x2"]


def test_bundled_sets_without_scikit_learn_name_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails
    with pytest.raises(ImportError, match=r"'iris' comes with scikit-learn.*tracegrad\[sklearn\]"):
        load("iris")
    assert load("moons").n_samples == 200  # generated sets need nothing
