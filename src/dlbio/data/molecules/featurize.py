"""Graph tensors of molecules: one-hot atom and bond features, the compact tensor store, PyG ``Data`` lists.

Atom features (``ATOM_FEATURES`` = 50 columns of ``x``, one-hot blocks with an "other" slot):

=================  ====  ====================================================================
block              size  values
=================  ====  ====================================================================
element              14  H, C, N, O, F, P, S, Cl, Br, I, B, Si, Se, other
degree                7  0, 1, 2, 3, 4, 5, other (heavy-atom neighbours, ``GetDegree``)
formal charge         6  -2, -1, 0, +1, +2, other
hybridisation         6  SP, SP2, SP3, SP3D, SP3D2, other
aromatic              1  ``GetIsAromatic``
total H               5  0, 1, 2, 3, 4 or more (``GetTotalNumHs``)
chirality tag         4  unspecified, CW, CCW, other
in ring               1  ``IsInRing``
ring size             6  member of a ring of size 3, 4, 5, 6, 7, 8 (``IsInRingSize``; several can be 1)
=================  ====  ====================================================================

Bond features (``BOND_FEATURES`` = 12 columns of ``edge_attr``):

=================  ====  ====================================================================
bond type             4  single, double, triple, aromatic (other types, e.g. dative: all 0)
conjugated            1  ``GetIsConjugated``
in ring               1  ``IsInRing``
stereo                6  none, any, Z, E, cis, trans (other kinds, e.g. atropisomers, count as none)
=================  ====  ====================================================================

The blocks lie side by side in this order; ``ATOM_LAYOUT`` and ``BOND_LAYOUT`` derive every
offset from the choice lists (``span``: a block's columns, ``column``: one choice's column).

Tensor store written for a dataset (:func:`featurize_many`, ``prepare_molecule_dataset``),
M molecules, N atoms and E directed edges in total:

- ``x`` float32 (N, ATOM_FEATURES), atoms of molecule i in rows ``atom_ptr[i]:atom_ptr[i+1]``
- ``edge_index`` int64 (2, E): every bond in both directions, GLOBAL atom indices (rows of
  ``x``), so the store is one disconnected graph like a PyG ``Batch``; edges of molecule i are
  columns ``edge_ptr[i]:edge_ptr[i+1]``; subtract ``atom_ptr[i]`` for local indices
- ``edge_attr`` float32 (E, BOND_FEATURES)
- ``atom_ptr``, ``edge_ptr`` int64 (M+1)
- ``y`` float32 (M, T) targets, NaN = missing label (from ``prepare_molecule_dataset``)
"""

import math
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import BondStereo, BondType, ChiralType, HybridizationType
from torch_geometric.data import Data

from dlbio.data.molecules.standardize import parse_smiles
from dlbio.errors import InputError

FEATURIZATION_VERSION = 1  # of the atom/bond columns below; saved models record it; change it with any column
POOL_MIN = 2000  # fewer molecules than this are featurised in-process (pool start-up costs more)
RING_SIZES = (3, 4, 5, 6, 7, 8)


@dataclass(frozen=True)
class OneHot:
    """A block of columns, one per choice, plus a last "other" column for unlisted values if ``other``.

    ``value`` maps an RDKit atom or bond to a choice (``multi``: to a list of choices, each set).
    An unlisted value sets the "other" column, else counts as ``default``, else sets nothing.
    """

    name: str
    choices: tuple
    value: Callable
    other: bool = True
    default: object = None
    multi: bool = False

    @property
    def size(self):
        return len(self.choices) + self.other


def _flag(name, value):
    """A one-column block, set where ``value`` is true."""
    return OneHot(name, (True,), value, other=False)


