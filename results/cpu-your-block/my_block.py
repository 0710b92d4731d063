"""My block: MLP-Mixer's token mixing on a feature map."""
from torch import nn

from a2bench.registry import BlockSpec, Param, register


class TokenMixer(nn.Module):
    """Each channel's N = h*w positions go through Linear(N, e*N), GELU, Linear(e*N, N)."""

    def __init__(self, positions: int, expansion: int):
        super().__init__()
        hidden = positions * expansion
        self.mix = nn.Sequential(nn.Linear(positions, hidden), nn.GELU(),
                                 nn.Linear(hidden, positions))

    def forward(self, x):
        return x + self.mix(x.flatten(2)).view_as(x)


@register
class TokenMixerSpec(BlockSpec):
    name = "token_mixer"
    params = (Param("expansion", 1, "token-mixing expansion e", short="e"),)

    def module(self, case):
        return TokenMixer(case.positions, case.param("expansion"))
