"""Text datasets: gensim's bundled test corpora, a user CSV/TXT, and hub datasets."""

from __future__ import annotations

import copyreg
import importlib.util
import io
import pickle
import re
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zoo.datasets import Dataset, DatasetEntry, register_dataset
from zoo.errors import ZooError
from zoo.hub import HF_HOST, host_reachable

FASTTEXT_LABEL = re.compile(r"^__label__(\S+)\s+(.*)$")


def gensim_test_file(name: str) -> Path:
    """Path of a file in gensim's ``test/test_data`` folder (gensim is not imported)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise ZooError("this dataset needs gensim (pip install gensim==4.4.0), whose wheel ships the file")
    path = Path(list(spec.submodule_search_locations)[0]) / "test" / "test_data" / name
    if not path.is_file():
        raise ZooError(f"{path} is missing from the installed gensim")
    return path


def labelled_texts(name: str, texts: Sequence[str], label_strings: Sequence[str | None], ids: Sequence[str], description: str) -> Dataset:
    """Build a text dataset; label strings become sorted class names, None means unlabelled."""
    class_names = sorted({label for label in label_strings if label is not None})
    index_of = {label: i for i, label in enumerate(class_names)}
    labels = [index_of[label] if label is not None else -1 for label in label_strings]
    return Dataset(name, "text", class_names, labels, ids, list(texts), description)


def parse_fasttext_lines(lines: Sequence[str]) -> tuple[list[str], list[str | None]]:
    """Split lines into texts and labels; ``__label__X text`` gives label X, other lines none."""
    texts: list[str] = []
    labels: list[str | None] = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        match = FASTTEXT_LABEL.match(line)
        texts.append(match.group(2) if match else line)
        labels.append(match.group(1) if match else None)
    return texts, labels


def load_polarity(path: str | None = None) -> Dataset:
    """gensim's ``pang_lee_polarity.cor``: 200 movie-review sentences labelled neg/pos."""
    raw = gensim_test_file("pang_lee_polarity.cor").read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:  # the file is Windows-1252 (em dashes as 0x97)
        content = raw.decode("cp1252", errors="replace")
    lines = content.splitlines()
    texts, labels = parse_fasttext_lines(lines)
    ids = [f"polarity/{i:03d}" for i in range(len(texts))]
    return labelled_texts("polarity", texts, labels, ids, "movie-review sentences (Pang & Lee), neg/pos")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only an explicit allow-list of globals.

    Parameters
    ----------
    file : binary file
    allowed : dict
        ``(module, name) -> object`` pairs, the only globals the pickle may name.
    """

    def __init__(self, file: io.BufferedIOBase, allowed: dict[tuple[str, str], Any], **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in this file") from None


class _Bunch(dict):
    """Stand-in for scikit-learn's old ``Bunch``: a plain dict."""


def _newsgroup_globals() -> dict[tuple[str, str], Any]:
    from numpy._core.multiarray import _reconstruct

    return {
        ("copy_reg", "_reconstructor"): copyreg._reconstructor,
        ("copyreg", "_reconstructor"): copyreg._reconstructor,
        ("__builtin__", "dict"): dict,
        ("builtins", "dict"): dict,
        ("__builtin__", "object"): object,
        ("builtins", "object"): object,
        ("sklearn.datasets.base", "Bunch"): _Bunch,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }


def read_restricted_pickle(data: bytes) -> Any:
    """Unpickle ``data`` allowing only dicts, a Bunch stand-in and numpy arrays."""
    return RestrictedUnpickler(io.BytesIO(data), _newsgroup_globals(), encoding="latin1").load()


def strip_headers(post: str) -> str:
    """Drop the e-mail headers of a newsgroup post (everything before the first blank line)."""
    _, separator, body = post.partition("\n\n")
    return body.strip() if separator else post.strip()


