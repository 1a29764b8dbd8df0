"""The search page in a real headless Chromium: type a query, read the results."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.serve.conftest import Running

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("no chromium/chromedriver found (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1100,1300")
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_search_page(hybrid: Running, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 20)
    browser.get(hybrid.url + "/")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    assert "bm25 + dense" in browser.find_element(By.ID, "about").text
    Select(browser.find_element(By.ID, "task")).select_by_value("hotpotqa")
    k = browser.find_element(By.ID, "k")
    k.clear()
    k.send_keys("5")
    query = "warsaw markup <script>window.typed = 1</script>"
    browser.find_element(By.ID, "q").send_keys(query)
    browser.find_element(By.ID, "go").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .hit")) == 5)

    hits = browser.find_elements(By.CSS_SELECTOR, "#results .hit")
    ranks = [h.find_element(By.CLASS_NAME, "rank").text for h in hits]
    assert ranks == ["#1", "#2", "#3", "#4", "#5"]
    expected = hybrid.retriever.search([query], 5, task="hotpotqa")[0]
    titles = [h.find_element(By.CLASS_NAME, "title").text for h in hits]
    store = hybrid.retriever.store
    assert titles == [store.get(h.passage_id).title for h in expected]
    assert all(h.find_element(By.CLASS_NAME, "score").text.startswith("score ") for h in hits)
    # hybrid: each component's rank beside the hit
    components = hits[0].find_elements(By.CLASS_NAME, "component")
    assert [c.text.split()[0] for c in components] == ["bm25", "dense"]
    # query terms highlighted, whole words only
    marks = {m.text.lower() for m in browser.find_elements(By.CSS_SELECTOR, "#results mark")}
    assert "warsaw" in marks and marks <= {"warsaw", "markup", "script", "window", "typed", "1"}
    # markup from the corpus and the query is shown as text, never run
    texts = " ".join(h.find_element(By.CLASS_NAME, "text").text for h in hits)
    assert "<script>window.pwned = 1</script>" in texts
    assert "Markup <b>bold</b>" in titles
    assert browser.find_elements(By.CSS_SELECTOR, "#results script, #results img, #results b") == []
    assert browser.execute_script("return [window.pwned, window.typed]") == [None, None]
    assert query in browser.find_element(By.ID, "status").text
    # the page's other passages, one click away
    first = hits[0]
    first.find_element(By.CLASS_NAME, "page-toggle").click()
    wait.until(lambda d: first.find_elements(By.CSS_SELECTOR, ".page p"))
    page = store.passages_of_page(store.get(expected[0].passage_id).wikipedia_id)
    shown = first.find_elements(By.CSS_SELECTOR, ".page p")
    assert len(shown) == len(page)
    assert first.find_element(By.CSS_SELECTOR, ".page p.current").text.startswith(
        f"#{expected[0].passage_id}"
    )
    # the query is kept in the address: a reload shows the same results
    assert "task=hotpotqa" in browser.current_url
    browser.save_screenshot(str(tmp_path / "serve-page.png"))
    if os.environ.get("UNIRET_SERVE_SCREENSHOT"):
        shutil.copy(tmp_path / "serve-page.png", os.environ["UNIRET_SERVE_SCREENSHOT"])
