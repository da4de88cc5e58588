"""The portal in a real browser: Debian's chromium driven by Playwright against Sealpost as `make run`
serves it (moto on 127.0.0.1), one test per journey, each saving screenshots under test-artifacts/.

The pages' CSP stays on: the attachment script must run with its nonce, and every console error
(a CSP violation included) fails the journey.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from devtools.seed import DEMO_ASSOCIATE, DEMO_ASSOCIATE_PASSWORD
from tests.conftest import Portal
from tests.support import ROOT, AuthenticatorApps

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

PASSWORD = "orchard lantern quietly folds maps"
NEW_PASSWORD = "copper heron sings beneath bridges"
TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)
Shot = Callable[[Any, str], Path]


def unique(local: str) -> str:
    return f"{local}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def open_browser(chromium: Any, portal: Portal) -> Iterator[Callable[..., Any]]:
    """New browser windows (each its own cookies, like another person or device). Console errors fail the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_page(width: int = 1280, height: int = 900) -> Any:
        context = chromium.new_context(
            base_url=portal.url, viewport={"width": width, "height": height}, accept_downloads=True
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not [e for e in errors if "status of 4" not in e], errors


# The people's authenticator apps, for the whole session: the portal (and its demo people) outlive a test.
APPS = AuthenticatorApps()


@pytest.fixture(autouse=True)
def portal_apps(portal: Portal) -> AuthenticatorApps:
    """``APPS``, able to reach the portal's accounts table (its own moto) for ``AuthenticatorApps.code``."""
    if APPS.table is None:
        import boto3

        dynamodb = boto3.resource("dynamodb", endpoint_url=portal.moto_endpoint, region_name="us-east-1")
        (name,) = [t.name for t in dynamodb.tables.all() if "accounts" in t.name.lower()]
        APPS.table = dynamodb.Table(name)
    return APPS


def second_step(page: Any, who: str) -> None:
    """Set up the authenticator app (the seed read from the page, as a person types it) or give its
    code, when the first step (password, registration) led there; nothing otherwise."""
    path = page.url.split("://", 1)[-1].partition("/")[2]
    if path.startswith("enrol?"):
        account, secret = page.locator("#totp-account").inner_text(), page.locator("#totp-secret").inner_text()
        email = APPS.enrol("otpauth://totp/x:" + account, secret)
        if who:
            APPS.known(who, email)
        page.get_by_label("Six-digit code from the app").fill(APPS.code(email))
        submit(page, page.get_by_role("button", name="Confirm and continue"))
        APPS.recovery[email] = page.locator(".recovery-codes code").all_inner_texts()
        submit(page, page.get_by_role("link", name=re.compile("^I have saved my recovery codes")))
    elif path.startswith("signin/verify?"):
        page.get_by_label(re.compile("^Code from your authenticator app")).fill(APPS.code(APPS.email_of(who)))
        submit(page, page.get_by_role("button", name="Continue"))


def submit(page: Any, button: Any) -> None:
    """Click a form's button and wait for the page the server answers with."""
    with page.expect_navigation():
        button.click()


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/signin")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    submit(page, page.get_by_role("button", name="Sign in"))
    second_step(page, username)


def sign_out(page: Any) -> None:
    page.get_by_role("button", name=re.compile("^Sign out")).click()
    page.wait_for_url(re.compile(r"/signin\?notice=signed_out"))


def choose_password(page: Any, password: str) -> None:
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("Repeat the new password").fill(password)
    submit(page, page.get_by_role("button", name=re.compile("^Save")))
    second_step(page, "")  # after a registration: MfaPolicy=required sets up the app first


def attach(page: Any, path: Path) -> None:
    """Attach a file through the page's upload panel (the script posts it to S3 and lists it)."""
    page.get_by_label("File to attach").set_input_files(str(path))
    page.get_by_role("button", name="Upload file").click()
    page.locator("[data-upload-status]").filter(has_text="attached to your message").wait_for()
    expect(page.get_by_role("checkbox", name=re.compile(re.escape(path.name)))).to_be_checked()


def associate_page(open_browser: Callable[..., Any]) -> Any:
    page = open_browser()
    sign_in(page, DEMO_ASSOCIATE, DEMO_ASSOCIATE_PASSWORD)
    expect(page.get_by_role("heading", name="Secure threads")).to_be_visible()
    return page


def start_thread(page: Any, recipient: str, subject: str, text: str, attachment: Path | None = None) -> str:
    page.goto("/threads/new")
    if attachment is not None:
        attach(page, attachment)
    page.get_by_label("To (mail addresses, separated by commas)").fill(recipient)
    page.get_by_label("Subject").fill(subject)
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send securely").click()
    page.wait_for_url(re.compile(r"/threads/[0-9a-f]{32}$"))
    return str(page.url.rsplit("/", 1)[1])


def registered_partner(open_browser: Callable[..., Any], portal: Portal, email: str, shot: Shot) -> tuple[Any, str]:
    """An associate creates the account on the accounts page; the partner registers from the mailed link."""
    admin = associate_page(open_browser)
    admin.goto("/accounts")
    admin.get_by_label("Partner's mail address").fill(email)
    admin.get_by_label("Partner's name (optional)").fill("Journey Partner")
    admin.get_by_role("button", name="Create account and send invitation").click()
    admin.get_by_role("status").filter(has_text="invitation sent").wait_for()
    partner = open_browser()
    partner.goto(portal.mail_link(email, "/register/"))
    username = partner.locator("strong.username").inner_text()
    shot(partner, "invitation-register")
    choose_password(partner, PASSWORD)
    APPS.known(username, email)
    partner.get_by_role("status").filter(has_text="Your account is ready").wait_for()
    admin.context.close()
    return partner, username


# --- the journeys ------------------------------------------------------------------------------


def test_a_recipient_goes_from_the_notification_link_to_reading_replying_and_writing_anew(
    open_browser: Callable[..., Any], portal: Portal, screenshots: Shot, tmp_path: Path
) -> None:
    recipient = unique("rita") + "@clinic.example"
    document = tmp_path / "referral-letter.txt"
    document.write_bytes(b"Referral letter for the journey test.\n" * 100)
    associate = associate_page(open_browser)
    start_thread(associate, recipient, "Referral for review", "Please review the attached referral.", document)
    screenshots(associate, "associate-sent")

    person = open_browser(width=375, height=812)
    person.goto(portal.mail_link(recipient, "/p/"))
    expect(person.get_by_role("heading", name="Choose your password")).to_be_visible()
    screenshots(person, "pickup-register")
    choose_password(person, PASSWORD)
    expect(person.get_by_role("heading", level=1, name="Referral for review")).to_be_visible()
    expect(person.get_by_text("Please review the attached referral.")).to_be_visible()
    screenshots(person, "reading")

    with person.expect_download() as download_info:
        person.get_by_role("link", name="referral-letter.txt").click()
    downloaded = tmp_path / "downloaded.txt"
    download_info.value.save_as(downloaded)
    assert downloaded.read_bytes() == document.read_bytes()

    person.get_by_label("Your reply").fill("Received, the referral is in order.")
    submit(person, person.get_by_role("button", name="Send reply"))
    expect(person.get_by_text("Received, the referral is in order.")).to_be_visible()
    expect(person.get_by_text("2 of 12 messages")).to_be_visible()
    screenshots(person, "replied")

    person.get_by_role("navigation", name="Main").get_by_role("link", name="Threads").click()
    person.get_by_role("link", name="Write to an associate").click()
    person.get_by_label("To (an associate you do business with)").fill(DEMO_ASSOCIATE)
    person.get_by_label("Subject").fill("A new question")
    person.get_by_label("Message").fill("May I send the next referral here too?")
    screenshots(person, "new-message")
    person.get_by_role("button", name="Send securely").click()
    person.wait_for_url(re.compile(r"/threads/[0-9a-f]{32}$"))
    expect(person.get_by_role("heading", level=1, name="A new question")).to_be_visible()

    sign_out(person)
    expect(person.get_by_role("status").filter(has_text="You have signed out.")).to_be_visible()
    screenshots(person, "signed-out")
    person.goto("/home")
    assert "/signin" in person.url


def test_two_wrong_passwords_warn_the_third_locks_and_an_associate_unlocks(
    open_browser: Callable[..., Any], portal: Portal, screenshots: Shot
) -> None:
    partner, username = registered_partner(open_browser, portal, unique("lou") + "@clinic.example", screenshots)
    sign_out(partner)

    sign_in(partner, username, "not the password at all 1")
    assert "Caps Lock" not in partner.content()
    sign_in(partner, username, "not the password at all 2")
    expect(partner.get_by_role("alert")).to_contain_text("Caps Lock")
    expect(partner.get_by_label("User name")).to_have_value(username)
    screenshots(partner, "second-failure-warning")
    sign_in(partner, username, "not the password at all 3")
    expect(partner.get_by_role("alert")).to_contain_text("locked")
    sign_in(partner, username, PASSWORD)
    expect(partner.get_by_role("alert")).to_contain_text("locked")
    screenshots(partner, "locked")

    associate = associate_page(open_browser)
    associate.goto("/accounts")
    row = associate.get_by_role("row").filter(has=associate.get_by_role("rowheader", name=username))
    expect(row.get_by_text("Locked")).to_be_visible()
    screenshots(associate, "accounts-locked")
    row.get_by_role("button", name=f"Unlock {username}").click()
    associate.get_by_role("status").filter(has_text="unlocked").wait_for()
    screenshots(associate, "unlocked")

    sign_in(partner, username, PASSWORD)
    expect(partner.get_by_role("heading", name="Secure inbox")).to_be_visible()
    screenshots(partner, "signed-in-again")


def test_journey_totp_enrolment_and_sign_in(
    open_browser: Callable[..., Any], portal: Portal, screenshots: Shot
) -> None:
    import pyotp

    email = unique("tia") + "@clinic.example"
    admin = associate_page(open_browser)
    admin.goto("/accounts")
    admin.get_by_label("Partner's mail address").fill(email)
    submit(admin, admin.get_by_role("button", name="Create account and send invitation"))
    partner = open_browser(width=375, height=812)
    partner.goto(portal.mail_link(email, "/register/"))
    username = partner.locator("strong.username").inner_text()
    partner.get_by_label("New password", exact=True).fill(PASSWORD)
    partner.get_by_label("Repeat the new password").fill(PASSWORD)
    submit(partner, partner.get_by_role("button", name=re.compile("^Save")))
    # Enrolment: the QR code and the key in groups of four, shown once.
    expect(partner.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    expect(partner.locator("figure.qr-code svg")).to_be_visible()
    secret = partner.locator("#totp-secret").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", secret), secret
    screenshots(partner, "enrol")
    partner.get_by_label("Six-digit code from the app").fill(
        "000000" if pyotp.TOTP(secret.replace(" ", "")).now() != "000000" else "111111"
    )
    submit(partner, partner.get_by_role("button", name="Confirm and continue"))
    expect(partner.get_by_role("alert")).to_contain_text("does not match")
    secret = partner.locator("#totp-secret").inner_text()  # a new key after a mistake: scan again
    APPS.enrol("otpauth://totp/x:" + email, secret)
    APPS.known(username, email)
    partner.get_by_label("Six-digit code from the app").fill(APPS.code(email))
    submit(partner, partner.get_by_role("button", name="Confirm and continue"))
    expect(partner.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    assert len(partner.locator(".recovery-codes code").all_inner_texts()) == 10
    screenshots(partner, "recovery-codes")
    submit(partner, partner.get_by_role("link", name=re.compile("^I have saved my recovery codes")))
    partner.get_by_role("status").filter(has_text="Your account is ready").wait_for()
    sign_out(partner)

    # Sign-in: the password, then the app's code (a wrong one first: counted, told).
    partner.goto("/signin")
    partner.get_by_label("User name").fill(username)
    partner.get_by_label("Password", exact=True).fill(PASSWORD)
    submit(partner, partner.get_by_role("button", name="Sign in"))
    expect(partner.get_by_role("heading", name="Enter your code")).to_be_visible()
    code_field = partner.get_by_label(re.compile("^Code from your authenticator app"))
    assert (
        code_field.get_attribute("autocomplete") == "one-time-code"
        and code_field.get_attribute("inputmode") == "numeric"
    )
    screenshots(partner, "code-asked")
    code_field.fill("12345678")
    submit(partner, partner.get_by_role("button", name="Continue"))
    expect(partner.get_by_role("alert")).to_contain_text("not right")
    partner.get_by_label(re.compile("^Code from your authenticator app")).fill(APPS.code(email))
    submit(partner, partner.get_by_role("button", name="Continue"))
    expect(partner.get_by_role("heading", name="Secure inbox")).to_be_visible()
    partner.goto("/account/security")
    expect(partner.get_by_text("10 of 10 unused recovery codes left.")).to_be_visible()
    screenshots(partner, "security")


def test_journey_recovery_code_sign_in(open_browser: Callable[..., Any], portal: Portal, screenshots: Shot) -> None:
    email = unique("rey") + "@clinic.example"
    partner, username = registered_partner(open_browser, portal, email, screenshots)
    codes = APPS.recovery[email]
    assert len(codes) == 10
    sign_out(partner)
    for attempt in range(2):
        partner.goto("/signin")
        partner.get_by_label("User name").fill(username)
        partner.get_by_label("Password", exact=True).fill(PASSWORD)
        submit(partner, partner.get_by_role("button", name="Sign in"))
        partner.get_by_label(re.compile("^Code from your authenticator app")).fill(codes[0].upper())
        submit(partner, partner.get_by_role("button", name="Continue"))
        if attempt == 0:
            expect(partner.get_by_role("heading", name="Secure inbox")).to_be_visible()
            partner.goto("/account/security")
            expect(partner.get_by_text("9 of 10 unused recovery codes left.")).to_be_visible()
            screenshots(partner, "one-code-used")
            sign_out(partner)
    # The same code a second time: refused (each works once).
    expect(partner.get_by_role("alert")).to_contain_text("not right")
    screenshots(partner, "code-used-up")


def test_forgot_password_mails_a_link_that_sets_a_new_password(
    open_browser: Callable[..., Any], portal: Portal, screenshots: Shot
) -> None:
    email = unique("fay") + "@clinic.example"
    partner, username = registered_partner(open_browser, portal, email, screenshots)
    sign_out(partner)

    partner.get_by_role("link", name="Forgot your password?").click()
    partner.get_by_label("User name or mail address").fill(email)
    screenshots(partner, "forgot")
    partner.get_by_role("button", name="Send me a link").click()
    expect(partner.get_by_role("heading", name="Check your mail")).to_be_visible()
    screenshots(partner, "check-your-mail")

    partner.goto(portal.mail_link(email, "/reset/"))
    assert username in partner.content()
    screenshots(partner, "reset")
    choose_password(partner, NEW_PASSWORD)
    expect(partner.get_by_role("status").filter(has_text="Your new password is saved")).to_be_visible()

    sign_in(partner, username, PASSWORD)
    expect(partner.get_by_role("alert")).to_be_visible()
    sign_in(partner, username, NEW_PASSWORD)
    expect(partner.get_by_role("heading", name="Secure inbox")).to_be_visible()
    screenshots(partner, "signed-in-with-new-password")


def test_an_associate_starts_a_thread_and_sees_it_opened_and_replied(
    open_browser: Callable[..., Any], portal: Portal, screenshots: Shot
) -> None:
    recipient = unique("ada") + "@lab.example"
    associate = associate_page(open_browser)
    thread_id = start_thread(associate, recipient, "Lab order 5521", "Please confirm the lab order.")
    delivery = associate.get_by_role("region", name="Where each recipient stands with the newest message sent to them")
    expect(delivery.get_by_text("Awaiting pickup")).to_be_visible()
    screenshots(associate, "awaiting-pickup")

    person = open_browser()
    person.goto(portal.mail_link(recipient, "/p/"))
    choose_password(person, PASSWORD)
    expect(person.get_by_text("Please confirm the lab order.")).to_be_visible()

    associate.reload()
    expect(delivery.get_by_text("Opened")).to_be_visible()
    expect(associate.locator("#message-1").get_by_text(re.compile(r"^Opened by "))).to_be_visible()
    screenshots(associate, "opened")

    person.get_by_label("Your reply").fill("Confirmed.")
    submit(person, person.get_by_role("button", name="Send reply"))

    associate.reload()
    expect(delivery.get_by_text("Replied")).to_be_visible()
    expect(associate.get_by_text("Confirmed.")).to_be_visible()
    screenshots(associate, "replied")
    associate.goto("/home")
    row = associate.get_by_role("row").filter(has=associate.get_by_role("link", name="Lab order 5521"))
    expect(row.get_by_text("Replied")).to_be_visible()
    expect(associate.locator(f"a[href='/threads/{thread_id}']")).to_be_visible()
    screenshots(associate, "inbox")


def test_a_partner_writing_outside_the_plan_is_refused_with_a_strike(
    open_browser: Callable[..., Any], portal: Portal, screenshots: Shot
) -> None:
    partner, username = registered_partner(open_browser, portal, unique("max") + "@clinic.example", screenshots)
    sent_before = portal.mail_count()
    partner.get_by_role("link", name="Write to an associate").click()
    recipients = partner.get_by_label("To (an associate you do business with)")
    recipients.fill("friend@mail.example")
    partner.get_by_label("Subject").fill("Forwarding")
    partner.get_by_label("Message").fill("See below.")
    submit(partner, partner.get_by_role("button", name="Send securely"))

    expect(recipients).to_have_attribute("aria-invalid", "true")
    error = partner.locator("#recipients-error")
    expect(error).to_contain_text("can only be sent to addresses at plan.example")
    expect(error).to_contain_text("strike 1 of 3")
    assert "recipients-error" in (recipients.get_attribute("aria-describedby") or "")
    expect(partner.get_by_label("Message")).to_have_value("See below.")
    screenshots(partner, "refused")
    # Nothing went to the outside address; the associates were told (no PHI in that mail).
    assert portal.mail_count() > sent_before
    from devtools.local_mail import captured_mail

    assert all("friend@mail.example" not in m.recipients for m in captured_mail(portal.moto_endpoint))

    associate = associate_page(open_browser)
    associate.goto("/domain-filter")
    row = associate.get_by_role("row").filter(has=associate.get_by_role("rowheader", name=username))
    expect(row.get_by_text("1 of 3")).to_be_visible()
    expect(associate.get_by_role("cell", name=username).first).to_be_visible()
    screenshots(associate, "domain-filter")


def test_without_javascript_a_file_reaches_the_message_through_the_bucket_form(
    chromium: Any, portal: Portal, screenshots: Shot, tmp_path: Path
) -> None:
    context = chromium.new_context(base_url=portal.url, java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page, DEMO_ASSOCIATE, DEMO_ASSOCIATE_PASSWORD)
        page.goto("/threads/new")
        expect(page.get_by_text("Upload each file before you write your message")).to_be_visible()
        document = tmp_path / "scan without script.txt"
        document.write_bytes(b"no script needed\n" * 50)
        page.get_by_label("File to attach").set_input_files(str(document))
        # The form posts to the bucket (the page's CSP allows it), S3 redirects to the bounce page,
        # whose refresh brings the browser back to the draft.
        page.get_by_role("button", name="Upload file").click()
        page.wait_for_url(re.compile(r"/threads/new\?notice=file_uploaded"))
        expect(page.get_by_role("checkbox", name=re.compile("scan without script.txt"))).to_be_checked()
        screenshots(page, "listed-after-upload")
        recipient = unique("noah") + "@clinic.example"
        page.get_by_label("To (mail addresses, separated by commas)").fill(recipient)
        page.get_by_label("Subject").fill("Sent without a script")
        page.get_by_label("Message").fill("The scan is attached.")
        submit(page, page.get_by_role("button", name="Send securely"))
        expect(page.get_by_role("link", name="scan without script.txt")).to_be_visible()
        screenshots(page, "sent")
    finally:
        context.close()


def test_the_portal_works_by_keyboard_alone_with_visible_focus(
    open_browser: Callable[..., Any], screenshots: Shot
) -> None:
    page = open_browser()
    page.goto("/signin")

    def focused() -> dict[str, Any]:
        return dict(
            page.evaluate(
                "() => { const e = document.activeElement, s = getComputedStyle(e), r = e.getBoundingClientRect();"
                " return {text: (e.innerText || e.value || e.id || '').trim(), tag: e.tagName, id: e.id,"
                " outline: s.outlineStyle, width: parseFloat(s.outlineWidth), left: r.left, top: r.top}; }"
            )
        )

    page.keyboard.press("Tab")
    skip = focused()
    assert skip["text"] == "Skip to main content" and skip["left"] >= 0 and skip["outline"] != "none"
    page.keyboard.press("Enter")
    assert focused()["tag"] == "MAIN"
    for _ in range(10):
        page.keyboard.press("Tab")
        if focused()["id"] == "username":
            break
    assert focused()["id"] == "username" and focused()["width"] >= 2
    page.keyboard.type(DEMO_ASSOCIATE)
    page.keyboard.press("Tab")
    assert focused()["id"] == "password"
    page.keyboard.type(DEMO_ASSOCIATE_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    second_step(page, DEMO_ASSOCIATE)
    expect(page.get_by_role("heading", name="Secure threads")).to_be_visible()

    for _ in range(20):
        page.keyboard.press("Tab")
        if focused()["text"] == "TLS by domain":
            break
    assert focused()["text"] == "TLS by domain" and focused()["outline"] == "solid"
    screenshots(page, "focus-on-navigation")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="TLS by recipient domain")).to_be_visible()


# --- accessibility: axe-core on every page --------------------------------------------------------

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Fail on any serious or critical violation, and on these whatever their impact: every page has a
# title, one main landmark, a first-level heading, and all content inside landmarks.
ALWAYS_FAIL = {"document-title", "landmark-one-main", "page-has-heading-one", "region", "html-has-lang"}
PHONE, DESKTOP = {"width": 375, "height": 812}, {"width": 1280, "height": 900}


class AxeAudit:
    def __init__(self) -> None:
        if not AXE.exists():
            pytest.fail("axe-core is not installed: run `make test` (it runs `npm ci`)")
        self.source = AXE.read_text()
        self.problems: list[str] = []
        self.pages = 0

    def check(self, page: Any, label: str, shot: Shot) -> None:
        """axe at desktop and phone width, and no sideways scrolling at 375 px."""
        self.pages += 1
        for viewport in (DESKTOP, PHONE):
            page.set_viewport_size(viewport)
            page.evaluate(self.source)
            violations = page.evaluate(
                "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                ".map(v => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(' '))}))"
            )
            for v in violations:
                if v["impact"] in ("serious", "critical") or v["id"] in ALWAYS_FAIL:
                    where = f"{label} @{viewport['width']}px"
                    self.problems.append(f"{where}: {v['id']} ({v['impact']}) {v['help']} {v['targets'][:3]}")
            if viewport is PHONE:
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                if overflow > 1:
                    self.problems.append(f"{label} @375px: scrolls sideways by {overflow}px")
                shot(page, label + "-phone")
        page.set_viewport_size(DESKTOP)

    def visit(self, page: Any, path: str, label: str, shot: Shot) -> None:
        page.goto(path)
        self.check(page, label, shot)


