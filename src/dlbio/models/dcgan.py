"""BioGAN generators and critics (Osokin et al., ICCV 2017) for tiles of any size.

Generators return ``(batch, K, C, H, W)`` in [-1, 1]: ``K = 1`` for ``dcgan`` and
``dcgan-separable``; ``K = n_classes`` for ``dcgan-starshaped``, one image per class from the
same noise with an identical red channel. Channel 0 is red (the reference marker, e.g. Bgs4),
the other channels are green (the protein). There is one critic per generator output.
"""

import torch
from torch import nn

from dlbio.errors import InputError
from dlbio.models.registry import CLASS_AWARE_GAN_ARCHS, GAN_ARCHS

STRIDES = 4  # stride-2 layers: the first layer's kernel is the tile size / 16


def fitted_kernel(size):
    """First generator / last critic kernel that maps 1×1 to the tile's aspect ratio."""
    h, w = size
    if h % 2**STRIDES or w % 2**STRIDES:
        raise InputError(f"tile size {h}×{w}: both sides must be multiples of {2**STRIDES} for the DCGAN nets")
    return h // 2**STRIDES, w // 2**STRIDES


def up(cin, cout, kernel, stride, padding, last=False):
    """Transposed conv, then batchnorm + ReLU (or nothing on the output layer)."""
    conv = nn.ConvTranspose2d(cin, cout, kernel, stride, padding, bias=False)
    return conv if last else nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(True))


def tower(nz, width, out_channels, kernel, side=0):
    """DCGAN generator layers: widths 8w, 4w, 2w, w, then ``out_channels``.

    With ``side > 0`` every layer after the first also reads ``side / width`` times as many
    features from another tower (the concatenation in separable and star-shaped nets).
    """
    widths = [8 * width, 4 * width, 2 * width, width]
    ins = [w + side * w // width for w in widths]
    layers = [up(nz, widths[0], kernel, 1, 0)]
    layers += [up(ins[i], widths[i + 1], 4, 2, 1) for i in range(len(widths) - 1)]
    layers.append(up(ins[-1], out_channels, 4, 2, 1, last=True))
    return nn.ModuleList(layers)


class DCGANGenerator(nn.Module):
    """Plain DCGAN generator: every channel from all of the noise."""

    n_outputs = 1

    def __init__(self, nz, width, channels, size):
        super().__init__()
        self.nz = nz
        self.layers = tower(nz, width, channels, fitted_kernel(size))

    def forward(self, z):
        x = z[:, :, None, None]
        for layer in self.layers:
            x = layer(x)
        return torch.tanh(x)[:, None]


class TowerGenerator(nn.Module):
    """A red tower fed with the first half of the noise and ``n_green`` green towers.

    Each green tower reads all of the noise and, at every later layer, the red tower's
    features; the red tower never sees the green half of the noise or green features.
    ``n_green = 1`` is DCGAN-separable, ``n_green = n_classes`` DCGAN-starshaped.
    """

    def __init__(self, nz, width, channels, size, n_green):
        super().__init__()
        if channels < 2:
            raise InputError("separable and star-shaped generators need ≥ 2 channels (red + green)")
        kernel, half = fitted_kernel(size), max(width // 2, 1)
        self.nz, self.nz_red, self.n_outputs = nz, nz // 2, n_green
        self.red = tower(self.nz_red, half, 1, kernel)
        self.green = nn.ModuleList(tower(nz, half, channels - 1, kernel, side=half) for _ in range(n_green))

    def forward(self, z):
        red, greens = z[:, : self.nz_red, None, None], [z[:, :, None, None]] * self.n_outputs
        for i, red_layer in enumerate(self.red):
            greens = [g[i](x if i == 0 else torch.cat([red, x], 1)) for g, x in zip(self.green, greens)]
            red = red_layer(red)
        return torch.tanh(torch.stack([torch.cat([red, g], 1) for g in greens], 1))


class Critic(nn.Module):
    """DCGAN critic: strided convs w, 2w, 4w, 8w with LeakyReLU(0.2), batchnorm except on the
    first layer (none at all with ``batchnorm=False``, as WGAN-GP needs), a fitted last conv."""

    def __init__(self, width, channels, size, batchnorm=True):
        super().__init__()
        kernel = fitted_kernel(size)
        widths = [channels, width, 2 * width, 4 * width, 8 * width]
        layers = []
        for i in range(STRIDES):
            layers.append(nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1, bias=False))
            if batchnorm and i > 0:
                layers.append(nn.BatchNorm2d(widths[i + 1]))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        layers.append(nn.Conv2d(widths[-1], 1, kernel, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).flatten()


def init_weights(module):
    """BioGANs' init: conv weights N(0, 0.02); batchnorm weights N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@GAN_ARCHS.register("dcgan")
def dcgan(nz, width, channels, size, n_classes):
    """Every channel from all of the noise; the classes pooled."""
    return DCGANGenerator(nz, width, channels, size)


@GAN_ARCHS.register("dcgan-separable")
def dcgan_separable(nz, width, channels, size, n_classes):
    """A red tower and one green tower; the classes pooled."""
    return TowerGenerator(nz, width, channels, size, 1)


@GAN_ARCHS.register("dcgan-starshaped")
def dcgan_starshaped(nz, width, channels, size, n_classes):
    """A red tower and one green tower per class."""
    return TowerGenerator(nz, width, channels, size, n_classes)


def n_generator_outputs(arch, n_classes):
    """Image streams of a generator: one per class for a class-aware one, else one (its classes pooled)."""
    return n_classes if arch in CLASS_AWARE_GAN_ARCHS else 1


def build_gan(arch, n_classes, channels, size, width, nz, critic_batchnorm=True):
    """Generator and its critics (an ``nn.ModuleList``, one per generator output), initialised."""
    generator = GAN_ARCHS[arch](nz, width, channels, size, n_classes)
    critics = nn.ModuleList(
        Critic(width, channels, size, critic_batchnorm) for _ in range(generator.n_outputs)
    )
    generator.apply(init_weights)
    critics.apply(init_weights)
    return generator, critics
