"""Small ipywidgets explorers, used in chapters 06 (the IG path), 07 (SmoothGrad) and 12 (tokens).

A chapter writes an ordinary drawing function and wraps it:

    def draw(image_index=0, method="gradient", noise_level=0.15, samples=20):
        fig, axes = plt.subplots(...)      # draw with pyplot, return nothing
        ...

    draw(image_index=3)                    # the static figure, for readers without a kernel
    explorer(draw, image_index=(0, 9), method=["gradient", "input_x_gradient"],
             noise_level=(0.0, 0.5, 0.05), samples=[5, 10, 20, 50])
"""

import inspect

import ipywidgets

from .contract import check_int

__all__ = ["explorer", "alpha_slider"]


def _control(name, spec, default):
    """An ipywidgets abbreviation -> a widget that updates only when released."""
    widget = ipywidgets.interactive.widget_from_abbrev(spec, default)
    if widget is None or not isinstance(widget, ipywidgets.ValueWidget):
        raise ValueError(
            f"control {name}={spec!r} is not a widget abbreviation: use (min, max), "
            "(min, max, step), a list of choices, or an ipywidgets value widget"
        )
    if hasattr(widget, "continuous_update"):
        widget.continuous_update = False  # redraw when the slider is released, not on every pixel
    return widget


def explorer(draw, **controls):
    """Wrap a plain drawing function in controls that redraw it.

    ``draw(**values)`` is called once at once and again whenever a control
    changes (``ipywidgets.interactive``, Kluyver et al. 2016, "Jupyter
    Notebooks", ELPUB). Each keyword is one of ``draw``'s parameters and an
    ipywidgets abbreviation: (min, max) or (min, max, step) gives a slider
    (int or float by the types), a list gives a dropdown, a widget is used as
    is; the parameter's default in ``draw`` is the starting value. Sliders use
    ``continuous_update=False`` so a drag redraws once, on release.
    Parameters of ``draw`` without a control keep their defaults (fixed).
    ``draw`` should draw with pyplot and return nothing; its return value is
    not displayed. Used in chapters 07 and 12.

    Returns:
        the ``ipywidgets.interactive`` (a VBox): ``.children`` are the controls
        and then the Output, ``.out`` is the Output, ``.kwargs`` the values of
        the last call. Setting ``children[i].value`` redraws (useful in tests).
    """
    if not callable(draw):
        raise TypeError(f"draw must be a function, got {type(draw).__name__}")
    parameters = inspect.signature(draw).parameters
    unknown = sorted(set(controls) - set(parameters))
    if unknown:
        raise ValueError(f"controls {unknown} are not parameters of draw{inspect.signature(draw)}")
    widgets = {}
    for name, parameter in parameters.items():
        if name in controls:
            widgets[name] = _control(name, controls[name], parameter.default)
        elif parameter.default is not inspect.Parameter.empty:
            widgets[name] = ipywidgets.fixed(parameter.default)
        elif parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ValueError(f"draw's parameter {name!r} has no default, so it needs a control")
    return ipywidgets.interactive(draw, **widgets)


def alpha_slider(draw, *, steps=20, **controls):
    """An explorer with a slider for the path position alpha in [0, 1].

    For the straight-line path of Integrated Gradients (Sundararajan, Taly,
    Yan 2017, ICML), x(alpha) = x' + alpha (x - x'), alpha in [0, 1] in
    ``steps`` equal steps; ``draw`` must have a parameter ``alpha``; other
    keywords are further controls as in `explorer`. Used in chapter 06.
    """
    if "alpha" not in inspect.signature(draw).parameters:
        raise ValueError("draw must have a parameter named 'alpha' for alpha_slider")
    check_int(steps, "steps")
    return explorer(draw, alpha=(0.0, 1.0, 1.0 / steps), **controls)