def test_no_page_has_a_serious_or_critical_accessibility_violation(
    open_browser: Callable[..., Any], portal: Portal, screenshots: Shot
) -> None:
    audit = AxeAudit()
    associate = associate_page(open_browser)
    partner = open_browser()
    sign_in(partner, portal.partner_username, portal.partner_password)
    expect(partner.get_by_role("heading", name="Secure inbox")).to_be_visible()
    care = partner.get_by_role("link", name="Care plan for your review (demo)").get_attribute("href")
    busy = partner.get_by_role("link", name="Claim review, nearly full (demo)").get_attribute("href")

    # Links that arrive by mail: a first pickup, a pickup of a registered partner, an invitation, a reset.
    newcomer = unique("nia") + "@clinic.example"
    start_thread(associate, newcomer, "Eligibility question", "Is the member eligible?")
    start_thread(associate, "pat@clinic.example", "Follow-up on the care plan", "One more question.")
    first_pickup = portal.mail_link(newcomer, "/p/")
    later_pickup = portal.mail_link("pat@clinic.example", "/p/")
    invited = unique("ivo") + "@lab.example"
    associate.goto("/accounts")
    associate.get_by_label("Partner's mail address").fill(invited)
    submit(associate, associate.get_by_role("button", name="Create account and send invitation"))
    invitation = portal.mail_link(invited, "/register/")

    anonymous = open_browser()
    for path, label in (
        ("/signin", "signin"),
        ("/forgot", "forgot"),
        ("/register/" + "x" * 43, "register-link-invalid"),
        ("/p/" + "x" * 43, "pickup-link-invalid"),
        ("/reset/" + "x" * 43, "reset-link-invalid"),
        ("/no/such/page", "not-found"),
        ("/local/mail", "local-mail"),
        (first_pickup, "pickup-first-time"),
        (later_pickup, "pickup-sign-in"),
        (invitation, "invitation"),
    ):
        audit.visit(anonymous, path, label, screenshots)
    anonymous.goto("/signin")
    anonymous.get_by_label("User name").fill("nobody-here")
    anonymous.get_by_label("Password", exact=True).fill("wrong password entirely")
    submit(anonymous, anonymous.get_by_role("button", name="Sign in"))
    audit.check(anonymous, "signin-failed", screenshots)
    anonymous.goto("/forgot")
    submit(anonymous, anonymous.get_by_role("button", name="Send me a link"))
    audit.check(anonymous, "forgot-empty", screenshots)
    anonymous.get_by_label("User name or mail address").fill("pat@clinic.example")
    submit(anonymous, anonymous.get_by_role("button", name="Send me a link"))
    audit.check(anonymous, "forgot-sent", screenshots)
    audit.visit(anonymous, portal.mail_link("pat@clinic.example", "/reset/"), "reset", screenshots)
    waiting = open_browser()  # the password was right: the code page
    waiting.goto("/signin")
    waiting.get_by_label("User name").fill(portal.partner_username)
    waiting.get_by_label("Password", exact=True).fill(portal.partner_password)
    submit(waiting, waiting.get_by_role("button", name="Sign in"))
    audit.check(waiting, "second-factor-code", screenshots)

    for path, label in (
        ("/home", "partner-inbox"),
        (care, "partner-thread-with-attachment"),
        ("/threads/new", "partner-new-message"),
        ("/account", "partner-account"),
        ("/account/security", "partner-second-factor"),
        ("/enrol?next=/account/security", "partner-replace-app"),
        ("/accounts", "partner-forbidden"),
        ("/threads/" + "0" * 32, "partner-thread-not-found"),
    ):
        audit.visit(partner, path, label, screenshots)
    partner.goto("/threads/new")
    submit(partner, partner.get_by_role("button", name="Send securely"))
    audit.check(partner, "partner-new-message-errors", screenshots)
    partner.goto("/account")
    partner.get_by_label("Current password").fill(portal.partner_password)
    partner.get_by_label("New password", exact=True).fill("a new password of mine")
    partner.get_by_label("Repeat the new password").fill("a different one of mine")
    submit(partner, partner.get_by_role("button", name="Change password"))
    audit.check(partner, "partner-account-errors", screenshots)
    partner.goto(busy)
    audit.check(partner, "partner-thread-nearly-full", screenshots)
    partner.get_by_label("Your reply").fill("The twelfth message.")
    submit(partner, partner.get_by_role("button", name="Send reply"))
    expect(partner.get_by_role("heading", name="This thread is full")).to_be_visible()
    audit.check(partner, "partner-thread-full", screenshots)

    for path, label in (
        ("/home", "associate-inbox"),
        ("/accounts", "associate-accounts"),
        ("/threads/new", "associate-new-thread"),
        (care, "associate-thread-deliveries"),
        ("/tls", "associate-tls"),
        ("/tls?domain=clinic.example", "associate-tls-lookup"),
        ("/tls?domain=unknown.example", "associate-tls-not-cached"),
        ("/tls?domain=not+a+domain", "associate-tls-error"),
        ("/domain-filter", "associate-domain-filter"),
        ("/account", "associate-account"),
        ("/local/mail", "associate-local-mail"),
    ):
        audit.visit(associate, path, label, screenshots)
    associate.goto("/accounts")
    associate.get_by_label("Partner's mail address").fill("not an address")
    submit(associate, associate.get_by_role("button", name="Create account and send invitation"))
    audit.check(associate, "associate-accounts-error", screenshots)

    assert audit.pages >= 36
    assert not audit.problems, "\n".join(audit.problems)
