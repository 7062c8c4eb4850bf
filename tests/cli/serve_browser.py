#!/usr/bin/env python3
"""The page of `fleetprof serve`, used as a person would, in headless
Chromium: opens it, reads the hotspot table, clicks a frame of the icicle
graph and checks the zoom, opens the diff, colors the graph by change, and
saves screenshots. Speaks the W3C WebDriver protocol to chromedriver with
the standard library only (no npm, no selenium). Every expected value comes
from the command line: test_cli_serve_browser.c computes them from the
fleet it loaded. Exit status 0 (pass) or 1 (fail, with the reason).
"""

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# The W3C name of an element reference in WebDriver answers.
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
# Never through a proxy: everything here is on loopback.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class WebDriver:
    """The few WebDriver commands the test needs."""

    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port
        self.session = None

    def call(self, method, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with OPENER.open(req, timeout=timeout) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            try:
                v = json.load(e)["value"]
                msg = "%s: %s" % (v.get("error"), v.get("message"))
            except ValueError:
                msg = str(e)
            raise Failure("WebDriver %s %s: %s" % (method, path, msg))

    def s(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.session, path),
                         body)

    def start(self, chromium, profile):
        args = ["--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                "--force-device-scale-factor=1", "--window-size=1440,1000",
                "--user-data-dir=" + profile]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}}}}
        v = self.call("POST", "/session", caps, timeout=120)
        self.session = v["sessionId"]

    def stop(self):
        if self.session is not None:
            try:
                self.s("DELETE", "")
            except (Failure, OSError):
                pass
            self.session = None

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.s("POST", "/execute/sync",
                      {"script": script, "args": list(args)})

    def find(self, css):
        v = self.s("POST", "/element", {"using": "css selector",
                                        "value": css})
        return v[ELEMENT]

    def text(self, css):
        return self.s("GET", "/element/%s/text" % self.find(css))

    def click(self, css):
        self.s("POST", "/element/%s/click" % self.find(css), {})

    def screenshot(self, path):
        png = base64.b64decode(self.s("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, fn, timeout=30.0):
    """Polls fn() until it returns a true value; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("timed out waiting for " + what)
        time.sleep(0.1)


def page_ready(wd):
    errs = wd.js("return document.documentElement.dataset.errors || ''")
    check(errs == "", "the page reported errors: " + errs)
    return wd.js("return document.documentElement.dataset.state") == "ready"


def frames(wd):
    return wd.js("""
        return [...document.querySelectorAll('#flame g.frame')].map(g => ({
            name: g.dataset.name, depth: Number(g.dataset.depth),
            anc: g.classList.contains('anc'),
            fill: g.querySelector('rect').getAttribute('fill'),
            w: Number(g.querySelector('rect').getAttribute('width'))}));""")


def frame(fs, name, depth):
    hits = [f for f in fs if f["name"] == name and f["depth"] == depth]
    check(len(hits) == 1, "one frame %s at depth %d, got %r" %
          (name, depth, hits))
    return hits[0]


def near(a, b, what, tol=0.5):
    check(abs(a - b) <= tol, "%s: %.3f, want %.3f" % (what, a, b))


def run(a, wd):
    wd.go("%s#from=%s&until=%s" % (a.url, a.start, a.end))
    wait_for("the page to load", lambda: page_ready(wd))

    # The hotspot table: the top function with its exact ncalls, as the
    # CLI prints them; a recursive function shows total/primitive.
    first = "#top-table tbody tr:first-child "
    check(wd.text(first + "td:nth-child(7)") == a.top_label,
          "top function: %r" % wd.text(first + "td:nth-child(7)"))
    check(wd.text(first + "td:nth-child(1)") == a.top_ncalls,
          "top ncalls: %r" % wd.text(first + "td:nth-child(1)"))
    check(wd.text(first + "td:nth-child(2)") == a.top_tottime,
          "top tottime: %r" % wd.text(first + "td:nth-child(2)"))
    rows = wd.js("""return [...document.querySelectorAll(
        '#top-table tbody tr')].map(tr => [tr.dataset.fn,
        tr.cells[0].textContent])""")
    check([a.rec_fn, a.rec_ncalls] in rows,
          "%s with ncalls %s in %r" % (a.rec_fn, a.rec_ncalls, rows))
    # The timeline shows the selected (top) function, step by step.
    wait_for("the timeline", lambda: wd.js(
        "return document.querySelectorAll('#timeline rect.bar-v').length"))
    bars = wd.js("""return [...document.querySelectorAll(
        '#timeline rect.bar-v')].map(b => Number(b.dataset.ncalls))""")
    check(bars == a.timeline, "timeline ncalls %r, want %r" %
          (bars, a.timeline))
    check(wd.text("#tl-fn") == a.top_label, "timeline of %r" %
          wd.text("#tl-fn"))

    # The icicle graph: the root spans the width; the frame's share of it.
    fs = frames(wd)
    width = frame(fs, "all", 0)["w"]
    check(width > 800, "graph width %r" % width)
    near(frame(fs, a.path[-1], len(a.path))["w"],
         width * a.frame_ns / a.root_ns, "frame before the zoom")
    wd.screenshot(a.screenshot)

    # Click it: it fills the width, its child scales with it, the crumbs
    # name the path, and the timeline follows the selection.
    wd.click('#flame g.frame[data-name="%s"][data-depth="%d"]' %
             (a.path[-1], len(a.path)))
    crumbs = wait_for("the breadcrumb", lambda: wd.js(
        """const c = [...document.querySelectorAll('#crumbs .crumb')]
               .map(b => b.textContent);
           return c.length > 1 ? c : null;"""))
    check(crumbs == ["all"] + a.path, "breadcrumb %r" % crumbs)
    fs = frames(wd)
    zoomed = frame(fs, a.path[-1], len(a.path))
    check(not zoomed["anc"], "the zoomed frame is the focus")
    near(zoomed["w"], width, "zoomed frame")
    near(frame(fs, a.child, len(a.path) + 1)["w"],
         width * a.child_ns / a.frame_ns, "child after the zoom")
    check(all(f["w"] == width for f in fs if f["anc"]),
          "ancestors span the width")
    wait_for("the timeline of the zoomed function",
             lambda: wd.text("#tl-fn") == a.frame_label)

    # The diff: slower in red, faster in green, numbers as the CLI's.
    wd.click('.tabs button[data-tab="diff"]')
    wait_for("the diff", lambda: wd.js(
        "return document.querySelectorAll('#diff-table tbody tr[data-fn]')"
        ".length"))
    classes = dict(wd.js("""return [...document.querySelectorAll(
        '#diff-table tbody tr')].map(tr => [tr.dataset.fn, tr.className
        .replace(/\\bsel\\b/, '').trim()])"""))
    for fn in a.slower:
        check(classes.get(fn) == "slower", "%s slower: %r" % (fn, classes))
    for fn in a.faster:
        check(classes.get(fn) == "faster", "%s faster: %r" % (fn, classes))
    change = wd.js("""return document.querySelector(
        '#diff-table tr[data-fn="%s"] td.change').textContent""" %
                   a.diff_fn)
    check(change == a.diff_change, "change of %s: %r, want %r" %
          (a.diff_fn, change, a.diff_change))

    # The graph colored by change: the slower function's frames are red.
    wd.js("""const s = document.getElementById('flame-color');
             s.value = 'diff'; s.dispatchEvent(new Event('change'));""")
    wait_for("diff colors", lambda: all(
        f["fill"].startswith("hsl(3,") for f in frames(wd)
        if f["name"] == a.diff_fn))
    check(wd.js("return !document.getElementById('legend').hidden"),
          "the legend is shown")
    wd.screenshot(a.screenshot.replace(".png", "-diff.png"))

    # A crumb zooms back out.
    wd.click("#crumbs .crumb")
    near(frame(frames(wd), a.path[-1], len(a.path))["w"],
         width * a.frame_ns / a.root_ns, "frame after zooming out")
    page_ready(wd)  # fails on any script error or blocked resource


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--from", dest="start", required=True)
    p.add_argument("--until", dest="end", required=True)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    p.add_argument("--screenshot", required=True)
    p.add_argument("--top-label", required=True)
    p.add_argument("--top-ncalls", required=True)
    p.add_argument("--top-tottime", required=True)
    p.add_argument("--rec-fn", required=True)
    p.add_argument("--rec-ncalls", required=True)
    p.add_argument("--timeline", required=True,
                   help="ncalls per step, comma-separated")
    p.add_argument("--path", required=True,
                   help="names from the entry function to the frame to "
                        "click, comma-separated")
    p.add_argument("--frame-label", required=True)
    p.add_argument("--root-ns", type=float, required=True)
    p.add_argument("--frame-ns", type=float, required=True)
    p.add_argument("--child", required=True)
    p.add_argument("--child-ns", type=float, required=True)
    p.add_argument("--slower", required=True)
    p.add_argument("--faster", required=True)
    p.add_argument("--diff-fn", required=True)
    p.add_argument("--diff-change", required=True)
    a = p.parse_args()
    a.timeline = [int(x) for x in a.timeline.split(",")]
    a.path = a.path.split(",")
    a.slower = a.slower.split(",")
    a.faster = a.faster.split(",")

    port = free_port()
    profile = tempfile.mkdtemp(prefix="fp_chromium_")
    log = open(a.screenshot + ".chromedriver.log", "w")
    driver = subprocess.Popen([a.chromedriver, "--port=%d" % port],
                              stdout=log, stderr=subprocess.STDOUT)
    wd = WebDriver(port)
    try:
        wait_for("chromedriver", lambda: _status(wd), timeout=30)
        wd.start(a.chromium, profile)
        run(a, wd)
    except Failure as e:
        print("FAIL: %s" % e)
        try:
            wd.screenshot(a.screenshot.replace(".png", "-failed.png"))
            print("screenshot of the failure: %s" %
                  a.screenshot.replace(".png", "-failed.png"))
        except (Failure, OSError, KeyError):
            pass
        return 1
    finally:
        wd.stop()
        driver.terminate()
        try:
            driver.wait(10)
        except subprocess.TimeoutExpired:
            driver.kill()
        log.close()
        shutil.rmtree(profile, ignore_errors=True)
    print("ok: screenshots %s and %s" %
          (a.screenshot, a.screenshot.replace(".png", "-diff.png")))
    return 0


def _status(wd):
    try:
        return wd.call("GET", "/status", timeout=2).get("ready")
    except (Failure, OSError):
        return False


if __name__ == "__main__":
    sys.exit(main())
