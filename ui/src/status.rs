//! The status bar's clocks: the reconnect countdown and how long a notice stays. Counted in
//! ticks of one second (the window's timer calls [`Clocks::tick`]), so the rules are tested
//! without waiting.

use std::time::Duration;

/// How many seconds a notice stays before it clears itself.
pub const NOTICE_SECS: u32 = 6;

/// What a tick changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tick {
    /// The countdown moved: seconds left before the next attempt (0: trying now).
    pub reconnect_in: Option<u64>,
    /// The notice's time is up.
    pub clear_notice: bool,
}

#[derive(Debug, Default)]
pub struct Clocks {
    reconnect_in: Option<u64>,
    notice_left: u32,
}

impl Clocks {
    /// A reconnect is due in `delay`; returns the whole seconds to show, rounded up.
    pub fn reconnecting(&mut self, delay: Duration) -> u64 {
        let secs = delay.as_millis().div_ceil(1000) as u64;
        self.reconnect_in = Some(secs);
        secs
    }

    /// Connected, offline for good, or signed out: no countdown.
    pub fn stop_countdown(&mut self) {
        self.reconnect_in = None;
    }

    /// A notice went up: its time starts again.
    pub fn notice(&mut self) {
        self.notice_left = NOTICE_SECS;
    }

    pub fn tick(&mut self) -> Tick {
        let mut tick = Tick::default();
        if let Some(secs) = self.reconnect_in
            && secs > 0
        {
            self.reconnect_in = Some(secs - 1);
            tick.reconnect_in = Some(secs - 1);
        }
        if self.notice_left > 0 {
            self.notice_left -= 1;
            tick.clear_notice = self.notice_left == 0;
        }
        tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_countdown_counts_down_and_notices_clear_themselves() {
        enum Step {
            Reconnecting(u64),
            Stop,
            Notice,
            Second,
        }
        use Step::*;
        let some = |secs| Tick { reconnect_in: Some(secs), clear_notice: false };
        let none = Tick::default();
        let clear = Tick { reconnect_in: None, clear_notice: true };
        let cases: &[(&str, &[Step], &[Tick])] = &[
            ("nothing to count", &[Second], &[none]),
            (
                "3 s down to trying now",
                &[Reconnecting(2500), Second, Second, Second, Second],
                &[some(2), some(1), some(0), none],
            ),
            ("half a second shows as 1 s", &[Reconnecting(500), Second, Second], &[some(0), none]),
            ("connected stops it", &[Reconnecting(2000), Second, Stop, Second], &[some(1), none]),
            (
                "a notice clears after its time",
                &[Notice, Second, Second, Second, Second, Second, Second, Second],
                &[none, none, none, none, none, clear, none],
            ),
            (
                "a new notice starts the time again",
                &[Notice, Second, Second, Second, Second, Second, Notice, Second],
                &[none, none, none, none, none, none],
            ),
        ];
        for (name, steps, ticks) in cases {
            let mut clocks = Clocks::default();
            let mut seen = Vec::new();
            for step in *steps {
                match *step {
                    Reconnecting(ms) => {
                        clocks.reconnecting(Duration::from_millis(ms));
                    }
                    Stop => clocks.stop_countdown(),
                    Notice => clocks.notice(),
                    Second => seen.push(clocks.tick()),
                }
            }
            assert_eq!(&seen, ticks, "{name}");
        }
        assert_eq!(Clocks::default().reconnecting(Duration::from_millis(2001)), 3);
    }
}
