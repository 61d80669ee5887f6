"""The preview of a data set larger than its sample bound: counted in full, sized and coloured
from a random sample per class, nothing decoded into the cache, and the preview says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.images import image_folder
from tunelab.server.dataroot import DataRoot


def test_a_large_folder_is_previewed_from_a_sample(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("TUNELAB_CACHE_DIR", str(cache))
    data = tmp_path / "data"
    image_folder(data / "big", classes=3, per_class=20, size=10)
    for i in range(20):  # every image of class_1 unreadable: the sample must meet some
        (data / "big" / "class_1" / f"{i}.png").write_bytes(b"not a png")
    root = DataRoot(data)

    p = root.preview("big", sample=12)
    assert p["images"] == 60 and p["images_per_class"] == {
        "class_0": 20, "class_1": 20, "class_2": 20}
    assert p["sample"] == 12  # 4 per class, in proportion
    assert p["sizes"] == {"10x10": 8} and p["unreadable_count"] == 4
    assert all(u.startswith("big/class_1/") for u in p["unreadable"])
    assert p["monochrome"] is False and p["channels"] == 3 and p["image_size"] == 10
    assert [len(p["thumbnails"][c]) for c in ("class_0", "class_1", "class_2")] == [4, 0, 4]
    assert p["thumbnails"]["class_0"][0].startswith("data:image/png;base64,")
    assert (p["train"], p["validation"]) == (48, 12)  # 20 % of each class, as the split
    assert not cache.exists() or not any(cache.rglob("*.u8"))  # nothing decoded in full

    image_folder(data / "grey", classes=2, per_class=10, size=9, grey=True)
    g = root.preview("grey", sample=6)
    assert g["sample"] == 6 and g["monochrome"] is True and g["channels"] == 1

    assert not cache.exists() or not any(cache.rglob("*.u8"))
    whole = root.preview("grey", sample=100)  # under the bound: loaded as a trial loads it
    assert whole["sample"] is None and whole["monochrome"] is True
    assert any(cache.rglob("*.u8"))
