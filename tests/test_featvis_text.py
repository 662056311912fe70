"""Text nodes on the real all-MiniLM-L6-v2: nearest sentences with the sampled token, aligned vocabulary."""

from __future__ import annotations

import re

import numpy as np
import pytest

import zoo
from topoact.activations import ActivationSet
from topoact.extract import ItemsDataset
from topoact.featvis import FeatvisError, aligned_vocabulary, highlighted_html, text_featvis
from topoact.workflow import ExtractionSpec, get_or_extract

SENTENCES = [
    "a <b>bold</b> & brave film .",
    "the plot is thin but the acting is great .",
    "I hated every minute of it .",
    "script <script>alert('x')</script> tags should never run .",
    "an utterly charming comedy .",
    "dull , slow and far too long .",
    "the soundtrack & visuals are stunning .",
    "a movie about nothing at all .",
]


@pytest.fixture(scope="module")
def minilm():
    return zoo.load_model("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def crafted(minilm):
    dataset = ItemsDataset("crafted", SENTENCES, labels=np.arange(len(SENTENCES)) % 2, modality="text")
    acts = get_or_extract(ExtractionSpec(minilm, dataset, ["encoder.layer.1"], sampling="all_tokens",
                                         max_positions=6), store=None)["encoder.layer.1"]
    return dataset, acts


def test_nearest_members_are_nearest_and_their_token_is_marked_and_escaped(minilm, crafted):
    dataset, acts = crafted
    members = np.arange(0, acts.n_rows, 2)
    result = text_featvis(minilm, dataset, acts, members, k=8)
    mean = acts.vectors[members].astype(np.float64).mean(axis=0)
    distance = np.linalg.norm(acts.vectors[members].astype(np.float64) - mean, axis=1)
    assert [e.row for e in result.nearest] == list(members[np.lexsort((members, distance))][:8])
    tokenizer = minilm.tokenizer
    for example in result.nearest:
        assert example.text == SENTENCES[example.sample_index]
        encoded = tokenizer(example.text, return_offsets_mapping=True)
        assert example.token == tokenizer.convert_ids_to_tokens(encoded["input_ids"][example.position])
        start, end = encoded["offset_mapping"][example.position]
        marked = re.search(r"<mark>(.*?)</mark>", example.html).group(1)
        assert marked == highlighted_html(example.text[start:end], None)  # the token's characters, escaped
        assert "<script>" not in example.html and "<b>" not in example.html
        assert example.html.replace("<mark>", "").replace("</mark>", "") == highlighted_html(example.text, None)
    assert highlighted_html("a <b> & c", (2, 5)) == "a <mark>&lt;b&gt;</mark> &amp; c"


def test_vocabulary_is_the_best_aligned_input_embeddings(minilm, crafted):
    dataset, acts = crafted
    members = np.arange(0, acts.n_rows, 3)
    result = text_featvis(minilm, dataset, acts, members, vocabulary_k=12)
    embeddings = minilm.module.get_input_embeddings().weight.detach().double().numpy()
    embeddings = embeddings - embeddings.mean(axis=0)
    direction = acts.vectors[members].astype(np.float64).mean(0) - acts.vectors.astype(np.float64).mean(0)
    cosine = embeddings @ direction / np.linalg.norm(embeddings, axis=1) / np.linalg.norm(direction)
    tokens = minilm.tokenizer.convert_ids_to_tokens(list(range(len(cosine))))
    usable = [i for i in np.argsort(-cosine, kind="stable")
              if i not in minilm.tokenizer.all_special_ids and not tokens[i].startswith("[unused")]
    assert [token for token, _ in result.vocabulary] == [tokens[i] for i in usable[:12]]
    assert [c for _, c in result.vocabulary] == pytest.approx([cosine[i] for i in usable[:12]])
    raw = aligned_vocabulary(minilm, acts.vectors[members].mean(0), k=12)  # uncentred: another ranking
    assert [t for t, _ in raw] != [t for t, _ in result.vocabulary]


def test_polarity_node_finds_words_like_its_members(minilm):
    dataset = zoo.load_dataset("polarity")
    acts = get_or_extract(ExtractionSpec(minilm, dataset, ["embeddings"], sampling="all_tokens",
                                         max_positions=8, limit=80), store=None)["embeddings"]
    tokenizer = minilm.tokenizer
    tokens = []
    for row in range(acts.n_rows):
        ids = tokenizer(dataset.text(int(acts.sample_index[row])))["input_ids"]
        tokens.append(tokenizer.convert_ids_to_tokens(ids[acts.position[row]]))
    # a "node" of the rows whose sampled token is a common function word
    members = np.array([row for row, token in enumerate(tokens) if token in {"the", "a", "of", "and", "to"}])
    assert members.size >= 20
    result = text_featvis(minilm, dataset, acts, members, vocabulary_k=20)
    assert {"the", "a", "of", "and", "to"} & {token for token, _ in result.vocabulary}
    assert {e.token for e in result.nearest} <= {"the", "a", "of", "and", "to"}


def test_bad_input(minilm, crafted):
    dataset, acts = crafted
    with pytest.raises(FeatvisError, match="'digits_cnn' is an image model"):
        text_featvis(zoo.load_model("digits_cnn"), dataset, acts, np.arange(3))
    with pytest.raises(FeatvisError, match="no members"):
        text_featvis(minilm, dataset, acts, np.array([], dtype=np.int64))
    narrow = ActivationSet("x", np.ones((3, 10), np.float32), np.arange(3), np.zeros(3), np.zeros(3),
                           np.full(3, -1), np.full(3, np.nan))
    with pytest.raises(FeatvisError, match="have 10 entries but the input embeddings .* have 384"):
        text_featvis(minilm, dataset, narrow, np.arange(3))
