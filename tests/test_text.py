"""helpers.text: the generated reviews and their truth, the two models, token attributions.

References: Captum's LayerIntegratedGradients and LayerGradientXActivation on the
embedding layer; exactness on the bag of embeddings; conservation (Euler's theorem) of
the conservative variant of Ali et al. 2022 on the transformer, in float64.
"""
import copy
import hashlib

import pytest
import torch
from captum.attr import LayerGradientXActivation, LayerIntegratedGradients

from helpers import text


@pytest.fixture(scope="module")
def reviews():
    return text.make_reviews(64, seed=5)


@pytest.fixture(scope="module")
def transformer():
    return text.load_pretrained("text_transformer")


@pytest.fixture(scope="module")
def bag():
    return text.load_pretrained("text_bag")


def untrained_transformer64(seed=0):
    torch.manual_seed(seed)
    return text.TinyTransformer().double().eval()


# --- data -----------------------------------------------------------------------------

def test_reviews_are_pinned():
    test = text.load_reviews("test")
    digest = hashlib.sha256(test.tokens.numpy().tobytes()).hexdigest()
    assert digest == "ca03ebf9370afacd55d1d9480785c66e9f1577ed7c66112cbeaa258d10dd40f1"


def test_truth_rules_on_hand_made_reviews():
    tokens = text.encode(["not good", "not very good", "very bad movie", "never extremely awful",
                          "good not", "very the good", "not the bad"])
    truth = text.true_contributions(tokens)[:, 1:4].tolist()
    assert truth[0] == [-2, 1, 0]                 # not flips good: the change -2
    assert truth[1] == [-2, -1, 1]                # not -2v, very (m-1)*s*v = -1, good +1
    assert truth[2] == [1 * -1, -1, 0]            # very adds (2-1)*(-1)
    assert truth[3] == [6, 6, -3]                 # never +6, extremely (3-1)*(-1)*(-3) = 6
    assert truth[4] == [1, 0, 0]                  # a negator after the word does nothing
    assert truth[5] == [0, 0, 1]                  # a filler between: no intensifier
    assert truth[6] == [0, 0, -1]                 # nor negation
    # the phrase totals are s * m * v
    assert [sum(row) for row in truth[:4]] == [-1, -2, -2, 9]


def test_reviews_have_labels_from_the_sign_and_no_ties(reviews):
    total = reviews.truth.sum(1)
    assert (total != 0).all()
    assert torch.equal(reviews.label, (total > 0).long())
    torch.testing.assert_close(reviews.truth, text.true_contributions(reviews.tokens))
    assert (reviews.tokens[:, 0] == text.CLS).all()
    words = (reviews.tokens != text.PAD).sum(1) - 1
    assert words.min() >= 4 and words.max() <= text.MAX_LEN - 1
    # special tokens carry no contribution, nor does filler
    fillers = torch.isin(reviews.tokens, torch.tensor([text.INDEX[w] for w in text.FILLERS]))
    assert (reviews.truth[fillers | (reviews.tokens < 4)] == 0).all()


def test_same_seed_same_reviews_other_seed_other_reviews():
    a, b, c = text.make_reviews(30, 7), text.make_reviews(30, 7), text.make_reviews(30, 8)
    assert torch.equal(a.tokens, b.tokens) and not torch.equal(a.tokens, c.tokens)


def test_encode_decode_round_trip():
    tokens = text.encode(["Not a very GOOD movie!", "great [MASK] zebra"])
    assert text.decode(tokens[0]) == ["not", "a", "very", "good", "movie"]
    assert text.decode(tokens[1]) == ["great", "[MASK]", "[UNK]"]
    with pytest.raises(ValueError, match="at most 15"):
        text.encode(" ".join(["good"] * 16))


# --- models -----------------------------------------------------------------------

def test_models_are_accurate(bag, transformer):
    test = text.load_reviews("test")
    assert text.accuracy(transformer, test) >= 0.98
    assert 0.7 < text.accuracy(bag, test) < text.accuracy(transformer, test)
    assert not transformer.training and not bag.training


