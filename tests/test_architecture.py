"""The package map of docs/architecture.md, held: what may import what."""

import ast

import pytest

import chat.transport
from bench.split import PROJECT_DIR

CHAT_DIR = PROJECT_DIR / "chat"
TRANSPORT_DIR = CHAT_DIR / "transport"


def modules(directory, exclude=None):
    """The Python files under ``directory`` (Path), migrations left out, and
    those under ``exclude`` (Path or None)."""
    return [
        path
        for path in sorted(directory.rglob("*.py"))
        if "migrations" not in path.parts and (exclude is None or exclude not in path.parents)
    ]


def imports(path):
    """Every import in the file at ``path``: a list of (module, names)
    pairs, ``names`` empty for ``import module``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append((node.module, tuple(alias.name for alias in node.names)))
    return found


def within(module, package):
    return module == package or module.startswith(package + ".")


def relative(path):
    return str(path.relative_to(PROJECT_DIR))


CHAT_MODULES = modules(CHAT_DIR, exclude=TRANSPORT_DIR)
TRANSPORT_MODULES = modules(TRANSPORT_DIR)


def test_the_map_covers_the_packages_it_names():
    assert len(CHAT_MODULES) > 10
    assert len(TRANSPORT_MODULES) > 5
    assert CHAT_DIR / "consumers.py" in CHAT_MODULES
    assert TRANSPORT_DIR / "ordering.py" in TRANSPORT_MODULES


@pytest.mark.parametrize("path", CHAT_MODULES + TRANSPORT_MODULES, ids=relative)
def test_nothing_in_chat_imports_the_dev_only_app_or_the_tests(path):
    for module, _ in imports(path):
        assert not within(module, "bench"), "%s imports %s" % (relative(path), module)
        assert not within(module, "tests"), "%s imports %s" % (relative(path), module)


@pytest.mark.parametrize("path", CHAT_MODULES, ids=relative)
def test_the_chat_uses_only_what_the_transport_package_exports(path):
    exported = set(chat.transport.__all__)
    for module, names in imports(path):
        if module == "chat.transport":
            assert set(names) <= exported, "%s imports %s from chat.transport" % (
                relative(path),
                sorted(set(names) - exported),
            )
        else:
            assert not within(module, "chat.transport"), "%s imports %s" % (relative(path), module)


@pytest.mark.parametrize("path", TRANSPORT_MODULES, ids=relative)
def test_the_transport_takes_nothing_of_the_chat_but_its_tunables(path):
    for module, names in imports(path):
        if module == "chat":
            assert set(names) <= {"conf"}, "%s imports %s from chat" % (relative(path), names)
        elif within(module, "chat") and not within(module, "chat.transport"):
            assert module == "chat.conf", "%s imports %s" % (relative(path), module)


def test_every_name_the_transport_package_exports_is_there():
    for name in chat.transport.__all__:
        assert callable(getattr(chat.transport, name))
