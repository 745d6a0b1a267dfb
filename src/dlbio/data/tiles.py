"""Image datasets (TIFF/PNG folders or a manifest) → one tile store of fixed-size uint8 tiles.

Inputs, one of:

- a folder in LIN's published layout: siblings ``<folder>_train/<Class>/*`` and ``<folder>_test/<Class>/*``;
- ``<folder>/train/<Class>/*`` and ``<folder>/test/<Class>/*``;
- ``<folder>/<Class>/*`` (no split given: a seeded stratified split is drawn);
- a manifest TSV with columns ``path``, ``label`` and optionally ``split`` (train/test);
  relative paths are relative to the manifest's folder.

Image files are .png, .tif or .tiff (any case). Every image is read as ``(C, H, W)``, the
configured channels are kept in the configured order, fitted to ``size`` (centre crop / zero
pad, or bilinear resize) and mapped to uint8 per channel (``dtype``: by the dtype's range, for integer
pixels that use at least ``MIN_DTYPE_RANGE_USED`` of it, ``minmax``: by the dataset's min/max, ``image``:
by each image's min/max).

Tile store (``.npz``, no pickled objects; read with :func:`load_tile_store`):

- ``images``  uint8 ``(N, C, H, W)``, 0..255 per channel;
- ``labels``  int64 ``(N,)``, codes into ``classes``;
- ``classes`` unicode ``(K,)``, sorted class names;
- ``split``   unicode ``(N,)``, ``"train"`` or ``"test"``;
- ``paths``   unicode ``(N,)``, the source image of every tile;
- ``channels`` int64 ``(C,)``, the input channel each stored channel came from.

Stored tiles are uint8; models see them per channel in [-1, 1] through
:func:`dlbio.data.tile_batches.to_unit_range` (``x / 127.5 - 1``), the range of a tanh generator.
:func:`training_tiles` selects a split and classes of a store; :class:`dlbio.data.tile_batches.TileSampler`
draws randomly flipped batches of them.
"""

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from PIL import Image
from tqdm import tqdm

from dlbio.errors import InputError, too_few
from dlbio.figures import plt
from dlbio.io import atomic_write

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
TIFF_SUFFIXES = (".tif", ".tiff")
SPLITS = ("train", "test")
FITS = ("crop", "resize")
INTENSITIES = ("dtype", "minmax", "image")
MAX_CHANNELS = 8
READ_BLOCK = 4096  # images handed to the reading threads at a time
# ``intensity: dtype`` needs the brightest kept pixel of the dataset to reach this share of its pixel type's
# maximum (8192 of 65535, 32 of 255); 12-bit camera data in uint16 files (at most 4095) would give tiles of
# at most 16/255, near-black. Over all channels, as one channel may be empty (LIN's blue).
MIN_DTYPE_RANGE_USED = 1 / 8
log = logging.getLogger(__name__)


# ---------------------------------------------------------------- listing


def _class_images(split_dir, split):
    """Rows (path, label, split) for every image in the class subfolders of ``split_dir``."""
    classes = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InputError(
            f"image folder '{split_dir}' has no class subfolders; expected '{split_dir}/<class>/' holding "
            f"{'/'.join(IMAGE_SUFFIXES)} images"
        )
    rows = []
    for folder in classes:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"class folder '{folder}' holds no {'/'.join(IMAGE_SUFFIXES)} images")
        rows += [(str(f), folder.name, split) for f in files]
    return rows


def _list_folder(folder):
    root = Path(str(folder).rstrip("/\\"))
    lin = {s: Path(f"{root}_{s}") for s in SPLITS}  # LIN: <root>_train/, <root>_test/
    nested = {s: root / s for s in SPLITS}  # <root>/train/, <root>/test/
    for layout in (lin, nested):
        present = [s for s, p in layout.items() if p.is_dir()]
        if len(present) == 2:
            return sum((_class_images(p, s) for s, p in layout.items()), [])
        if present:
            found, missing = layout[present[0]], layout[SPLITS[1 - SPLITS.index(present[0])]]
            raise InputError(f"found image folder '{found}' but not '{missing}'; give both splits or neither")
    if not root.is_dir():
        raise InputError(
            f"image folder '{root}' does not exist (nor '{lin['train']}' and '{lin['test']}' in LIN's layout)"
        )
    return _class_images(root, None)


