# %% [markdown]
# # 10 · Ground truth and a Clever Hans
#
# Chapter 09 judged maps without knowing what the model uses. Here we build data where
# we *do* know what decides the class, score the maps against that ground truth next to
# maps that need no model and maps of an untrained network, and then use the same
# scores for their practical purpose: catching a model that learned a shortcut
# before it is deployed. The chapter ends with a limit: a question about the model
# that a complete attribution method cannot answer better than a coin.

# %% [markdown]
# ## What you will learn
#
# - three ground-truth scores (mask mass, the pointing game, relevance rank accuracy)
#   and the controls without which they mean little;
# - which differences between methods survive the controls and five sets of images;
# - how attribution maps expose a **Clever Hans** model (Lapuschkin et al. 2019) that
#   scores well on its own test split by reading a mark in the corner;
# - a limit (Bilodeau et al. 2024): an end-task on tabular data where a complete, linear
#   attribution is no better than chance and two evaluations of the model are exact.

# %% [markdown]
# ## A data set with an answer key
#
# Every synthetic image (32 × 32) holds three glyphs on a smooth random texture: one
# **upright** glyph (T, L, U or a triangle) whose kind is the class, and two
# **distractors**, glyphs of random kinds turned upside down, the same in every class.
# All three share size, stroke width, brightness and placement, so nothing in the pixel
# values alone (brightness, edges) says which glyph decides: only its orientation and
# kind do. The upright glyph's pixels are the **mask** $M$, the ground truth.
#
# Three scores of a map $a$ against the mask:
#
# - **Mask mass**: the share of $|a|$ inside the mask, $\sum_{i \in M}|a_i| / \sum_i |a_i|$
#   (after the relevance mass accuracy of Arras, Osman & Samek 2022).
# - **Pointing game** (Zhang et al. 2018): a hit if the largest value of $a$ lies in $M$.
# - **Relevance rank accuracy** (Arras et al. 2022): with $K = |M|$, the share of the
#   mask found among the $K$ largest values of $a$,
#   $\;|\mathrm{top}_K(a) \cap M| / K$. Unlike mask mass it ignores how large the values
#   are, only their order.
#
# The **controls** come in two kinds: maps that need no model
# (`helpers.metrics.controls`: the input $x$, $x^2$, $|x|^3$, the edge magnitude and a
# random map), and every method run on the **untrained** network
# (`helpers.models.untrained`, five initialisations). A score means something only
# where a method beats both.

# %%
import matplotlib.pyplot as plt
import torch

from helpers import data, models, plotting
from helpers.attribution import (gradcam, gradient, guided_backprop, input_x_gradient,
                                 integrated_gradients, smoothgrad)
from helpers.metrics import (controls, mask_mass, pointing_game,
                             relevance_rank_accuracy)

torch.manual_seed(0)
cnn = models.load_pretrained("synthetic_cnn")
glyphs = data.load_synthetic("test", n=200, masks="all")
xs, ys, masks = glyphs.x, glyphs.y, glyphs.mask
with torch.no_grad():
    predicted = cnn(xs).argmax(1)
print(f"synthetic_cnn on 200 test images: accuracy {(predicted == ys).float().mean():.3f}")
print(f"the mask covers {masks.float().mean():.3f} of the image; "
      f"the three glyphs together {(masks | glyphs.distractors).float().mean():.3f}")

# %%
METHODS = {
    "gradient": gradient,
    "input × gradient": input_x_gradient,
    "integrated gradients": lambda m, x, t: integrated_gradients(m, x, t, steps=8),
    "SmoothGrad": lambda m, x, t: smoothgrad(m, x, t, samples=8, noise_level=0.15,
                                             generator=torch.Generator().manual_seed(1)),
    "guided backprop": guided_backprop,
    "Grad-CAM": lambda m, x, t: gradcam(m, m[6], x, t, upsample=True),
}


def rounded(a):
    """Each map over its max |value|, to 4 decimals: Grad-CAM's upsampled maps tie at
    their maximum, and round-off would break the ties differently on different CPUs;
    rounded, ties go to the first pixel on every machine."""
    peak = a.flatten(1).abs().amax(1).clamp_min(1e-30)
    return (a / peak.view(-1, *[1] * (a.dim() - 1))).round(decimals=4)


