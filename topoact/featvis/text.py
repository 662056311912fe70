"""A text model's node, seen through its data: nearest tokens and sentences, aligned vocabulary.

Text has no input to optimise that a person could read, so a node of a text model is
shown by (1) the members whose activation is closest to the node's mean, each sentence
with its sampled token highlighted, and (2) the vocabulary tokens whose input embeddings
point most along the node's mean (cosine). By default both sides are centred first: the
node's mean minus the mean of every vector of the layer, against the embeddings minus
their mean. Transformer activations share a large common direction, so uncentred
cosines rank the same frequent tokens first for every node.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topoact.featvis.errors import FeatvisError
from topoact.featvis.exemplars import distances_to

#: Vocabulary entries never offered as a node's tokens: BERT's unused slots.
_UNUSED_TOKEN = re.compile(r"^\[unused\d+\]$|^<unused\d+>$")


@dataclass(frozen=True)
class TextExample:
    """A member of a node, as text.

    Attributes
    ----------
    row, sample_index, position, label : int
        As in the activation set (``position`` is the token index, ``-1`` pooled).
    distance : float
        To the node's mean.
    text : str
        The sentence.
    token : str
        The sampled token as the tokenizer writes it ("" when pooled).
    html : str
        The sentence, HTML-escaped, with the sampled token in ``<mark>``.
    """

    row: int
    sample_index: int
    position: int
    label: int
    distance: float
    text: str
    token: str
    html: str


@dataclass
class TextFeatvis:
    """What a text model's node responds to.

    Attributes
    ----------
    nearest : list of TextExample
        Members closest to the node's mean, nearest first.
    vocabulary : list of (token, cosine)
        Vocabulary tokens whose input embedding aligns best with the node's mean.
    meta : dict
        Layer, centring, metric.
    """

    nearest: list[TextExample] = field(default_factory=list)
    vocabulary: list[tuple[str, float]] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def sampled_token(
    tokenizer: Any, text: str, position: int, max_length: int = 128
) -> tuple[tuple[int, int] | None, str]:
    """The character span and the token string of token ``position`` of ``text``.

    Tokenises the way extraction does (truncation at ``max_length``). Pooled vectors
    (``position < 0``) give ``(None, "")``; special tokens have no span.
    """
    if tokenizer is None or position < 0:
        return None, ""
    try:
        encoded = tokenizer(text, return_offsets_mapping=True, truncation=True, max_length=max_length)
        ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    except (TypeError, ValueError, NotImplementedError, KeyError):
        return None, ""
    if position >= len(ids):
        return None, ""
    start, end = (int(v) for v in offsets[position])
    return ((start, end) if end > start else None), str(tokenizer.convert_ids_to_tokens(int(ids[position])))


def token_span(tokenizer: Any, text: str, position: int, max_length: int = 128) -> tuple[int, int] | None:
    """Character span ``(start, end)`` of token ``position`` of ``text``, None when unknown."""
    return sampled_token(tokenizer, text, position, max_length)[0]


def highlighted_html(text: str, span: tuple[int, int] | None) -> str:
    """``text`` HTML-escaped, with the characters of ``span`` inside ``<mark>``."""
    if span is None or span[1] <= span[0]:
        return html.escape(text)
    start, end = span
    return html.escape(text[:start]) + "<mark>" + html.escape(text[start:end]) + "</mark>" + html.escape(text[end:])


def check_text_model(model: Any) -> None:
    """Raise :class:`FeatvisError` unless ``model`` is a text model with a tokenizer."""
    entry = getattr(model, "entry", None)
    modality = getattr(entry, "modality", None)
    name = getattr(entry, "name", type(model).__name__)
    if modality != "text":
        raise FeatvisError(
            f"{name!r} is an {modality} model; its nodes get optimised images and image "
            "exemplars (topoact.featvis.node_visualization / node_exemplars), not text"
        )
    if getattr(model, "tokenizer", None) is None:
        raise FeatvisError(f"text model {name!r} has no tokenizer")


def input_embeddings(model: Any) -> np.ndarray:
    """The ``(vocabulary, dim)`` input embedding matrix of a Hugging Face text model."""
    getter = getattr(model.module, "get_input_embeddings", None)
    layer = getter() if callable(getter) else None
    weight = getattr(layer, "weight", None)
    if weight is None:
        raise FeatvisError(f"model {model.entry.name!r} exposes no input embeddings (get_input_embeddings)")
    return weight.detach().float().cpu().numpy()


def aligned_vocabulary(
    model: Any, direction: np.ndarray, *, k: int = 15, offset: np.ndarray | None = None
) -> list[tuple[str, float]]:
    """The ``k`` vocabulary tokens whose input embedding has the largest cosine with ``direction``.

    Parameters
    ----------
    model : LoadedModel-like
        A text model with a tokenizer and input embeddings.
    direction : ndarray of shape (dim,)
    k : int, default 15
    offset : ndarray of shape (dim,), optional
        Subtracted from ``direction``; the embeddings are then centred on their own mean
        (see the module docstring). None compares the raw vectors.

    Returns
    -------
    list of (token, cosine), best first
    """
    check_text_model(model)
    embeddings = input_embeddings(model).astype(np.float64)
    d = np.asarray(direction, dtype=np.float64).reshape(-1)
    if d.size != embeddings.shape[1]:
        raise FeatvisError(
            f"the node's vectors have {d.size} entries but the input embeddings of "
            f"{model.entry.name!r} have {embeddings.shape[1]}; vocabulary alignment needs the model's width"
        )
    if offset is not None:
        d = d - np.asarray(offset, dtype=np.float64)
        embeddings = embeddings - embeddings.mean(axis=0)
    tokenizer = model.tokenizer
    tokens = tokenizer.convert_ids_to_tokens(list(range(embeddings.shape[0])))
    excluded = set(getattr(tokenizer, "all_special_ids", None) or [])
    usable = np.array([i not in excluded and tok is not None and not _UNUSED_TOKEN.match(tok)
                       for i, tok in enumerate(tokens)])
    norms = np.linalg.norm(embeddings, axis=1) * np.linalg.norm(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where((norms > 0) & usable, (embeddings @ d) / norms, -np.inf)
    order = np.lexsort((np.arange(cosine.size), -cosine))[:k]
    return [(str(tokens[i]), float(cosine[i])) for i in order if np.isfinite(cosine[i])]


def nearest_texts(
    model: Any, dataset: Any, acts: Any, members: np.ndarray, centre: np.ndarray, *, k: int = 10,
    metric: str = "euclidean",
) -> list[TextExample]:
    """The ``k`` members closest to ``centre``, with their sentences and highlighted tokens."""
    members = np.asarray(members, dtype=np.int64)
    distance = distances_to(acts.vectors[members], centre, metric)
    order = np.lexsort((members, distance))[:k]
    tokenizer = model.tokenizer
    max_length = int((getattr(model, "input_config", None) or {}).get("max_length", 128))
    examples = []
    for j in order:
        row = int(members[j])
        sample, position = int(acts.sample_index[row]), int(acts.position[row])
        text = str(dataset.text(sample)) if hasattr(dataset, "text") else str(dataset.items([sample])[0])
        span, token = sampled_token(tokenizer, text, position, max_length)
        examples.append(TextExample(row=row, sample_index=sample, position=position, label=int(acts.label[row]),
                                    distance=float(distance[j]), text=text, token=token,
                                    html=highlighted_html(text, span)))
    return examples


def text_featvis(
    model: Any,
    dataset: Any,
    acts: Any,
    members: np.ndarray,
    *,
    k: int = 10,
    vocabulary_k: int = 15,
    centred: bool = True,
    metric: str = "euclidean",
) -> TextFeatvis:
    """Nearest sentences and tokens and the aligned vocabulary of a text model's node.

    Parameters
    ----------
    model : LoadedModel-like
        A text model (tokenizer, Hugging Face module).
    dataset : Dataset-like
        The dataset ``acts`` came from (``text(i)`` gives a sentence).
    acts : ActivationSet
        Activations of one layer of ``model`` on ``dataset``.
    members : ndarray of int
        Rows of ``acts`` in the node.
    k : int, default 10
        Nearest members shown.
    vocabulary_k : int, default 15
        Vocabulary tokens shown.
    centred : bool, default True
        Centre the node's mean and the embeddings before the cosine (module docstring).
    metric : {'euclidean', 'cosine'}
        Distance of the nearest members.

    Returns
    -------
    TextFeatvis

    Raises
    ------
    FeatvisError
        An image model, no members, mismatched widths.
    """
    check_text_model(model)
    members = np.asarray(members, dtype=np.int64)
    if members.size == 0:
        raise FeatvisError("the node has no members")
    centre = acts.vectors[members].astype(np.float64).mean(axis=0)
    offset = acts.vectors.astype(np.float64).mean(axis=0) if centred else None
    return TextFeatvis(
        nearest=nearest_texts(model, dataset, acts, members, centre, k=k, metric=metric),
        vocabulary=aligned_vocabulary(model, centre, k=vocabulary_k, offset=offset),
        meta={"layer": acts.layer, "centred": bool(centred), "metric": metric, "members": int(members.size)},
    )