def test_transformer_is_not_confident_without_evidence(transformer):
    neutral = text.encode(["the movie was the film", "it is a story with music"])
    blank = text.encode([""])
    with torch.no_grad():
        assert transformer(neutral).abs().max() < 1.0
        assert transformer(blank).abs().max() < 2.0


def test_forward_embeddings_is_forward(transformer, reviews):
    with torch.no_grad():
        e = transformer.embedding(reviews.tokens)
        torch.testing.assert_close(transformer.forward_embeddings(e), transformer(reviews.tokens))
        # conservative mode changes the backward pass only
        torch.testing.assert_close(transformer.forward_embeddings(e, conservative=True),
                                   transformer(reviews.tokens))


# --- attributions against references ---------------------------------------------

@pytest.mark.parametrize("baseline", [text.MASK, text.PAD])
def test_integrated_gradients_matches_captum(transformer, reviews, baseline):
    tokens = reviews.tokens[:8]
    ours = text.integrated_gradients(transformer, tokens, baseline=baseline, steps=24)
    reference_ids = torch.where((tokens == text.CLS) | (tokens == text.PAD), tokens,
                                torch.full_like(tokens, baseline))
    captum = LayerIntegratedGradients(transformer, transformer.embedding).attribute(
        tokens, baselines=reference_ids, n_steps=24, method="gausslegendre").sum(-1)
    torch.testing.assert_close(ours, captum, atol=1e-5, rtol=1e-4)


def test_integrated_gradients_token_ids_and_embedding_baselines_agree(transformer, reviews):
    tokens = reviews.tokens[:4]
    ids = torch.where(tokens > text.MASK, text.UNK, tokens)
    by_id = text.integrated_gradients(transformer, tokens, baseline=text.UNK, steps=8)
    by_ids = text.integrated_gradients(transformer, tokens, baseline=ids, steps=8)
    by_embeddings = text.integrated_gradients(transformer, tokens, steps=8,
                                              baseline=transformer.embedding(ids).detach())
    torch.testing.assert_close(by_id, by_ids)
    torch.testing.assert_close(by_id, by_embeddings)


def test_integrated_gradients_completeness():
    # Exact for the linear bag of embeddings (a constant gradient): IG = (e - e') . w
    bag = text.BagOfEmbeddings().double().eval()
    tokens = text.make_reviews(6, 3).tokens
    reference = torch.where(tokens > text.MASK, text.MASK, tokens)
    ig = text.integrated_gradients(bag, tokens, baseline=text.MASK, steps=3)
    w = bag.readout.weight[0]
    torch.testing.assert_close(ig, ((bag.embedding(tokens) - bag.embedding(reference)) @ w).detach())
    # For the transformer the quadrature error shrinks with the steps (ReLU kinks and
    # softmax make the integrand only piecewise smooth)
    model = untrained_transformer64()
    with torch.no_grad():
        change = model(tokens) - model(reference)
    gaps = [(text.integrated_gradients(model, tokens, baseline=text.MASK, steps=steps).sum(1)
             - change).abs().max().item() for steps in (8, 512)]
    assert gaps[1] < 1e-3 and gaps[1] < gaps[0] / 10


def test_input_x_gradient_matches_captum(transformer, reviews):
    ours = text.input_x_gradient(transformer, reviews.tokens)
    captum = LayerGradientXActivation(transformer, transformer.embedding).attribute(reviews.tokens).sum(-1)
    torch.testing.assert_close(ours, captum)


def test_gradient_matches_finite_differences():
    model = untrained_transformer64(1)
    tokens = text.make_reviews(2, 4).tokens
    grad = text.gradient(model, tokens, reduce="none")
    e = model.embedding(tokens).detach()
    h = 1e-6
    for t, k in [(1, 0), (2, 5), (0, 31)]:
        step = torch.zeros_like(e)
        step[:, t, k] = h
        with torch.no_grad():
            fd = (model.forward_embeddings(e + step) - model.forward_embeddings(e - step)) / (2 * h)
        torch.testing.assert_close(grad[:, t, k], fd, atol=1e-7, rtol=1e-5)
    torch.testing.assert_close(text.gradient(model, tokens), grad.norm(dim=-1))


