"""Tests for tunelab.vision.data: sources, the decode-once cache, the stratified split."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from tunelab.errors import DataError, SpecError
from tunelab.vision import cache as cache_mod
from tunelab.vision.data import ImageData, load_image_data, stratified_split

FORMATS = ["jpg", "png", "bmp", "gif", "tiff", "webp"]


def _image(path: Path, size: tuple[int, int], colour: tuple[int, ...] | int,
           mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)


def _folder(root: Path, per_class: dict[str, int], *, grey: bool = False,
            size: tuple[int, int] = (20, 16)) -> Path:
    """One subfolder per class; class k's images have a distinct flat colour, formats rotate."""
    for k, (name, n) in enumerate(sorted(per_class.items())):
        for i in range(n):
            ext = FORMATS[i % len(FORMATS)]
            value = 40 + 60 * k
            if grey:
                _image(root / name / f"{i}.{ext}", size, value, mode="L")
            else:
                _image(root / name / f"{i}.{ext}", size, (value, 255 - value, 30))
    return root


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = cache_mod._decode

    def counting(im: Image.Image, size: int) -> Any:
        calls.append(1)
        return real(im, size)

    monkeypatch.setattr(cache_mod, "_decode", counting)
    return calls


# ---- sources --------------------------------------------------------------------------------


def test_folder_all_formats_mixed_sizes_colour(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "data", {"cat": 6, "dog": 6})
    _image(root / "cat" / "big.png", (50, 30), (1, 2, 3))  # a different size, resized
    (root / "dog" / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    data = load_image_data(str(root), image_size=12, cache_dir=cache)
    assert data.classes == ["cat", "dog"]
    assert data.channels == 3 and data.image_size == 12
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    assert data.train_x.shape[1:] == (3, 12, 12) and data.val_x.shape[1:] == (3, 12, 12)
    assert len(data.train_y) + len(data.val_y) == 13
    assert data.skipped == [] and data.skipped_log is None
    # Flat colours survive decoding (JPEG/WebP lossy: allow a few levels).
    x = torch.cat([data.train_x, data.val_x]).float()
    y = torch.cat([data.train_y, data.val_y])
    dog = x[y == 1]
    assert torch.allclose(dog[:, 0].mean(), torch.tensor(100.0), atol=4)


def test_all_grey_images_give_one_channel(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "g", {"a": 4, "b": 4}, grey=True)
    _image(root / "a" / "rgb_but_grey.png", (16, 16), (90, 90, 90))  # RGB file, grey pixels
    data = load_image_data(str(root), image_size=8, cache_dir=cache)
    assert data.channels == 1 and data.train_x.shape[1] == 1
    assert len(data.mean) == len(data.std) == 1


def test_one_colour_image_makes_the_set_colour(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "g", {"a": 3, "b": 3}, grey=True)
    _image(root / "b" / "red.png", (16, 16), (255, 0, 0))
    assert load_image_data(str(root), image_size=8, cache_dir=cache).channels == 3


def test_builtin_digits(cache: Path) -> None:
    from sklearn.datasets import load_digits

    data = load_image_data("builtin:digits", cache_dir=cache)
    assert data.image_size == 8 and data.channels == 1
    assert data.classes == [str(d) for d in range(10)]
    assert len(data.train_y) + len(data.val_y) == 1797
    x = torch.cat([data.train_x, data.val_x])
    assert x.dtype == torch.uint8 and int(x.max()) == 255 and int(x.min()) == 0
    # Values are the 0..16 originals scaled to 0..255 (the whole set, in some order).
    expected = np.rint(load_digits().images * 255 / 16).astype(np.uint8)
    assert np.array_equal(np.sort(x.numpy().ravel()), np.sort(expected.ravel()))


def test_csv_manifest_with_header_and_relative_paths(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "imgs", {"x": 3, "y": 3})
    rows = ["path,label"] + [
        f"imgs/{p.parent.name}/{p.name},label_{p.parent.name}" for p in sorted(root.rglob("*.*"))
    ]
    manifest = tmp_path / "m.csv"
    manifest.write_text("\n".join(rows) + "\n")
    data = load_image_data(str(manifest), image_size=8, cache_dir=cache)
    assert data.classes == ["label_x", "label_y"]
    assert len(data.train_y) + len(data.val_y) == 6


def test_csv_manifest_bad_row(tmp_path: Path, cache: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("a.png,cat\nonly-one-column\n")
    with pytest.raises(DataError, match="row 2"):
        load_image_data(str(manifest), cache_dir=cache)


def test_default_image_size_is_median_shorter_side_capped(tmp_path: Path, cache: Path) -> None:
    small = _folder(tmp_path / "s", {"a": 3, "b": 3}, size=(30, 20))
    assert load_image_data(str(small), cache_dir=cache).image_size == 20
    big = _folder(tmp_path / "b", {"a": 2, "b": 2}, size=(300, 200))
    assert load_image_data(str(big), cache_dir=cache).image_size == 32


def test_transparent_png_becomes_white_and_16_bit_grey_is_scaled(tmp_path: Path,
                                                                 cache: Path) -> None:
    root = tmp_path / "t"
    _image(root / "a" / "clear.png", (8, 8), (0, 0, 0, 0), mode="RGBA")
    (root / "b").mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)).save(root / "b" / "wide.png")
    data = load_image_data(str(root), image_size=8, cache_dir=cache,
                           validation=str(root))  # validation = same folder: no split needed
    assert data.channels == 1  # white and white: both grey
    assert int(data.train_x.min()) == 255


