import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from helpers.widgets import alpha_slider, explorer  # noqa: E402


def recording_draw():
    calls = []

    def draw(image_index=0, method="gradient", noise_level=0.15, samples=20, title="fixed"):
        calls.append(dict(image_index=image_index, method=method, noise_level=noise_level,
                          samples=samples, title=title))
        fig, ax = plt.subplots()
        ax.set_title(f"{method} {noise_level}")
        plt.close(fig)

    return draw, calls


def test_explorer_builds_controls_and_redraws_on_change():
    draw, calls = recording_draw()
    w = explorer(draw, image_index=(0, 9), method=["gradient", "input_x_gradient"],
                 noise_level=(0.0, 0.5, 0.05), samples=[5, 10, 20, 50])
    assert isinstance(w, ipywidgets.interactive)
    controls, out = w.children[:-1], w.children[-1]
    assert out is w.out and isinstance(out, ipywidgets.Output)
    assert [c.description for c in controls] == ["image_index", "method", "noise_level", "samples"]
    assert [type(c).__name__ for c in controls] == ["IntSlider", "Dropdown", "FloatSlider", "Dropdown"]
    assert controls[0].continuous_update is False and controls[2].continuous_update is False
    # the first draw uses draw's defaults; uncontrolled parameters stay fixed
    assert calls == [dict(image_index=0, method="gradient", noise_level=0.15, samples=20, title="fixed")]
    controls[1].value = "input_x_gradient"
    controls[2].value = 0.3
    assert len(calls) == 3
    expected = dict(image_index=0, method="input_x_gradient", noise_level=0.3, samples=20, title="fixed")
    assert calls[-1] == expected
    assert w.kwargs["noise_level"] == 0.3
    draw(image_index=4)  # still a plain function
    assert calls[-1]["image_index"] == 4


def test_explorer_rejects_bad_controls():
    draw, _ = recording_draw()
    with pytest.raises(ValueError, match="not parameters of draw"):
        explorer(draw, sigma=(0.0, 1.0))
    with pytest.raises(ValueError, match="not a widget abbreviation"):
        explorer(draw, samples=object())
    with pytest.raises(TypeError, match="draw must be a function"):
        explorer("draw")

    def needs_value(x):
        pass

    with pytest.raises(ValueError, match="'x' has no default"):
        explorer(needs_value)


def test_alpha_slider_moves_along_the_path():
    seen = []

    def draw(alpha=0.5, image_index=0):
        seen.append((alpha, image_index))

    w = alpha_slider(draw, steps=10, image_index=(0, 3))
    slider = w.children[0]
    assert (slider.min, slider.max, slider.step, slider.continuous_update) == (0.0, 1.0, 0.1, False)
    slider.value = 1.0
    assert seen == [(0.5, 0), (1.0, 0)]
    with pytest.raises(ValueError, match="parameter named 'alpha'"):
        alpha_slider(lambda t=0.0: None)
