"""A capability score on a common scale for models, tools and instances: a Rasch (one-parameter logistic) model.

Every subject (the model under review, each baseline, any earlier model run on the same instances) has an
ability ``θ``; every instance a difficulty ``b``; the chance that a subject solves an instance is
``logistic(θ - b)``. Abilities and difficulties are on one logit scale, so "this model is about as capable
as libFuzzer on these challenges" is a statement about two numbers and their intervals.

Fitted by penalised maximum likelihood: a normal prior N(0, ``PRIOR_SD``²) on every θ and b keeps estimates
finite when a subject solves everything (the reference) or nothing (the null model), and an instance that
nobody or everybody solved, and anchors the scale (difficulties centre on 0). The standard error of θ is
the square root of the diagonal of the inverse Hessian of the penalised negative log-likelihood at the
optimum (the Laplace approximation to the posterior), taken for the contrast ``θ - mean(b)`` (the score's
position relative to the instances: the shift of the whole scale, which only the prior pins, is no
uncertainty about any one subject), and its interval is θ ± 1.96 SE. Scores and difficulties are reported
with the difficulties centred exactly on 0. Instances are not
clustered here: the score is a summary on a common scale; the rates in :mod:`.statistics` carry the
clustered uncertainty that threshold decisions use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from airlock.analysis.statistics import CONFIDENCE

PRIOR_SD = 3.0


@dataclass(frozen=True)
class Response:
    subject: str
    instance: str
    success: bool


@dataclass(frozen=True)
class Ability:
    subject: str
    score: float
    standard_error: float
    low: float
    high: float

    def as_json(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "score": self.score,
            "standard_error": self.standard_error,
            "low": self.low,
            "high": self.high,
        }


@dataclass(frozen=True)
class AbilityFit:
    abilities: dict[str, Ability]
    difficulties: dict[str, float]
    method: str = "Rasch model, penalised ML (N(0, 3^2) priors), Laplace standard errors"


def fit_abilities(responses: Iterable[Response]) -> AbilityFit:
    """Abilities of every subject and difficulties of every instance from ``responses``."""
    rows = list(responses)
    subjects = sorted({row.subject for row in rows})
    instances = sorted({row.instance for row in rows})
    if not rows:
        return AbilityFit({}, {})
    subject_index = {name: i for i, name in enumerate(subjects)}
    instance_index = {name: i for i, name in enumerate(instances)}
    s = np.array([subject_index[row.subject] for row in rows])
    i = np.array([instance_index[row.instance] for row in rows])
    y = np.array([1.0 if row.success else 0.0 for row in rows])
    count_subjects = len(subjects)
    precision = 1.0 / (PRIOR_SD * PRIOR_SD)

    def objective(parameters: np.ndarray) -> tuple[float, np.ndarray]:
        theta, difficulty = parameters[:count_subjects], parameters[count_subjects:]
        eta = theta[s] - difficulty[i]
        # -log-likelihood of Bernoulli(logistic(eta)), written stably.
        loss = float(np.sum(np.logaddexp(0.0, eta) - y * eta)) + 0.5 * precision * float(parameters @ parameters)
        residual = 1.0 / (1.0 + np.exp(-eta)) - y
        gradient = np.concatenate(
            [
                np.bincount(s, weights=residual, minlength=count_subjects),
                -np.bincount(i, weights=residual, minlength=len(instances)),
            ]
        )
        return loss, gradient + precision * parameters

    start = np.zeros(count_subjects + len(instances))
    result = optimize.minimize(objective, start, jac=True, method="L-BFGS-B")
    parameters = result.x
    theta, difficulty = parameters[:count_subjects], parameters[count_subjects:]
    probability = 1.0 / (1.0 + np.exp(-(theta[s] - difficulty[i])))
    weight = probability * (1 - probability)
    size = count_subjects + len(instances)
    hessian = np.eye(size) * precision
    for row_subject, row_instance, w in zip(s, i, weight, strict=True):
        a, b = row_subject, count_subjects + row_instance
        hessian[a, a] += w
        hessian[b, b] += w
        hessian[a, b] -= w
        hessian[b, a] -= w
    covariance = np.linalg.inv(hessian)
    critical = float(stats.norm.ppf(1 - (1 - CONFIDENCE) / 2))
    # The scale is anchored where the difficulties average 0. Only the prior pins that anchor in the fit, so
    # every parameter's own variance carries the (large) uncertainty of where the whole scale sits; a score
    # is a position relative to the instances, so its variance is that of the contrast θ_s - mean(b).
    centre = float(difficulty.mean())
    contrast = np.zeros(size)
    contrast[count_subjects:] = -1.0 / len(instances)
    abilities = {}
    for name, index in subject_index.items():
        contrast[index] = 1.0
        error = float(np.sqrt(contrast @ covariance @ contrast))
        contrast[index] = 0.0
        score = float(theta[index]) - centre
        abilities[name] = Ability(name, score, error, score - critical * error, score + critical * error)
    return AbilityFit(abilities, {name: float(difficulty[index]) - centre for name, index in instance_index.items()})
