"""Templates: data never goes through `_()` (it trusts its text: the result is marked safe),
and `term()` shows stored values in words, escaped."""

from __future__ import annotations

from jinja2 import nodes

from linli import i18n
from linli.labels import REVIEW_STATUSES
from linli.web import TEMPLATES_DIR, make_environment

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
