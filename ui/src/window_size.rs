//! The window on a small screen: the main window asks for 1000x680, which an 800x480 panel
//! cannot show, so a window that does not fit its screen is shrunk to it.

/// The size for a window of `window` on a screen of `screen` (both physical pixels, width
/// and height): `None` when it fits, else each side at most the screen's.
pub fn fit(window: (u32, u32), screen: (u32, u32)) -> Option<(u32, u32)> {
    if screen.0 == 0 || screen.1 == 0 || (window.0 <= screen.0 && window.1 <= screen.1) {
        return None;
    }
    Some((window.0.min(screen.0), window.1.min(screen.1)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_window_too_large_for_its_screen_is_shrunk_to_it() {
        let cases = [
            ((1000, 680), (1920, 1080), None),
            ((1000, 680), (800, 480), Some((800, 480))),
            ((1000, 680), (1024, 600), Some((1000, 600))),
            ((1000, 680), (1000, 680), None),
            // A monitor that reports no size says nothing.
            ((1000, 680), (0, 0), None),
        ];
        for (window, screen, want) in cases {
            assert_eq!(super::fit(window, screen), want, "{window:?} on {screen:?}");
        }
    }
}
