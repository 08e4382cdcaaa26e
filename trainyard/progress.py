"""Progress of long transfers in steps: a report per 10 % of the bytes (per 10 MB when the size is not
known), so a 2000-file upload says ten things, not two thousand. Library code only calls ``say``; the CLI
decides where that goes (stderr), and a run's status reason is another sink."""

from __future__ import annotations

from collections.abc import Callable

Say = Callable[[str], None]


def byte_steps(say: Say | None, label: str, total: int | None = None,
               min_total: int = 0) -> Callable[..., None]:
    """A ``report(done, total=None)`` calling ``say("LABEL: 12.0 / 105.0 MB (11 %)")`` once per step and
    at the end; silent when ``say`` is None or the transfer is smaller than ``min_total`` bytes."""
    last = [0]

    def report(done: int, size: int | None = None) -> None:
        size = size or total
        if say is None or (size or 0) < min_total:
            return
        if done - last[0] >= (size / 10 if size else 10e6) or done == size:
            last[0] = done
            say(f"{label}: {done / 1e6:.1f} / {size / 1e6:.1f} MB ({done * 100 // size} %)" if size
                else f"{label}: {done / 1e6:.1f} MB")

    return report
