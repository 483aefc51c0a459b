"""The labelled sentences of Stage 5: four human-rated sets from the VADER paper, and your own.

    python LLMind/prepare_data.py     # extract the four sets into data/cache/llmind/*.csv, print counts

Hutto & Gilbert (ICWSM 2014) had every sentence rated by at least 20 people on -4 (very negative) ...
+4 (very positive) and published the mean rating. The ratings ship inside the source archive of
`vadersentiment==3.3.2` (MIT licence), in `additional_resources/hutto_ICWSM_2014.tar.gz`;
`make install` downloads that archive into `data/cache/vadersentiment/` (git-ignored: the sentences are
third-party text, so the repository holds this script and the labelling rule, never the sentences):

    pip download --no-deps --no-binary :all: vadersentiment==3.3.2 -d data/cache/vadersentiment

The labelling rule turns a mean rating into three classes with a neutral band of half a point:
negative < -0.5 <= neutral <= 0.5 < positive. On the 5,190 New York Times snippets that gives
1,688 / 2,402 / 1,100.

Some sentences occur twice (71 groups in the NYT set, 8 of them rated to different classes). A sentence in
both the training and the test split is a question whose answer was learnt, so `deduplicate` keeps one
sentence per normalised text before any split, and drops a group whose copies disagree on the class.

Your own labelled text (`--csv` in train.py) is a CSV with a text and a label column, or the Financial
PhraseBank format, one `sentence@label` per line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from common.paths import CACHE_DIR
from common.runs import write_text

VADER_VERSION = "3.3.2"
VADER_CACHE = CACHE_DIR / "vadersentiment"  # where `make install` puts the source archive
LABELLED_CACHE = CACHE_DIR / "llmind"  # the sets as CSV, to read by eye (training reads the archive)
# sha256 of vaderSentiment-3.3.2.tar.gz as published on PyPI: the sentences are what the paper rated
VADER_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_ARCHIVE = "additional_resources/hutto_ICWSM_2014.tar.gz"
# Our name for each set -> its ground-truth file inside the inner archive (id <TAB> mean rating <TAB> text)
VADER_SETS = {
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "movies": "movieReviewSnippets_GroundTruth.txt",
    "products": "amazonReviewSnippets_GroundTruth.txt",
}
LABELS = ("negative", "neutral", "positive")
NEUTRAL_BAND = 0.5  # |mean rating| <= 0.5 is neutral: half a point on a -4...+4 scale
INSTALL_HINT = (f"pip download --no-deps --no-binary :all: vadersentiment=={VADER_VERSION} -d {VADER_CACHE} "
                "(or run `make install`)")


@dataclass
class LabelledText:
    """Sentences with a class label each (and the mean human rating, where the set has one)."""

    texts: list[str]
    labels: list[str]
    scores: list[float] | None = None

    def __len__(self) -> int:
        return len(self.texts)


def normalise_text(text: str) -> str:
    """The form in which two sentences count as the same: case folded, every run of whitespace one space,
    stripped ("The  Plan." and "the plan." are one sentence)."""
    return " ".join(text.casefold().split())


def deduplicate(data: LabelledText) -> tuple[LabelledText, dict[str, int]]:
    """One sentence per normalised text, in first-seen order, and what was dropped.

    A group of copies with one label keeps its first copy. A group whose copies carry different labels
    (two rater panels whose means fall on either side of a class boundary) is dropped whole: no label
    of it is the right one, and keeping the majority is no answer for a group of two."""
    groups: dict[str, list[int]] = {}
    for index, text in enumerate(data.texts):
        groups.setdefault(normalise_text(text), []).append(index)
    repeated = [members for members in groups.values() if len(members) > 1]
    conflicting = [members for members in repeated if len({data.labels[i] for i in members}) > 1]
    kept = sorted(members[0] for members in groups.values()
                  if len({data.labels[i] for i in members}) == 1)
    scores = [data.scores[i] for i in kept] if data.scores is not None else None
    report = {"sentences_before": len(data), "repeated_groups": len(repeated),
              "copies_dropped": sum(len(members) - 1 for members in repeated
                                    if members not in conflicting),
              "conflicting_groups": len(conflicting),
              "conflicting_sentences_dropped": sum(len(members) for members in conflicting),
              "sentences_after": len(kept)}
    return LabelledText([data.texts[i] for i in kept], [data.labels[i] for i in kept], scores), report


def label_of(score: float, band: float = NEUTRAL_BAND) -> str:
    """The labelling rule: negative < -band <= neutral <= band < positive."""
    if score < -band:
        return "negative"
    if score > band:
        return "positive"
    return "neutral"


def find_vader_archive(folder: Path = VADER_CACHE) -> Path:
    """The downloaded vadersentiment source archive, or one clear FileNotFoundError saying how to get it."""
    pattern = f"*[vV]ader[sS]entiment-{VADER_VERSION}.tar.gz"
    candidates = sorted(folder.glob(pattern)) if folder.is_dir() else []
    if not candidates:
        raise FileNotFoundError(f"the VADER sentences are missing (no vaderSentiment-{VADER_VERSION}.tar.gz "
                                f"in {folder}): {INSTALL_HINT}")
    return candidates[0]


def read_vader_sets(archive: Path, check_sha256: bool = True) -> dict[str, LabelledText]:
    """All four sets from the source archive, labelled by `label_of`, read in memory (nothing unpacked)."""
    if check_sha256:
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != VADER_SHA256:
            raise ValueError(f"{archive} is not the published vaderSentiment-{VADER_VERSION} archive "
                             f"(sha256 {digest[:12]}..., expected {VADER_SHA256[:12]}...): delete it and "
                             f"{INSTALL_HINT}")
    try:
        with tarfile.open(archive, "r:gz") as outer:
            inner_member = next((m for m in outer.getmembers() if m.name.endswith(INNER_ARCHIVE)), None)
            if inner_member is None:
                raise ValueError(f"{archive} holds no {INNER_ARCHIVE}: is it the vadersentiment sdist?")
            inner_bytes = outer.extractfile(inner_member).read()  # type: ignore[union-attr]
        with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
            files = {Path(m.name).name: m for m in inner.getmembers() if m.isfile()}
            sets = {}
            for name, file_name in VADER_SETS.items():
                if file_name not in files:
                    raise ValueError(f"{archive}: {INNER_ARCHIVE} holds no {file_name}")
                raw = inner.extractfile(files[file_name]).read()  # type: ignore[union-attr]
                sets[name] = parse_ground_truth(raw.decode("utf-8"), file_name)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ValueError(f"{archive} is not a readable .tar.gz ({error}): delete it and "
                         f"{INSTALL_HINT}") from None
    return sets


def parse_ground_truth(text: str, source: str = "ground truth") -> LabelledText:
    """`id <TAB> mean rating <TAB> sentence` lines (CRLF endings) -> labelled sentences."""
    texts, labels, scores = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"{source} line {number}: expected id, rating and text separated by tabs")
        score = float(parts[1])
        texts.append(parts[2].strip())
        labels.append(label_of(score))
        scores.append(score)
    return LabelledText(texts, labels, scores)


def load_vader_sets() -> dict[str, LabelledText]:
    """The four sets (nyt, tweets, movies, products), labelled, from the downloaded archive."""
    return read_vader_sets(find_vader_archive())


def read_labelled_csv(path: str | Path, text_column: str = "text",
                      label_column: str = "label") -> LabelledText:
    """Your labelled sentences: a CSV with a header naming `text_column` and `label_column`, or a
    Financial PhraseBank file (`.txt`, one `sentence@label` per line, Latin-1 or UTF-8)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: give --csv a file of labelled sentences")
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        content = raw.decode("latin-1")  # the Financial PhraseBank files are Latin-1
    if path.suffix.lower() != ".csv":
        return _read_phrasebank(content, path)
    try:
        rows = list(csv.DictReader(io.StringIO(content)))
    except csv.Error as error:  # a field past csv's limit: almost always an unclosed quote
        raise ValueError(f"{path} is not a readable CSV ({error}): a field that long is no sentence; "
                         "look for an unclosed quote, which makes the rest of the file one field") from None
    if not rows:
        raise ValueError(f"{path} has no rows of labelled text: it needs a header "
                         f"({text_column},{label_column}) and one row per sentence")
    for column, flag in ((text_column, "--text-column"), (label_column, "--label-column")):
        if column not in rows[0]:
            columns = ", ".join(map(str, rows[0]))
            raise ValueError(f"{path} has no column {column!r} (its columns: {columns}): name the right one "
                             f"with {flag}")
    texts = [(row[text_column] or "").strip() for row in rows]
    labels = [(row[label_column] or "").strip() for row in rows]
    empty = [number for number, (text, label) in enumerate(zip(texts, labels, strict=True), start=2)
             if not text or not label]
    if empty:
        raise ValueError(f"{path}: rows {empty[:5]} have an empty text or label; fill or delete them")
    return LabelledText(texts, labels)


