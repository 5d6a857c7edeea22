"""prune_layerwise: hooks, unfolded convs, sequential calibration, HF-style dict batches."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from adapters.torch import prune_layerwise  # noqa: E402
from solvers.layerwise import wanda  # noqa: E402
from sparse_regression.gram import LayerProblem  # noqa: E402
from sparse_regression.nm import NM, RowK, is_feasible  # noqa: E402


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def _gram(x: torch.Tensor) -> np.ndarray:
    x = x.double()
    return (x.T @ x / x.shape[0]).numpy()


def _wanda_expected(layer, inputs, keep):
    problem = LayerProblem(_gram(inputs), layer.weight.detach().double().numpy(), 0.01)
    return wanda(problem, RowK(keep))


@pytest.mark.parametrize("sequential", [True, False])
def test_sequential_mode_feeds_pruned_outputs(sequential):
    model = _mlp()
    X = torch.randn(64, 8)
    dense = _mlp()
    # Expected second layer: Wanda scores from the pruned (sequential) or dense first layer.
    l1 = _wanda_expected(dense[0], X, 4)
    with torch.no_grad():
        pruned1 = dense[0].weight.detach().clone()
        dense[0].weight.copy_(torch.from_numpy(l1).float())
        h_pruned = torch.relu(dense[0](X))
        dense[0].weight.copy_(pruned1)
        h_dense = torch.relu(dense[0](X))
    expected2 = _wanda_expected(dense[2], h_pruned if sequential else h_dense, 8)
    other2 = _wanda_expected(dense[2], h_dense if sequential else h_pruned, 8)
    assert not np.array_equal(expected2 != 0, other2 != 0)  # the test can tell them apart

    rep = prune_layerwise(
        model, X, sparsity=0.5, method="wanda", allocation="row", sequential=sequential,
        blocks="layer", progress=False, batch_size=16,
    )  # fmt: skip
    np.testing.assert_allclose(model[0].weight.detach().numpy(), l1, rtol=1e-6)
    np.testing.assert_array_equal(model[2].weight.detach().numpy() != 0, expected2 != 0)
    assert [r.name for r in rep.layers] == ["0.weight", "2.weight"]
    assert all(r.tokens == 64 for r in rep.layers)


def test_conv_unfolding_gives_the_true_reconstruction_error():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.ReLU())
    X = torch.randn(6, 3, 9, 9)
    with torch.no_grad():
        ref = model(X)
        pre = model[0](X)
    rep = prune_layerwise(model, X, sparsity=0.6, method="chita", progress=False)
    with torch.no_grad():
        out = model[0](X)
    true = float(((out - pre) ** 2).sum() / (pre**2).sum())
    assert np.isclose(rep.layers[0].error, true, rtol=1e-4)
    assert rep.layers[0].error < rep.layers[0].magnitude_error
    assert rep.layers[0].density == pytest.approx(0.4, abs=1 / 216)
    assert ref.shape == model(X).shape


class _Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.up = nn.Linear(d, 2 * d)
        self.down = nn.Linear(2 * d, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, x, mask):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        att = q @ k.transpose(1, 2) / x.shape[-1] ** 0.5
        att = att.masked_fill(~mask[:, None, :], -1e9).softmax(-1)
        x = self.norm(x + self.out(att @ v))
        return self.norm(x + self.down(torch.relu(self.up(x))))


class _TinyEncoder(nn.Module):
    """Transformer-like module called with dict batches, as Hugging Face models are."""

    def __init__(self, d=16, layers=2, vocab=30):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList([_Block(d) for _ in range(layers)])

    def forward(self, input_ids, attention_mask):
        x = self.emb(input_ids)
        for block in self.layers:
            x = block(x, attention_mask.bool())
        return x


def _dict_batches(seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(3):
        ids = torch.randint(0, 30, (4, 10), generator=g)
        mask = torch.ones(4, 10, dtype=torch.long)
        mask[0, 6:] = 0
        out.append({"input_ids": ids, "attention_mask": mask})
    return out


def test_dict_batches_patterns_and_report():
    torch.manual_seed(0)
    model = _TinyEncoder()
    batches = _dict_batches()
    rep = prune_layerwise(model, batches, pattern="2:4", method="chita", progress=False)
    assert len(rep.layers) == 8 and rep.sparsity == pytest.approx(0.5)
    for name, param in model.named_parameters():
        if name.endswith("weight") and param.ndim == 2 and "emb" not in name:
            assert is_feasible(param.detach().numpy(), NM(2, 4)), name
            np.testing.assert_array_equal(param.detach().numpy() != 0, rep.masks[name].numpy())
    # Padding tokens are left out of the Linear statistics: 3 batches x (40 tokens - 4 padded).
    assert all(r.tokens == 108 for r in rep.layers)
    assert all(r.error < r.magnitude_error for r in rep.layers)
    assert "layers.1.down.weight" in rep.summary()
    assert rep.to_dict()["pattern"] == "2:4"


def test_chita_beats_sparsegpt_per_layer_on_the_same_problems():
    batches = _dict_batches(1)
    errors = {}
    for method in ("sparsegpt", "chita"):
        torch.manual_seed(0)
        model = _TinyEncoder()
        rep = prune_layerwise(
            model, batches, sparsity=0.7, method=method, sequential=False, progress=False
        )
        errors[method] = np.array([r.error for r in rep.layers])
    assert np.all(errors["chita"] <= errors["sparsegpt"] * (1 + 1e-9))


def test_errors_leave_the_model_unchanged():
    model = _mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    X = torch.randn(32, 8)
    with pytest.raises(ValueError, match="sparsity"):
        prune_layerwise(model, X, sparsity=1.5)
    with pytest.raises(ValueError, match="multiple of 4"):
        prune_layerwise(nn.Linear(6, 4), torch.randn(8, 6), pattern="2:4")
    with pytest.raises(ValueError, match="method must be one of"):
        prune_layerwise(model, X, sparsity=0.5, method="obc")
    with pytest.raises(ValueError, match="contradicts"):
        prune_layerwise(model, X, sparsity=0.3, pattern="2:4")
    calls = {"n": 0}

    def flaky(batch):
        calls["n"] += 1
        if calls["n"] > 3:  # fails after the first block was pruned
            raise RuntimeError("data source broke")
        return (batch,), {}

    with pytest.raises(RuntimeError, match="data source broke"):
        prune_layerwise(
            model, X, sparsity=0.5, batch_to_inputs=flaky, blocks="layer", batch_size=16,
            progress=False,
        )  # fmt: skip
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_hugging_face_bert_from_config():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=32,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    batches = _dict_batches()
    for b in batches:
        b["input_ids"] = b["input_ids"] % 50
    with torch.no_grad():
        dense = model(**batches[0]).last_hidden_state
    rep = prune_layerwise(model, batches, sparsity=0.5, method="chita", progress=False)
    names = [r.name for r in rep.layers]
    assert "encoder.layer.1.output.dense.weight" in names and len(names) == 13
    assert rep.sparsity == pytest.approx(0.5, abs=1e-3)
    with torch.no_grad():
        out = model(**batches[0]).last_hidden_state
    cos = torch.nn.functional.cosine_similarity(out, dense, dim=-1)
    assert torch.isfinite(out).all() and float(cos.mean()) > 0.5


def test_missing_transformers_names_the_extra(monkeypatch):
    from adapters import hf

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"chita\[hf\]"):
        hf.require_transformers()
    assert importlib.import_module("adapters.hf") is hf
