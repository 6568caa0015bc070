"""The suite's guard on event handlers and due jobs (the `app` fixture in conftest.py): a test
whose events meet a failing handler fails, naming the event and the handler's error, unless the
test says it breaks a handler on purpose. Run as a small pytest session of its own."""

from __future__ import annotations

import pytest

pytest_plugins = ("pytester",)

INNER = '''
from collections.abc import Iterator

import pytest

from linli import outbox
from linli.events import MembershipRevoked
from linli.outbox import Envelope

NAME = "tests.guard.broken"


@pytest.fixture
def broken_handler() -> Iterator[None]:
    """Subscribed before the app starts, so still subscribed when the app's guard runs."""

    async def broken(session: object, envelope: Envelope[MembershipRevoked]) -> None:
        raise RuntimeError("broken on purpose")

    outbox.subscribe(MembershipRevoked, NAME)(broken)
    yield
    outbox.unsubscribe(MembershipRevoked, NAME)


async def publish(app) -> None:
    async with app.state.sessionmaker() as s, s.begin():
        outbox.publish(s, MembershipRevoked(organisation_id=1, user_id=1, role="owner"))


async def test_dispatched_by_the_test(broken_handler, app) -> None:
    await publish(app)
    await app.state.dispatcher.run_once()


async def test_left_pending_by_the_test(broken_handler, app) -> None:
    await publish(app)


@pytest.mark.dispatch_errors_expected
async def test_broken_on_purpose(broken_handler, app) -> None:
    await publish(app)
    await app.state.dispatcher.run_once()


async def test_no_handler_fails(app) -> None:
    await publish(app)
'''


def test_a_failing_handler_fails_the_test_that_triggered_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ("tests.conftest",)')
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.assert_outcomes(passed=4, errors=2)
    output = result.stdout.str()
    failures = [line for line in output.splitlines() if line.startswith("E ")]
    named = (
        "E         outbox event #1 accounts.MembershipRevoked (pending): "
        "tests.guard.broken: RuntimeError: broken on purpose"
    )
    assert failures.count("E       AssertionError: event handlers or due jobs failed:") == 2
    assert failures.count(named) == 2
    for name in ("test_dispatched_by_the_test", "test_left_pending_by_the_test"):
        assert f"ERROR test_inner.py::{name} - AssertionError" in output
