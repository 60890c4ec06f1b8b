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

    #[test]
    fn case_does_not_hide_a_match_and_the_candidate_keeps_its_own() {
        let known = ["Integration", "unit"];
        assert_eq!(closest("integraton", known), Some("Integration"));
        assert_eq!(closest("UNIT", known), Some("unit"));
    }

    #[test]
    fn the_closest_of_several_wins_and_nothing_comes_of_nothing() {
        let known = ["depends_on", "description", "timeout"];
        assert_eq!(closest("dependson", known), Some("depends_on"));
        assert_eq!(closest("descripton", known), Some("description"));
        assert_eq!(closest("anything", std::iter::empty()), None);
        assert_eq!(hint("x", std::iter::empty()), "");
        // An exact name is its own closest.
        assert_eq!(closest("timeout", known), Some("timeout"));
    }

    #[test]
    fn short_or_unrelated_words_get_no_guess() {
        let known = ["cmd", "env", "cwd"];
        assert_eq!(closest("q", known), None);
        assert_eq!(closest("deposits", known), None);
    }
}
