"""Batched ReLU networks with an ensemble axis (docs/science.md, Networks).

A network is a frozen description (:class:`ReLUNet`) plus a list of parameter tensors, each with
a leading ensemble axis E: E independent networks share one set of tensors and train in one
batched pass. Forward and backward passes are written out by hand (no autograd graph), which
keeps a GD step cheap; the tests check them against autograd and finite differences.
"""

import functools
import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import Tensor

from benign.config import Init, Param, RunConfig, check_layout, param_shapes
from benign.seeding import rng_for

Params = list[Tensor]


@dataclass(frozen=True)
class ReLUNet:
    """f(x) = W_L relu(… relu(W_1 x + b_1) …): depth L weight layers, width n, no output bias.

    Depth 2 is the two-layer net N(x) = Σ_j v_j relu(w_j·x + b_j) with v = W_2, (w_j, b_j) the
    rows of (W_1, b_1). Layer l computes z_l = s_l (W_l h_{l-1} + b_l); the bias counts as one
    more input, so fan_in_l = n_{l-1} + 1 with a bias and n_{l-1} without.

    - ``standard``: s_l = 1, entries ~ N(0, α² c_l / fan_in_l);
    - ``ntk``: s_l = sqrt(c_l / fan_in_l), entries ~ N(0, α²).

    Gains: c_l = 1 (``lecun``), 2 (``he``), or 2 on hidden layers and 1 on the output layer
    (``ntk``, the normalisation of the neural-tangent literature). α is ``init_scale``.
    """

    d: int
    width: int
    depth: int = 2
    bias: bool = True
    param: Param = "standard"
    init: Init = "lecun"
    init_scale: float = 1.0

    def __post_init__(self) -> None:
        check_layout(self.d, self.width, self.depth, self.param, self.init, self.init_scale)

    @classmethod
    def of(cls, config: RunConfig) -> "ReLUNet":
        """The network a run's settings describe (one object per layout: a sweep's grid
        points share it)."""
        return _cached(
            config.d,
            config.width,
            config.depth,
            config.bias,
            config.param,
            config.init,
            config.init_scale,
        )

    # ----- layout -------------------------------------------------------------------------
    def layer_has_bias(self, layer: int) -> bool:
        """Hidden layers 1..L-1 carry a bias when ``bias``; the output layer L never does."""
        return self.bias and layer < self.depth

    def fan_in(self, layer: int) -> int:
        """Inputs of layer l (1-based), the constant input of a bias included."""
        n_prev = self.d if layer == 1 else self.width
        return n_prev + int(self.layer_has_bias(layer))

    def gain(self, layer: int) -> float:
        """c_l of the class docstring."""
        if self.init == "lecun":
            return 1.0
        if self.init == "he":
            return 2.0
        return 1.0 if layer == self.depth else 2.0

    def scale(self, layer: int) -> float:
        """Forward factor s_l."""
        return 1.0 if self.param == "standard" else math.sqrt(self.gain(layer) / self.fan_in(layer))

    def shapes(self) -> list[tuple[int, ...]]:
        """Per-network shapes of the parameters, in order W_1, b_1, …, W_L."""
        return param_shapes(self.d, self.width, self.depth, self.bias)

    def names(self) -> list[str]:
        """Parameter names, in the order of :meth:`shapes` (``layer1.weight``, ``layer1.bias``…)."""
        return [
            f"layer{layer}.{kind}"
            for layer in range(1, self.depth + 1)
            for kind in (("weight", "bias") if self.layer_has_bias(layer) else ("weight",))
        ]

    @property
    def degree(self) -> int | None:
        """k with f(cθ) = c^k f(θ) for c > 0, or None when the net is not homogeneous.

        Hidden biases beyond the first layer break homogeneity; the two-layer net is
        2-homogeneous with or without its bias.
        """
        return self.depth if (self.depth == 2 or not self.bias) else None

    def layers(self, params: Params) -> list[tuple[Tensor, Tensor | None, float]]:
        """(W_l, b_l or None, s_l) for l = 1..L."""
        out, i = [], 0
        for layer in range(1, self.depth + 1):
            w = params[i]
            i += 1
            b = None
            if self.layer_has_bias(layer):
                b = params[i]
                i += 1
            out.append((w, b, self.scale(layer)))
        return out

    # ----- initialisation -----------------------------------------------------------------
    def init_params(
        self, seeds: list[int], dtype: torch.dtype = torch.float64, device: str = "cpu"
    ) -> Params:
        """Parameters of len(seeds) networks; network e depends on seeds[e] alone."""
        per_seed = []
        for seed in seeds:
            rng = rng_for(seed, "init")
            tensors = []
            for layer in range(1, self.depth + 1):
                std = self.init_scale
                if self.param == "standard":
                    std *= math.sqrt(self.gain(layer) / self.fan_in(layer))
                n_out = 1 if layer == self.depth else self.width
                n_in = self.d if layer == 1 else self.width
                tensors.append(std * rng.standard_normal((n_out, n_in)))
                if self.layer_has_bias(layer):
                    tensors.append(std * rng.standard_normal(n_out))
            per_seed.append(tensors)
        return [
            torch.as_tensor(np.stack(group), dtype=dtype, device=device)
            for group in zip(*per_seed, strict=True)
        ]

    # ----- passes ---------------------------------------------------------------------------
    def forward(self, params: Params, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Outputs f(x) of shape (E, m) for inputs x of shape (E, m, d), and the cache
        (h_0 = x, h_1, …, h_{L-1}) that :meth:`vjp` needs."""
        hs = [x]
        layers = self.layers(params)
        for w, b, s in layers[:-1]:
            wt = w.transpose(1, 2)
            z = torch.bmm(hs[-1], wt) if b is None else torch.baddbmm(b.unsqueeze(1), hs[-1], wt)
            if s != 1.0:
                z.mul_(s)
            hs.append(z.clamp_(min=0))  # in place: one pass less over (E, m, n)
        w, _, s = layers[-1]
        out = torch.bmm(hs[-1], w.transpose(1, 2)).squeeze(-1)
        return (out * s if s != 1.0 else out), hs

    def backward(self, params: Params, cache: list[Tensor], g: Tensor) -> list[Tensor]:
        """δ_l = ∂(Σ_i g_i f(x_i)) / ∂(W_l h_{l-1} + b_l) at every point, for l = 1..L: shapes
        (E, m, n_l), the layer's factor s_l included; relu'(0) = 0."""
        layers = self.layers(params)
        w, _, s = layers[-1]
        dz = (g * s).unsqueeze(-1)  # (E, m, 1)
        deltas = [dz]
        for layer in range(self.depth - 1, 0, -1):
            dh = torch.bmm(dz, w)
            w, _, s = layers[layer - 1]
            dz = torch.ops.aten.threshold_backward(dh, cache[layer], 0.0)  # dh · 1[z > 0]
            if s != 1.0:
                dz = dz * s
            deltas.append(dz)
        return deltas[::-1]

    def vjp(self, params: Params, cache: list[Tensor], g: Tensor) -> Params:
        """∇_θ Σ_i g_i f(x_i) for every network, g of shape (E, m): ∇_{W_l} = Σ_i δ_l,i h_{l-1,i}ᵀ,
        ∇_{b_l} = Σ_i δ_l,i (δ of :meth:`backward`)."""
        grads: list[Tensor] = []
        for layer, dz in enumerate(self.backward(params, cache, g), start=1):
            grads.append(_weight_grad(cache[layer - 1], dz))
            if self.layer_has_bias(layer):
                grads.append(dz.sum(1))
        return grads


# immutable and checked when made: a 1000 × 1000 grid made each of them 10⁶ times
_cached = functools.lru_cache(maxsize=4096)(ReLUNet)


def empirical_ntk(net: ReLUNet, params: Params, x: Tensor, x2: Tensor | None = None) -> Tensor:
    """Empirical NTK Θ̂(x_i, x2_j) = ⟨∇_θ f(x_i), ∇_θ f(x2_j)⟩ of every network, (E, m, m2),
    in float64, without forming a Jacobian: per layer, ∇_{W_l} f(x) = δ_l h_{l-1}ᵀ gives

        Θ̂(x, x') = Σ_l ⟨δ_l(x), δ_l(x')⟩ (⟨h_{l-1}(x), h_{l-1}(x')⟩ + β_l),

    β_l = 1 if layer l has a bias (δ of :meth:`ReLUNet.backward` with g = 1; memory ~
    E·m·width). Points x (and x2) are (E, m, d), or (m, d) shared by every network."""
    n_net = params[0].shape[0]

    def features(xs: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        xs = torch.as_tensor(xs, dtype=params[0].dtype, device=params[0].device)
        if xs.dim() == 2:
            xs = xs.expand(n_net, *xs.shape)
        out, cache = net.forward(params, xs)
        return net.backward(params, cache, torch.ones_like(out)), cache

    d1, h1 = features(x)
    d2, h2 = (d1, h1) if x2 is None else features(x2)
    gram = torch.zeros(
        n_net, h1[0].shape[1], h2[0].shape[1], dtype=torch.float64, device=params[0].device
    )
    for layer in range(1, net.depth + 1):
        a, b = h1[layer - 1].double(), h2[layer - 1].double()
        inputs = torch.bmm(a, b.transpose(1, 2)) + float(net.layer_has_bias(layer))
        da, db = d1[layer - 1].double(), d2[layer - 1].double()
        gram = gram + torch.bmm(da, db.transpose(1, 2)) * inputs
    return gram


def vanished(net: ReLUNet, params: Params, x: Tensor) -> Tensor:
    """Per network (E,): the signal underflowed: some layer's pre-activations (the outputs
    included) are exactly 0 at every point although its inputs are not all 0 — its weights are
    too small for floating point (a dead layer has negative pre-activations instead)."""
    h, gone = x, torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for layer, (w, b, s) in enumerate(net.layers(params), start=1):
        z = torch.bmm(h, w.transpose(1, 2)) * s
        if b is not None:
            z = z + b.unsqueeze(1) * s
        alive_in = (h != 0).flatten(1).any(1)
        gone |= alive_in & (z == 0).flatten(1).all(1)
        h = z.clamp(min=0) if layer < net.depth else z
    return gone


def margins(out: Tensor, y: Tensor, offset: Tensor | None = None) -> Tensor:
    """Margins q_i = y_i (f(x_i) − offset_i) from the outputs f (E, m); the offset is f_0 for a
    centred net (f − f_0 is trained)."""
    return y * (out if offset is None else out - offset)


def _weight_grad(h: Tensor, dz: Tensor) -> Tensor:
    """Σ_i dz_i h_iᵀ per network, (E, n_out, n_in), formed as (hᵀ dz)ᵀ: the faster layout."""
    return torch.bmm(h.transpose(1, 2), dz).transpose(1, 2)


def predict(net: ReLUNet, params: Params, x: Tensor, params0: Params | None = None) -> Tensor:
    """f(x), or the centred output f(x; θ) − f(x; θ_0) when the initial parameters are given."""
    out = net.forward(params, x)[0]
    return out if params0 is None else out - net.forward(params0, x)[0]


def relative_move(params0: Params, params: Params) -> Tensor:
    """‖θ − θ_0‖ / ‖θ_0‖ of every network, shape (E,)."""
    diff = [p - p0 for p, p0 in zip(params, params0, strict=True)]
    return torch.sqrt(sq_norm(diff) / sq_norm(params0))


def kernel_move(kernel0: Tensor, kernel: Tensor) -> Tensor:
    """‖Θ̂ − Θ̂_0‖_F / ‖Θ̂_0‖_F of every network, kernels of shape (E, m, m)."""
    return torch.linalg.matrix_norm(kernel - kernel0) / torch.linalg.matrix_norm(kernel0)


def pattern_flips(hidden0: list[Tensor], hidden: list[Tensor]) -> Tensor:
    """Share of (unit, point) ReLU activations whose sign changed, per network (E,): hidden
    activations h_1..h_{L-1} (each (E, m, n)) at initialisation and now."""
    flips = cast(
        Tensor,
        sum(
            ((a > 0) != (b > 0)).reshape(len(a), -1).double().sum(1)
            for a, b in zip(hidden0, hidden, strict=True)
        ),
    )
    return flips / sum(a[0].numel() for a in hidden0)


def sq_norm(params: Params) -> Tensor:
    """‖θ‖² of every network, shape (E,)."""
    return cast(Tensor, sum(p.reshape(p.shape[0], -1).pow(2).sum(1) for p in params))


def two_layer(params: Params) -> tuple[Tensor, Tensor, Tensor | None]:
    """(v, W, b) of a depth-2 net: N(x) = Σ_j v_j relu(w_j·x + b_j); v (E, n), W (E, n, d)."""
    if len(params) == 3:
        w, b, v = params
    elif len(params) == 2:
        (w, v), b = params, None
    else:
        raise ValueError("two_layer: expected the parameters of a depth-2 net")
    return v[:, 0, :], w, b


def two_layer_arrays(params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`two_layer` as float64 NumPy arrays: (v (E, n), W (E, n, d), b (E, n) or None)."""
    v, w, b = (None if p is None else p.detach().double().cpu().numpy() for p in two_layer(params))
    assert v is not None and w is not None
    return v, w, b


def from_arrays(
    w: np.ndarray | Tensor, v: np.ndarray | Tensor, b: np.ndarray | Tensor | None = None
) -> tuple[ReLUNet, Params]:
    """The two-layer net N(x) = Σ_j v_j relu(w_j·x + b_j) (standard parametrisation) and its
    parameters in float64, from W (n, d), v (n,) and b (n,) or None, or the same with a
    leading ensemble axis E."""
    w, v = (torch.as_tensor(a, dtype=torch.float64) for a in (w, v))
    batched = w.dim() == 3
    if not batched:
        w, v = w[None], v[None]
        b = None if b is None else torch.as_tensor(b, dtype=torch.float64)[None]
    elif b is not None:
        b = torch.as_tensor(b, dtype=torch.float64)
    if w.dim() != 3 or v.shape != w.shape[:2] or (b is not None and b.shape != w.shape[:2]):
        raise ValueError(
            "two-layer parameters: need W (n, d), v (n,), b (n,) or None, optionally with a "
            f"leading ensemble axis; got W {tuple(w.shape)}, v {tuple(v.shape)}, "
            f"b {None if b is None else tuple(b.shape)}"
        )
    net = ReLUNet(w.shape[2], w.shape[1], 2, b is not None)
    return net, [w, v[:, None, :]] if b is None else [w, b, v[:, None, :]]


def from_torch(model: torch.nn.Module) -> tuple[ReLUNet, Params]:
    """The two-layer net of ``torch.nn.Sequential(Linear(d, n), ReLU(), Linear(n, 1,
    bias=False))`` and its parameters (E = 1, float64, detached)."""
    layers = list(model.children()) if isinstance(model, torch.nn.Sequential) else []
    kinds = [type(m) for m in layers]
    if kinds != [torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear] or layers[2].out_features != 1:
        raise ValueError(
            "model: need torch.nn.Sequential(Linear(d, n), ReLU(), Linear(n, 1, bias=False)), "
            f"got {model.__class__.__name__}({', '.join(k.__name__ for k in kinds)})"
        )
    if layers[2].bias is not None:
        raise ValueError("model: the output layer has a bias; the margin problem's net has none")
    first, last = layers[0], layers[2]
    b = None if first.bias is None else first.bias.detach()
    return from_arrays(first.weight.detach(), last.weight.detach()[0], b)