SCORES = {"mask mass": mask_mass,
          "pointing": lambda a, m: pointing_game(rounded(a), m).float(),
          "rank accuracy": relevance_rank_accuracy}
sets = torch.arange(200).reshape(5, 40)  # five sets of 40 images


def maps_by_set(method, nets, x, y):
    """Maps of the 200 images, one set of 40 at a time (small batches keep memory
    low); set k goes to nets[k] (one net for every set, or one net per set)."""
    return torch.cat([method(nets[k], x[s], y[s]) for k, s in enumerate(sets)])


def scored(maps):
    """score name -> (5,) per-set means, for a (200, 1, 32, 32) batch of maps."""
    return {name: score(maps, masks)[sets].mean(1) for name, score in SCORES.items()}


trained = {name: scored(maps_by_set(method, [cnn] * 5, xs, ys))
           for name, method in METHODS.items()}
model_free = {name: scored(a) for name, a in
              controls(xs, generator=torch.Generator().manual_seed(0)).items()}
# Untrained network: set k of the images goes with initialisation k.
untrained_nets = [models.untrained("synthetic_cnn", seed) for seed in range(5)]
untrained = {name: scored(maps_by_set(method, untrained_nets, xs, ys))
             for name, method in METHODS.items()}


def cell(values):
    return f"{values.mean().item():.2f} ± {values.std().item():.2f}"


print(f"{'mean ± sd over 5 sets of 40':30s}" + "".join(f"{s:>16s}" for s in SCORES))
for group, table in [("trained CNN", trained), ("no model", model_free),
                     ("untrained CNN", untrained)]:
    print(f"-- {group}")
    for name, row in table.items():
        print(f"{name:30s}" + "".join(f"{cell(row[s]):>16s}" for s in SCORES))
# %% [markdown]
# The verdict, per method and score: a difference **survives** if, on every one of the
# five sets, the trained CNN's score is above the best model-free control *and* above
# the same method on the untrained CNN.

# %%
best_control = {s: torch.stack([row[s] for row in model_free.values()]).amax(0)
                for s in SCORES}  # (5,) per set
survives = {name: {s: bool(((row[s] > best_control[s]) & (row[s] > untrained[name][s]))
                           .all()) for s in SCORES} for name, row in trained.items()}
print(f"{'survives controls on all 5 sets':30s}" + "".join(f"{s:>16s}" for s in SCORES))
for name, verdict in survives.items():
    print(f"{name:30s}" + "".join(f"{'yes' if v else 'no':>16s}" for v in verdict.values()))
print(f"{'best model-free control':30s}"
      + "".join(f"{cell(best_control[s]):>16s}" for s in SCORES))

# %% [markdown]
# Read the table row by row, and the verdict is narrower than the first table suggests.
#
# - **Pointing** is where every method clearly beats both controls: the brightest
#   pixel ($x$, $x^2$ and $|x|^3$ all point at it) lies on one of three equally bright
#   glyphs, so brightness hits the upright one about a third of the time, and the
#   untrained network does no better. Guided Backpropagation points best (0.95).
# - **Mask mass** is matched by the input: $|x|^3$ puts as much of its mass on the
#   mask as Input × Gradient (0.30 each), so Input × Gradient *ties* $|x|^3$ on mass
#   and *wins* on pointing (0.75 against 0.33). Only Integrated Gradients stays above
#   the best control on mass on every set, and by a small margin.
# - **Rank accuracy** separates every method but the plain gradient from the controls.
#
# The plain gradient has the lowest mass and rank accuracy of all methods: its mass
# is that of the input $x$ itself (0.14), and its rank accuracy does not beat the best
# control on every set. It says which pixels *would* change the logit, texture and
# distractors included, not which ones carry it.

