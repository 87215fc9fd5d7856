"""Text with known per-token truth, two small models and token attributions (chapter 12).

* **Data.** ``make_reviews(n, seed)`` generates short "reviews" over a 44-token
  vocabulary (``VOCAB``): sentiment words with signed valences (``VALENCE``),
  negators (``not``, ``never``) that flip the next sentiment word, intensifiers
  (``very`` x2, ``extremely`` x3) that scale it, and neutral filler. The label is the
  sign of the summed modified valences (ties are never generated) and
  ``true_contributions`` gives every token's contribution by construction.
* **Models.** ``BagOfEmbeddings`` (a sum of token embeddings and a linear readout)
  and ``TinyTransformer`` (2 pre-LayerNorm encoder layers, 4 heads, a mean
  readout), both mapping token ids (N, T) to one logit per review (N,) -- "positive"
  when > 0. ``load_pretrained(name)`` loads the shipped weights after checking their
  SHA-256 (``tools/train_text_models.py`` trains them).
* **Attribution.** Token ids are not continuous, so every method differentiates with
  respect to the word embeddings e_t (the output of ``model.embedding``) and, by
  default, sums the result over the embedding coordinates, one number per token:
  ``gradient``, ``input_x_gradient``, ``integrated_gradients`` (with a token or an
  embedding baseline) and ``conservative_input_x_gradient`` (Ali et al. 2022, ICML);
  attention maps ``raw_attention`` and ``attention_rollout`` (Abnar & Zuidema 2020,
  ACL); ``constant_terms``, the share of the logit carried by the position embeddings
  and the biases; ``agreement``, the scores against the truth.

A model for these helpers is an ``nn.Module`` with an ``embedding`` (``nn.Embedding``)
and a method ``forward_embeddings(e, conservative=False)`` such that
``model(tokens) == model.forward_embeddings(model.embedding(tokens))``. Arguments are
checked as everywhere in the book (``helpers.contract``): a value of the wrong type
raises TypeError, a wrong value ValueError, naming the argument. No helper changes the
caller's model or tensors.

The word list is the book's own (MIT, as the book). Chapter 12.
"""
from __future__ import annotations

import math
import numbers
import re
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from . import data
from .attribution import quadrature
from .contract import check_choice, check_int, check_model, check_target, target_scores
from .metrics import spearman

__all__ = [
    "VOCAB", "PAD", "CLS", "UNK", "MASK", "SPECIAL", "VALENCE", "NEGATORS", "INTENSIFIERS",
    "FILLERS", "MAX_LEN", "SPLITS", "Reviews", "tokenize", "encode", "decode",
    "true_contributions", "make_reviews", "load_reviews", "BagOfEmbeddings",
    "TinyTransformer", "build", "load_pretrained", "accuracy", "embed", "gradient",
    "input_x_gradient", "integrated_gradients", "conservative_input_x_gradient",
    "constant_terms", "attention_maps", "raw_attention", "attention_rollout",
    "Agreement", "agreement",
]

# --- the vocabulary ------------------------------------------------------------------

SPECIAL = ("[PAD]", "[CLS]", "[UNK]", "[MASK]")
PAD, CLS, UNK, MASK = range(4)
VALENCE = {
    "good": 1, "nice": 1, "fine": 1, "fun": 1, "great": 2, "lovely": 2, "enjoyable": 2,
    "superb": 3, "brilliant": 3, "excellent": 3,
    "bad": -1, "dull": -1, "weak": -1, "poor": -1, "boring": -2, "annoying": -2,
    "awful": -3, "terrible": -3, "horrible": -3, "dreadful": -3,
}
NEGATORS = ("not", "never")
INTENSIFIERS = {"very": 2, "extremely": 3}
FILLERS = ("the", "movie", "film", "plot", "acting", "story", "cast", "ending", "was", "is",
           "and", "it", "this", "a", "with", "music")
VOCAB = SPECIAL + tuple(VALENCE) + NEGATORS + tuple(INTENSIFIERS) + FILLERS
INDEX = {word: i for i, word in enumerate(VOCAB)}
MAX_LEN = 16  # [CLS] and at most 15 words
SPLITS = {"train": (0, 20000), "test": (1, 2000)}  # split: (seed, number of reviews)

