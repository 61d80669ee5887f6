"""Where ``--artifacts`` may point: a folder, or a ``file://`` URL of one; object storage is
refused in one line before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunelab.errors import StoreError
from tunelab.store import Store
from tunelab.store.artifacts import artifact_folder


def test_a_file_url_names_its_folder(tmp_path: Path) -> None:
    assert artifact_folder(f"file://{tmp_path}/runs") == tmp_path / "runs"
    assert artifact_folder(tmp_path / "runs") == tmp_path / "runs"
    st = Store.open(tmp_path / "store", artifacts=f"file://{tmp_path}/shared")
    try:
        assert st.artifact_root() == tmp_path / "shared"
        assert st.artifacts_for().root == str(tmp_path / "shared")
    finally:
        st.close()


@pytest.mark.parametrize("location", ["s3://bucket/prefix", "gs://b/p", "file://relative/x"])
def test_other_locations_are_one_clear_line(location: str) -> None:
    with pytest.raises(StoreError) as e:
        artifact_folder(location)
    text = str(e.value)
    assert location in text and "\n" not in text
    assert "file:///mnt/shared/runs" in text  # how to fix it
