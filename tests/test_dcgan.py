"""BioGAN generators and critics: shapes, the separable and star-shaped properties, errors."""

import pytest
import torch

from dlbio.errors import InputError
from dlbio.models.dcgan import build_gan, fitted_kernel
from dlbio.models.registry import GAN_ARCHS

SIZE, NZ, WIDTH = (32, 48), 16, 8


@pytest.mark.parametrize("arch", GAN_ARCHS)
@pytest.mark.parametrize("batchnorm", [True, False])
def test_shapes_at_any_tile_size(arch, batchnorm):
    generator, critics = build_gan(arch, 3, 2, SIZE, width=WIDTH, nz=NZ, critic_batchnorm=batchnorm)
    k = 3 if arch == "dcgan-starshaped" else 1
    x = generator(torch.randn(5, NZ))
    assert x.shape == (5, k, 2, *SIZE)
    assert x.abs().max() <= 1
    assert len(critics) == k
    assert all(c(x[:, i]).shape == (5,) for i, c in enumerate(critics))
    has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in critics.modules())
    assert has_bn == batchnorm


def test_bioGAN_size_uses_fitted_kernels():
    assert fitted_kernel((48, 80)) == (3, 5)
    generator, critics = build_gan("dcgan", 1, 2, (48, 80), width=64, nz=100)
    assert generator.layers[0][0].kernel_size == (3, 5)
    assert critics[0].net[-1].kernel_size == (3, 5)
    assert generator(torch.randn(2, 100)).shape == (2, 1, 2, 48, 80)


def red_and_green_noise_gradients(generator, output):
    z = torch.randn(4, NZ, requires_grad=True)
    generator(z)[:, output, 0].sum().backward()
    red_grad = z.grad.clone()
    z.grad = None
    generator(z)[:, output, 1].sum().backward()
    return red_grad, z.grad


@pytest.mark.parametrize("arch", ["dcgan-separable", "dcgan-starshaped"])
def test_red_channel_ignores_the_green_only_noise(arch):
    torch.manual_seed(0)
    generator, _ = build_gan(arch, 3, 2, SIZE, width=WIDTH, nz=NZ)
    red_grad, green_grad = red_and_green_noise_gradients(generator, output=-1)
    half = NZ // 2
    assert red_grad[:, half:].abs().max() == 0
    assert red_grad[:, :half].abs().max() > 0
    assert green_grad[:, :half].abs().max() > 0 and green_grad[:, half:].abs().max() > 0


def test_plain_dcgan_red_depends_on_all_noise():
    torch.manual_seed(0)
    generator, _ = build_gan("dcgan", 1, 2, SIZE, width=WIDTH, nz=NZ)
    red_grad, _ = red_and_green_noise_gradients(generator, output=0)
    assert red_grad[:, NZ // 2 :].abs().max() > 0


def test_starshaped_gives_every_class_the_same_red_channel():
    torch.manual_seed(0)
    generator, critics = build_gan("dcgan-starshaped", 4, 2, SIZE, width=WIDTH, nz=NZ)
    x = generator(torch.randn(6, NZ))
    assert torch.equal(x[:, :, 0], x[:, :1, 0].expand_as(x[:, :, 0]))
    assert (x[:, 0, 1] - x[:, 1, 1]).abs().max() > 0
    assert len(critics) == 4


def test_bad_sizes_and_names_are_errors():
    with pytest.raises(InputError, match=r"tile size 40×80: both sides must be multiples of 16"):
        build_gan("dcgan", 1, 2, (40, 80), WIDTH, NZ)
    with pytest.raises(InputError, match="unknown GAN architecture 'stylegan'"):
        build_gan("stylegan", 1, 2, SIZE, WIDTH, NZ)
    with pytest.raises(InputError, match="need ≥ 2 channels"):
        build_gan("dcgan-separable", 1, 1, SIZE, WIDTH, NZ)