class Layout:
    """One-hot blocks side by side; block offsets and choice columns are derived from the choice lists."""

    def __init__(self, *blocks):
        self.blocks = blocks
        starts = list(accumulate((b.size for b in blocks), initial=0))
        self.size = starts[-1]
        self._by_name = {b.name: (b, start) for b, start in zip(blocks, starts)}
        self._lookup = []  # per block: value function, {choice: column}, column of unlisted values, multi
        for block, start in zip(blocks, starts):
            columns = {c: start + i for i, c in enumerate(block.choices)}
            if block.other:
                unlisted = start + len(block.choices)
            else:
                unlisted = None if block.default is None else columns[block.default]
            self._lookup.append((block.value, columns, unlisted, block.multi))

    def span(self, name):
        """The columns of block ``name`` as a slice."""
        block, start = self._by_name[name]
        return slice(start, start + block.size)

    def column(self, name, choice=True):
        """The column of ``choice`` in block ``name`` (by default a flag's column)."""
        block, start = self._by_name[name]
        return start + block.choices.index(choice)

    def encode(self, items):
        """float32 (len(items), size) one-hot rows of RDKit atoms or bonds."""
        rows, cols = [], []
        for i, item in enumerate(items):
            for value, columns, unlisted, multi in self._lookup:
                if multi:
                    hot = [columns[c] for c in value(item)]
                    rows.extend([i] * len(hot))
                    cols.extend(hot)
                else:
                    col = columns.get(value(item), unlisted)
                    if col is not None:
                        rows.append(i)
                        cols.append(col)
        out = np.zeros((len(items), self.size), dtype=np.float32)
        out[rows, cols] = 1.0
        return out


def _ring_sizes(atom):
    """The ``RING_SIZES`` of the rings ``atom`` is a member of."""
    return [size for size in RING_SIZES if atom.IsInRingSize(size)] if atom.IsInRing() else []


ATOM_LAYOUT = Layout(
    OneHot("element", ("H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "B", "Si", "Se"), Chem.Atom.GetSymbol),
    OneHot("degree", (0, 1, 2, 3, 4, 5), Chem.Atom.GetDegree),
    OneHot("formal charge", (-2, -1, 0, 1, 2), Chem.Atom.GetFormalCharge),
    OneHot(
        "hybridisation",
        (
            HybridizationType.SP,
            HybridizationType.SP2,
            HybridizationType.SP3,
            HybridizationType.SP3D,
            HybridizationType.SP3D2,
        ),
        Chem.Atom.GetHybridization,
    ),
    _flag("aromatic", Chem.Atom.GetIsAromatic),
    OneHot("total H", (0, 1, 2, 3), Chem.Atom.GetTotalNumHs),  # "other" = 4 or more
    OneHot(
        "chirality tag",
        (ChiralType.CHI_UNSPECIFIED, ChiralType.CHI_TETRAHEDRAL_CW, ChiralType.CHI_TETRAHEDRAL_CCW),
        Chem.Atom.GetChiralTag,
    ),
    _flag("in ring", Chem.Atom.IsInRing),
    OneHot("ring size", RING_SIZES, _ring_sizes, other=False, multi=True),
)
BOND_LAYOUT = Layout(
    OneHot(
        "bond type",
        (BondType.SINGLE, BondType.DOUBLE, BondType.TRIPLE, BondType.AROMATIC),
        Chem.Bond.GetBondType,
        other=False,
    ),
    _flag("conjugated", Chem.Bond.GetIsConjugated),
    _flag("in ring", Chem.Bond.IsInRing),
    OneHot(
        "stereo",
        (
            BondStereo.STEREONONE,
            BondStereo.STEREOANY,
            BondStereo.STEREOZ,
            BondStereo.STEREOE,
            BondStereo.STEREOCIS,
            BondStereo.STEREOTRANS,
        ),
        Chem.Bond.GetStereo,
        other=False,
        default=BondStereo.STEREONONE,
    ),
)
ATOM_FEATURES = ATOM_LAYOUT.size
BOND_FEATURES = BOND_LAYOUT.size


def featurize_mol(mol):
    """Graph arrays of an RDKit molecule (see the module docstring for the columns)."""
    bonds = mol.GetBonds()
    pairs = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in bonds], dtype=np.int64).reshape(-1, 2)
    # both directions of bond k are edges 2k (begin → end) and 2k+1 (end → begin)
    edge_index = np.stack([pairs, pairs[:, ::-1]], axis=1).reshape(-1, 2).T.copy()
    edge_attr = np.repeat(BOND_LAYOUT.encode(bonds), 2, axis=0)
    return {"x": ATOM_LAYOUT.encode(mol.GetAtoms()), "edge_index": edge_index, "edge_attr": edge_attr}


