"""Data: synthetic pair, folder layouts, image conversion, corrupt files, deterministic resumable streams."""
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from munit.data import (SYNTHETIC, DataConfig, DataError, DomainStream, ImageFolderDomain, batches_per_epoch,
                        count_images, describe, iterate_images, list_images, load_domains, load_image, to_model_range,
                        to_uint8)
from munit.synthetic import DOMAINS, VERSION, SyntheticDomain, render, synthetic_domains
from munit.synthetic_fit import content_error, content_mask, fit_error

S = 16  # model size for folder tests


# ------------------------------------------------------------------------------------------------- helpers

def _rgb(path: Path, value: int | tuple = (200, 100, 50), size=(24, 20)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, value).save(path)
    return path


def _truncated_png(path: Path) -> Path:
    full = path.with_suffix(".full.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(full)
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: len(data) // 2])
    return path


def _afhq(root: Path) -> Path:
    """ROOT/{train,val}/{dog,cat} with every awkward file kind in train/dog."""
    for split, n in (("train", 4), ("val", 2)):
        for dom in ("dog", "cat"):
            for i in range(n):
                _rgb(root / split / dom / f"{dom}_{i:03d}.jpg", (10 * i, 50, 200))
    dog = root / "train" / "dog"
    (dog / "corrupt.jpg").write_bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8).tobytes())
    _truncated_png(dog / "truncated.png")
    Image.new("RGBA", (20, 20), (255, 0, 0, 0)).save(dog / "rgba.png")
    Image.new("L", (20, 30), 100).save(dog / "gray.jpg")
    pal = Image.new("P", (20, 20), 1)
    pal.putpalette([0, 0, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90] + [0] * 756)
    pal.save(dog / "palette.png")
    Image.fromarray(np.full((20, 20), 65535, dtype=np.uint16)).save(dog / "sixteen.png")
    (dog / ".hidden.jpg").write_bytes(b"not an image")
    (dog / "notes.txt").write_text("ignored")
    return root


class IndexImages(torch.utils.data.Dataset):
    """In-memory domain whose image i is identifiable (value i) and left-right asymmetric (flips visible)."""

    def __init__(self, n: int, size: int = 4):
        self.images = torch.zeros(n, 3, size, size, dtype=torch.uint8)
        self.images[:, 0] = torch.arange(n, dtype=torch.uint8).view(n, 1, 1)
        self.images[:, 1, :, 0] = 255  # marker in the leftmost column
        self.name = "index"

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def _ids(batch: torch.Tensor) -> list[int]:
    return to_uint8(batch)[:, 0, 0, 0].tolist()


def _flipped(batch: torch.Tensor) -> list[bool]:
    return (to_uint8(batch)[:, 1, 0, -1] == 255).tolist()


def _take(stream, k: int) -> list[torch.Tensor]:
    return [next(stream) for _ in range(k)]


# ----------------------------------------------------------------------------------------------- synthetic

def test_synthetic_deterministic_seeded_and_per_index():
    a1, b1 = synthetic_domains(32, "val", n=6, seed=0)
    a2, b2 = synthetic_domains(32, "val", n=6, seed=0)
    assert torch.equal(a1.images, a2.images) and torch.equal(b1.images, b2.images)
    a3, _ = synthetic_domains(32, "val", n=6, seed=1)
    assert not torch.equal(a1.images, a3.images) and not torch.equal(a1.masks, a3.masks)
    a_train, _ = synthetic_domains(32, "train", n=6, seed=0)
    assert not torch.equal(a1.masks, a_train.masks)
    # any image is reproducible alone, independently of how many are generated
    img, mask = render(4, "B", 32, seed=0, split="val")
    assert torch.equal(torch.from_numpy(img).permute(2, 0, 1), b1[4]) and torch.equal(torch.from_numpy(mask), b1.masks[4, 0])
    single = SyntheticDomain("A", 32, 3, seed=0, split="val")
    assert torch.equal(single.images, a1.images[:3])


