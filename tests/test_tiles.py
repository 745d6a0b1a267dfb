"""Image ingest: folder layouts, manifests, reading, fitting, intensity, splits, store files, montage."""

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch
from PIL import Image

from dlbio.data.simulate_lin import CLASSES, simulate_lin
from dlbio.data.tile_batches import to_unit_range
from dlbio.data.tiles import (
    _minmax_to_uint8,
    to_uint8,
    build_tile_store,
    list_images,
    load_tile_store,
    plot_class_montage,
    prepare_image_dataset,
    read_image,
    save_tile_store,
)
from dlbio.errors import InputError

PROTEINS = ("Arp3", "Sid2", "Alp14")


def write_png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def lin_pngs(tmp_path):
    """LIN's published layout: <root>_train/<Protein>/cellNNNNNN.png, 8-bit RGB with B = 0."""
    rng = np.random.default_rng(0)
    written = {}
    for split, n in (("train", 4), ("test", 2)):
        for protein in PROTEINS:
            for i in range(n):
                rgb = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
                rgb[..., 2] = 0
                path = tmp_path / f"LIN_Normalized_WT_size-48-80_{split}" / protein / f"cell{i:06d}.png"
                written[str(write_png(path, rgb))] = (rgb, protein, split)
    return tmp_path / "LIN_Normalized_WT_size-48-80", written


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    simulate_lin(out, 10, (48, 80), seed=1)
    return out


def config(**changes):
    cfg = {
        "folder": None,
        "manifest": None,
        "channels": [0, 1],
        "size": [48, 80],
        "fit": "crop",
        "intensity": "dtype",
        "test_fraction": 0.2,
        "seed": 0,
    }
    return {**cfg, **changes}


def test_lin_png_layout_keeps_values_and_split_exactly(lin_pngs):
    root, written = lin_pngs
    store, manifest = prepare_image_dataset("lin", config(folder=str(root)))
    assert store["images"].shape == (18, 2, 48, 80) and store["images"].dtype == np.uint8
    assert store["classes"].tolist() == sorted(PROTEINS)
    for i, path in enumerate(store["paths"]):
        rgb, protein, split = written[path]
        np.testing.assert_array_equal(store["images"][i], np.moveaxis(rgb[..., :2], -1, 0))
        assert store["classes"][store["labels"][i]] == protein and store["split"][i] == split
    assert list(manifest.columns) == ["index", "path", "label", "split"]
    assert (manifest["split"] == "test").sum() == 6
    assert store["channels"].tolist() == [0, 1]


def test_channel_order_follows_config(lin_pngs):
    root, written = lin_pngs
    store, _ = prepare_image_dataset("lin", config(folder=str(root), channels=[1, 0]))
    rgb = written[store["paths"][0]][0]
    np.testing.assert_array_equal(store["images"][0], np.moveaxis(rgb[..., [1, 0]], -1, 0))


def test_nested_train_test_layout(tmp_path):
    for split in ("train", "test"):
        for cls in ("a", "b"):
            write_png(tmp_path / "data" / split / cls / "x.png", np.zeros((10, 10), np.uint8))
    table = list_images(tmp_path / "data", None)
    assert table["split"].tolist() == ["train", "train", "test", "test"]
    assert table["label"].tolist() == ["a", "b", "a", "b"]


def test_simulated_tiffs_get_a_seeded_stratified_split(sim_dir):
    store, manifest = prepare_image_dataset("sim", config(intensity="minmax"), simulated_dir=sim_dir)
    again, _ = prepare_image_dataset("sim", config(intensity="minmax"), simulated_dir=sim_dir)
    other, _ = prepare_image_dataset("sim", config(intensity="minmax", seed=1), simulated_dir=sim_dir)
    for key in store:
        np.testing.assert_array_equal(store[key], again[key])
    assert not np.array_equal(store["split"], other["split"])
    assert store["classes"].tolist() == sorted(CLASSES)
    assert store["images"].shape == (60, 2, 48, 80)
    counts = manifest.groupby("label")["split"].apply(lambda s: (s == "test").sum())
    assert (counts == 2).all()  # 20 % of 10 per class
    assert store["images"].min(axis=(0, 2, 3)).tolist() == [0, 0]
    assert store["images"].max(axis=(0, 2, 3)).tolist() == [255, 255]


