"""Dollars from the usage fields of one answer: input, output, cache writes and cache
reads are priced separately, batch work gets the configured discount."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import ConfigError
from core.workspace import LlmPrice

CACHE_WRITE_FACTOR = {"5m": 1.25, "1h": 2.0}
CACHE_READ_FACTOR = 0.1


def price_for(prices: Mapping[str, LlmPrice], model: str) -> LlmPrice:
    if model not in prices:
        raise ConfigError(f"no price for model {model!r}", key=f"llm.prices.{model}")
    return prices[model]


def usage_usd(price: LlmPrice, usage: Mapping[str, Any], *, ttl: str = "5m", batch: bool = False) -> float:
    """USD for one answer's usage (`input_tokens`, `output_tokens`,
    `cache_creation_input_tokens`, `cache_read_input_tokens`)."""
    write = price.cache_write_1h if ttl == "1h" else price.cache_write_5m
    write_rate = write if write is not None else price.input * CACHE_WRITE_FACTOR[ttl]
    read_rate = price.cache_read if price.cache_read is not None else price.input * CACHE_READ_FACTOR
    total = (
        int(usage.get("input_tokens") or 0) * price.input
        + int(usage.get("output_tokens") or 0) * price.output
        + int(usage.get("cache_creation_input_tokens") or 0) * write_rate
        + int(usage.get("cache_read_input_tokens") or 0) * read_rate
    ) / 1_000_000
    return round(total * (price.batch_discount if batch else 1.0), 8)