# %%
for k in range(5):  # every claim above, on every set
    ixg = trained["input × gradient"]
    assert (ixg["mask mass"][k] - model_free["|x|^3"]["mask mass"][k]).abs() < 0.05
    assert ixg["pointing"][k] > model_free["|x|^3"]["pointing"][k] + 0.1
    assert trained["guided backprop"]["pointing"][k] >= 0.85
    grad = trained["gradient"]
    assert (grad["mask mass"][k] - model_free["x"]["mask mass"][k]).abs() < 0.03
    for score in ["mask mass", "rank accuracy"]:
        assert all(grad[score][k] < trained[m][score][k] for m in METHODS if m != "gradient")
assert not survives["gradient"]["rank accuracy"]
assert survives["integrated gradients"]["mask mass"]
assert not survives["input × gradient"]["mask mass"]
assert all(survives[m]["pointing"] for m in METHODS)
assert all(survives[m]["rank accuracy"] for m in METHODS if m != "gradient")

# %%
fig, axes = plt.subplots(4, len(METHODS) + 1, figsize=(10, 6.6), layout="constrained")
for row, n in enumerate([int((ys == k).nonzero()[0]) for k in range(4)]):
    axes[row, 0].imshow(xs[n, 0], cmap="gray", vmin=0, vmax=1)
    axes[row, 0].contour(masks[n, 0], levels=[0.5], colors="tab:orange", linewidths=0.6,
                         linestyles="dashed")
    axes[row, 0].set_ylabel(data.SYNTHETIC_CLASSES[ys[n].item()])
    for col, (name, method) in enumerate(METHODS.items(), start=1):
        a = method(cnn, xs[n:n + 1], ys[n:n + 1])[0, 0]
        a = a / a.abs().max().clamp_min(1e-30)  # each map divided by its max |value|
        if name == "Grad-CAM":  # non-negative: a sequential colormap from 0
            unsigned = axes[row, col].imshow(a, cmap="Reds", vmin=0, vmax=1)
        else:
            signed = axes[row, col].imshow(a, cmap="RdBu_r", vmin=-1, vmax=1)
        if row == 0:
            axes[row, col].set_title(name.replace(" × ", " ×\n").replace("ed ", "ed\n"))
    for ax in axes[row]:
        ax.set_xticks([]), ax.set_yticks([])
axes[0, 0].set_title("input, mask dashed")
fig.colorbar(signed, ax=axes[:, 1:-1], orientation="horizontal", fraction=0.04,
             pad=0.02).set_label("map / max |map| (signed methods)")
fig.colorbar(unsigned, ax=axes[:, -1], orientation="horizontal", fraction=0.04,
             pad=0.02).set_label("Grad-CAM / max")
fig.suptitle("One test image per class: maps of the true class's logit")
plt.show()
# %% [markdown]
# ## A Clever Hans, caught
#
# Lapuschkin et al. (2019) found image classifiers that recognised horses by a copyright
# tag in the corner of the training photos: high accuracy, for the wrong reason, and
# invisible in the accuracy. We build the same trap. The **Clever Hans twin** of the
# data set adds a mark in the top-left corner, a 3-pixel line whose direction is set
# by the class. `synthetic_cnn_hans` was trained on it (the same architecture, by
# `tools/train_models.py`). On its own test split, which carries the same shortcut, it
# looks excellent; on the plain images, or on images whose mark points in a random
# direction, it falls apart. The plain model, trained without the mark, does not care.

# %%
hans = models.load_pretrained("synthetic_cnn_hans")
variants = {v: data.load_synthetic("test", n=200, variant=v, masks="all")
            for v in ["hans", "plain", "hans_random"]}
print(f"{'accuracy on 200 test images':30s}{'with the mark':>15s}{'no mark':>10s}"
      f"{'random mark':>13s}")
accuracy = {}
for label, model in [("Clever Hans model", hans), ("plain model", cnn)]:
    accuracy[label] = [models.accuracy(model, v.x, v.y) for v in variants.values()]
    print(f"{label:30s}" + "".join(f"{a:{w}.3f}" for a, w in zip(accuracy[label],
                                                                  [15, 10, 13])))

