"""Samplers: values against plain tensor arithmetic, determinism, masks, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from topoact.extract.sampling import (
    IMAGE_SAMPLINGS,
    TEXT_SAMPLINGS,
    check_sampling,
    sample,
    subset_rows,
    uniforms,
)


@pytest.fixture
def conv_batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 5, 4, 7, generator=g)  # N, C, H, W


IDS = np.array([10, 11, 12, 13, 14, 15])


def test_random_position_picks_the_recorded_position(conv_batch: torch.Tensor) -> None:
    s = sample(conv_batch, "random_position", sample_ids=IDS, seed=3)
    assert s.vectors.shape == (6, 5)
    assert list(s.rows) == list(range(6))
    for i, p in enumerate(s.positions):
        h, w = divmod(int(p), 7)
        assert torch.equal(s.vectors[i], conv_batch[i, :, h, w])
    assert s.layer_shape == (5, 4, 7)


def test_random_position_is_a_function_of_seed_and_sample_id(conv_batch: torch.Tensor) -> None:
    full = sample(conv_batch, "random_position", sample_ids=IDS, seed=3)
    # the same samples in other batches, in another order
    part = sample(conv_batch[[4, 1]], "random_position", sample_ids=IDS[[4, 1]], seed=3)
    assert list(part.positions) == [full.positions[4], full.positions[1]]
    other_seed = sample(conv_batch, "random_position", sample_ids=IDS, seed=4)
    assert not np.array_equal(other_seed.positions, full.positions)


def test_random_position_is_the_same_relative_place_across_resolutions() -> None:
    ids = np.arange(50)
    a = sample(torch.zeros(50, 1, 8, 8), "random_position", sample_ids=ids, seed=1).positions
    b = sample(torch.zeros(50, 1, 4, 4), "random_position", sample_ids=ids, seed=1).positions
    ha, wa = np.divmod(a, 8)
    hb, wb = np.divmod(b, 4)
    assert np.array_equal(ha // 2, hb) and np.array_equal(wa // 2, wb)
    # and it covers the grid rather than sticking to a corner
    assert len(set(a.tolist())) > 25


def test_gap_equals_the_spatial_mean(conv_batch: torch.Tensor) -> None:
    s = sample(conv_batch, "gap", sample_ids=IDS)
    assert torch.allclose(s.vectors, conv_batch.mean(dim=(2, 3)))
    assert (s.positions == -1).all()
    nhwc = sample(conv_batch.permute(0, 2, 3, 1), "gap", sample_ids=IDS, layout="nhwc")
    assert torch.allclose(nhwc.vectors, s.vectors)


def test_max_norm_picks_the_largest_vector(conv_batch: torch.Tensor) -> None:
    s = sample(conv_batch, "max_norm", sample_ids=IDS)
    norms = conv_batch.pow(2).sum(dim=1).flatten(1)  # N, H*W
    assert np.array_equal(s.positions, norms.argmax(dim=1).numpy())
    for i, p in enumerate(s.positions):
        assert torch.equal(s.vectors[i], conv_batch[i, :, p // 7, p % 7])


def test_all_positions_uncapped_keeps_every_position_in_order(conv_batch: torch.Tensor) -> None:
    s = sample(conv_batch, "all_positions", sample_ids=IDS, max_positions=28)
    assert s.vectors.shape == (6 * 28, 5)
    assert np.array_equal(s.rows, np.repeat(np.arange(6), 28))
    assert np.array_equal(s.positions, np.tile(np.arange(28), 6))
    assert torch.equal(s.vectors[28 * 2 + 9], conv_batch[2, :, 1, 2])


def test_all_positions_capped_is_a_seeded_subset(conv_batch: torch.Tensor) -> None:
    s = sample(conv_batch, "all_positions", sample_ids=IDS, max_positions=5, seed=2)
    assert np.array_equal(s.rows, np.repeat(np.arange(6), 5))
    per_sample = s.positions.reshape(6, 5)
    assert (np.diff(per_sample, axis=1) > 0).all()  # distinct, in position order
    for r, p, v in zip(s.rows, s.positions, s.vectors):
        assert torch.equal(v, conv_batch[r, :, p // 7, p % 7])
    again = sample(conv_batch[[3]], "all_positions", sample_ids=IDS[[3]], max_positions=5, seed=2)
    assert np.array_equal(again.positions, per_sample[3])
    other = sample(conv_batch, "all_positions", sample_ids=IDS, max_positions=5, seed=9)
    assert not np.array_equal(other.positions, s.positions)


def test_token_layers_use_token_indices() -> None:
    x = torch.randn(3, 9, 4)  # N, tokens, C
    s = sample(x, "random_position", sample_ids=np.arange(3), seed=0)
    for i, p in enumerate(s.positions):
        assert 0 <= p < 9
        assert torch.equal(s.vectors[i], x[i, p])
    m = sample(x, "max_norm", sample_ids=np.arange(3))
    assert np.array_equal(m.positions, x.norm(dim=2).argmax(dim=1).numpy())
    nhwc = sample(torch.randn(2, 3, 4, 5), "max_norm", sample_ids=np.arange(2), layout="nhwc")
    assert nhwc.vectors.shape == (2, 5) and (nhwc.positions < 12).all()


def test_flat_layers_give_one_unpositioned_vector() -> None:
    x = torch.randn(3, 4)
    for sampling in ("random_position", "all_positions", "gap", "random_token"):
        s = sample(x, sampling, sample_ids=np.arange(3))
        assert torch.equal(s.vectors, x) and (s.positions == -1).all()


# ------------------------------------------------------------------------------ text
@pytest.fixture
def text_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 7, 4, generator=g)
    valid = torch.tensor(
        [
            [1, 1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 0, 0, 0],
            [1, 1, 0, 0, 0, 0, 0],  # [CLS] [SEP] of an empty sentence
        ],
        dtype=torch.bool,
    )
    special = torch.zeros(3, 7, dtype=torch.bool)
    special[:, 0] = True
    special[0, 6] = special[1, 3] = special[2, 1] = True
    return x, valid, valid & ~special


def test_random_token_never_picks_padding_or_special_tokens(text_batch) -> None:
    x, valid, cand = text_batch
    for seed in range(40):
        s = sample(x, "random_token", sample_ids=np.arange(3), seed=seed, valid=valid, candidate=cand)
        assert 1 <= s.positions[0] <= 5
        assert s.positions[1] in (1, 2)
        assert s.positions[2] in (0, 1)  # no candidate: falls back to non-padding tokens
        for i, p in enumerate(s.positions):
            assert torch.equal(s.vectors[i], x[i, p])


def test_random_token_covers_all_candidates(text_batch) -> None:
    x, valid, cand = text_batch
    seen = {
        int(sample(x, "random_token", sample_ids=np.arange(3), seed=s, valid=valid, candidate=cand).positions[0])
        for s in range(60)
    }
    assert seen == {1, 2, 3, 4, 5}


def test_cls_and_mean_tokens(text_batch) -> None:
    x, valid, cand = text_batch
    cls = sample(x, "cls", sample_ids=np.arange(3), valid=valid, candidate=cand)
    assert torch.equal(cls.vectors, x[:, 0]) and (cls.positions == 0).all()
    mean = sample(x, "mean_tokens", sample_ids=np.arange(3), valid=valid, candidate=cand)
    for i in range(3):
        assert torch.allclose(mean.vectors[i], x[i][valid[i]].mean(dim=0), atol=1e-6)
    assert (mean.positions == -1).all()


def test_all_tokens_capped_keeps_only_candidates(text_batch) -> None:
    x, valid, cand = text_batch
    s = sample(x, "all_tokens", sample_ids=np.arange(3), max_positions=3, seed=5, valid=valid, candidate=cand)
    by_row = {r: s.positions[s.rows == r].tolist() for r in range(3)}
    assert len(by_row[0]) == 3 and set(by_row[0]) <= {1, 2, 3, 4, 5} and by_row[0] == sorted(by_row[0])
    assert by_row[1] == [1, 2]
    assert by_row[2] == [0, 1]
    for r, p, v in zip(s.rows, s.positions, s.vectors):
        assert torch.equal(v, x[r, p])


def test_text_mask_must_match_layer(text_batch) -> None:
    x, valid, _ = text_batch
    with pytest.raises(ValueError, match="token mask has shape"):
        sample(x[:, :5], "random_token", sample_ids=np.arange(3), valid=valid)


# ------------------------------------------------------------------------------ helpers, errors
def test_uniforms_are_pure_and_in_range() -> None:
    a = uniforms(7, np.array([1, 2, 3]), 4, stream=1)
    b = uniforms(7, np.array([3, 1]), 4, stream=1)
    assert np.array_equal(a[[2, 0]], b)
    assert a.shape == (3, 4) and (a >= 0).all() and (a < 1).all()
    assert not np.array_equal(uniforms(8, np.array([1]), 4, 1), a[:1])
    assert not np.array_equal(uniforms(7, np.array([1]), 4, 2), a[:1])
    big = uniforms(0, np.arange(20000), 1)[:, 0]
    assert abs(big.mean() - 0.5) < 0.01  # roughly uniform
    assert uniforms(-1, np.array([5]), 2).shape == (1, 2)  # negative seeds work
    # for one sample, varying the seed or the counter varies the numbers too
    over_seeds = np.array([uniforms(s, np.array([0]), 1)[0, 0] for s in range(400)])
    assert len(set(over_seeds.tolist())) == 400 and abs(over_seeds.mean() - 0.5) < 0.05
    over_counters = uniforms(0, np.array([0]), 4000)[0]
    assert abs(over_counters.mean() - 0.5) < 0.02


def test_subset_rows() -> None:
    assert np.array_equal(subset_rows(5, None, 0), np.arange(5))
    assert np.array_equal(subset_rows(5, 9, 0), np.arange(5))
    rows = subset_rows(100, 10, 3)
    assert rows.size == 10 and np.array_equal(rows, np.sort(rows)) and len(set(rows)) == 10
    assert np.array_equal(rows, subset_rows(100, 10, 3))
    assert not np.array_equal(rows, subset_rows(100, 10, 4))


def test_check_sampling_errors() -> None:
    for s in IMAGE_SAMPLINGS:
        check_sampling(s, "image")
    for s in TEXT_SAMPLINGS:
        check_sampling(s, "text")
    with pytest.raises(ValueError, match="unknown sampling 'foo'; valid: random_position, gap"):
        check_sampling("foo", "image")
    with pytest.raises(ValueError, match="'random_token' does not apply to a image model; use one of: random_position"):
        check_sampling("random_token", "image")
    with pytest.raises(ValueError, match="does not apply to a text model"):
        check_sampling("gap", "text")
    with pytest.raises(ValueError, match="max_positions must be >= 1, got 0"):
        check_sampling("all_positions", "image", 0)
    with pytest.raises(ValueError, match="integer"):
        check_sampling("all_positions", "image", 2.5)  # type: ignore[arg-type]


def test_sample_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="cannot sample a layer output of shape"):
        sample(torch.zeros(2, 1, 1, 1, 1), "gap", sample_ids=np.arange(2))
    with pytest.raises(ValueError, match="sample_ids must have shape"):
        sample(torch.zeros(2, 3, 4, 4), "gap", sample_ids=np.arange(3))
