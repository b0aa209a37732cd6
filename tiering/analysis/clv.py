"""The forward-looking value model: BG/NBD and Gamma-Gamma customer lifetime value (issue 20).

Tiers rank customers by what they did; this module estimates what they will do. The
models come from a maintained library, PyMC-Marketing's ``clv`` module
(``BetaGeoModel`` for purchases and P(alive), ``GammaGammaModel`` for spend); nothing
here writes a likelihood. PyMC-Marketing, PyMC and PyTensor are imported inside the
functions that fit, so importing this module stays cheap (``tests/test_layers.py``
imports every analysis module).

1. :func:`rfm_summary` turns clean transactions (as in
   :class:`tiering.data.io.LoadResult`) into the summary the models read, one row per
   customer who bought before ``cutoff``, in the convention of Fader, Hardie & Lee
   (2005): purchases on the same day count once; ``frequency`` is the number of
   *repeat* purchase days; ``recency`` the time from the first to the last purchase day;
   ``T`` the time from the first purchase day to the last day of the calibration
   period (``cutoff`` minus one day); ``monetary_value`` the mean net spend of the repeat
   purchase days (Gamma-Gamma's convention: the first purchase is left out; returns
   count against the day they fall on, those of the first day against the first
   purchase), 0 for one-time buyers. Times are in ``period`` units: weeks (``"W"``,
   the published unit) or days (``"D"``).
2. :func:`fit_value_model` fits both models by maximum likelihood: the MAP as PyMC's
   ``find_MAP`` finds it (L-BFGS-B on the log of each parameter, without the Jacobian)
   under flat priors (``HalfFlat``), which *is* the maximum-likelihood estimate. (The
   library's default BG/NBD priors move the CDNOW estimates, e.g. a = 0.706 and
   b = 2.092 instead of the published 0.793 / 2.426.) It returns per customer P(alive),
   the expected purchases over ``horizon_months``, the expected spend per purchase
   and the CLV over the horizon, discounted monthly at the monthly equivalent of
   ``discount_rate_annual`` (PyMC-Marketing's ``customer_lifetime_value``: months of
   4.345 weeks or 30 days). Customers whose repeat spend is not positive are left out
   of the Gamma-Gamma fit (and counted); they, like one-time buyers, get the
   population mean spend ``p v / (q - 1)``.
3. :func:`value_holdout_check` checks the model on data it has not seen: the split of
   :mod:`tiering.analysis.holdout` (``as_of`` minus ``months``), predicted against
   actual purchases and spend in the holdout months, per customer (mean absolute
   error) and by calibration frequency (the calibration chart of the BTYD
   literature), against a naive baseline: each customer's past repeat-purchase rate
   (``frequency / T``) and repeat-spend rate continued over the holdout.
The result by tier (medians, shares, the value x potential grid) and the step of a
report are in :mod:`tiering.analysis.value`.

Longer than 800 lines because the summary, the fit and the holdout check share one set
of conventions (period units, the same-day rule, the library's lazy import and its
convergence verdicts) that a reader checks together against the published method.

Known property of the BG/NBD: a customer can drop out only right after a repeat
purchase, so P(alive) is 1 for every one-time buyer (their expected purchases are
still low when they bought long ago). The report should say so next to P(alive).

When the model cannot run, the result says why with a code in ``reason`` (the
present layer words it): ``too_short`` (less history than ``min_history_months``),
``no_customers``, ``no_repeat_buyers`` (every customer bought once: nothing identifies
the purchase process), ``not_converged`` (the optimiser did not reach a maximum,
or the estimates ran to a limit of the model where its predictions are not finite,
as for regular buyers who never drop out; ``message`` says which) or ``fit_failed`` (the library raised; ``message``
holds its text). ``spend_reason`` does the same for the spend model alone
(``no_positive_spend``, ``spend_not_converged``, ``spend_infinite_mean`` when q <= 1,
``spend_fit_failed``): P(alive) and purchases stand without it.

Results are deterministic: the optimiser starts from the same point (every parameter
1) and draws no random number, so a rerun gives the same bytes. The first fit in a
process compiles the model's C code (PyTensor), about 15-40 s; PyTensor keeps the
compiled modules in its ``base_compiledir`` (``~/.pytensor`` unless ``PYTENSOR_FLAGS``
says ``base_compiledir=...``), where later processes find them (see
``benchmarks/clv.py`` for the measured costs).
"""

from __future__ import annotations

import logging
import math
import shutil
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tiering.errors import DataError, require

log = logging.getLogger(__name__)

__all__ = [
    "CUSTOMER_COLUMNS",
    "GROUP_COLUMNS",
    "HOLDOUT_COLUMNS",
    "PERIODS",
    "REASONS",
    "SPEND_REASONS",
    "SUMMARY_COLUMNS",
    "ValueHoldout",
    "ValueModel",
    "fit_value_model",
    "rfm_summary",
    "value_holdout_check",
]

