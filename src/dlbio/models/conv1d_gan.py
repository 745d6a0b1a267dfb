"""The seeds' 1-D convolutional GAN for binary sequences (Keras ``Conv1D`` / ``Conv1DTranspose`` in PyTorch).

Generator: noise → dense ``(channels, length / 8)`` → batchnorm → two [transposed conv, stride 2,
batchnorm] → transposed conv to one channel, stride 2 → sigmoid: ``(B, 1, length)`` bit
probabilities. As in the seeds there is no other nonlinearity unless ``relu`` (after every
batchnorm). Critic, ``pool="flatten"`` (the seeds): one valid ``Conv1d`` with ReLU, flattened, one
linear score (a logit for GAN, a Wasserstein score for WGAN-GP); it sums position-specific
evidence, so it cannot tell whether a motif occurs *somewhere*. ``pool="max"``: two valid
``Conv1d`` layers with LeakyReLU, each channel's maximum over positions, one linear score: a
score of which patterns each sequence contains, wherever they are.
"""

from torch import nn

from dlbio.data.motifs import POOLED_KERNEL
from dlbio.models.registry import MOTIF_ARCHS

UPSAMPLINGS = 3  # stride-2 transposed convolutions: the dense layer writes length / 8 positions


def transposed(cin, cout, kernel):
    """Transposed conv that doubles the length ('same' padding, any kernel size)."""
    return nn.ConvTranspose1d(cin, cout, kernel, stride=2, padding=(kernel - 1) // 2, output_padding=kernel % 2)


class MotifGenerator(nn.Module):
    def __init__(self, nz, channels, kernel, length, relu=False):
        super().__init__()
        self.nz, self.channels, self.start = nz, channels, length // 2**UPSAMPLINGS
        self.dense = nn.Linear(nz, channels * self.start)

        def normed():
            return [nn.BatchNorm1d(channels)] + ([nn.ReLU()] if relu else [])

        layers = normed()
        for _ in range(UPSAMPLINGS - 1):
            layers += [transposed(channels, channels, kernel), *normed()]
        layers += [transposed(channels, 1, kernel), nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)

    def forward(self, z):
        return self.layers(self.dense(z).view(len(z), self.channels, self.start))


class MotifCritic(nn.Module):
    def __init__(self, channels, kernel, length, pool="flatten"):
        super().__init__()
        if pool == "flatten":
            self.layers = nn.Sequential(
                nn.Conv1d(1, channels, kernel), nn.ReLU(), nn.Flatten(), nn.Linear(channels * (length - kernel + 1), 1)
            )
        else:
            self.layers = nn.Sequential(
                nn.Conv1d(1, channels, kernel),
                nn.LeakyReLU(0.2),
                nn.Conv1d(channels, channels, POOLED_KERNEL),
                nn.LeakyReLU(0.2),
                nn.AdaptiveMaxPool1d(1),
                nn.Flatten(),
                nn.Linear(channels, 1),
            )

    def forward(self, x):
        return self.layers(x)


@MOTIF_ARCHS.register("reference")
def reference_nets(nz, channels, critic_channels, kernel, length):
    """The seeds' generator and flattening critic."""
    return MotifGenerator(nz, channels, kernel, length), MotifCritic(critic_channels, kernel, length)


@MOTIF_ARCHS.register("pooled")
def pooled_nets(nz, channels, critic_channels, kernel, length):
    """ReLUs in the generator; a critic that takes each channel's maximum over positions."""
    return MotifGenerator(nz, channels, kernel, length, relu=True), MotifCritic(critic_channels, kernel, length, "max")
