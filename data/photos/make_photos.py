"""Re-create the photographs in data/photos/ from the packages that ship them.

Author-side only (readers never run this; the PNGs are in the repository):

    pip download --no-deps scikit-image==0.26.0 scikit-learn==1.9.1 -d wheels
    unzip -q wheels/scikit_image-*.whl 'skimage/data/*' -d wheels
    unzip -q wheels/scikit_learn-*.whl 'sklearn/datasets/images/*' -d wheels
    python data/photos/make_photos.py wheels

Each photo is downscaled by an integer factor with box (area) averaging and saved
as a lossless PNG, so every machine decodes the same pixels. Credits and licences:
data/README.md. Then append the new SHA-256 lines to data/checksums.sha256.
"""

import sys
from pathlib import Path

from PIL import Image

# name -> (path inside the unpacked wheels, downscaling factor)
SOURCES = {
    "astronaut": ("skimage/data/astronaut.png", 2),
    "chelsea": ("skimage/data/chelsea.png", 2),
    "coffee": ("skimage/data/coffee.png", 4),
    "china": ("sklearn/datasets/images/china.jpg", 4),
    "flower": ("sklearn/datasets/images/flower.jpg", 4),
}


def main(wheels: Path) -> None:
    out = Path(__file__).resolve().parent
    for name, (source, factor) in SOURCES.items():
        with Image.open(wheels / source) as image:
            image = image.convert("RGB")
            size = (image.width // factor, image.height // factor)
            image.resize(size, Image.Resampling.BOX).save(
                out / f"{name}.png", optimize=True
            )
        print(f"{name}.png: {size[0]}x{size[1]}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
