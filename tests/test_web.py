"""Templates: data never goes through `_()` (it trusts its text: the result is marked safe),
and `term()` shows stored values in words, escaped. `form_action`: a failed form settles its
transaction as the error asks and answers with its page."""

from __future__ import annotations

from typing import cast

import pytest
from jinja2 import nodes
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from linli import i18n
from linli.errors import DomainError, ValidationFailed
from linli.labels import REVIEW_STATUSES
from linli.web import TEMPLATES_DIR, flash_error, form_action, make_environment

GETTEXT = {"_", "gettext", "ngettext", "pgettext"}


def test_templates_translate_only_literal_text() -> None:
    env = make_environment()
    passed_data = []
    templates = sorted(TEMPLATES_DIR.rglob("*.html"))
    assert len(templates) > 40
    for path in templates:
        name = str(path.relative_to(TEMPLATES_DIR))
        for call in env.parse(path.read_text("utf-8"), name).find_all(nodes.Call):
            if isinstance(call.node, nodes.Name) and call.node.name in GETTEXT:
                first = call.args[0] if call.args else None
                if not (isinstance(first, nodes.Const) and isinstance(first.value, str)):
                    passed_data.append(f"{name}:{call.lineno}")
    assert passed_data == [], "use term(VOCABULARY, value) for data, never _(value)"


def test_term_translates_known_values_and_escapes_everything() -> None:
    env = make_environment()
    page = env.from_string("{{ term(vocabulary, value) }}")
    token = i18n.set_locale("zh_Hans")
    try:
        assert page.render(vocabulary=REVIEW_STATUSES, value="approved") == "已批准"
        hostile = '<script>alert("x")</script>'
        assert page.render(vocabulary=REVIEW_STATUSES, value=hostile) == (
            "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
        )
        assert page.render(vocabulary={"x": "<b>"}, value="x") == "&lt;b&gt;"
        assert page.render(vocabulary=REVIEW_STATUSES, value=None) == ""
    finally:
        i18n.reset_locale(token)


class _Session:
    """Records how a failed form settled its transaction."""

    def __init__(self) -> None:
        self.settled: list[str] = []

    async def commit(self) -> None:
        self.settled.append("commit")

    async def rollback(self) -> None:
        self.settled.append("rollback")


def _answer(error: DomainError) -> Response:
    return Response(error.message.msgid, status_code=error.status_code)


async def test_form_action_returns_the_work_and_settles_nothing_on_success() -> None:
    fake = _Session()

    async def work() -> int:
        return 7

    assert await form_action(cast(AsyncSession, fake), work, on_error=_answer) == 7
    assert fake.settled == []


@pytest.mark.parametrize(("keep", "settled"), [(False, "rollback"), (True, "commit")])
async def test_a_failed_form_settles_as_its_error_asks(keep: bool, settled: str) -> None:
    fake = _Session()

    async def work() -> int:
        raise DomainError("Refused.", status=409, keep_changes=keep)

    async def page(error: DomainError) -> Response:  # answers may load a page first
        return _answer(error)

    answer = await form_action(cast(AsyncSession, fake), work, on_error=page)
    assert isinstance(answer, Response)
    assert (answer.status_code, answer.body) == (409, b"Refused.")
    assert fake.settled == [settled]


async def test_a_model_refusing_form_input_is_a_422_not_a_server_error() -> None:
    class Body(BaseModel):
        count: int

    fake = _Session()

    async def work() -> Body:
        return Body.model_validate({"count": "many"})

    answer = await form_action(cast(AsyncSession, fake), work, on_error=_answer)
    assert isinstance(answer, Response)
    assert answer.status_code == ValidationFailed.status_code == 422
    assert fake.settled == ["rollback"]


def test_flash_error_goes_back_with_the_message() -> None:
    answer = flash_error("/merchant")(DomainError("Refused."))
    assert (answer.status_code, answer.headers["location"]) == (303, "/merchant")
    assert "Refused." in answer.headers["set-cookie"]
