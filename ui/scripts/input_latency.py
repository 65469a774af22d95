"""Input-to-screen latency of the QuicQ window on an X display: types a key into the focused
field through XTEST and times how long until the window's pixels change (X DAMAGE events).

    /usr/bin/python3 ui/scripts/input_latency.py DISPLAY [COUNT [TOP BOTTOM]]

Prints `p50 p90 max` in milliseconds. The cursor's blink also changes pixels, so each key is
typed 50 ms after a change (right after a blink, half a blink period before the next one) and only
a change within 400 ms counts; a key that takes longer is reported as 400 ms or more. With TOP
and BOTTOM only changes to that band of rows count (the message field, while messages arrive
above it); a renderer that redraws the whole window each frame passes any change. Needs
python3-xlib (Debian).
"""

import sys
import time

from Xlib import X, XK, display
from Xlib.ext import damage, xtest


def find_window(d, root, name):
    for child in root.query_tree().children:
        if child.get_wm_name() == name:
            return child
        found = find_window(d, child, name)
        if found is not None:
            return found
    return None


def next_damage(d, deadline, band=None):
    """The time of the next damage event before `deadline` (touching `band`), or None."""
    while time.monotonic() < deadline:
        while d.pending_events():
            event = d.next_event()
            # python-xlib makes its own class per extension event: compare by name.
            if type(event).__name__ != "DamageNotify":
                continue
            top, bottom = band or (0, 1 << 30)
            if event.area.y < bottom and event.area.y + event.area.height > top:
                return time.monotonic()
        time.sleep(0.0005)
    return None


def drain(d):
    while d.pending_events():
        d.next_event()


def main():
    d = display.Display(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    band = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else None
    window = find_window(d, d.screen().root, "QuicQ")
    if window is None:
        sys.exit("no QuicQ window")
    d.damage_query_version()
    window.damage_create(damage.DamageReportRawRectangles)
    d.flush()
    key = d.keysym_to_keycode(XK.string_to_keysym("x"))
    backspace = d.keysym_to_keycode(XK.string_to_keysym("BackSpace"))
    samples = []
    for _ in range(count):
        next_damage(d, time.monotonic() + 1.0, band)  # a blink, or a second of quiet
        time.sleep(0.05)
        drain(d)
        start = time.monotonic()
        xtest.fake_input(d, X.KeyPress, key)
        xtest.fake_input(d, X.KeyRelease, key)
        d.flush()
        changed = next_damage(d, start + 0.4, band)
        samples.append(0.4 if changed is None else changed - start)
        time.sleep(0.1)
    for _ in range(count):
        xtest.fake_input(d, X.KeyPress, backspace)
        xtest.fake_input(d, X.KeyRelease, backspace)
    d.flush()
    samples.sort()
    ms = [round(s * 1000, 1) for s in samples]
    print(f"{ms[len(ms) // 2]} {ms[int(len(ms) * 0.9)]} {ms[-1]}")


if __name__ == "__main__":
    main()
