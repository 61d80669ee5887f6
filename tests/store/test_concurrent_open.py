"""Several processes or threads opening one new SQLite store at once (the CLI's progress thread
and the tuner do): every open succeeds, the schema is created once."""

from __future__ import annotations

import threading
from pathlib import Path

from tunelab.store import Store


def test_a_new_store_opened_at_once_from_several_threads(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    for i in range(40):
        root = tmp_path / f"s{i}"

        def open_close(root: Path = root) -> None:
            try:
                st = Store.open(root)
                try:
                    assert st.read().jobs() == []
                finally:
                    st.close()
            except BaseException as e:  # collected, reported below
                errors.append(e)

        threads = [threading.Thread(target=open_close) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
