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
M molecules, N atoms and E directed edges in total, in small dtypes (features are 0/1):

- ``x`` uint8 (N, ATOM_FEATURES), atoms of molecule i in rows ``atom_ptr[i]:atom_ptr[i+1]``
- ``edge_index`` int32 (2, E; int64 from 2**31 atoms on): every bond in both directions, GLOBAL atom
  indices (rows of ``x``), so the store is one disconnected graph like a PyG ``Batch``; edges of molecule i
  are columns ``edge_ptr[i]:edge_ptr[i+1]``; subtract ``atom_ptr[i]`` for local indices
- ``edge_attr`` uint8 (E, BOND_FEATURES)
- ``atom_ptr``, ``edge_ptr`` int64 (M+1)
- ``y`` float32 (M, T) targets, NaN = missing label (from ``prepare_molecule_dataset``)

Readers (:class:`~dlbio.data.molecules.graphs.MoleculeGraphs`) cast to float32 / int64 per batch, so stores
written earlier with float32 features and int64 indices read alike.
"""

import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import BondStereo, BondType, ChiralType, HybridizationType

from dlbio.data.molecules.graphs import MoleculeGraphs
from dlbio.data.molecules.standardize import parse_smiles
from dlbio.errors import InputError

FEATURIZATION_VERSION = 1  # of the atom/bond columns below; saved models record it; change it with any column
POOL_MIN = 2000  # fewer molecules than this are featurised in-process (pool start-up costs more)
CHUNK = 1000  # molecules featurised at a time (one pool task); only their compact arrays are kept
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

    def encode(self, items, dtype=np.float32):
        """(len(items), size) one-hot rows of RDKit atoms or bonds, as ``dtype``."""
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
        out = np.zeros((len(items), self.size), dtype=dtype)
        out[rows, cols] = 1
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


def featurize_mol(mol, dtype=np.float32):
    """Graph arrays of an RDKit molecule (see the module docstring for the columns), features as ``dtype``."""
    bonds = mol.GetBonds()
    pairs = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in bonds], dtype=np.int64).reshape(-1, 2)
    # both directions of bond k are edges 2k (begin → end) and 2k+1 (end → begin)
    edge_index = np.stack([pairs, pairs[:, ::-1]], axis=1).reshape(-1, 2).T.copy()
    edge_attr = np.repeat(BOND_LAYOUT.encode(bonds, dtype), 2, axis=0)
    return {"x": ATOM_LAYOUT.encode(mol.GetAtoms(), dtype), "edge_index": edge_index, "edge_attr": edge_attr}


def _parse(smiles):
    mol, reason = parse_smiles(smiles)
    if mol is None:
        raise InputError(f"cannot featurise '{smiles}': {reason}")
    return mol


def featurize_smiles(smiles):
    """``{"x", "edge_index" (local, both directions), "edge_attr"}`` numpy arrays of one SMILES (float32 features)."""
    return featurize_mol(_parse(smiles))


def _featurize_chunk(smiles_list):
    """Worker: uint8 features, int32 local edge indices and per-molecule sizes of a chunk, concatenated."""
    parts = [featurize_mol(_parse(s), np.uint8) for s in smiles_list]
    x = [np.zeros((0, ATOM_FEATURES), np.uint8)] + [p["x"] for p in parts]  # with an empty first: a chunk may be empty
    edge_index = [np.zeros((2, 0), np.int32)] + [p["edge_index"] for p in parts]
    edge_attr = [np.zeros((0, BOND_FEATURES), np.uint8)] + [p["edge_attr"] for p in parts]
    return {
        "x": np.concatenate(x),
        "edge_index": np.concatenate(edge_index, axis=1, dtype=np.int32, casting="same_kind"),
        "edge_attr": np.concatenate(edge_attr),
        "n_atoms": np.array([len(a) for a in x[1:]], dtype=np.int64),
        "n_edges": np.array([len(a) for a in edge_attr[1:]], dtype=np.int64),
    }


def _join(chunks, key, axis=0, dtype=None):
    """One array from the ``key`` arrays of ``chunks``, dropping them from the chunks as it goes."""
    return np.concatenate([c.pop(key) for c in chunks], axis=axis, dtype=dtype, casting="same_kind")


def featurize_many(smiles_list, processes=None, pool_min=POOL_MIN, chunk_size=CHUNK):
    """Featurise many SMILES into one tensor store (see the module docstring), ``chunk_size`` at a time.

    Only each chunk's compact arrays are kept until they are joined, never per-molecule arrays of all
    molecules. Inputs of ``pool_min`` or more molecules use a ``multiprocessing`` pool of ``processes``
    workers (default: all cores), one chunk per task; workers return plain numpy arrays.
    """
    smiles_list = list(smiles_list)
    processes = processes or os.cpu_count() or 1
    n = len(smiles_list)
    pieces = (smiles_list[i : i + chunk_size] for i in range(0, max(n, 1), chunk_size))  # one empty piece if n = 0
    if n < pool_min or processes == 1:
        chunks = [_featurize_chunk(p) for p in pieces]
    else:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            chunks = list(pool.imap(_featurize_chunk, pieces))
    n_atoms, n_edges = _join(chunks, "n_atoms"), _join(chunks, "n_edges")
    atom_ptr = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
    edge_ptr = np.concatenate([[0], np.cumsum(n_edges)]).astype(np.int64)
    index_dtype = np.int32 if atom_ptr[-1] < 2**31 else np.int64
    edge_index = _join(chunks, "edge_index", axis=1, dtype=index_dtype)
    edge_index += np.repeat(atom_ptr[:-1], n_edges).astype(index_dtype)  # local → global atom indices
    return {
        "x": torch.from_numpy(_join(chunks, "x")),
        "edge_index": torch.from_numpy(edge_index),
        "edge_attr": torch.from_numpy(_join(chunks, "edge_attr")),
        "atom_ptr": torch.from_numpy(atom_ptr),
        "edge_ptr": torch.from_numpy(edge_ptr),
    }


def to_data_list(tensors):
    """One PyG ``Data(x, edge_index (local), edge_attr, y (1, T) if stored)`` per molecule of a tensor store,
    features float32 (:class:`~dlbio.data.molecules.graphs.MoleculeGraphs` items)."""
    graphs = MoleculeGraphs(tensors)
    return [graphs[i] for i in range(len(graphs))]