# %% [markdown]
# Accuracy on a held-out split with the same shortcut says nothing. The maps should:
# we measure the **mass on the mark** (mask mass with the mark's pixels as the mask) for
# every method, on the marked images, for the Clever Hans model and for the plain
# model on *the same* images. The mark is the brightest thing in the image, so the
# model-free controls, which follow brightness, put mass on it too: that is why the
# comparison that decides is between the two models, on the same inputs.

# %%
marked = variants["hans"]
mark_sets = {}
print(f"{'mass on the mark, mean ± sd':30s}{'Clever Hans':>14s}{'plain model':>14s}")
for name, method in METHODS.items():
    on_mark = [mask_mass(maps_by_set(method, [model] * 5, marked.x, marked.y),
                         marked.mark)[sets].mean(1) for model in (hans, cnn)]
    mark_sets[name] = on_mark
    print(f"{name:30s}{cell(on_mark[0]):>14s}{cell(on_mark[1]):>14s}")
mark_controls = {}
for name, a in controls(marked.x, generator=torch.Generator().manual_seed(0)).items():
    mark_controls[name] = mask_mass(a, marked.mark)[sets].mean(1)
    print(f"{name + ' (no model)':30s}{cell(mark_controls[name]):>14s}")
print(f"{'the mark covers':30s}{marked.mark.float().mean().item():14.4f}")

# %% [markdown]
# The mark covers 0.3 % of the image. On the Clever Hans model, Integrated Gradients
# puts 0.14 of its mass there and Input × Gradient 0.09, more than twice as much as
# any map that needs no model (at most 0.04, for $|x|^3$); SmoothGrad and Guided
# Backpropagation put a little more than the controls; the plain gradient and Grad-CAM
# (whose 8 × 8 map is too coarse for a 3-pixel mark) no more than $|x|^3$. On the same
# images, the plain model puts at most 0.01 of any method's mass on the mark: it
# ignores it, as its unchanged accuracy said. The pointing game is no help here: the
# mark is at full brightness, and the brightest pixels tie, so the largest value of a
# map that follows brightness lands on whichever tied pixel comes first.
#
# In practice one does not know where the shortcut is; one looks at the maps of many
# images and asks why mass sits where no class-relevant object is. A corner that
# collects a tenth of the mass from 0.3 % of the pixels is such a place.

# %%
best_mark_control = torch.stack(list(mark_controls.values())).amax(0)  # (5,) per set
for k in range(5):  # on every set
    for name in ["input × gradient", "integrated gradients"]:
        assert mark_sets[name][0][k] > 2 * best_mark_control[k]
    for name in METHODS:  # the plain model does not attend to the mark
        assert mark_sets[name][1][k] < min(0.02, mark_sets[name][0][k])
    for name in ["SmoothGrad", "guided backprop"]:
        assert mark_sets[name][0][k] > best_mark_control[k]
    for name in ["gradient", "Grad-CAM"]:
        assert mark_sets[name][0][k] < best_mark_control[k] + 0.005
assert accuracy["Clever Hans model"][0] > 0.95 > 0.85 > accuracy["Clever Hans model"][1]
assert min(accuracy["plain model"]) > 0.95
# %% [markdown]
# ## A limit: questions a complete attribution cannot answer
#
# Bilodeau, Jaques, Koh & Kim (2024) prove that attribution methods that are **complete**
# (the attributions sum to $S(x) - S(x')$) and **linear** (the attribution of a sum of
# models is the sum of attributions), which includes Integrated Gradients and SHAP, can
# do no better than random guessing on simple end-tasks about a model's *local*
# behaviour, for a rich enough class of models. One of their end-tasks is recourse: which
# way does the prediction move if we nudge feature $i$?
#
# The house-price model `tabular_linear` is the simplest case there is: $S(x) = w^\top x +
# b$ on standardised features. The question "does raising feature $i$ a little raise the
# predicted price?" has the answer $\operatorname{sign}(w_i)$, for every house. Integrated
# Gradients (and SHAP) from the average house $x' = 0$ give $\phi_i = w_i x_i$: complete,
# linear, and exact as a *contribution*. Read as an answer to the question ("a positive
# $\phi_i$ means raising $i$ helps"), it is right exactly when $x_i > 0$, for half of the
# houses: a coin. Two evaluations of the model, $S(x + h e_i) - S(x)$, are always right.

