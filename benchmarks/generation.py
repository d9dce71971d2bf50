"""Generation throughput: our concurrent path vs. sequential calls, side by side.

1,000 prompts rendered from the sample workbook go to a local OpenAI-compatible server
(its own process on 127.0.0.1, so it does not share this interpreter) that answers in
200 ms and fails 10% of calls with 429/500/503. Both runs go through the text generator
resource itself, as generated_texts calls it: the real openai client (AsyncOpenAI on one
event loop and connection pool), its retry policy, per-attempt deadline and budget, and an
answer journal; only the concurrency bound differs. Prints wall
times, the speed-up (target >= 40x at the default bound), the failures the server injected,
and whether any prompt was lost (exit 1 if so). A few untimed calls warm the process up
first. The concurrent path runs at each bound given, by default the text generator's
default bound and twice that.

    .venv/bin/python benchmarks/generation.py [--prompts 1000] [--concurrency 32 64]
        [--sequential-sample N]   # time N sequential calls and extrapolate (default: all)
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import httpx
from dagster_openai import OpenAIResource

from correctly_assets.llm.journal import AnswerJournal
from correctly_assets.llm.generation import is_failed_request
from correctly_assets.domain.models import GeneratedText, PromptExample
from correctly_assets.inputs.single.prompts import render_prompts
from correctly_assets.inputs.single.spec import build_theme_specs
from correctly_assets.inputs.single.workbook import read_workbook
from correctly_assets.resources.files import SAMPLE_WORKBOOK
from correctly_assets.resources.text_generator import TextGeneratorResource

TARGET_SPEED_UP = 40.0  # at the default bound, side by side, no prompt lost


@contextmanager
def local_server(latency: float, failure_rate: float):
    """The server's root URL, once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "correctly_assets.testing.local_llm_server", "--port", str(port),
         "--latency", str(latency), "--failure-rate", str(failure_rate)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{root}/v1/models").raise_for_status()
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("local LLM server did not start") from None
                time.sleep(0.1)
        yield root
    finally:
        server.terminate()
        server.wait(10)


def server_stats(root: str) -> dict[str, int]:
    return httpx.get(f"{root}/stats").json()


def prompts_for(count: int) -> list[PromptExample]:
    specs = build_theme_specs(read_workbook(SAMPLE_WORKBOOK))
    prompts, day = [], 0
    while len(prompts) < count:
        for spec in specs.values():
            prompts += render_prompts(spec, f"2026-01-{day % 28 + 1:02d}", 6)
        day += 1
    return prompts[:count]


def timed_run(prompts: list[PromptExample], root: str,
              concurrency: int) -> tuple[float, list[GeneratedText], int]:
    """(seconds, results, failures the server injected during the run), through the text
    generator itself, as generated_texts calls it."""
    generator = TextGeneratorResource(openai=OpenAIResource(api_key="local", base_url=f"{root}/v1"),
                                      model="local", max_concurrency=concurrency)
    failures_before = server_stats(root)["failures"]
    with tempfile.TemporaryDirectory() as directory, dg.build_asset_context() as context:
        # As generated_texts does: each answer journaled as it arrives.
        journal = AnswerJournal(Path(directory) / "journal.jsonl", generator.generator)
        start = time.perf_counter()
        texts, _ = generator.generate(context, prompts, on_answer=journal.record)
        seconds = time.perf_counter() - start
    return seconds, texts, server_stats(root)["failures"] - failures_before


def report(name: str, seconds: float, texts: list[GeneratedText],
           prompts: list[PromptExample], injected: int) -> bool:
    """Prints one run's line; True when every prompt got exactly one result and none was lost."""
    lost = sum(is_failed_request(t) for t in texts)
    one_each_in_order = [t.prompt_id for t in texts] == [p.prompt_id for p in prompts]
    print(f"{name:<34}{seconds:>8.1f} s  {len(texts)} results for {len(prompts)} prompts, "
          f"one each in order: {one_each_in_order}; accepted {sum(t.accepted for t in texts)}; "
          f"failures injected {injected}; lost {lost}")
    return one_each_in_order and lost == 0


def main() -> None:
    resource = TextGeneratorResource()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+",
                        default=[resource.max_concurrency, 2 * resource.max_concurrency])
    parser.add_argument("--sequential-sample", type=int, default=None, metavar="N",
                        help="time only the first N prompts sequentially and extrapolate")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--failure-rate", type=float, default=0.1)
    args = parser.parse_args()
    prompts = prompts_for(args.prompts)
    sample = prompts[: args.sequential_sample] if args.sequential_sample else prompts
    print(f"{len(prompts)} prompts; server latency {args.latency} s, failure rate "
          f"{args.failure_rate:.0%} (429/500/503); up to "
          f"{resource.max_retries} retries a prompt, timeout {resource.timeout_s} s")
    with local_server(args.latency, args.failure_rate) as root:
        # Untimed: the first calls of a process pay one-time costs (the openai client's
        # lazy imports, its TLS context), which neither side should be charged alone.
        timed_run(prompts[:16], root, 16)
        concurrent = {bound: timed_run(prompts, root, bound)
                      for bound in args.concurrency}
        sequential_s, sequential, sequential_failures = timed_run(sample, root, 1)
        total = server_stats(root)
    ok = True
    for bound, (seconds, texts, injected) in concurrent.items():
        ok &= report(f"concurrent (max_concurrency {bound})", seconds, texts, prompts, injected)
    ok &= report("sequential (max_concurrency 1)", sequential_s, sequential, sample,
                 sequential_failures)
    if len(sample) < len(prompts):
        sequential_s *= len(prompts) / len(sample)
        print(f"sequential extrapolated from {len(sample)} to {len(prompts)} prompts: "
              f"{sequential_s:.1f} s")
    for bound, (seconds, _, _) in concurrent.items():
        ratio = sequential_s / seconds
        print(f"speed-up at max_concurrency {bound}: {ratio:.1f}x (target >= "
              f"{TARGET_SPEED_UP:.0f}x: {'met' if ratio >= TARGET_SPEED_UP else 'NOT met'})")
    print(f"server totals: {total['requests']} requests, {total['failures']} failures injected")
    print("no prompt lost" if ok else "PROMPTS LOST OR OUT OF ORDER")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
