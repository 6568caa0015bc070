"""The negative list for market access, applied to the category tree: the one implementation
used by merchant onboarding (a business scope) and by the catalogue (a product's category).

One decision reads one rule version: the version in force where the organisation is (a
district's own beats its city's, its province's, then the national one), so an applicant and
the merchant it becomes are judged by the same version. A category is prohibited when it or
any category above it is on the list; it needs a licence when it or any category above it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation
from linli.categories.tree import CategoryNode, CategoryTree, category_tree
from linli.errors import ValidationFailed
from linli.i18n import N_, get_locale
from linli.rules import service as rules

NEGATIVE_LIST = "market_access.negative_list"


def region_of(province_code: str | None, city_code: str | None, district_code: str | None) -> str:
    """The most specific region code given (the rule's jurisdiction), or "" for none."""
    return district_code or city_code or province_code or ""


@dataclass(frozen=True)
class ScopeCheck:
    """What a business scope needs under the list."""

    categories: frozenset[str]  # the scope with every descendant it covers
    prohibited: frozenset[str]  # scope entries that are prohibited
    licences_needed: dict[str, frozenset[str]]  # licence type -> categories needing it


@dataclass(frozen=True)
class NegativeList:
    """One version of the list over the category tree."""

    rule_id: str
    version: int
    tree: CategoryTree
    prohibited_codes: frozenset[str]
    licensed: dict[str, str]  # category code -> licence type

    def prohibits(self, category: CategoryNode) -> bool:
        return any(c.code in self.prohibited_codes for c in self.tree.lineage(category))

    def licensing_codes(self, category: CategoryNode) -> set[str]:
        """The codes of the category and its ancestors that the list ties to a licence."""
        return {c.code for c in self.tree.lineage(category) if c.code in self.licensed}

    def shown(self, codes: Iterable[str]) -> str:
        """Category names in the reader's language, for messages."""
        zh = get_locale() == "zh_Hans"
        names = [self.tree.by_code[code] for code in sorted(codes)]
        return ("、" if zh else ", ").join(c.name_zh if zh else c.name_en for c in names)

    def check_scope(self, scope: Sequence[str]) -> ScopeCheck:
        """A business scope: each entry covers its category and every category below it,
        except prohibited ones (which would have to be named, and are refused)."""
        unknown = sorted(set(scope) - set(self.tree.by_code))
        if unknown:
            raise ValidationFailed(
                N_("Unknown business scope: {codes}."),
                codes=", ".join(unknown),
                fields={"business_scope": N_("Choose categories from the list.")},
            )
        named = [self.tree.by_code[code] for code in scope]
        covered: set[str] = set()
        for category in named:
            stack = [category]
            while stack:
                current = stack.pop()
                if current is not category and self.prohibits(current):
                    continue
                covered.add(current.code)
                stack.extend(self.tree.children(current))
        needed: dict[str, set[str]] = {}
        for code in covered:
            for licensing in self.licensing_codes(self.tree.by_code[code]):
                needed.setdefault(self.licensed[licensing], set()).add(code)
        return ScopeCheck(
            categories=frozenset(covered),
            prohibited=frozenset(c.code for c in named if self.prohibits(c)),
            licences_needed={kind: frozenset(codes) for kind, codes in needed.items()},
        )


async def in_force(session: AsyncSession, region: str) -> NegativeList:
    """The list in force for `region` (a region code, "" for national)."""
    rule = await rules.in_force(session, NEGATIVE_LIST, jurisdiction=region or None)
    return NegativeList(
        rule_id=rule.rule_id,
        version=rule.version,
        tree=await category_tree(session),
        prohibited_codes=frozenset(rule.values.get("prohibited", [])),
        licensed=dict(rule.values.get("licensed", {})),
    )


async def for_organisation(session: AsyncSession, organisation_id: int) -> NegativeList:
    """The list in force where the organisation is."""
    organisation = await session.get(Organisation, organisation_id)
    region = ""
    if organisation is not None:
        region = region_of(
            organisation.province_code, organisation.city_code, organisation.district_code
        )
    return await in_force(session, region)
