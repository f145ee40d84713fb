"""A small HTTP load generator, for machines without `wrk` (bench/api.py runs it alone in a
separate process, so it does not share the server's interpreter).

    python bench/loadgen.py URL --duration 10 --connections 32 [--header 'Cookie: a=b']

Keep-alive connections, each looping GET requests until the duration is over; prints one JSON
line: requests, errors (connection failures), non2xx, seconds, p50_ms and p99_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


async def _worker(
    session: aiohttp.ClientSession, url: str, deadline: float, latencies: list[float]
) -> tuple[int, int]:
    errors = non2xx = 0
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            async with session.get(url) as response:
                await response.read()
                if not 200 <= response.status < 300:
                    non2xx += 1
        except aiohttp.ClientError:
            errors += 1
            continue
        latencies.append(time.perf_counter() - started)
    return errors, non2xx


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


async def run(url: str, duration: float, connections: int, headers: dict[str, str]) -> dict:
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        deadline = started + duration
        counts = await asyncio.gather(
            *(_worker(session, url, deadline, latencies) for _ in range(connections))
        )
        seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": sum(e for e, _ in counts),
        "non2xx": sum(n for _, n in counts),
        "seconds": seconds,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    result = asyncio.run(run(args.url, args.duration, args.connections, headers))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