_VALENCE_OF_ID = np.zeros(len(VOCAB))
for _word, _v in VALENCE.items():
    _VALENCE_OF_ID[INDEX[_word]] = _v
_FACTOR_OF_ID = np.ones(len(VOCAB))
for _word, _m in INTENSIFIERS.items():
    _FACTOR_OF_ID[INDEX[_word]] = _m
_IS_NEGATOR = np.isin(np.arange(len(VOCAB)), [INDEX[w] for w in NEGATORS])
_IS_INTENSIFIER = _FACTOR_OF_ID != 1


def tokenize(text):
    """Lower-case words of ``text`` (punctuation dropped), e.g. 'Not good!' -> ['not', 'good']. Used in chapter 12."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return re.findall(r"\[[a-z]+\]|[a-z]+", text.lower().replace("[", " [").replace("]", "] "))


def encode(texts, length=MAX_LEN):
    """Token ids (N, length) int64: [CLS], the words (unknown ones as [UNK]), [PAD]s.

    ``texts`` is a str or a list of str. Special tokens may be written as '[MASK]'.
    Used in chapter 12.
    """
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)) or not texts:
        raise TypeError(f"texts must be a str or a non-empty list of str, got {type(texts).__name__}")
    length = check_int(length, "length", minimum=2)
    ids = torch.full((len(texts), length), PAD, dtype=torch.int64)
    for n, text in enumerate(texts):
        words = tokenize(text)
        if len(words) > length - 1:
            raise ValueError(f"texts[{n}] has {len(words)} words; at most {length - 1} fit (length={length})")
        ids[n, 0] = CLS
        ids[n, 1:1 + len(words)] = torch.tensor([INDEX.get(w.upper() if w.startswith("[") else w, UNK)
                                                 for w in words], dtype=torch.int64)
    return ids


def decode(tokens):
    """The words of one review's ids, without [CLS] and [PAD]. Used in chapter 12."""
    return [VOCAB[i] for i in _check_tokens(tokens).reshape(-1).tolist() if i not in (PAD, CLS)]


def _check_tokens(tokens, name="tokens"):
    """Token ids: an integer tensor with values in the vocabulary."""
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(tokens).__name__}")
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of token ids, got dtype {tokens.dtype}")
    if tokens.numel() and (tokens.min() < 0 or tokens.max() >= len(VOCAB)):
        raise ValueError(f"{name} must be ids in [0, {len(VOCAB) - 1}] (the vocabulary), got values in "
                         f"[{int(tokens.min())}, {int(tokens.max())}]")
    return tokens.long()


def _check_batch(tokens, name="tokens"):
    tokens = _check_tokens(tokens, name)
    if tokens.ndim != 2 or len(tokens) < 1 or tokens.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, T) with N >= 1, got {tuple(tokens.shape)}")
    return tokens


# --- the truth -----------------------------------------------------------------------

def true_contributions(tokens):
    """Each token's true contribution to the review's sentiment (N, T) float64.

    For a sentiment word w with valence v, an optional intensifier with factor m just
    before it and an optional negator before those (``not very good``), the phrase is
    worth s*m*v (s = -1 if negated, else 1), split in the order word, negator,
    intensifier:

        word: v        negator: -2 v        intensifier: (m - 1) s v

    so the three add up to s*m*v, the negator carries the change it causes to the
    word ("not good": good +1, not -2) and the intensifier carries the amplification
    of the phrase's final direction. Filler, special tokens and a negator or
    intensifier with no sentiment word after it contribute 0. The review's total is the
    sum over its tokens; the label is its sign.
    Used in chapter 12.
    """
    ids = _check_tokens(tokens).numpy()
    flat = ids.reshape(-1, ids.shape[-1]) if ids.ndim else ids.reshape(1, 1)
    valence = _VALENCE_OF_ID[flat]
    word = valence != 0
    before = np.pad(flat, ((0, 0), (1, 0)), constant_values=PAD)[:, :-1]     # token t-1
    before2 = np.pad(flat, ((0, 0), (2, 0)), constant_values=PAD)[:, :-2]    # token t-2
    intensified = word & _IS_INTENSIFIER[before]
    negated = word & np.where(intensified, _IS_NEGATOR[before2], _IS_NEGATOR[before])
    sign = np.where(negated, -1.0, 1.0)
    out = valence.copy()                                                     # the words: v
    # A negator or intensifier belongs to one word only, so no position gets two terms.
    out[:, :-1] += np.where((negated & ~intensified)[:, 1:], -2 * valence[:, 1:], 0.0)
    out[:, :-2] += np.where((negated & intensified)[:, 2:], -2 * valence[:, 2:], 0.0)
    boost = (_FACTOR_OF_ID[before] - 1) * sign * valence
    out[:, :-1] += np.where(intensified[:, 1:], boost[:, 1:], 0.0)
    return torch.from_numpy(out.reshape(ids.shape))


