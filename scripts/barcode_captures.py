"""How often a strip decodes exactly after what real screen captures do to it.

    .venv/bin/python scripts/barcode_captures.py                       # the shipped format (v2), 3 px cells
    .venv/bin/python scripts/barcode_captures.py --formats v1,v2,16l --cells 3,4,5,6 --frames 400 --json out.json
    git show 8209d9f:portunus/protocol/barcode.py > /tmp/barcode_v1.py   # the decoder before version 2
    .venv/bin/python scripts/barcode_captures.py --formats v1 --decoder /tmp/barcode_v1.py

For every strip format and cell size: the strip of a retail Retribution frame (10
abilities, 4 buffs, 3 debuffs, 8 enemies, a quarter of the fields unknown) is placed
on a random background, put through one capture transform of
`portunus.protocol.captures` (strength drawn per frame), and decoded. Prints exact /
rejected / wrong per transform, the strip's size in pixels and the decode time.
docs/protocol.md quotes its numbers; a wrong decode (accepted with other content)
must never happen.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portunus.protocol import DecodeError, decode_frame, encode_frame  # noqa: E402
from portunus.protocol.barcode import STRIP_V1, STRIP_V2, StripFormat, draw, locate  # noqa: E402
from portunus.protocol.captures import TRANSFORMS, place, retail_snapshot  # noqa: E402

FORMATS = {
    "v1": (1, STRIP_V1),                                            # 16 levels, black/white calibration only
    "v2": (2, STRIP_V2),                          # shipped: 4 levels, calibration cells, Reed-Solomon 8 + 16/block
    "v2-rs0": (2, StripFormat(version=2, bits=2, calibration=True)),                   # the same without the code
    "v2-rs8": (2, StripFormat(version=2, bits=2, calibration=True, header_parity=8, parity=8)),
    "v2-rs32": (2, StripFormat(version=2, bits=2, calibration=True, header_parity=8, parity=32)),
    "16l": (2, StripFormat(version=2, bits=4, calibration=True)),   # 16 levels + calibration cells
    "16l-rs": (2, StripFormat(version=2, bits=4, calibration=True, header_parity=8, parity=16)),
    "8l": (2, StripFormat(version=2, bits=3, calibration=True)),    # 8 levels + calibration cells
    "8l-rs": (2, StripFormat(version=2, bits=3, calibration=True, header_parity=8, parity=16)),
}


def load_decoder(path: Path | None):
    """`locate`-like (image -> snapshot) from a module file, or this checkout's decoder."""
    if path is None:
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("portunus_alternative_barcode", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.decode


def measure(version: int, strip: StripFormat, cell_size: int, transforms: dict, frames: int, seed: int,
            decoder=None) -> dict:
    rows = {}
    for name, transform in transforms.items():
        rng = np.random.default_rng(seed)
        counts, seconds = {"exact": 0, "rejected": 0, "wrong": 0}, 0.0
        for _ in range(frames):
            frame = encode_frame(retail_snapshot(rng), version)
            snapshot = decode_frame(frame)                   # what this version carries of it
            image = transform(rng, place(rng, draw(frame, cell_size, strip)))
            start = time.perf_counter()
            try:
                decoded = decoder(image) if decoder else locate(image, strips=(strip,))[0]
                counts["exact" if decoded == snapshot else "wrong"] += 1
            except DecodeError:
                counts["rejected"] += 1
            seconds += time.perf_counter() - start
        rows[name] = {**counts, "exact_rate": counts["exact"] / frames, "decode_ms": 1000 * seconds / frames}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--formats", default="v2", help=f"comma-separated, of {', '.join(FORMATS)}")
    parser.add_argument("--cells", default="3", help="cell sizes in pixels, comma-separated")
    parser.add_argument("--transforms", default=",".join(TRANSFORMS))
    parser.add_argument("--frames", type=int, default=200, help="frames per transform")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--decoder", type=Path, help="a barcode.py whose decode() to measure instead")
    args = parser.parse_args()
    transforms = {name: TRANSFORMS[name] for name in args.transforms.split(",")}
    results = []
    for label in args.formats.split(","):
        version, strip = FORMATS[label]
        frame = encode_frame(retail_snapshot(np.random.default_rng(0)), version)
        for cell_size in map(int, args.cells.split(",")):
            image = draw(frame, cell_size, strip)
            rows = measure(version, strip, cell_size, transforms, args.frames, args.seed, load_decoder(args.decoder))
            results.append({"format": label, "decoder": str(args.decoder or "this checkout"), "cell_size": cell_size,
                            "frame_bytes": len(frame), "strip_px": [image.shape[1], image.shape[0]], "transforms": rows})
            print(f"{label} cell {cell_size} px: {len(frame)} bytes, strip {image.shape[1]} x {image.shape[0]} px")
            for name, row in rows.items():
                print(f"  {name:20s} exact {100 * row['exact_rate']:6.1f} %  rejected {row['rejected']:4d}  "
                      f"wrong {row['wrong']}  {row['decode_ms']:5.1f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"frames_per_transform": args.frames, "seed": args.seed,
                                         "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
