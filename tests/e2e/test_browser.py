"""The browser app end to end in headless Chromium against the embedded platform: sign up,
create a project, upload a NEU-DET zip (and a bad file, refused with its reason), label by
keyboard, train a tiny pipeline, watch it finish, compare models, set production, predict,
export the model and download it;
every page checked by axe-core and again in Chinese with no missing message; another
organization sees none of it."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.accessibility import accessibility_problems
from tests.e2e.conftest import NEU_DET, SCREENSHOTS
from tests.e2e.platform import REPO
from worker.embedded import neu_sample

EN_MESSAGES = REPO / "frontend" / "src" / "i18n" / "en.ts"
PASSWORD = "browser-test-password"
TEST_IMAGES = 2  # per class, kept for testing
JOB_SECONDS = 300


def message_keys() -> list[str]:
    return re.findall(r'^\s+"([\w.]+)":', EN_MESSAGES.read_text(), flags=re.MULTILINE)


def shoot(page: Page, language: str, name: str, idle: bool = True) -> None:
    """A full-page screenshot; ``idle``: once the network is quiet (a running job's page
    keeps its event stream open)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if idle:
        page.wait_for_load_state("networkidle")
    page.screenshot(path=SCREENSHOTS / f"{language}-{name}.png", full_page=True)


def sample_zip(folder: Path) -> tuple[Path, list[Path]]:
    """A zip of 5 crazing and 5 scratches images (no class folders: labeled in the app)."""
    images = [path for path in neu_sample(NEU_DET, 5, offset=10)
              if path.name.startswith(("crazing", "scratches"))]
    archive = folder / "steel.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in images:
            out.write(path, path.name)
    return archive, images


def edit_session(page: Page, change: str) -> None:
    """Change the stored session (``session.<field> = ...``) as time would."""
    key = "'hatchery.session'"
    page.evaluate(f"() => {{ const session = JSON.parse(localStorage.getItem({key})); {change};"
                  f" localStorage.setItem({key}, JSON.stringify(session)); }}")


def sign_up(page: Page, email: str, organization: str) -> None:
    page.goto("/signup")
    page.get_by_label("Your name").fill("Ana")
    page.get_by_label("Organization").fill(organization)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Projects", level=1)).to_be_visible()


def upload_and_check_verdicts(page: Page, tmp_path: Path) -> list[Path]:
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not an image")
    page.get_by_test_id("upload-input").set_input_files(str(bad))
    rejected = page.locator("[data-testid=verdict].verdict-rejected")
    expect(rejected).to_have_count(1)
    expect(rejected).to_contain_text("notes.jpg")
    assert rejected.locator(".verdict-detail").inner_text().strip(" —"), "no reason shown"

    archive, images = sample_zip(tmp_path)
    page.get_by_test_id("upload-input").set_input_files(str(archive))
    expect(page.locator("[data-testid=verdict].verdict-added")).to_have_count(len(images))
    expect(page.get_by_test_id("gallery").locator("img")).to_have_count(len(images))
    return images


def label_by_keyboard(page: Page, count: int) -> None:
    """Classes typed once; then per image: T for the first few of a class, 1 or 2."""
    page.get_by_test_id("classes").fill("crazing, scratches")
    page.get_by_role("heading", level=1).click()  # the shortcuts work outside text fields
    kept = {"crazing": 0, "scratches": 0}
    caption = page.locator(".label-image figcaption strong")
    for step in range(count):
        name = caption.inner_text()
        kind = "crazing" if name.startswith("crazing") else "scratches"
        if kept[kind] < TEST_IMAGES:
            kept[kind] += 1
            page.keyboard.press("t")
            expect(page.get_by_test_id("current-labels")).to_contain_text("Test")
        page.keyboard.press("1" if kind == "crazing" else "2")
        if step < count - 1:
            expect(caption).not_to_have_text(name)
    expect(page.get_by_role("status").filter(has_text="labeled")).to_contain_text(
        f"{count} labeled")
    # A box drawn by dragging on the image is saved with the image's labels.
    surface = page.get_by_test_id("box-surface").bounding_box()
    page.mouse.move(surface["x"] + 10, surface["y"] + 10)
    page.mouse.down()
    page.mouse.move(surface["x"] + 80, surface["y"] + 60, steps=5)
    page.mouse.up()
    expect(page.get_by_test_id("current-labels")).to_contain_text("Boxes: 1")
    expect(page.locator("[data-testid=box-surface] .box")).to_have_count(1)
    draw_outlines(page)