class Reviews(NamedTuple):
    """Generated reviews: ids ``tokens`` (N, MAX_LEN) int64, ``label`` (N,) int64 (1 =
    positive), ``truth`` (N, MAX_LEN) float64 from ``true_contributions``."""

    tokens: torch.Tensor
    label: torch.Tensor
    truth: torch.Tensor


_PHRASE_P = (0.5, 0.25, 0.15, 0.1)  # w, very w, not w, not very w


def _draw(rng, n):
    """Token ids (n, MAX_LEN) of n reviews, every random number drawn as an array."""
    n_phrases = rng.integers(1, 4, size=n)
    kinds = rng.choice(4, p=_PHRASE_P, size=(n, 3))
    words = 4 + rng.integers(len(VALENCE), size=(n, 3))
    intensifier = np.array([INDEX[w] for w in INTENSIFIERS])[rng.integers(len(INTENSIFIERS), size=(n, 3))]
    negator = np.array([INDEX[w] for w in NEGATORS])[rng.integers(len(NEGATORS), size=(n, 3))]
    negated, intensified = kinds >= 2, kinds % 2 == 1
    used = ((1 + negated + intensified) * (np.arange(3) < n_phrases[:, None])).sum(1)
    n_fill = rng.integers(np.maximum(1, 4 - used), MAX_LEN - used)  # >= 1 filler, 4-15 words
    fillers = np.array([INDEX[w] for w in FILLERS])[rng.integers(len(FILLERS), size=(n, MAX_LEN - 2))]
    order = rng.random((n, 3 + MAX_LEN - 2)).argsort(1)  # the order of phrases and fillers
    tokens = np.full((n, MAX_LEN), PAD, dtype=np.int64)
    tokens[:, 0] = CLS
    for i in range(n):
        pieces = [[*([negator[i, k]] if negated[i, k] else []),
                   *([intensifier[i, k]] if intensified[i, k] else []), words[i, k]]
                  for k in range(n_phrases[i])]
        pieces += [[f] for f in fillers[i, :n_fill[i]]]
        row = [w for k in order[i] if k < len(pieces) for w in pieces[k]]
        tokens[i, 1:1 + len(row)] = row
    return tokens


def make_reviews(n, seed):
    """``n`` reviews generated from ``seed`` (numpy's PCG64: the same on every machine).

    Each review has 1-3 sentiment phrases (``w``, ``very w``, ``not w``, ``not very
    w`` with probabilities 0.5, 0.25, 0.15, 0.1; negators, intensifiers and words drawn
    uniformly), at least one filler word, 4-15 words in all, in random order. Reviews
    whose total is 0 are drawn again (from the same stream), so the label (sign of the
    total) has no ties. Returns ``Reviews(tokens, label, truth)``.
    Used in chapter 12.
    """
    n = check_int(n, "n")
    seed = check_int(seed, "seed", minimum=0)
    rng = np.random.Generator(np.random.PCG64(seed))
    tokens = _draw(rng, n)
    total = true_contributions(torch.from_numpy(tokens)).sum(1).numpy()
    while (total == 0).any():
        redo = np.flatnonzero(total == 0)
        tokens[redo] = _draw(rng, len(redo))
        total = true_contributions(torch.from_numpy(tokens)).sum(1).numpy()
    tokens = torch.from_numpy(tokens)
    truth = true_contributions(tokens)
    return Reviews(tokens, (truth.sum(1) > 0).long(), truth)


