"""The JFLEG development set: tokenised learner sentences with four fluency corrections each.

Napoles, Sakaguchi and Tetreault, "JFLEG: A Fluency Corpus and Benchmark for Grammatical Error
Correction", EACL 2017. Licensed CC BY-NC-SA 4.0, so it is read where it lies, never copied here.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..settings import JFLEG_DIR, env

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SOURCE_FILE = "dev.src"
_REFERENCE_FILE = re.compile(r"dev\.ref(\d+)")


def default_jfleg_dir() -> Path:
    """$CORRECTLY_JFLEG_DIR, else ../shared/benchmarks/jfleg-dev beside the repository."""
    configured = env(JFLEG_DIR)
    if configured:
        return Path(configured)
    return REPOSITORY_ROOT.parent / "shared" / "benchmarks" / "jfleg-dev"


def _read_lines(path: Path) -> list[str]:
    # Split on "\n" only: str.splitlines would also break on rare separators inside a line.
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def load_jfleg(directory: str | Path | None = None) -> tuple[list[str], list[list[str]]]:
    """Sources and, per sentence, its references (ordered dev.ref0, dev.ref1, ...)."""
    directory = Path(directory) if directory is not None else default_jfleg_dir()
    if not directory.is_dir():
        raise FileNotFoundError(
            f"JFLEG directory not found: {directory} (set {JFLEG_DIR} to the folder holding dev.src)"
        )
    source_path = directory / SOURCE_FILE
    if not source_path.is_file():
        raise FileNotFoundError(f"JFLEG source file missing: {source_path}")
    reference_paths = sorted(
        (path for path in directory.iterdir() if _REFERENCE_FILE.fullmatch(path.name)),
        key=lambda path: int(_REFERENCE_FILE.fullmatch(path.name).group(1)),
    )
    if not reference_paths:
        raise FileNotFoundError(f"no JFLEG reference files (dev.ref0, dev.ref1, ...) in {directory}")

    sources = _read_lines(source_path)
    reference_columns = [_read_lines(path) for path in reference_paths]
    for path, column in zip(reference_paths, reference_columns):
        if len(column) != len(sources):
            raise ValueError(
                f"JFLEG files are misaligned: {path.name} has {len(column)} lines, {SOURCE_FILE} has {len(sources)}"
            )
    references = [list(refs) for refs in zip(*reference_columns)]
    return sources, references


# JFLEG's sentences are tokenised ("did not developped . ", "do n't"); the model reads and
# writes natural text. Detokenise what it is asked, tokenise what it answers, so the
# scorer sees what JFLEG's official scorer expects and the model what it was trained on.
_DETOKENISE = (
    (re.compile(r"\s+([.,!?;:%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$])\s+"), r"\1"),
    (re.compile(r"\s+(n't|'s|'re|'ve|'m|'ll|'d)\b", re.I), r"\1"),
    (re.compile(r"\bca n't\b", re.I), "can't"),
    (re.compile(r"\s+"), " "),
)


def detokenise(text: str) -> str:
    """A JFLEG sentence as a person would write it: "For not use car . " -> "For not use car."."""
    for pattern, replacement in _DETOKENISE:
        text = pattern.sub(replacement, text)
    return text.strip()


def tokenise(texts: list[str]) -> list[str]:
    """Texts split into tokens as JFLEG's are (spaCy's English tokenizer), space-joined."""
    from .edits import load_tokenizer

    tokenizer = load_tokenizer()
    return [" ".join(token.text for token in tokenizer(text)) for text in texts]
