"""Subscription payments: the plan purchase service and the Click and Payme protocols.

- `service`: create, verify and list payments, and the state changes both gateways share
  (paid, cancelled, refunded, expired), each with its audit event and domain event;
- `subscription`: how a paid period activates, extends or is taken back from a plan;
- `payme`: the Payme Merchant API (JSON-RPC), `click`: Click SHOP-API (Prepare/Complete);
- `links`: checkout links, `units`: tiyin and millisecond conversions, `jobs`: scheduler.

Nothing here imports aiohttp or aiogram: `web.routes.payments` and `handlers.payments` pass
raw requests in and render what comes back.
"""
