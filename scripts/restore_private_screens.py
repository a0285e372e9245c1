#!/usr/bin/env python3
"""Re-create runs/real_screens_private/ (the dev-set images we may not commit) from local mirrors.

    python scripts/restore_private_screens.py --mirrors /work/.mirror [--out runs/real_screens_private]

Reads the image table of tests/data/real_screens/SOURCES.md, and for each row stored in
runs/real_screens_private takes the file out of a bare mirror of its repository (a folder
MIRRORS/OWNER+NAME/repo, as the search tool's fetch leaves it) at the recorded commit, checks the
recorded blob id prefix, and copies private_truth.json beside the images as truth.json. Nothing is
downloaded: a missing mirror or commit is reported and the row skipped.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = REPO / "tests" / "data" / "real_screens" / "SOURCES.md"
ROW = re.compile(
    r"^\| `(?P<file>[^`]+)` \| runs/real_screens_private \| github\.com/(?P<repo>[^:]+): `(?P<path>[^`]+)` "
    r"\| `(?P<commit>[0-9a-f]{40})` / `(?P<blob>[0-9a-f]+)` \|")
log = logging.getLogger("restore_private_screens")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirrors", type=Path, required=True, help="folder of OWNER+NAME/repo bare mirrors")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "real_screens_private")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    done = failed = 0
    for line in SOURCES.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if not m:
            continue
        git_dir = args.mirrors / m["repo"].replace("/", "+", 1) / "repo"
        spec = f"{m['commit']}:{m['path']}"
        try:
            blob = subprocess.run(["git", f"--git-dir={git_dir}", "rev-parse", spec],
                                  capture_output=True, text=True, check=True).stdout.strip()
            data = subprocess.run(["git", f"--git-dir={git_dir}", "show", spec], capture_output=True, check=True).stdout
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            log.error("%s: not in %s (%s); fetch %s first", m["file"], git_dir, exc, m["repo"])
            failed += 1
            continue
        if not blob.startswith(m["blob"]):
            log.error("%s: blob %s is not the recorded %s", m["file"], blob[:12], m["blob"])
            failed += 1
            continue
        (args.out / m["file"]).write_bytes(data)
        done += 1
    shutil.copyfile(SOURCES.parent / "private_truth.json", args.out / "truth.json")
    log.info("%d images restored to %s, %d failed", done, args.out, failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
