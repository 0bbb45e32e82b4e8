"""Secrets never printed: random passwords over printable and non-ASCII characters, in every URL
form the driver accepts, through the one location renderer, free-text redaction, every command's
output and the window title."""

from __future__ import annotations

import contextlib
import io
import re
from types import SimpleNamespace
from urllib.parse import quote

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from labeler.cli import main
from labeler.redaction import scrub, shown_location, strip_password, url_secrets

PASSWORDS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=6, max_size=24
)
SPECIAL = st.sampled_from(["p/ss word", "p@ss@word", "pa ss\nword", "x:y@z/w?q#f", "sécret密码", "p%40ss%2Fw", "&schema=evil"])


def _forms(pw: str) -> list[str]:
    enc = quote(pw, safe="")
    return [
        f"postgresql://alice:{pw}@db.example.org/labels?schema=birds",
        f"postgresql://alice:{enc}@db.example.org:5433/labels?schema=birds",
        f"postgres://alice:{pw}@db.example.org/labels",
        f"postgresql+psycopg://alice:{enc}@[::1]:5432/labels",
        f"postgresql://alice@x:{pw}@db.example.org/labels",
        f"postgresql://:{enc}@db.example.org/labels",
        f"postgresql://alice@db.example.org/labels?password={enc}&schema=birds",
        f"postgresql://alice@db.example.org/labels?sslmode=require&sslpassword={enc}",
        f"postgresql://alice@db.example.org/labels?sslpassword={pw}",
        f"postgresql://alice:{pw}@/labels?host=/var/run/postgresql",
    ]


def _accepted(pw: str) -> list[str]:
    """The forms a URL parser reads with this password (a raw & or # ends a query value: that
    is another URL, not one holding this password)."""
    return [u for i, u in enumerate(_forms(pw)) if i != 8 or not re.search(r"[&#]", pw)]


def _pieces(pw: str) -> list[str]:
    """The parts of the password a leak would show (split where a parser may split it)."""
    parts = re.split(r"[@/\s?#&:%=]+", pw) + [pw, quote(pw, safe=""), quote(pw)]
    return [p for p in parts if len(p) >= 4]


#: Every form with a password that cannot collide: what is not secret in them.
NOT_SECRET = " ".join(_forms("\x01")) + " 127.0.0.1 connect_timeout birds — labeler"


def _leaks(text: str, url: str, pw: str) -> list[str]:
    return [p for p in _pieces(pw) if p in text and p not in NOT_SECRET]


@settings(max_examples=150, deadline=None)
@given(pw=st.one_of(PASSWORDS, SPECIAL))
def test_no_url_form_shows_its_password(pw):
    for i, url in enumerate(_forms(pw)):
        if url not in _accepted(pw):
            continue
        texts = [shown_location(url), strip_password(url)]
        if i != 8 or not re.search(r"[\s&#]", pw):  # a free text ends a raw query value at a space
            texts.append(scrub(f"error: {url}: server says no", []))
        for text in texts:
            assert not _leaks(text, url, pw), (url, text)


@settings(max_examples=60, deadline=None)
@given(pw=st.one_of(PASSWORDS, SPECIAL))
def test_a_driver_message_quoting_the_secret_is_scrubbed(pw):
    assume(len(pw) >= 6)
    url = f"postgresql://alice:{quote(pw, safe='')}@h/db?sslpassword={quote(pw, safe='')}"
    message = f'invalid sslpassword "{pw}" for connection option; conninfo password={pw} host=h'
    out = scrub(message, url_secrets(url))
    assert pw not in out and quote(pw, safe="") not in out, out


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(pw=st.one_of(PASSWORDS, SPECIAL))
def test_no_command_prints_the_password(tmp_path, pw):
    """Every command that takes a project, pointed at a server that refuses the connection."""
    (tmp_path / "imgs").mkdir(exist_ok=True)
    forms = _forms(pw)
    for url in (forms[0], forms[4], forms[7]):
        url = url.replace("db.example.org", "127.0.0.1").replace(":5433", ":1").replace("127.0.0.1/", "127.0.0.1:1/")
        url += ("&" if "?" in url else "?") + "connect_timeout=1"
        for argv in (["status", url], ["review", url], ["clear-cache", url], ["label", url, "a.png", "a=1,2"],
                     ["export", url, "--coco", str(tmp_path / "o.json")], ["init", url, "--images", str(tmp_path / "imgs")],
                     ["copy", url, str(tmp_path / "c.labeler")], ["copy", str(tmp_path / "none.labeler"), url],
                     ["add-images", url, str(tmp_path / "imgs")], ["remove-images", url, "a.png"]):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
            text = out.getvalue() + err.getvalue()
            assert code == 2 and "Traceback" not in text, (argv, text)
            assert not _leaks(text, url, pw), (argv, text)


@settings(max_examples=100, deadline=None)
@given(pw=st.one_of(PASSWORDS, SPECIAL))
def test_the_window_title_never_shows_the_password(pw):
    from labeler.gui.team import title

    for url in _accepted(pw):
        shown = title(SimpleNamespace(name="birds", location=url, display=shown_location(url)))
        assert not _leaks(shown, url, pw), (url, shown)
