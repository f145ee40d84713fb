"""`python main.py demo`: a seller with a realistic catalog and months of orders.

The history is generated from a fixed seed, with weekly and yearly rhythm, repeat buyers
and cancellations, so that analytics, churn and seasonality have something real to chew on.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from core import db
from core.models import Customer, Order, OrderEvent, OrderItem, OrderStatus, Product, Seller
from core.passwords import hash_password

CATALOG = [
    ("Electronics", "Xiaomi Redmi Note 13 8/256", 3_150_000),
    ("Electronics", "Samsung Galaxy A25 6/128", 2_890_000),
    ("Electronics", "JBL Tune 520BT headphones", 549_000),
    ("Electronics", "Anker PowerCore 20000 power bank", 399_000),
    ("Electronics", "Xiaomi Smart Band 8", 379_000),
    ("Electronics", "USB-C fast charger 65W", 189_000),
    ("Home", "Tefal frying pan 28 cm", 329_000),
    ("Home", "Electric kettle 1.7 l", 239_000),
    ("Home", "Cotton bed linen set, double", 459_000),
    ("Home", "Vacuum flask 1 l", 149_000),
    ("Home", "Bath towel set (3)", 219_000),
    ("Clothing", "Men's winter jacket", 899_000),
    ("Clothing", "Women's atlas dress", 389_000),
    ("Clothing", "Kids' sneakers", 259_000),
    ("Clothing", "Wool scarf", 129_000),
    ("Clothing", "Doppi (embroidered skullcap)", 179_000),
    ("Beauty", "Argan oil shampoo 400 ml", 89_000),
    ("Beauty", "Face cream SPF 30", 139_000),
    ("Beauty", "Perfume 50 ml", 499_000),
    ("Beauty", "Hair dryer 2000W", 349_000),
    ("Kids", "LEGO Classic bricks box", 599_000),
    ("Kids", "Plush bear 60 cm", 169_000),
    ("Kids", "School backpack", 299_000),
    ("Food", "Dried apricots 1 kg", 79_000),
    ("Food", "Green tea 100 bags", 45_000),
    ("Food", "Honey 1 kg", 119_000),
]
FIRST_NAMES = [
    "Aziz",
    "Dilnoza",
    "Jasur",
    "Madina",
    "Otabek",
    "Nilufar",
    "Sardor",
    "Gulnora",
    "Bekzod",
    "Malika",
    "Rustam",
    "Zarina",
    "Timur",
    "Shahnoza",
    "Anvar",
    "Kamola",
]
LAST_NAMES = [
    "Karimov",
    "Rahimova",
    "Tursunov",
    "Yusupova",
    "Aliyev",
    "Saidova",
    "Ergashev",
    "Nazarova",
    "Qodirov",
    "Xolmatova",
]
PREFIXES = ["90", "91", "93", "94", "97", "99", "88", "33"]


def _seasonal_weight(day: datetime) -> float:
    weekly = 1.25 if day.weekday() in (4, 5) else 1.0
    yearly = 1 + 0.35 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 350) / 365)
    return weekly * yearly


async def create_demo(
    username: str = "demo", password: str = "demo12345", days: int = 180, seed: int = 7
) -> Seller:
    """Create (or re-create) the demo seller with its history; returns the seller."""
    rng = random.Random(seed)
    await Seller.filter(username=username).delete()
    seller = await Seller.create(
        username=username,
        password_hash=await hash_password(password),
        full_name="Demo Shop",
        phone="998901234567",
        plan="starter_pro",
        plan_expires_at=datetime.now(UTC) + timedelta(days=30),
        referral_code=f"DEMO{seed:04d}",
    )
    products = [
        await Product.create(
            seller=seller,
            sku=f"SKU-{i + 1:03d}",
            name=name,
            category=category,
            price=price,
            stock=rng.randint(20, 200),
            description=f"{name}. Official warranty, delivery across Uzbekistan.",
        )
        for i, (category, name, price) in enumerate(CATALOG)
    ]
    customers: list[Customer] = []
    for _ in range(80):
        phone = f"998{rng.choice(PREFIXES)}{rng.randint(1_000_000, 9_999_999)}"
        if any(c.phone == phone for c in customers):
            continue
        customers.append(
            await Customer.create(
                seller=seller,
                phone=phone,
                language=rng.choice(["uz", "uz", "ru", "en"]),
                name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                marketing_consent=rng.random() < 0.6,
            )
        )
    loyal = customers[: len(customers) // 5]
    start = datetime.now(UTC) - timedelta(days=days)
    async with db.atomic() as conn:
        for offset in range(days):
            day = start + timedelta(days=offset)
            for _ in range(rng.randint(0, round(4 * _seasonal_weight(day)))):
                await _demo_order(rng, seller, products, customers, loyal, day, conn)
    return seller


async def _demo_order(
    rng: random.Random,
    seller: Seller,
    products: list[Product],
    customers: list[Customer],
    loyal: list[Customer],
    day: datetime,
    conn: BaseDBAsyncClient,
) -> None:
    customer = rng.choice(loyal) if rng.random() < 0.45 else rng.choice(customers)
    picked = rng.sample(products, rng.choice([1, 1, 1, 2, 2, 3]))
    lines = [(p, rng.choice([1, 1, 1, 2, 3])) for p in picked]
    total = sum(p.price * q for p, q in lines)
    age = (datetime.now(UTC) - day).days
    roll = rng.random()
    if roll < 0.07:
        path = [OrderStatus.CANCELLED]
    elif age > 10:
        path = [OrderStatus.CONFIRMED, OrderStatus.SHIPPED, OrderStatus.DELIVERED]
        if roll > 0.96:
            path.append(OrderStatus.RETURNED)
    else:
        path = [OrderStatus.CONFIRMED, OrderStatus.SHIPPED][: rng.randint(0, 2)]
    created = day.replace(hour=rng.randint(8, 22), minute=rng.randint(0, 59))
    order = await Order.create(
        seller=seller,
        customer=customer,
        customer_name=customer.name,
        customer_phone=customer.phone,
        status=path[-1] if path else OrderStatus.NEW,
        total_amount=total,
        delivery_address="Tashkent",
        tracking_number=f"UZ{rng.randint(10**8, 10**9 - 1)}"
        if OrderStatus.SHIPPED in path
        else None,
        using_db=conn,
    )
    await Order.filter(id=order.id).using_db(conn).update(created_at=created, updated_at=created)
    for product, quantity in lines:
        await OrderItem.create(
            order=order,
            product=product,
            name=product.name,
            sku=product.sku,
            quantity=quantity,
            unit_price=product.price,
            line_total=product.price * quantity,
            using_db=conn,
        )
    previous = None
    for step, status in enumerate([OrderStatus.NEW, *path]):
        event = await OrderEvent.create(
            order=order, from_status=previous, to_status=status, actor="demo", using_db=conn
        )
        at = created + timedelta(days=step * rng.uniform(0.3, 2.0))
        await OrderEvent.filter(id=event.id).using_db(conn).update(created_at=at)
        previous = status