def test_input_x_gradient_is_exact_on_the_bag_of_embeddings(bag, reviews):
    model = copy.deepcopy(bag).double()
    ixg = text.input_x_gradient(model, reviews.tokens)
    w = model.readout.weight[0]
    terms = (model.embedding(reviews.tokens) @ w).detach()   # each token's term w . e_t
    torch.testing.assert_close(ixg, terms, atol=1e-12, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(ixg.sum(1) + model.readout.bias, model(reviews.tokens))
    assert (ixg[reviews.tokens == text.PAD] == 0).all()
    # nothing to detach in a linear model: the conservative variant is the same
    torch.testing.assert_close(text.conservative_input_x_gradient(model, reviews.tokens), ixg)
    torch.testing.assert_close(text.constant_terms(model, reviews.tokens[:5]),
                               model.readout.bias.detach().expand(5))


def test_conservative_variant_conserves_the_logit(transformer, reviews):
    model = copy.deepcopy(transformer).double()
    tokens = reviews.tokens[:16]
    relevance = text.conservative_input_x_gradient(model, tokens)
    constants = text.constant_terms(model, tokens, conservative=True)
    with torch.no_grad():
        logit = model(tokens)
    # Euler: S = sum over tokens of e . dS/de + sum over position embeddings and biases
    gap = (relevance.sum(1) + constants - logit).abs().max().item()
    assert gap < 1e-5
    # ... which the true gradient does not satisfy (LayerNorm and softmax are not linear)
    plain = text.input_x_gradient(model, tokens).sum(1) + text.constant_terms(model, tokens, conservative=False)
    assert (plain - logit).abs().max().item() > 100 * max(gap, 1e-12)


def test_conservative_variant_on_an_untrained_network():
    model = untrained_transformer64(2)
    tokens = text.make_reviews(5, 9).tokens
    gap = (text.conservative_input_x_gradient(model, tokens).sum(1)
           + text.constant_terms(model, tokens) - model(tokens).detach())
    assert gap.abs().max() < 1e-10


def test_attention_rollout_and_raw_attention(transformer, reviews):
    raw = text.raw_attention(transformer, reviews.tokens)
    rollout = text.attention_rollout(transformer, reviews.tokens)
    maps = text.attention_maps(transformer, reviews.tokens)
    assert maps.shape == (64, 2, 4, text.MAX_LEN, text.MAX_LEN)
    for a in (raw, rollout):
        assert (a >= 0).all()
        torch.testing.assert_close(a.sum(1), torch.ones(64))
    torch.testing.assert_close(raw, maps[:, -1].mean(1).mean(1))
    # by hand for two layers: ((A2 + I)/2) ((A1 + I)/2), rows averaged (the mean readout)
    eye = torch.eye(text.MAX_LEN)
    a1, a2 = maps[:, 0].mean(1), maps[:, 1].mean(1)
    torch.testing.assert_close(rollout, (((a2 + eye) / 2) @ ((a1 + eye) / 2)).mean(1))


def test_agreement_scores():
    tokens = text.encode(["not good the movie", "bad bad film a"])
    truth = text.true_contributions(tokens)
    perfect = text.agreement(truth, truth, tokens)
    assert torch.allclose(perfect.rank, torch.ones(2, dtype=torch.float64))
    assert torch.allclose(perfect.sign, torch.ones(2, dtype=torch.float64))
    flipped = text.agreement(-truth, truth, tokens)
    assert torch.allclose(flipped.rank, -torch.ones(2, dtype=torch.float64))
    assert torch.allclose(flipped.magnitude, torch.ones(2, dtype=torch.float64))
    assert (flipped.sign == 0).all()
    # [CLS] and [PAD] are not scored: changing them changes nothing
    noisy = truth.clone()
    noisy[:, 0] = 5.0
    noisy[:, -1] = -3.0
    assert torch.equal(text.agreement(noisy, truth, tokens).rank, perfect.rank)


# --- contract: bad inputs and untouched arguments ------------------------------------

def test_bad_token_ids(transformer):
    good = text.encode(["good movie"])
    with pytest.raises(TypeError, match="tokens must be an integer tensor"):
        text.input_x_gradient(transformer, good.float())
    with pytest.raises(TypeError, match="tokens must be a torch.Tensor"):
        text.input_x_gradient(transformer, [[1, 4]])
    with pytest.raises(ValueError, match=r"tokens must be ids in \[0, 43\]"):
        text.input_x_gradient(transformer, good + 100)
    with pytest.raises(ValueError, match=r"tokens must be ids"):
        text.gradient(transformer, good - 5)
    with pytest.raises(ValueError, match=r"tokens must have shape \(N, T\)"):
        text.gradient(transformer, good[0])


def test_bad_baselines(transformer):
    tokens = text.encode(["good movie", "bad film"])
    with pytest.raises(ValueError, match="baseline token ids must have shape"):
        text.integrated_gradients(transformer, tokens, baseline=tokens[:, :5])
    with pytest.raises(ValueError, match="baseline embeddings must have shape"):
        text.integrated_gradients(transformer, tokens, baseline=torch.zeros(2, 16, 7))
    with pytest.raises(ValueError, match="baseline must be ids"):
        text.integrated_gradients(transformer, tokens, baseline=99)
    with pytest.raises(TypeError, match="baseline must be a token id"):
        text.integrated_gradients(transformer, tokens, baseline="[MASK]")
    with pytest.raises(TypeError, match="baseline must be a token id"):
        text.integrated_gradients(transformer, tokens, baseline=True)
    with pytest.raises(TypeError, match="baseline must be an integer tensor"):
        text.integrated_gradients(transformer, tokens, baseline=torch.ones(2, 16, dtype=torch.bool))


def test_bad_other_arguments(transformer):
    tokens = text.encode(["good movie"])
    with pytest.raises(ValueError, match="reduce must be one of"):
        text.input_x_gradient(transformer, tokens, reduce="mean")
    with pytest.raises(TypeError, match="steps must be an int"):
        text.integrated_gradients(transformer, tokens, baseline=text.MASK, steps=2.5)
    with pytest.raises(ValueError, match="target out of range"):
        text.input_x_gradient(transformer, tokens, target=3)
    with pytest.raises(TypeError, match="model must have an nn.Embedding"):
        text.input_x_gradient(torch.nn.Linear(3, 1).eval(), tokens)
    with pytest.raises(TypeError, match="model must be a TinyTransformer"):
        text.raw_attention(text.BagOfEmbeddings().eval(), tokens)
    with pytest.raises(ValueError, match="truth must have the shape of tokens"):
        text.agreement(torch.zeros(1, 16), torch.zeros(1, 15), tokens)
    with pytest.raises(ValueError, match="split must be one of"):
        text.load_reviews("validation")
    with pytest.warns(UserWarning, match="training mode"):
        text.input_x_gradient(text.TinyTransformer(), tokens)


@pytest.mark.parametrize("method", [
    lambda m, t: text.gradient(m, t),
    lambda m, t: text.input_x_gradient(m, t),
    lambda m, t: text.integrated_gradients(m, t, baseline=text.MASK, steps=4),
    lambda m, t: text.integrated_gradients(m, t, baseline=torch.zeros(16, 32), steps=4),
    lambda m, t: text.conservative_input_x_gradient(m, t),
    lambda m, t: text.constant_terms(m, t[:3]),
    lambda m, t: text.attention_rollout(m, t),
])
def test_callers_model_and_tensors_untouched(transformer, reviews, method):
    model = copy.deepcopy(transformer)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    tokens = reviews.tokens.clone()
    method(model, tokens)
    assert torch.equal(tokens, reviews.tokens)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert not model.training


def test_each_review_is_explained_on_its_own(transformer, reviews):
    alone = text.conservative_input_x_gradient(transformer, reviews.tokens[3:4])
    batched = text.conservative_input_x_gradient(transformer, reviews.tokens[:8])
    torch.testing.assert_close(alone[0], batched[3])
