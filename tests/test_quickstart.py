"""The README's quick start: `python3 scripts/install.py && fer-overlay demo`.

After the install the `fer-overlay` command must be reachable, or the script must say
exactly what to type instead; `python -m fer_overlay` is the same program; and .ci/run runs
the README's first command as written, so a broken quick start fails CI.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from script_loader import load_script

REPO = Path(__file__).resolve().parents[1]
install = load_script("install")


def help_text(command: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120, env=env,
                          cwd=Path.home())  # not the checkout: the install must work from anywhere
    assert done.returncode == 0, done.stderr
    return done.stdout


def readme_first_command() -> str:
    """The first line of the first bash block under "## Quick start", without its comment."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    first = next(line for line in block.splitlines() if line.strip())
    return re.sub(r"\s+#.*$", "", first).strip()


def test_python_dash_m_is_the_fer_overlay_command() -> None:
    entry = install.entry_point()
    assert entry.is_file(), f"{entry} missing: run python3 scripts/install.py"
    via_module = help_text([sys.executable, "-m", "fer_overlay"])
    assert via_module.startswith("usage: fer-overlay")
    assert via_module == help_text([str(entry)])


def test_reachability_finds_the_command_on_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # a folder on the user's PATH holding the command (pip --user, a venv, ...)
    bin_dir.mkdir()
    (bin_dir / "fer-overlay").symlink_to(install.entry_point())
    env = {**os.environ, "PATH": os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])}
    found = install.reachability(env)
    assert found.ready and found.on_path == str(bin_dir / "fer-overlay"), found
    assert "is ready" in found.message()


def test_reachability_prints_a_fallback_that_runs_when_the_command_is_not_on_path() -> None:
    env = {**os.environ, "PATH": os.pathsep.join(["/usr/bin", "/bin"])}
    assert shutil.which("fer-overlay", path=env["PATH"]) is None
    found = install.reachability(env)
    assert not found.ready and found.on_path is None
    message = found.message()
    assert "not on your PATH" in message and f"{found.fallback} demo" in message
    assert f"{sys.executable} -m fer_overlay demo" in message
    assert found.fallback == str(install.entry_point())
    # The printed command works exactly as printed.
    assert help_text(shlex.split(found.fallback), env).startswith("usage: fer-overlay")


def test_fallback_without_an_entry_point_is_python_dash_m(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": os.pathsep.join(["/usr/bin", "/bin"])}
    found = install.reachability(env, scripts_dir=tmp_path)  # pip wrote no script here
    assert not found.entry_runs and found.fallback == f"{sys.executable} -m fer_overlay"
    assert f"{found.fallback} demo" in found.message()
    assert help_text(shlex.split(found.fallback), env).startswith("usage: fer-overlay")


def test_pyenv_path_entries_added_by_pyenv_exec_are_not_the_users_path(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    env = {"PYENV_ROOT": str(root), "PATH": os.pathsep.join([
        str(root / "versions" / "3.11.7" / "bin"), str(root / "libexec"), str(root / "plugins" / "x" / "bin"),
        str(root / "shims"), str(root / "bin"), "/usr/bin"])}
    assert install.shell_path(env).split(os.pathsep) == [str(root / "shims"), str(root / "bin"), "/usr/bin"]
    assert install.shell_path({"PATH": "/a:/b"}) == "/a:/b"


def test_pyenv_rehash_makes_the_command_reachable(tmp_path: Path) -> None:
    """The reported failure: a pyenv Python, pip run through the interpreter, no shim for the
    new command. A pyenv root of our own (its one version is this interpreter) starts without one."""
    real_root = install.pyenv_root_of(Path(sys.prefix))
    if real_root is None:
        pytest.skip("this Python is not managed by pyenv")
    version = Path(sys.prefix).resolve().relative_to(real_root / "versions").parts[0]
    root = tmp_path / "pyenv"
    (root / "versions").mkdir(parents=True)
    (root / "versions" / version).symlink_to(real_root / "versions" / version)
    pyenv_bin = next(d for d in (real_root / "bin", real_root / "libexec") if (d / "pyenv").is_file())
    env = {**os.environ, "PYENV_ROOT": str(root), "PYENV_VERSION": version,
           "PATH": os.pathsep.join([str(root / "shims"), str(pyenv_bin), "/usr/bin", "/bin"])}

    before = install.reachability(env)
    assert not before.ready, "the shim should not exist yet: the test would prove nothing"
    assert install.rehash_pyenv(env)
    after = install.reachability(env)
    assert after.ready and after.on_path == str(root / "shims" / "fer-overlay"), after


def test_ci_runs_the_readme_quick_start_as_written() -> None:
    command = readme_first_command()
    assert command == "python3 scripts/install.py && fer-overlay demo"  # what a newcomer pastes first
    done = subprocess.run(["bash", str(REPO / ".ci" / "run"), "--print-quick-start"], capture_output=True,
                          text=True, timeout=30, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == command
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r'^\s*bash -c "\$quick_start"', ci, re.M), "CI must run the command it printed"
    assert re.search(r"^export CI=1$", ci, re.M)
    assert "scripts/install.py --dev --train" in ci  # torch: the training and ONNX-vs-PyTorch tests run


@pytest.mark.parametrize(("ci", "outcome"), [("", "1 skipped"), ("1", "1 error")])
def test_missing_shared_data_skips_here_and_fails_under_ci(ci: str, outcome: str, tmp_path: Path) -> None:
    """What .ci/run relies on: under CI=1 a hard requirement that is missing is an error, not a skip."""
    env = {**os.environ, "CI": ci, "FER_OVERLAY_SHARED": str(tmp_path / "no-such-folder")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_baseline.py::test_calibration_cuts_false_alarms_and_keeps_real_changes"],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert outcome in done.stdout, done.stdout[-2000:]
    assert (done.returncode == 0) == (not ci)
    if ci:
        assert "CI=1" in done.stdout and "shared data not found" in done.stdout


def test_missing_module_or_program_fails_under_ci(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(f"""
import sys
sys.path.insert(0, {str(REPO / "tests")!r})
from conftest import require_module, require_program

def test_module():
    require_module("fer_overlay_no_such_module", "pip install nothing")

def test_program():
    require_program("fer-overlay-no-such-program", "apt-get install nothing")
""")
    for ci, rc, outcome in (("", 0, "2 skipped"), ("1", 1, "2 failed")):
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path, env={**os.environ, "CI": ci})
        assert done.returncode == rc and outcome in done.stdout, done.stdout[-2000:]


def test_a_skip_for_a_missing_x_tool_fails_under_ci() -> None:
    """tests/xvfb.py skips when Xvfb is missing; under CI=1 that is a failure."""
    empty_path = os.pathsep.join(["/nonexistent"])  # no Xvfb on it
    for ci, rc, outcome in (("", 0, "1 skipped"), ("1", 1, "1 error")):
        env = {**os.environ, "CI": ci, "PATH": os.pathsep.join([str(Path(sys.executable).parent), empty_path])}
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/test_capture.py::test_monitor_out_of_range_is_named"],
                              capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
        assert done.returncode == rc and outcome in done.stdout, done.stdout[-2000:]
