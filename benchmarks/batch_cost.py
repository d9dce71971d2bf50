"""What a backfill of the original Correctly's grid asks of the LLM, in both modes.

    python benchmarks/batch_cost.py [--days 90] [--model gpt-4o-mini]

The original's grid is 45 combinations per theme per day over 7 themes, two stages. From
the project's sample of the original's workbooks: the per-request bounds (completion
tokens by each answer's length, prompt tokens by UTF-8 bytes: yaml_spec shows the same per
partition) and the real request lines of one partition's first stage; scaled to that grid,
the requests, the Batch API files they make (split by 50,000 requests and 200 MB), and the
cost at synchronous and batch prices.
"""

from __future__ import annotations

import argparse
import math
import tempfile

from correctly_assets.inputs import prompt_stage, read_input
from correctly_assets.inputs.original.sample import build_original_sample
from correctly_assets.llm.batch_files import (
    MAX_FILE_BYTES, MAX_REQUESTS_PER_FILE, custom_id, request_body, request_line,
)
from correctly_assets.llm.generation import GENERATION_SYSTEM_PROMPT
from correctly_assets.llm.pricing import DEFAULT_PRICES, cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--themes", type=int, default=7, help="the original's 7 themes")
    parser.add_argument("--combinations", type=int, default=45,
                        help="per theme and day, each answered once in the second stage")
    parser.add_argument("--model", default="gpt-4o-mini")
    args = parser.parse_args()
    source = read_input(build_original_sample(tempfile.mkdtemp()))
    specs = source.specs()
    costs = source.costs(specs)
    # Per request, from the sample's grid: the bounds yaml_spec shows, over its requests.
    sample_requests = sum(c["combinations"] + c["answers"] for c in costs.values())
    prompt_per_request = sum(c["max_prompt_tokens"] for c in costs.values()) / sample_requests
    completion_per_request = (sum(c["max_completion_tokens"] for c in costs.values())
                              / sample_requests)

    partitions = args.themes * args.days
    per_stage = args.combinations * partitions
    requests = 2 * per_stage
    prompt_tokens = round(prompt_per_request * requests)
    completion_tokens = round(completion_per_request * requests)

    # One partition's first-stage request lines, as the Batch API is sent them.
    spec = next(iter(specs.values()))
    lines = prompt_stage(spec, 6, "ko").requests("2026-06-01")
    line_bytes = [len(request_line(custom_id(r.prompt_id, body), body)) for r in lines
                  for body in [request_body(r, args.model, 0.7, GENERATION_SYSTEM_PROMPT, None)]]
    mean_line = sum(line_bytes) / len(line_bytes)
    # A second-stage line carries its example as well: at most its length in tokens, four
    # bytes a token at most in UTF-8.
    longest = max(length.length for length in spec.workbooks.lengths)
    stage_one_bytes, stage_two_bytes = mean_line * per_stage, (mean_line + 4 * longest) * per_stage

    def files(count: int, size: float) -> int:
        return max(math.ceil(count / MAX_REQUESTS_PER_FILE), math.ceil(size / MAX_FILE_BYTES))

    figures = cost(args.model, prompt_tokens, completion_tokens, DEFAULT_PRICES)
    print(f"grid: {args.combinations} combinations x {args.themes} themes x {args.days} days "
          f"= {partitions} partitions")
    print(f"requests: {per_stage:,} per stage, {requests:,} in all")
    print(f"per request, at most (the sample grid's bounds): {prompt_per_request:,.0f} prompt "
          f"tokens, {completion_per_request:,.0f} completion tokens")
    print(f"request line, first stage: {mean_line:,.0f} bytes on average "
          f"({min(line_bytes):,}..{max(line_bytes):,})")
    print(f"batch files: first stage {files(per_stage, stage_one_bytes)} "
          f"({stage_one_bytes / 2**20:,.0f} MiB), second stage {files(per_stage, stage_two_bytes)} "
          f"({stage_two_bytes / 2**20:,.0f} MiB at most)")
    print(f"tokens at most: {prompt_tokens:,} prompt, {completion_tokens:,} completion")
    print(f"cost at most with {args.model}: synchronous ${figures['cost_usd_synchronous']:,.2f}, "
          f"batch ${figures['cost_usd_batch']:,.2f} "
          f"(ratio {figures['cost_usd_batch'] / figures['cost_usd_synchronous']:.2f})")


if __name__ == "__main__":
    main()
