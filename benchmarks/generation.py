"""Generation throughput: our concurrent path vs. sequential calls, side by side.

1,000 prompts go to a local OpenAI-compatible server (its own process, 127.0.0.1) that
answers in 200 ms and fails 10% of calls with 429/500/503. Both runs use the real openai
client with the same retry policy; only the concurrency bound differs. Prints wall times,
the speed-up (target >= 30x) and whether any prompt was lost (exit 1 if so).

    .venv/bin/python benchmarks/generation.py [--prompts 1000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import openai

from correctly_assets.domain.generation import generate_texts, openai_complete_fn
from correctly_assets.domain.prompts import render_prompts
from correctly_assets.domain.spec import build_theme_specs
from correctly_assets.domain.workbook import read_workbook
from correctly_assets.resources.files import SAMPLE_WORKBOOK
from correctly_assets.resources.text_generator import TextGeneratorResource


@contextmanager
def local_server(latency: float, failure_rate: float):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "correctly_assets.local_llm_server", "--port", str(port),
         "--latency", str(latency), "--failure-rate", str(failure_rate)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    client = openai.OpenAI(api_key="local", base_url=base_url, max_retries=0)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.models.list()
                break
            except openai.APIConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base_url
    finally:
        server.terminate()
        server.wait(10)


def prompts_for(count: int):
    specs = build_theme_specs(read_workbook(SAMPLE_WORKBOOK))
    prompts, day = [], 0
    while len(prompts) < count:
        for spec in specs.values():
            prompts += render_prompts(spec, f"2026-01-{day % 28 + 1:02d}", 6)
        day += 1
    return prompts[:count]


def run(prompts, base_url: str, concurrency: int, resource: TextGeneratorResource):
    client = openai.OpenAI(api_key="local", base_url=base_url,
                           max_retries=resource.max_retries, timeout=resource.timeout_s)
    complete = openai_complete_fn(client, "local", resource.temperature)
    start = time.perf_counter()
    texts = generate_texts(prompts, complete, concurrency)
    return time.perf_counter() - start, texts


def report(name: str, seconds: float, texts, prompts) -> int:
    lost = sum(1 for t in texts if (t.rejection_reason or "").startswith("request failed"))
    in_order = [t.prompt_id for t in texts] == [p.prompt_id for p in prompts]
    print(f"{name:<28}{seconds:>9.1f} s  {len(texts)} results, in order: {in_order}, "
          f"accepted {sum(t.accepted for t in texts)}, lost {lost}")
    return lost + (0 if in_order and len(texts) == len(prompts) else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=TextGeneratorResource().max_concurrency)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--failure-rate", type=float, default=0.1)
    args = parser.parse_args()
    resource = TextGeneratorResource()
    prompts = prompts_for(args.prompts)
    print(f"{len(prompts)} prompts; server latency {args.latency} s, failure rate "
          f"{args.failure_rate:.0%}; openai client max_retries={resource.max_retries}")
    with local_server(args.latency, args.failure_rate) as base_url:
        concurrent_s, concurrent = run(prompts, base_url, args.concurrency, resource)
        sequential_s, sequential = run(prompts, base_url, 1, resource)
    bad = report(f"concurrent (bound {args.concurrency})", concurrent_s, concurrent, prompts)
    bad += report("sequential", sequential_s, sequential, prompts)
    ratio = sequential_s / concurrent_s
    print(f"speed-up: {ratio:.1f}x (target >= 30x: {'met' if ratio >= 30 else 'NOT met'})")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