#: Days in one time unit of the summary.
PERIODS = {"W": 7, "D": 1}
#: Units per month as PyMC-Marketing's ``customer_lifetime_value`` counts them.
_PER_MONTH = {"W": 4.345, "D": 30.0}
_DAYS_PER_MONTH = 365.25 / 12
SUMMARY_COLUMNS = tuple(
    "customer_id frequency recency T monetary_value first_purchase last_purchase".split()
)
CUSTOMER_COLUMNS = tuple(
    "customer_id frequency recency T monetary_value in_spend_model p_alive "
    "expected_purchases expected_spend clv".split()
)
HOLDOUT_COLUMNS = tuple(
    "customer_id frequency frequency_group actual_purchases predicted_purchases "
    "baseline_purchases actual_spend predicted_spend baseline_spend".split()
)
GROUP_COLUMNS = tuple(
    "frequency_group customers actual_purchases predicted_purchases "
    "baseline_purchases actual_spend predicted_spend baseline_spend".split()
)
REASONS = ("too_short", "no_customers", "no_repeat_buyers", "not_converged", "fit_failed")
SPEND_REASONS = tuple(
    "no_positive_spend spend_not_converged spend_infinite_mean spend_fit_failed".split()
)
#: Shape parameters outside [1/BOUNDARY, BOUNDARY] ran off towards a limit of the
#: model (e.g. b -> infinity: no sign of drop-out); the fit is kept (while its
#: predictions are finite) and the names listed in ``at_boundary``.
BOUNDARY = 1e4
_PURCHASE_PARAMS = ("r", "alpha", "a", "b")
_SPEND_PARAMS = ("p", "q", "v")
_SHAPES = ("r", "a", "b", "p", "q")
_LIBRARY_ERRORS = (ValueError, RuntimeError, FloatingPointError, ArithmeticError, TypeError)


# --------------------------------------------------------------------------- summary


def rfm_summary(
    transactions: pd.DataFrame, *, cutoff, start=None, period: str = "W"
) -> pd.DataFrame:
    """Frequency, recency, T and repeat spend per customer, from transactions before ``cutoff``.

    Parameters
    ----------
    transactions : DataFrame
        ``customer_id``, ``order_date``, ``amount`` (negative for returns) and, when
        present, ``is_return`` (else a negative amount marks a return).
    cutoff : date
        The first day *not* in the calibration period (exclusive, as ``as_of`` is).
    start : date, optional
        The first day of the calibration period (default: all earlier rows).
    period : ``"W"`` or ``"D"``
        The unit of ``recency`` and ``T``.

    Returns
    -------
    DataFrame
        ``SUMMARY_COLUMNS``, one row per customer with a purchase in the period, ordered
        by ``customer_id``; see the module docstring for the definitions.
    """
    require(
        period in PERIODS,
        f"period must be one of {', '.join(PERIODS)}, got {period!r}",
        where="rfm_summary(period)",
    )
    require(
        isinstance(transactions, pd.DataFrame),
        "rfm_summary needs a DataFrame",
        where="rfm_summary(transactions)",
        error=DataError,
    )
    missing = [c for c in ("customer_id", "order_date", "amount") if c not in transactions]
    require(
        not missing,
        f"The transactions lack {', '.join(missing)}",
        where="rfm_summary(transactions)",
        error=DataError,
        hint="pass LoadResult.transactions from tiering.data.io.load",
    )
    cutoff_ts = pd.Timestamp(cutoff).normalize()
    day = pd.to_datetime(transactions["order_date"]).dt.normalize()
    keep = (day < cutoff_ts).to_numpy()
    if start is not None:
        keep = keep & (day >= pd.Timestamp(start).normalize()).to_numpy()
    amount = transactions["amount"].to_numpy(dtype=float)[keep]
    if "is_return" in transactions:
        is_return = transactions["is_return"].to_numpy(dtype=bool)[keep]
    else:
        is_return = amount < 0
    cid = transactions["customer_id"].astype(str).to_numpy()[keep]
    day = day.to_numpy()[keep]

    if not (~is_return).any():
        types = ["str", "int64"] + ["float64"] * 3 + ["datetime64[ns]"] * 2
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(SUMMARY_COLUMNS, types)})
    buys = pd.DataFrame({"c": cid[~is_return], "d": day[~is_return]}).drop_duplicates()
    grouped = buys.groupby("c", sort=True)["d"]
    first, last, days = grouped.min(), grouped.max(), grouped.size()
    first_of_row = pd.Series(cid).map(first).to_numpy()
    later = day > first_of_row  # NaT (no purchase) compares False
    repeat = (
        pd.Series(np.where(later, amount, 0.0)).groupby(cid, sort=True).sum().reindex(first.index)
    )
    return summary_frame(
        first.index.astype(str),
        first,
        last,
        (days - 1).astype("int64").to_numpy(),
        repeat.to_numpy(),
        cutoff=cutoff_ts,
        period=period,
    )


