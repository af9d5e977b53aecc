"""The pieces of the training loop: the state's slicing and the order of the stop causes."""

import numpy as np
import torch

from benign.config import LOSSES, STEP_RULES
from benign.nets import ReLUNet
from benign.training import (
    STOP_REASONS,
    TrainConfig,
    _step_rule,
    _stop_causes,
    _train_error,
)


def test_choices_follow_the_literals():
    assert LOSSES == ("logistic", "exponential", "square")
    assert STEP_RULES == ("constant", "normalised", "kernel")


def start(rule="normalised", e=3):
    net = ReLUNet(d=3, width=8)
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.standard_normal((e, 6, 3)))
    y = torch.as_tensor(np.where(rng.random((e, 6)) < 0.3, -1.0, 1.0))
    config = TrainConfig(step_rule=rule, max_steps=10)
    step = _step_rule(net, config)
    params = net.init_params(list(range(e)))
    s = step.start(params, torch.eye(6).expand(e, 6, 6), x, y, torch.zeros_like(y))
    s.grads = step.gradient(s)
    return step, s, config


def test_select_slices_every_tensor_alike():
    _, s, _ = start()
    keep = torch.tensor([2, 0])
    t = s.select(keep)
    assert t.active.tolist() == [2, 0]
    for a, b in zip(
        [t.eta, t.q, t.log_loss, t.dq, t.xs, t.ys, t.off, *t.params, *t.cache, *t.grads],
        [s.eta, s.q, s.log_loss, s.dq, s.xs, s.ys, s.off, *s.params, *s.cache, *s.grads],
        strict=True,
    ):
        assert torch.equal(a, b[keep])


def test_stop_causes_are_in_the_order_of_stop_reasons():
    step, s, config = start()
    err = _train_error(s.q)
    none = torch.zeros_like(err, dtype=torch.bool)
    causes = _stop_causes(ReLUNet(d=3, width=8), s, err, 10, 0.0, none, step, config)
    assert tuple(causes) == STOP_REASONS
    assert causes["step_budget"].all() and not causes["time_budget"].any()
