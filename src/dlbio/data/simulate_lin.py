"""Simulated LIN-like fission-yeast tiles: the default image data, so the workflow runs with no download.

LIN (Dodgson et al. 2016, used by BioGANs) holds 2-channel tiles of single *S. pombe* cells:
red = Bgs4 (cell-wall synthase at growing tips and at the septum), green = one of six polarity
factors. The real images are not reachable offline, so this module draws cells from a small
model of the cell cycle:

- a rod (capsule), roughly horizontal, whose length grows from ~45 % to ~90 % of the tile
  width with the cycle ``stage`` in [0, 1); growth stops at mitosis;
- before ``NETO`` only the old tip grows (red at one tip), then both tips grow;
- from ``SEPTUM`` on a septum closes centripetally in the middle and Bgs4 moves there;
- the green channel follows the class: Alp14 (microtubule plus-end comets, spindle),
  Arp3 (actin patches at growing tips / septum), Cki2 (diffuse cytoplasm, nucleus dimmer),
  Mkh1 (broad crescents at both tips + septum), Sid2 (spindle-pole-body dots + septal ring),
  Tea1 (puncta at the tip apex: old tip only before NETO).

Optics and camera: Gaussian PSF blur, Poisson photon noise, camera offset, gain and read
noise, saved as 2-channel uint16 TIFF ``(2, H, W)`` (channel 0 = red Bgs4, channel 1 = green).
Red and geometry are drawn identically for every class; only green carries the class.
"""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import tifffile
from scipy.ndimage import gaussian_filter

CLASSES = ("Alp14", "Arp3", "Cki2", "Mkh1", "Sid2", "Tea1")
NETO = 0.35  # new-end take-off: the second tip starts growing
MITOSIS = 0.7  # spindle forms, growth stops soon after
SEPTUM = 0.85  # a septum closes in the middle until division
PHOTONS = 60  # expected photons at unit intensity
OFFSET, GAIN, READ_NOISE = 100, 600, 150  # camera: ADU offset, ADU per photon, ADU read noise
BACKGROUND = 0.03


def _latent(rng, size):
    """Cell-cycle stage, shape and pose of one cell (the same distribution for every class)."""
    h, w = size
    stage = rng.uniform(0, 1)
    length = w * (0.45 + 0.45 * min(stage / SEPTUM, 1)) * rng.uniform(0.96, 1.04)
    return {
        "stage": stage,
        "phase": "monopolar" if stage < NETO else "bipolar" if stage < SEPTUM else "septated",
        "length": min(length, 0.92 * w),
        "width": 0.34 * h * rng.uniform(0.92, 1.08),
        "angle": rng.uniform(-7, 7),
        "dy": rng.uniform(-2, 2),
        "dx": rng.uniform(-2, 2),
        "old_end": int(rng.choice([-1, 1])),
        "red_gain": rng.uniform(0.75, 1.25),
        "green_gain": rng.uniform(0.75, 1.25),
    }


def _geometry(lat, size):
    """Pixel grids in cell coordinates (u along the long axis, v across) and capsule masks."""
    h, w = size
    y = np.arange(h)[:, None] - (h - 1) / 2 - lat["dy"]
    x = np.arange(w)[None, :] - (w - 1) / 2 - lat["dx"]
    t = np.deg2rad(lat["angle"])
    u, v = x * np.cos(t) + y * np.sin(t), -x * np.sin(t) + y * np.cos(t)
    r, half = lat["width"] / 2, lat["length"] / 2
    a = half - r  # half-length of the capsule's straight part
    d = np.hypot(np.maximum(np.abs(u) - a, 0), v)  # distance to the cell's axis segment
    return SimpleNamespace(
        u=u, v=v, r=r, a=a, half=half, stage=lat["stage"], old=lat["old_end"],
        inside=np.clip(r - d + 0.5, 0, 1),
        cortex=np.exp(-0.5 * ((d - r + 1.0) / 0.9) ** 2),
    )  # fmt: skip


def _growing(c):
    """Tips that grow at this stage with their strength: the old one, then both (NETO)."""
    if c.stage < NETO:
        return {c.old: 1.0}
    new = min(1.0, 0.5 + (c.stage - NETO) / 0.2)
    fade = 1.0 if c.stage < SEPTUM else 0.25
    return {c.old: fade, -c.old: new * fade}


def _progress(c):
    """How far the septum has closed (0 before SEPTUM, up to 1 at division)."""
    return max(0.0, (c.stage - SEPTUM) / (1 - SEPTUM))