# ---- the cache ------------------------------------------------------------------------------


def test_second_load_does_not_decode_and_is_memory_mapped(
    tmp_path: Path, cache: Path, count_decodes: list[int]
) -> None:
    root = _folder(tmp_path / "d", {"a": 5, "b": 5})
    first = load_image_data(str(root), image_size=8, cache_dir=cache)
    assert len(count_decodes) == 10
    second = load_image_data(str(root), image_size=8, cache_dir=cache)
    assert len(count_decodes) == 10  # no decoding the second time
    assert torch.equal(first.train_x, second.train_x)
    if sys.platform.startswith("linux"):
        maps = Path("/proc/self/maps").read_text().splitlines()
        ptr = second.train_x.data_ptr()
        spans = [
            [int(a, 16) for a in line.split()[0].split("-")]
            for line in maps if line.endswith(cache_mod.IMAGES_FILE)
        ]
        mapped = [(lo, hi) for lo, hi in spans if lo <= ptr < hi]
        assert mapped, "train_x should point into a memory map of the cache file"


def test_changed_folder_rebuilds(tmp_path: Path, cache: Path, count_decodes: list[int]) -> None:
    root = _folder(tmp_path / "d", {"a": 4, "b": 4})
    load_image_data(str(root), image_size=8, cache_dir=cache)
    _image(root / "a" / "new.png", (8, 8), (9, 9, 9))
    data = load_image_data(str(root), image_size=8, cache_dir=cache)
    assert len(data.train_y) + len(data.val_y) == 9
    assert len(count_decodes) == 8 + 9
    load_image_data(str(root), image_size=10, cache_dir=cache)  # another size: another entry
    assert len(count_decodes) == 8 + 9 + 9


def test_env_var_sets_default_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELAB_CACHE_DIR", str(tmp_path / "envcache"))
    data = load_image_data("builtin:digits")
    assert all(str(e).startswith(str(tmp_path / "envcache")) for e in data.cache_entries)


