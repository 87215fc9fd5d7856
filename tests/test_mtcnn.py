"""MTCNN (chapter 11): the three networks load the shipped weights, have the right
shapes, reproduce pinned reference outputs on a shipped photo, and tampered files
are rejected with a message naming the file.

The pinned values were computed once with facenet-pytorch 2.6.0's own ``PNet``,
``RNet`` and ``ONet`` classes (which return probabilities, box offsets and landmarks)
on the same inputs, so a wrong layer order, pooling mode or flattening order in
``helpers.models`` fails here. The tolerance (5e-5) is far above float32 round-off
on another CPU (about 1e-6 here) and far below the effect of any such mistake.
"""

import shutil

import pytest
import torch

from helpers import data, models

TOL = dict(atol=5e-5, rtol=0)
FACE = (
    slice(34, 85),
    slice(88, 139),
)  # rows, columns of the astronaut's face (51 x 51)

# P-Net on the astronaut photo resized to 52 x 52: the window at row 3, column 8.
PNET_WINDOW = (3, 8)
PNET_REFERENCE = {"p_face": 0.999673, "box": [0.166401, 0.045983, -0.089443, 0.006602]}
# R-Net on the face crop resized to 24 x 24, O-Net on it resized to 48 x 48.
RNET_REFERENCE = {
    "p_face": 0.999220,
    "box": [0.030724, -0.093641, -0.108838, -0.033863],
}
ONET_REFERENCE = {
    "p_face": 0.999999,
    "box": [0.025437, -0.077274, -0.103166, 0.017034],
    "landmarks": [
        0.272525,
        0.691070,
        0.468620,
        0.249429,
        0.666979,
        0.312688,
        0.342678,
        0.595703,
        0.690071,
        0.721990,
    ],
}


@pytest.fixture(scope="module")
def photo():
    return models.load_photo("astronaut")


@pytest.fixture(scope="module")
def face(photo):
    return photo[FACE]


def _close(actual, expected):
    torch.testing.assert_close(
        actual, torch.tensor(expected, dtype=actual.dtype), **TOL
    )


@pytest.mark.parametrize("name", models.MTCNN_NETS)
def test_loads_every_shipped_tensor_in_eval_mode(name):
    net = models.load_mtcnn(name)
    assert not net.training
    path = data.verified_path(f"mtcnn/{name}.pt")
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert set(state) == set(net.state_dict())
    for key, value in state.items():
        assert torch.equal(net.state_dict()[key], value), key


def test_output_shapes():
    pnet, rnet, onet = (models.load_mtcnn(n) for n in models.MTCNN_NETS)
    with torch.no_grad():
        assert pnet(torch.zeros(2, 3, 12, 12)).shape == (2, 6, 1, 1)
        assert pnet(torch.zeros(1, 3, 52, 40)).shape == (1, 6, 21, 15)
        assert rnet(torch.zeros(5, 3, 24, 24)).shape == (5, 6)
        assert onet(torch.zeros(5, 3, 48, 48)).shape == (5, 16)
        assert models.FaceLogOdds(onet)(torch.zeros(5, 3, 48, 48)).shape == (5, 1)
    assert len(models.ONET_OUTPUTS) == 16
    assert (
        models.ONET_OUTPUTS[6] == "left_eye_x"
        and models.ONET_OUTPUTS[11] == "left_eye_y"
    )


def test_pnet_reference(photo):
    with torch.no_grad():
        out = models.load_mtcnn("pnet")(models.mtcnn_input(photo, (52, 52)))[0]
    r, c = PNET_WINDOW
    _close(out[:2, r, c].softmax(0)[1], PNET_REFERENCE["p_face"])
    _close(out[2:, r, c], PNET_REFERENCE["box"])


def test_rnet_reference(face):
    with torch.no_grad():
        out = models.load_mtcnn("rnet")(models.mtcnn_input(face, 24))[0]
    _close(out[:2].softmax(0)[1], RNET_REFERENCE["p_face"])
    _close(out[2:], RNET_REFERENCE["box"])


def test_onet_reference(face):
    with torch.no_grad():
        out = models.load_mtcnn("onet")(models.mtcnn_input(face, 48))[0]
    _close(out[:2].softmax(0)[1], ONET_REFERENCE["p_face"])
    _close(out[2:6], ONET_REFERENCE["box"])
    _close(out[6:], ONET_REFERENCE["landmarks"])


