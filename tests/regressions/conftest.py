"""Minimized programs saved by `python -m psyco fuzz` as fuzz_<seed>.py.

Each file is a pytest test (it checks its program plainly and under psyco.full() in a fresh
interpreter); this hook collects them although their names do not start with test_."""

import pytest


def pytest_collect_file(file_path, parent):
    if (file_path.suffix == ".py" and file_path.name.startswith("fuzz_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
