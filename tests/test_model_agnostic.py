"""Occlusion and KernelSHAP (helpers.attribution, chapter 08): the model-agnostic
references, checked against Captum, analytic cases and exact Shapley values."""
import pytest
import torch
from captum._utils.models.linear_model import LinearModel
from captum.attr import KernelShap, Occlusion
from torch import nn

import _models as models
from helpers import attribution as A

DTYPE = torch.float64


def _x(shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


# --- occlusion -------------------------------------------------------------------

@pytest.mark.parametrize("window, stride", [((1, 2, 2), (1, 2, 2)), ((1, 3, 3), (1, 1, 1)),
                                            ((1, 3, 3), (1, 2, 2)), ((1, 4, 4), (1, 3, 3))])
@pytest.mark.parametrize("inplace", [False, True])
def test_occlusion_matches_captum_on_images(window, stride, inplace):
    cnn, x, target = models.cnn(inplace=inplace), _x((3, 1, 8, 8)), torch.tensor([4, 0, 2])
    mine = A.occlusion(cnn, x, target, window=window, stride=stride, baseline=0.3)
    theirs = Occlusion(models.cnn()).attribute(x, sliding_window_shapes=window, strides=stride,
                                               baselines=0.3, target=target)
    # Captum returns float32 here: compare at its precision.
    torch.testing.assert_close(mine, theirs.to(DTYPE), rtol=1e-5, atol=1e-6)


def test_occlusion_matches_captum_on_tables_with_a_baseline_tensor():
    mlp, x, target = models.mlp(), _x((4, 6)), torch.tensor([3, 0, 1, 2])
    baseline = _x((1, 6), seed=1)
    for window, stride in [((1,), (1,)), ((2,), (1,)), ((3,), (2,))]:
        mine = A.occlusion(mlp, x, target, window=window, stride=stride, baseline=baseline)
        theirs = Occlusion(mlp).attribute(x, sliding_window_shapes=window, strides=stride,
                                          baselines=baseline, target=target)
        torch.testing.assert_close(mine, theirs.to(DTYPE), rtol=1e-5, atol=1e-6)


def test_occlusion_of_one_feature_is_the_leave_one_out_difference():
    linear, x, baseline = models.linear(d_in=5, n_out=3), _x((4, 5)), _x((1, 5), seed=2)
    attr = A.occlusion(linear, x, 1, window=1, baseline=baseline)
    torch.testing.assert_close(attr, linear[0].weight[1].detach() * (x - baseline))
    mlp, xm = models.mlp(), _x((2, 6))
    expected = torch.empty_like(xm)
    with torch.no_grad():
        for i in range(6):
            cut = xm.clone()
            cut[:, i] = 0.0
            expected[:, i] = mlp(xm)[:, 2] - mlp(cut)[:, 2]
    torch.testing.assert_close(A.occlusion(mlp, xm, 2, window=1), expected)


def test_occlusion_int_window_and_stride_are_capped():
    cnn, x = models.cnn(), _x((2, 1, 8, 8))
    torch.testing.assert_close(A.occlusion(cnn, x, 1, window=4, stride=2),
                               A.occlusion(cnn, x, 1, window=(1, 4, 4), stride=(1, 2, 2)))
    # stride None: tiles without overlap, each element covered once
    torch.testing.assert_close(A.occlusion(cnn, x, 1, window=4),
                               A.occlusion(cnn, x, 1, window=(1, 4, 4), stride=(1, 4, 4)))


def test_occlusion_arguments_are_checked():
    mlp, x = models.mlp(), _x((2, 6))
    with pytest.raises(TypeError, match="window must be an int or a tuple of ints"):
        A.occlusion(mlp, x, 0, window=[2])
    with pytest.raises(ValueError, match="window must have one entry per dimension"):
        A.occlusion(mlp, x, 0, window=(1, 2))
    with pytest.raises(ValueError, match="window must be an int >= 1, got 0"):
        A.occlusion(mlp, x, 0, window=0)
    with pytest.raises(ValueError, match=r"window \(7,\) does not fit examples of shape \(6,\)"):
        A.occlusion(mlp, x, 0, window=(7,))
    with pytest.raises(ValueError, match="stride .* must not exceed window"):
        A.occlusion(mlp, x, 0, window=(2,), stride=(3,))
    with pytest.raises(TypeError, match=r"stride\[0\] must be an int >= 1, got float"):
        A.occlusion(mlp, x, 0, window=(2,), stride=(1.0,))


# --- KernelSHAP ------------------------------------------------------------------

def _least_squares(model, dataloader, construct_kwargs, **_):
    """Captum's KernelShap without scikit-learn: weighted least squares with an intercept."""
    xs, ys, ws = zip(*dataloader)
    z, y, w = torch.cat(xs).double(), torch.cat(ys).double().reshape(-1), torch.cat(ws).double().reshape(-1)
    design = torch.cat([z, torch.ones(len(z), 1, dtype=DTYPE)], dim=1) * w.sqrt()[:, None]
    coef = torch.linalg.lstsq(design, (y * w.sqrt())[:, None], driver="gelsd").solution[:, 0]
    model._construct_model_params(norm_type=None, weight_values=coef[None, :-1].float(),
                                  bias_value=coef[-1:].float())
    return {}


def _captum_kernel_shap(model, x, target, baseline, samples, seed):
    explainer = KernelShap(model)
    explainer.interpretable_model = LinearModel(train_fn=_least_squares)
    torch.manual_seed(seed)
    rows = [explainer.attribute(x[n:n + 1], baselines=baseline, target=target, n_samples=samples)
            for n in range(len(x))]
    return torch.cat(rows).to(DTYPE)


def test_kernel_shap_is_exact_on_a_linear_model_like_captum():
    linear, x, baseline = models.linear(d_in=5, n_out=3), _x((4, 5)), _x((1, 5), seed=3)
    exact = linear[0].weight[1].detach() * (x - baseline)
    for seed in range(3):
        mine = A.kernel_shap(linear, x, 1, baseline=baseline, samples=40,
                             generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(mine, exact)
    theirs = _captum_kernel_shap(linear, x, 1, baseline, 100, seed=0)
    torch.testing.assert_close(theirs, exact, rtol=1e-3, atol=1e-4)  # Captum fits in float32


def test_kernel_shap_is_exact_on_an_additive_model():
    # S = sum_i g_i(x_i): no interactions, so every coalition's marginal is the same
    additive = lambda z: (torch.sin(3 * z) + z.square()).sum(1)  # noqa: E731
    x, baseline = _x((3, 6)), _x((1, 6), seed=4)
    exact = (torch.sin(3 * x) + x.square()) - (torch.sin(3 * baseline) + baseline.square())
    mine = A.kernel_shap(additive, x, baseline=baseline, samples=60,
                         generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(mine, exact)


def test_kernel_shap_converges_to_exact_shapley_values_on_a_small_network():
    net = models.mlp(d_in=4, n_out=1, seed=5, inplace=True)
    x = _x((5, 4), seed=6)
    exact = A.shapley_values(lambda z: net(z)[:, 0], x, 0.0)

    def error(attr):
        return ((attr - exact).norm(dim=1) / exact.norm(dim=1)).mean().item()

    few = [error(A.kernel_shap(net, x, samples=64, generator=torch.Generator().manual_seed(s)))
           for s in range(5)]
    many = [error(A.kernel_shap(net, x, samples=8192, generator=torch.Generator().manual_seed(s)))
            for s in range(5)]
    assert max(many) < 0.03 and sum(many) < sum(few) / 4
    theirs = _captum_kernel_shap(net, x, None, 0.0, 4000, seed=0)
    assert error(theirs) < 0.05
    # efficiency holds for any number of samples
    with torch.no_grad():
        change = net(x)[:, 0] - net(torch.zeros_like(x))[:, 0]
    few_sum = A.kernel_shap(net, x, samples=5, generator=torch.Generator().manual_seed(0)).sum(1)
    torch.testing.assert_close(few_sum, change)


def test_kernel_shap_groups_features_and_shares_each_value_among_its_elements():
    linear = nn.Sequential(nn.Flatten(), nn.Linear(16, 2)).to(DTYPE).eval()
    x = _x((2, 1, 4, 4))
    groups = torch.arange(16).reshape(1, 4, 4) // 4  # 4 features: the rows of the image
    attr = A.kernel_shap(linear, x, 0, feature_mask=groups, samples=30,
                         generator=torch.Generator().manual_seed(0))
    contribution = (linear[1].weight[0].detach().reshape(1, 1, 4, 4) * x)  # w_i x_i
    per_row = contribution.sum(3, keepdim=True) / 4
    torch.testing.assert_close(attr, per_row.expand_as(x))


def test_kernel_shap_arguments_are_checked():
    mlp, x = models.mlp(), _x((2, 6))
    with pytest.raises(TypeError, match="feature_mask must be an integer tensor"):
        A.kernel_shap(mlp, x, 0, feature_mask=torch.zeros(6))
    with pytest.raises(ValueError, match="feature_mask must have the shape of one example"):
        A.kernel_shap(mlp, x, 0, feature_mask=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="feature_mask must use every id"):
        A.kernel_shap(mlp, x, 0, feature_mask=torch.tensor([0, 0, 2, 2, 3, 3]))
