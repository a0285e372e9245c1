#!/usr/bin/env python3
"""Turn ../shared/data/faces_extra photos into 48x48 training crops, framed as the live pipeline frames faces.

    python scripts/prepare_faces_extra.py [--out runs/data/faces_extra_48.npz]

Each photo goes through the product's own framing (CenterFace on the padded photo, the
eye-levelled crop of fer_overlay/analysis/crops.py, grey), so the network learns real calm and
smiling faces the way it will meet them in a tile. Photos where no face is found are
left out and counted. The output holds `images` (N, 48, 48) uint8, `labels` (N,) in
FER2013's class order and `files`; it is derived data and stays out of git (runs/).
The set is only neutral and happy: see ../shared/data/README.md for how not to misuse it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fer_overlay.analysis.crops import CropOptions  # noqa: E402
from fer_overlay.training.photos import frame_photo, photo_detector, read_labelled  # noqa: E402

log = logging.getLogger("prepare_faces_extra")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "faces_extra")
    p.add_argument("--out", type=Path, default=REPO / "runs" / "data" / "faces_extra_48.npz")
    args = p.parse_args(argv)
    if not (args.data / "labels.csv").is_file():
        raise SystemExit(f"{args.data}/labels.csv not found")
    listed, photos = read_labelled(args.data)
    detector, crop = photo_detector(), CropOptions()
    images, labels, files = [], [], []
    for i, (name, img, label) in enumerate(photos):
        grey = frame_photo(detector, img, crop)
        if grey is not None:
            images.append(grey)
            labels.append(label)
            files.append(name)
        if (i + 1) % 1000 == 0:
            log.info("%d / %d photos", i + 1, len(photos))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=np.stack(images), labels=np.array(labels, np.int64), files=np.array(files))
    log.info("%d of %d listed photos framed (%d unreadable, %d without a face found) -> %s",
             len(images), listed, listed - len(photos), len(photos) - len(images), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