def test_the_pin_catches_a_wrong_flattening_order(face, monkeypatch):
    # The dense layers read (W, H, C)-ordered features; PyTorch's usual (C, H, W)
    # flatten loads the same weights without complaint but computes something else.
    monkeypatch.setattr(models, "_flatten_transposed", lambda a: a.flatten(1))
    with torch.no_grad():
        out = models.load_mtcnn("onet")(models.mtcnn_input(face, 48))[0]
    assert (out[6:] - torch.tensor(ONET_REFERENCE["landmarks"])).abs().max() > 0.01


def test_face_log_odds_is_the_logit_of_the_face_probability(face):
    onet = models.load_mtcnn("onet")
    x = torch.cat([models.mtcnn_input(face, 48), torch.zeros(1, 3, 48, 48)])
    with torch.no_grad():
        log_p = onet(x)[:, :2].log_softmax(1)  # log(1 - p), log p, accurate near p = 1
        log_odds = models.FaceLogOdds(onet)(x)[:, 0]
    torch.testing.assert_close(
        log_odds, log_p[:, 1] - log_p[:, 0], atol=1e-4, rtol=1e-5
    )
    assert log_odds[0] > 10 > 0 > log_odds[1]  # the face crop vs a mid-grey square
    assert not models.FaceLogOdds(onet).training  # takes over the net's eval mode


def test_landmarks_are_in_face_order(face):
    with torch.no_grad():
        out = models.load_mtcnn("onet")(models.mtcnn_input(face, 48))[0]
    x, y = out[6:11], out[11:16]
    assert x[0] < x[2] < x[1] and x[3] < x[4]  # the image's left eye/mouth corner first
    assert (
        max(y[0], y[1]) < y[2] < min(y[3], y[4])
    )  # eyes above the nose above the mouth


@pytest.mark.parametrize("name", models.MTCNN_NETS)
def test_tampered_weights_are_rejected_naming_the_file(name, tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(data.DATA_DIR, copy)
    path = copy / "mtcnn" / f"{name}.pt"
    state = torch.load(path, weights_only=True)
    state["conv1.weight"][0, 0, 0, 0] += 1e-3
    torch.save(state, path)
    monkeypatch.setattr(data, "DATA_DIR", copy)
    with pytest.raises(
        ValueError, match=rf"checksum mismatch for data file 'mtcnn/{name}.pt'"
    ):
        models.load_mtcnn(name)


def test_tampered_photo_is_rejected_naming_the_file(tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(data.DATA_DIR, copy)
    path = copy / "photos" / "chelsea.png"
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    monkeypatch.setattr(data, "DATA_DIR", copy)
    with pytest.raises(ValueError, match=r"'photos/chelsea.png'"):
        models.load_photo("chelsea")


def test_untrained_networks_differ_from_the_pretrained_ones():
    torch.manual_seed(0)
    fresh = models.build_mtcnn("onet")
    assert not fresh.training
    assert not torch.equal(fresh.conv1.weight, models.load_mtcnn("onet").conv1.weight)


@pytest.mark.parametrize("name", models.PHOTOS)
def test_photos(name):
    image = models.load_photo(name)
    assert image.dtype == torch.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert 100 <= min(image.shape[:2]) and max(image.shape[:2]) <= 256


def test_mtcnn_input_scaling_and_shape():
    image = torch.tensor([[[0, 255, 128]]], dtype=torch.uint8)  # one pixel (1, 1, 3)
    x = models.mtcnn_input(image)
    assert x.shape == (1, 3, 1, 1) and x.dtype == torch.float32
    torch.testing.assert_close(x.flatten(), torch.tensor([-127.5, 127.5, 0.5]) / 128)
    big = torch.full((2, 8, 6, 3), 7, dtype=torch.uint8)
    assert models.mtcnn_input(big, (4, 3)).shape == (2, 3, 4, 3)
    torch.testing.assert_close(
        models.mtcnn_input(big, 2), torch.full((2, 3, 2, 2), -120.5 / 128)
    )


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(ValueError, match="name must be one of"):
        models.load_mtcnn("mnet")
    with pytest.raises(TypeError, match="name must be one of"):
        models.build_mtcnn(3)
    with pytest.raises(ValueError, match="name must be one of"):
        models.load_photo("lena")
    with pytest.raises(TypeError, match="image must have dtype torch.uint8"):
        models.mtcnn_input(torch.zeros(4, 4, 3))
    with pytest.raises(TypeError, match="image must be a torch.Tensor"):
        models.mtcnn_input([[0, 0, 0]])
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, 3\)"):
        models.mtcnn_input(torch.zeros(4, 4, 4, dtype=torch.uint8))
