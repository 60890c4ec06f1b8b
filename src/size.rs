//! Sizes like `"2GB"`, `"512MB"`, `"1.5GiB"` (DESIGN §12), 1024-based as memory is counted.

/// Bytes in `s`: a number with a unit B, KB, MB, GB or TB (KiB.. the same); case and spaces
/// do not matter.
pub(crate) fn parse(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("expected a size like \"2GB\" or \"512MB\", got \"{s}\""))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "" => {
            return Err(format!(
                "\"{s}\" has no unit: write it like \"{s}MB\" or \"{s}GB\""
            ));
        }
        other => {
            return Err(format!(
                "unknown unit \"{other}\" in \"{s}\" (B, KB, MB, GB or TB)"
            ));
        }
    };
    let bytes = n * scale;
    // 2^60 bytes is far beyond any machine; larger values are mistakes, not budgets.
    if !bytes.is_finite() || bytes <= 0.0 || bytes > (1u64 << 60) as f64 {
        return Err(format!("\"{s}\": expected a size above 0 and at most 1EB"));
    }
    Ok(bytes as u64)
}

/// `2.0 GB`, `512.0 MB`: the form messages and `ptest plan` use.
pub(crate) fn human(bytes: u64) -> String {
    let b = bytes as f64;
    let k = 1024.0;
    if b >= k * k * k {
        format!("{:.1} GB", b / (k * k * k))
    } else if b >= k * k {
        format!("{:.1} MB", b / (k * k))
    } else if b >= k {
        format!("{:.1} KB", b / k)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse("2GB"), Ok(2 << 30));
        assert_eq!(parse("1.5 gib"), Ok(3 << 29));
        assert_eq!(parse("512MB"), Ok(512 << 20));
        assert!(parse("12").unwrap_err().contains("no unit"));
        assert!(parse("2XB").unwrap_err().contains("unknown unit"));
        assert!(parse("0GB").is_err());
        assert!(parse("1e30GB").is_err());
        assert_eq!(human(6 << 30), "6.0 GB");
    }

    #[test]
    fn every_unit_and_its_spellings() {
        for (text, want) in [
            ("512B", 512),
            ("1k", 1 << 10),
            ("1KB", 1 << 10),
            ("1kib", 1 << 10),
            ("3m", 3 << 20),
            ("3MiB", 3 << 20),
            ("1g", 1 << 30),
            ("1 TB", 1 << 40),
            ("2tib", 2 << 40),
            ("  64 mb  ", 64 << 20),
            ("0.5KB", 512),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn sizes_that_are_mistakes_say_what_was_expected() {
        assert_eq!(
            parse("12"),
            Err("\"12\" has no unit: write it like \"12MB\" or \"12GB\"".into())
        );
        assert_eq!(
            parse("2 XB"),
            Err("unknown unit \"xb\" in \"2 XB\" (B, KB, MB, GB or TB)".into())
        );
        assert_eq!(
            parse("GB"),
            Err("expected a size like \"2GB\" or \"512MB\", got \"GB\"".into())
        );
        assert_eq!(
            parse("-1GB"),
            Err("expected a size like \"2GB\" or \"512MB\", got \"-1GB\"".into())
        );
        assert_eq!(
            parse("1.2.3MB"),
            Err("expected a size like \"2GB\" or \"512MB\", got \"1.2.3MB\"".into())
        );
        assert_eq!(
            parse("0B"),
            Err("\"0B\": expected a size above 0 and at most 1EB".into())
        );
        // 2^60 is the most; one byte's worth of TB more is refused.
        assert_eq!(parse("1048576TB"), Ok(1 << 60));
        assert!(parse("1048577TB").is_err());
    }

    #[test]
    fn human_sizes_at_each_boundary() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1024), "1.0 KB");
        assert_eq!(human(1536), "1.5 KB");
        assert_eq!(human((1 << 20) - 1), "1024.0 KB");
        assert_eq!(human(1 << 20), "1.0 MB");
        assert_eq!(human(1 << 30), "1.0 GB");
        assert_eq!(human(1 << 40), "1024.0 GB");
    }
}
