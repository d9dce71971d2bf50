"""Bring an original Correctly database's data into the store, partition by partition.

    CORRECTLY_LEGACY_DATABASE_URL=postgresql://user:password@host/text_generation \\
        python -m correctly_assets.cli.legacy_import [--source NAME] [--replace]

The URL is read from the environment only (it holds a password). The store is the one the
pipeline uses (CORRECTLY_DATABASE_URL, else the embedded one under $DAGSTER_HOME). Each
(date, theme) partition the original's generated texts make is written as generated_texts
and prompt_examples write theirs: parsed (unparseable answers kept with their reason) and
embedded, then `train_split` for those partitions makes their train rows. A partition that
already holds this project's own rows is refused unless --replace. Importing twice writes
the same rows. The original's reference tables are kept as `legacy/<source>/reference.json`
in the artifacts directory, and its themes are registered as `theme` partitions when a
Dagster instance is configured ($DAGSTER_HOME with a dagster.yaml).

Rows are namespaced by their source database (`--source`, else a digest of the URL's host,
port and database name): importing a second original database keeps the first one's rows
in the partitions both fill, and importing the same one again replaces its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy.engine import make_url

from ..inputs.original.legacy import LEGACY_PREFIX, legacy_partitions, source_prefix
from ..domain.models import GeneratedText, PromptExample
from ..store import CorrectionStore
from ..store.correction_store import psycopg2_url
from ..store.legacy import LEGACY_TABLES, read_legacy_database
from ..settings import DATABASE_URL, LEGACY_DATABASE_URL, env, first_partition_date

_OUTPUT_TABLES = ("correction_script.example", "correction_script.generated_text",
                  "correction_script.train")


class PartitionConflict(RuntimeError):
    pass


def default_source(url: str) -> str:
    """A source name for the database at `url`: a digest of its host, port and database (the
    password and user are not part of it)."""
    parsed = make_url(psycopg2_url(url, "the original database is PostgreSQL"))
    where = f"{parsed.host or ''}:{parsed.port or ''}/{parsed.database or ''}"
    return "db-" + hashlib.sha256(where.encode()).hexdigest()[:10]


def _namespaced(prompt_id: str) -> bool:
    """An imported row of a named source (not of the unnamespaced ids older imports wrote)."""
    return (prompt_id.startswith(LEGACY_PREFIX)
            and not prompt_id.startswith((f"{LEGACY_PREFIX}generated_text-", f"{LEGACY_PREFIX}train-")))


def _merged(store: CorrectionStore, date: str, theme: str, prefix: str,
            prompts: list[PromptExample], texts: list[GeneratedText]):
    """The partition's rows after this import: other sources' imported rows kept, this
    source's (and any unnamespaced imported rows) replaced by `prompts` and `texts`."""
    def others(prompt_id: str) -> bool:
        return _namespaced(prompt_id) and not prompt_id.startswith(prefix)

    kept_prompts = [p for p in store.load_prompt_examples(date, theme, with_rejected=True)
                    if others(p.prompt_id)]
    kept_texts = [t for t in store.load_generated_texts(date, theme) if others(t.prompt_id)]
    vectors = {k: v for k, v in store.load_embeddings(date, theme).items() if others(k)}
    merged = [p.model_copy(update={"index": i}) for i, p in enumerate([*kept_prompts, *prompts])]
    return merged, [*kept_texts, *texts], vectors