def test_failed_build_leaves_no_entry(tmp_path: Path, cache: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = _folder(tmp_path / "d", {"a": 3, "b": 3})

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # e.g. the user pressed Ctrl-C mid-decode

    with monkeypatch.context() as m:
        m.setattr("tunelab.vision.data.decode_into", boom)
        with pytest.raises(KeyboardInterrupt):
            load_image_data(str(root), image_size=8, cache_dir=cache)
    leftovers = [p for p in (cache / "images").iterdir() if p.is_dir()]
    assert leftovers == []
    assert len(load_image_data(str(root), image_size=8, cache_dir=cache).classes) == 2


def test_damaged_entry_is_rebuilt(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "d", {"a": 3, "b": 3})
    data = load_image_data(str(root), image_size=8, cache_dir=cache)
    images = data.cache_entries[0] / cache_mod.IMAGES_FILE
    images.write_bytes(images.read_bytes()[:10])  # truncated by, say, a full disk
    again = load_image_data(str(root), image_size=8, cache_dir=cache)
    assert torch.equal(again.train_x, data.train_x)


def _load_in_child(root: str, cache: str, queue: Any) -> None:
    data = load_image_data(root, image_size=8, cache_dir=cache)
    queue.put(data.train_x.sum().item())


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_two_processes_building_at_once(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "d", {"a": 12, "b": 12})
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_load_in_child, args=(str(root), str(cache), queue))
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    sums = [queue.get(timeout=5), queue.get(timeout=5)]
    assert sums[0] == sums[1]
    assert not [p for p in (cache / "images").iterdir() if p.name.startswith(".")]
    assert load_image_data(str(root), image_size=8, cache_dir=cache).train_x.sum() == sums[0]


def test_pickle_sends_arguments_not_pixels(cache: Path, count_decodes: list[int]) -> None:
    data = load_image_data("builtin:digits", cache_dir=cache, seed=3)
    blob = pickle.dumps(data)
    assert len(blob) < 10_000  # the pixels alone are 115 kB
    again = pickle.loads(blob)
    assert isinstance(again, ImageData) and again.split_seed == 3
    assert torch.equal(again.val_x, data.val_x)
    assert len(count_decodes) == 1797  # decoded once, by the first load only


# ---- unreadable files -----------------------------------------------------------------------


def _with_bad_files(root: Path) -> Path:
    _folder(root, {"a": 4, "b": 4})
    (root / "a" / "garbage.jpg").write_bytes(b"this is not a jpeg")
    good = (root / "b" / "0.jpg").read_bytes()
    (root / "b" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    return root


def test_unreadable_files_are_skipped_and_listed(tmp_path: Path, cache: Path) -> None:
    root = _with_bad_files(tmp_path / "bad")
    data = load_image_data(str(root), image_size=8, cache_dir=cache)
    assert sorted(Path(p).name for p in data.skipped) == ["garbage.jpg", "truncated.jpg"]
    assert len(data.train_y) + len(data.val_y) == 8
    assert data.skipped_log is not None and "truncated.jpg" in data.skipped_log.read_text()
    assert len(load_image_data(str(root), image_size=8, cache_dir=cache).skipped) == 2


def test_strict_fails_on_unreadable_files(tmp_path: Path, cache: Path) -> None:
    root = _with_bad_files(tmp_path / "bad")
    with pytest.raises(DataError, match=r"strict.*2 could not be decoded(.|\n)*garbage\.jpg"):
        load_image_data(str(root), image_size=8, cache_dir=cache, strict=True)


# ---- the split ------------------------------------------------------------------------------


def test_split_is_stratified_fixed_by_seed_and_recorded(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "d", {"a": 20, "b": 10, "c": 5})
    data = load_image_data(str(root), image_size=8, cache_dir=cache, seed=7)
    assert torch.bincount(data.val_y).tolist() == [4, 2, 1]
    assert torch.bincount(data.train_y).tolist() == [16, 8, 4]
    same = load_image_data(str(root), image_size=8, cache_dir=cache, seed=7)
    other = load_image_data(str(root), image_size=8, cache_dir=cache, seed=8)
    assert data.split_record is not None and other.split_record is not None
    record = json.loads(data.split_record.read_text())
    assert record["seed"] == 7 and len(record["validation"]) == 7
    assert not set(record["train"]) & set(record["validation"])
    assert record == json.loads(same.split_record.read_text())  # type: ignore[union-attr]
    assert record["validation"] != json.loads(other.split_record.read_text())["validation"]
    # The images follow their files: class-"c" pixels only under label 2.
    assert torch.equal(data.val_x[data.val_y == 2][:, 0].float().mean().round(), torch.tensor(160.))


def test_mean_and_std_are_of_the_training_part(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "d", {"a": 6, "b": 6})
    data = load_image_data(str(root), image_size=8, cache_dir=cache)
    x = data.train_x.float() / 255
    assert np.allclose(data.mean, x.mean(dim=(0, 2, 3)).tolist(), atol=1e-5)
    assert np.allclose(data.std, x.std(dim=(0, 2, 3), unbiased=False).tolist(), atol=1e-4)


def test_stratified_split_every_class_in_both_parts() -> None:
    y = np.array([0] * 50 + [1] * 2 + [2] * 3)
    train, val = stratified_split(y, ["a", "b", "c"], 10, seed=0)
    assert set(y[train]) == set(y[val]) == {0, 1, 2}
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(y)))