# %%
houses = data.load_tabular("test")
price = models.load_pretrained("tabular_linear")
with torch.no_grad():
    h = 0.1  # a small step, in standard deviations of the feature
    steps = h * torch.eye(len(data.TABULAR_FEATURES))
    moved = price(houses.x[:, None] + steps).squeeze(-1) - price(houses.x)  # (200, 6)
truth = moved > 0  # the answer, by evaluating the model: here sign(w_i) for every house
phi = integrated_gradients(price, houses.x, baseline=0.0, steps=8)
right = ((phi > 0) == truth).float()  # (200 houses, 6 features)
house_sets = torch.arange(200).reshape(5, 40)
above = (houses.x > 0).float()  # x_i above the baseline x'_i = 0
print(f"{'':24s}" + "".join(f"{name[:11]:>12s}" for name in data.TABULAR_FEATURES))
print(f"{'attribution sign right':24s}" + "".join(f"{v:12.2f}" for v in right.mean(0)))
print(f"{'share with x_i > 0':24s}" + "".join(f"{v:12.2f}" for v in above.mean(0)))
per_set = right.mean(1)[house_sets].mean(1)
print(f"all features, mean ± sd over 5 sets of 40 houses: {cell(per_set)} (a coin: 0.50)")

# %%
assert torch.equal(right, above), "right exactly when the house is above the baseline"
assert ((per_set - 0.5).abs() < 0.15).all(), "chance level on every set"

# %% [markdown]
# The attribution's sign is right for exactly the houses that lie above the baseline on
# that feature, about half of them, on every set. Nothing is wrong with Integrated
# Gradients here: $\phi_i = w_i x_i$ is the honest share of the price difference from the
# average house. It answers a *different* question. Bilodeau et al. show that this is
# not a quirk of one model: for complete and linear methods, on rich model classes, the
# local question cannot be answered reliably from the attributions at all, while a
# couple of model evaluations at the point of interest answer it directly. Before
# reading an attribution as an answer, write the question down, and check that the
# method is built to answer it.
# %% [markdown]
# ## Summary
#
# - On data built with an answer key (the upright glyph decides, upside-down distractors
#   of the same brightness do not), score maps by **mask mass**
#   $\sum_{i\in M}|a_i|/\sum_i|a_i|$, the **pointing game** and **relevance rank accuracy**
#   $|\mathrm{top}_K(a)\cap M|/K$, always next to **model-free controls** ($x$, $x^2$,
#   $|x|^3$, edges, random) and the **untrained network**; a difference counts only if it
#   survives both on every set of images.
# - A **Clever Hans** model (Lapuschkin et al. 2019) is invisible in its test accuracy
#   when the test split shares the shortcut; the maps' mass on the shortcut, compared with
#   a model trained without it on the same images, exposes it.
# - **Limits** (Bilodeau et al. 2024): complete, linear attributions answer "how much of
#   $S(x) - S(x')$ is due to $x_i$?", not "what happens if $x_i$ moves?"; for the second,
#   evaluate the model.

# %% [markdown]
# ## Exercises
#
# 1. **A pointing game with tolerance.** Write `pointing_with_tolerance(attributions,
#    mask, radius)` that counts a hit when the map's largest value lies within `radius`
#    pixels (max-norm: a square neighbourhood) of the mask, and a miss when the map has
#    no positive value, as `helpers.metrics.pointing_game` does. (Hint: grow the mask
#    with `torch.nn.functional.max_pool2d(mask.float(), 2 * radius + 1, stride=1,
#    padding=radius)`.)
# 2. **Rank accuracy by hand.** For the map `toy_map` and mask `toy_mask` below,
#    compute the relevance rank accuracy by hand and store it in `toy_rank_accuracy`.
# 3. **The coin, exactly.** For a linear model $S(x) = w^\top x$ with every $w_i \ne 0$ and
#    the baseline $x' = 0$, for which houses is the sign of $\phi_i = w_i x_i$ the right
#    answer to "does raising $x_i$ raise $S$?" Write `sign_right(w, x)` returning the
#    boolean tensor (N, d) of right answers without calling any attribution method, and
#    explain in a comment why no choice of baseline makes it right for all houses.

