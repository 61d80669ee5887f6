"""The artifact store: paths confined to the root, hashes checked, safe loading, file modes."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import torch

from tunelab.errors import CheckpointCorrupt, DiskFullError, UnsafeCheckpoint, UnsafePathError
from tunelab.objectives.context import TrialContext
from tunelab.store.artifacts import LocalArtifacts, file_sha256


class Evil:
    """Unpickling this creates ``marker``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


class Custom:
    """A plain Python object (not a tensor or container): needs the pickle opt-in."""

    def __init__(self, n: int) -> None:
        self.n = n


@pytest.fixture
def arts(tmp_path: Path) -> LocalArtifacts:
    return LocalArtifacts(tmp_path / "root")


def test_save_writes_a_0600_file_and_records_a_key_relative_to_the_root(
        arts: LocalArtifacts) -> None:
    ck = arts.save({"w": torch.ones(3)}, arts.trial_dir("job", 2) + "/ckpt-000001.pt")
    assert ck.path == "job/trial-0002/ckpt-000001.pt"
    path = arts.path / ck.path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ck.sha256 == file_sha256(path) and ck.size == path.stat().st_size
    assert torch.equal(arts.load(ck.path, ck.sha256)["w"], torch.ones(3))
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]


def test_the_root_is_absolute_whatever_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    a = LocalArtifacts("runs/artifacts")
    assert a.root == str(tmp_path / "runs" / "artifacts") and Path(a.root).is_absolute()


@pytest.mark.parametrize("key", ["../outside.pt", "job/../../outside.pt", "OUTSIDE_ABS"])
def test_paths_outside_the_root_are_refused_never_opened_or_deleted(
        arts: LocalArtifacts, tmp_path: Path, key: str) -> None:
    outside = tmp_path / "outside.pt"
    torch.save({"w": torch.zeros(1)}, outside)
    key = str(outside) if key == "OUTSIDE_ABS" else key
    with pytest.raises(UnsafePathError, match="outside the artifact root"):
        arts.verify(key, file_sha256(outside))
    with pytest.raises(UnsafePathError):
        arts.load(key, file_sha256(outside))
    with pytest.raises(UnsafePathError):
        arts.delete(key)
    assert outside.exists()


def test_a_symlink_out_of_the_root_is_refused(arts: LocalArtifacts, tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "ckpt.pt").write_bytes(b"data")
    arts.path.mkdir(parents=True)
    (arts.path / "job").symlink_to(outside)  # a folder link: every file under it leads out
    (arts.path / "file.pt").symlink_to(outside / "ckpt.pt")
    for key in ("job/ckpt.pt", "file.pt"):
        with pytest.raises(UnsafePathError):
            arts.delete(key)
        with pytest.raises(UnsafePathError):
            arts.verify(key, file_sha256(outside / "ckpt.pt"))
    with pytest.raises(UnsafePathError):
        arts.delete_job("job")
    assert (outside / "ckpt.pt").read_bytes() == b"data"


def test_a_legacy_absolute_path_inside_the_root_still_resolves(arts: LocalArtifacts) -> None:
    ck = arts.save({"w": torch.ones(1)}, arts.path / "j" / "trial-0000" / "ckpt-000001.pt")
    absolute = str(arts.path / ck.path)
    arts.verify(absolute, ck.sha256)
    assert arts.key(absolute) == ck.path


@pytest.mark.parametrize("damage", ["flip", "truncate", "missing"])
def test_a_damaged_file_fails_verification(arts: LocalArtifacts, damage: str) -> None:
    ck = arts.save({"w": torch.arange(100.0)}, arts.path / "ckpt.pt")
    path = arts.path / ck.path
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:
        path.unlink()
    with pytest.raises(CheckpointCorrupt) as e:
        arts.load(ck.path, ck.sha256)
    assert e.value.path == str(path)


def test_a_file_that_would_run_code_is_refused_even_with_a_matching_hash(
        arts: LocalArtifacts, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    arts.path.mkdir(parents=True)
    torch.save({"model": Evil(marker)}, arts.path / "evil.pt")
    sha = file_sha256(arts.path / "evil.pt")  # as if the store row were rewritten too
    with pytest.raises(UnsafeCheckpoint, match="could run code"):
        arts.load("evil.pt", sha)
    assert not marker.exists()


def test_trial_context_loads_plain_state_and_opts_in_to_pickle_explicitly(
        tmp_path: Path) -> None:
    root = tmp_path / "root"
    ctx = TrialContext(params={}, number=0, checkpoint_dir=root / "t0", artifact_root=root)
    ctx.save_checkpoint({"obj": Custom(7)}, step=1)
    ck = ctx._pending
    assert ck is not None and ck.path == "t0/ckpt-000001.pt"
    again = TrialContext(params={}, number=0, checkpoint_dir=root / "t0", artifact_root=root,
                         restore_from=ck.path, restore_step=1, restore_sha256=ck.sha256)
    with pytest.raises(UnsafeCheckpoint, match="allow_pickle=True"):
        again.load_checkpoint()
    state = again.load_checkpoint(allow_pickle=True)
    assert state is not None and state["obj"].n == 7
    wrong = TrialContext(params={}, number=0, checkpoint_dir=root / "t0", artifact_root=root,
                         restore_from=ck.path, restore_step=1, restore_sha256="0" * 64)
    with pytest.raises(CheckpointCorrupt):
        wrong.load_checkpoint(allow_pickle=True)  # the hash is checked before any unpickling


def test_enospc_while_saving_is_a_disk_full_error_and_leaves_no_temp_file(
        arts: LocalArtifacts, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError, match=r"disk full at .*trial-0000 \(\d+ MB free\): free "
                                            r"space, then `tunelab resume demo`"):
        arts.save({"w": torch.ones(2)}, arts.trial_dir("demo", 0) + "/ckpt-000001.pt",
                  job="demo")
    assert list((arts.path / "demo" / "trial-0000").iterdir()) == []
