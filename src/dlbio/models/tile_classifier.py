"""A small DCGAN-style convolutional classifier of microscopy tiles of any size.

Four stride-2 convolutions (widths w, 2w, 4w, 8w; LeakyReLU(0.2), batchnorm after the first),
a global average pool and a linear head. The pooled ``8w`` features are the penultimate
features used as a domain feature space for GAN evaluation.
"""

from torch import nn

STRIDES = 4


class TileClassifier(nn.Module):
    """Classify ``(N, C, H, W)`` float tiles in [-1, 1] into ``n_classes`` classes."""

    def __init__(self, n_classes, channels, size, width):
        super().__init__()
        self.n_classes, self.channels, self.size, self.width = int(n_classes), int(channels), tuple(size), int(width)
        widths = [self.channels] + [self.width * 2**i for i in range(STRIDES)]
        layers = []
        for i in range(STRIDES):
            layers.append(nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(widths[i + 1]))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], self.n_classes)

    def features(self, x):
        """Penultimate features ``(N, 8·width)``: the globally average-pooled last conv layer."""
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x):
        return self.head(self.features(x))

    def hyperparameters(self):
        """What :class:`TileClassifier` needs to be rebuilt (saved beside the state dict)."""
        return {"n_classes": self.n_classes, "channels": self.channels, "size": list(self.size), "width": self.width}