def summary_frame(
    ids, first, last, frequency, repeat, *, cutoff, period: str = "W"
) -> pd.DataFrame:
    """The model's summary (:data:`SUMMARY_COLUMNS`) from each customer's first and last
    purchase day, repeat purchase days (``frequency``) and repeat spend: recency and T
    in ``period`` units from the first purchase day (T to the day before ``cutoff``),
    the repeat spend averaged over the repeat days (0 for one-time buyers)."""
    first = pd.DatetimeIndex(first)
    last = pd.DatetimeIndex(last)
    unit = pd.Timedelta(days=PERIODS[period])
    last_day = pd.Timestamp(cutoff).normalize() - pd.Timedelta(days=1)
    frequency = np.asarray(frequency, dtype=np.int64)
    repeat = np.asarray(repeat, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, repeat / np.maximum(frequency, 1), 0.0)
    return pd.DataFrame(
        {
            "customer_id": np.asarray(ids, dtype=object).astype(str),
            "frequency": frequency,
            "recency": ((last - first) / unit).to_numpy(dtype=float),
            "T": ((last_day - first) / unit).to_numpy(dtype=float),
            "monetary_value": np.round(monetary, 6),
            "first_purchase": first.to_numpy().astype("datetime64[ns]"),
            "last_purchase": last.to_numpy().astype("datetime64[ns]"),
        },
        columns=list(SUMMARY_COLUMNS),
    )


# --------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class ValueModel:
    """The result of :func:`fit_value_model`.

    Attributes
    ----------
    customers : DataFrame
        ``CUSTOMER_COLUMNS``, one row per customer of the summary (its order): the
        summary columns, ``in_spend_model`` (the customer's repeat spend entered the
        Gamma-Gamma fit), ``p_alive``, ``expected_purchases`` over the horizon,
        ``expected_spend`` per purchase (Gamma-Gamma conditional mean; the population
        mean for customers outside the spend fit) and ``clv`` (discounted
        ``expected_spend`` x purchases per month over the horizon). Rounded to 6
        decimals; empty when ``reason`` is set; spend columns NaN when
        ``spend_reason`` is set.
    parameters : dict
        ``r``, ``alpha`` (in ``period`` units), ``a``, ``b`` of the BG/NBD; ``p``, ``q``,
        ``v`` of the Gamma-Gamma (``v`` is the published gamma); NaN when not fitted.
    log_likelihood, spend_log_likelihood : float
        At the estimates (NaN when not fitted).
    converged, spend_converged : bool
        The optimiser reported convergence and every estimate is finite.
    message, spend_message : str
        The optimiser's message (or the library's error).
    reason, spend_reason : str
        "" or a code of ``REASONS`` / ``SPEND_REASONS``.
    at_boundary : tuple of str
        Shape parameters whose estimate ran outside [1e-4, 1e4] (towards a limit of
        the model, e.g. no sign of drop-out); the fit is kept while its predictions
        are finite (else ``reason`` is ``not_converged``).
    info : dict
        Settings and counts: ``period``, ``horizon_months``, ``horizon_periods``,
        ``discount_rate_annual``, ``discount_rate_monthly``, ``customers``,
        ``repeat_customers``, ``spend_customers``, ``spend_excluded`` (repeat buyers
        with repeat spend <= 0, left out of the spend fit), ``spend_frequency_corr``
        (Pearson correlation of frequency and repeat spend among the spend customers;
        the Gamma-Gamma model assumes none), ``history_months``, ``need_months``,
        ``evaluations`` and ``spend_evaluations``, ``fit_seconds`` (wall time; the one
        entry that differs between reruns) and ``library`` (versions).
    """

    customers: pd.DataFrame
    parameters: dict
    log_likelihood: float = float("nan")
    spend_log_likelihood: float = float("nan")
    converged: bool = False
    spend_converged: bool = False
    message: str = ""
    spend_message: str = ""
    reason: str = ""
    spend_reason: str = ""
    at_boundary: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)

    @property
    def available(self) -> bool:
        """Whether the purchase model ran (else ``reason`` says why not)."""
        return not self.reason

    @property
    def spend_available(self) -> bool:
        """Whether expected spend and CLV are available."""
        return not self.reason and not self.spend_reason


