"""The serving page in headless Chromium: the answer streams in, each section shown once the
model has finished writing it, then the whole correction. The engine is the local
OpenAI-compatible server, writing a word every 50 ms so the stream can be watched."""

import time

import pytest

from correctly_assets.serving import ServingSettings, create_app, load_service
from correctly_assets.testing.local_llm_server import serve_in_thread

from correctly_assets_tests.test_dagster_ui import CHROMEDRIVER, CHROMIUM
from correctly_assets_tests.test_dagster_ui import browser  # noqa: F401 (a fixture)
from correctly_assets_tests.test_serving_gateway import ENGINE_MODEL, serving

pytestmark = pytest.mark.ui

_STATE_JS = """const r = document.getElementById('result');
return {writing: r.querySelectorAll('pre.writing').length, done: [...r.querySelectorAll('p.done')]
        .map(p => p.previousElementSibling.textContent), corrected: (r.querySelector('p.corrected')
        || {}).textContent || null, points: [...r.querySelectorAll('ol.points li')].map(li => li.textContent)};"""


def test_the_page_shows_the_answer_as_it_is_written(trained, browser):  # noqa: F811
    import os

    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium.webdriver.common.by import By

    with serve_in_thread(served_model=ENGINE_MODEL, piece_latency_s=0.05) as engine:
        settings = ServingSettings(trained[0], backend="engine", engine_url=engine.base_url)
        with serving(create_app(lambda: load_service(settings))) as root:
            browser.get(root + "/")
            browser.find_element(By.ID, "text").send_keys("Yesterday I go to school.")
            browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            seen, deadline = [], time.monotonic() + 30
            while time.monotonic() < deadline:
                state = browser.execute_script(_STATE_JS)
                seen.append(state)
                if state["corrected"]:
                    break
                time.sleep(0.03)
    # Partway: a finished section shown while the next was still being written.
    assert any(s["writing"] and "Corrected" in s["done"] for s in seen), seen[-5:]
    final = seen[-1]
    assert final["corrected"] == "Yesterday I went to school."
    assert final["points"] and "go → went" in final["points"][0]
    assert browser.current_url == root + "/"  # the script answered; the form did not post
