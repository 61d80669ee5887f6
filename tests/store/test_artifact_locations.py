"""Where ``--artifacts`` may point: a folder, a ``file://`` URL of one, or object storage
(``s3://bucket/prefix``, tested against a real server in ``test_artifacts_s3.py``); a
location of neither form is refused in one line before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunelab.errors import StoreError
from tunelab.store import Store
from tunelab.store.artifacts import LocalArtifacts, artifact_folder, artifact_location


def test_a_file_url_names_its_folder(tmp_path: Path) -> None:
    assert artifact_folder(f"file://{tmp_path}/runs") == tmp_path / "runs"
    assert artifact_folder(tmp_path / "runs") == tmp_path / "runs"
    st = Store.open(tmp_path / "store", artifacts=f"file://{tmp_path}/shared")
    try:
        assert st.artifact_root() == str(tmp_path / "shared")
        assert st.artifacts_for().root == str(tmp_path / "shared")
        assert isinstance(st.artifact_store(), LocalArtifacts)  # the fast path: plain files
    finally:
        st.close()


@pytest.mark.parametrize("location", ["s3://bucket/prefix", "gs://b/p", "file://relative/x"])
def test_a_folder_is_expected_where_only_a_folder_will_do(location: str) -> None:
    with pytest.raises(StoreError) as e:
        artifact_folder(location)
    text = str(e.value)
    assert location in text and "\n" not in text
    assert "file:///mnt/shared/runs" in text  # how to fix it


@pytest.mark.parametrize(("location", "says"), [
    ("s3://", "names no bucket"), ("nosuchproto://b/p", "cannot be used here"),
    ("file://relative/x", "three slashes")])
def test_a_location_of_no_known_form_is_one_clear_line(location: str, says: str) -> None:
    with pytest.raises(StoreError) as e:
        artifact_location(location)
    assert says in str(e.value) and "\n" not in str(e.value)