def _library():
    """PyMC-Marketing's clv module and what the fit needs, imported on first use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # arviz announces its 1.0 on import
        import arviz as az
        import pymc as pm
        from pymc_extras.prior import Prior
        from pymc_marketing import clv
    _known_march_flags()
    return clv, pm, az, Prior


#: The files, in PyTensor's compile directory, where :func:`_known_march_flags` keeps the
#: compiler flags PyTensor found for a processor (one per compiler and processor).
MARCH_FLAGS_FILES = "tiering-march-flags-*.json"


def _known_march_flags(folder=None) -> None:
    """Give PyTensor the ``-march=native`` equivalent it found on this machine before.

    PyTensor finds it once per process, at its first compilation, by running the C++
    compiler on ``-march=native -E -v`` and compiling and running a test program with
    what that prints: a quarter of a second of every report's value model. What it
    finds depends only on the compiler, its flags and the processor, so it is kept in
    a file beside PyTensor's compiled modules (:data:`MARCH_FLAGS_FILES`), named after a
    key made of the compiler (its path, size and time), PyTensor's ``gcc__cxxflags`` and
    the processor's model, flags and cache size (``/proc/cpuinfo``): another compiler
    or processor, also one sharing the folder, finds its own. Only flags that passed
    PyTensor's own test at once are kept (not its fallbacks after a failure), and they
    are those PyTensor's compilation then uses (``GCC_compiler.march_flags``), so the
    compiled modules and their cache keys are the same as without the file. Without a
    C compiler, with a ``-march`` of the user's in ``gcc__cxxflags``, or when anything
    here fails, PyTensor finds them itself, as ever. ``folder``: where the files are
    (the tests'; PyTensor's ``compiledir`` when None).
    """
    try:
        _march_flags_from(folder)
    except Exception as exc:  # noqa: BLE001 - PyTensor finds them itself at its first compile
        log.debug("PyTensor's -march flags not kept: %s", exc)


def _march_flags_from(folder) -> None:
    import hashlib
    import json
    import os
    import platform
    from pathlib import Path

    from pytensor import config
    from pytensor.link.c import cmodule

    compiler = cmodule.GCC_compiler
    if not config.cxx or compiler.march_flags is not None:
        return  # no C compiler, or found already in this process
    if any(f.startswith(("-march=", "--march=")) for f in config.gcc__cxxflags.split()):
        return  # the user's own: PyTensor adds none
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
        cpu = fh.read().split("\n\n", 1)[0]
    processor = [ln for ln in cpu.splitlines() if ln.split(":")[0].strip() in _CPU_KEYS]
    exe = Path(shutil.which(config.cxx) or config.cxx).resolve()
    stat = exe.stat()
    key = hashlib.sha256(
        json.dumps(
            [
                str(exe),
                stat.st_size,
                stat.st_mtime_ns,
                cmodule.gcc_version_str,
                config.gcc__cxxflags,
                platform.machine(),
                processor,
            ]
        ).encode()
    ).hexdigest()
    folder = Path(config.compiledir if folder is None else folder)
    path = folder / MARCH_FLAGS_FILES.replace("*", key[:24])
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if kept.get("key") == key and isinstance(kept.get("flags"), list) and kept["flags"]:
            compiler.march_flags = [str(flag) for flag in kept["flags"]]
            return
    except (OSError, ValueError, AttributeError):
        pass  # none kept yet, or unreadable: found and kept below
    tests: list = []  # PyTensor's tests of the flags it found: passed at once, or not
    original = cmodule.try_march_flag

    def recorded(flags):
        result = original(flags)
        tests.append(bool(result[0] and result[1]))
        return result

    cmodule.try_march_flag = recorded
    try:
        compiler.compile_args()  # PyTensor finds them (its first compilation would)
    finally:
        cmodule.try_march_flag = original
    if tests != [True] or not compiler.march_flags:
        return  # a fallback after a failed test, or none: not kept, found again next time
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:  # written whole, then moved into place: another process reads all or nothing
        tmp.write_text(json.dumps({"key": key, "flags": compiler.march_flags}), "utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


#: The lines of ``/proc/cpuinfo`` that say which processor this is (its first one).
_CPU_KEYS = frozenset({"vendor_id", "cpu family", "model", "model name", "flags", "cache size"})


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("pymc-marketing", "pymc", "pytensor", "scipy", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = ""
    return out


def _map(pm, model, *, seed: int, max_evaluations: int) -> tuple[dict, object | None]:
    """The maximum a posteriori point of ``model`` as PyMC's ``find_MAP`` finds it
    (L-BFGS-B from the model's initial point on the transformed parameters, the log
    density without the Jacobian, so flat priors give the MLE), with SciPy's result,
    which ``find_MAP`` drops: ``(point, result)``; ``result`` is None when
    ``max_evaluations`` stopped it.

    The same compiled log density and gradient as ``find_MAP`` (the model's
    ``logp(jacobian=False)`` and ``dlogp``), so the same estimates to the last bit
    (``tests/test_clv.py`` compares them), in two compilations instead of its five: the
    start check and the back-transform of the estimates come out of the log density's
    function, not functions of their own. Compiling is most of a fit's cost on
    thousands of customers (about 0.15 s a function), and the report fits four models.
    A Ctrl-C is not swallowed, as ``find_MAP`` would.
    """
    from pymc.exceptions import SamplingError
    from pymc.util import get_default_varnames
    from scipy.optimize import minimize

    start = model.initial_point(random_seed=int(seed))
    by_name = {var.name: var for var in model.continuous_value_vars}
    names = [name for name in start if name in by_name]  # find_MAP's order
    inputs = [by_name[name] for name in names]
    shapes = [np.shape(start[name]) for name in names]
    sizes = [int(np.prod(shape, dtype=int)) for shape in shapes]
    x0 = np.concatenate([np.asarray(start[name], dtype=float).reshape(-1) for name in names])
    outputs = get_default_varnames(model.unobserved_value_vars, include_transformed=False)
    logp = model.compile_fn(
        [model.logp(jacobian=False), *outputs],
        inputs=inputs,
        point_fn=False,
        on_unused_input="ignore",
    )
    dlogp = model.compile_fn(
        model.dlogp([model.values_to_rvs[var] for var in inputs], jacobian=False),
        inputs=inputs,
        point_fn=False,
        on_unused_input="ignore",
    )

    def unravel(x):
        bounds = np.cumsum([0, *sizes])
        return [
            np.asarray(x[i:j]).reshape(shape) for i, j, shape in zip(bounds, bounds[1:], shapes)
        ]

    if not (np.isfinite(x0).all() and np.isfinite(logp(*unravel(x0))[0])):
        raise SamplingError(f"The model's log density is not finite at its starting point {start}")
    evaluations, last_finite = 0, x0

    def cost(x):  # find_MAP's CostFuncWrapper: stop after max_evaluations
        nonlocal evaluations, last_finite
        value = float(logp(*unravel(x))[0])
        gradient = np.asarray(dlogp(*unravel(x)), dtype=np.float64)
        if np.isfinite(gradient).all():
            last_finite = x
        if evaluations > max_evaluations:
            raise StopIteration
        evaluations += 1
        return -value, -gradient

    try:
        result = minimize(cost, x0, method="L-BFGS-B", jac=True)
        x = result.x
    except StopIteration:
        x, result = last_finite, None
    estimates = logp(*unravel(x))[1:]
    return {var.name: value for var, value in zip(outputs, estimates)}, result


def _verdict(point: dict, result, names, max_evaluations: int) -> tuple[dict, float, bool, str]:
    """Estimates, log-likelihood, converged flag and message of one optimisation."""
    est = {k: float(np.asarray(point[k]).reshape(-1)[0]) for k in names}
    finite = all(math.isfinite(v) for v in est.values())
    if result is None:
        return est, float("nan"), False, f"stopped after {max_evaluations} evaluations"
    loglik = -float(result.fun)
    message = str(result.message)
    converged = bool(result.success) and finite and math.isfinite(loglik)
    if not finite:
        message = f"{message} (an estimate is not finite)"
    return est, loglik, converged, message


def _posterior(az, est: dict):
    """A one-draw posterior holding the estimates, as the library's MAP fit stores it."""
    return az.from_dict(posterior={k: np.array([[v]]) for k, v in est.items()})


