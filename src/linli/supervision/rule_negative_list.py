"""Negative-list goods on sale (supervision.negative_list_goods): a product put on sale, or a
campaign published, in a category the market-access negative list in force for the merchant's
region prohibits (the category or one above it), or in a category the jurisdiction adds
(`extra_categories`: local prohibitions the platform's list does not carry).

Listing already refuses categories on the platform's list; goods still reach sale when the
list changed after the product was listed (a campaign published later) or when a
jurisdiction prohibits more than the platform's list. Runs on `ProductListed` and
`CampaignPublished` (rare events), so it reads the category tree each time."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation
from linli.catalog.models import Product, Sku
from linli.categories import negative_list
from linli.categories.tree import category_tree
from linli.supervision import alert_service
from linli.supervision import rule_defaults as R
from linli.supervision.rule_service import in_force, organisation_codes

LISTED = "listed"
CAMPAIGN_PUBLISHED = "campaign_published"


async def negative_list_goods(
    session: AsyncSession,
    organisation_id: int,
    *,
    product_ids: Sequence[int] = (),
    sku_ids: Sequence[int] = (),
    via: str = LISTED,
    campaign_id: int | None = None,
) -> bool:
    """Raise (or merge) one alert per product of the merchant on sale in a category on the
    list; True when any fired."""
    merchant = await session.get(Organisation, organisation_id)
    if merchant is None:
        return False
    query = select(Product.id, Product.name, Product.category_id).where(
        Product.organisation_id == organisation_id
    )
    if sku_ids:
        query = query.where(Product.id.in_(select(Sku.product_id).where(Sku.id.in_(list(sku_ids)))))
    else:
        query = query.where(Product.id.in_(list(product_ids)))
    products = (await session.execute(query.order_by(Product.id))).all()
    if not products:
        return False
    rule = await in_force(session, R.NEGATIVE_LIST_GOODS, organisation_codes(merchant))
    market = (
        await negative_list.for_organisation(session, organisation_id)
        if rule.params.get("use_market_access_list", 1)
        else None
    )
    tree = market.tree if market is not None else await category_tree(session)
    extra = set(rule.params.get("extra_categories") or ())
    fired = False
    for product_id, name, category_id in products:
        category = tree.by_id.get(category_id)
        if category is None:
            continue
        lineage = [c.code for c in tree.lineage(category)]
        on_market_list = market is not None and market.prohibits(category)
        local = sorted(extra.intersection(lineage))
        if not on_market_list and not local:
            continue
        listed_under = [
            *(
                [f"{market.rule_id}@{market.version}"]
                if market is not None and on_market_list
                else []
            ),
            *(f"extra_categories:{code}" for code in local),
        ]
        await alert_service.raise_alert(
            session,
            rule,
            organisation_id,
            subject=f"product:{product_id}",
            summary=f"{name} on sale in {category.code} ({', '.join(listed_under)})",
            inputs={
                "product_id": product_id,
                "category": category.code,
                "lineage": lineage,
                "market_access_list": (
                    f"{market.rule_id}@{market.version}" if market is not None else None
                ),
                "on_market_access_list": on_market_list,
                "extra_categories_matched": local,
                "via": via,
                **({"campaign_id": campaign_id} if campaign_id is not None else {}),
            },
            evidence=[
                {"type": "product", "product_id": product_id, "category": category.code},
                *(
                    [{"type": "campaign", "campaign_id": campaign_id}]
                    if campaign_id is not None
                    else []
                ),
            ],
        )
        fired = True
    return fired