def load_mini_newsgroup(path: str | None = None) -> Dataset:
    """gensim's ``mini_newsgroup``: 200 posts from alt.atheism and sci.space (headers removed)."""
    bunch = read_restricted_pickle(zlib.decompress(gensim_test_file("mini_newsgroup").read_bytes()))
    names = list(bunch["target_names"])
    texts = [strip_headers(post) for post in bunch["data"]]
    ids = [f"newsgroup/{Path(f.decode('latin1')).parent.name}/{Path(f.decode('latin1')).name}" for f in bunch["filenames"]]
    return Dataset(
        "newsgroups-mini", "text", names, np.asarray(bunch["target"], dtype=np.int64), ids, texts,
        "200 newsgroup posts, alt.atheism vs sci.space (gensim test data), headers removed",
    )  # fmt: skip


def load_analogy_words(path: str | None = None) -> Dataset:
    """Words of ``questions-words.txt`` labelled by their first analogy category (14 classes)."""
    category = None
    words: dict[str, str] = {}
    for line in gensim_test_file("questions-words.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            category = line[1:].strip()
        elif line.strip() and category is not None:
            for word in line.split():
                words.setdefault(word, category)
    texts = list(words)
    return labelled_texts(
        "analogy-words", texts, [words[w] for w in texts], [f"word/{w}" for w in texts],
        "words of the word2vec analogy test, labelled by category",
    )  # fmt: skip


TEXT_COLUMNS = ("text", "sentence", "content", "review", "document")
LABEL_COLUMNS = ("label", "labels", "class", "category", "target")


def texts_from_table(table, name: str, source: str, text_column: str | None = None, label_names: Sequence[str] | None = None) -> Dataset:
    """Build a text dataset from a pandas table with a text column and an optional label column."""
    columns = [str(c) for c in table.columns]
    lowered = {c.lower(): c for c in columns}
    text_column = text_column or next((lowered[c] for c in TEXT_COLUMNS if c in lowered), None)
    if text_column is None:
        text_column = next((c for c in columns if table[c].dtype == object), None)
    if text_column is None:
        raise ZooError(f"{source} has no text column; name one of {', '.join(TEXT_COLUMNS)} (columns: {', '.join(columns)})")
    label_column = next((lowered[c] for c in LABEL_COLUMNS if c in lowered and lowered[c] != text_column), None)
    table = table[table[text_column].notna()]
    table = table[table[text_column].astype(str).str.strip() != ""]
    if len(table) == 0:
        raise ZooError(f"{source} contains no text rows")
    texts = table[text_column].astype(str).tolist()
    ids = [f"{name}/{row}" for row in range(len(texts))]
    if label_column is None:
        return labelled_texts(name, texts, [None] * len(texts), ids, f"text from {source}")
    raw = table[label_column]
    if label_names is not None:
        try:
            indices = [int(float(v)) if v == v and str(v).strip() else -1 for v in raw]
        except ValueError as exc:
            raise ZooError(f"{source}: column {label_column!r} must hold label numbers 0..{len(label_names) - 1}") from exc
        if any(i >= len(label_names) or i < -1 for i in indices):
            raise ZooError(f"{source}: labels must lie in 0..{len(label_names) - 1} ({', '.join(label_names)})")
        return Dataset(name, "text", list(label_names), indices, ids, texts, f"text from {source}")
    labels = [None if v != v else str(v) for v in raw]  # NaN -> unlabelled
    return labelled_texts(name, texts, labels, ids, f"text from {source}")


def read_table(path: Path):
    """Read a CSV, TSV or Parquet file with pandas."""
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise ZooError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ZooError(f"cannot read {path}: {exc}") from exc


def load_text_file(path: str | None, name: str = "text-file") -> Dataset:
    """The user's text: a CSV/TSV/Parquet (text + optional label column) or a TXT (one per line).

    TXT lines may start with ``__label__X`` (fastText style) to give label X.
    """
    if path is None:
        raise ZooError(f"dataset {name!r} needs path=FILE (.csv, .tsv, .parquet or .txt)")
    file = Path(path).expanduser()
    if not file.is_file():
        raise ZooError(f"text file {file} does not exist")
    stem = file.stem
    if file.suffix.lower() in (".csv", ".tsv", ".parquet"):
        return texts_from_table(read_table(file), stem, str(file))
    texts, labels = parse_fasttext_lines(file.read_text(encoding="utf-8", errors="replace").splitlines())
    if not texts:
        raise ZooError(f"{file} contains no text lines")
    return labelled_texts(stem, texts, labels, [f"{stem}/{i}" for i in range(len(texts))], f"text from {file}")


def hub_text_dataset(
    name: str, repo_id: str, split_pattern: str, text_column: str, label_names: Sequence[str], path: str | None
) -> Dataset:
    """A labelled text split of a Hugging Face dataset repo, or a local copy given by ``path``.

    Parameters
    ----------
    name : str
        Registry name.
    repo_id : str
        Dataset repository on the hub, e.g. ``"stanfordnlp/sst2"``.
    split_pattern : str
        Glob of the parquet file(s) of the split, e.g. ``"*validation*.parquet"``.
    text_column : str
        Column holding the text.
    label_names : sequence of str
        Class names in label order.
    path : str or None
        A local CSV/TSV/Parquet with the same columns; skips the hub.
    """
    import pandas as pd

    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise ZooError(f"{name}: local file {file} does not exist")
        dataset = texts_from_table(read_table(file), name, str(file), text_column=text_column, label_names=label_names)
        return dataset
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise ZooError(f"{name} needs huggingface_hub to download {repo_id}") from exc
    if not host_reachable(HF_HOST):
        try:
            folder = snapshot_download(repo_id, repo_type="dataset", allow_patterns=[split_pattern], local_files_only=True)
        except Exception:
            raise ZooError(
                f"{name} comes from the Hugging Face hub ({repo_id}), which is unreachable and not cached; "
                f"download its parquet/CSV elsewhere and pass path=FILE (columns {text_column!r}, 'label')"
            ) from None
    else:
        folder = snapshot_download(repo_id, repo_type="dataset", allow_patterns=[split_pattern])
    files = sorted(Path(folder).rglob(split_pattern.split("/")[-1]))
    if not files:
        raise ZooError(f"{name}: no file matching {split_pattern} in {repo_id}")
    table = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    return texts_from_table(table, name, repo_id, text_column=text_column, label_names=label_names)


def load_sst2(path: str | None = None) -> Dataset:
    """SST-2 validation split (872 sentences, negative/positive) from ``stanfordnlp/sst2``."""
    return hub_text_dataset("sst2", "stanfordnlp/sst2", "*validation*.parquet", "sentence", ["negative", "positive"], path)


def load_ag_news(path: str | None = None) -> Dataset:
    """AG News test split (7,600 headlines+leads, 4 topics) from ``fancyzhx/ag_news``."""
    return hub_text_dataset(
        "ag_news", "fancyzhx/ag_news", "*test*.parquet", "text", ["World", "Sports", "Business", "Sci/Tech"], path
    )


for _entry in (
    DatasetEntry("polarity", "text", "200 movie-review sentences, neg/pos (gensim test data)", True, "Pang & Lee data, research use", load_polarity),
    DatasetEntry("newsgroups-mini", "text", "200 posts, alt.atheism vs sci.space (gensim test data)", True, "20 Newsgroups, public posts", load_mini_newsgroup),
    DatasetEntry("analogy-words", "text", "analogy test words in 14 categories (questions-words.txt)", True, "Apache-2.0 (word2vec)", load_analogy_words),
    DatasetEntry("text-file", "text", "your text, path=FILE .csv/.tsv/.parquet (text[,label]) or .txt (one per line)", True, "your data", load_text_file, needs_path=True),
    DatasetEntry("sst2", "text", "SST-2 validation, 872 sentences (Hugging Face hub, or path=local copy)", False, "see stanfordnlp/sst2", load_sst2),
    DatasetEntry("ag_news", "text", "AG News test, 7,600 news texts in 4 topics (Hugging Face hub, or path=local copy)", False, "see fancyzhx/ag_news", load_ag_news),
):  # fmt: skip
    register_dataset(_entry)