def _months_between(start: pd.Timestamp, end: pd.Timestamp) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    if start + pd.DateOffset(months=months) > end:
        months -= 1
    return max(months, 0)


def fit_value_model(
    summary: pd.DataFrame,
    *,
    horizon_months: int = 12,
    discount_rate_annual: float = 0.10,
    period: str = "W",
    min_history_months: int = 6,
    seed: int = 0,
    max_evaluations: int = 5000,
) -> ValueModel:
    """Fit BG/NBD and Gamma-Gamma by maximum likelihood and predict per customer.

    Parameters
    ----------
    summary : DataFrame
        From :func:`rfm_summary` (``customer_id``, ``frequency``, ``recency``, ``T``,
        ``monetary_value``; the last optional when spend is not wanted), with times in
        ``period`` units.
    horizon_months : int
        Months ahead for the expected purchases and the CLV.
    discount_rate_annual : float
        Annual discount rate of the CLV (0.10 = 10 % a year), applied monthly as
        ``(1 + rate) ** (1 / 12) - 1``.
    period : ``"W"`` or ``"D"``
        The unit of ``recency`` and ``T`` in ``summary``.
    min_history_months : int
        Whole months (of 30.44 days) from the earliest first purchase to the end of the
        calibration period (the largest ``T``) below which the fit is skipped
        (``reason`` ``too_short``).
    seed : int
        Passed to PyMC (the optimiser draws no random number; kept for the API).
    max_evaluations : int
        Evaluations of the likelihood after which the optimiser stops (``not_converged``).

    Returns
    -------
    ValueModel
    """
    settings = dict(locals())
    del settings["summary"]
    return _fit(summary, **settings)[0]


