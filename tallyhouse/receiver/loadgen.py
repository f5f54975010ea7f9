"""A small HTTP/1.1 load generator for the receiver benchmark (keep-alive, raw sockets).

Run as its own process so it does not share the receiver's interpreter:
``python -m tallyhouse.receiver.loadgen --port P --concurrency 64 --seconds 5 --acked FILE``.
It posts Hotmart webhooks (the documented PURCHASE example, compact, with a unique event id
per request), measures each request from write to complete response, writes the ids that
were answered 200 to ``--acked`` and prints one JSON line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

HOTMART_EXAMPLE = {
    "id": "PLACEHOLDER", "creation_date": 1777777777000, "event": "PURCHASE_APPROVED",
    "version": "2.0.0",
    "data": {
        "product": {"id": 213344, "ucode": "2e9c43a9-0aeb-48ed-9464-630f845c23af",
                    "name": "Product Name", "has_co_production": False},
        "affiliates": [{"affiliate_code": "Q58388177J", "name": "Affiliate name"}],
        "buyer": {"email": "buyer@example.com", "name": "Buyer Name",
                  "checkout_phone": "99999999900", "document": "69526128664"},
        "producer": {"name": "Producer Name"},
        "commissions": [{"value": 149.5, "source": "MARKETPLACE", "currency_value": "BRL"},
                        {"value": 1350.5, "source": "PRODUCER", "currency_value": "BRL"}],
        "purchase": {"approved_date": 1777777777000, "full_price": {"value": 1500,
                     "currency_value": "BRL"}, "price": {"value": 1500, "currency_value": "BRL"},
                     "order_date": 1777777770000, "status": "APPROVED",
                     "transaction": "HP00000000000", "payment": {"installments_number": 1,
                                                                  "type": "CREDIT_CARD"}},
    },
}


def body_template() -> tuple[bytes, bytes]:
    text = json.dumps(HOTMART_EXAMPLE, separators=(",", ":"))
    before, after = text.split("PLACEHOLDER")
    return before.encode(), after.encode()


async def _connection(host: str, port: int, path: str, hottok: str, prefix: str,
                      worker: int, deadline: float, latencies: list[float], acked: list[str],
                      errors: list[str]) -> None:
    before, after = body_template()
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"X-HOTMART-HOTTOK: {hottok}\r\n").encode()
    n = 0
    try:
        while time.perf_counter() < deadline:
            event_id = f"{prefix}-{worker}-{n}".encode()
            n += 1
            body = before + event_id + after
            request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
            started = time.perf_counter()
            writer.write(request)
            headers = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in headers.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = headers[9:12]
            if status == b"200":
                acked.append(event_id.decode())
            else:
                errors.append(status.decode())
    finally:
        writer.close()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(host: str, port: int, concurrency: int, seconds: float, hottok: str,
              prefix: str) -> dict:
    latencies: list[float] = []
    acked: list[str] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*[
        _connection(host, port, "/webhooks/hotmart", hottok, prefix, i, deadline, latencies,
                    acked, errors)
        for i in range(concurrency)
    ])
    elapsed = time.perf_counter() - started
    return {"concurrency": concurrency, "seconds": round(elapsed, 3), "acked": len(acked),
            "errors": len(errors), "rps": round(len(acked) / elapsed, 1),
            "p50_ms": round(_percentile(latencies, 0.50) * 1000, 2),
            "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
            "max_ms": round(max(latencies, default=float("nan")) * 1000, 2),
            "acked_ids": acked}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--hottok", required=True)
    parser.add_argument("--prefix", default="bench")
    parser.add_argument("--acked", help="write the acknowledged event ids here")
    args = parser.parse_args(argv)
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(run(args.host, args.port, args.concurrency, args.seconds,
                                args.hottok, args.prefix))
    ids = result.pop("acked_ids")
    if args.acked:
        Path(args.acked).write_text("".join(f"{i}\n" for i in ids))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
