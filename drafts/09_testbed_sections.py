# %% [markdown]
# **Data randomisation**, the second test of Adebayo et al., destroys what the model
# learned from instead of its weights: a network of the same architecture trained on the
# same images with **shuffled labels** (`synthetic_cnn_shuffled`, trained by
# `tools/train_models.py`) can only memorise. Its maps should have nothing in common
# with those of the network trained on the true labels. We use the synthetic glyphs of
# chapter 10 (32 × 32, one upright glyph decides the class, two upside-down glyphs do
# not) and compare the maps of the two networks on the same 100 test images, in five sets
# of 20.

# %%
glyph_cnn = models.load_pretrained("synthetic_cnn")
shuffled_cnn = models.load_pretrained("synthetic_cnn_shuffled")
glyphs = data.load_synthetic("test", n=100)
gx, gy = glyphs.x, glyphs.y
print(f"accuracy on 100 test images: trained on true labels "
      f"{models.accuracy(glyph_cnn, gx, gy):.2f}, on shuffled labels "
      f"{models.accuracy(shuffled_cnn, gx, gy):.2f} (chance 0.25)")
glyph_sets = torch.arange(100).reshape(5, 20)
data_random = {}
for name, method in METHODS.items():
    true_map, shuffled_map = method(glyph_cnn, gx, gy), method(shuffled_cnn, gx, gy)
    data_random[name] = (spearman(true_map.abs(), shuffled_map.abs())[glyph_sets].mean(1),
                         ssim(scaled(true_map)[:, 0], scaled(shuffled_map)[:, 0],
                              data_range=1.0)[glyph_sets].mean(1))
print(f"{'true vs shuffled labels, 5 sets of 20':40s}{'rho of |map|':>14s}"
      f"{'SSIM of |map|':>15s}")
for name, (rho, similarity) in data_random.items():
    print(f"{name:40s}{mean_spread(rho[None].T):>14s}{mean_spread(similarity[None].T):>15s}")
# %% [markdown]
# **The leak, seen.** The digits hide it: their paper is 0, so a pixel deleted to 0 looks
# like paper. The synthetic glyphs of chapter 10 sit on a random texture (grey levels
# up to about 0.35), and there a deleted region is a black silhouette. We delete the
# pixels of the glyph that decides the class, exactly the region a perfect map would
# rank first, once to 0 and once by ROAD's imputation, and ask the trained CNN what it
# sees. As a control we delete one of the two upside-down distractor glyphs instead,
# the two upside-down distractor glyphs instead: twice the area, and no say in the class.

# %%
full_masks = data.load_synthetic("test", n=100, masks="all")
print(f"{'synthetic CNN, 100 test images':40s}{'accuracy':>10s}")
leak = {}
for region, removed in [("deciding glyph", full_masks.mask),
                        ("both distractors", full_masks.distractors)]:
    zeroed = gx * ~removed
    imputed = noisy_linear_imputation(gx, removed[:, 0],
                                      generator=torch.Generator().manual_seed(5))
    leak[region] = {"nothing removed": models.accuracy(glyph_cnn, gx, gy),
                    "set to 0": models.accuracy(glyph_cnn, zeroed, gy),
                    "ROAD imputation": models.accuracy(glyph_cnn, imputed, gy)}
    for how, value in leak[region].items():
        if how != "nothing removed" or region == "deciding glyph":
            print(f"{region + ': ' + how:40s}{value:10.2f}")
