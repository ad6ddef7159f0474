"""The page of `reproqa serve` in a real browser: Debian's headless Chromium driven by Selenium (its chromedriver).

Ask a question, see the answer highlighted in its context, mark it wrong, select the right span in a context and
send it: the row is in the database with the span's offsets. A context holding <script> shows as text and runs
nothing. With REPROQA_SCREENSHOT=PATH the run saves the page as a PNG there (README's picture).
"""

import json
import os
import shutil
import socket
import sqlite3
import threading
import time

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from conftest import answerer_of
from reproqa.feedback import FeedbackStore
from reproqa.serve import create_app, model_version

QUESTION = "who owns the billing hub?"
SCRIPT = '<script>window.injected = true</script><img src=x onerror="window.injected = true">'
EMOJI = "\U0001f600 "  # one code point (Python's offsets), two UTF-16 units (JavaScript's)


def chromium() -> tuple[str, str]:
    """Debian's chromium and chromium-driver. .ci/run installs them and sets REPROQA_REQUIRE_BROWSER: in CI the
    browser must run, not skip; a `make test` on a machine without them skips with a message saying so."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not browser or not os.path.exists(driver):
        message = "Chromium not installed (Debian: apt-get install chromium chromium-driver; .ci/run does it)"
        if os.environ.get("REPROQA_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return browser, driver


@pytest.fixture(scope="module")
def page(pipeline, tmp_path_factory):
    """The app on a free port of 127.0.0.1 in a thread, and a headless Chromium."""
    root, _, _ = pipeline
    answerer = answerer_of(root)
    answerer.reranker = None  # the search's order, which does not read the contexts edited below
    shown = answerer.answer([QUESTION])[0].retrieved
    for i in shown:  # every context the page will show starts with an emoji; the first holds a script too
        answerer.index.contexts[i] = EMOJI + (SCRIPT + " " if i == shown[0] else "") + answerer.index.contexts[i]
    database = tmp_path_factory.mktemp("browser") / "feedback.db"
    app = create_app(answerer, FeedbackStore(database), model_version(root))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    browser, driver_path = chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver, f"http://127.0.0.1:{port}/", database
    finally:
        driver.quit()
        server.should_exit = True
        thread.join(10)


def test_ask_mark_wrong_and_correct_a_span_in_the_browser(page):
    driver, url, database = page
    wait = WebDriverWait(driver, 30)
    driver.get(url)
    driver.find_element(By.ID, "question").send_keys(QUESTION)
    driver.find_element(By.CSS_SELECTOR, "#ask button").click()
    wait.until(seen.visibility_of_element_located((By.ID, "result")))
    answer = driver.find_element(By.ID, "answer").text
    marks = driver.find_elements(By.CSS_SELECTOR, "#contexts mark")
    if marks:  # an answer: highlighted in its context
        assert marks[0].text == answer
    else:
        assert answer == "(no answer in these contexts)"

    driver.find_element(By.CSS_SELECTOR, "button[data-verdict=wrong]").click()
    wait.until(seen.text_to_be_present_in_element((By.ID, "status"), "(wrong)"))

    # Select UTF-16 units 3 to 15 of a context without the answer (code points 2 to 14: after the emoji and its
    # space), as a user drags the mouse over them
    last = driver.find_elements(By.CSS_SELECTOR, "#contexts li:not(.source)")[-1]
    context_id = int(last.get_attribute("data-context-id"))
    selected = driver.execute_script(
        """const text = arguments[0].querySelector('.text').firstChild;
        const range = document.createRange(); range.setStart(text, 3); range.setEnd(text, 15);
        const selection = window.getSelection(); selection.removeAllRanges(); selection.addRange(range);
        return range.toString();""",
        last,
    )
    driver.find_element(By.CSS_SELECTOR, "button[data-verdict=corrected]").click()
    wait.until(seen.text_to_be_present_in_element((By.ID, "status"), "(corrected)"))
    if os.environ.get("REPROQA_SCREENSHOT"):
        driver.save_screenshot(os.environ["REPROQA_SCREENSHOT"])

    rows = (
        sqlite3.connect(database).execute("SELECT verdict, context_id, span_start, span_end FROM feedback").fetchall()
    )
    assert rows == [("wrong", None, None, None), ("corrected", context_id, 2, 14)]
    shown = {c["id"]: c["context"] for c in json.loads(FeedbackStore(database).rows()[-1]["shown"])}
    assert shown[context_id][2:14] == selected  # the offsets are the context's own, as the export writes them


def test_a_context_holding_a_script_renders_as_text(page):
    driver, url, _ = page
    driver.get(url)
    driver.find_element(By.ID, "question").send_keys(QUESTION)
    driver.find_element(By.CSS_SELECTOR, "#ask button").click()
    WebDriverWait(driver, 30).until(seen.visibility_of_element_located((By.ID, "result")))
    texts = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#contexts li")]
    assert any(SCRIPT in text for text in texts)  # shown as the characters it is
    assert driver.execute_script("return window.injected === undefined && !document.querySelector('#contexts img')")
