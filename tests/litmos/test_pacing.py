from litmos_pipeline.litmos.pacing import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def starts(pacer: Pacer, clock: FakeClock, n: int) -> list[float]:
    out = []
    for _ in range(n):
        pacer.wait()
        out.append(clock.now)
    return out


def test_even_spacing_never_exceeds_the_window() -> None:
    clock = FakeClock()
    pacer = Pacer(90, clock=clock, sleep=clock.sleep)
    times = starts(pacer, clock, 300)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 60 / 90 - 1e-9
    for i, t in enumerate(times):
        in_window = sum(1 for u in times[i:] if u < t + 60)
        assert in_window <= 90


def test_burst_then_window_limit() -> None:
    clock = FakeClock()
    pacer = Pacer(10, burst=10, clock=clock, sleep=clock.sleep)
    times = starts(pacer, clock, 12)
    assert times[:10] == [0.0] * 10  # a provisioning run's calls go out at once
    assert times[10] >= 60.0  # the eleventh waits for the window to free a slot


def test_unpaced_never_sleeps() -> None:
    clock = FakeClock()
    pacer = Pacer(None, clock=clock, sleep=clock.sleep)
    assert starts(pacer, clock, 1000)[-1] == 0.0
