"""Embeddings in the content-addressed `SummaryCache` (SQLite locally, Firestore in the cloud).

The cache port stores JSON-able dicts under a hash, so embeddings reuse it with
no new adapter: key ``sha256({"kind": "embedding", provider, model, dimensions,
text})``, value ``{"f32": <base64 of little-endian float32>, "dim": N}``.

Why base64 and not a list of floats: it is about four times smaller (a 384-d
vector is 2 KB instead of ~7 KB of decimal text, which matters for a Firestore
document per text), and it round-trips bit for bit, so a run that reads every
vector from the cache clusters exactly like the run that computed them (fresh
vectors go through the same float32 encoding before use).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from common.ports.summarycache import SummaryCache

CHUNK = 2_000
"""Texts embedded between two cache writes: a crash loses at most this much work."""


def embedding_key(provider: str, model: str, dimensions: int | None, text: str) -> str:
    """The cache key of one text's embedding."""
    material = {
        "v": 1,
        "kind": "embedding",
        "provider": provider,
        "model": model,
        "dimensions": dimensions,
        "text": text,
    }
    blob = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def encode_vector(vector: np.ndarray) -> dict[str, Any]:
    """``{"f32": base64, "dim": n}`` of a vector (stored as little-endian float32)."""
    import numpy as np

    data = np.asarray(vector, dtype="<f4").tobytes()
    return {"f32": base64.b64encode(data).decode("ascii"), "dim": int(vector.shape[-1])}


def decode_vector(entry: dict[str, Any]) -> np.ndarray:
    """The float32 vector of a cache entry."""
    import numpy as np

    return np.frombuffer(base64.b64decode(entry["f32"]), dtype="<f4").astype(np.float32)


@dataclass
class EmbedStats:
    """What one `embed_texts` call did."""

    texts: int = 0
    """Texts asked for (with repeats)."""
    unique: int = 0
    cache_hits: int = 0
    embedded: int = 0
    """Unique texts sent to the provider."""
    provider: dict[str, Any] = field(default_factory=dict)
    """The embedder's own counters (calls, retries, throttled...)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-able."""
        return dict(self.__dict__)


def embed_texts(
    texts: Sequence[str],
    *,
    embed: Callable[[list[str]], np.ndarray],
    provider: str,
    model: str,
    dimensions: int | None,
    cache: SummaryCache | None,
    ttl: timedelta,
    read_cache: bool = True,
    chunk: int = CHUNK,
) -> tuple[np.ndarray, EmbedStats]:
    """Unit vectors of ``texts`` (one row each), embedding only what the cache lacks.

    Args:
        texts: The texts, repeats allowed (each unique text is embedded once).
        embed: The embedder's ``embed`` (a list of texts → float32 rows).
        provider: Provider name, part of the cache key.
        model: Model name, part of the cache key.
        dimensions: Requested dimensions, part of the cache key.
        cache: Where vectors are cached (None: no cache).
        ttl: How long new entries live.
        read_cache: False: embed everything again (still write the cache).
        chunk: Texts embedded between cache writes.

    Returns:
        The float32 matrix, L2-normalised rows, and the counters.
    """
    import numpy as np

    stats = EmbedStats(texts=len(texts))
    unique = list(dict.fromkeys(texts))
    stats.unique = len(unique)
    keys = [embedding_key(provider, model, dimensions, t) for t in unique]
    found: dict[str, np.ndarray] = {}
    if cache is not None and read_cache and keys:
        found = {k: decode_vector(v) for k, v in cache.get_many(keys).items() if "f32" in v}
    stats.cache_hits = len(found)
    missing = [i for i, k in enumerate(keys) if k not in found]
    for start in range(0, len(missing), chunk):
        part = missing[start : start + chunk]
        vectors = normalize(np.asarray(embed([unique[i] for i in part]), dtype=np.float32))
        entries = {keys[i]: encode_vector(v) for i, v in zip(part, vectors, strict=True)}
        for i in part:  # through the cache encoding: fresh and cached runs see the same bits
            found[keys[i]] = decode_vector(entries[keys[i]])
        if cache is not None:
            cache.put_many(entries, ttl=ttl)
        stats.embedded += len(part)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), stats
    by_text = {t: found[k] for t, k in zip(unique, keys, strict=True)}
    return np.vstack([by_text[t] for t in texts]).astype(np.float32), stats


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    import numpy as np

    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)