def _list_manifest(manifest):
    manifest = Path(manifest)
    if not manifest.is_file():
        raise InputError(f"manifest '{manifest}' does not exist")
    try:
        table = pd.read_csv(manifest, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"manifest '{manifest}' is not a readable TSV file: {err}") from None
    missing = [c for c in ("path", "label") if c not in table.columns]
    if missing:
        raise InputError(
            f"manifest '{manifest}' lacks column(s) {', '.join(map(repr, missing))}; "
            f"it has columns: {', '.join(map(str, table.columns))}"
        )
    if table.empty:
        raise InputError(f"manifest '{manifest}' lists no images")
    paths = [p if Path(p).is_absolute() else str(manifest.parent / p) for p in table["path"]]
    for row, (given, path) in enumerate(zip(table["path"], paths), start=1):
        if not given or not Path(path).is_file():
            raise InputError(f"manifest '{manifest}' row {row}: image '{given}' does not exist (looked for '{path}')")
    unlabelled = np.flatnonzero(table["label"].str.strip() == "") + 1
    if len(unlabelled):
        raise InputError(f"manifest '{manifest}': rows {list(unlabelled[:10])} have no label")
    split = None
    if "split" in table.columns and (table["split"] != "").any():
        bad = ~table["split"].isin(SPLITS)
        if bad.any():
            shown = ", ".join(f"row {i + 1}: '{v}'" for i, v in table["split"][bad].head(5).items())
            raise InputError(f"manifest '{manifest}': column 'split' must be 'train' or 'test'; found {shown}")
        split = table["split"].to_list()
    return pd.DataFrame({"path": paths, "label": table["label"], "split": split})


def list_images(folder, manifest):
    """Table of images ``(path, label, split)`` from a folder or a manifest; ``split`` is None when not given."""
    if (folder is None) == (manifest is None):
        raise InputError("give exactly one of an image folder or a manifest")
    if manifest is not None:
        return _list_manifest(manifest)
    return pd.DataFrame(_list_folder(folder), columns=["path", "label", "split"])


# ---------------------------------------------------------------- reading one image


def _channels_first(arr, path, samples_last=False):
    """``(C, H, W)`` from (H, W), (C, H, W) / pages, or (H, W, C) (``samples_last``: known to be so)."""
    arr = np.asarray(arr)
    if arr.size == 0:
        raise InputError(f"'{path}' is not a readable image: it holds no pixels")
    if arr.ndim > 3:
        arr = arr.squeeze()
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim == 3 and samples_last:
        return np.moveaxis(arr, -1, 0)
    if arr.ndim == 3 and arr.shape[0] <= MAX_CHANNELS:
        return arr
    if arr.ndim == 3 and arr.shape[-1] <= MAX_CHANNELS:
        return np.moveaxis(arr, -1, 0)
    raise InputError(
        f"'{path}' has shape {arr.shape}; expected (H, W), (C, H, W) or (H, W, C) with at most {MAX_CHANNELS} channels"
    )


