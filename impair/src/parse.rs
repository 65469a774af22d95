//! The textual forms of settings, as tc/netem writes them, for the CLI and for benchmark
//! flags: rates like `100mbit`, probabilities like `1%` or `0.01`.

use crate::config::Loss;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("invalid rate {0:?}: expected a number of bits/s with an optional kbit, mbit or gbit")]
    Rate(String),
    #[error("invalid probability {0:?}: expected a fraction (0.01) or a percentage (1%)")]
    Probability(String),
    #[error("invalid Gilbert-Elliott loss {0:?}: expected p,r,loss_in_bad,loss_in_good")]
    GilbertElliott(String),
}

/// Bits per second from `100mbit`, `1gbit`, `64kbit`, `2.5mbit` or a plain number (case and a
/// trailing `/s` is ignored, `bps` means `bit`; `bit` alone is bits).
pub fn rate(text: &str) -> Result<u64, ParseError> {
    let err = || ParseError::Rate(text.to_owned());
    let lower = text.trim().to_ascii_lowercase();
    let s = lower.trim_end_matches("/s");
    let s = match s.strip_suffix("bps") {
        Some(number) => format!("{number}bit"),
        None => s.to_owned(),
    };
    let (number, scale) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        .into_iter()
        .find_map(|(unit, scale)| s.strip_suffix(unit).map(|n| (n, scale)))
        .unwrap_or((&s, 1.0));
    let value: f64 = number.trim().parse().map_err(|_| err())?;
    let bits = value * scale;
    if !bits.is_finite() || bits < 1.0 {
        return Err(err());
    }
    Ok(bits.round() as u64)
}

/// A probability from `1%`, `0.5%` or `0.01`.
pub fn probability(text: &str) -> Result<f64, ParseError> {
    let err = || ParseError::Probability(text.to_owned());
    let s = text.trim();
    let value = match s.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map_err(|_| err())? / 100.0,
        None => s.parse::<f64>().map_err(|_| err())?,
    };
    if !(0.0..=1.0).contains(&value) {
        return Err(err());
    }
    Ok(value)
}

/// Gilbert–Elliott loss from `p,r,loss_in_bad,loss_in_good`, netem's `gemodel p r 1-h 1-k`
/// order; each a probability as [`probability`] reads it.
pub fn gilbert_elliott(text: &str) -> Result<Loss, ParseError> {
    let err = || ParseError::GilbertElliott(text.to_owned());
    let parts: Vec<f64> =
        text.split(',').map(probability).collect::<Result<_, _>>().map_err(|_| err())?;
    let [good_to_bad, bad_to_good, loss_in_bad, loss_in_good] = parts[..] else {
        return Err(err());
    };
    Ok(Loss::GilbertElliott { good_to_bad, bad_to_good, loss_in_bad, loss_in_good })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let table = [
            ("100mbit", Some(100_000_000)),
            ("1Gbit", Some(1_000_000_000)),
            ("2.5mbit", Some(2_500_000)),
            ("64kbit/s", Some(64_000)),
            ("100mbps", Some(100_000_000)),
            ("9600", Some(9600)),
            ("9600bit", Some(9600)),
            ("0", None),
            ("fast", None),
            ("-1mbit", None),
        ];
        for (text, expected) in table {
            assert_eq!(rate(text).ok(), expected, "{text}");
        }
    }

    #[test]
    fn probabilities() {
        let table = [
            ("1%", Some(0.01)),
            ("0.5%", Some(0.005)),
            ("0.05", Some(0.05)),
            ("100%", Some(1.0)),
            ("0", Some(0.0)),
            ("101%", None),
            ("2", None),
            ("lots", None),
        ];
        for (text, expected) in table {
            match expected {
                Some(p) => assert!((probability(text).expect(text) - p).abs() < 1e-12, "{text}"),
                None => assert!(probability(text).is_err(), "{text}"),
            }
        }
    }

    #[test]
    fn gilbert_elliott_takes_four_probabilities_in_netem_order() {
        assert_eq!(
            gilbert_elliott("1%,10%,0.7,0"),
            Ok(Loss::GilbertElliott {
                good_to_bad: 0.01,
                bad_to_good: 0.1,
                loss_in_bad: 0.7,
                loss_in_good: 0.0
            })
        );
        assert!(gilbert_elliott("1%,10%,0.7").is_err());
        assert!(gilbert_elliott("1%,10%,0.7,0,0").is_err());
        assert!(gilbert_elliott("1%,x,0.7,0").is_err());
    }
}