def draw_outlines(page: Page) -> None:
    """Outlines: clicked point by point and closed with Enter, cancelled with Escape, closed
    with a double-click, drawn by keyboard alone; one removed with its button."""
    labels = page.get_by_test_id("current-labels")
    page.get_by_label("Outlines", exact=True).check()
    surface = page.get_by_test_id("box-surface")
    box = surface.bounding_box()

    def click_points(points: list[tuple[float, float]]) -> None:
        for x, y in points:
            page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])

    click_points([(0.2, 0.5), (0.5, 0.4), (0.4, 0.8)])
    expect(page.get_by_test_id("outline-draft")).to_have_attribute("data-points", "3")
    page.keyboard.press("Enter")
    expect(labels).to_contain_text("Outlines: 1")
    click_points([(0.6, 0.6), (0.8, 0.6)])
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("outline-draft")).to_have_count(0)
    click_points([(0.6, 0.6), (0.8, 0.6)])
    page.mouse.dblclick(box["x"] + 0.7 * box["width"], box["y"] + 0.9 * box["height"])
    expect(labels).to_contain_text("Outlines: 2")
    surface.focus()
    for key in ("Space", "ArrowRight", "ArrowRight", "Space", "ArrowDown", "ArrowDown", "Space",
                "Enter"):
        page.keyboard.press(key)
    expect(labels).to_contain_text("Outlines: 3")
    expect(page.locator("[data-testid=box-surface] .outline")).to_have_count(3)
    page.get_by_role("button", name=re.compile("Remove outline 3")).click()
    expect(labels).to_contain_text("Outlines: 2")
    surface.focus()
    page.keyboard.press("Delete")
    expect(labels).to_contain_text("Outlines: 1")


def suggest_what_to_label_next(page: Page, dataset_url: str, tmp_path: Path) -> None:
    """New images arrive unlabeled: a version with them, then 'label these next' ranks them
    with the pipeline's pretrained backbone; a suggestion opens its image."""
    page.goto(dataset_url)
    new = [path for path in neu_sample(NEU_DET, 1, offset=30)
           if path.name.startswith(("crazing", "scratches"))]
    page.get_by_test_id("upload-input").set_input_files([str(path) for path in new])
    expect(page.locator("[data-testid=verdict].verdict-added")).to_have_count(len(new))
    page.get_by_label("Note").fill("new images")
    page.get_by_role("button", name="Save a version").click()
    expect(page.get_by_role("cell", name="v2", exact=True)).to_be_visible()
    page.get_by_role("link", name="Label images").click()
    page.get_by_test_id("suggest-start").click()
    suggestions = page.get_by_test_id("suggestions").locator(":scope > li")
    expect(suggestions.first).to_be_visible(timeout=JOB_SECONDS * 1000)
    expect(suggestions).to_have_count(len(new))
    first = suggestions.first.get_by_role("button")
    name = first.inner_text().strip()
    assert name in {path.name for path in new}, name
    expect(suggestions.first.locator(".reasons li").first).to_contain_text(re.compile(
        "labeled image|neighbours|similar images"))
    first.click()
    expect(page.locator(".label-image figcaption strong")).to_have_text(name)