def featurize_smiles(smiles):
    """``{"x", "edge_index" (local, both directions), "edge_attr"}`` numpy arrays of one SMILES."""
    mol, reason = parse_smiles(smiles)
    if mol is None:
        raise InputError(f"cannot featurise '{smiles}': {reason}")
    return featurize_mol(mol)


def _featurize_chunk(smiles_list):
    """Worker: concatenated numpy arrays (local edge indices) and per-molecule sizes of a chunk."""
    parts = [featurize_smiles(s) for s in smiles_list]
    n_atoms = np.array([p["x"].shape[0] for p in parts], dtype=np.int64)
    n_edges = np.array([p["edge_index"].shape[1] for p in parts], dtype=np.int64)
    edge_index = [p["edge_index"] for p in parts]
    return {
        "x": np.concatenate([p["x"] for p in parts]) if parts else np.zeros((0, ATOM_FEATURES), np.float32),
        "edge_index": np.concatenate(edge_index, axis=1) if parts else np.zeros((2, 0), np.int64),
        "edge_attr": (
            np.concatenate([p["edge_attr"] for p in parts]) if parts else np.zeros((0, BOND_FEATURES), np.float32)
        ),
        "n_atoms": n_atoms,
        "n_edges": n_edges,
    }


def featurize_many(smiles_list, processes=None, pool_min=POOL_MIN):
    """Featurise many SMILES into one tensor store (see the module docstring).

    Inputs of ``pool_min`` or more molecules use a ``multiprocessing`` pool of ``processes``
    workers (default: all cores); workers return plain numpy arrays.
    """
    smiles_list = list(smiles_list)
    processes = processes or os.cpu_count() or 1
    n = len(smiles_list)
    if n < pool_min or processes == 1:
        chunks = [_featurize_chunk(smiles_list)]
    else:
        size = math.ceil(n / (processes * 4))
        pieces = [smiles_list[i : i + size] for i in range(0, n, size)]
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            chunks = pool.map(_featurize_chunk, pieces, chunksize=1)
    n_atoms = np.concatenate([c["n_atoms"] for c in chunks])
    n_edges = np.concatenate([c["n_edges"] for c in chunks])
    atom_ptr = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
    edge_ptr = np.concatenate([[0], np.cumsum(n_edges)]).astype(np.int64)
    edge_index = np.concatenate([c["edge_index"] for c in chunks], axis=1)
    edge_index += np.repeat(atom_ptr[:-1], n_edges)[None, :]  # local → global atom indices
    return {
        "x": torch.from_numpy(np.concatenate([c["x"] for c in chunks])),
        "edge_index": torch.from_numpy(edge_index),
        "edge_attr": torch.from_numpy(np.concatenate([c["edge_attr"] for c in chunks])),
        "atom_ptr": torch.from_numpy(atom_ptr),
        "edge_ptr": torch.from_numpy(edge_ptr),
    }


def to_data_list(tensors):
    """One PyG ``Data(x, edge_index (local), edge_attr, y (1, T) if stored)`` per molecule of a tensor store."""
    y = tensors.get("y")
    atom_ptr, edge_ptr = tensors["atom_ptr"].tolist(), tensors["edge_ptr"].tolist()
    x, edge_index, edge_attr = tensors["x"], tensors["edge_index"], tensors["edge_attr"]
    y = None if y is None else torch.as_tensor(y, dtype=torch.float32)
    if y is not None and y.dim() == 1:
        y = y[:, None]
    data = []
    for i in range(len(atom_ptr) - 1):
        a0, a1, e0, e1 = atom_ptr[i], atom_ptr[i + 1], edge_ptr[i], edge_ptr[i + 1]
        item = Data(x=x[a0:a1], edge_index=edge_index[:, e0:e1] - a0, edge_attr=edge_attr[e0:e1])
        if y is not None:
            item.y = y[i : i + 1]
        data.append(item)
    return data