def test_synthetic_shapes_pairing_and_independent_styles():
    a, b = synthetic_domains(32, "val", n=20)
    assert (a.name, b.name) == DOMAINS and len(a) == len(b) == 20
    assert a.images.dtype == torch.uint8 and a.images.shape == (20, 3, 32, 32) and a[0].shape == (3, 32, 32)
    assert a.masks.dtype == torch.bool and a.masks.shape == (20, 1, 32, 32)
    assert torch.equal(a.masks, b.masks)                       # same content
    assert a.masks.flatten(1).any(1).all() and not a.masks.flatten(1).all(1).any()
    assert a.version == b.version == VERSION == "2"
    # style varies within a domain: mean background colours differ across images
    bg = [a.images[i][:, ~a.masks[i, 0]].float().mean(1) for i in range(20)]
    assert torch.stack(bg).std(0).max() > 10
    # v2: A's shapes are flat-shaded, B's patterned (mean |horizontal step| inside the shapes, 0-255 units) ...
    core = torch.nn.functional.max_pool2d((~a.masks).float(), 3, 1, 1)[:, 0] == 0  # away from antialiased edges
    inside = core[..., 1:] & core[..., :-1]
    for ds, lo, hi in ((a, 0, 3), (b, 15, 255)):
        step = (ds.images[..., 1:].float() - ds.images[..., :-1].float()).abs().mean(1)
        assert lo <= (step * inside).sum() / inside.sum() <= hi
    # ... and polarity is no domain cue: each domain has dark-on-light and light-on-dark images
    for ds in (a, b):
        luma = (ds.images.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
        m = ds.masks[:, 0]
        darker = (luma * m).sum((1, 2)) / m.sum((1, 2)) < (luma * ~m).sum((1, 2)) / (~m).sum((1, 2))
        assert 0 < darker.sum() < len(ds)


def test_content_mask_recovers_content_from_any_image():
    a, b = synthetic_domains(64, "train", n=200, seed=3)
    for ds in (a, b):
        agree = (content_mask(to_model_range(ds.images), ds.name) == ds.masks).float()
        assert agree.mean() > 0.98 and agree.flatten(1).mean(1).min() > 0.95
    # uint8 input is accepted too
    assert torch.equal(content_mask(a.images[:32], "A"), content_mask(to_model_range(a.images[:32]), "A"))


def test_content_error_oracle_and_identity():
    a, b = synthetic_domains(48, "val", n=32)
    oracle = content_error(to_model_range(b.images), a.masks, "B")   # the paired ground truth of A -> B
    assert oracle.shape == (32,) and oracle.max() < 0.02
    # a "translation" that changes nothing keeps the geometry, so in v2 (no polarity cue) the content error
    # cannot reject it; the paired fit error, which also judges the target's appearance, does
    identity = to_model_range(a.images)
    assert fit_error(identity, a.masks, "B").min() > 10 * fit_error(to_model_range(b.images), a.masks, "B").max()
    # geometry that is not the input's scores high content error
    assert content_error(to_model_range(b.images.roll(1, 0)), a.masks, "B").min() > 0.2
    assert content_error(to_model_range(a.images), a.masks[:, 0], "A").max() < 0.02  # [N,H,W] masks accepted
    with pytest.raises(ValueError):
        content_mask(a.images, "day")


def test_synthetic_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        synthetic_domains(16, "holdout", n=2)
    with pytest.raises(ValueError, match="domain"):
        render(0, "C", 16)


def test_load_domains_synthetic_ignores_domain_names_and_caps():
    cfg = DataConfig(synthetic_train=12, synthetic_val=5, seed=2, domains=("x", "y"))
    a, b = load_domains(cfg, "train", 16)
    assert (a.name, b.name) == ("A", "B") and len(a) == 12 and a[0].shape == (3, 16, 16)
    va, _ = load_domains(cfg, "val", 16)
    assert len(va) == 5
    capped, _ = load_domains(DataConfig(max_images=3), "train", 16)
    assert len(capped) == 3
    assert describe(a)["source"].startswith("synthetic") and describe(a)["count"] == 12
    with pytest.raises(DataError, match="split"):
        load_domains(cfg, "test", 16)
    with pytest.raises(DataError, match="image_size"):  # the size is the model's, passed in; still checked
        load_domains(cfg, "train", 0)


# ------------------------------------------------------------------------------------------ folder layouts

def test_afhq_layout_conversions_and_one_warning_for_corrupt(tmp_path):
    root = _afhq(tmp_path / "afhq")
    cfg = DataConfig(source=str(root))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        dog, cat = load_domains(cfg, "train", S)
    msgs = [str(w.message) for w in rec if "unreadable" in str(w.message)]
    assert len(msgs) == 1 and "corrupt.jpg" in msgs[0] and "truncated.png" in msgs[0]
    assert sorted(p.name for p in dog.skipped) == ["corrupt.jpg", "truncated.png"]
    assert len(dog) == 4 + 4 and len(cat) == 4 and dog.name == "dog" and cat.name == "cat"
    assert ".hidden.jpg" not in [p.name for p in dog.paths] and "notes.txt" not in [p.name for p in dog.paths]
    items = {p.name: dog[i] for i, p in enumerate(dog.paths)}
    for x in items.values():
        assert x.dtype == torch.uint8 and x.shape == (3, S, S)
    assert items["sixteen.png"].min() == 255                         # 65535 -> 255, not clipped garbage
    assert items["rgba.png"].min() == 255                            # fully transparent -> white
    assert items["gray.jpg"].float().sub(100).abs().max() <= 2       # L -> equal RGB channels
    assert items["palette.png"][:, 0, 0].tolist() == [10, 20, 30]
    d = describe(dog)
    assert d["name"] == "dog" and d["count"] == 8 and d["skipped"] == 2 and d["source"].endswith("dog")
    vdog, vcat = load_domains(cfg, "val", S)
    assert len(vdog) == len(vcat) == 2 and all("val" in str(p) for p in vdog.paths)
    with pytest.warns(UserWarning, match="corrupt.jpg"):  # the cap counts readable images only
        assert len(load_domains(DataConfig(source=str(root), max_images=3), "train", S)[0]) == 3


def test_count_images_is_what_load_domains_returns(tmp_path):
    """count_images answers without building a data set: the synthetic sizes from the config; for folders the same
    layout, file check, held-out split and cap as load_domains (corrupt files are not counted), silently."""
    for cfg in (DataConfig(synthetic_train=12, synthetic_val=5), DataConfig(synthetic_train=12, max_images=3)):
        assert cfg.source == SYNTHETIC
        for split in ("train", "val"):
            assert count_images(cfg, split) == tuple(len(d) for d in load_domains(cfg, split, 16))
    afhq = _afhq(tmp_path / "afhq")
    h2z = tmp_path / "h2z"
    for dom in ("horse", "zebra"):
        for i in range(10):
            _rgb(h2z / dom / f"{i:02d}.png", (i, i, i))
    (h2z / "horse" / "09.png").write_bytes(b"\x89PNG nonsense")
    configs = [DataConfig(source=str(afhq)), DataConfig(source=str(afhq), max_images=3),
               DataConfig(source=str(h2z), domains=("horse", "zebra"), val_fraction=0.2),
               DataConfig(source=str(h2z), domains=("horse", "zebra"), max_images=4)]
    for cfg in configs:
        for split in ("train", "val"):
            with warnings.catch_warnings():
                warnings.simplefilter("error")        # counting warns about nothing
                counts = count_images(cfg, split)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert counts == tuple(len(d) for d in load_domains(cfg, split, S)), (cfg, split)
    assert count_images(configs[0], "train") == (8, 4) and count_images(configs[2], "val") == (2, 2)
    with pytest.raises(DataError, match="split"):
        count_images(configs[0], "test")
    with pytest.raises(DataError, match="data root not found"):
        count_images(DataConfig(source=str(tmp_path / "nowhere")), "train")


def test_batches_per_epoch_is_the_streams_rule():
    """An epoch is the full batches of one pass (the partial last one is dropped); DomainStream follows it."""
    assert [batches_per_epoch(n, 4) for n in (4, 7, 8, 401)] == [1, 1, 2, 100]
    assert batches_per_epoch(3, 4) == 1       # never an empty epoch
    for n, b in ((24, 4), (10, 3), (12, 5)):
        assert DomainStream(IndexImages(n), b, seed=0).batches_per_epoch == batches_per_epoch(n, b)


def test_image_conversions(tmp_path):
    half = tmp_path / "half16.png"
    Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16)).save(half)  # 128 * 257
    assert load_image(half, 4).unique().tolist() == [128]
    zero = tmp_path / "zero16.png"
    Image.fromarray(np.zeros((8, 8), dtype=np.uint16)).save(zero)
    assert load_image(zero, 4).max() == 0
    big_endian = Image.frombytes("I;16B", (4, 4), b"\xff\xff" * 16)
    big_endian.save(tmp_path / "be.tif")
    assert load_image(tmp_path / "be.tif", 4).min() == 255
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(cmyk)
    assert load_image(cmyk, 4).min() > 240
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([1, 2, 3] * 256)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "paltrans.png", transparency=0)
    assert load_image(tmp_path / "paltrans.png", 4).min() == 255
    la = tmp_path / "la.png"
    Image.new("LA", (8, 8), (0, 255)).save(la)
    assert load_image(la, 4).max() == 0
    bw = tmp_path / "bw.bmp"
    Image.new("1", (8, 8), 1).save(bw)
    assert load_image(bw, 4).min() == 255
    wide = _rgb(tmp_path / "WIDE.JPG", (0, 255, 0), size=(40, 10))   # squash to square, upper-case extension
    x = load_image(wide, 6)
    assert x.shape == (3, 6, 6) and x[1].min() > 240
    assert [p.name for p in list_images(tmp_path)] == sorted(p.name for p in tmp_path.iterdir())