def export_the_model(page: Page) -> None:
    """Download the chosen model as TorchScript: an export job followed to its end, then its
    file (non-empty, the download link works) and the parity check in words; it stays listed
    among the model's earlier exports once the page opens again."""
    panel = page.get_by_role("region", name="Download the model")
    panel.get_by_role("radio", name=re.compile("TorchScript")).check()
    panel.get_by_test_id("export-start").click()
    result = panel.get_by_test_id("export-result")
    expect(result.or_(panel.get_by_test_id("export-error"))).to_be_visible(
        timeout=JOB_SECONDS * 1000)
    assert result.is_visible(), panel.get_by_test_id("export-error").inner_text()
    expect(result.get_by_test_id("export-parity")).to_contain_text(
        "Checked against the trained model")
    link = result.get_by_test_id("export-download")
    expect(link).to_have_text("Download model.torchscript.pt")
    download = page.request.get(link.get_attribute("href"))
    assert download.ok, download.status
    body = download.body()
    assert body[:2] == b"PK", body[:16]  # TorchScript files are zip archives
    shoot(page, "en", "models-exported")
    page.reload()
    earlier = page.get_by_test_id("exports").locator("li")
    expect(earlier).to_have_count(1)
    expect(earlier).to_contain_text("TorchScript")
    expect(earlier.get_by_test_id("export-download")).to_have_attribute("href", re.compile("."))


