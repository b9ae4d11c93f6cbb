"""The page's JavaScript unit tests (tests/js/), run with node's built-in
test runner against the modules as static/ serves them."""

import shutil
import subprocess
from pathlib import Path

from tests.services import unavailable

JS_TESTS = Path(__file__).resolve().parent / "js"


def test_the_pages_javascript_unit_tests_pass():
    node = shutil.which("node")
    if node is None:
        unavailable("The JavaScript tests need Node (Debian's nodejs package)")
    files = sorted(str(path) for path in JS_TESTS.glob("*.test.mjs"))
    assert files, "no *.test.mjs under %s" % JS_TESTS
    run = subprocess.run(
        [node, "--test", *files],
        cwd=JS_TESTS.parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