def test_read_time_failure_substitutes_next_readable_deterministically(tmp_path):
    paths = [_rgb(tmp_path / f"{i}.jpg", (i * 40, 0, 0)) for i in range(4)]
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(paths[1])
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) * 2 // 3])  # truncated scan data: passes verify(), fails to decode
    ds = ImageFolderDomain(paths, S, name="t")
    assert len(ds) == 4 and ds.skipped == []
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        x = ds[1]
        again = ds[1]
    assert torch.equal(x, ds[2]) and torch.equal(again, x)
    assert len(rec) == 1 and "1.jpg" in str(rec[0].message) and ds.skipped == [paths[1]]


def test_all_corrupt_is_a_data_error(tmp_path):
    bad = [tmp_path / f"{i}.png" for i in range(3)]
    for p in bad:
        p.write_bytes(b"\x89PNG nonsense")
    with pytest.warns(UserWarning, match="skipped 3 unreadable"), pytest.raises(DataError, match="no readable"):
        ImageFolderDomain(bad, S, name="bad")


def test_layout_errors_name_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="data root not found") as e:
        load_domains(DataConfig(source=str(missing)), "train", S)
    assert str(missing) in str(e.value) and "Expected" in str(e.value)

    root = tmp_path / "afhq"
    _rgb(root / "train" / "dog" / "a.jpg")
    with pytest.raises(DataError, match="AFHQ domain folder not found") as e:
        load_domains(DataConfig(source=str(root)), "train", S)
    assert str(root / "train" / "cat") in str(e.value) and "{train,val}" in str(e.value)
    (root / "train" / "cat").mkdir()
    with pytest.raises(DataError, match="no images") as e:
        load_domains(DataConfig(source=str(root)), "train", S)
    assert str(root / "train" / "cat") in str(e.value)
    with pytest.raises(DataError, match="AFHQ split folder not found"):
        load_domains(DataConfig(source=str(root)), "val", S)

    two = tmp_path / "two"
    _rgb(two / "horse" / "a.jpg")
    with pytest.raises(DataError, match="domain folder not found") as e:
        load_domains(DataConfig(source=str(two), domains=("horse", "zebra")), "train", S)
    assert str(two / "zebra") in str(e.value)
    _rgb(two / "zebra" / "a.jpg")
    with pytest.raises(DataError, match="at least 2"):
        load_domains(DataConfig(source=str(two), domains=("horse", "zebra")), "train", S)