def _fit(
    summary,
    *,
    horizon_months,
    discount_rate_annual,
    period,
    min_history_months,
    seed,
    max_evaluations,
    lifetime_value=True,
):
    """:func:`fit_value_model`, also returning the fitted library models (or None).
    ``lifetime_value=False`` leaves the ``clv`` column NaN (the holdout check reads only
    the expected spend: the library's CLV costs a quarter of a second)."""
    require(period in PERIODS, f"period must be W or D, got {period!r}", where="period")
    require(
        isinstance(horizon_months, (int, np.integer)) and 1 <= horizon_months <= 120,
        f"horizon_months must be a whole number from 1 to 120, got {horizon_months!r}",
        where="fit_value_model(horizon_months)",
    )
    require(
        0 <= float(discount_rate_annual) < 1,
        f"discount_rate_annual must be in [0, 1), got {discount_rate_annual!r}",
        where="fit_value_model(discount_rate_annual)",
        hint="e.g. 0.10 for 10 % a year",
    )
    missing = [c for c in ("customer_id", "frequency", "recency", "T") if c not in summary]
    require(
        not missing,
        f"The summary lacks {', '.join(missing)}",
        where="fit_value_model(summary)",
        error=DataError,
        hint="make it with tiering.analysis.clv.rfm_summary",
    )
    monthly = (1.0 + float(discount_rate_annual)) ** (1.0 / 12.0) - 1.0
    n = len(summary)
    frequency = summary["frequency"].to_numpy(dtype=np.int64)
    recency = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    has_spend = "monetary_value" in summary
    monetary = summary["monetary_value"].to_numpy(dtype=float) if has_spend else np.zeros(n)
    history_days = float(T.max()) * PERIODS[period] if n else 0.0
    history_months = math.floor(round(history_days) / _DAYS_PER_MONTH)
    repeat = frequency > 0
    in_spend = repeat & (monetary > 0) & np.isfinite(monetary)
    info = {
        "period": period,
        "horizon_months": int(horizon_months),
        "horizon_periods": float(horizon_months * _PER_MONTH[period]),
        "discount_rate_annual": float(discount_rate_annual),
        "discount_rate_monthly": monthly,
        "customers": int(n),
        "repeat_customers": int(repeat.sum()),
        "spend_customers": int(in_spend.sum()),
        "spend_excluded": int((repeat & ~in_spend).sum()) if has_spend else 0,
        "spend_frequency_corr": float("nan"),
        "history_months": int(history_months),
        "need_months": int(min_history_months),
        "evaluations": 0,
        "spend_evaluations": 0,
        "fit_seconds": 0.0,
        "library": {},
    }
    nan_params = dict.fromkeys(_PURCHASE_PARAMS + _SPEND_PARAMS, float("nan"))

    def unavailable(reason: str, message: str = "", **est) -> tuple[ValueModel, None, None]:
        empty = pd.DataFrame(columns=list(CUSTOMER_COLUMNS))
        parameters = {**nan_params, **est}
        return ValueModel(empty, parameters, message=message, reason=reason, info=info), None, None

    if n == 0:
        return unavailable("no_customers")
    if history_months < int(min_history_months):
        return unavailable("too_short")
    if not repeat.any():
        return unavailable("no_repeat_buyers")
    require(
        bool(np.all(np.isfinite(recency)) and np.all(np.isfinite(T)))
        and bool(np.all((recency >= 0) & (recency <= T))),
        "The summary needs finite 0 <= recency <= T",
        where="fit_value_model(summary)",
        error=DataError,
    )

    clv, pm, az, Prior = _library()
    info["library"] = _versions()
    started = time.perf_counter()
    # positional ids inside the library: xarray aligns on them, integers are cheapest
    data = pd.DataFrame({"customer_id": np.arange(n), "frequency": frequency})
    data["recency"], data["T"] = recency, T
    bg = clv.BetaGeoModel(model_config={k: Prior("HalfFlat") for k in _PURCHASE_PARAMS})
    try:
        bg.build_model(data)
        point, result = _map(pm, bg.model, seed=seed, max_evaluations=max_evaluations)
    except _LIBRARY_ERRORS as exc:
        info["fit_seconds"] = time.perf_counter() - started
        return unavailable("fit_failed", f"{type(exc).__name__}: {exc}")
    est, loglik, converged, message = _verdict(point, result, _PURCHASE_PARAMS, max_evaluations)
    info["evaluations"] = int(getattr(result, "nfev", max_evaluations))
    if not converged:
        info["fit_seconds"] = time.perf_counter() - started
        return unavailable("not_converged", message, **est)
    bg.idata = _posterior(az, est)
    horizon = float(horizon_months * _PER_MONTH[period])
    with np.errstate(all="ignore"):
        p_alive = bg.expected_probability_alive(data).to_numpy().reshape(-1)
        purchases = bg.expected_purchases(data, future_t=horizon).to_numpy().reshape(-1)
    if not (np.isfinite(p_alive).all() and np.isfinite(purchases).all()):
        # e.g. regular buyers who never drop out: r, alpha -> infinity, a -> 0
        info["fit_seconds"] = time.perf_counter() - started
        limits = ", ".join(f"{k} = {v:.3g}" for k, v in est.items())
        message = f"{message}; the estimates ran to a limit of the model ({limits}): predictions are not finite"
        return unavailable("not_converged", message, **est)

    spend = dict.fromkeys(_SPEND_PARAMS, float("nan"))
    spend_loglik, spend_converged, spend_message, spend_reason = float("nan"), False, "", ""
    gg = None
    if not has_spend or not in_spend.any():
        spend_reason = "no_positive_spend"
    else:
        if in_spend.sum() >= 3:
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = np.corrcoef(frequency[in_spend], monetary[in_spend])[0, 1]
            info["spend_frequency_corr"] = float(corr)
        gg_data = pd.DataFrame(
            {
                "customer_id": np.flatnonzero(in_spend),
                "frequency": frequency[in_spend],
                "monetary_value": monetary[in_spend],
            }
        )
        gg = clv.GammaGammaModel(model_config={k: Prior("HalfFlat") for k in _SPEND_PARAMS})
        try:
            gg.build_model(gg_data)
            gpoint, gresult = _map(pm, gg.model, seed=seed, max_evaluations=max_evaluations)
        except _LIBRARY_ERRORS as exc:
            gg, spend_reason, spend_message = (
                None,
                "spend_fit_failed",
                f"{type(exc).__name__}: {exc}",
            )
        else:
            spend, spend_loglik, spend_converged, spend_message = _verdict(
                gpoint, gresult, _SPEND_PARAMS, max_evaluations
            )
            info["spend_evaluations"] = int(getattr(gresult, "nfev", max_evaluations))
            if not spend_converged:
                gg, spend_reason = None, "spend_not_converged"
            elif spend["q"] <= 1:
                gg, spend_reason = None, "spend_infinite_mean"
            else:
                gg.idata = _posterior(az, spend)

    expected_spend = np.full(n, np.nan)
    value = np.full(n, np.nan)
    if gg is not None:
        # customers outside the spend fit get the population mean (their x counts as 0)
        spend_data = data[["customer_id"]].assign(
            frequency=np.where(in_spend, frequency, 0),
            monetary_value=np.where(in_spend, monetary, 0.0),
        )
        with np.errstate(all="ignore"):
            expected_spend = gg.expected_customer_spend(spend_data).to_numpy().reshape(-1)
            if lifetime_value:
                value = clv.customer_lifetime_value(
                    transaction_model=bg,
                    data=data.assign(future_spend=expected_spend),
                    future_t=int(horizon_months),
                    discount_rate=monthly,
                    time_unit=period,
                )
                value = value.to_numpy().reshape(-1)
        if not (
            np.isfinite(expected_spend).all() and (np.isfinite(value).all() or not lifetime_value)
        ):
            gg, spend_reason = None, "spend_not_converged"
            spend_message = f"{spend_message}; predictions are not finite"
            expected_spend, value = np.full(n, np.nan), np.full(n, np.nan)
    info["fit_seconds"] = time.perf_counter() - started

    customers = pd.DataFrame(
        {
            "customer_id": summary["customer_id"].astype(str).to_numpy(),
            "frequency": frequency,
            "recency": recency,
            "T": T,
            "monetary_value": monetary,
            "in_spend_model": in_spend,
            "p_alive": np.round(p_alive, 6),
            "expected_purchases": np.round(purchases, 6),
            "expected_spend": np.round(expected_spend, 6),
            "clv": np.round(value, 6),
        },
        columns=list(CUSTOMER_COLUMNS),
    )
    parameters = {**est, **spend}
    boundary = tuple(
        k
        for k in _SHAPES
        if math.isfinite(parameters[k]) and not 1 / BOUNDARY <= parameters[k] <= BOUNDARY
    )
    fitted = ValueModel(
        customers=customers,
        parameters=parameters,
        log_likelihood=loglik,
        spend_log_likelihood=spend_loglik,
        converged=converged,
        spend_converged=spend_converged,
        message=message,
        spend_message=spend_message,
        spend_reason=spend_reason,
        at_boundary=boundary,
        info=info,
    )
    return fitted, bg, gg


