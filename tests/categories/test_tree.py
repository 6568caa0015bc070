"""The category tree as other domains read it: lineage, roots per consumption type, and the
training categories the services catalogue and the prepaid rule read."""

from __future__ import annotations

import pytest

from linli.categories.tree import DEFAULT_CATEGORIES, CategoryNode, CategoryTree
from linli.services.catalogue import is_subject_training

pytestmark = pytest.mark.database_free


def the_default_tree() -> CategoryTree:
    ids = {code: n + 1 for n, (code, *_rest) in enumerate(DEFAULT_CATEGORIES)}
    return CategoryTree(
        [
            CategoryNode(ids[code], code, ids[parent] if parent else None, kind, en, zh, n)
            for n, (code, parent, kind, en, zh) in enumerate(DEFAULT_CATEGORIES)
        ]
    )


def test_every_consumption_type_has_one_root_naming_it_in_both_languages() -> None:
    tree = the_default_tree()
    roots = tree.consumption_types()
    assert [r.consumption_type for r in roots] == [
        "information",
        "smart",
        "health",
        "essentials",
        "culture_tourism",
        "education",
        "medical",
    ]
    education = tree.type_root("education")
    assert education is not None
    assert (education.name_en, education.name_zh) == ("Education services", "教育服务")
    assert tree.type_root("no_such") is None


def test_training_categories_sit_beside_courses_which_stays_a_leaf_for_products() -> None:
    tree = the_default_tree()
    education = tree.by_code["education"]
    assert [c.code for c in tree.children(education)] == [
        "courses",
        "subject_tutoring",
        "arts_training",
        "sports_training",
        "technology_training",
    ]
    assert tree.children(tree.by_code["courses"]) == []
    assert tree.is_under(tree.by_code["sports_training"], "education")
    assert not tree.is_under(tree.by_code["sports_training"], "courses")
    assert not tree.is_under(tree.by_code["consultations"], "education")
    subject = {c.code for c in tree.rows if is_subject_training(tree, c)}
    assert subject == {"subject_tutoring"}