def _tip(c, side, reach):
    """Cortical crescent at tip ``side`` (±1) spreading ``reach`` × radius along the membrane."""
    return c.cortex * np.exp(-0.5 * (np.maximum(c.half - side * c.u, 0) / (reach * c.r)) ** 2)


def _septum(c, width=0.9):
    """Septum closing centripetally from the membrane: a ring at first, then a disk (a line in 2D)."""
    p = _progress(c)
    if p == 0:
        return np.zeros_like(c.u)
    closed = 1 / (1 + np.exp(-(np.abs(c.v) - c.r * (0.8 - 0.8 * p)) / 0.8))
    return c.inside * np.exp(-0.5 * (c.u / width) ** 2) * closed * (0.5 + 0.5 * p)


def _spots(c, pu, pv, sigma=1.0, amp=1.0):
    """Gaussian spots at cell coordinates (pu, pv)."""
    pu, pv, amp = np.broadcast_arrays(np.asarray(pu, float), np.asarray(pv, float), amp)
    if pu.size == 0:
        return np.zeros_like(c.u)
    du = c.u[None] - pu[:, None, None]
    dv = c.v[None] - pv[:, None, None]
    return np.einsum("k,khw->hw", amp, np.exp(-0.5 * (du**2 + dv**2) / sigma**2))


def _cortical_points(c, rng, side, n, spread):
    """``n`` points on the membrane near tip ``side``, spread by angle (radians) around the apex."""
    phi = rng.normal(0, spread, n)
    rr = c.r - rng.uniform(1.0, 2.2, n)
    along = np.maximum(np.abs(phi) - np.pi / 2, 0) * c.r  # beyond the cap: slide along the side
    phi = np.clip(phi, -np.pi / 2, np.pi / 2)
    return side * (c.a + rr * np.cos(phi) - along), rr * np.sin(phi)


def bgs4(c, rng):
    """Red: Bgs4 at the growing tips, then at the closing septum; faint membrane/cytoplasm."""
    red = 0.1 * c.inside + 0.08 * c.cortex
    for side, strength in _growing(c).items():
        red += strength * _tip(c, side, 0.55)
    return red + 1.4 * _septum(c)


def alp14(c, rng):
    """Microtubule plus-end comets on interphase bundles; a spindle with pole dots in mitosis."""
    g = 0.12 * c.inside
    if c.stage < MITOSIS or c.stage >= SEPTUM:
        n = rng.integers(3, 5)
        lo = c.a + 0.6 * c.r
        starts, ends = -rng.uniform(0.1, 1, n) * lo, rng.uniform(0.1, 1, n) * lo
        if c.stage >= SEPTUM:  # post-anaphase array: bundles start at the septum
            sides = rng.choice([-1, 1], n)
            starts, ends = np.where(sides > 0, 1.0, -lo), np.where(sides > 0, lo, -1.0)
        lanes = rng.uniform(-0.45, 0.45, n) * c.r
        for s, e, lane in zip(starts, ends, lanes):
            g += 0.22 * np.exp(-0.5 * ((c.v - lane) / 0.8) ** 2) * ((c.u > s) & (c.u < e)) * c.inside
        g += _spots(c, np.r_[starts, ends], np.r_[lanes, lanes], 1.1, 1.0)
    else:
        half = 2 + (c.stage - MITOSIS) / (SEPTUM - MITOSIS) * 0.75 * c.a
        g += 0.6 * np.exp(-0.5 * (c.v / 0.9) ** 2) * (np.abs(c.u) < half) * c.inside
        g += _spots(c, [-half, half], [0, 0], 1.2, 1.1)
    return g


def arp3(c, rng):
    """Actin patches: many cortical dots at the growing tips, then at the septum."""
    points = [_cortical_points(c, rng, side, rng.poisson(10 * s), 0.9) for side, s in _growing(c).items()]
    p = _progress(c)
    if p > 0:
        n = rng.poisson(6 + 8 * p)
        points.append((rng.normal(0, 1.2, n), rng.uniform(-1, 1, n) * (c.r - 1.5)))
    pu, pv = (np.concatenate(axis) for axis in zip(*points))
    return 0.08 * c.inside + _spots(c, pu, pv, 0.9, rng.uniform(0.5, 1.0, pu.size))


