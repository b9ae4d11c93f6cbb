"""The package map of docs/architecture.md, held: what may import what."""

import ast

import pytest

import chat.transport
from bench.split import PROJECT_DIR

CHAT_DIR = PROJECT_DIR / "chat"
TRANSPORT_DIR = CHAT_DIR / "transport"
PAGE_DIR = PROJECT_DIR / "static" / "chat" / "room"
ARCHITECTURE = (PROJECT_DIR / "docs" / "architecture.md").read_text()
# The package map: the table under "## The packages", and what follows it
# up to the next section.
PACKAGE_MAP = ARCHITECTURE.split("## The packages", 1)[1].split("\n## ", 1)[0]


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


def packages(directory):
    """The Python packages directly under ``directory`` (Path)."""
    return sorted(
        path
        for path in directory.iterdir()
        if (path / "__init__.py").exists() and path.name not in ("migrations", "management")
    )


# chat/, the transport, and each feature's sub-package of chat/ (one module
# per job): every module in them is named in the map by its file name.
MAPPED_DIRS = [CHAT_DIR, TRANSPORT_DIR] + [p for p in packages(CHAT_DIR) if p != TRANSPORT_DIR]


@pytest.mark.parametrize("directory", MAPPED_DIRS, ids=relative)
def test_the_map_names_every_module_and_sub_package(directory):
    modules_here = [p.name for p in directory.glob("*.py") if p.name != "__init__.py"]
    unnamed = [name for name in modules_here if "`%s`" % name not in PACKAGE_MAP]
    unnamed += [
        "%s/" % relative(p)
        for p in packages(directory)
        if "`%s/`" % p.name not in PACKAGE_MAP and "`%s/`" % relative(p) not in PACKAGE_MAP
    ]
    assert unnamed == [], "docs/architecture.md does not name %s" % unnamed


def test_the_images_feature_is_a_package_of_one_module_per_job():
    assert not (CHAT_DIR / "images.py").exists()
    assert not (CHAT_DIR / "jobs.py").exists()
    assert not (CHAT_DIR / "metadata.py").exists()
    assert {p.name for p in (CHAT_DIR / "images").glob("*.py")} == {
        "__init__.py",
        "imaging.py",
        "metadata.py",
        "thumbnails.py",
        "views.py",
    }


def test_the_map_names_every_module_of_the_page():
    page_modules = sorted(p.name for p in PAGE_DIR.glob("*.mjs"))
    assert "main.mjs" in page_modules and "keeping-up.mjs" in page_modules
    unnamed = [name for name in page_modules if "`%s`" % name not in PACKAGE_MAP]
    assert unnamed == [], "docs/architecture.md does not name %s" % unnamed


def test_the_page_is_loaded_as_modules_from_its_entry():
    room = (PROJECT_DIR / "templates" / "chat" / "room.html").read_text()
    assert '<script type="module" src="{% static \'chat/room/main.mjs\' %}">' in room
    assert not (PROJECT_DIR / "static" / "chat" / "chat.js").exists()
