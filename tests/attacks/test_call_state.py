"""#26: an attack keeps what one call works on (point ids, feature box) in that call, not on itself, so one attack
object called from several threads at once gives each call the answer it gets alone."""

from __future__ import annotations

import threading

import numpy as np
import torch
from torch import nn

import mathguard as mg


def _clf():  # noqa: ANN202
    torch.manual_seed(0)
    return mg.wrap(nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3)), input_shape=(8,), bounds=(0, 1))


def test_one_attack_object_in_two_threads_matches_each_call_alone() -> None:
    clf = _clf()
    rng = np.random.default_rng(0)
    jobs = []
    for k in range(6):
        n = 20 + 7 * k  # different sizes: a call reading another's ids would break or draw differently
        x = torch.tensor(rng.random((n, 8)), dtype=torch.float32)
        jobs.append((x, clf.predict(x), torch.arange(n) + 1000 * k))
    attack = mg.attacks.PGD(norm="linf", steps=15, restarts=2, random_state=3)
    alone = [attack(clf, x, y, eps=[0.05, 0.1], ids=ids) for x, y, ids in jobs]
    together: list = [None] * len(jobs)

    def run(i: int) -> None:
        x, y, ids = jobs[i]
        together[i] = attack(clf, x, y, eps=[0.05, 0.1], ids=ids)

    for _ in range(3):
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for a, b in zip(alone, together):
            assert torch.equal(a.adversarial, b.adversarial) and torch.equal(a.success, b.success)


def test_a_call_from_another_thread_in_the_middle_of_a_call_changes_nothing() -> None:
    """The interleaving made deterministic: while one call runs, another thread calls the same object on other
    points. Before, the second call overwrote the first's point ids on the attack, so the first drew its random
    starts for the wrong points (or failed on the length)."""
    clf = _clf()
    rng = np.random.default_rng(1)
    x, x2 = (torch.tensor(rng.random((n, 8)), dtype=torch.float32) for n in (30, 11))
    y, y2 = clf.predict(x), clf.predict(x2)

    class Interleaved(mg.attacks.PGD):
        def _run(self, clf, xs, ys, eps):  # noqa: ANN001, ANN202
            if threading.current_thread() is threading.main_thread() and not getattr(self, "interrupted", False):
                self.interrupted = True
                other = threading.Thread(target=lambda: self(clf, x2, y2, eps=0.1, ids=torch.arange(11) + 500))
                other.start()
                other.join()
            return super()._run(clf, xs, ys, eps)

    kwargs = dict(norm="linf", steps=10, restarts=2, random_state=5)
    expected = mg.attacks.PGD(**kwargs)(clf, x, y, eps=[0.05, 0.1])
    got = Interleaved(**kwargs)(clf, x, y, eps=[0.05, 0.1])
    assert torch.equal(got.adversarial, expected.adversarial) and torch.equal(got.success, expected.success)


def test_no_call_state_is_left_on_the_attack() -> None:
    clf = _clf()
    x = torch.rand(10, 8)
    attack = mg.attacks.PGD(norm="l2", steps=5, low=0.0, high=1.0, mutable=[True] * 7 + [False])
    attack(clf, x, clf.predict(x), eps=0.5)
    assert attack._box is None and "_ids" not in vars(attack) and "_box" not in vars(attack)
