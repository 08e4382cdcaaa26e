"""Progress reports for long transfers come in steps, not one per file or chunk."""

from __future__ import annotations

from trainyard.progress import byte_steps


def test_two_thousand_blobs_give_ten_reports():
    """A 100 MB upload in 2000 pieces reports once per 10 % and once at the end."""
    said: list[str] = []
    report = byte_steps(said.append, "syncing to n1", min_total=1 << 20)
    total = 2000 * 50_000
    for i in range(1, 2001):
        report(i * 50_000, total)
    assert len(said) == 10 and said[0] == "syncing to n1: 10.0 / 100.0 MB (10 %)"
    assert said[-1] == "syncing to n1: 100.0 / 100.0 MB (100 %)"


def test_small_or_unknown_sizes():
    """Below min_total nothing is said; with no known total, a report per 10 MB."""
    said: list[str] = []
    byte_steps(said.append, "up", 500_000, min_total=1 << 20)(500_000)
    assert said == []
    report = byte_steps(said.append, "downloading x")
    for done in range(1_000_000, 25_000_001, 1_000_000):
        report(done)
    assert said == ["downloading x: 10.0 MB", "downloading x: 20.0 MB"]


def test_sink_with_transfer_gets_every_report():
    """A sink that draws bars (the CLI's on a terminal) gets every report, not the 10 % steps."""

    class Bar:
        def __init__(self):
            self.seen = []

        def __call__(self, message):
            raise AssertionError("no step lines for a bar")

        def transfer(self, label, done, total):
            self.seen.append((label, done, total))

    bar = Bar()
    report = byte_steps(bar, "syncing to n1", min_total=1 << 20)
    for i in range(1, 51):
        report(i * 50_000, 50 * 50_000)
    assert len(bar.seen) == 50 and bar.seen[-1] == ("syncing to n1", 2_500_000, 2_500_000)


def test_render_bar_shows_rate_and_eta():
    """The bar shows how far, the rate and the time left."""
    from trainyard.progress import render_bar

    text = render_bar("syncing to n1", 25_000_000, 100_000_000, 5.0)
    assert "[######..................] 25.0/100.0 MB" in text and "5.0 MB/s" in text and "ETA 0:15" in text
