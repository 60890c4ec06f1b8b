//! Every number there is a numeral for comes back from it.

#[test]
fn every_number_round_trips() {
    for n in 1..=3999 {
        let s = roman::to_roman(n).unwrap();
        assert_eq!(roman::from_roman(&s), Some(n), "{s}");
    }
}

#[test]
fn the_longest_numeral() {
    let longest = (1..=3999)
        .max_by_key(|&n| roman::to_roman(n).unwrap().len())
        .unwrap();
    assert_eq!(roman::to_roman(longest).as_deref(), Some("MMMDCCCLXXXVIII"));
}
