import numpy as np
import pytest

from catdog.storage import atomic_path, load_npz, save_npz, write_json


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_npz_files_are_byte_identical_for_equal_arrays(tmp_path):
    arrays = {"X": np.arange(12, dtype=np.float32).reshape(3, 4), "Y": np.ones((1, 4))}
    save_npz(tmp_path / "a.npz", **arrays)
    save_npz(tmp_path / "b.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = load_npz(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded["X"], arrays["X"])


def test_json_takes_numpy_scalars_and_refuses_nan(tmp_path):
    write_json(tmp_path / "m.json", {"a": np.float32(0.5), "n": np.int64(3)})
    assert (tmp_path / "m.json").read_text() == '{\n  "a": 0.5,\n  "n": 3\n}\n'
    with pytest.raises(ValueError):
        write_json(tmp_path / "bad.json", {"a": float("nan")})
    assert not (tmp_path / "bad.json").exists()
