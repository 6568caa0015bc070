"""The demo city's neighbourhoods: 40 Pudong communities, each with a pickup point run by an
approved group leader, and residents who picked one."""

from __future__ import annotations

import random
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import User
from linli.authz import Actor, UserRef
from linli.community import service as community
from linli.community.schemas import CommunityIn, LeaderApplicationIn

NEIGHBOURHOODS = (
    "张江汤臣豪园",
    "金桥碧云国际社区",
    "联洋花园",
    "世纪公园小区",
    "东方城市花园",
    "仁恒滨江园",
    "中远两湾城",
    "锦绣江南",
    "川沙新苑",
    "周浦万达小区",
    "康桥半岛",
    "御桥花园",
    "三林世博家园",
    "北蔡绿洲",
    "陆家嘴滨江苑",
    "潍坊新村",
    "洋泾小区",
    "塘桥新苑",
    "花木苑",
    "高行绿洲",
    "金杨新村",
    "源深小区",
    "长岛花园",
    "浦东丽景",
    "唐镇新市镇",
    "曹路嘉园",
    "航头家园",
    "惠南东城",
    "临港新城",
    "祝桥新苑",
    "合庆人家",
    "孙桥雅苑",
    "金海华城",
    "三甲港绿地",
    "上南花城",
    "东明小区",
    "杨思新村",
    "外高桥新苑",
    "泥城雅居",
    "新场古镇人家",
)
POINT_NAMES = ("门卫室", "便利店", "快递驿站", "物业服务中心", "社区生鲜店")
PUDONG = ("310000", "310100", "310115")


async def seed_communities(
    session: AsyncSession,
    *,
    reviewer: Actor,
    leaders: Sequence[User],
    rng: random.Random,
) -> list[tuple[int, int]]:
    """Create the communities and approve one leader each; returns (community, pickup point)."""
    places: list[tuple[int, int]] = []
    for name, leader in zip(NEIGHBOURHOODS, leaders, strict=True):
        created = await community.create_community(
            session,
            reviewer,
            CommunityIn(
                name=name,
                province_code=PUDONG[0],
                city_code=PUDONG[1],
                district_code=PUDONG[2],
                address=f"上海市浦东新区{name}",
                latitude=round(rng.uniform(31.05, 31.32), 6),
                longitude=round(rng.uniform(121.48, 121.80), 6),
            ),
        )
        leader_actor = Actor(user=UserRef.of(leader))
        application = await community.apply_as_leader(
            session,
            leader_actor,
            LeaderApplicationIn(
                community_id=created.id,
                point_name=f"{rng.randint(1, 30)}号楼{rng.choice(POINT_NAMES)}",
                point_address=f"{name}{rng.randint(1, 30)}号楼底层",
                opening_hours=rng.choice(("07:30-21:00", "08:00-20:00", "09:00-21:30")),
                daily_capacity=rng.choice((80, 120, 150, 200)),
            ),
        )
        decided = await community.decide_leader(
            session,
            reviewer,
            application.id,
            approve=True,
            commission_bp=rng.choice((500, 600, 800, 1000)),
            reason=None,
        )
        assert decided.pickup_point_id is not None
        places.append((created.id, decided.pickup_point_id))
    return places


async def settle_residents(
    session: AsyncSession,
    residents: Sequence[User],
    places: Sequence[tuple[int, int]],
    rng: random.Random,
) -> None:
    for resident in residents:
        community_id, point_id = rng.choice(places)
        await community.join(
            session,
            Actor(user=UserRef.of(resident)),
            community_id=community_id,
            pickup_point_id=point_id,
        )