def test_validation_and_test_folders(tmp_path: Path, cache: Path) -> None:
    train = _folder(tmp_path / "train", {"a": 3, "b": 3})
    val = _folder(tmp_path / "val", {"a": 2, "b": 1})
    test = _folder(tmp_path / "test", {"b": 2}, grey=True)  # grey part of a colour set
    data = load_image_data(str(train), image_size=8, cache_dir=cache, validation=str(val),
                           test=str(test))
    assert len(data.train_y) == 6 and data.val_y.tolist() == [0, 0, 1]
    assert data.split_record is None
    assert data.test_x is not None and data.test_y is not None
    assert data.test_x.shape == (2, 3, 8, 8) and data.test_y.tolist() == [1, 1]


def test_validation_folder_with_unknown_class(tmp_path: Path, cache: Path) -> None:
    train = _folder(tmp_path / "train", {"a": 3, "b": 3})
    val = _folder(tmp_path / "val", {"a": 1, "zebra": 1})
    with pytest.raises(DataError, match="zebra"):
        load_image_data(str(train), cache_dir=cache, validation=str(val))


# ---- clear errors ---------------------------------------------------------------------------


def test_empty_folder(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"one subfolder per class.*empty"):
        load_image_data(str(tmp_path / "empty"), cache_dir=cache)


def test_images_without_class_folders(tmp_path: Path, cache: Path) -> None:
    _image(tmp_path / "flat" / "a.png", (8, 8), (1, 1, 1))
    with pytest.raises(DataError, match="move them into one subfolder per class"):
        load_image_data(str(tmp_path / "flat"), cache_dir=cache)


def test_empty_class_folder(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "d", {"a": 3})
    (root / "b").mkdir()
    with pytest.raises(DataError, match="got none in"):
        load_image_data(str(root), cache_dir=cache)


def test_single_class(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "d", {"only": 5})
    with pytest.raises(DataError, match="at least 2 classes; got 1"):
        load_image_data(str(root), cache_dir=cache)


def test_class_too_small_for_the_split(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "d", {"a": 5, "lonely": 1})
    with pytest.raises(DataError, match=r"'lonely' \(1\).*separate validation folder"):
        load_image_data(str(root), image_size=8, cache_dir=cache)


def test_missing_source(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_image_data(str(tmp_path / "nope"), cache_dir=cache)
    with pytest.raises(SpecError, match="builtin:digits"):
        load_image_data("builtin:cifar", cache_dir=cache)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"validation_percent": 0}, "validation_percent"),
     ({"validation_percent": 100}, "validation_percent"),
     ({"image_size": 2}, "image_size"),
     ({"image_size": 8.5}, "image_size"),
     ({"seed": -1}, "seed")],
)
def test_bad_arguments(kwargs: dict[str, Any], field: str, cache: Path) -> None:
    with pytest.raises(SpecError, match=f"`{field}` must be"):
        load_image_data("builtin:digits", cache_dir=cache, **kwargs)
