"""The attempts' deadlines on one loop timer (sidecar/delivery/attempt.py): each fires once, at its time."""

from __future__ import annotations

import asyncio

from sidecar.delivery.attempt import _Deadline, _Deadlines


async def _sleeper(seconds: float) -> str:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        return "cancelled"
    return "finished"


def test_mixed_deadlines_cancel_only_the_attempts_still_running_when_theirs_comes() -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        deadlines = _Deadlines()
        # (deadline s, sleep s): a later deadline added first, an earlier one after it re-arms the timer.
        plan = [(0.30, 1.0), (0.05, 1.0), (0.10, 0.01), (0.20, 1.0), (1.0, 0.02)]
        tasks, marks = [], []
        for limit, sleep in plan:
            task = asyncio.ensure_future(_sleeper(sleep))
            mark = _Deadline(task)  # type: ignore[arg-type]
            deadlines.add(loop, limit, mark)
            tasks.append(task)
            marks.append(mark)
        started = loop.time()
        ended: dict[int, float] = {}

        def finished(index: int) -> None:  # as the attempt's `finally` does, the moment it ends
            ended[index] = loop.time() - started
            deadlines.end(marks[index])

        for index, task in enumerate(tasks):
            task.add_done_callback(lambda _, index=index: finished(index))
        results = [await task for task in tasks]
        for index, (limit, _) in enumerate(plan):
            if marks[index].expired:
                assert ended[index] >= limit - 0.005
        # The 0.05 s deadline came after the 0.30 s one had set the timer: it fired at its own time.
        assert ended[1] < 0.25
        deadlines.close()
        assert deadlines._live == 0
        return results

    assert asyncio.run(scenario()) == ["cancelled", "cancelled", "finished", "cancelled", "finished"]


def test_ended_deadlines_do_not_pile_up() -> None:
    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        deadlines = _Deadlines()
        task = asyncio.ensure_future(asyncio.sleep(0))
        for _ in range(10_000):
            mark = _Deadline(task)  # type: ignore[arg-type]
            deadlines.add(loop, 10.0, mark)
            deadlines.end(mark)
        size = len(deadlines._heap)
        deadlines.close()
        await task
        return size

    assert asyncio.run(scenario()) <= 2 + _Deadlines.COMPACT_SLACK
