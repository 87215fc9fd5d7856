"""Reference implementations for the executable textbook on gradient-based attribution.

Modules:
    data         -- the shipped and generated data sets (digits, synthetic shapes, tabular)
    models       -- the small model definitions and their pretrained weights
    attribution  -- gradient, Input x Gradient, Integrated Gradients, SmoothGrad, ...
    metrics      -- completeness, deletion/insertion, randomisation checks, mask scores
    plotting     -- honest attribution heatmaps and the figures the chapters share
    widgets      -- the small ipywidgets explorers used in chapters 06, 07 and 12
"""
