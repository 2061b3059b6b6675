"""Image augmentation ops as batched NumPy reference implementations, after ``tf.image``.

Every op takes one image ``(H, W, C)`` or a batch ``(N, H, W, C)`` of ``uint8`` or
``float32``; a single image is processed exactly as a batch of one. Random ops take a
keyword-only ``rng`` (a :class:`numpy.random.Generator`), draw one set of parameters per
image with documented, vectorised draws, and apply their deterministic form.
:class:`Compose` chains steps into one ``fn(images, rng)`` for
``pipeline.map(fn, batched=True, rng=True)``. See ``docs/image.md``.

    >>> import numpy as np
    >>> from conveyor import image
    >>> batch = np.zeros((4, 32, 32, 3), np.uint8)
    >>> image.pad_and_random_crop(batch, 4, (32, 32), rng=np.random.default_rng(0)).shape
    (4, 32, 32, 3)
"""

from conveyor.image.color import (
    adjust_brightness as adjust_brightness,
    adjust_contrast as adjust_contrast,
    adjust_gamma as adjust_gamma,
    adjust_hue as adjust_hue,
    adjust_saturation as adjust_saturation,
    grayscale_to_rgb as grayscale_to_rgb,
    normalize as normalize,
    per_image_standardization as per_image_standardization,
    random_brightness as random_brightness,
    random_contrast as random_contrast,
    random_hue as random_hue,
    random_saturation as random_saturation,
    rgb_to_grayscale as rgb_to_grayscale,
)
from conveyor.image.compose import Compose as Compose
from conveyor.image.geometry import (
    central_crop as central_crop,
    crop_to_bounding_box as crop_to_bounding_box,
    cutout as cutout,
    cutout_at as cutout_at,
    flip_left_right as flip_left_right,
    flip_up_down as flip_up_down,
    pad_and_random_crop as pad_and_random_crop,
    pad_to_bounding_box as pad_to_bounding_box,
    random_crop as random_crop,
    random_flip_left_right as random_flip_left_right,
    random_flip_up_down as random_flip_up_down,
    random_rotate as random_rotate,
    random_translate as random_translate,
    random_zoom as random_zoom,
    resize as resize,
    resize_with_crop_or_pad as resize_with_crop_or_pad,
    rotate as rotate,
    translate as translate,
    zoom as zoom,
)
from conveyor.image.noise import (
    add_noise as add_noise,
    random_gaussian_noise as random_gaussian_noise,
    random_salt_pepper as random_salt_pepper,
    salt_pepper as salt_pepper,
)

__all__ = [
    "Compose",
    "add_noise",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_gamma",
    "adjust_hue",
    "adjust_saturation",
    "central_crop",
    "crop_to_bounding_box",
    "cutout",
    "cutout_at",
    "flip_left_right",
    "flip_up_down",
    "grayscale_to_rgb",
    "normalize",
    "pad_and_random_crop",
    "pad_to_bounding_box",
    "per_image_standardization",
    "random_brightness",
    "random_contrast",
    "random_crop",
    "random_flip_left_right",
    "random_flip_up_down",
    "random_gaussian_noise",
    "random_hue",
    "random_rotate",
    "random_salt_pepper",
    "random_saturation",
    "random_translate",
    "random_zoom",
    "resize",
    "resize_with_crop_or_pad",
    "rgb_to_grayscale",
    "rotate",
    "salt_pepper",
    "translate",
    "zoom",
]
