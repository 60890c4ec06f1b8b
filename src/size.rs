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
}
