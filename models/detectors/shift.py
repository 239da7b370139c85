"""Two slower signals beside a detector's likelihood: a sustained shift, and a burst of noise.

The likelihood judges one reading (or the mean of a few) at a time, so a value that departs a little
but keeps departing (a sensor drifting, a level shift the young profile half follows, a road's
flow cut by an accident) never looks rare enough, nor do readings that each stay in range but jump
about more than usual. :class:`ShiftWatch` watches for both, per sensor:

- **shift**: Page's two-sided CUSUM on the model's signed departure (the value's distance from what
  the model expected, in its standard deviations; see
  :meth:`~models.detectors.seasonal_zscore.SeasonalZScore.departure`). Each reading adds its
  departure less the ``slack`` to the upward sum (and its negative less the slack to the downward
  one), neither below 0; a sum beyond ``limit`` is a shift. Departures are capped at
  :data:`CAP`, so one spike alone cannot reach the limit.
- **noise**: the recent mean of the absolute differences of successive values (fading
  ``quick``) against their usual mean (fading ``fading``, not learning differences over
  :data:`NOISE_LEARN_BELOW` times it); a recent mean ``noise_ratio`` times the usual (and at least
  the kind's floor's half) is a burst of noise.

>>> watch = ShiftWatch()
>>> calm = [watch.observe(20.0 + 0.5 * (i % 2), 0.3 * (-1) ** i, floor=0.1) for i in range(60)]
>>> set(calm)
{''}
>>> drifting = [watch.observe(20.0 + 0.5 * (i % 2), 2.5, floor=0.1) for i in range(16)]
>>> drifting.index(SHIFT), set(drifting[:14])
(14, {''})
>>> watch = ShiftWatch()
>>> calm = [watch.observe(20.0 + 0.5 * (i % 2), 0.0, floor=0.1) for i in range(60)]
>>> watch.observe(30.0, 0.0, floor=0.1), watch.observe(12.0, 0.0, floor=0.1)
('noise', 'noise')
"""

from __future__ import annotations

SHIFT = "shift"
"""The signal of a sustained departure (Page's CUSUM)."""
NOISE = "noise"
"""The signal of successive values jumping about more than usual."""

CAP = 8.0
"""The largest departure (in standard deviations) one reading adds to a CUSUM sum."""

NOISE_GRACE = 20
"""Differences learnt before the noise signal may fire."""

NOISE_LEARN_BELOW = 3.0
"""Differences over this many times the usual one are not learnt into it (a burst's own jumps)."""


class ShiftWatch:
    """A sensor's CUSUM of departures and its usual size of successive differences."""

    def __init__(
        self,
        slack: float = 1.25,
        limit: float = 18.0,
        noise_ratio: float = 6.0,
        fading: float = 0.02,
        quick: float = 0.3,
    ) -> None:
        self.slack = slack
        self.limit = limit
        self.noise_ratio = noise_ratio
        self.fading = fading
        self.quick = quick
        self.up = 0.0
        """The upward CUSUM sum."""
        self.down = 0.0
        """The downward CUSUM sum."""
        self.previous: float | None = None
        self.step = 0.0
        """The usual absolute difference of successive values."""
        self.recent_step = 0.0
        """The recent absolute difference of successive values."""
        self.n_steps = 0

    def observe(self, value: float, departure: float | None, floor: float) -> str:
        """The signal ``value`` (``departure`` standard deviations from what was expected) raises:
        :data:`SHIFT`, :data:`NOISE` or ``""``; then learn it. ``floor`` is the least usual difference
        of successive values that counts. Without a departure (nothing expected yet, or a value pinned at
        its range's edge, a solar plant's night) it raises nothing, and the next value has no previous
        one to differ from."""
        if departure is None:
            self.previous = None
            return ""
        departure = min(max(departure, -CAP), CAP)
        slack = self.slack
        self.up = up = max(0.0, self.up + departure - slack)
        self.down = down = max(0.0, self.down - departure - slack)
        signal = SHIFT if up > self.limit or down > self.limit else ""
        previous, self.previous = self.previous, value
        if previous is None:
            return signal
        difference = abs(value - previous)
        step = self.step
        self.recent_step = recent = self.recent_step + self.quick * (difference - self.recent_step)
        if self.n_steps > NOISE_GRACE and not signal and recent > self.noise_ratio * max(step, floor):
            signal = NOISE
        if not step:
            self.step = difference
        elif self.n_steps <= NOISE_GRACE or difference <= NOISE_LEARN_BELOW * step:
            self.step = step + self.fading * (difference - step)
        self.n_steps += 1
        return signal
