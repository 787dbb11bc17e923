import pytest


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (Debian's, see tests/browser.py)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import launch

    with sync_playwright() as pw:
        browser = launch(pw)
        yield browser
        browser.close()