def test_two_folder_layout_split_and_paths_as_domains(tmp_path, monkeypatch):
    root = tmp_path / "h2z"
    for dom in ("horse", "zebra"):
        for i in range(10):
            _rgb(root / dom / f"{i:02d}.png", (i, i, i))
    cfg = DataConfig(source=str(root), domains=("horse", "zebra"), val_fraction=0.2)
    tr, _ = load_domains(cfg, "train", S)
    va, _ = load_domains(cfg, "val", S)
    assert [p.name for p in tr.paths] == [f"{i:02d}.png" for i in range(8)]
    assert [p.name for p in va.paths] == ["08.png", "09.png"] and tr.name == "horse"
    tiny = DataConfig(source=str(root), domains=("horse", "zebra"), val_fraction=0.01)
    assert len(load_domains(tiny, "val", S)[0]) == 1 and len(load_domains(tiny, "train", S)[0]) == 9
    # domains as folder paths, absolute and relative; source need not exist
    absolute = DataConfig(source=str(tmp_path / "unused"), domains=(str(root / "horse"), str(root / "zebra")),
                          val_fraction=0.2)
    a, b = load_domains(absolute, "train", S)
    assert (a.name, b.name, len(a), len(b)) == ("horse", "zebra", 8, 8)
    monkeypatch.chdir(tmp_path)
    relative = DataConfig(source="unused", domains=("h2z/horse", "h2z/zebra"), val_fraction=0.2)
    assert [p.name for p in load_domains(relative, "val", S)[1].paths] == ["08.png", "09.png"]