def cki2(c, rng):
    """Diffuse cytoplasm with a mottled texture and a dimmer nucleus."""
    texture = gaussian_filter(rng.normal(0, 1, c.u.shape), 2.5)
    texture /= texture.std() + 1e-9
    nucleus = np.exp(-0.5 * ((c.u / (0.5 * c.r)) ** 2 + (c.v / (0.5 * c.r)) ** 2))
    if c.stage >= MITOSIS:  # two daughter nuclei
        sep = 0.55 * c.a
        nucleus = sum(np.exp(-0.5 * (((c.u - s) / (0.45 * c.r)) ** 2 + (c.v / (0.45 * c.r)) ** 2)) for s in (-sep, sep))
    return 0.55 * c.inside * (1 + 0.2 * texture) * (1 - 0.4 * nucleus)


def mkh1(c, rng):
    """Broad cortical crescents at both tips at every stage, the septum late; some cytoplasm."""
    g = 0.2 * c.inside + 0.7 * (_tip(c, -1, 0.9) + _tip(c, 1, 0.9))
    return g + 1.2 * _septum(c, 1.1)


def sid2(c, rng):
    """Spindle-pole-body dot(s): one near the nucleus, two separating in mitosis; the septal ring late."""
    g = 0.1 * c.inside
    if c.stage < MITOSIS:
        pu, pv = rng.normal(0, 0.15 * c.a), rng.normal(0, 0.2 * c.r)
        return g + _spots(c, [pu], [pv], 1.1, 1.2)
    sep = min(1.0, (c.stage - MITOSIS) / (SEPTUM - MITOSIS)) * 0.8 * c.a + 1.5
    pv = rng.normal(0, 0.2 * c.r, 2)
    ring = _septum(c, 0.8) * (1 + 1.5 * c.cortex)
    return g + _spots(c, [-sep, sep], pv, 1.1, 1.2) + ring


def tea1(c, rng):
    """Puncta clustered at the tip apex (old tip only before NETO, both after); a few cytoplasmic dots."""
    tips = (c.old,) if c.stage < NETO else (-1, 1)
    apex = [_cortical_points(c, rng, side, 2 + rng.poisson(2), 0.35) for side in tips]
    n = rng.poisson(2)  # dots travelling on microtubules
    points = [*apex, (rng.uniform(-c.a, c.a, n), rng.uniform(-0.4, 0.4, n) * c.r)]
    pu, pv = (np.concatenate(axis) for axis in zip(*points))
    amps = np.r_[np.full(pu.size - n, 0.8), np.full(n, 0.3)]
    crescents = sum(_tip(c, side, 0.3) for side in tips)
    return 0.07 * c.inside + _spots(c, pu, pv, 1.0, amps) + 0.25 * crescents


GREEN = {"Alp14": alp14, "Arp3": arp3, "Cki2": cki2, "Mkh1": mkh1, "Sid2": sid2, "Tea1": tea1}


def render_cell(cls, lat, rng, size):
    """One cell as uint16 ``(2, H, W)``: Bgs4 red, ``cls`` green, blurred, with camera noise."""
    c = _geometry(lat, size)
    signal = np.stack([lat["red_gain"] * bgs4(c, rng), lat["green_gain"] * GREEN[cls](c, rng)])
    signal = gaussian_filter(signal, sigma=(0, 1.0, 1.0)) + BACKGROUND
    photons = rng.poisson(signal * PHOTONS)
    adu = OFFSET + GAIN * photons + rng.normal(0, READ_NOISE, signal.shape)
    return np.clip(np.rint(adu), 0, 65535).astype(np.uint16)


def simulate_lin(out_dir, n_per_class, size, seed):
    """Write ``n_per_class`` cells per class as ``out_dir/<Class>/cellNNNNNN.tif`` plus ``latent.tsv``.

    Each cell has its own generator seeded by ``(seed, class index, cell index)``, so a seed
    always gives identical files. Returns the latent table (one row per file, path relative
    to ``out_dir``).
    """
    out_dir = Path(out_dir)
    size = tuple(int(s) for s in size)
    rows = []
    for k, cls in enumerate(CLASSES):
        (out_dir / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            rng = np.random.default_rng([seed, k, i])
            lat = _latent(rng, size)
            rel = f"{cls}/cell{i:06d}.tif"
            tifffile.imwrite(out_dir / rel, render_cell(cls, lat, rng, size), photometric="minisblack")
            rows.append({"path": rel, "class": cls, **lat})
    table = pd.DataFrame(rows)
    table.to_csv(out_dir / "latent.tsv", sep="\t", index=False, float_format="%.4f")
    return table
