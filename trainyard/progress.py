"""Progress of long transfers in steps: a report per 10 % of the bytes (per 10 MB when the size is not
known), so a 2000-file upload says ten things, not two thousand. Library code only calls ``say``; the CLI
decides where that goes (stderr), and a run's status reason is another sink. A sink with a
``transfer(label, done, total)`` method (the CLI's on a terminal) gets every report instead, to draw a bar
with rate and ETA (``render_bar``)."""

from __future__ import annotations

from collections.abc import Callable

Say = Callable[[str], None]


def byte_steps(say: Say | None, label: str, total: int | None = None,
               min_total: int = 0) -> Callable[..., None]:
    """A ``report(done, total=None)`` calling ``say("LABEL: 12.0 / 105.0 MB (11 %)")`` once per step and
    at the end; silent when ``say`` is None or the transfer is smaller than ``min_total`` bytes."""
    last = [0]
    transfer = getattr(say, "transfer", None)

    def report(done: int, size: int | None = None) -> None:
        size = size or total
        if say is None or (size or 0) < min_total:
            return
        if transfer is not None:
            transfer(label, done, size)
            return
        if done - last[0] >= (size / 10 if size else 10e6) or done == size:
            last[0] = done
            say(f"{label}: {done / 1e6:.1f} / {size / 1e6:.1f} MB ({done * 100 // size} %)" if size
                else f"{label}: {done / 1e6:.1f} MB")

    return report


def render_bar(label: str, done: int, total: int | None, elapsed: float, width: int = 24) -> str:
    """``label [#######.....] 12.0/105.0 MB  8.3 MB/s  ETA 0:11`` (pure)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    if not total:
        return f"{label}: {done / 1e6:.1f} MB  {rate / 1e6:.1f} MB/s"
    filled = min(width, int(width * done / total))
    eta = (total - done) / rate if rate > 0 else None
    eta_text = f"{int(eta) // 60}:{int(eta) % 60:02d}" if eta is not None else "-:--"
    return (f"{label} [{'#' * filled}{'.' * (width - filled)}] {done / 1e6:.1f}/{total / 1e6:.1f} MB  "
            f"{rate / 1e6:.1f} MB/s  ETA {eta_text}")