# --------------------------------------------------------------------------- holdout


@dataclass(frozen=True)
class ValueHoldout:
    """The result of :func:`value_holdout_check`.

    Attributes
    ----------
    customers : DataFrame
        ``HOLDOUT_COLUMNS``, one row per customer who bought before the cut-off:
        calibration ``frequency`` and its ``frequency_group`` ("0" ... "6", "7+"),
        actual purchase days and net spend in the holdout, the model's predictions and
        the baseline's (``frequency / T`` and repeat spend / ``T`` times the holdout
        length). Spend columns NaN when the spend model is unavailable.
    groups : DataFrame
        ``GROUP_COLUMNS``: the means of the customer columns by frequency group (the
        calibration chart).
    params : dict
        ``months``, ``as_of``, ``cutoff``, ``period``, ``holdout_periods``,
        ``customers``, ``new_customers`` (first bought in the holdout; not predicted),
        ``mae_purchases``, ``mae_purchases_baseline``, ``beats_baseline_purchases``,
        ``mae_spend``, ``mae_spend_baseline``, ``beats_baseline_spend`` (None when
        spend is unavailable), ``actual_purchases_total``,
        ``predicted_purchases_total``, ``baseline_purchases_total``; ``reason`` ("" or
        ``too_short`` with ``need_months`` / ``have_months``, or the model's reason),
        ``spend_reason``; ``model`` (the calibration :class:`ValueModel`, its ``clv``
        column NaN: the check needs no lifetime value).
    """

    customers: pd.DataFrame
    groups: pd.DataFrame
    params: dict = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return not self.params.get("reason")

    @property
    def reason(self) -> str:
        return str(self.params.get("reason", ""))


def _frequency_groups(frequency: np.ndarray, top: int) -> np.ndarray:
    labels = np.array([str(i) for i in range(top)] + [f"{top}+"], dtype=object)
    return labels[np.minimum(frequency, top)]