def test_uint16_dtype_and_per_image_intensity(sim_dir):
    table = list_images(sim_dir, None)
    path = table["path"].iloc[0]
    raw = tifffile.imread(path)
    store, _ = build_tile_store(table.head(3), [0, 1], (48, 80), "crop", "dtype", 1 / 3, 0)
    assert sorted(store["split"]) == ["test", "train", "train"]
    np.testing.assert_array_equal(store["images"][0], np.rint(raw / 65535 * 255).astype(np.uint8))
    per_image, _ = build_tile_store(table.head(3), [1], (48, 80), "crop", "image", 0.5, 0, threads=1)
    assert per_image["images"].shape == (3, 1, 48, 80)
    assert (per_image["images"].min(axis=(1, 2, 3)) == 0).all()
    assert (per_image["images"].max(axis=(1, 2, 3)) == 255).all()


def test_manifest_with_relative_paths_and_split(lin_pngs, tmp_path):
    _, written = lin_pngs
    rows = [(str(Path(p).relative_to(tmp_path)), lab, s) for p, (_, lab, s) in written.items()]
    manifest = tmp_path / "images.tsv"
    pd.DataFrame(rows, columns=["path", "label", "split"]).to_csv(manifest, sep="\t", index=False)
    table = list_images(None, manifest)
    assert table["path"].tolist() == list(written) and table["split"].tolist() == [r[2] for r in rows]
    store, _ = prepare_image_dataset("m", config(manifest=str(manifest), channels=[1]))
    assert store["images"].shape == (18, 1, 48, 80)
    assert store["split"].tolist() == [r[2] for r in rows]


def test_manifest_without_split_gets_one(lin_pngs, tmp_path):
    _, written = lin_pngs
    manifest = tmp_path / "m.tsv"
    pd.DataFrame({"path": list(written), "label": [v[1] for v in written.values()]}).to_csv(manifest, sep="\t")
    table = list_images(None, manifest)
    assert table["split"].isna().all()
    store, _ = build_tile_store(table, [0], (48, 80), "crop", "dtype", 1 / 3, 0)
    assert (store["split"] == "test").sum() == 6


def test_crop_pad_and_resize_fit_the_size(tmp_path):
    img = np.arange(30 * 100, dtype=np.uint16).reshape(30, 100) * 20 + 1  # up to 59981: uses the uint16 range
    path = tmp_path / "a" / "wide.tif"
    path.parent.mkdir()
    tifffile.imwrite(path, img)
    table = pd.DataFrame({"path": [str(path)], "label": ["a"], "split": ["train"]})
    crop, _ = build_tile_store(table, [0], (48, 80), "crop", "image", 0.2, 0)
    tile = crop["images"][0, 0]
    assert tile.shape == (48, 80)
    assert (tile[:9] == 0).all() and (tile[39:] == 0).all()  # 9 + 30 + 9 rows
    expected = np.rint((img[:, 10:90] - img[:, 10:90].min()) / np.ptp(img[:, 10:90]) * 255)
    np.testing.assert_array_equal(tile[9:39], expected)
    resized, _ = build_tile_store(table, [0], (48, 80), "resize", "dtype", 0.2, 0)
    assert resized["images"].shape == (1, 1, 48, 80)
    flat = tmp_path / "a" / "flat.png"
    write_png(flat, np.full((96, 160), 77, np.uint8))
    table = pd.DataFrame({"path": [str(flat)], "label": ["a"], "split": ["test"]})
    half, _ = build_tile_store(table, [0], (48, 80), "resize", "dtype", 0.2, 0)
    assert (half["images"] == 77).all()