def test_the_whole_path_in_english_then_chinese(page: Page, platform, tmp_path):
    pages: dict[str, str] = {}

    def visit(name: str, idle: bool = True) -> None:
        pages[name] = page.url
        shoot(page, "en", name, idle)
        problems = accessibility_problems(page)
        assert not problems, f"{name}: accessibility problems (axe): {problems}"

    refreshes: list[str] = []
    page.on("request", lambda request: request.url.endswith("/api/v1/auth/refresh")
            and refreshes.append(request.url))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin$"))
    visit("signin")
    page.goto("/signup")
    visit("signup")
    sign_up(page, "ana@example.com", "Acme Steel")
    platform.make_platform_admin("ana@example.com")
    expect(page.get_by_text("No projects yet")).to_be_visible()
    visit("projects-empty")

    page.get_by_label("Project name").fill("Strip line 2")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Strip line 2", level=1)).to_be_visible()
    expect(page.get_by_text("No datasets yet")).to_be_visible()
    expect(page.get_by_test_id("next-step")).to_have_attribute("data-step", "createDataset")
    visit("project-new")
    page.get_by_label("Dataset name").fill("strip surfaces")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_role("heading", name="strip surfaces", level=1)).to_be_visible()

    images = upload_and_check_verdicts(page, tmp_path)
    visit("dataset-uploaded")

    page.get_by_role("link", name="Label images").click()
    label_by_keyboard(page, len(images))
    visit("label")

    page.get_by_role("link", name="← Back to the dataset").click()
    expect(page.get_by_test_id("stats")).to_contain_text(str(len(images)))
    page.get_by_label("Note").fill("first labels")
    page.get_by_role("button", name="Save a version").click()
    expect(page.get_by_role("cell", name="v1", exact=True)).to_be_visible()
    page.get_by_test_id("filter-labeled").select_option("yes")
    expect(page.get_by_test_id("gallery").locator("img")).to_have_count(len(images))
    visit("dataset")

    page.get_by_role("link", name="Train a model").click()
    expect(page.get_by_role("radio", name=re.compile("Sort parts into classes"))).to_be_checked()
    page.get_by_text("Advanced settings").click()  # the pipeline's JSON schema as a form
    expect(page.locator("#field-pretrain\\.steps")).to_be_visible()
    visit("train")
    # A batch larger than the ten images, set in the advanced form: refused in the API's words.
    batch = page.locator("#field-pretrain\\.batch_size")
    expect(batch).to_have_value("4")  # the quick check's, not the engine's default
    batch.fill("64")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_role("alert")).to_contain_text("batch_size")
    batch.fill("4")
    page.get_by_text("Advanced settings").click()
    streams: list[str] = []
    page.on("request", lambda request: "/stream" in request.url and streams.append(request.url))
    page.get_by_role("button", name="Start training").click()

    expect(page).to_have_url(re.compile(r"/jobs/"))
    expect(page.get_by_role("progressbar")).to_be_visible()
    visit("job-running", idle=False)
    status = page.get_by_test_id("job-status")
    expect(status).to_have_attribute("data-status", re.compile("succeeded|failed|cancelled"),
                                     timeout=JOB_SECONDS * 1000)
    assert status.get_attribute("data-status") == "succeeded", \
        page.locator(".error").all_inner_texts()
    assert streams, "the job page did not read the job's event stream"
    expect(page.locator(".chart")).to_be_visible()
    expect(page.get_by_test_id("log")).to_contain_text("stage")
    visit("job")

    # An access token about to run out is renewed before the next request.
    edit_session(page, "session.renewAt = 0")
    page.get_by_role("link", name="Compare models").first.click()
    table = page.get_by_test_id("comparison")
    expect(table.locator("tr.best")).to_have_count(1)
    table.get_by_role("button", name="Use in production").first.click()
    expect(table.get_by_text("In production")).to_be_visible()
    page.get_by_test_id("predict-input").set_input_files(str(images[0]))
    prediction = page.get_by_test_id("predictions").locator("li")
    expect(prediction).to_have_count(1, timeout=60_000)
    expect(prediction).to_contain_text(re.compile("crazing|scratches"))
    expect(page.get_by_test_id("curl")).to_contain_text("$HATCHERY_API_KEY")
    # The chosen version's evaluation: confusion matrix, curves, the images it got wrong.
    evaluation = page.get_by_test_id("evaluation")
    matrix = evaluation.get_by_test_id("confusion-matrix")
    expect(matrix.locator("tbody tr")).to_have_count(2)
    counts = [int(cell) for cell in matrix.locator("tbody td").all_inner_texts()]
    assert sum(counts) == 2 * TEST_IMAGES, counts  # every image kept for testing, once
    expect(evaluation.get_by_test_id("curve-roc").locator(".recharts-line")).to_have_count(2)
    expect(evaluation.get_by_test_id("curve-pr")).to_be_visible()
    wrong = sum(counts) - counts[0] - counts[3]
    if wrong:
        expect(evaluation.get_by_test_id("misclassified").locator("li")).to_have_count(wrong)
        expect(evaluation.get_by_test_id("misclassified").locator("img").first).to_be_visible()
    else:
        expect(evaluation.get_by_test_id("misclassified-none")).to_be_visible()
    export_the_model(page)
    visit("models")

    suggest_what_to_label_next(page, pages["dataset"], tmp_path)
    visit("label-suggestions")
    page.goto(pages["models"])

    page.get_by_role("link", name="← Back to the project").click()
    expect(page.get_by_test_id("next-step")).to_have_attribute("data-step", "useModel")
    visit("project")
    page.get_by_role("navigation").get_by_role("link", name="Projects").click()
    expect(page.get_by_role("link", name="Strip line 2")).to_be_visible()
    visit("projects")

    # A planned pipeline (the engine plans within a time budget): cancelled, retried, cancelled.
    page.goto(pages["train"])
    page.get_by_role("radio", name=re.compile("Planned for your data")).check()
    page.get_by_test_id("budget").fill("5")
    page.get_by_role("button", name="Start training").click()
    expect(page).to_have_url(re.compile(r"/jobs/"))
    reasons = page.get_by_test_id("plan-reasons").locator("div")
    expect(reasons.first).to_be_visible(timeout=JOB_SECONDS * 1000)  # the plan says why
    visit("job-planned", idle=False)
    status = page.get_by_test_id("job-status")
    page.get_by_role("button", name="Cancel").click()
    expect(status).to_have_attribute("data-status", "cancelled", timeout=30_000)
    page.get_by_role("button", name="Try again").click()
    expect(status).to_have_attribute("data-status", re.compile("queued|running"))
    page.get_by_role("button", name="Cancel").click()
    expect(status).to_have_attribute("data-status", "cancelled", timeout=30_000)

    assert len(refreshes) == 1, refreshes
    # A token the API no longer takes (401) is renewed and the reading sent again.
    edit_session(page, "session.accessToken = 'no-longer-valid'; session.renewAt = 4e12")
    page.get_by_role("navigation").get_by_role("link", name="Organization").click()
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    assert len(refreshes) >= 2, refreshes  # (requests sent together share one renewal)
    page.get_by_label("Key name").fill("line camera")
    page.get_by_role("button", name="Make a key").click()
    expect(page.get_by_test_id("new-key")).to_contain_text("hk_")
    visit("organization")
    page.reload()  # the admin flag is read at sign-in
    page.get_by_role("navigation").get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Workers")).to_be_visible()
    expect(page.get_by_text("online").first).to_be_visible()
    expect(page.get_by_test_id("device-chart").locator(".recharts-bar-rectangle").first
           ).to_be_visible()
    if shutil.which("nvidia-smi") is None:  # this machine's workers have no GPU: said so
        expect(page.get_by_test_id("no-gpu")).to_be_visible()
    visit("admin")

    # A second organization of the same user: switched to in the header, empty, and back.
    page.get_by_role("navigation").get_by_role("link", name="Organization").click()
    page.get_by_role("region", name="Another organization").get_by_label("Organization").fill(
        "Acme Lab")
    page.get_by_role("button", name="Create organization").click()
    switcher = page.get_by_test_id("organization")
    expect(switcher.locator("option")).to_have_count(2)
    switcher.select_option(label="Acme Lab")
    expect(page.get_by_text("No projects yet")).to_be_visible()
    switcher.select_option(label="Acme Steel")
    expect(page.get_by_role("link", name="Strip line 2")).to_be_visible()
    project_url = pages["projects-empty"]

    # Chinese: every page again; no message key shows, the choice is remembered.
    page.get_by_test_id("language").select_option("zh")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    keys = message_keys()
    for name, url in pages.items():
        if name in ("signin", "signup"):
            continue
        page.goto(url)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        page.wait_for_load_state("networkidle")
        text = page.locator("body").inner_text()
        assert re.search(r"[\u4e00-\u9fff]", text), f"{name}: no Chinese text"
        shown = [key for key in keys if key in text]
        assert not shown, f"{name}: message keys shown instead of text: {shown}"
        shoot(page, "zh", name)
    page.get_by_role("button", name="退出登录").click()
    for name in ("signin", "signup"):
        page.goto(f"/{name}")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        shoot(page, "zh", name)
    page.get_by_test_id("language").select_option("en")

    # A page opened signed out is the page shown after signing in.
    page.goto(pages["models"])
    expect(page).to_have_url(re.compile(r"/signin$"))
    page.get_by_label("Email").fill("ana@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(pages["models"])
    expect(page.get_by_test_id("comparison")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/signin$"))

    # Another organization reaches none of it, even by address.
    sign_up(page, "bo@example.com", "Other Works")
    expect(page.get_by_text("No projects yet")).to_be_visible()
    for name in ("dataset", "job", "models"):
        page.goto(pages[name])
        expect(page.get_by_role("alert")).to_be_visible()
        assert "Strip line 2" not in page.locator("body").inner_text()
    assert project_url  # (the first organization's pages were all visited above)
    errors = [line for line in page.console_log if line.startswith("pageerror")]
    assert not errors, errors


def test_a_wrong_password_is_said_in_plain_words(page: Page, platform):
    page.goto("/signin")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert "HTTP" not in page.get_by_role("alert").inner_text()
