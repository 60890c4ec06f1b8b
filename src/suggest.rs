//! "Did you mean" suggestions: the closest known name to a misspelt one.

/// The closest candidate to `wrong`, if one is close enough to be a plausible typo.
pub(crate) fn closest<'a, I>(wrong: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let wrong_lower = wrong.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&wrong_lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// ` (did you mean "x"?)`, or nothing.
pub(crate) fn hint<'a, I>(wrong: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    closest(wrong, candidates).map_or_else(String::new, |c| format!(" (did you mean \"{c}\"?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos() {
        let known = ["depends_on", "description", "cmd", "timeout"];
        assert_eq!(closest("depnds_on", known), Some("depends_on"));
        assert_eq!(closest("timout", known), Some("timeout"));
        assert_eq!(closest("zzz", known), None);
        assert_eq!(hint("cmdd", known), " (did you mean \"cmd\"?)");
        assert_eq!(hint("qqqq", known), "");
    }
}
