//! Roman numerals, to give the cargo preset something to test.

/// The Roman numeral for `n` (1 to 3999).
///
/// ```
/// assert_eq!(roman::to_roman(1994).as_deref(), Some("MCMXCIV"));
/// assert_eq!(roman::to_roman(0), None);
/// ```
pub fn to_roman(mut n: u32) -> Option<String> {
    if !(1..=3999).contains(&n) {
        return None;
    }
    let mut out = String::new();
    for (value, digits) in TABLE {
        while n >= value {
            out.push_str(digits);
            n -= value;
        }
    }
    Some(out)
}

/// The number a Roman numeral stands for, if it is one written the usual way.
///
/// ```
/// assert_eq!(roman::from_roman("XLII"), Some(42));
/// ```
pub fn from_roman(s: &str) -> Option<u32> {
    let mut rest = s;
    let mut n = 0;
    for (value, digits) in TABLE {
        while let Some(r) = rest.strip_prefix(digits) {
            n += value;
            rest = r;
        }
    }
    // Only the canonical spelling: "IIII" or "VX" do not come back the same.
    (rest.is_empty() && to_roman(n).as_deref() == Some(s)).then_some(n)
}

const TABLE: [(u32, &str); 13] = [
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_numbers() {
        assert_eq!(to_roman(4).as_deref(), Some("IV"));
        assert_eq!(to_roman(9).as_deref(), Some("IX"));
        assert_eq!(to_roman(14).as_deref(), Some("XIV"));
    }

    #[test]
    fn out_of_range() {
        assert_eq!(to_roman(0), None);
        assert_eq!(to_roman(4000), None);
    }

    #[test]
    fn not_canonical() {
        assert_eq!(from_roman("IIII"), None);
        assert_eq!(from_roman("VX"), None);
        assert_eq!(from_roman(""), None);
    }
}