# %%
toy_map = torch.tensor([[0.9, -2.0, 0.1], [0.4, 0.8, 0.0], [0.3, 0.2, 0.05]])[None, None]
toy_mask = torch.tensor([[True, True, False], [False, False, False],
                         [True, False, False]])[None, None]

# %% tags=["solution"]
def pointing_with_tolerance(attributions, mask, radius):
    grown = torch.nn.functional.max_pool2d(mask.float(), 2 * radius + 1, stride=1,
                                           padding=radius) > 0
    return pointing_game(attributions, grown)


# K = 3 mask pixels; the three largest values are 0.9, 0.8 and 0.4; only 0.9 is in the
# mask (the -2.0 is in the mask but is the smallest value).
toy_rank_accuracy = 1 / 3


def sign_right(w, x):
    # Right exactly when x_i is on the positive side of the baseline: then w_i x_i has
    # the sign of w_i. A baseline x' makes it right when x_i > x'_i; any fixed x' leaves
    # the houses below it (on that feature) with the wrong sign, and moving x' below every
    # house changes the question the attribution answers, not its answer to this one.
    return (x > 0).expand(-1, len(w))


# %%
from helpers.exercises import check_function, check_value

_grow = lambda m, r: torch.nn.functional.max_pool2d(  # noqa: E731
    m.float(), 2 * r + 1, stride=1, padding=r) > 0
check_function("Exercise 1", pointing_with_tolerance,
               lambda a, m, r: pointing_game(a, _grow(m, r)),
               [(xs[:50], masks[:50], 1), (-xs[:20], masks[:20], 2),
                (torch.rand(30, 1, 32, 32, generator=torch.Generator().manual_seed(3)),
                 masks[:30], 0),
                (_grow(masks[:30], 1).float() - masks[:30].float(), masks[:30], 1)])
check_value("Exercise 2", toy_rank_accuracy, relevance_rank_accuracy(toy_map, toy_mask)[0])
_w = torch.tensor([2.0, -1.0, 0.5])
_x = torch.randn(25, 3, generator=torch.Generator().manual_seed(4))
check_function("Exercise 3", sign_right,
               lambda w, x: ((w * x) > 0) == (w > 0).expand_as(x), [(_w, _x)])

# %% [markdown]
# ## References
#
# - L. Arras, A. Osman, W. Samek (2022). *CLEVR-XAI: A Benchmark Dataset for the Ground Truth Evaluation of Neural Network Explanations.* Information Fusion 81.
# - J. Zhang, S. A. Bargal, Z. Lin, J. Brandt, X. Shen, S. Sclaroff (2018). *Top-Down Neural Attention by Excitation Backprop.* International Journal of Computer Vision 126 (first at ECCV 2016).
# - S. Lapuschkin, S. Wäldchen, A. Binder, G. Montavon, W. Samek, K.-R. Müller (2019). *Unmasking Clever Hans Predictors and Assessing What Machines Really Learn.* Nature Communications 10.
# - B. Bilodeau, N. Jaques, P. W. Koh, B. Kim (2024). *Impossibility Theorems for Feature Attribution.* Proceedings of the National Academy of Sciences 121(2).
# - J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim (2018). *Sanity Checks for Saliency Maps.* NeurIPS.
# - J. T. Springenberg, A. Dosovitskiy, T. Brox, M. Riedmiller (2015). *Striving for Simplicity: The All Convolutional Net.* ICLR (workshop track).
# - R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh, D. Batra (2017). *Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization.* ICCV.
# - M. Sundararajan, A. Taly, Q. Yan (2017). *Axiomatic Attribution for Deep Networks.* ICML.
# - S. M. Lundberg, S.-I. Lee (2017). *A Unified Approach to Interpreting Model Predictions.* NeurIPS.
