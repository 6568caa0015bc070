"""The demo city's merchants: 30 verified organisations (6 foreign-trade enterprises) onboarded
through the real services, with licences, 'three same' certifications and ~660 SKUs."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.catalog import images as catalog_images
from linli.catalog import products as catalog
from linli.catalog.models import Product, Sku
from linli.catalog.schemas import ProductCreateIn, SkuIn
from linli.demo.catalogue_data import EXPORT_PRODUCTS, PRODUCTS, ProductTemplate
from linli.demo.images import ImageCache, default_cache_dir
from linli.files import service as files
from linli.groupbuy import campaigns
from linli.groupbuy.schemas import CampaignIn, CampaignItemIn
from linli.merchants import after_sales, onboarding
from linli.merchants import certification as merchant_certification
from linli.merchants.credit_code import complete
from linli.merchants.schemas import AfterSalesIn, ApplicationIn, CertificationIn, LicenceIn

# Pudong New Area, Shanghai (GB/T 2260); the foreign-trade enterprises sit where they export from.
PUDONG = ("310000", "310100", "310115")


@dataclass(frozen=True)
class MerchantPlan:
    name: str
    scope: tuple[str, ...]
    region: tuple[str, str, str] = PUDONG
    foreign_trade: bool = False


DOMESTIC: tuple[MerchantPlan, ...] = (
    MerchantPlan("烟台红富士果业有限公司", ("fresh_food",), ("370000", "370600", "370686")),
    MerchantPlan("张江邻里生鲜超市", ("fresh_food", "groceries")),
    MerchantPlan("金桥粮油副食店", ("groceries",)),
    MerchantPlan("周浦海鲜冷链配送", ("fresh_food",)),
    MerchantPlan("川沙农家菜园合作社", ("fresh_food",)),
    MerchantPlan("世纪联华社区店", ("groceries", "fresh_food")),
    MerchantPlan("惠南健康食品有限公司", ("health_food",)),
    MerchantPlan("康源医疗器械有限公司", ("medical_devices",)),
    MerchantPlan("康宁健康生活馆", ("health_food", "medical_devices")),
    MerchantPlan("陆家嘴数码城", ("smartphones", "wearables")),
    MerchantPlan("星河通信营业厅", ("telecom_services", "smartphones")),
    MerchantPlan("悦动智能穿戴", ("wearables",)),
    MerchantPlan("浦东家电数码", ("digital_home",)),
    MerchantPlan("凌云智能家居", ("smart_home",)),
    MerchantPlan("安居安防科技", ("security",)),
    MerchantPlan("驰行车品", ("smart_driving",)),
    MerchantPlan("云帆软件科技", ("software",)),
    MerchantPlan("动力健身器材", ("fitness",)),
    MerchantPlan("书香文创书店", ("books",)),
    MerchantPlan("申城文旅", ("tickets",)),
    MerchantPlan("东方票务", ("tickets",)),
    MerchantPlan("启明教育", ("courses",)),
    MerchantPlan("育才课堂", ("courses",)),
    MerchantPlan("仁心在线医疗", ("consultations",)),
)
EXPORTERS: tuple[MerchantPlan, ...] = (
    MerchantPlan(
        "宁波海曙玩具进出口有限公司", ("books", "fitness"), ("330000", "330200", "330203"), True
    ),
    MerchantPlan("义乌家居用品出口有限公司", ("smart_home",), ("330000", "330700", "330782"), True),
    MerchantPlan("东莞运动服饰出口有限公司", ("fitness",), ("440000", "441900", "441900"), True),
    MerchantPlan(
        "青岛海滨食品进出口有限公司",
        ("fresh_food", "groceries"),
        ("370000", "370200", "370202"),
        True,
    ),
    MerchantPlan("佛山顺德家具出口有限公司", ("smart_home",), ("440000", "440600", "440606"), True),
    MerchantPlan(
        "厦门数码电子出口有限公司", ("digital_home",), ("350000", "350200", "350203"), True
    ),
)
PENDING_APPLICANT = MerchantPlan("临港新鲜果蔬有限公司", ("fresh_food",))
FOOD = frozenset({"fresh_food", "groceries", "health_food"})
DEVICES = frozenset({"medical_devices"})
# Online services (demo/services.py): the licence each provider's practitioners need.
SERVICE_LICENCES = {"courses": "training_school", "consultations": "medical_institution"}
# The catalogue's images, drawn once per machine and read back by later seeds (images.py).
IMAGES = ImageCache(default_cache_dir())
SCAN = b"%PDF-1.4\n% Linli demo licence scan\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def credit_code(rng: random.Random, region: str) -> str:
    """A valid unified social credit code for a company registered in `region`."""
    return complete("91" + region + "".join(rng.choice("0123456789") for _ in range(8)))


def as_actor(
    user: User, organisation: OrganisationRef | None = None, roles: frozenset[str] = frozenset()
) -> Actor:
    return Actor(user=UserRef.of(user), organisation=organisation, roles=roles)


async def onboard(
    session: AsyncSession,
    file_store: files.FileStore,
    owner: User,
    reviewer: Actor,
    plan: MerchantPlan,
    rng: random.Random,
    fake: Faker,
    *,
    decide: bool = True,
    food_licence_days_left: int | None = None,
) -> OrganisationRef | None:
    """Apply as `owner` with the licences the scope needs, then approve as `reviewer`."""
    applicant = as_actor(owner)
    scan = await files.store(
        session,
        applicant,
        file_store,
        SCAN,
        filename="licence.pdf",
        purpose="licence",
        allowed=files.DOCUMENT_TYPES,
    )
    today = clock.now().date()
    licences = [
        _licence(
            "business_licence",
            f"{rng.randrange(10**12):012d}",
            scan.id,
            today,
            days_left=rng.randint(400, 2000),
        )
    ]
    if FOOD & set(plan.scope):
        licences.append(
            _licence(
                "food_business",
                f"JY1{rng.randrange(10**13):013d}",
                scan.id,
                today,
                days_left=food_licence_days_left or rng.randint(200, 1500),
            )
        )
    if DEVICES & set(plan.scope):
        licences.append(
            _licence(
                "medical_device_business",
                f"沪浦食药监械经营许{rng.randrange(10**8)}",
                scan.id,
                today,
                days_left=rng.randint(300, 1500),
            )
        )
    # Numbers from the scan's id, not the generator: the other merchants' draws stay as they were.
    for scope, kind in SERVICE_LICENCES.items():
        if scope in plan.scope:
            number = f"{'教民' if kind == 'training_school' else 'PDY'}3101150{scan.id:06d}"
            licences.append(_licence(kind, number, scan.id, today, days_left=900))
    application = await onboarding.submit_application(
        session,
        applicant,
        ApplicationIn(
            kind="supplier" if plan.foreign_trade else "merchant",
            foreign_trade=plan.foreign_trade,
            company_name=plan.name,
            credit_code=credit_code(rng, plan.region[2]),
            legal_representative=fake.name(),
            address=fake.street_address(),
            province_code=plan.region[0],
            city_code=plan.region[1],
            district_code=plan.region[2],
            business_scope=list(plan.scope),
            contact_name=owner.display_name,
            contact_phone=owner.phone,
            licences=licences,
        ),
    )
    if not decide:
        return None
    decided = await onboarding.decide_application(
        session, reviewer, application.id, approve=True, reason=None
    )
    assert decided.organisation_id is not None
    return OrganisationRef(
        id=decided.organisation_id,
        kind="supplier" if plan.foreign_trade else "merchant",
        name=plan.name,
    )


def _licence(kind: str, number: str, file_id: int, today: date, *, days_left: int) -> LicenceIn:
    return LicenceIn(
        licence_type=kind,
        number=number,
        file_id=file_id,
        valid_from=today - timedelta(days=365),
        valid_to=today + timedelta(days=days_left),
    )


async def certify(
    session: AsyncSession,
    file_store: files.FileStore,
    owner_actor: Actor,
    reviewer: Actor,
    *,
    approve: bool,
) -> None:
    evidence = await files.store(
        session,
        owner_actor,
        file_store,
        SCAN,
        filename="export.pdf",
        purpose="evidence",
        allowed=files.DOCUMENT_TYPES,
    )
    certification = await merchant_certification.apply_for_certification(
        session,
        owner_actor,
        CertificationIn(
            export_standard="EN 71 / LFGB / FDA 21 CFR",
            destination_markets=["EU", "US", "JP"],
            production_line="出口一号生产线",
            certificates=["CE", "FDA"],
            evidence_file_ids=[evidence.id],
        ),
    )
    if approve:
        await merchant_certification.decide_certification(
            session, reviewer, certification.id, approve=True, reason=None
        )


async def stock_catalogue(
    session: AsyncSession,
    file_store: files.FileStore,
    owner_actor: Actor,
    templates: Sequence[ProductTemplate],
    rng: random.Random,
) -> int:
    """Create, illustrate and list each product; returns how many SKUs were made."""
    skus = 0
    for template in templates:
        first, *rest = template.skus
        product = await catalog.create_product(
            session,
            owner_actor,
            ProductCreateIn(
                category=template.category,
                name=template.name,
                description=template.description,
                unit=template.unit,
                shelf_life_days=template.shelf_life_days,
                storage_class=template.storage_class,
                origin=template.origin,
                sku=SkuIn(
                    code=first.code,
                    specs=first.specs,
                    price_fen=first.price_fen,
                    stock=rng.randint(20, 500),
                ),
            ),
        )
        for extra in rest:
            await catalog.add_sku(
                session,
                owner_actor,
                product.id,
                SkuIn(
                    code=extra.code,
                    specs=extra.specs,
                    price_fen=extra.price_fen,
                    stock=rng.randint(0, 300),
                ),
            )
        image = IMAGES.product_image(template.name, template.category)
        await catalog_images.add_image(
            session, owner_actor, file_store, product.id, image, filename=f"{product.id}.png"
        )
        await catalog.list_product(session, owner_actor, product.id)
        skus += len(template.skus)
    return skus


CAMPAIGN_TITLES = ("今日鲜果团", "邻里生鲜团", "粮油囤货团", "海鲜周末团")


async def open_campaign(
    session: AsyncSession, owner_actor: Actor, title: str, rng: random.Random
) -> None:
    """Today's group buy of a merchant: up to four of its SKUs at about 15 % off."""
    assert owner_actor.organisation is not None
    skus = (
        await session.execute(
            select(Sku.id, Sku.price_fen, Sku.stock)
            .join(Product, Product.id == Sku.product_id)
            .where(Product.organisation_id == owner_actor.organisation.id, Sku.stock >= 20)
            .order_by(Sku.id)
            .limit(4)
        )
    ).all()
    if not skus:
        return
    now = clock.now()
    cutoff = now + timedelta(hours=rng.randint(6, 30))
    campaign = await campaigns.create_campaign(
        session,
        owner_actor,
        CampaignIn(
            title=title,
            opens_at=now - timedelta(hours=2),
            cutoff_at=cutoff,
            pickup_date=(cutoff + timedelta(days=1)).astimezone(clock.LOCAL).date(),
            items=[
                CampaignItemIn(
                    sku_id=sku_id,
                    group_price_fen=max(1, price * 85 // 100),
                    per_resident_limit=rng.choice((2, 3, 5)),
                    stock=min(stock, 200),
                    min_group_qty=rng.choice((3, 5, 10)),
                )
                for sku_id, price, stock in skus
            ],
        ),
    )
    await campaigns.publish(session, owner_actor, campaign.id)


def share_out(
    plans: Sequence[MerchantPlan], templates: Sequence[ProductTemplate]
) -> list[list[ProductTemplate]]:
    """Each product goes to a merchant whose scope covers its category, in turn."""
    shares: list[list[ProductTemplate]] = [[] for _ in plans]
    turn: dict[str, int] = {}
    for template in templates:
        candidates = [i for i, plan in enumerate(plans) if template.category in plan.scope]
        if not candidates:
            continue
        index = candidates[turn.get(template.category, 0) % len(candidates)]
        turn[template.category] = turn.get(template.category, 0) + 1
        shares[index].append(template)
    return shares


async def publish_after_sales(session: AsyncSession, owner_actor: Actor, number: int) -> None:
    """The owner sets the public after-sales line its live rooms show (a service mobile of
    its own, never the applicant's contact phone)."""
    await after_sales.set_after_sales(
        session,
        owner_actor,
        AfterSalesIn(
            phone=f"1380021{number:04d}", terms="签收后7天内无理由退货；质量问题48小时内处理。"
        ),
    )


async def seed_merchants(
    session: AsyncSession,
    file_store: files.FileStore,
    *,
    reviewer: Actor,
    owners: Sequence[User],
    exporter_owners: Sequence[User],
    pending_applicant: User,
    rng: random.Random,
    fake: Faker,
    progress: Callable[[int], None] = lambda _n: None,
) -> tuple[int, int]:
    """Returns (merchant organisations, SKUs)."""
    organisations = 0
    skus = 0
    for plan, owner, share in zip(DOMESTIC, owners, share_out(DOMESTIC, PRODUCTS), strict=True):
        # One merchant's food licence runs out soon, to show the console's warning.
        days_left = 20 if plan.name.startswith("张江") else None
        organisation = await onboard(
            session, file_store, owner, reviewer, plan, rng, fake, food_licence_days_left=days_left
        )
        assert organisation is not None
        owner_actor = as_actor(owner, organisation, frozenset({"owner"}))
        await publish_after_sales(session, owner_actor, organisations + 1)
        skus += await stock_catalogue(session, file_store, owner_actor, share, rng)
        if len(CAMPAIGN_TITLES) > organisations:
            await open_campaign(session, owner_actor, CAMPAIGN_TITLES[organisations], rng)
        organisations += 1
        progress(1)
    export_shares = share_out(EXPORTERS, EXPORT_PRODUCTS)
    for index, (plan, owner, share) in enumerate(
        zip(EXPORTERS, exporter_owners, export_shares, strict=True)
    ):
        organisation = await onboard(session, file_store, owner, reviewer, plan, rng, fake)
        assert organisation is not None
        owner_actor = as_actor(owner, organisation, frozenset({"owner"}))
        await publish_after_sales(session, owner_actor, organisations + 1)
        # The last exporter's certification waits in the review queue.
        await certify(session, file_store, owner_actor, reviewer, approve=index < 5)
        skus += await stock_catalogue(session, file_store, owner_actor, share, rng)
        organisations += 1
        progress(1)
    await onboard(
        session, file_store, pending_applicant, reviewer, PENDING_APPLICANT, rng, fake, decide=False
    )
    return organisations, skus