def test_unreadable_files_leave_the_split_and_say_why(tmp_path, monkeypatch):
    """The held-out val share of a plain folder is taken after unreadable files are removed (a corrupt file that
    sorts last must not empty it), and the warning gives each file's reason, e.g. PIL's pixel limit."""
    root = tmp_path / "h2z"
    for dom in ("horse", "zebra"):
        for i in range(9):
            _rgb(root / dom / f"{i:02d}.png", (i, i, i))
    (root / "horse" / "09.png").write_bytes(b"\x89PNG nonsense")
    _rgb(root / "zebra" / "09.png", size=(64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)   # 64 x 64 > 2 x 1000: PIL refuses it as a bomb
    cfg = DataConfig(source=str(root), domains=("horse", "zebra"))
    with pytest.warns(UserWarning) as caught:
        val = load_domains(cfg, "val", S)
    shown = "\n".join(str(w.message) for w in caught)
    assert "horse/09.png (" in shown and "over PIL's pixel limit" in shown and "MAX_IMAGE_PIXELS" in shown
    assert [[p.name for p in d.paths] for d in val] == [["08.png"], ["08.png"]]
    with pytest.warns(UserWarning):
        assert [len(d) for d in load_domains(cfg, "train", S)] == [8, 8]


def test_data_config_validation():
    assert DataConfig(domains=["a", "b"]).domains == ("a", "b")
    for bad in (dict(val_fraction=0.0), dict(synthetic_train=0), dict(max_images=0), dict(domains=("a",))):
        with pytest.raises(DataError):
            DataConfig(**bad)


# ------------------------------------------------------------------------------------------------- streams

def test_to_model_range_round_trip():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(2, 3, 16, 16)
    y = to_model_range(x)
    assert y.dtype == torch.float32 and y.min() == -1 and y.max() == 1
    assert torch.equal(to_uint8(y), x) and to_uint8(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]


def test_stream_batches_are_deterministic_in_range_and_flipped():
    a, _ = synthetic_domains(16, "val", n=24)
    s1, s2 = DomainStream(a, 4, seed=0), DomainStream(a, 4, seed=0)
    b1, b2 = _take(s1, 8), _take(s2, 8)
    assert all(torch.equal(x, y) for x, y in zip(b1, b2))
    assert b1[0].shape == (4, 3, 16, 16) and b1[0].dtype == torch.float32
    assert min(x.min() for x in b1) >= -1 and max(x.max() for x in b1) <= 1
    other = _take(DomainStream(a, 4, seed=1), 8)
    assert not all(torch.equal(x, y) for x, y in zip(b1, other))
    assert s1.batches_per_epoch == 6 and s1.state_dict() == {"epoch": 1, "pos": 2}

    ds = IndexImages(12)
    flips = [f for x in _take(DomainStream(ds, 4, seed=0), 6) for f in _flipped(x)]
    assert 0 < sum(flips) < len(flips)
    assert not any(f for x in _take(DomainStream(ds, 4, seed=0, flip=False), 6) for f in _flipped(x))


def test_stream_epochs_cover_every_image_and_reshuffle():
    ds = IndexImages(10)
    s = DomainStream(ds, 3, seed=5, flip=False)   # 3 batches per epoch, one image dropped each epoch
    epochs = [[i for x in _take(s, 3) for i in _ids(x)] for _ in range(3)]
    assert all(len(set(e)) == 9 for e in epochs)
    assert epochs[0] != epochs[1] and epochs[1] != epochs[2]
    with pytest.raises(DataError, match="fewer than batch_size"):
        DomainStream(ds, 11, seed=0)


@pytest.mark.parametrize("preload", [True, False])
def test_stream_resumes_exactly_mid_epoch_and_across_epochs(preload):
    ds = IndexImages(10)  # 3 batches of 3 per epoch: 7 batches cross two epoch boundaries
    full = _take(DomainStream(ds, 3, seed=7, preload=preload), 7)
    for k in (3, 4, 5):  # at an epoch boundary, mid-epoch, and mid-epoch after a boundary
        first = DomainStream(ds, 3, seed=7, preload=preload)
        _take(first, k)
        state = dict(first.state_dict())
        resumed = DomainStream(ds, 3, seed=7, preload=preload)
        resumed.load_state_dict(state)
        rest = _take(resumed, 7 - k)
        assert all(torch.equal(x, y) for x, y in zip(full[k:], rest)), k
    with pytest.raises(DataError, match="out of range"):
        resumed.load_state_dict({"epoch": 0, "pos": 3})


def test_stream_over_folder_uses_dataloader_and_matches_preload(tmp_path):
    paths = [_rgb(tmp_path / f"{i:02d}.png", (i * 20, 255 - i * 20, 7)) for i in range(9)]
    ds = ImageFolderDomain(paths, S, name="folder")
    loader_stream = DomainStream(ds, 2, seed=3)
    assert not loader_stream.preload
    a = _take(loader_stream, 6)       # crosses an epoch boundary (4 batches per epoch)
    b = _take(DomainStream(ds, 2, seed=3, preload=True), 6)
    assert all(x.shape == (2, 3, S, S) and x.dtype == torch.float32 for x in a)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    resumed = DomainStream(ds, 2, seed=3)
    resumed.load_state_dict({"epoch": 0, "pos": 3})
    assert all(torch.equal(x, y) for x, y in zip(a[3:], _take(resumed, 3)))


def test_stream_with_worker_processes_matches(tmp_path):
    paths = [_rgb(tmp_path / f"{i:02d}.png", (i * 20, 0, 0)) for i in range(6)]
    ds = ImageFolderDomain(paths, S, name="folder")
    a = _take(DomainStream(ds, 2, seed=1, num_workers=2), 4)
    b = _take(DomainStream(ds, 2, seed=1, preload=True), 4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_iterate_images_in_order_with_partial_batch(tmp_path):
    a, _ = synthetic_domains(16, "val", n=7)
    batches = list(iterate_images(a, 3, "cpu"))
    assert [len(x) for x in batches] == [3, 3, 1]
    assert torch.equal(to_model_range(torch.cat(batches)), to_model_range(a.images))
    paths = [_rgb(tmp_path / f"{i}.png", (i * 30, 0, 0)) for i in range(5)]
    ds = ImageFolderDomain(paths, S)
    got = torch.cat(list(iterate_images(ds, 2, "cpu")))
    assert torch.equal(got, torch.stack([ds[i] for i in range(5)]))
    # a subset, in the order given (the evaluation protocol's evenly spaced subsets)
    assert torch.equal(torch.cat(list(iterate_images(ds, 2, "cpu", indices=[4, 0, 2]))),
                       torch.stack([ds[i] for i in (4, 0, 2)]))
