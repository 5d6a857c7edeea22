"""prune(n_jobs=...): scikit-learn's convention, validated before the model is touched, and the
masks do not depend on the thread count."""

import numpy as np
import pytest
import torch

from adapters.torch import prune

from .chita_torch_helpers import TinyConvNet, assert_unchanged, conv_data, state_of


def test_bad_n_jobs_leaves_the_model_alone():
    torch.manual_seed(0)
    model = TinyConvNet().train()
    before = state_of(model)
    with pytest.raises(ValueError, match="n_jobs"):
        prune(model, conv_data(8), sparsity=0.5, n_jobs=0, progress=False)
    assert_unchanged(model, before)


def test_masks_do_not_depend_on_n_jobs():
    masks = []
    for n_jobs in (None, 2):
        torch.manual_seed(0)
        model = TinyConvNet().train()
        rep = prune(model, conv_data(32), sparsity=0.6, n_samples=32, n_jobs=n_jobs, progress=False)
        masks.append({k: v.cpu().numpy() for k, v in rep.masks.items()})
    assert masks[0].keys() == masks[1].keys()
    for name in masks[0]:
        assert np.array_equal(masks[0][name], masks[1][name]), name