def test_read_image_layouts(tmp_path):
    gray = write_png(tmp_path / "g.png", np.full((5, 7), 3, np.uint8))
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 1, 2, 3
    write_png(tmp_path / "c.png", rgb)
    assert read_image(gray).shape == (1, 5, 7)
    assert read_image(tmp_path / "c.png")[:, 0, 0].tolist() == [1, 2, 3]
    tifffile.imwrite(
        tmp_path / "hwc.tif", np.moveaxis(np.stack([np.full((20, 30), c, np.uint16) for c in (1, 2)]), 0, -1)
    )
    assert read_image(tmp_path / "hwc.tif")[:, 0, 0].tolist() == [1, 2]
    with tifffile.TiffWriter(tmp_path / "pages.TIFF") as tif:
        for c in (5, 6, 7):
            tif.write(np.full((20, 30), c, np.float32), contiguous=False)
    assert read_image(tmp_path / "pages.TIFF")[:, 0, 0].tolist() == [5, 6, 7]
    pages = [Image.fromarray(np.full((20, 30), c, np.uint16)) for c in (8, 9)]
    pages[0].save(tmp_path / "pil.tif", save_all=True, append_images=pages[1:])
    assert read_image(tmp_path / "pil.tif")[:, 0, 0].tolist() == [8, 9]
    tifffile.imwrite(tmp_path / "cube.tif", np.zeros((20, 30, 40), np.uint8))
    with pytest.raises(InputError, match=r"cube.tif' has shape \(20, 30, 40\); expected"):
        read_image(tmp_path / "cube.tif")


# ---------------------------------------------------------------- errors


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(InputError, match=r"image folder '.*nowhere' does not exist"):
        list_images(tmp_path / "nowhere", None)