def load_reviews(split="test"):
    """The training (20000 reviews, seed 0) or test split (2000 reviews, seed 1). Used in chapter 12."""
    check_choice(split, "split", tuple(SPLITS))
    return make_reviews(SPLITS[split][1], SPLITS[split][0])


# --- the models ----------------------------------------------------------------------

class BagOfEmbeddings(nn.Module):
    """logit = b + sum_t w . e_t: a linear model of the summed token embeddings.

    [PAD]'s embedding is the zero vector (``padding_idx``), so padding adds nothing.
    Embedding-level Input x Gradient is exactly each token's term w . e_t.
    """

    def __init__(self, dim=8):
        super().__init__()
        self.embedding = nn.Embedding(len(VOCAB), dim, padding_idx=PAD)
        self.readout = nn.Linear(dim, 1)

    def forward_embeddings(self, e, conservative=False):  # linear: nothing to detach
        return self.readout(e.sum(1)).squeeze(1)

    def forward(self, tokens):
        return self.forward_embeddings(self.embedding(tokens))


class LayerNorm(nn.Module):
    """(x - mean(x)) / sqrt(var(x) + eps) * gamma + beta over the last dimension.

    With ``conservative=True`` the denominator is detached (a constant for the
    backward pass), the LayerNorm rule of Ali et al. 2022 (ICML)."""

    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x, conservative=False):
        centred = x - x.mean(-1, keepdim=True)
        std = (centred.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()
        if conservative:
            std = std.detach()
        return centred / std * self.weight + self.bias


class SelfAttention(nn.Module):
    """Multi-head self-attention; returns the output and the probabilities (N, H, T, T).

    With ``conservative=True`` the probabilities are detached (the attention-head
    rule of Ali et al. 2022, ICML): the output is then linear in the values."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x, conservative=False):
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        used = probs.detach() if conservative else probs
        mixed = (used @ v).transpose(1, 2).reshape(n, t, d)
        return self.out(mixed), probs


class Block(nn.Module):
    """x + Attention(LN(x)), then x + FFN(LN(x)) with a ReLU feed-forward network."""

    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1, self.attention = LayerNorm(dim), SelfAttention(dim, heads)
        self.norm2 = LayerNorm(dim)
        self.ff1, self.ff2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x, conservative=False):
        mixed, probs = self.attention(self.norm1(x, conservative), conservative)
        x = x + mixed
        x = x + self.ff2(torch.relu(self.ff1(self.norm2(x, conservative))))
        return x, probs


class TinyTransformer(nn.Module):
    """A 2-layer pre-LayerNorm transformer encoder with a mean readout.

    e_t = embedding(token_t); h_0 = e + p (learned position embeddings p_t); two
    blocks (4 heads, model width 32, ReLU feed-forward width 64); logit =
    w . mean_t LN(h_2)_t + b over all 16 positions. No dropout and no attention mask:
    [PAD] is an ordinary token.
    ``forward_embeddings(e, conservative=True)`` detaches attention probabilities and
    LayerNorm denominators (Ali et al. 2022); ``return_attention=True`` also returns
    the attention probabilities, (N, layers, heads, T, T).
    Used in chapter 12.
    """

    def __init__(self, dim=32, heads=4, layers=2, hidden=64):
        super().__init__()
        self.embedding = nn.Embedding(len(VOCAB), dim)
        self.position = nn.Embedding(MAX_LEN, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, hidden) for _ in range(layers))
        self.norm = LayerNorm(dim)
        self.readout = nn.Linear(dim, 1)

    def forward_embeddings(self, e, conservative=False, return_attention=False):
        h = e + self.position.weight[:e.shape[1]]
        maps = []
        for block in self.blocks:
            h, probs = block(h, conservative)
            maps.append(probs)
        logit = self.readout(self.norm(h, conservative).mean(1)).squeeze(1)
        return (logit, torch.stack(maps, 1)) if return_attention else logit

    def forward(self, tokens):
        return self.forward_embeddings(self.embedding(tokens))


PRETRAINED = {"text_bag": BagOfEmbeddings, "text_transformer": TinyTransformer}


def build(name):
    """A freshly initialised (untrained) ``text_bag`` or ``text_transformer``."""
    check_choice(name, "name", tuple(PRETRAINED))
    return PRETRAINED[name]()


def load_pretrained(name):
    """The shipped model ``name`` in eval mode; its weights file's SHA-256 is checked
    (``helpers.data.verified_path``) and read with ``torch.load(weights_only=True)``.
    Used in chapter 12.
    """
    model = build(name)
    path = data.verified_path(f"models/{name}.pt")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


@torch.no_grad()
def accuracy(model, reviews):
    """Share of reviews whose logit has the label's sign (logit > 0 <=> positive). Used in chapter 12."""
    return ((model(reviews.tokens) > 0).long() == reviews.label).double().mean().item()


# --- attribution on embeddings -------------------------------------------------------

REDUCTIONS = ("sum", "norm", "none")


def _check_text_model(model):
    check_model(model)
    if not isinstance(getattr(model, "embedding", None), nn.Embedding) or not callable(
            getattr(model, "forward_embeddings", None)):
        raise TypeError("model must have an nn.Embedding `embedding` and a method "
                        f"`forward_embeddings(e, conservative=False)`, got {type(model).__name__}")


def embed(model, tokens):
    """The word embeddings e = model.embedding(tokens), (N, T, d), detached."""
    _check_text_model(model)
    with torch.no_grad():
        return model.embedding(_check_batch(tokens))


def _reduce(per_coordinate, reduce):
    """(N, T, d) -> per token: the sum over coordinates, the L2 norm, or unchanged."""
    check_choice(reduce, "reduce", REDUCTIONS)
    if reduce == "sum":
        return per_coordinate.sum(-1)
    if reduce == "norm":
        return per_coordinate.norm(dim=-1)
    return per_coordinate


def _embedding_gradients(model, e, target, conservative=False):
    """dS/de at the embeddings e (N, T, d); the caller's parameters' .grad untouched."""
    leaf = e.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        scores = target_scores(lambda z: model.forward_embeddings(z, conservative=conservative),
                               leaf, target)
        (grad,) = torch.autograd.grad(scores.sum(), leaf)
    return grad


def _prepare(model, tokens, target):
    _check_text_model(model)
    tokens = _check_batch(tokens)
    with torch.no_grad():
        e = model.embedding(tokens)
    return tokens, check_target(target, len(tokens)), e


def gradient(model, tokens, target=None, *, reduce="norm"):
    """The gradient dS/de_t of the score with respect to each token's embedding.

    Per token (``reduce``): its L2 norm ||dS/de_t|| (default, the usual "saliency"
    for text, Li et al. 2016, NAACL), the coordinate sum, or the (N, T, d) gradient.
    Used in chapter 12.
    """
    tokens, target, e = _prepare(model, tokens, target)
    return _reduce(_embedding_gradients(model, e, target), reduce)


def input_x_gradient(model, tokens, target=None, *, reduce="sum"):
    """Input x Gradient on embeddings: sum_k e_tk dS/de_tk, one number per token.

    Shrikumar et al. 2016 (arXiv:1605.01713), applied to the embedding layer. For the
    bag of embeddings it is exactly the token's term w . e_t. ``reduce="norm"``
    gives ||e_t * dS/de_t|| (unsigned, not additive), ``"none"`` the (N, T, d) map.
    Used in chapter 12.
    """
    tokens, target, e = _prepare(model, tokens, target)
    return _reduce(e * _embedding_gradients(model, e, target), reduce)


def conservative_input_x_gradient(model, tokens, target=None, *, reduce="sum"):
    """Gradient x Input with attention probabilities and LayerNorm denominators
    treated as constants in the backward pass (``forward_embeddings(e,
    conservative=True)``): the AH and LN rules of Ali, Schnake, Eberle, Montavon,
    Müller & Wolf 2022, "XAI for Transformers: Better Explanations through
    Conservative Propagation" (ICML), in their Gradient x Input form.

    The forward value is unchanged; with those factors frozen the network is
    positively homogeneous of degree 1 in (embeddings, position embeddings, biases),
    so (Euler) the token attributions plus ``constant_terms(..., conservative=True)``
    sum exactly to the score.
    Used in chapter 12.
    """
    tokens, target, e = _prepare(model, tokens, target)
    return _reduce(e * _embedding_gradients(model, e, target, conservative=True), reduce)


def _baseline_embeddings(model, tokens, e, baseline):
    """The reference embeddings e' (N, T, d) for ``integrated_gradients``."""
    if isinstance(baseline, bool):
        raise TypeError("baseline must be a token id (int), a tensor of token ids or of embeddings, got bool")
    if isinstance(baseline, numbers.Integral):
        ids = _check_tokens(torch.tensor(int(baseline)), "baseline")
        words = (tokens != CLS) & (tokens != PAD)
        ref = torch.where(words, ids, tokens)
        with torch.no_grad():
            return model.embedding(ref)
    if not isinstance(baseline, torch.Tensor):
        raise TypeError("baseline must be a token id (int), a tensor of token ids or of embeddings, "
                        f"got {type(baseline).__name__}")
    if baseline.is_floating_point():
        if baseline.shape not in (e.shape, e.shape[1:]):
            raise ValueError(f"baseline embeddings must have shape {tuple(e.shape)} or "
                             f"{tuple(e.shape[1:])}, got {tuple(baseline.shape)}")
        return baseline.detach().to(e.dtype).expand_as(e)
    ids = _check_tokens(baseline, "baseline")
    if ids.shape not in (tokens.shape, tokens.shape[1:]):
        raise ValueError(f"baseline token ids must have shape {tuple(tokens.shape)} or "
                         f"{tuple(tokens.shape[1:])}, got {tuple(ids.shape)}")
    with torch.no_grad():
        return model.embedding(ids.expand_as(tokens))


def integrated_gradients(model, tokens, target=None, *, baseline, steps=32, rule="gausslegendre",
                         reduce="sum"):
    """Integrated Gradients on embeddings:
    (e - e') * sum_k w_k dS/de(e' + a_k (e - e')), summed per token.

    Sundararajan, Taly & Yan 2017 (ICML); quadrature nodes a_k, weights w_k from
    ``helpers.attribution.quadrature(steps, rule)``. ``baseline`` e' is

    * a token id (int), e.g. ``MASK``: that token at every word position, [CLS] and
      [PAD] kept (so they get exactly 0);
    * token ids of shape (N, T) or (T,);
    * embeddings of shape (N, T, d) or (T, d), e.g. zeros.

    Completeness: the sum over tokens approaches S(e) - S(e') as ``steps`` grows.
    Captum's ``LayerIntegratedGradients`` on ``model.embedding`` computes the same.
    Used in chapter 12.
    """
    tokens, target, e = _prepare(model, tokens, target)
    reference = _baseline_embeddings(model, tokens, e, baseline)
    alphas, weights = quadrature(steps, rule)
    n = len(e)
    path = reference + alphas.to(e.dtype).view(-1, 1, 1, 1) * (e - reference)   # (K, N, T, d)
    repeated = target.repeat(len(alphas)) if isinstance(target, torch.Tensor) else target
    grads = _embedding_gradients(model, path.reshape(-1, *e.shape[1:]), repeated)
    average = (weights.to(e.dtype).view(-1, 1, 1, 1) * grads.view(len(alphas), n, *e.shape[1:])).sum(0)
    return _reduce((e - reference) * average, reduce)


def _constants(model):
    """The additive constants of the model: position embeddings and every bias."""
    named = dict(model.named_parameters())
    return [p for name, p in named.items() if name.endswith("bias") or name.startswith("position")]


def constant_terms(model, tokens, target=None, *, conservative=True):
    """sum_c c * dS/dc over the position embeddings and all biases c, (N,).

    With ``conservative=True`` this is the share of the score that Gradient x Input on
    the embeddings cannot give to any token: for the transformer with attention
    probabilities and LayerNorm denominators frozen, the score is positively
    homogeneous of degree 1 in (e, p, biases), so by Euler's theorem

        S = sum_t sum_k e_tk dS/de_tk + constant_terms(model, tokens)   (exactly).

    With ``conservative=False`` (the true gradient) the same sum leaves a gap: the
    conservation that LayerNorm and attention break (chapter 12). For the bag of
    embeddings it is the readout bias b.
    Used in chapter 12.
    """
    tokens, target, e = _prepare(model, tokens, target)
    constants = _constants(model)
    total = torch.zeros(len(tokens), dtype=e.dtype)
    with torch.enable_grad():
        # One backward pass per review: each review's score has its own constant share,
        # while the parameters are shared by the batch.
        for n in range(len(tokens)):
            score = target_scores(lambda z: model.forward_embeddings(z, conservative=conservative),
                                  e[n:n + 1], None if target is None else
                                  (target[n:n + 1] if isinstance(target, torch.Tensor) else target))
            grads = torch.autograd.grad(score.sum(), constants, allow_unused=True)
            total[n] = sum((c * g).sum() for c, g in zip(constants, grads) if g is not None).detach()
    return total


# --- attention -----------------------------------------------------------------------

def attention_maps(model, tokens):
    """The attention probabilities of every layer and head, (N, layers, heads, T, T)."""
    _check_text_model(model)
    tokens = _check_batch(tokens)
    if not isinstance(model, TinyTransformer):
        raise TypeError(f"model must be a TinyTransformer (it has attention), got {type(model).__name__}")
    with torch.no_grad():
        return model.forward_embeddings(model.embedding(tokens), return_attention=True)[1]


def raw_attention(model, tokens):
    """The attention each token receives in the last layer, (N, T): the attention
    probabilities averaged over heads and over the attending positions (the mean readout
    reads every position).

    Non-negative and summing to 1 per review: a distribution, not a signed score
    (Jain & Wallace 2019, NAACL; Wiegreffe & Pinter 2019, EMNLP).
    Used in chapter 12.
    """
    return attention_maps(model, tokens)[:, -1].mean(1).mean(1)


def attention_rollout(model, tokens):
    """Attention rollout (Abnar & Zuidema 2020, ACL), (N, T).

    Per layer l the head-averaged attention with the residual added, A_l' = (A_l + I)/2
    (rows still sum to 1); the rollout is the product A_L' ... A_1'. Its rows are
    averaged over the positions, as the mean readout averages them (for a [CLS]
    readout one would take the [CLS] row).
    Used in chapter 12.
    """
    maps = attention_maps(model, tokens).mean(2)   # (N, L, T, T)
    eye = torch.eye(maps.shape[-1], dtype=maps.dtype)
    rolled = eye.expand(len(maps), -1, -1)
    for layer in range(maps.shape[1]):
        rolled = (0.5 * maps[:, layer] + 0.5 * eye) @ rolled
    return rolled.mean(1)


# --- scores against the truth --------------------------------------------------------

class Agreement(NamedTuple):
    """Per review (N,): Spearman rank correlation of the attributions with the truth
    (``rank``), of their magnitudes with the truth's magnitudes (``magnitude``), and the
    share of tokens with a non-zero truth whose attribution has the truth's sign
    (``sign``). Only word positions count ([CLS] and [PAD] are left out).
    Used in chapter 12.
    """

    rank: torch.Tensor
    magnitude: torch.Tensor
    sign: torch.Tensor


def agreement(attributions, truth, tokens):
    """Scores of per-token attributions (N, T) against ``true_contributions`` (N, T). Used in chapter 12."""
    tokens = _check_batch(tokens)
    for name, value in (("attributions", attributions), ("truth", truth)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if value.shape != tokens.shape:
            raise ValueError(f"{name} must have the shape of tokens {tuple(tokens.shape)}, "
                             f"got {tuple(value.shape)}")
    a, truth = attributions.detach().double(), truth.detach().double()
    lengths = ((tokens != PAD) & (tokens != CLS)).sum(1)
    rank = torch.full((len(tokens),), float("nan"), dtype=torch.float64)
    magnitude = rank.clone()
    for length in lengths.unique().tolist():  # reviews of one length are ranked as a batch
        rows = torch.nonzero(lengths == length).flatten()
        if length >= 2:
            words_a, words_t = a[rows, 1:1 + length], truth[rows, 1:1 + length]
            rank[rows] = spearman(words_a, words_t)
            magnitude[rows] = spearman(words_a.abs(), words_t.abs())
    decided = truth != 0
    hits = ((torch.sign(a) == torch.sign(truth)) & decided).sum(1)
    sign = hits.double() / decided.sum(1).double()
    return Agreement(rank, magnitude, sign)