def value_holdout_check(
    transactions: pd.DataFrame,
    *,
    as_of,
    months: int,
    period: str = "W",
    min_history_months: int = 6,
    top_group: int = 7,
    seed: int = 0,
    max_evaluations: int = 5000,
) -> ValueHoldout:
    """Fit on the data before ``as_of - months``, predict the holdout months, compare.

    The split is the one of :func:`tiering.analysis.holdout.holdout_check`: the cut-off
    is ``as_of`` minus ``months`` calendar months and the data must start at least
    ``2 * months`` before ``as_of``. A purchase is a purchase day (as in the fit);
    spend is the net amount (returns included) in ``[cutoff, as_of)``. The model
    predicts over the holdout's exact length in ``period`` units.
    """
    require(
        isinstance(months, (int, np.integer)) and 0 < months <= 120,
        f"The holdout must be a whole number of months from 1 to 120, got {months!r}",
        where="value_holdout_check(months)",
    )
    as_of_ts = pd.Timestamp(as_of).normalize()
    cutoff = as_of_ts - pd.DateOffset(months=int(months))
    dates = pd.to_datetime(transactions["order_date"])
    first = dates.min() if len(dates) else pd.NaT
    holdout_periods = (as_of_ts - cutoff).days / PERIODS[period]
    base = {
        "months": int(months),
        "as_of": as_of_ts.date(),
        "cutoff": cutoff.date(),
        "period": period,
        "holdout_periods": holdout_periods,
    }
    empty = ValueHoldout(
        pd.DataFrame(columns=[*HOLDOUT_COLUMNS]), pd.DataFrame(columns=[*GROUP_COLUMNS])
    )
    need_from = as_of_ts - pd.DateOffset(months=2 * int(months))
    if pd.isna(first) or pd.Timestamp(first).normalize() > need_from:
        have = 0 if pd.isna(first) else _months_between(pd.Timestamp(first).normalize(), as_of_ts)
        params = {**base, "reason": "too_short", "need_months": 2 * int(months)}
        return ValueHoldout(empty.customers, empty.groups, {**params, "have_months": have})

    summary = rfm_summary(transactions, cutoff=cutoff, period=period)
    model, bg, gg = _fit(
        summary,
        horizon_months=int(months),
        discount_rate_annual=0.0,
        period=period,
        min_history_months=min_history_months,
        seed=seed,
        max_evaluations=max_evaluations,
        lifetime_value=False,
    )
    if not model.available:
        params = {**base, "reason": model.reason, "spend_reason": "", "model": model}
        return ValueHoldout(empty.customers, empty.groups, params)

    n = len(summary)
    ids = summary["customer_id"].astype(str).to_numpy()
    in_holdout = ((dates >= cutoff) & (dates < as_of_ts)).to_numpy()
    after = transactions[in_holdout]
    after_days = dates[in_holdout].dt.normalize().to_numpy()
    after_ids = after["customer_id"].astype(str)
    is_return = (
        after["is_return"].to_numpy(dtype=bool)
        if "is_return" in after
        else after["amount"].to_numpy(dtype=float) < 0
    )
    buy_days = (
        pd.DataFrame({"c": after_ids.to_numpy()[~is_return], "d": after_days[~is_return]})
        .drop_duplicates()
        .groupby("c")
        .size()
    )
    spent = after["amount"].groupby(after_ids).sum()
    actual = pd.Series(ids).map(buy_days).fillna(0).to_numpy(dtype=float)
    actual_spend = np.round(pd.Series(ids).map(spent).fillna(0.0).to_numpy(dtype=float), 6)

    with np.errstate(all="ignore"):
        predicted = bg.expected_purchases(future_t=holdout_periods).to_numpy().reshape(-1)
    if not np.isfinite(predicted).all():
        params = {**base, "reason": "not_converged", "spend_reason": "", "model": model}
        return ValueHoldout(empty.customers, empty.groups, params)
    frequency = summary["frequency"].to_numpy(dtype=np.int64)
    T = summary["T"].to_numpy(dtype=float)
    rate = np.divide(frequency, T, out=np.zeros(n), where=T > 0)
    baseline = rate * holdout_periods
    monetary = summary["monetary_value"].to_numpy(dtype=float)
    if gg is not None:
        per_purchase = model.customers["expected_spend"].to_numpy(dtype=float)
        predicted_spend = predicted * per_purchase
        baseline_spend = baseline * monetary
    else:
        predicted_spend = baseline_spend = np.full(n, np.nan)

    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "frequency": frequency,
            "frequency_group": _frequency_groups(frequency, int(top_group)),
            "actual_purchases": actual,
            "predicted_purchases": np.round(predicted, 6),
            "baseline_purchases": np.round(baseline, 6),
            "actual_spend": actual_spend,
            "predicted_spend": np.round(predicted_spend, 6),
            "baseline_spend": np.round(baseline_spend, 6),
        },
        columns=list(HOLDOUT_COLUMNS),
    )
    order = [str(i) for i in range(int(top_group))] + [f"{int(top_group)}+"]
    groups = (
        customers.groupby("frequency_group", sort=False)
        .agg(
            customers=("customer_id", "size"),
            **{c: (c, "mean") for c in GROUP_COLUMNS[2:]},
        )
        .reindex([g for g in order if g in set(customers["frequency_group"])])
        .reset_index()
    )

    def mae(a, b) -> float:
        return float(np.mean(np.abs(a - b)))

    spend_ok = gg is not None
    mae_p, mae_pb = mae(actual, predicted), mae(actual, baseline)
    mae_s = mae(actual_spend, predicted_spend) if spend_ok else float("nan")
    mae_sb = mae(actual_spend, baseline_spend) if spend_ok else float("nan")
    params = {
        **base,
        "reason": "",
        "spend_reason": model.spend_reason,
        "customers": int(n),
        "new_customers": int(after_ids[~after_ids.isin(set(ids))].nunique()),
        "mae_purchases": mae_p,
        "mae_purchases_baseline": mae_pb,
        "beats_baseline_purchases": bool(mae_p < mae_pb),
        "mae_spend": mae_s,
        "mae_spend_baseline": mae_sb,
        "beats_baseline_spend": bool(mae_s < mae_sb) if spend_ok else None,
        "actual_purchases_total": float(actual.sum()),
        "predicted_purchases_total": float(predicted.sum()),
        "baseline_purchases_total": float(baseline.sum()),
        "model": model,
    }
    return ValueHoldout(customers=customers, groups=groups, params=params)