def test_folder_without_class_subfolders(tmp_path):
    write_png(tmp_path / "flat" / "x.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(InputError, match=r"'.*flat' has no class subfolders"):
        list_images(tmp_path / "flat", None)


def test_empty_class_folder_is_named(tmp_path):
    write_png(tmp_path / "d" / "a" / "x.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "d" / "b").mkdir()
    (tmp_path / "d" / "b" / "notes.txt").write_text("no images")
    with pytest.raises(InputError, match=r"class folder '.*d/b' holds no .png/.tif/.tiff images"):
        list_images(tmp_path / "d", None)


def test_only_one_lin_split_present(tmp_path):
    write_png(tmp_path / "LIN_train" / "a" / "x.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(InputError, match=r"found image folder '.*LIN_train' but not '.*LIN_test'"):
        list_images(tmp_path / "LIN", None)


def test_missing_manifest(tmp_path):
    with pytest.raises(InputError, match=r"manifest '.*none.tsv' does not exist"):
        list_images(None, tmp_path / "none.tsv")


def test_manifest_missing_column_lists_columns(tmp_path):
    (tmp_path / "m.tsv").write_text("path\tclass\nx.png\ta\n")
    with pytest.raises(InputError, match=r"lacks column\(s\) 'label'; it has columns: path, class"):
        list_images(None, tmp_path / "m.tsv")


def test_manifest_path_that_does_not_exist(tmp_path):
    write_png(tmp_path / "x.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "m.tsv").write_text("path\tlabel\nx.png\ta\ngone.png\tb\n")
    with pytest.raises(InputError, match=r"m.tsv' row 2: image 'gone.png' does not exist"):
        list_images(None, tmp_path / "m.tsv")


def test_manifest_bad_split_values(tmp_path):
    write_png(tmp_path / "x.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "m.tsv").write_text("path\tlabel\tsplit\nx.png\ta\ttrain\nx.png\ta\tvalidation\n")
    with pytest.raises(InputError, match=r"'split' must be 'train' or 'test'; found row 2: 'validation'"):
        list_images(None, tmp_path / "m.tsv")


def test_truncated_png_is_named(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (48, 80, 3), np.uint8)
    for i in range(5):
        write_png(tmp_path / "a" / f"ok{i}.png", noise)
    path = write_png(tmp_path / "a" / "cut.png", noise)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(InputError, match=r"cut.png' is not a readable image"):
        read_image(path)
    with pytest.raises(InputError, match=r"dataset images.bad: '.*cut.png' is not a readable image"):
        prepare_image_dataset("bad", config(folder=str(tmp_path), channels=[0], test_fraction=0.5))


def write_classes(root, sizes, arr):
    """``sizes[c]`` copies of ``arr`` as ``root/<c>/xN.png``."""
    return [write_png(root / c / f"x{i}.png", arr) for c, n in sizes.items() for i in range(n)]


def test_bad_file_is_named_before_class_sizes(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (48, 80, 3), np.uint8)
    write_classes(tmp_path / "d", {"a": 5}, noise)
    cut = write_png(tmp_path / "d" / "b" / "cut.png", noise)
    cut.write_bytes(cut.read_bytes()[:300])
    with pytest.raises(InputError, match=r"dataset images.bad: '.*b/cut.png' is not a readable image"):
        prepare_image_dataset("bad", config(folder=str(tmp_path / "d")))
    write_png(tmp_path / "e" / "b" / "gray.png", noise[..., 0])
    write_classes(tmp_path / "e", {"a": 5}, noise)
    with pytest.raises(InputError, match=r"b/gray.png' has 1 channel\(s\); channels \[0, 1\] need at least 2"):
        prepare_image_dataset("gray", config(folder=str(tmp_path / "e")))


def test_class_size_error_names_class_need_and_key(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (48, 80, 3), np.uint8)
    write_classes(tmp_path, {"a": 5, "b": 2}, noise)
    with pytest.raises(
        InputError,
        match=r"dataset images.few: classes with too few images to split "
        r"\(need 5 per class for images.few.test_fraction = 0.2\): 'b' \(2\); add images or give the split",
    ):
        prepare_image_dataset("few", config(folder=str(tmp_path)))
    store, _ = prepare_image_dataset("few", config(folder=str(tmp_path), test_fraction=0.5))
    assert sorted(store["split"][store["labels"] == 1]) == ["test", "train"]


def test_dtype_intensity_rejects_12_bit_data_in_uint16_files(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(10):
        img = rng.integers(0, 4096, (2, 48, 80), dtype=np.uint16)
        (tmp_path / "ab"[i % 2]).mkdir(exist_ok=True)
        tifffile.imwrite(tmp_path / "ab"[i % 2] / f"c{i}.tif", img, photometric="minisblack")
    with pytest.raises(
        InputError,
        match=r"dataset images.cam: config key 'images.cam.intensity' is 'dtype' but the brightest pixel "
        r"\(channels \[0, 1\]\) of all 10 images is 4095 in '.*c\d.tif', only 6.2% of the uint16 range 0..65535 "
        r"\(under 12.5%.*near-black; use 'minmax' .* or 'image'",
    ):
        prepare_image_dataset("cam", config(folder=str(tmp_path), test_fraction=0.4))
    store, _ = prepare_image_dataset("cam", config(folder=str(tmp_path), test_fraction=0.4, intensity="minmax"))
    assert store["images"].max() == 255


def test_dtype_intensity_rejects_float_images(tmp_path):
    (tmp_path / "a").mkdir()
    tifffile.imwrite(tmp_path / "a" / "f.tif", np.ones((48, 80), np.float32))
    with pytest.raises(
        InputError,
        match=r"config key 'images.f.intensity' is 'dtype' but '.*f.tif' has float32 pixels, which have no dtype "
        r"range; use 'minmax' .* or 'image'",
    ):
        prepare_image_dataset("f", config(folder=str(tmp_path), channels=[0]))


def test_corrupt_tiff_is_named(tmp_path):
    (tmp_path / "junk.tif").write_bytes(b"II*\x00" + b"\x00" * 20)
    with pytest.raises(InputError, match=r"junk.tif' is not a readable image"):
        read_image(tmp_path / "junk.tif")


def test_too_few_channels_names_file_and_count(tmp_path):
    path = write_png(tmp_path / "a" / "gray.png", np.zeros((48, 80), np.uint8))
    table = list_images(tmp_path, None).assign(split="train")
    with pytest.raises(InputError, match=r"gray.png' has 1 channel\(s\); channels \[0, 1\] need at least 2"):
        build_tile_store(table, [0, 1], (48, 80), "crop", "dtype", 0.2, 0)
    assert path.is_file()


def test_bad_options_and_unsplittable_classes(sim_dir):
    table = list_images(sim_dir, None)
    with pytest.raises(InputError, match="fit = 'stretch' must be one of crop, resize"):
        build_tile_store(table, [0], (48, 80), "stretch", "dtype", 0.2, 0)
    with pytest.raises(InputError, match="intensity = 'log' must be one of"):
        build_tile_store(table, [0], (48, 80), "crop", "log", 0.2, 0)
    with pytest.raises(InputError, match=r"too few images to split \(need 5 per class for test_fraction = 0.2\): 'Alp"):
        build_tile_store(table.groupby("label").head(1), [0], (48, 80), "crop", "dtype", 0.2, 0)
    with pytest.raises(InputError, match="dataset images.x: set 'folder' or 'manifest'"):
        prepare_image_dataset("x", config())


# ---------------------------------------------------------------- store and figures


def test_ingest_holds_decoded_tiles_once(tmp_path):
    """Every tile goes straight into one preallocated array: the peak allocation stays near one store's size."""
    rng = np.random.default_rng(0)
    written = {}
    for i in range(240):
        rgb = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
        written[str(write_png(tmp_path / "ab"[i % 2] / f"{i:03d}.png", rgb))] = rgb
    table = list_images(tmp_path, None)
    tracemalloc.start()
    try:
        store, _ = build_tile_store(table, [2, 0], [96, 96], "crop", "dtype", 0.25, 0, threads=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    images = store["images"]
    assert peak < 1.5 * images.nbytes  # a list of decoded tiles and their stacked copy would be 2x
    for i, path in enumerate(store["paths"]):
        np.testing.assert_array_equal(images[i], np.moveaxis(written[path][..., [2, 0]], -1, 0))


def test_minmax_tiles_are_mapped_chunk_by_chunk_as_at_once():
    rng = np.random.default_rng(0)
    floats = rng.normal(100, 30, (23, 2, 5, 7)).astype(np.float32)
    floats[3, :, 0] = np.nan  # padding
    lo, hi = np.nanmin(floats, axis=(0, 2, 3), keepdims=True), np.nanmax(floats, axis=(0, 2, 3), keepdims=True)
    np.testing.assert_array_equal(_minmax_to_uint8(floats, chunk=5), to_uint8(floats, lo, hi))


def test_store_round_trip_has_no_objects(sim_dir, tmp_path):
    store, _ = prepare_image_dataset("sim", config(), simulated_dir=sim_dir)
    save_tile_store(store, tmp_path / "tiles.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["tiles.npz"]
    back = load_tile_store(tmp_path / "tiles.npz")
    assert set(back) == {"images", "labels", "classes", "split", "paths", "channels"}
    for key in store:
        np.testing.assert_array_equal(back[key], store[key])
        assert back[key].dtype == store[key].dtype and back[key].dtype != object
    assert back["classes"].dtype.kind == "U" and back["labels"].dtype == np.int64


def test_unit_range():
    x = to_unit_range(np.array([[[[0, 255, 127]]]], dtype=np.uint8))
    assert x.dtype == torch.float32
    assert x.flatten().tolist() == pytest.approx([-1.0, 1.0, 127 / 127.5 - 1])


def test_montage_from_uint8_float_and_one_channel(sim_dir, tmp_path):
    store, _ = prepare_image_dataset("sim", config(intensity="minmax"), simulated_dir=sim_dir)
    args = (store["labels"], store["classes"])
    plot_class_montage(store["images"], *args, tmp_path / "real.png", per_class=4, title="simulated")
    plot_class_montage(to_unit_range(store["images"]), *args, tmp_path / "fake.png")
    plot_class_montage(store["images"][:, :1], *args, tmp_path / "gray.png", per_class=3)
    for name in ("real", "fake", "gray"):
        with Image.open(tmp_path / f"{name}.png") as img:
            assert img.format == "PNG" and min(img.size) > 100
