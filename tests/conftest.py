"""Fixtures shared by the runtime's tests (the add-on's are in tests/addon/conftest.py)."""
import os

import pytest


@pytest.fixture
def read_only_folder(tmp_path):
    """An existing folder nobody may write into (``tmp_path/ro``), writable again afterwards
    so pytest can clean it up. Skips where the permission would not hold (root, non-POSIX)."""
    if os.name != "posix" or os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    yield folder
    folder.chmod(0o700)