def _read_phrasebank(content: str, path: Path) -> LabelledText:
    texts, labels = [], []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        text, separator, label = line.rpartition("@")
        if not separator or not text.strip() or not label.strip():
            raise ValueError(f"{path} line {number}: expected 'sentence@label' (Financial PhraseBank "
                             "format); for a CSV with a header, give the file a .csv name")
        texts.append(text.strip())
        labels.append(label.strip())
    if not texts:
        raise ValueError(f"{path} has no 'sentence@label' lines")
    return LabelledText(texts, labels)


def write_labelled_csv(path: Path, data: LabelledText) -> None:
    """text,label(,score) with a header, atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "label", "score"] if data.scores is not None else ["text", "label"])
    for index, (text, label) in enumerate(zip(data.texts, data.labels, strict=True)):
        writer.writerow([text, label, data.scores[index]] if data.scores is not None else [text, label])
    write_text(path, buffer.getvalue())


def main() -> None:
    archive = find_vader_archive()
    for name, data in read_vader_sets(archive).items():
        write_labelled_csv(LABELLED_CACHE / f"{name}.csv", data)
        counts = {label: data.labels.count(label) for label in LABELS}
        print(f"{name:9s} {len(data):6,} sentences  {counts}  -> {LABELLED_CACHE / (name + '.csv')}")


if __name__ == "__main__":
    from common.config import run_cli

    run_cli(main)
