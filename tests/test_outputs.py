"""Output files: only regular files are replaced, the umask is kept, errors are one line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fer_overlay.outputs import OutputError, check_output, write_output


def test_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        out = write_output(tmp_path / "r.html", "<p>ok</p>")
    finally:
        os.umask(old)
    assert out.read_text() == "<p>ok</p>"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temp file left


def test_regular_file_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    out.write_text("old")
    write_output(out, b"new")
    assert out.read_bytes() == b"new"


def test_symlink_is_refused_unless_forced_and_target_never_touched(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    with pytest.raises(OutputError, match="symbolic link"):
        write_output(link, "x")
    assert link.is_symlink() and target.read_text() == "keep"
    write_output(link, "x", force=True)
    assert not link.is_symlink() and link.read_text() == "x" and target.read_text() == "keep"


@pytest.mark.parametrize("kind", ["folder", "fifo", "device"])
def test_non_regular_files_are_never_replaced(tmp_path: Path, kind: str) -> None:
    if kind == "folder":
        path = tmp_path / "d.html"
        path.mkdir()
    elif kind == "fifo":
        path = tmp_path / "p.html"
        os.mkfifo(path)
    else:
        path = Path("/dev/null")
    before = path.lstat().st_mode
    for force in (False, True):
        with pytest.raises(OutputError):
            write_output(path, "x", force=force)
    assert path.lstat().st_mode == before


def test_checks_come_before_the_work(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="unknown file type '.xlsx'"):
        check_output(tmp_path / "a.xlsx", suffixes=(".json", ".csv"))
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "missing" / "a.json")
    assert check_output(tmp_path / "A.JSON", suffixes=(".json",)) == tmp_path / "A.JSON"


@pytest.fixture
def read_only_folder(tmp_path: Path):
    """A folder nobody may write in, root included: a read-only tmpfs where it can be mounted,
    else mode 0555 (which binds everyone but root)."""
    import subprocess

    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    if not mounted:
        if os.geteuid() == 0:
            pytest.skip("root writes to a 0555 folder, and no read-only tmpfs can be mounted here")
        folder.chmod(0o555)
    try:
        yield folder
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        else:
            folder.chmod(0o755)


def test_read_only_folder_is_a_one_line_error(read_only_folder: Path) -> None:
    with pytest.raises(OutputError, match="not writable|Read-only file system"):
        write_output(check_output(read_only_folder / "a.json"), "x")


def test_full_disk_is_a_one_line_error_and_keeps_the_old_file(tiny_disk) -> None:
    out = tiny_disk.path / "report.html"
    out.write_text("yesterday's report")
    tiny_disk.fill()
    with pytest.raises(OutputError, match=r"cannot write .*No space left on device"):
        write_output(out, "x" * 100_000)
    assert out.read_text() == "yesterday's report"
    assert sorted(p.name for p in tiny_disk.path.iterdir()) == [".filler", "report.html"]


def test_a_full_disk_is_refused_before_the_work(tiny_disk) -> None:
    tiny_disk.fill()
    with pytest.raises(OutputError, match="the disk is full"):
        check_output(tiny_disk.path / "results.json")
    tiny_disk.free()
    assert check_output(tiny_disk.path / "results.json") == tiny_disk.path / "results.json"
