"""Fault injection: symbolic links in an image folder given to ``--data`` (issue 16 item 6).

Followed blindly, a link to a parent folder is a tree ~40 levels deep (24 photos became 984),
a link from one class into another labels its photos twice, and copies on both sides of the
split inflate validation accuracy. Each real folder and file must be read once, each photo
labelled by the class it lives in, links out of the data folder skipped with a reason, and
validation images with a training image's exact content counted in the job's data event.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from PIL import Image

from tunelab.vision.data import load_image_data, shared_content
from tunelab.vision.prepare import describe_data


def _photos(folder: Path, n: int, shade: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (12, 10), (shade, 10 * i, 255 - shade)).save(folder / f"{i}.png")


def _looping_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    _photos(data / "cat", 4, 40)
    _photos(data / "dog", 4, 200)
    (data / "cat" / "again").symlink_to(".", target_is_directory=True)  # loop: cat itself
    (data / "cat" / "top").symlink_to("..", target_is_directory=True)   # loop: the data root
    (data / "dog" / "cats").symlink_to("../cat", target_is_directory=True)  # cats, as dogs
    (data / "dog" / "0-alias.png").symlink_to("0.png")                      # one file twice
    elsewhere = tmp_path / "elsewhere"
    _photos(elsewhere, 3, 120)
    (data / "cat" / "outside").symlink_to(elsewhere, target_is_directory=True)
    (data / "dog" / "far.png").symlink_to(elsewhere / "0.png")
    return data


def test_each_real_folder_and_file_is_read_once_and_labelled_where_it_lives(
    tmp_path: Path,
) -> None:
    data = load_image_data(str(_looping_data(tmp_path)), cache_dir=tmp_path / "cache",
                           validation_percent=25)
    assert data.classes == ["cat", "dog"]
    labels = [*data.train_y.tolist(), *data.val_y.tolist()]
    assert len(labels) == 8  # 4 cats + 4 dogs, not hundreds
    assert labels.count(0) == 4 and labels.count(1) == 4
    reasons = dict(e.split("\t", 1) for e in data.excluded)
    root = tmp_path / "data"
    assert "out of the data folder" in reasons[str(root / "cat" / "outside")]
    assert "out of the data folder" in reasons[str(root / "dog" / "far.png")]
    assert "already read" in reasons[str(root / "cat" / "again")]
    assert "already read" in reasons[str(root / "cat" / "top")]
    assert "already read" in reasons[str(root / "dog" / "cats")]
    assert "the same file as" in reasons[str(root / "dog" / "0-alias.png")]


def test_a_class_folder_linked_from_outside_is_skipped_with_a_reason(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _photos(data / "cat", 3, 40)
    _photos(data / "dog", 3, 200)
    _photos(tmp_path / "bird", 3, 120)
    (data / "bird").symlink_to(tmp_path / "bird", target_is_directory=True)
    got = load_image_data(str(data), cache_dir=tmp_path / "cache")
    assert got.classes == ["cat", "dog"]
    assert any(e.startswith(f"{data / 'bird'}\t") and "outside the data folder" in e
               for e in got.excluded)


def test_a_link_inside_the_data_folder_to_unread_images_is_followed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _photos(data / "cat", 2, 40)
    _photos(data / "dog", 2, 200)
    _photos(data / ".stash" / "more-dogs", 3, 220)  # hidden: not read on its own
    (data / "dog" / "more").symlink_to("../.stash/more-dogs", target_is_directory=True)
    got = load_image_data(str(data), cache_dir=tmp_path / "cache")
    labels = [*got.train_y.tolist(), *got.val_y.tolist()]
    assert labels.count(0) == 2 and labels.count(1) == 5 and got.excluded == ()


def test_validation_copies_of_training_images_are_counted_in_the_data_event(
    tmp_path: Path,
) -> None:
    train = tmp_path / "train"
    _photos(train / "cat", 4, 40)
    _photos(train / "dog", 4, 200)
    val = tmp_path / "val"
    _photos(val / "cat", 2, 90)
    _photos(val / "dog", 2, 160)
    shutil.copy(train / "cat" / "1.png", val / "cat" / "copy-a.png")
    shutil.copy(train / "dog" / "3.png", val / "dog" / "copy-b.png")
    shutil.copy(train / "dog" / "2.png", val / "cat" / "copy-c.png")  # a copy, wrong class too
    data = load_image_data(str(train), cache_dir=tmp_path / "cache", validation=str(val))
    assert shared_content(data) == 3
    params: dict[str, Any] = {"data": str(train), "validation_data": str(val),
                              "cache_dir": str(tmp_path / "cache")}
    message, facts = describe_data(params)
    assert facts["validation_same_as_training"] == 3
    assert "3 validation image(s) have the same file content as a training image" in message


def test_copies_across_the_split_of_one_folder_are_counted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _photos(data / "cat", 5, 40)
    _photos(data / "dog", 5, 200)
    for i in range(5):  # every cat photo twice: the split puts some copies on both sides
        shutil.copy(data / "cat" / f"{i}.png", data / "cat" / f"dup-{i}.png")
    got = load_image_data(str(data), cache_dir=tmp_path / "cache", validation_percent=40)
    n = shared_content(got)
    assert n >= 1
    # the count is exact: validation cats whose twin is in training
    import json

    split = json.loads(Path(str(got.split_record)).read_text())
    train_names = {Path(f).name.removeprefix("dup-") for f in split["train"]
                   if "/cat/" in f}
    val_cats = [Path(f).name.removeprefix("dup-") for f in split["validation"] if "/cat/" in f]
    assert n == sum(1 for name in val_cats if name in train_names)
