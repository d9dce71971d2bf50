"""What LLM calls cost: tokens times a price table, synchronous and batch.

Prices are US dollars per million tokens. The defaults are OpenAI's published list prices
(the Batch API at half of the synchronous price); a deployment sets its own table in the
text generator's `prices` (a model missing from it has no cost shown, and says so).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Price(BaseModel):
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    batch_input: float = Field(ge=0)
    batch_output: float = Field(ge=0)


DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "gpt-4o-mini": {"input": 0.15, "output": 0.60, "batch_input": 0.075, "batch_output": 0.30},
    "gpt-4o": {"input": 2.50, "output": 10.00, "batch_input": 1.25, "batch_output": 5.00},
    "gpt-4.1-mini": {"input": 0.40, "output": 1.60, "batch_input": 0.20, "batch_output": 0.80},
    "gpt-4.1": {"input": 2.00, "output": 8.00, "batch_input": 1.00, "batch_output": 4.00},
}


def price_of(model: str, prices: dict[str, dict[str, float]]) -> Price | None:
    """The table's price for `model`, or for the longest name it starts with (a dated
    snapshot such as gpt-4o-mini-2024-07-18 is priced as gpt-4o-mini)."""
    names = [name for name in prices if model == name or model.startswith(name + "-")]
    return Price(**prices[max(names, key=len)]) if names else None


def cost(model: str, prompt_tokens: int, completion_tokens: int,
         prices: dict[str, dict[str, float]]) -> dict[str, float | str]:
    """The calls' cost at synchronous and at batch prices, and the saving, for metadata."""
    price = price_of(model, prices)
    if price is None:
        return {"cost": f"no price for model {model!r} in the text generator's price table"}
    synchronous = (prompt_tokens * price.input + completion_tokens * price.output) / 1e6
    batch = (prompt_tokens * price.batch_input + completion_tokens * price.batch_output) / 1e6
    return {"cost_usd_synchronous": round(synchronous, 8), "cost_usd_batch": round(batch, 8),
            "saving_usd_batch": round(synchronous - batch, 8)}
