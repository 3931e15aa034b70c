"""axe-core (from the frontend's npm dependencies, no CDN) run in the page: the WCAG problems
it finds, as "rule (impact): element" lines."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.platform import REPO

AXE = REPO / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
RUN_AXE = """async (impacts) => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((violation) => impacts.includes(violation.impact))
    .flatMap((violation) => violation.nodes.map(
      (node) => `${violation.id} (${violation.impact}): ${node.target.join(" ")}`));
}"""


def accessibility_problems(page: Page) -> list[str]:
    """The serious and critical axe violations of the page as it is now."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(RUN_AXE, list(BLOCKING))
