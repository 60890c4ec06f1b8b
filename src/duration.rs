//! Durations as written in `ptest.lua` and on the command line: a number of seconds, or a string
//! such as `"250ms"`, `"30s"`, `"5m"`, `"1h30m"`. Parsing only; no Lua here.

use std::time::Duration;

/// The longest duration ptest accepts anywhere (a timeout, a delay, an estimate, a limiter's
/// period): no test run waits a year, and arithmetic on durations and instants stays far from
/// overflow.
pub(crate) const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a value above [`MAX`] is told.
pub(crate) const TOO_LONG: &str = "is too long (at most 365 days)";

/// Parse a duration string. A bare number means seconds. Longer than [`MAX`] is an error.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let d = parse_saturating(text)?;
    if d > MAX {
        return Err(format!("\"{}\" {TOO_LONG}", text.trim()));
    }
    Ok(d)
}

/// Like [`parse`] without the limit: a value too long to hold is `Duration::MAX`.
pub(crate) fn parse_saturating(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return from_secs_saturating(secs);
    }
    match humantime::parse_duration(t) {
        Ok(d) => Ok(d),
        Err(humantime::DurationError::NumberOverflow) => Ok(Duration::MAX),
        Err(e) => Err(e.to_string()),
    }
}

/// A number of seconds as a duration, `Duration::MAX` when too long to hold.
pub(crate) fn from_secs_saturating(secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{secs} is not a non-negative number of seconds"));
    }
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// A number of seconds read from a file or computed (a history, a merged report, an ETA) as a
/// duration for display: negative or NaN is zero, too long to hold is [`MAX`]. Never panics,
/// unlike `Duration::from_secs_f64`.
pub(crate) fn from_secs_lossy(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).unwrap_or(MAX)
}

/// Short human form for the terminal: `850ms`, `4.2s`, `3m05s`, `1h02m`.
pub(crate) fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else if ms < 3_600_000 {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = d.as_secs() / 60;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_of_the_design() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse(" 2 "), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(parse("").is_err());
        assert!(parse("soon").is_err());
        assert!(parse("5 parsecs").is_err());
        assert!(parse("-1").is_err());
        assert!(from_secs_saturating(f64::NAN).is_err());
        assert!(parse("99999999999h").unwrap_err().contains("365 days"));
        assert!(parse("9223372036854775807").is_err());
        assert_eq!(parse("365d"), Ok(MAX));
    }

    #[test]
    fn human_form() {
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_millis(4200)), "4.2s");
        assert_eq!(human(Duration::from_secs(185)), "3m05s");
        assert_eq!(human(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn compound_and_fractional_forms() {
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("2h 5m"), Ok(Duration::from_secs(7500)));
        assert_eq!(parse("1.25"), Ok(Duration::from_millis(1250)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("0.0005"), Ok(Duration::from_micros(500)));
        assert_eq!(parse("3d"), Ok(Duration::from_secs(3 * 86_400)));
        assert_eq!(parse("1500us"), Ok(Duration::from_micros(1500)));
    }

    #[test]
    fn the_limit_is_a_year_and_says_so_with_the_text_given() {
        assert_eq!(parse("31536000"), Ok(MAX));
        assert_eq!(parse(" 31536001 "), Err(format!("\"31536001\" {TOO_LONG}")));
        assert_eq!(parse("366d"), Err(format!("\"366d\" {TOO_LONG}")));
        // Without the limit, too long to hold saturates instead of failing.
        assert_eq!(parse_saturating("1e30"), Ok(Duration::MAX));
        assert_eq!(
            parse_saturating("99999999999999999999999h"),
            Ok(Duration::MAX)
        );
        assert_eq!(
            parse_saturating("366d"),
            Ok(Duration::from_secs(366 * 86_400))
        );
    }

    #[test]
    fn numbers_that_are_not_durations() {
        assert_eq!(
            from_secs_saturating(-0.5),
            Err("-0.5 is not a non-negative number of seconds".into())
        );
        assert!(from_secs_saturating(f64::INFINITY).is_err());
        assert_eq!(parse("   "), Err("empty duration".into()));
        assert!(parse("nan").is_err());
        assert!(parse("inf").is_err());
        assert!(parse("5 m x").is_err());
    }

    #[test]
    fn lossy_conversion_never_panics() {
        assert_eq!(from_secs_lossy(-3.0), Duration::ZERO);
        assert_eq!(from_secs_lossy(f64::NAN), Duration::ZERO);
        assert_eq!(from_secs_lossy(0.0), Duration::ZERO);
        assert_eq!(from_secs_lossy(1.5), Duration::from_millis(1500));
        assert_eq!(from_secs_lossy(1e30), MAX);
        assert_eq!(from_secs_lossy(f64::INFINITY), MAX);
    }

    #[test]
    fn human_form_at_each_boundary() {
        assert_eq!(human(Duration::ZERO), "0ms");
        assert_eq!(human(Duration::from_micros(999_999)), "999ms");
        assert_eq!(human(Duration::from_secs(1)), "1.0s");
        assert_eq!(human(Duration::from_millis(59_999)), "60.0s");
        assert_eq!(human(Duration::from_secs(60)), "1m00s");
        assert_eq!(human(Duration::from_secs(3599)), "59m59s");
        assert_eq!(human(Duration::from_secs(3600)), "1h00m");
        assert_eq!(human(Duration::from_secs(100 * 3600 + 59)), "100h00m");
        assert_eq!(human(MAX), "8760h00m");
    }
}