def read_image(path):
    """One image as ``(C, H, W)`` in its own dtype: PNG/JPEG with Pillow, TIFF with tifffile."""
    try:
        if Path(path).suffix.lower() in TIFF_SUFFIXES:
            with tifffile.TiffFile(path) as tif:
                first = tif.series[0]
                arr, samples_last = first.asarray(), first.axes.endswith("S")
                same = [s for s in tif.series if s.shape == first.shape and s.dtype == first.dtype]
                if arr.ndim == 2 and len(tif.series) > 1 and len(same) == len(tif.series):
                    arr = np.stack([s.asarray() for s in tif.series])  # one 2-D image per page
        else:
            with Image.open(path) as img:
                img.load()
                if img.mode in ("1", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
                    img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
                arr, samples_last = np.asarray(img), True
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - decoders raise many types for a bad file
        raise InputError(f"'{path}' is not a readable image: {type(err).__name__}: {err}") from None
    if arr.dtype.kind not in "biuf":
        raise InputError(f"'{path}' has unsupported pixel type {arr.dtype}")
    return _channels_first(arr, path, samples_last)


# ---------------------------------------------------------------- fitting and intensity


def _crop_or_pad(x, size, fill):
    """Centre crop and/or pad ``(C, h, w)`` to ``(C, H, W)`` with ``fill``."""
    out = np.full((x.shape[0], *size), fill, dtype=x.dtype)
    n = [min(have, want) for have, want in zip(x.shape[1:], size)]
    src = [slice((have - k) // 2, (have - k) // 2 + k) for have, k in zip(x.shape[1:], n)]
    dst = [slice((want - k) // 2, (want - k) // 2 + k) for want, k in zip(size, n)]
    out[(slice(None), *dst)] = x[(slice(None), *src)]
    return out


def _resize(x, size):
    """Bilinear resize of every channel of float32 ``(C, h, w)`` to ``size`` (antialiased when shrinking)."""
    if x.shape[1:] == tuple(size):
        return x
    h, w = size
    return np.stack([np.asarray(Image.fromarray(ch).resize((w, h), Image.Resampling.BILINEAR)) for ch in x])


def _dtype_scale(dtype):
    """Value that maps to 255 under ``intensity: dtype`` (integer or bool pixels)."""
    return 1.0 if dtype == np.bool_ else float(np.iinfo(dtype).max)


def to_uint8(x, lo, hi):
    """Map ``x`` linearly from [lo, hi] (per channel, broadcastable) to 0..255; NaN (padding) → 0."""
    span = np.where(hi > lo, hi - lo, 1.0)
    y = np.clip((x - lo) / span, 0, 1) * 255
    return np.nan_to_num(np.rint(y), nan=0.0).astype(np.uint8)


def load_fitted(path, channels, size, fit, intensity, key):
    """Read, select channels, fit: ``(tile, peak)``.

    The tile is uint8 for ``dtype``/``image``, float32 with NaN padding for ``minmax``; ``peak`` is
    the brightest kept pixel as a share of the pixel type's maximum (``dtype`` only, else None).
    """
    arr = read_image(path)
    if max(channels) >= arr.shape[0]:
        raise InputError(
            f"'{path}' has {arr.shape[0]} channel(s); channels {list(channels)} need at least {max(channels) + 1}"
        )
    kept, dtype, peak = arr[list(channels)], arr.dtype, None
    if intensity == "dtype":
        if dtype.kind == "f":
            raise InputError(
                f"config key '{key}' is 'dtype' but '{path}' has {dtype} pixels, which have no dtype range; "
                "use 'minmax' (the dataset's range) or 'image' (each image's range)"
            )
        peak = float(kept.max()) / _dtype_scale(dtype)
        if dtype == np.uint8 and fit == "crop":
            return _crop_or_pad(kept, size, 0), peak  # exact: no float round trip
    x = kept.astype(np.float32)
    x = _resize(x, size) if fit == "resize" else _crop_or_pad(x, size, np.nan)
    if intensity == "minmax":
        return x, peak
    if intensity == "dtype":
        lo, hi = 0.0, _dtype_scale(dtype)
    else:
        lo = np.nanmin(x, axis=(1, 2), keepdims=True)
        hi = np.nanmax(x, axis=(1, 2), keepdims=True)
    return to_uint8(x, lo, hi), peak


def _check_dtype_range(peaks, paths, channels, key):
    """Fail if no image uses ``MIN_DTYPE_RANGE_USED`` of its pixel type's range (``intensity: dtype``)."""
    best = int(np.argmax(peaks))
    if peaks[best] < MIN_DTYPE_RANGE_USED:
        arr = read_image(paths[best])[list(channels)]
        raise InputError(
            f"config key '{key}' is 'dtype' but the brightest pixel (channels {list(channels)}) of all {len(paths)} "
            f"images is {arr.max()} in '{paths[best]}', only {peaks[best]:.1%} of the {arr.dtype} range "
            f"0..{_dtype_scale(arr.dtype):g} (under {MIN_DTYPE_RANGE_USED:.1%}; e.g. 12-bit camera data): tiles would "
            "be near-black; use 'minmax' (the dataset's range) or 'image' (each image's range)"
        )


def _minmax_to_uint8(images, chunk=1024):
    """float32 tiles ``(N, C, H, W)`` (NaN: padding) → uint8 by the per-channel min/max over all of them, ``chunk``
    tiles at a time (no full-size float temporaries)."""
    lo = np.nanmin(images, axis=(0, 2, 3), keepdims=True)
    hi = np.nanmax(images, axis=(0, 2, 3), keepdims=True)
    log.info("minmax intensity per channel: low %s, high %s", lo.ravel().tolist(), hi.ravel().tolist())
    out = np.empty(images.shape, np.uint8)
    for start in range(0, len(images), chunk):
        out[start : start + chunk] = to_uint8(images[start : start + chunk], lo, hi)
    return out


def reading_threads():
    """Threads that read images: every core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def min_images_per_class(test_fraction):
    """Fewest images a class needs so that a stratified split gives it at least one in train and in test."""
    return max(2, math.ceil(1 / test_fraction), math.ceil(1 / (1 - test_fraction)))


def _split(labels, split, test_fraction, seed, key="test_fraction"):
    """The given split, or a seeded stratified train/test split (``key``: the config key of ``test_fraction``)."""
    given = None if split is None else pd.Series(split, dtype=object)
    if given is not None and given.notna().any():
        if given.isna().any():
            raise InputError(f"{int(given.isna().sum())} of {len(given)} images have no split; give all or none")
        bad = sorted(set(given) - set(SPLITS))
        if bad:
            raise InputError(f"split values must be 'train' or 'test'; found {bad}")
        return np.asarray(given, dtype=str)
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction = {test_fraction} must be between 0 and 1 (exclusive)")
    counts = pd.Series(labels).value_counts().sort_index()
    need = min_images_per_class(test_fraction)
    listed = too_few(counts, need)
    if listed:
        raise InputError(
            f"classes with too few images to split (need {need} per class for {key} = {test_fraction}): {listed}; "
            "add images or give the split (train/test folders or a manifest column 'split')"
        )
    from sklearn.model_selection import train_test_split  # local: scikit-learn costs ~2 s to import

    _, test_idx = train_test_split(np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=seed)
    out = np.full(len(labels), "train", dtype="<U5")
    out[test_idx] = "test"
    return out


def build_tile_store(table, channels, size, fit, intensity, test_fraction, seed, threads=None, key_prefix=""):
    """Read every image in ``table`` (path, label, optional split) into a tile store.

    Returns ``(store, manifest)``: the dict of arrays described in the module docstring and a
    table ``(index, path, label, split)`` with one row per tile. Images are read by ``threads``
    threads (default: every core this process may use) straight into one preallocated array (decoded
    tiles are held once), before the split is drawn, so that a bad file is named first. ``key_prefix``
    (e.g. ``images.lin.``) starts the config keys in errors.
    """
    channels = [int(c) for c in channels]
    size = tuple(int(s) for s in size)
    if not channels or min(channels) < 0:
        raise InputError(f"channels = {channels} must be a non-empty list of channel indices (0-based)")
    if len(size) != 2 or min(size) < 1:
        raise InputError(f"size = {list(size)} must be [height, width] in pixels")
    if fit not in FITS:
        raise InputError(f"fit = '{fit}' must be one of {', '.join(FITS)}")
    if intensity not in INTENSITIES:
        raise InputError(f"intensity = '{intensity}' must be one of {', '.join(INTENSITIES)}")
    if len(table) == 0:
        raise InputError("no images to read")
    paths = [str(p) for p in table["path"]]
    labels = np.asarray(table["label"], dtype=str)
    # every tile goes straight into its row of one preallocated array (float32 until the dataset's range is known)
    images = np.empty((len(paths), len(channels), *size), np.float32 if intensity == "minmax" else np.uint8)

    def load(i):
        images[i], peak = load_fitted(paths[i], channels, size, fit, intensity, f"{key_prefix}intensity")
        return peak

    peaks, bar = [], tqdm(total=len(paths), desc="read images", unit="img", mininterval=5)
    with ThreadPoolExecutor(max_workers=threads or reading_threads()) as pool, bar:
        for block in range(0, len(paths), READ_BLOCK):  # a block at a time: a pending future costs ~2 kB
            peaks += pool.map(load, range(block, min(block + READ_BLOCK, len(paths))))
            bar.update(min(READ_BLOCK, len(paths) - block))
    if intensity == "dtype":
        _check_dtype_range(peaks, paths, channels, f"{key_prefix}intensity")
    given = table["split"] if "split" in table else None
    split = _split(labels, given, test_fraction, seed, f"{key_prefix}test_fraction")
    if intensity == "minmax":
        images = _minmax_to_uint8(images)
    classes = np.unique(labels)
    store = {
        "images": images,
        "labels": np.searchsorted(classes, labels).astype(np.int64),
        "classes": classes,
        "split": split,
        "paths": np.asarray(paths, dtype=str),
        "channels": np.asarray(channels, dtype=np.int64),
    }
    manifest = pd.DataFrame({"index": np.arange(len(paths)), "path": paths, "label": labels, "split": split})
    log.info("tile store: %d tiles %s, classes %s", len(paths), images.shape[1:], classes.tolist())
    return store, manifest


# ---------------------------------------------------------------- store files


def save_tile_store(store, path):
    """Write the store as an uncompressed ``.npz`` (plain arrays only), via a temporary file."""
    arrays = {k: np.asarray(v) for k, v in store.items()}
    objects = [k for k, v in arrays.items() if v.dtype == object]
    if objects:
        raise ValueError(f"tile store arrays {objects} hold Python objects; store strings as unicode arrays")
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_tile_store(path):
    """Read a store written by :func:`save_tile_store` as a dict of arrays (never unpickles)."""
    if not Path(path).is_file():
        raise InputError(f"tile store '{path}' does not exist")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


# ---------------------------------------------------------------- training tiles


def training_tiles(store, classes=None, split="train"):
    """Tiles of ``split`` (the training split by default) and ``classes`` (all when None), labels recoded to 0..K-1."""
    names = list(store["classes"]) if classes is None else list(classes)
    unknown = sorted(set(names) - set(store["classes"]))
    if unknown:
        raise InputError(f"classes {unknown} are not in the tile store; it has {list(store['classes'])}")
    codes = np.searchsorted(store["classes"], names)
    keep = (store["split"] == split) & np.isin(store["labels"], codes)
    recode = np.zeros(len(store["classes"]), dtype=np.int64)
    recode[codes] = np.arange(len(codes))  # store code → position in ``names`` (any order)
    return store["images"][keep], recode[store["labels"][keep]], np.array(names)


# ---------------------------------------------------------------- figures


def _unit(images):
    """Tiles as float in [0, 1]: uint8 / 255, anything else taken as [-1, 1]."""
    if hasattr(images, "detach"):  # a tensor
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255
    return np.clip((images.astype(np.float32) + 1) / 2, 0, 1)


def _composite(tile):
    """``(C, H, W)`` in [0, 1] → RGB: 1 channel grey; else ch0 red, ch1 green, ch2 (if any) blue."""
    if tile.shape[0] == 1:
        return np.repeat(tile[0][..., None], 3, axis=-1)
    rgb = np.zeros((*tile.shape[1:], 3), dtype=np.float32)
    rgb[..., : min(3, tile.shape[0])] = np.moveaxis(tile[:3], 0, -1)
    return rgb


def plot_class_montage(images, labels, classes, path, per_class=8, title=None, gap=2):
    """One row per class of its first ``per_class`` tiles as colour composites, class names on the left.

    ``images`` are uint8 tiles or floats in [-1, 1] ``(N, C, H, W)`` (NumPy arrays or tensors);
    ``labels`` are codes into ``classes``.
    """
    labels = np.asarray(labels)
    _, _, h, w = images.shape
    rows = len(classes)
    canvas = np.ones((rows * (h + gap) - gap, per_class * (w + gap) - gap, 3), dtype=np.float32)
    for k in range(rows):
        for j, i in enumerate(np.flatnonzero(labels == k)[:per_class]):
            y, x = k * (h + gap), j * (w + gap)
            canvas[y : y + h, x : x + w] = _composite(_unit(images[i]))  # one tile at a time: no float copy of all
    scale = max(1.0, 240 / max(h, w)) / 100  # about 2.4 inches per tile side at most
    fig, ax = plt.subplots(figsize=(canvas.shape[1] * scale + 1.5, canvas.shape[0] * scale + 0.6))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_yticks([k * (h + gap) + h / 2 for k in range(rows)], [str(c) for c in classes])
    ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------- config entry


def prepare_image_dataset(name, cfg, simulated_dir=None):
    """Config entry ``images.<name>`` → (store, manifest); without folder/manifest read ``simulated_dir``."""
    try:
        folder, manifest = cfg["folder"], cfg["manifest"]
        if folder is None and manifest is None:
            if simulated_dir is None:
                raise InputError("set 'folder' or 'manifest' (no simulated images were given)")
            folder = simulated_dir
        table = list_images(folder, manifest)
        args = cfg["channels"], cfg["size"], cfg["fit"], cfg["intensity"], cfg["test_fraction"], cfg["seed"]
        return build_tile_store(table, *args, key_prefix=f"images.{name}.")
    except InputError as err:
        raise InputError(f"dataset images.{name}: {err}") from None