def import_legacy(url: str, store: CorrectionStore, embed: Callable[[list[str]], np.ndarray],
                  artifacts_dir: Path, replace: bool = False, source: str | None = None) -> dict:
    """Import (see the module's docstring); returns what was written and what was not."""
    source = source or default_source(url)
    prefix = source_prefix(source)
    rows = read_legacy_database(url)
    result = legacy_partitions(rows, source)
    conflicts = []
    for date, theme in result.partitions:
        own = [t.prompt_id for t in store.load_generated_texts(date, theme)
               if not t.prompt_id.startswith(LEGACY_PREFIX)]
        if own:
            conflicts.append(f"{date}|{theme} ({len(own)} rows)")
    if conflicts and not replace:
        raise PartitionConflict(
            f"partitions already holding this project's rows: {', '.join(conflicts[:5])}; "
            "nothing was written. Run again with --replace to replace them")
    reasons = Counter()
    for (date, theme), partition in sorted(result.partitions.items()):
        accepted = [t for t in partition.texts if t.accepted]
        vectors = dict(zip((t.prompt_id for t in accepted),
                           embed([t.parsed.after for t in accepted]) if accepted else []))
        prompts, texts, kept_vectors = _merged(store, date, theme, prefix, partition.prompts,
                                               partition.texts)
        vectors |= kept_vectors
        store.replace_prompt_examples(date, theme, prompts)
        store.replace_generated_texts(date, theme, texts, [vectors.get(t.prompt_id) for t in texts])
        reasons.update((t.rejection_reason or "").partition(": ")[2][:80]
                       for t in partition.texts if not t.accepted)
    reference = {name: table for name, table in rows.items() if name not in _OUTPUT_TABLES}
    path = artifacts_dir / "legacy" / source / "reference.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(reference, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    texts = [t for p in result.partitions.values() for t in p.texts]
    return {
        "source": source,
        "partitions": sorted(f"{d}|{t}" for d, t in result.partitions),
        "themes": sorted({t for _, t in result.partitions}),
        "generated_texts": len(texts),
        "accepted": sum(t.accepted for t in texts),
        "unparseable": sum(not t.accepted for t in texts),
        "unparseable_reasons": dict(reasons.most_common(5)),
        "train_rows": result.train_rows,
        "train_rows_output_differs": result.train_mismatches,
        "rejected_filled": result.rejected_filled,
        "problems": result.problems,
        "reference": str(path),
    }


def _register_themes(themes: list[str]) -> bool:
    import dagster as dg

    from ..settings import dagster_home

    if not (dagster_home() / "dagster.yaml").is_file():
        return False
    with dg.DagsterInstance.from_config(str(dagster_home())) as instance:
        known = set(instance.get_dynamic_partitions("theme"))
        instance.add_dynamic_partitions("theme", [t for t in themes if t not in known])
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m correctly_assets.cli.legacy_import",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--replace", action="store_true",
                        help="replace partitions that already hold this project's rows")
    parser.add_argument("--source", help="a name for the database (its rows' ids are "
                                         "namespaced by it); default: a digest of its URL's "
                                         "host, port and database name")
    args = parser.parse_args(argv)
    url = env(LEGACY_DATABASE_URL)
    if not url:
        print(f"set {LEGACY_DATABASE_URL} to the original database's URL", file=sys.stderr)
        return 2
    from ..settings import artifacts_root
    from ..resources.embedder import SentenceEmbedderResource
    from ..resources.store import CorrectionStoreResource

    store = CorrectionStoreResource(database_url=env(DATABASE_URL)).get_store()
    try:
        summary = import_legacy(url, store, SentenceEmbedderResource().embed,
                                artifacts_root(),
                                replace=args.replace, source=args.source)
    except (ConnectionError, ValueError, PartitionConflict) as err:
        print(f"legacy import: {err}", file=sys.stderr)
        return 1
    summary["themes_registered"] = _register_themes(summary["themes"])
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    first = first_partition_date()
    earliest = min((p.split("|")[0] for p in summary["partitions"]), default=first)
    if dt.date.fromisoformat(earliest) < dt.date.fromisoformat(first):
        print(f"note: imported dates start {earliest}, before the first partition date {first}; "
              f"set CORRECTLY_FIRST_PARTITION_DATE={earliest} to see them in the UI", file=sys.stderr)
    for problem in summary["problems"]:
        print(f"not imported: {problem}", file=sys.stderr)
    return 1 if summary["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["LEGACY_TABLES", "import_legacy", "main"]
